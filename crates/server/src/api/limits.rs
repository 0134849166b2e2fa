//! Per-store limits. Rates: events (`SWITCHBOARD_STORE_EVENT_RATE`) and every other store-scoped
//! API request (`SWITCHBOARD_STORE_API_RATE`), each a token bucket per store holding one second's
//! worth, so a flooding store is answered `429 rate_limited` while the others go on. Ceilings:
//! live workflows (`SWITCHBOARD_STORE_MAX_WORKFLOWS`) and runs executing on this node
//! (`SWITCHBOARD_STORE_MAX_RUNS_IN_FLIGHT`), past which `409 limit_reached`. The admin may give a
//! store its own value of each (`PATCH /api/stores/{id}`); errors name the one in force.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use switchboard_store::StoreLimits as OwnLimits;
use utoipa::ToSchema;

use super::error::ApiError;

/// What sizes a limit: its name as `error.details` shows it, the server's setting, and the field
/// of a store's own `limits` that overrides it.
#[derive(Clone, Copy)]
pub struct Sizing {
    pub name: &'static str,
    pub setting: &'static str,
    pub field: &'static str,
    pub default: u32,
}

impl Sizing {
    /// The value in force for a store with `own` (its override, if any), and where it comes from.
    fn in_force(&self, own: Option<i64>) -> (u32, String) {
        match own {
            Some(v) => (
                v.clamp(0, i64::from(u32::MAX)) as u32,
                format!("limits.{}", self.field),
            ),
            None => (self.default, self.setting.to_owned()),
        }
    }
}

/// A rate, and each store's bucket.
pub struct RateLimit {
    pub sizing: Sizing,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(sizing: Sizing) -> RateLimit {
        RateLimit {
            sizing,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `store_id`'s allowance (`own`: the store's own rate), or says when
    /// the next one is allowed.
    pub fn admit(&self, store_id: &str, own: Option<i64>) -> Result<(), ApiError> {
        self.admit_at(store_id, own, Instant::now())
    }

    fn admit_at(&self, store_id: &str, own: Option<i64>, now: Instant) -> Result<(), ApiError> {
        let (per_second, setting) = self.sizing.in_force(own);
        let rate = f64::from(per_second.max(1));
        let mut buckets = self.buckets.lock().expect("rate buckets");
        let bucket = match buckets.get_mut(store_id) {
            Some(b) => b,
            None => buckets.entry(store_id.to_owned()).or_insert(Bucket {
                tokens: rate,
                at: now,
            }),
        };
        let refilled = now.saturating_duration_since(bucket.at).as_secs_f64() * rate;
        bucket.tokens = (bucket.tokens + refilled).min(rate);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_s = ((1.0 - bucket.tokens) / rate).ceil().max(1.0);
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "this store may make {per_second} such requests a second ({setting}); try again shortly"
            ),
        )
        .with_details(json!({"name": self.sizing.name, "value": per_second, "setting": setting}));
        error.retry_after = Some(wait_s.min(f64::from(u16::MAX)) as u16);
        Err(error)
    }
}

/// A most a store may have of something.
pub struct Ceiling(pub Sizing);

impl Ceiling {
    /// Whether a store that `has` some may add `adding` more (`own`: the store's own ceiling).
    pub fn allows(&self, has: i64, adding: usize, own: Option<i64>) -> Result<(), ApiError> {
        let (value, setting) = self.0.in_force(own);
        if has.saturating_add(adding as i64) <= i64::from(value) {
            return Ok(());
        }
        let name = self.0.name;
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "limit_reached",
            format!("this store may have at most {value} ({name}: {setting}); it has {has}"),
        )
        .with_details(json!({"name": name, "value": value, "setting": setting})))
    }
}

/// The limits every store is held to.
pub struct StoreLimits {
    pub events: RateLimit,
    pub api: RateLimit,
    pub workflows: Ceiling,
    pub runs_in_flight: Ceiling,
    /// JavaScript ms a minute; held by the JS threads, listed here for the store's view.
    pub js: Sizing,
}

impl StoreLimits {
    pub fn new(settings: &crate::config::Settings) -> StoreLimits {
        let sizing = |name, setting, field, default| Sizing {
            name,
            setting,
            field,
            default,
        };
        StoreLimits {
            events: RateLimit::new(sizing(
                "event_rate",
                "SWITCHBOARD_STORE_EVENT_RATE",
                "eventRate",
                settings.store_event_rate,
            )),
            api: RateLimit::new(sizing(
                "api_rate",
                "SWITCHBOARD_STORE_API_RATE",
                "apiRate",
                settings.store_api_rate,
            )),
            workflows: Ceiling(sizing(
                "max_workflows",
                "SWITCHBOARD_STORE_MAX_WORKFLOWS",
                "maxWorkflows",
                settings.store_max_workflows,
            )),
            runs_in_flight: Ceiling(sizing(
                "max_runs_in_flight",
                "SWITCHBOARD_STORE_MAX_RUNS_IN_FLIGHT",
                "maxRunsInFlight",
                settings.store_max_runs_in_flight,
            )),
            js: sizing(
                "js_ms_per_minute",
                "SWITCHBOARD_STORE_JS_MS_PER_MINUTE",
                "jsMsPerMinute",
                settings.store_js_ms_per_minute.min(u64::from(u32::MAX)) as u32,
            ),
        }
    }
}

