//! The service over a real socket: a client connects, asks for a forecast, and gets it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn serves_a_forecast_over_tcp() {
    let (_dir, state, version) = state_with_models().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, civicast_service::app(state))
            .await
            .unwrap();
    });
    let body = r#"{"series":[{"dataset":"rides","id":"a"}],"horizon":3}"#;
    let request = format!(
        "POST /v1/forecast HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {READ_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(&version), "{response}");
    assert!(response.contains("\"time\":\"2024-02-28\""), "{response}");
    server.abort();
}
