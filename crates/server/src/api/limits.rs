//! Per-store limits. Rates: events (`SWITCHBOARD_STORE_EVENT_RATE`) and every other store-scoped
//! API request (`SWITCHBOARD_STORE_API_RATE`), each a token bucket per store holding one second's
//! worth, so a flooding store is answered `429 rate_limited` while the others go on. Ceilings:
//! live workflows (`SWITCHBOARD_STORE_MAX_WORKFLOWS`), past which `409 limit_reached`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::StatusCode;
use serde_json::json;

use super::error::ApiError;

/// One limit: its name as `error.details` shows it, the setting that sizes it, and each store's
/// bucket.
pub struct RateLimit {
    name: &'static str,
    setting: &'static str,
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(name: &'static str, setting: &'static str, per_second: u32) -> RateLimit {
        RateLimit {
            name,
            setting,
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `store_id`'s allowance, or says when the next one is allowed.
    pub fn admit(&self, store_id: &str) -> Result<(), ApiError> {
        self.admit_at(store_id, Instant::now())
    }

    fn admit_at(&self, store_id: &str, now: Instant) -> Result<(), ApiError> {
        let rate = f64::from(self.per_second);
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
                "this store may make {} such requests a second ({}); try again shortly",
                self.per_second, self.setting
            ),
        )
        .with_details(
            json!({"name": self.name, "value": self.per_second, "setting": self.setting}),
        );
        error.retry_after = Some(wait_s.min(f64::from(u16::MAX)) as u16);
        Err(error)
    }
}

/// A most a store may have of something.
pub struct Ceiling {
    name: &'static str,
    setting: &'static str,
    pub value: u32,
}

impl Ceiling {
    /// Whether a store that `has` some may add `adding` more.
    pub fn allows(&self, has: i64, adding: usize) -> Result<(), ApiError> {
        if has.saturating_add(adding as i64) <= i64::from(self.value) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::CONFLICT,
            "limit_reached",
            format!(
                "this store may have at most {} ({}: {}); it has {has}",
                self.value, self.name, self.setting
            ),
        )
        .with_details(json!({"name": self.name, "value": self.value, "setting": self.setting})))
    }
}

/// The limits every store is held to.
pub struct StoreLimits {
    pub events: RateLimit,
    pub api: RateLimit,
    pub workflows: Ceiling,
}

impl StoreLimits {
    pub fn new(settings: &crate::config::Settings) -> StoreLimits {
        StoreLimits {
            events: RateLimit::new(
                "event_rate",
                "SWITCHBOARD_STORE_EVENT_RATE",
                settings.store_event_rate,
            ),
            api: RateLimit::new(
                "api_rate",
                "SWITCHBOARD_STORE_API_RATE",
                settings.store_api_rate,
            ),
            workflows: Ceiling {
                name: "max_workflows",
                setting: "SWITCHBOARD_STORE_MAX_WORKFLOWS",
                value: settings.store_max_workflows,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_one_second_and_refills_at_the_rate() {
        let limit = RateLimit::new("event_rate", "SWITCHBOARD_STORE_EVENT_RATE", 4);
        let start = Instant::now();
        for _ in 0..4 {
            limit.admit_at("a", start).unwrap();
        }
        let refused = limit.admit_at("a", start).unwrap_err();
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
        limit.admit_at("b", start).unwrap();
        // A quarter second later, one more request of `a` is allowed, and only one.
        let later = start + Duration::from_millis(250);
        limit.admit_at("a", later).unwrap();
        assert!(limit.admit_at("a", later).is_err());
        // Idle for long, the bucket holds no more than one second's worth.
        let idle = later + Duration::from_secs(60);
        for _ in 0..4 {
            limit.admit_at("a", idle).unwrap();
        }
        assert!(limit.admit_at("a", idle).is_err());
    }

    #[test]
    fn a_ceiling_counts_what_is_added() {
        let ceiling = Ceiling {
            name: "max_workflows",
            setting: "SWITCHBOARD_STORE_MAX_WORKFLOWS",
            value: 3,
        };
        ceiling.allows(2, 1).unwrap();
        ceiling.allows(0, 3).unwrap();
        let refused = ceiling.allows(2, 2).unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code),
            (409, "limit_reached")
        );
        assert_eq!(
            refused.details.unwrap()["setting"],
            "SWITCHBOARD_STORE_MAX_WORKFLOWS"
        );
        assert!(ceiling.allows(3, 1).is_err());
    }
}