/// A store's limits as the API shows them: each a whole number; in `limits`, only those the
/// admin set for the store.
#[derive(Serialize, ToSchema, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    /// Events a second (`SWITCHBOARD_STORE_EVENT_RATE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_rate: Option<i64>,
    /// Other API requests a second (`SWITCHBOARD_STORE_API_RATE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_rate: Option<i64>,
    /// Live workflows (`SWITCHBOARD_STORE_MAX_WORKFLOWS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_workflows: Option<i64>,
    /// Runs a node executes at once (`SWITCHBOARD_STORE_MAX_RUNS_IN_FLIGHT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_runs_in_flight: Option<i64>,
    /// JavaScript milliseconds a minute (`SWITCHBOARD_STORE_JS_MS_PER_MINUTE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub js_ms_per_minute: Option<i64>,
}

impl LimitsView {
    pub fn own(l: &OwnLimits) -> LimitsView {
        LimitsView {
            event_rate: l.event_rate,
            api_rate: l.api_rate,
            max_workflows: l.max_workflows,
            max_runs_in_flight: l.max_runs_in_flight,
            js_ms_per_minute: l.js_ms_per_minute,
        }
    }

    /// What is in force: the store's own value, else the server's setting.
    pub fn in_force(l: &OwnLimits, limits: &StoreLimits) -> LimitsView {
        let value = |s: &Sizing, own: Option<i64>| Some(i64::from(s.in_force(own).0));
        LimitsView {
            event_rate: value(&limits.events.sizing, l.event_rate),
            api_rate: value(&limits.api.sizing, l.api_rate),
            max_workflows: value(&limits.workflows.0, l.max_workflows),
            max_runs_in_flight: value(&limits.runs_in_flight.0, l.max_runs_in_flight),
            js_ms_per_minute: value(&limits.js, l.js_ms_per_minute),
        }
    }
}

/// Present in a merge patch: `Some(None)` for `null`, `None` when the field is left out.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// `{"limits": {…}}` of `PATCH /api/stores/{id}`, a JSON merge patch: a number sets a limit of
/// the store's own, `null` gives it back the server's setting, a field left out is kept.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsPatch {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    event_rate: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    api_rate: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    max_workflows: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    max_runs_in_flight: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    js_ms_per_minute: Option<Option<i64>>,
}

impl LimitsPatch {
    /// `own` with the patch applied; a value outside 1 ..= 2³²−1 is refused at its pointer.
    pub fn apply(&self, own: OwnLimits) -> Result<OwnLimits, ApiError> {
        let set = |field: &str, patch: Option<Option<i64>>, was: Option<i64>| match patch {
            None => Ok(was),
            Some(None) => Ok(None),
            Some(Some(v)) if (1..=i64::from(u32::MAX)).contains(&v) => Ok(Some(v)),
            Some(Some(v)) => Err(ApiError::invalid_field(
                &format!("/limits/{field}"),
                format!(
                    "'{field}' must be a whole number from 1 to {}, not {v}",
                    u32::MAX
                ),
            )),
        };
        Ok(OwnLimits {
            event_rate: set("eventRate", self.event_rate, own.event_rate)?,
            api_rate: set("apiRate", self.api_rate, own.api_rate)?,
            max_workflows: set("maxWorkflows", self.max_workflows, own.max_workflows)?,
            max_runs_in_flight: set(
                "maxRunsInFlight",
                self.max_runs_in_flight,
                own.max_runs_in_flight,
            )?,
            js_ms_per_minute: set("jsMsPerMinute", self.js_ms_per_minute, own.js_ms_per_minute)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_the_rate() {
        let limit = RateLimit::new(Sizing {
            name: "event_rate",
            setting: "SWITCHBOARD_STORE_EVENT_RATE",
            field: "eventRate",
            default: 4,
        });
        let start = Instant::now();
        for _ in 0..4 {
            limit.admit_at("a", None, start).unwrap();
        }
        let refused = limit.admit_at("a", None, start).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (429, "rate_limited")
        );
        assert_eq!(refused.retry_after, Some(1));
        assert_eq!(
            refused.details.unwrap(),
            json!({"name": "event_rate", "value": 4, "setting": "SWITCHBOARD_STORE_EVENT_RATE"})
        );
        // Another store has its own allowance.
        limit.admit_at("b", None, start).unwrap();
        // A quarter second later, one more request of `a` is allowed, and only one.
        let later = start + Duration::from_millis(250);
        limit.admit_at("a", None, later).unwrap();
        assert!(limit.admit_at("a", None, later).is_err());
        // Idle for long, the bucket holds no more than one second's worth.
        let idle = later + Duration::from_secs(60);
        for _ in 0..4 {
            limit.admit_at("a", None, idle).unwrap();
        }
        assert!(limit.admit_at("a", None, idle).is_err());
    }

    #[test]
    fn a_ceiling_counts_what_is_added() {
        let ceiling = Ceiling(Sizing {
            name: "max_workflows",
            setting: "SWITCHBOARD_STORE_MAX_WORKFLOWS",
            field: "maxWorkflows",
            default: 3,
        });
        ceiling.allows(2, 1, None).unwrap();
        ceiling.allows(0, 3, None).unwrap();
        let refused = ceiling.allows(2, 2, None).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (409, "limit_reached")
        );
        assert_eq!(
            refused.details.unwrap()["setting"],
            "SWITCHBOARD_STORE_MAX_WORKFLOWS"
        );
        assert!(ceiling.allows(3, 1, None).is_err());
        // A store's own ceiling replaces the setting, and errors name it.
        ceiling.allows(3, 1, Some(4)).unwrap();
        let refused = ceiling.allows(4, 1, Some(4)).unwrap_err();
        assert_eq!(
            refused.details.unwrap(),
            json!({"name": "max_workflows", "value": 4, "setting": "limits.maxWorkflows"})
        );
    }
}
