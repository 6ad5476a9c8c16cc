//! Prometheus metrics: requests and latency by route, model versions, reloads, rejections.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: forecasts take well under a millisecond to tens of milliseconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0,
];

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route and status code.
    pub requests: IntCounterVec,
    /// Latency by route.
    pub latency: HistogramVec,
    /// 1 for each served (dataset, version).
    pub model_info: IntGaugeVec,
    /// Reloads that loaded at least one new version.
    pub reloads: IntCounter,
    /// Versions refused on reload.
    pub reload_failures: IntCounter,
    /// Requests refused by load shedding or timeouts, by reason.
    pub rejected: IntCounterVec,
    /// Compute jobs stopped because their request was gone (timed out, client closed).
    pub cancelled: IntCounter,
    /// Open connections.
    pub connections: IntGauge,
    /// Connections closed by the server, by reason (`header_timeout`, `idle`, `shutdown_deadline`).
    pub closed: IntCounterVec,
    /// Observation rows stored (inserted or revised), by dataset.
    pub ingested: IntCounterVec,
    /// Live accuracy by dataset and metric: the mean over series of their live figures.
    pub live: GaugeVec,
    /// Series the drift test flags, by dataset.
    pub drifted: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "civicast_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "civicast_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )?;
        let model_info = IntGaugeVec::new(
            Opts::new(
                "civicast_model_version_info",
                "Served model version per dataset (value 1)",
            ),
            &["dataset", "version"],
        )?;
        let reloads = IntCounter::new(
            "civicast_reloads_total",
            "Reloads that changed a served version",
        )?;
        let reload_failures = IntCounter::new(
            "civicast_reload_failures_total",
            "Model versions refused on reload",
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "civicast_rejected_requests_total",
                "Requests refused (overload, timeout)",
            ),
            &["reason"],
        )?;
        let cancelled = IntCounter::new(
            "civicast_cancelled_work_total",
            "Compute jobs stopped because their request timed out or its client went away",
        )?;
        let connections = IntGauge::new("civicast_open_connections", "Open connections")?;
        let closed = IntCounterVec::new(
            Opts::new(
                "civicast_closed_connections_total",
                "Connections the server closed (header_timeout, idle, shutdown_deadline)",
            ),
            &["reason"],
        )?;
        let ingested = IntCounterVec::new(
            Opts::new(
                "civicast_ingested_rows_total",
                "Observation rows stored (inserted or revised) by dataset",
            ),
            &["dataset"],
        )?;
        let live = GaugeVec::new(
            Opts::new(
                "civicast_live_accuracy",
                "Live accuracy of issued forecasts by dataset and metric (MASE, sMAPE, RMSE, \
                 cov80, cov95, sCRPS; mean over series with scored forecasts; pairs: their count)",
            ),
            &["dataset", "metric"],
        )?;
        let drifted = IntGaugeVec::new(
            Opts::new(
                "civicast_drifted_series",
                "Series whose live error exceeds their backtest's (drift test), by dataset",
            ),
            &["dataset"],
        )?;
        registry.register(Box::new(ingested.clone()))?;
        registry.register(Box::new(live.clone()))?;
        registry.register(Box::new(drifted.clone()))?;
        registry.register(Box::new(cancelled.clone()))?;
        registry.register(Box::new(connections.clone()))?;
        registry.register(Box::new(closed.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(model_info.clone()))?;
        registry.register(Box::new(reloads.clone()))?;
        registry.register(Box::new(reload_failures.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            model_info,
            reloads,
            reload_failures,
            rejected,
            cancelled,
            connections,
            closed,
            ingested,
            live,
            drifted,
        })
    }

    /// Requests answered so far, over every route and status.
    pub fn requests_answered(&self) -> u64 {
        use prometheus::core::Collector;
        self.requests
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|metric| metric.get_counter().get_value() as u64)
            .sum()
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding our own registered metrics into a Vec cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}
