//! # civicast-service
//!
//! The inference service: it serves each dataset's `production` model version from a registry
//! written by `civicast-train fit`, over a JSON API under `/v1`, to the city's other systems and
//! to the planners' dashboard ([`dashboard`], a page at `/` that calls the same API). It depends
//! on `civicast-model` and `civicast-registry` only, never on the training crate's data-frame
//! stack, so a deployed service stays small.
//!
//! Design, following the axum examples and text-embeddings-inference:
//!
//! - [`app`] builds the whole service as a `Router`, so tests call it with `oneshot` and no
//!   socket; `main.rs` only adds the listener and graceful shutdown.
//! - Models live in an immutable [`catalog::Catalog`] behind an `ArcSwap`: requests read it
//!   without locks, and a reload (polling the aliases, or `POST /v1/admin/reload`) verifies and
//!   warms new versions before swapping them in; a version that fails keeps the old one serving.
//!   Each series is forecast by its version's `civicast_model::FittedForecaster`, whatever the
//!   model: a new model needs no change here.
//! - A forecast answer is rendered to JSON once per version and request shape and then served as
//!   bytes ([`catalog::LoadedVersion::answer`]): formatting times and numbers cost more than the
//!   rest of a request. The state is one `Arc` because every layer clones it per request.
//! - Every failure is one [`error::ApiError`] rendered as RFC 9457 problem details.
//! - Access is default-deny: every route needs an API key ([`auth`]) except the groups the
//!   configuration opens (health, metrics, docs and the dashboard page by default).
//! - Back-pressure is a semaphore that answers 503 with `Retry-After` when full, instead of an
//!   unbounded queue; a request that runs past the timeout is answered 503 too.

pub mod accuracy;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod config;
pub mod dashboard;
pub mod error;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod openapi;
pub mod risk;
pub mod server;
pub mod work;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use civicast_registry::{Registry, TrainingMarker};
use tokio::sync::{Mutex, Semaphore};

use crate::auth::{KeyStore, Role};
use crate::catalog::{Catalog, LoadReport};
use crate::config::{Config, PublicGroup};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::work::{Admission, Pool};

/// The `tracing` target of the access log (`RUST_LOG=civicast::access=off` silences it).
pub const ACCESS_LOG: &str = "civicast::access";

/// Seconds a client is told to wait after a 503.
const RETRY_AFTER_SECONDS: u64 = 1;

/// Everything handlers share, behind one `Arc`: every middleware layer and extractor clones the
/// state once per request, so a clone must be a single reference-count increment (profiling the
/// forecast route showed cloning and dropping a dozen `Arc`s and the registry's path per layer
/// costing a tenth of its CPU time).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The shared parts of [`AppState`] (reached through `Deref`).
pub struct Shared {
    /// The configuration.
    pub config: Config,
    /// The registry models are loaded from.
    pub registry: Registry,
    /// The models being served.
    pub catalog: ArcSwap<Catalog>,
    /// Failures of the last reload (dataset -> why).
    pub last_failures: ArcSwap<BTreeMap<String, String>>,
    /// Fits in progress by dataset, as the registry's training markers said at the last poll.
    pub training: ArcSwap<BTreeMap<String, TrainingMarker>>,
    /// Metrics.
    pub metrics: Metrics,
    /// The compute slots heavy request work runs in.
    pub pool: Pool,
    /// The observation store, when one is open (`civicast-serve` always opens one).
    pub store: Option<civicast_store::Store>,
    /// Held while the live state is refreshed from the store (see [`live::refresh_dataset`]).
    pub refreshing: Mutex<()>,
    /// The store's change number every served dataset has been brought up to (see
    /// [`live::catch_up`]).
    pub seen_change: std::sync::atomic::AtomicI64,
    /// Tickets of reads arriving and of change-counter reads beginning, in one sequence, and the
    /// ticket of the last counter read that completed (see [`live::catch_up`]).
    catch_up_ticket: AtomicU64,
    catch_up_read: Mutex<u64>,
    /// Ingests in progress, one per compute slot at most: each holds its checked rows while
    /// the store writes them, which the memory bound counts per slot.
    pub ingesting: Semaphore,
    pub(crate) keys: KeyStore,
    limiter: Arc<Semaphore>,
    /// The last reload's report and the last reload request it covered (see [`AppState::reload`]).
    reloading: Mutex<(u64, LoadReport)>,
    reload_requests: AtomicU64,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// Why the service's state could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Registering the metrics failed.
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The registry location is not one the service can open.
    #[error("opening the registry: {0}")]
    Registry(#[from] civicast_registry::RegistryError),
}

impl AppState {
    /// State for `config`, with nothing loaded yet (call [`AppState::reload`]) and no store.
    pub fn new(config: Config) -> Result<Self, StateError> {
        AppState::with_store(config, None)
    }

