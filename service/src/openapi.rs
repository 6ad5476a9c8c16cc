//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa), and a small
//! self-contained docs page that renders it.
//!
//! The page is ours rather than Swagger UI: Swagger UI's crate downloads its assets at build time
//! and the CDN variants fetch them at run time, and this service must build and run without the
//! internet. The page reads `/openapi.json` from the same server and needs nothing else.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api;

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "civicast",
        description = "Demand forecasts and their uncertainty for city systems. Every /v1 route needs an API key (Authorization: Bearer <key>). Errors are RFC 9457 problem details.",
    ),
    paths(
        api::forecast,
        crate::risk::risk,
        api::series,
        api::history,
        crate::accuracy::series_accuracy,
        api::models,
        api::model_version,
        crate::ingest::observations,
        crate::ingest::future,
        api::reload,
        api::live,
        api::ready
    ),
    components(schemas(
        api::ForecastRequest,
        api::RollupPeriod,
        api::SeriesRef,
        api::ForecastResponse,
        api::SeriesForecast,
        api::StepForecast,
        api::PeriodForecast,
        api::SeriesPage,
        api::SeriesInfo,
        api::Coming,
        api::SeriesHistory,
        api::Observation,
        api::ModelVersion,
        api::ReloadResponse,
        api::Health,
        api::Live,
        crate::error::Problem,
        crate::error::RowProblem,
        crate::accuracy::SeriesAccuracy,
        crate::ingest::ObservationBatch,
        crate::ingest::ObservationRow,
        crate::ingest::SharedValues,
        crate::ingest::IngestResponse,
        crate::ingest::FutureBatch,
        crate::ingest::FutureValuesRow,
        crate::ingest::FutureResponse,
        crate::risk::RiskRequest,
        crate::risk::RiskLine,
        crate::risk::RiskResponse,
        crate::risk::LineResult,
        crate::risk::LineRisk,
        crate::risk::LineFailure,
        crate::risk::LineError,
        crate::risk::PeriodDemandSummary,
        crate::risk::Money
    )),
    modifiers(&ApiKeyScheme)
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /openapi.json`.
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: an interactive page over the OpenAPI document.
pub async fn page() -> Html<&'static str> {
    Html(include_str!("docs.html"))
}
