//! Settings: defaults, then a TOML file, then `SWITCHBOARD_*` environment variables, then flags.

use std::path::PathBuf;

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::cli::ServeFlags;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: `switchboard.db` in the data dir.
    pub database_url: Option<String>,
    /// Use this admin token instead of generating one.
    pub admin_token: Option<String>,
    /// Base64 of 32 bytes: the key for secrets at rest, instead of the generated file.
    pub master_key: Option<String>,
    /// Permit literal `http://` URLs in definitions and outbound calls.
    pub outbound_allow_http: bool,
    /// CIDRs exempt from the SSRF guard, separated by commas or spaces (`127.0.0.0/8`).
    pub outbound_allow: String,
    /// The most bytes of an HTTP response body read (and kept as the step's output).
    pub http_response_limit: usize,
    /// The most bytes of a request or response body kept in run history.
    pub http_record_limit: usize,
    /// The externally visible base URL (Twilio callbacks and their signature check); default:
    /// `http://` and the address listened on.
    pub public_url: Option<String>,
    /// Request body limit in bytes.
    pub body_limit: usize,
    /// Log filter (`info`, `switchboard=debug`, …).
    pub log: String,
    /// `text` or `json` logs.
    pub log_format: String,
    /// Durations (delays, retry backoffs) are divided by it, for tests and demos.
    pub time_scale: f64,
    /// An RFC 3339 time the server's clock starts at (running at normal speed from there), for
    /// tests and demos of cron schedules: a DST change or hours of downtime without waiting.
    /// Signature timestamps are always checked against the real clock.
    pub clock_start: Option<String>,
    /// Time limit of a template expression or condition, ms.
    pub script_timeout_ms: u64,
    /// Time limit of a `custom_code` step unless it sets `timeoutMs`, ms.
    pub code_timeout_ms: u64,
    /// Memory limit of each JavaScript runtime, MiB.
    pub script_memory_mb: u64,
    /// Threads that run JavaScript (expressions and `custom_code`); 0: one per core.
    pub js_threads: usize,
    /// JavaScript milliseconds a store may use a minute; beyond, its scripts wait their turn.
    pub store_js_ms_per_minute: u64,
    /// Events a store may send a second (through any route); beyond: 429 `rate_limited`.
    pub store_event_rate: u32,
    /// Other store-scoped API requests a store may make a second; beyond: 429 `rate_limited`.
    pub store_api_rate: u32,
    /// Live workflows a store may have; beyond: 409 `limit_reached`.
    pub store_max_workflows: u32,
    /// Runs of a store a node executes at once (runs on a timer do not count); an event or call
    /// that would start more: 409 `limit_reached`.
    pub store_max_runs_in_flight: u32,
    /// How long an event's runs may run their leading steps before the event is acknowledged,
    /// ms; the rest runs after the acknowledgement. 0 acknowledges before any step runs.
    pub ack_budget_ms: u64,
    /// How long a node's claim on a run lasts before another node may take it over, ms.
    pub lease_ms: u64,
    /// How often due runs (timers, orphans) are looked for, ms.
    pub poll_ms: u64,
    /// Due runs (woken timers, retries, orphans) a node executes at once; while more are due,
    /// one store holds at most half of them.
    pub max_claimed_runs: usize,
    /// The wait after each failed delivery attempt (Svix's schedule), comma-separated durations
    /// with a unit (`ms`, `s`, `m`, `h`, `d`); attempts = waits + 1. Scaled by `time_scale`.
    pub delivery_retry_schedule: String,
    /// Each wait lands within ± this fraction of itself.
    pub delivery_jitter: f64,
    /// Time limit of one delivery attempt, ms.
    pub delivery_timeout_ms: u64,
    /// A subscription whose attempts have all failed for this long is disabled (a duration).
    pub delivery_disable_after: String,
    /// Deliveries in flight at once.
    pub delivery_concurrency: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            data_dir: "./switchboard-data".into(),
            database_url: None,
            admin_token: None,
            master_key: None,
            outbound_allow_http: false,
            outbound_allow: String::new(),
            http_response_limit: 1 << 20,
            http_record_limit: 16 << 10,
            public_url: None,
            body_limit: 1024 * 1024,
            log: "info".into(),
            log_format: "text".into(),
            time_scale: 1.0,
            clock_start: None,
            script_timeout_ms: 50,
            code_timeout_ms: 1000,
            script_memory_mb: 32,
            js_threads: 0,
            store_js_ms_per_minute: 60_000,
            ack_budget_ms: 5,
            store_event_rate: 50_000,
            store_api_rate: 5_000,
            store_max_workflows: 10_000,
            store_max_runs_in_flight: 10_000,
            lease_ms: 15_000,
            poll_ms: 200,
            max_claimed_runs: 1024,
            delivery_retry_schedule: "5s,5m,30m,2h,5h,10h,10h".into(),
            delivery_jitter: 0.2,
            delivery_timeout_ms: 15_000,
            delivery_disable_after: "5d".into(),
            delivery_concurrency: 64,
        }
    }
}

