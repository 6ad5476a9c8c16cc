//! The dashboard page at `/`: served from the binary, as HTML, fetching nothing from elsewhere.
//! What it does in a browser is tested by `e2e/` (headless Chromium on the real binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use civicast_service::app;
use civicast_service::dashboard::PAGE;
use common::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The only absolute URL the page may contain: the SVG namespace, an identifier that is never
/// fetched.
const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";

#[tokio::test]
async fn the_dashboard_is_served_at_the_root_as_html_without_a_key() {
    let (_dir, state, _) = state_with_models().await;
    let request = Request::get("/").body(Body::empty()).unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("connect-src 'self'"), "{policy}");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let page = std::str::from_utf8(&body).unwrap();
    assert_eq!(page, PAGE);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains(r#"<html lang="ko">"#), "Korean by default");
}

#[tokio::test]
async fn the_dashboard_refers_to_no_other_host() {
    let page = PAGE.replace(SVG_NAMESPACE, "");
    let lower = page.to_lowercase();
    for needle in [
        "http://", "https://", "//cdn", "@import", "<link", "<img", "<iframe",
    ] {
        assert!(
            !lower.contains(needle),
            "the dashboard contains {needle:?}: it must load nothing from elsewhere"
        );
    }
    // CSS `url(...)` (case-sensitive: `URL.createObjectURL(` is the CSV download, not a fetch).
    assert!(!page.contains("url("), "the dashboard's CSS loads a url()");
    // Scripts are inline only: no <script src=...>.
    assert!(!page.contains("<script src"));
    // Every request goes to this server's own API.
    for path in ["'/v1/forecast'", "'/v1/risk'", "`/v1/series?"] {
        assert!(page.contains(path), "{path}");
    }
}

#[tokio::test]
async fn every_label_has_a_korean_and_an_english_text() {
    // The two dictionaries of the page must name the same keys: a key missing from one language
    // would show `undefined` after the toggle.
    let keys = |lang: &str| -> Vec<String> {
        let start = PAGE.find(&format!("  {lang}: {{\n")).unwrap();
        // From the line after `ko: {`, so the language's own name is not counted as a key.
        let block = &PAGE[start + lang.len() + 6..];
        let end = block.find("\n  },").unwrap();
        let mut keys: Vec<String> = block[..end]
            .split([',', '{', '\n'])
            .filter_map(|part| {
                let (key, _) = part.trim().split_once(':')?;
                let key = key.trim();
                (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()))
                    .then(|| key.to_owned())
            })
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let (ko, en) = (keys("ko"), keys("en"));
    assert!(ko.len() > 40, "{ko:?}");
    assert_eq!(ko, en);
    for used in PAGE.split("data-i18n=\"").skip(1) {
        let key = &used[..used.find('"').unwrap()];
        assert!(ko.iter().any(|k| k == key), "data-i18n={key} has no text");
    }
}