    /// State for `config` over `store`, with nothing loaded yet (call [`AppState::reload`]).
    /// The registry is `config.registry`: a folder, or `s3://bucket/prefix`.
    pub fn with_store(
        config: Config,
        store: Option<civicast_store::Store>,
    ) -> Result<Self, StateError> {
        let registry = Registry::open(
            &config.registry.to_string_lossy(),
            civicast_registry::RegistryLimits {
                models_bytes: config.max_model_file_bytes,
                ..civicast_registry::RegistryLimits::default()
            },
        )?;
        let metrics = Metrics::new()?;
        Ok(AppState(Arc::new(Shared {
            keys: KeyStore::new(&config.api_keys),
            limiter: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            pool: Pool::new(config.effective_compute_slots(), metrics.cancelled.clone()),
            ingesting: Semaphore::new(config.effective_compute_slots()),
            config,
            registry,
            catalog: ArcSwap::from_pointee(Catalog::default()),
            last_failures: ArcSwap::from_pointee(BTreeMap::new()),
            training: ArcSwap::from_pointee(BTreeMap::new()),
            metrics,
            store,
            refreshing: Mutex::new(()),
            seen_change: std::sync::atomic::AtomicI64::new(0),
            catch_up_ticket: AtomicU64::new(0),
            catch_up_read: Mutex::new(0),
            reloading: Mutex::new((0, LoadReport::default())),
            reload_requests: AtomicU64::new(0),
        })))
    }

    /// The observation store, or the 503 a route that needs one answers without it.
    pub fn store(&self) -> Result<civicast_store::Store, ApiError> {
        self.store.clone().ok_or_else(|| ApiError::Unavailable {
            detail: "this service has no observation store configured".into(),
            retry_after: 60,
        })
    }

    /// Loads the registry's production versions and swaps them in, retrying refused versions.
    ///
    /// The reload runs in a task of its own, to its end, even when the request that asked for it
    /// times out: one abandoned halfway would have read and verified versions for nothing.
    /// Reloads are serialised and coalesced: a caller waiting behind a running reload that began
    /// after it asked gets that reload's report instead of starting another, so callers that
    /// time out and retry cannot pile reloads up.
    pub async fn reload(&self) -> LoadReport {
        let state = self.clone();
        let ticket = self.reload_requests.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::spawn(async move { state.reload_covering(ticket).await })
            .await
            .unwrap_or_else(|e| LoadReport {
                failures: vec![("(reload)".into(), e.to_string())],
                ..LoadReport::default()
            })
    }

    async fn reload_covering(&self, ticket: u64) -> LoadReport {
        let mut last = self.reloading.lock().await;
        if last.0 >= ticket {
            return last.1.clone();
        }
        let covers = self.reload_requests.load(Ordering::SeqCst);
        let report = self.reload_now().await;
        *last = (covers, report.clone());
        report
    }

