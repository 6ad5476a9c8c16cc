//! One error shape for every failure: RFC 9457 problem details (`application/problem+json`).
//!
//! [`ApiError`] owns the mapping from a failure to its status code in a single `IntoResponse`.
//! Client errors say what was wrong — the field, the value if short, the allowed range — and
//! never echo large inputs; internal errors say little to the caller and are logged in full.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Longest piece of client input echoed back in an error.
const MAX_ECHO: usize = 60;

/// Shortens client input for messages.
pub fn echo(text: &str) -> String {
    if text.chars().count() > MAX_ECHO {
        let head: String = text.chars().take(MAX_ECHO).collect();
        format!("{head:?}...")
    } else {
        format!("{text:?}")
    }
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or a value is out of range.
    #[error("{detail}")]
    Invalid {
        /// The offending field (JSON pointer-ish path, e.g. `series[2].id`).
        field: Option<String>,
        /// What was wrong and what is allowed.
        detail: String,
    },
    /// No or unknown API key.
    #[error("a valid API key is required (Authorization: Bearer <key> or X-API-Key)")]
    Unauthorized,
    /// The key's role does not allow this.
    #[error("this API key's role ({role}) may not do this; it needs {needed}")]
    Forbidden {
        /// The caller's role.
        role: crate::auth::Role,
        /// The role needed.
        needed: crate::auth::Role,
    },
    /// A named thing does not exist.
    #[error("{what} {name} does not exist")]
    NotFound {
        /// What kind of thing.
        what: &'static str,
        /// Its name (shortened).
        name: String,
    },
    /// No route here.
    #[error("no such endpoint; see /openapi.json")]
    NoRoute,
    /// The route exists, the method does not.
    #[error("method not allowed for this endpoint; see /openapi.json")]
    MethodNotAllowed,
    /// The body is larger than configured.
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Too busy, or not ready: try again later.
    #[error("{detail}")]
    Unavailable {
        /// Why.
        detail: String,
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A bug or an I/O failure on our side; logged, not shown.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// A 400/422-style error about `field`.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Invalid {
            field: Some(field.into()),
            detail: detail.into(),
        }
    }

    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Invalid { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-request",
                "Invalid request",
            ),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::NotFound { .. } => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "no-route", "Not found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "Method not allowed",
            ),
            ApiError::TooLarge { .. } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                "Request body too large",
            ),
            ApiError::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            ApiError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, slug, title) = self.parts();
        if let ApiError::Internal(details) = &self {
            tracing::error!(%details, "internal error");
        }
        let field = match &self {
            ApiError::Invalid { field, .. } => field.as_deref(),
            _ => None,
        };
        let body = Problem {
            kind: format!("urn:civicast:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            field,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::Unavailable { retry_after, .. } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
