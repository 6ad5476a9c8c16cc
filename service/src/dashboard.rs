//! The planners' dashboard: one self-contained page (HTML, CSS, JavaScript and a hand-drawn SVG
//! chart) compiled into the binary and served at `/`.
//!
//! Why a page in the binary rather than a front-end project: the service must run without the
//! internet and without a second server, so the page has no build step, no framework and no
//! chart library, and fetches nothing but this service's own `/v1` API, with the same JSON every
//! other client gets. The Content-Security-Policy below makes the browser enforce that: scripts
//! and styles only inline, network requests only to this origin.
//!
//! The page holds no data and no secret, which is why it can be public: when `/v1` answers 401 it
//! asks for an API key and keeps it in the tab's `sessionStorage` only.

use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse};

/// The page itself.
pub const PAGE: &str = include_str!("dashboard.html");

/// What the page may load: nothing from elsewhere. Inline script and style because the page is
/// one file; `connect-src 'self'` for the API; `blob:` for the CSV downloads it builds itself.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data: blob:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /`: the dashboard.
pub async fn page() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        )],
        Html(PAGE),
    )
}