    async fn reload_now(&self) -> LoadReport {
        self.refresh_training().await;
        let registry = self.registry.clone();
        let current = Arc::new(Catalog {
            datasets: self.catalog.load().datasets.clone(),
            refused: BTreeMap::new(),
        });
        let loaded =
            tokio::task::spawn_blocking(move || Catalog::reload(&registry, &current)).await;
        let (catalog, report) = match loaded {
            Ok(result) => result,
            Err(e) => {
                let report = LoadReport {
                    failures: vec![("(reload)".into(), e.to_string())],
                    ..LoadReport::default()
                };
                self.record(&report);
                return report;
            }
        };
        if !report.changed.is_empty() || !report.removed.is_empty() {
            self.metrics.reloads.inc();
        }
        // A new version starts from its fitted end: move it to the stored data before it serves.
        // It is swapped in before the refresh lock is released, so that a refresh waiting for
        // the lock (a read catching up with another replica's ingest, see `live::catch_up`)
        // moves on the version that serves, not the one being replaced.
        let refreshing = match &self.store {
            Some(_) => Some(self.refreshing.lock().await),
            None => None,
        };
        if let Some(store) = &self.store {
            for (dataset, _) in &report.changed {
                if let Some(loaded) = catalog.datasets.get(dataset) {
                    register(store, loaded).await;
                    let refreshed = match live::refresh_version(store, loaded).await {
                        Ok(_) => live::issue_all(store, loaded).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = refreshed {
                        tracing::warn!(%dataset, error = %e, "cannot read the store's observations");
                    }
                }
            }
        }
        self.catalog.store(Arc::new(catalog));
        drop(refreshing);
        self.record(&report);
        report
    }

    fn record(&self, report: &LoadReport) {
        for (dataset, why) in &report.failures {
            tracing::warn!(%dataset, %why, "model version refused; the previous one keeps serving");
        }
        for (dataset, version) in &report.changed {
            let models = self
                .catalog
                .load()
                .datasets
                .get(dataset)
                .map(|loaded| models_summary(&loaded.manifest))
                .unwrap_or_default();
            tracing::info!(%dataset, %version, %models, "serving new model version");
        }
        for dataset in &report.removed {
            tracing::warn!(%dataset, "production alias removed: no longer serving the dataset");
        }
        self.metrics
            .reload_failures
            .inc_by(report.failures.len() as u64);
        self.metrics.model_info.reset();
        for (dataset, loaded) in &self.catalog.load().datasets {
            self.metrics
                .model_info
                .with_label_values(&[dataset.as_str(), loaded.manifest.version.as_str()])
                .set(1);
        }
        self.last_failures
            .store(Arc::new(report.failures.iter().cloned().collect()));
    }

    /// Reads the registry's training markers, logging fits that started or ended.
    pub async fn refresh_training(&self) {
        let registry = self.registry.clone();
        let Ok(Ok(markers)) = tokio::task::spawn_blocking(move || registry.training()).await else {
            return;
        };
        let markers: BTreeMap<String, TrainingMarker> = markers
            .into_iter()
            .map(|m| (m.dataset.clone(), m))
            .collect();
        let before = self.training.load();
        for (dataset, marker) in &markers {
            if before.get(dataset).map(|m| m.state) != Some(marker.state) {
                let models = marker.models.join(",");
                tracing::info!(
                    %dataset, %models, state = ?marker.state, since = %marker.since,
                    "a fit of the dataset is in progress; its current version serves until the new one is published"
                );
            }
        }
        for dataset in before.keys().filter(|d| !markers.contains_key(*d)) {
            tracing::info!(%dataset, "the fit of the dataset ended");
        }
        self.training.store(Arc::new(markers));
    }

    /// Polls the store every `store_poll_ms` for series changed elsewhere (another replica's
    /// ingest, an import) and moves their forecasts on.
    pub fn spawn_store_poller(&self) {
        let millis = self.config.store_poll_ms;
        if millis == 0 || self.store.is_none() {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_millis(millis));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let datasets: Vec<String> = state.catalog.load().datasets.keys().cloned().collect();
                for dataset in datasets {
                    if let Err(e) = live::refresh_dataset(&state, &dataset).await {
                        tracing::warn!(%dataset, error = %e, "cannot read the store's observations");
                    }
                }
            }
        });
    }

    /// Polls the registry's aliases every `reload_poll_seconds` and reloads when one changed.
    pub fn spawn_reload_poller(&self) {
        let seconds = self.config.reload_poll_seconds;
        if seconds == 0 {
            return;
        }
        let state = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(seconds));
            loop {
                ticker.tick().await;
                state.refresh_training().await;
                let registry = state.registry.clone();
                let catalog = state.catalog.load_full();
                let stale = tokio::task::spawn_blocking(move || catalog.is_stale(&registry))
                    .await
                    .unwrap_or(false);
                if stale {
                    state.reload().await;
                }
            }
        });
    }
}

