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

/// A name the client chose (an unknown field or column), cut to [`MAX_ECHO`] characters for use
/// as a problem's `field`.
pub fn field_name(text: &str) -> String {
    if text.chars().count() > MAX_ECHO {
        let head: String = text.chars().take(MAX_ECHO).collect();
        format!("{head}...")
    } else {
        text.to_owned()
    }
}

/// A parser's message (serde's, a query string's) with every quoted piece of client input cut to
/// [`MAX_ECHO`] characters: serde quotes an unknown field's whole name and a mistyped string's
/// whole value, which may be a megabyte.
pub fn shorten_quotes(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(4 * MAX_ECHO));
    let mut quote: Option<(char, usize)> = None;
    for c in message.chars() {
        match quote {
            Some((open, _)) if c == open => {
                quote = None;
                out.push(c);
            }
            Some((open, n)) => {
                if n < MAX_ECHO {
                    out.push(c);
                } else if n == MAX_ECHO {
                    out.push_str("...");
                }
                quote = Some((open, n + 1));
            }
            None => {
                if c == '`' || c == '"' {
                    quote = Some((c, 0));
                }
                out.push(c);
            }
        }
        if out.len() > 8 * MAX_ECHO {
            out.push_str(" ...");
            break;
        }
    }
    out
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
    /// The request asks for more work than a configured limit allows.
    #[error("{field}: {value} is over the limit of {maximum} ({limit} in the configuration)")]
    OverLimit {
        /// The request field that sets the amount (e.g. `quantiles`).
        field: String,
        /// The configuration key of the limit (e.g. `max_quantiles`).
        limit: &'static str,
        /// The limit.
        maximum: usize,
        /// What the request would need.
        value: usize,
    },
    /// Rows of a batch failed their checks; nothing was stored.
    #[error("{detail}")]
    Rows {
        /// A summary.
        detail: String,
        /// Every failed row, with its field.
        errors: Vec<RowProblem>,
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
    /// The request's work was stopped because the request is gone (timed out, client closed).
    #[error("the request was cancelled")]
    Cancelled,
    /// A bug or an I/O failure on our side; logged, not shown.
    #[error("internal error")]
    Internal(String),
}

/// An RFC 9457 problem document: the body of every error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:civicast:problem:<slug>` (e.g. `invalid-request`, `over-limit`, `not-found`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// What was wrong and what is allowed.
    pub detail: String,
    /// The request field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The configuration key of the limit a request went over (`over-limit` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
    /// That limit's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<usize>,
    /// What the request would have needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<usize>,
    /// For a batch of rows: every row that failed, with its field; nothing of the batch was
    /// stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<RowProblem>>,
}

/// One failed row of a batch.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    /// The row: `observations[3]`, `shared[0]` (JSON) or `line 5` (CSV; the header is line 1).
    pub row: String,
    /// The field or column at fault.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
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
            ApiError::Rows { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-rows",
                "Invalid rows",
            ),
            ApiError::OverLimit { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "over-limit",
                "Request over a limit",
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
            ApiError::Unavailable { .. } | ApiError::Cancelled => (
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
        let (field, limit, maximum, value) = match &self {
            ApiError::Invalid { field, .. } => (field.clone(), None, None, None),
            ApiError::OverLimit {
                field,
                limit,
                maximum,
                value,
            } => (
                Some(field.clone()),
                Some(*limit),
                Some(*maximum),
                Some(*value),
            ),
            _ => (None, None, None, None),
        };
        let errors = match &self {
            ApiError::Rows { errors, .. } => Some(errors.clone()),
            _ => None,
        };
        let body = Problem {
            kind: format!("urn:civicast:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.to_string(),
            field,
            limit,
            maximum,
            value,
            errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match self {
            ApiError::Unavailable { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::Cancelled => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            _ => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_client_input_in_a_parser_message_is_cut_short() {
        let long = "x".repeat(1 << 20);
        let message = format!("unknown field `{long}`, expected one of `series`, `horizon`");
        let short = shorten_quotes(&message);
        assert!(short.len() < 200, "{}", short.len());
        assert!(short.starts_with("unknown field `xxx"));
        assert!(
            short.ends_with("expected one of `series`, `horizon`"),
            "{short}"
        );
        let string = format!("invalid type: string \"{long}\", expected f64");
        assert!(shorten_quotes(&string).ends_with("expected f64"));
        assert_eq!(shorten_quotes("no quotes here"), "no quotes here");
    }

    #[test]
    fn an_echo_quotes_at_most_a_short_prefix() {
        let echoed = echo(&"é".repeat(10_000));
        assert!(echoed.chars().count() < MAX_ECHO + 10);
    }
}