impl Settings {
    pub fn load(flags: &ServeFlags) -> anyhow::Result<Settings> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = &flags.config {
            if !file.exists() {
                bail!("config file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(Env::prefixed("SWITCHBOARD_"));
        if let Some(listen) = &flags.listen {
            figment = figment.merge(("listen", listen));
        }
        if let Some(dir) = &flags.data_dir {
            figment = figment.merge(("data_dir", dir));
        }
        if let Some(url) = &flags.database_url {
            figment = figment.merge(("database_url", url));
        }
        let settings: Settings = figment.extract().context("invalid settings")?;
        if settings.body_limit == 0 {
            bail!("body_limit must be at least 1 byte");
        }
        if settings.http_response_limit == 0 || settings.http_record_limit == 0 {
            bail!("http_response_limit and http_record_limit must be at least 1 byte");
        }
        if !(settings.time_scale.is_finite() && settings.time_scale > 0.0) {
            bail!(
                "time_scale must be a positive number, not {}",
                settings.time_scale
            );
        }
        if let Some(start) = &settings.clock_start
            && switchboard_engine::clock::parse_rfc3339(start).is_none()
        {
            bail!("clock_start must be an RFC 3339 time like 2026-03-08T06:59:50Z, not '{start}'");
        }
        if settings.store_js_ms_per_minute == 0 {
            bail!("store_js_ms_per_minute must be positive");
        }
        if settings.store_event_rate == 0 || settings.store_api_rate == 0 {
            bail!("store_event_rate and store_api_rate must be at least 1 request a second");
        }
        if settings.script_timeout_ms == 0
            || settings.code_timeout_ms == 0
            || settings.script_memory_mb == 0
        {
            bail!("script limits must be positive");
        }
        if settings.lease_ms < 1000 || settings.poll_ms == 0 {
            bail!("lease_ms must be at least 1000 and poll_ms positive");
        }
        if settings.max_claimed_runs < 2 {
            bail!("max_claimed_runs must be at least 2");
        }
        settings.delivery_policy()?;
        if !matches!(settings.log_format.as_str(), "text" | "json") {
            bail!(
                "log_format must be 'text' or 'json', not '{}'",
                settings.log_format
            );
        }
        Ok(settings)
    }

    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("switchboard.db").display()
            )
        })
    }

    /// The delivery worker's settings, checked.
    pub fn delivery_policy(&self) -> anyhow::Result<switchboard_engine::deliveries::Policy> {
        let schedule_ms = self
            .delivery_retry_schedule
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| parse_duration(s).with_context(|| format!("delivery_retry_schedule: '{s}' is not a duration like 5s, 300ms, 5m, 2h or 1d")))
            .collect::<anyhow::Result<Vec<u64>>>()?;
        let disable_after_ms = parse_duration(&self.delivery_disable_after).with_context(|| {
            format!(
                "delivery_disable_after: '{}' is not a duration like 5d or 120h",
                self.delivery_disable_after
            )
        })?;
        if !(0.0..1.0).contains(&self.delivery_jitter) {
            bail!(
                "delivery_jitter must be at least 0 and below 1, not {}",
                self.delivery_jitter
            );
        }
        if self.delivery_timeout_ms == 0 || self.delivery_concurrency == 0 {
            bail!("delivery_timeout_ms and delivery_concurrency must be positive");
        }
        Ok(switchboard_engine::deliveries::Policy {
            schedule_ms,
            jitter: self.delivery_jitter,
            timeout: std::time::Duration::from_millis(self.delivery_timeout_ms),
            disable_after_ms,
            concurrency: self.delivery_concurrency,
            time_scale: self.time_scale,
            lease_ms: self.lease_ms,
            poll: std::time::Duration::from_millis(self.poll_ms),
        })
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url().starts_with("postgres")
    }
}

/// A duration with a unit: `300ms`, `5s`, `5m`, `2h`, `5d`; in ms.
fn parse_duration(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().context("no number")?;
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        other => bail!("unknown unit '{other}'"),
    };
    n.checked_mul(scale).context("too long")
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations() {
        assert_eq!(super::parse_duration("300ms").unwrap(), 300);
        assert_eq!(super::parse_duration("5s").unwrap(), 5000);
        assert_eq!(super::parse_duration("10h").unwrap(), 36_000_000);
        assert_eq!(super::parse_duration("5d").unwrap(), 432_000_000);
        assert!(super::parse_duration("5").is_err());
        assert!(super::parse_duration("s").is_err());
        assert!(super::parse_duration("5 weeks").is_err());
    }
}