/// Makes sure the store knows a served dataset and its series, so that ingest can check rows
/// against them even before any import.
async fn register(store: &civicast_store::Store, loaded: &catalog::LoadedVersion) {
    let manifest = &loaded.manifest;
    let columns: Vec<String> = manifest
        .features
        .exogenous
        .iter()
        .map(|e| e.name.clone())
        .collect();
    let ids: Vec<String> = manifest.series.iter().map(|s| s.id.clone()).collect();
    let result = match store
        .register_dataset(
            &manifest.dataset.name,
            &manifest.dataset.frequency,
            &columns,
        )
        .await
    {
        Ok(()) => store.add_series(&manifest.dataset.name, &ids).await,
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(dataset = %manifest.dataset.name, error = %e, "cannot register the dataset in the store");
    }
}

/// The models a version serves, with their series counts ("auto x20"), for the log.
fn models_summary(manifest: &civicast_registry::VersionManifest) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for series in &manifest.series {
        *counts.entry(series.model.as_str()).or_default() += 1;
    }
    counts
        .iter()
        .map(|(model, n)| format!("{model} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Requires an API key with at least `needed` role.
/// Answers a read only once every served dataset reflects the store's latest change (see
/// [`live::catch_up`]).
async fn caught_up(State(state): State<AppState>, request: Request, next: Next) -> Response {
    live::catch_up(&state).await;
    next.run(request).await
}

async fn require(
    State((state, needed)): State<(AppState, Role)>,
    request: Request,
    next: Next,
) -> Response {
    let Some(caller) = state.keys.caller(request.headers()) else {
        return ApiError::Unauthorized.into_response();
    };
    let mut response = if caller.role < needed {
        ApiError::Forbidden {
            role: caller.role,
            needed,
        }
        .into_response()
    } else {
        next.run(request).await
    };
    response.extensions_mut().insert(KeyName(caller.name));
    response
}

/// The name of the key a request was made with, for the access log.
#[derive(Clone, Debug)]
struct KeyName(Arc<str>);

/// Load shedding and timeouts: at most `max_concurrent_requests` in flight, the rest refused at
/// once with 503 and `Retry-After`; a request past the timeout is answered 503. The request's
/// place is shared with the work it starts ([`Admission`]), so it is free again only once that
/// work has stopped too.
async fn shed_and_time(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // A declared length over the limit is refused before a byte of the body is read: waiting for
    // the body would hold a place for the whole request timeout, and the client waiting on
    // `Expect: 100-continue` would never learn why.
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.config.body_limit_bytes as u64) {
        return ApiError::TooLarge {
            limit: state.config.body_limit_bytes,
        }
        .into_response();
    }
    let Ok(permit) = state.limiter.clone().try_acquire_owned() else {
        state
            .metrics
            .rejected
            .with_label_values(&["overload"])
            .inc();
        return ApiError::Unavailable {
            detail: "the service is at capacity; retry shortly".into(),
            retry_after: RETRY_AFTER_SECONDS,
        }
        .into_response();
    };
    request.extensions_mut().insert(Admission(Arc::new(permit)));
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            state.metrics.rejected.with_label_values(&["timeout"]).inc();
            ApiError::Unavailable {
                detail: format!("the request took longer than {} ms", timeout.as_millis()),
                retry_after: RETRY_AFTER_SECONDS,
            }
            .into_response()
        }
    }
}

/// Counts requests and latency by matched route (never the raw path: unbounded label values),
/// and writes the access log: one line per request with the key's name (never the key), the
/// method, the route, the status and the latency.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // `MatchedPath` is an `Arc<str>`: cloning it does not copy the route.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let key = response.extensions().get::<KeyName>();
    tracing::info!(
        target: ACCESS_LOG,
        key = key.map_or("-", |k| &*k.0),
        method = method.as_str(),
        route,
        status = response.status().as_u16(),
        ms = elapsed.as_secs_f64() * 1e3,
    );
    state
        .metrics
        .latency
        .with_label_values(&[route])
        .observe(elapsed.as_secs_f64());
    state
        .metrics
        .requests
        .with_label_values(&[route, response.status().as_str()])
        .inc();
    response
}

