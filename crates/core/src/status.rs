//! Every status Switchboard stores, as a closed enum with its wire name: runs, steps, schedules,
//! deliveries and messages. The store keeps the wire names; everything above it holds the enums.

/// Declares a status enum: its variants with their wire names, `as_str`, `parse`, `ALL`,
/// `Display` and serde as the wire name.
macro_rules! statuses {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $wire:literal),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The wire name, as the API shows it and the store keeps it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)*
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($wire => Some($name::$variant),)*
                    _ => None,
                }
            }

            /// The wire names, for error messages: `a, b`.
            pub fn names() -> String {
                let names: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                names.join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownStatus;

            fn from_str(s: &str) -> Result<$name, UnknownStatus> {
                $name::parse(s).ok_or_else(|| UnknownStatus {
                    kind: stringify!($name),
                    value: s.to_owned(),
                })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

/// A status name that is not one of its kind's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a {kind}")]
pub struct UnknownStatus {
    pub kind: &'static str,
    pub value: String,
}

statuses!(
    /// Where a run stands.
    RunStatus {
        Queued => "queued",
        Running => "running",
        Waiting => "waiting",
        Completed => "completed",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl RunStatus {
    /// Completed, failed or cancelled: nothing more happens.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

statuses!(
    /// Where one visit of a step stands.
    StepStatus {
        Running => "running",
        Waiting => "waiting",
        Completed => "completed",
        Failed => "failed",
        /// The run was cancelled while the visit was open.
        Cancelled => "cancelled",
    }
);

statuses!(
    /// A scheduled call or cron tick.
    ScheduleStatus {
        Pending => "pending",
        Fired => "fired",
        Cancelled => "cancelled",
        Failed => "failed",
    }
);

statuses!(
    /// What a schedule is.
    ScheduleKind {
        /// One call of a callable workflow, made by a `schedule_workflow` step.
        Call => "call",
        /// The next tick of an active `schedule` workflow.
        Cron => "cron",
    }
);

statuses!(
    /// One outgoing event on its way to one subscription.
    DeliveryStatus {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

statuses!(
    /// A message's status as its provider reported it: WhatsApp's and email's, and Twilio's call
    /// progress for voice. A provider status outside this set is not recorded.
    MessageStatus {
        /// An inbound message.
        Received => "received",
        /// WhatsApp took the message for sending.
        Accepted => "accepted",
        Queued => "queued",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        /// A voice message was played.
        Played => "played",
        Failed => "failed",
        Initiated => "initiated",
        Ringing => "ringing",
        InProgress => "in-progress",
        Answered => "answered",
        Completed => "completed",
        Busy => "busy",
        NoAnswer => "no-answer",
        Canceled => "canceled",
        /// A dry run's message: nothing was sent.
        Simulated => "simulated",
    }
);

impl MessageStatus {
    /// Statuses only move forward: a report of a lower rank than the stored one is ignored.
    pub fn rank(self, channel: &str) -> i64 {
        use MessageStatus::*;
        const FINAL: i64 = 9;
        match (channel, self) {
            ("voice", Initiated) => 1,
            ("voice", Ringing) => 2,
            ("voice", InProgress | Answered) => 3,
            ("voice", Completed | Busy | Failed | NoAnswer | Canceled) => FINAL,
            (_, Sent) => 1,
            (_, Delivered) => 2,
            (_, Read) => 3,
            (_, Played) => 4,
            (_, Failed) => FINAL,
            _ => 0,
        }
    }

    /// The event (`message.sent|delivered|read|failed`) a status report becomes, if any: a call
    /// that completed counts as delivered; one that was busy, unanswered or cancelled as failed.
    pub fn event(self, channel: &str) -> Option<&'static str> {
        use MessageStatus::*;
        match (channel, self) {
            ("voice", Completed) => Some("message.delivered"),
            ("voice", Failed | Busy | NoAnswer | Canceled) => Some("message.failed"),
            ("voice", _) => None,
            (_, Sent) => Some("message.sent"),
            (_, Delivered) => Some("message.delivered"),
            (_, Read) => Some("message.read"),
            (_, Failed) => Some("message.failed"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for s in RunStatus::ALL {
            assert_eq!(RunStatus::parse(s.as_str()), Some(*s));
        }
        for s in MessageStatus::ALL {
            assert_eq!(s.as_str().parse::<MessageStatus>(), Ok(*s));
        }
        assert_eq!(DeliveryStatus::parse("done"), None);
        let e = "x".parse::<ScheduleStatus>().unwrap_err();
        assert_eq!(e.to_string(), "'x' is not a ScheduleStatus");
        assert_eq!(ScheduleStatus::names(), "pending, fired, cancelled, failed");
        assert_eq!(
            serde_json::to_value(StepStatus::Waiting).unwrap(),
            "waiting"
        );
    }

    #[test]
    fn message_statuses_rank_and_publish_per_channel() {
        use MessageStatus::*;
        assert!(Read.rank("whatsapp") > Delivered.rank("whatsapp"));
        assert_eq!(Completed.rank("voice"), Failed.rank("whatsapp"));
        assert_eq!(Completed.event("voice"), Some("message.delivered"));
        assert_eq!(Completed.event("whatsapp"), None);
        assert_eq!(NoAnswer.event("voice"), Some("message.failed"));
        assert_eq!(Accepted.rank("whatsapp"), 0);
    }
}
