//! The listener: accepting connections under a cap, timing out the ones that stall, and shutting
//! down within a deadline.
//!
//! `axum::serve` gives none of these: it sets no timer, so hyper's header-read timeout is inert
//! and a client that sends half a header holds its connection (and a graceful shutdown) forever;
//! it accepts without limit; and its graceful shutdown waits for every connection however long.
//! This loop is the same hyper connection driver with those three bounds:
//!
//! - **At most `max_connections` open.** The next connection is accepted when one closes; until
//!   then it waits in the kernel's backlog.
//! - **Timeouts.** A request's header must arrive within `header_read_timeout_ms` (hyper's timer,
//!   which also covers a kept-alive connection waiting for its next request), and a connection on
//!   which no byte moves either way for `idle_timeout_ms` is closed ([`IdleTimeout`]): a client
//!   that stops reading its answer or sending its body.
//! - **A shutdown deadline.** On the signal the loop stops accepting and asks every connection to
//!   finish its request in flight and close; after `shutdown_deadline_ms` the connections left
//!   are dropped, which cancels their requests' work ([`crate::work`]).
//!
//! HTTP/1.1 only: what clients and nginx send, and one protocol's worth of parser to expose.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

use crate::config::{CONNECTION_BUFFER_BYTES, Config};
use crate::metrics::Metrics;

/// How a server run ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stopped {
    /// Connections still open at the shutdown deadline, closed without finishing.
    pub closed_at_deadline: usize,
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down within the deadline.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    config: &Config,
    metrics: Metrics,
    signal: impl Future<Output = ()>,
) -> Stopped {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let header_timeout = Duration::from_millis(config.header_read_timeout_ms);
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let mut signal = std::pin::pin!(signal);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut signal => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the next accept may succeed, and a pause keeps an fd shortage from spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        // Reap finished connections so the set holds only open ones.
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let metrics = metrics.clone();
        let mut stopping = stopping.clone();
        connections.spawn(async move {
            let _slot = slot;
            metrics.connections.inc();
            let io = TokioIo::new(IdleTimeout::new(stream, idle));
            let service = TowerToHyperService::new(app);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .max_buf_size(CONNECTION_BUFFER_BYTES);
            let connection = builder.serve_connection(io, service);
            let mut connection = std::pin::pin!(connection);
            let outcome = tokio::select! {
                outcome = connection.as_mut() => outcome,
                _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
                    connection.as_mut().graceful_shutdown();
                    connection.as_mut().await
                }
            };
            if let Err(e) = outcome {
                if e.is_timeout() {
                    metrics.closed.with_label_values(&["header_timeout"]).inc();
                } else if is_idle_timeout(&e) {
                    metrics.closed.with_label_values(&["idle"]).inc();
                }
            }
            metrics.connections.dec();
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let deadline = Duration::from_millis(config.shutdown_deadline_ms);
    let drained = tokio::time::timeout(deadline, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let mut stopped = Stopped::default();
    if drained.is_err() {
        stopped.closed_at_deadline = connections.len();
        metrics
            .closed
            .with_label_values(&["shutdown_deadline"])
            .inc_by(connections.len() as u64);
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        metrics.connections.set(0);
    }
    stopped
}

fn is_idle_timeout(error: &hyper::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::TimedOut;
        }
        source = cause.source();
    }
    false
}

/// A stream that fails with `TimedOut` once no byte has moved either way for `idle`.
///
/// The timer is not reset on every read and write (a timer-wheel update per packet): progress
/// only records the time, and when the timer fires early it is moved to the last progress plus
/// `idle`.
pub struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<S> IdleTimeout<S> {
    /// `inner`, closed after `idle` without progress.
    pub fn new(inner: S, idle: Duration) -> Self {
        let now = Instant::now();
        IdleTimeout {
            inner,
            idle,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// Called when the inner stream is not ready: `Err` once the connection has been idle too
    /// long, otherwise the timer is armed to wake this task when it might have been.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let due = self.last_progress + self.idle;
            if Instant::now() >= due {
                return Poll::Ready(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ));
            }
            self.timer.as_mut().reset(due);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.last_progress = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.last_progress = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => this.poll_idle(cx).map(Err),
            ready => ready,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(result) => {
                this.last_progress = Instant::now();
                Poll::Ready(result)
            }
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_stream_with_no_traffic_times_out_and_traffic_keeps_it_open() {
        let (client, server) = tokio::io::duplex(64);
        let mut server = IdleTimeout::new(server, Duration::from_secs(10));
        let mut client = client;
        let mut buf = [0u8; 4];
        // Traffic every 6 s for a minute: never 10 s without a byte.
        let talker = tokio::spawn(async move {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(6)).await;
                client.write_all(b"ping").await.unwrap();
            }
            client
        });
        for _ in 0..10 {
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"ping");
        }
        let _client = talker.await.unwrap();
        // Then silence: the read fails as timed out (the paused clock jumps to the deadline).
        let error = server.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    }
}
