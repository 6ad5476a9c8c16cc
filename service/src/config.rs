//! Service configuration: a TOML file, overridden by environment variables, overridden by flags.
//!
//! Every value is checked at start-up and a bad one stops the service with a message naming the
//! key, so a typo never becomes a silently different service. Unknown keys are rejected for the
//! same reason. API keys are configured only as SHA-256 hashes: the configuration file can be read
//! by operators without revealing a key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use civicast_model::risk::FlagThresholds;

pub use crate::auth::ApiKey;

/// Environment variable naming the configuration file.
pub const CONFIG_VAR: &str = "CIVICAST_CONFIG";
/// Environment variable overriding `listen`.
pub const LISTEN_VAR: &str = "CIVICAST_LISTEN";
/// Environment variable overriding `registry`.
pub const REGISTRY_VAR: &str = "CIVICAST_REGISTRY";
/// Environment variable overriding `store`.
pub const STORE_VAR: &str = "CIVICAST_STORE";
/// Environment variable adding API keys: `name:role:sha256hex`, comma-separated.
pub const API_KEYS_VAR: &str = "CIVICAST_API_KEYS";

/// Most sample paths a configuration may ask for: one series at the longest horizon then draws
/// ten million values (80 MB), still inside `max_sampled_values`' purpose of bounding one draw.
const MAX_SAMPLE_PATHS: usize = 10_000;

/// Route groups that can be opened to callers without a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicGroup {
    /// `/health/live` and `/health/ready`.
    Health,
    /// `/metrics`.
    Metrics,
    /// `/openapi.json` and `/docs`.
    Docs,
    /// `/`, the planners' dashboard page. The page holds no data: it asks the caller for a key
    /// and calls `/v1` with it, so opening it gives nothing away.
    Dashboard,
}

/// The whole configuration, with defaults.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The model registry: a folder, or `s3://bucket/prefix` (endpoint and credentials from the
    /// environment, as the AWS tools read them).
    pub registry: PathBuf,
    /// The observation store: a SQLite file path (created if missing) or a `postgres://` URL
    /// shared by replicas.
    pub store: String,
    /// How often to ask the store which series changed (other replicas' ingests, imports), in
    /// milliseconds (0 = never; this service's own ingests apply at once).
    pub store_poll_ms: u64,
    /// Most rows one `POST /v1/observations` request may hold.
    pub max_ingest_rows: usize,
    /// Whether ingest accepts series a dataset does not have yet (stored; forecast after a refit).
    pub accept_new_series: bool,
    /// API keys and their roles.
    pub api_keys: Vec<ApiKey>,
    /// Route groups reachable without a key.
    pub public: Vec<PublicGroup>,
    /// Longest forecast horizon a request may ask for, in steps.
    pub max_horizon: usize,
    /// Most series one forecast request may name.
    pub max_series_per_request: usize,
    /// Sample paths drawn for roll-ups and budget lines.
    pub sample_paths: usize,
    /// Most quantile probabilities one forecast request may ask for, counting each interval
    /// level as two.
    pub max_quantiles: usize,
    /// Most numbers one forecast answer may hold: series × steps × (quantiles + 1).
    pub max_answer_values: usize,
    /// Most sample-path values one request may draw: the sum over its roll-ups (series × horizon)
    /// or its budget lines' distinct series and horizons, times `sample_paths`. Bounds a request's
    /// sampling time and the memory of one draw.
    pub max_sampled_values: usize,
    /// Requests computing forecasts at once, off the async workers (0 = two per CPU core). More
    /// wait for a slot within their timeout.
    pub compute_slots: usize,
    /// First month (1-12) of the fiscal year for `fiscal_year` roll-ups.
    pub fiscal_year_first_month: u32,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// A request taking longer is answered 503.
    pub request_timeout_ms: u64,
    /// Requests handled at once; more are refused with 503 and `Retry-After` instead of queued.
    pub max_concurrent_requests: usize,
    /// How often to check the registry's production aliases for a new version (0 = never).
    pub reload_poll_seconds: u64,
    /// Open connections at most; the next is accepted when one closes.
    pub max_connections: usize,
    /// A client must send a request's whole header within this time, including a kept-alive
    /// connection waiting for its next request; otherwise the connection is closed.
    pub header_read_timeout_ms: u64,
    /// A connection that neither sends nor receives a byte for this long is closed (a client that
    /// stops reading its answer, or stops sending its body). Longer than `request_timeout_ms`.
    pub idle_timeout_ms: u64,
    /// After SIGTERM or Ctrl-C, in-flight requests get this long to finish; then the remaining
    /// connections are closed and the process exits.
    pub shutdown_deadline_ms: u64,
    /// Largest `models.json` a version may have to be loaded: the file is read whole and parsed,
    /// so this bounds what a reload can take (a learned model of the bundled datasets is a few
    /// hundred MB).
    pub max_model_file_bytes: u64,
    /// Origins allowed by CORS; empty = CORS off.
    pub cors_origins: Vec<String>,
    /// Most budget lines one `POST /v1/risk` request may hold: each line draws sample paths, so
    /// this bounds a request's CPU time.
    pub max_risk_lines: usize,
    /// Currency of the costs in budget lines and risk answers (ISO 4217 code, e.g. `KRW`).
    pub currency: String,
    /// Waste-probability thresholds of the risk flags `low`, `medium` and `high`.
    pub risk_flags: FlagThresholds,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            registry: PathBuf::from("var/registry"),
            store: "var/store.db".into(),
            store_poll_ms: 1_000,
            max_ingest_rows: 10_000,
            accept_new_series: false,
            api_keys: Vec::new(),
            public: vec![
                PublicGroup::Health,
                PublicGroup::Metrics,
                PublicGroup::Docs,
                PublicGroup::Dashboard,
            ],
            max_horizon: 1_000,
            max_series_per_request: 100,
            sample_paths: 1_000,
            max_quantiles: 40,
            max_answer_values: 100_000,
            max_sampled_values: 25_000_000,
            compute_slots: 0,
            fiscal_year_first_month: 1,
            body_limit_bytes: 1 << 20,
            request_timeout_ms: 10_000,
            max_concurrent_requests: 256,
            reload_poll_seconds: 5,
            max_connections: 1_024,
            header_read_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            shutdown_deadline_ms: 30_000,
            max_model_file_bytes: civicast_registry::limits::DEFAULT_MODELS_BYTES,
            cors_origins: Vec::new(),
            max_risk_lines: 500,
            currency: "KRW".into(),
            risk_flags: FlagThresholds::default(),
        }
    }
}