async fn metrics_text(State(state): State<AppState>) -> impl IntoResponse {
    live_metrics(&state);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.metrics.render(),
    )
}

/// Sets the live-accuracy gauges from each served series' last scoring.
fn live_metrics(state: &AppState) {
    state.metrics.live.reset();
    state.metrics.drifted.reset();
    for (dataset, loaded) in &state.catalog.load().datasets {
        let mut sums = [0.0; 6];
        let mut counts = [0usize; 6];
        let (mut pairs, mut drifted) = (0usize, 0i64);
        for position in 0..loaded.manifest.series.len() {
            let Some(accuracy) = loaded.live(position).accuracy else {
                continue;
            };
            pairs += accuracy.pairs;
            drifted += i64::from(accuracy.drift.drifted);
            let s = &accuracy.scores;
            for (k, v) in [s.mase, s.smape, s.rmse, s.cov80, s.cov95, s.scrps]
                .into_iter()
                .enumerate()
            {
                if v.is_finite() {
                    sums[k] += v;
                    counts[k] += 1;
                }
            }
        }
        for (k, name) in ["MASE", "sMAPE", "RMSE", "cov80", "cov95", "sCRPS"]
            .into_iter()
            .enumerate()
        {
            if counts[k] > 0 {
                state
                    .metrics
                    .live
                    .with_label_values(&[dataset.as_str(), name])
                    .set(sums[k] / counts[k] as f64);
            }
        }
        state
            .metrics
            .live
            .with_label_values(&[dataset.as_str(), "pairs"])
            .set(pairs as f64);
        state
            .metrics
            .drifted
            .with_label_values(&[dataset.as_str()])
            .set(drifted);
    }
}

async fn no_route() -> ApiError {
    ApiError::NoRoute
}

/// Builds the whole service.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let gate = |router: Router<AppState>, role: Role| {
        router.route_layer(middleware::from_fn_with_state(
            (state.clone(), role),
            require,
        ))
    };
    let gate_unless_public = |router: Router<AppState>, group: PublicGroup| {
        if config.public.contains(&group) {
            router
        } else {
            gate(router, Role::Read)
        }
    };

    let read = gate(
        Router::new()
            .route("/v1/series", get(api::series))
            .route("/v1/series/{dataset}/{id}/history", get(api::history))
            .route(
                "/v1/series/{dataset}/{id}/accuracy",
                get(accuracy::series_accuracy),
            )
            .route("/v1/forecast", post(api::forecast))
            .route("/v1/risk", post(risk::risk))
            .route("/v1/models", get(api::models))
            .route("/v1/models/{version}", get(api::model_version))
            .route_layer(middleware::from_fn_with_state(state.clone(), caught_up)),
        Role::Read,
    );
    let write = gate(
        Router::new()
            .route("/v1/observations", post(ingest::observations))
            .route("/v1/future", post(ingest::future)),
        Role::Write,
    );
    let admin = gate(
        Router::new().route("/v1/admin/reload", post(api::reload)),
        Role::Admin,
    );
    let v1 = read
        .merge(write)
        .merge(admin)
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .route_layer(middleware::from_fn_with_state(state.clone(), shed_and_time));
    let health = gate_unless_public(
        Router::new()
            .route("/health/live", get(api::live))
            .route("/health/ready", get(api::ready)),
        PublicGroup::Health,
    );
    let metrics = gate_unless_public(
        Router::new().route("/metrics", get(metrics_text)),
        PublicGroup::Metrics,
    );
    let docs = gate_unless_public(
        Router::new()
            .route("/openapi.json", get(openapi::document))
            .route("/docs", get(openapi::page)),
        PublicGroup::Docs,
    );

    let dashboard = gate_unless_public(
        Router::new().route("/", get(dashboard::page)),
        PublicGroup::Dashboard,
    );

    let mut router = v1
        .merge(health)
        .merge(metrics)
        .merge(docs)
        .merge(dashboard)
        .fallback(no_route)
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state);
    if !config.cors_origins.is_empty() {
        let origins: Vec<axum::http::HeaderValue> = config
            .cors_origins
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect();
        router = router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
                .allow_headers([
                    axum::http::header::AUTHORIZATION,
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderName::from_static("x-api-key"),
                ]),
        );
    }
    router
}