/// A configuration problem, naming the key or variable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Bytes of header buffer hyper may hold per connection (`max_buf_size`, set by the server).
pub const CONNECTION_BUFFER_BYTES: usize = 64 << 10;
/// How much larger than its body a request can be once parsed: a JSON number may be two bytes
/// (`1,`) and becomes an 8-byte `f64`. Measured at 6 for forecast bodies of the smallest elements;
/// risk bodies are read within bounds (docs/hardening.md). Large bodies are parsed in a compute
/// slot, so only `compute_slots` of them are parsed at once.
pub const PARSED_BODY_FACTOR: usize = 8;
/// Bytes of JSON per number of a forecast answer (a quantile's key and shortest round-trip value).
pub const ANSWER_BYTES_PER_VALUE: usize = 40;

impl Config {
    /// Compute slots in effect: `compute_slots`, or two per CPU core when it is 0. One per core
    /// left cores idle while a slot's thread waited (a page fault, a file read, the scheduler
    /// giving the core to another process): risk throughput fell by a quarter against unbounded
    /// threads, and by 7% with two per core (docs/hardening.md).
    pub fn effective_compute_slots(&self) -> usize {
        if self.compute_slots > 0 {
            self.compute_slots
        } else {
            2 * std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
    }

    /// The most memory requests can hold at once, in bytes, whatever they ask, on top of the
    /// loaded models and their caches: header buffers of every connection, the body of every
    /// admitted request, each compute slot's parsed body and sample paths, the rows of the
    /// ingests in progress, and every admitted request's answer waiting to be written. A slot holds one draw of sample paths at a time
    /// (a series' or a line's, dropped once summed), at most `max_horizon` × `sample_paths`.
    pub fn request_memory_bound(&self) -> usize {
        let connections = self.max_connections.saturating_mul(CONNECTION_BUFFER_BYTES);
        let bodies = self
            .max_concurrent_requests
            .saturating_mul(self.body_limit_bytes);
        let slot = self
            .body_limit_bytes
            .saturating_mul(PARSED_BODY_FACTOR)
            .saturating_add(
                self.max_sampled_values
                    .min(self.max_horizon.saturating_mul(self.sample_paths))
                    .saturating_mul(8),
            );
        let answers = self
            .max_concurrent_requests
            .saturating_mul(self.max_answer_values)
            .saturating_mul(ANSWER_BYTES_PER_VALUE);
        // An ingest holds its checked rows while the store writes them, outside any compute
        // slot; ingests run at most one per slot at a time (`AppState::ingesting`).
        let ingests = self
            .effective_compute_slots()
            .saturating_mul(self.body_limit_bytes.saturating_mul(PARSED_BODY_FACTOR));
        connections
            .saturating_add(bodies)
            .saturating_add(self.effective_compute_slots().saturating_mul(slot))
            .saturating_add(ingests)
            .saturating_add(answers)
    }

    /// Reads the file at `path` (if any), then applies environment overrides, then checks.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("{}: {}", path.display(), e.message())))?
            }
            None => Config::default(),
        };
        config.apply_env(|name| std::env::var(name).ok())?;
        config.check()?;
        Ok(config)
    }

    /// Applies the environment variables (through `get`, so tests need not touch the process
    /// environment).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(listen) = get(LISTEN_VAR) {
            self.listen = listen.parse().map_err(|_| {
                ConfigError(format!(
                    "{LISTEN_VAR}={listen:?} is not an address like 127.0.0.1:8080"
                ))
            })?;
        }
        if let Some(registry) = get(REGISTRY_VAR) {
            self.registry = PathBuf::from(registry);
        }
        if let Some(store) = get(STORE_VAR) {
            self.store = store;
        }
        if let Some(keys) = get(API_KEYS_VAR) {
            for (i, entry) in keys.split(',').filter(|e| !e.trim().is_empty()).enumerate() {
                let parts: Vec<&str> = entry.trim().split(':').collect();
                let [name, role, sha256] = parts.as_slice() else {
                    return Err(ConfigError(format!(
                        "{API_KEYS_VAR} entry {} is not name:role:sha256",
                        i + 1
                    )));
                };
                let role = role
                    .parse()
                    .map_err(|e| ConfigError(format!("{API_KEYS_VAR} entry {}: {e}", i + 1)))?;
                self.api_keys.push(ApiKey {
                    name: (*name).to_owned(),
                    role,
                    sha256: (*sha256).to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Checks every value; the first bad one is the error.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        if self.max_horizon == 0 {
            return bad("max_horizon", "must be at least 1");
        }
        if self.max_series_per_request == 0 {
            return bad("max_series_per_request", "must be at least 1");
        }
        if !(10..=MAX_SAMPLE_PATHS).contains(&self.sample_paths) {
            return bad(
                "sample_paths",
                &format!("must be between 10 and {MAX_SAMPLE_PATHS}"),
            );
        }
        for (key, value) in [
            ("max_quantiles", self.max_quantiles),
            ("max_answer_values", self.max_answer_values),
            ("max_connections", self.max_connections),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        if self.max_model_file_bytes < 1024 {
            return bad("max_model_file_bytes", "must be at least 1024");
        }
        if self.max_sampled_values < self.sample_paths {
            return bad(
                "max_sampled_values",
                "must be at least sample_paths (one step of one series)",
            );
        }
        if self.header_read_timeout_ms == 0 || self.shutdown_deadline_ms == 0 {
            let key = if self.header_read_timeout_ms == 0 {
                "header_read_timeout_ms"
            } else {
                "shutdown_deadline_ms"
            };
            return bad(key, "must be at least 1");
        }
        if self.idle_timeout_ms <= self.request_timeout_ms {
            return bad(
                "idle_timeout_ms",
                "must be longer than request_timeout_ms, or a slow request's connection would be \
                 closed as idle before its answer",
            );
        }
        if !(1..=12).contains(&self.fiscal_year_first_month) {
            return bad("fiscal_year_first_month", "must be a month number 1-12");
        }
        if self.body_limit_bytes < 1024 {
            return bad("body_limit_bytes", "must be at least 1024");
        }
        if self.request_timeout_ms == 0 {
            return bad("request_timeout_ms", "must be at least 1");
        }
        if self.max_risk_lines == 0 {
            return bad("max_risk_lines", "must be at least 1");
        }
        if self.max_ingest_rows == 0 {
            return bad("max_ingest_rows", "must be at least 1");
        }
        if self.store.trim().is_empty() {
            return bad("store", "must be a SQLite file path or a postgres:// URL");
        }
        let currency_ok = (1..=8).contains(&self.currency.len())
            && self.currency.chars().all(|c| c.is_ascii_alphanumeric());
        if !currency_ok {
            return bad(
                "currency",
                "must be a short code of letters or digits, e.g. KRW",
            );
        }
        if let Err(why) = self.risk_flags.check() {
            return bad("risk_flags", &why);
        }
        if self.max_concurrent_requests == 0 {
            return bad("max_concurrent_requests", "must be at least 1");
        }
        for (i, key) in self.api_keys.iter().enumerate() {
            let valid_hash =
                key.sha256.len() == 64 && key.sha256.chars().all(|c| c.is_ascii_hexdigit());
            if !valid_hash {
                return bad(
                    &format!("api_keys[{i}] ({})", key.name),
                    "sha256 must be 64 hex digits (civicast-serve hash-key prints it from the key on standard input)",
                );
            }
        }
        for origin in &self.cors_origins {
            if origin.parse::<axum::http::HeaderValue>().is_err() || !origin.starts_with("http") {
                return bad(
                    "cors_origins",
                    &format!("{origin:?} is not an origin like https://example.org"),
                );
            }
        }
        if self.api_keys.is_empty() {
            return bad(
                "api_keys",
                "no API keys are configured, so every API route would refuse every caller; add \
                 [[api_keys]] entries (name, role = \"read\", \"write\" or \"admin\", sha256) or set \
                 CIVICAST_API_KEYS=name:role:sha256 (civicast-serve hash-key prints the hash of the key on standard input)",
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn environment_variables_override_the_file() {
        let mut config = Config::default();
        config
            .apply_env(|name| match name {
                LISTEN_VAR => Some("0.0.0.0:9000".into()),
                API_KEYS_VAR => Some(format!("ops:admin:{HASH}")),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.api_keys[0].role, Role::Admin);
        config.check().unwrap();
    }

    #[test]
    fn bad_values_fail_fast_naming_the_key() {
        let mut config = Config::default();
        assert!(config.check().unwrap_err().to_string().contains("api_keys"));
        config.api_keys.push(ApiKey {
            name: "x".into(),
            role: Role::Read,
            sha256: "abc".into(),
        });
        assert!(
            config
                .check()
                .unwrap_err()
                .to_string()
                .contains("api_keys[0] (x)")
        );
        config.api_keys[0].sha256 = HASH.into();
        config.fiscal_year_first_month = 13;
        assert!(
            config
                .check()
                .unwrap_err()
                .to_string()
                .contains("fiscal_year_first_month")
        );
        let err = Config::default()
            .apply_env(|_| Some("nonsense".into()))
            .unwrap_err();
        assert!(err.to_string().contains(LISTEN_VAR));
    }

    #[test]
    fn risk_settings_are_checked_naming_the_key() {
        let mut config = Config::default();
        config.api_keys.push(ApiKey {
            name: "x".into(),
            role: Role::Read,
            sha256: HASH.into(),
        });
        config.check().unwrap();
        let mut unordered = config.clone();
        unordered.risk_flags.low = 0.6;
        let err = unordered.check().unwrap_err().to_string();
        assert!(
            err.contains("risk_flags") && err.contains("low <= medium"),
            "{err}"
        );
        let mut currency = config.clone();
        currency.currency = "₩ won".into();
        assert!(
            currency
                .check()
                .unwrap_err()
                .to_string()
                .contains("currency")
        );
        let mut lines = config;
        lines.max_risk_lines = 0;
        assert!(
            lines
                .check()
                .unwrap_err()
                .to_string()
                .contains("max_risk_lines")
        );
    }

    #[test]
    fn the_example_configuration_is_the_defaults_and_ships_no_working_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("serve.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let mut config: Config = toml::from_str(&text).unwrap();
        assert!(config.api_keys.is_empty(), "no key in an example file");
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("api_keys"), "{err}");
        config
            .apply_env(|name| (name == API_KEYS_VAR).then(|| format!("ops:admin:{HASH}")))
            .unwrap();
        config.check().unwrap();
        // Every documented value is the default, so the file documents what runs without it.
        let defaults = Config::default();
        assert_eq!(format!("{:?}", config.api_keys.len()), "1");
        config.api_keys.clear();
        assert_eq!(format!("{config:?}"), format!("{defaults:?}"));
    }

    #[test]
    fn connection_and_work_limits_are_checked_naming_the_key() {
        let mut base = Config::default();
        base.api_keys.push(ApiKey {
            name: "x".into(),
            role: Role::Read,
            sha256: HASH.into(),
        });
        type Spoil = fn(&mut Config);
        let cases: [(&str, Spoil); 5] = [
            ("max_quantiles", |c| c.max_quantiles = 0),
            ("max_connections", |c| c.max_connections = 0),
            ("max_sampled_values", |c| c.max_sampled_values = 1),
            ("idle_timeout_ms", |c| {
                c.idle_timeout_ms = c.request_timeout_ms
            }),
            ("sample_paths", |c| c.sample_paths = 100_000),
        ];
        for (key, spoil) in cases {
            let mut config = base.clone();
            spoil(&mut config);
            let err = config.check().unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn the_memory_bound_adds_up_the_documented_terms() {
        let config = Config {
            compute_slots: 2,
            ..Config::default()
        };
        let expected = 1024 * (64 << 10)
            + 256 * (1 << 20)
            + 2 * (8 * (1 << 20) + 1_000 * 1_000 * 8)
            + 2 * (8 * (1 << 20))
            + 256 * 100_000 * 40;
        assert_eq!(config.request_memory_bound(), expected);
        assert!(expected < 2 << 30, "{expected}");
    }

    #[test]
    fn an_unknown_key_in_the_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, "max_horizn = 10\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("max_horizn"), "{err}");
    }
}
