//! The metrics port: HTTP/1.1 served by hyper, optionally over TLS and behind
//! a bearer token (`design/protocol.md`, "Metrics endpoint").
//!
//! Bounded on every side: at most [`CONNECTIONS_MAX`] connections, and a
//! connection beyond them waits in the listen backlog instead of being
//! refused; a connection that does not send its request head within
//! [`HEADER_TIMEOUT`] is closed, one lives at most [`CONNECTION_LIFETIME`],
//! so idle or slow sockets cannot keep a scrape out for long; one scrape is
//! rendered at a time, and its cost is linear and capped by
//! `metrics_series_max` ([`crate::metrics::render_pipeline_gauges`]).
//! Shutdown drops every connection at once: it never waits on a scrape.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use millrace::Store;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::metrics::ServerMetrics;

/// Connections served at once; further ones wait to be accepted.
pub const CONNECTIONS_MAX: usize = 64;
/// Time a connection has to send a complete request head (and the TLS
/// handshake, when on).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Largest request head read.
const REQUEST_BUFFER_BYTES_MAX: usize = 16 * 1024;

/// What the metrics port serves and how it checks who asks.
pub(crate) struct Endpoint {
    pub store: Store,
    pub metrics: Arc<ServerMetrics>,
    /// `Authorization: Bearer <token>` required when set.
    pub token: Option<String>,
    pub tls: Option<TlsAcceptor>,
    /// Cap on per-group and per-topic series in one scrape.
    pub series_max: usize,
    /// One render at a time: concurrent scrapes wait for it.
    pub rendering: tokio::sync::Mutex<()>,
}

/// Accept and serve metrics connections until shutdown.
pub(crate) async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>, mut shutdown: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = shutdown.changed() => return,
        };
        let Ok(slot) = slot else { return };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let endpoint = endpoint.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            tokio::select! {
                _ = tokio::time::timeout(CONNECTION_LIFETIME, connection(stream, endpoint)) => {}
                _ = stop.changed() => {}
            }
        });
    }
}

async fn connection(stream: tokio::net::TcpStream, endpoint: Arc<Endpoint>) {
    match endpoint.tls.clone() {
        Some(acceptor) => {
            if let Ok(Ok(tls)) = tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                http(tls, endpoint).await;
            }
        }
        None => http(stream, endpoint).await,
    }
}

async fn http<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(stream: S, endpoint: Arc<Endpoint>) {
    let service = hyper::service::service_fn(move |request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, Infallible>(respond(request, &endpoint).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        // One request per connection (a scrape every few seconds gains
        // nothing from keep-alive, and an idle kept-alive socket holds a slot).
        .keep_alive(false)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(REQUEST_BUFFER_BYTES_MAX)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

async fn respond(request: Request<Incoming>, endpoint: &Endpoint) -> Response<Full<Bytes>> {
    if let Some(token) = &endpoint.token {
        let presented = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
        if !presented.is_some_and(|presented| constant_time_eq(presented, token.as_bytes())) {
            let mut response = text(StatusCode::UNAUTHORIZED, "a bearer token is required\n");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"millrace metrics\""),
            );
            return response;
        }
    }
    if request.uri().path() != "/metrics" {
        return text(StatusCode::NOT_FOUND, "try GET /metrics\n");
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "GET /metrics\n");
    }
    let _rendering = endpoint.rendering.lock().await;
    let store = endpoint.store.clone();
    let metrics = endpoint.metrics.clone();
    let series_max = endpoint.series_max;
    // Lag and DLQ gauges read the engine's tables: off the async threads.
    let rendered = tokio::task::spawn_blocking(move || {
        let (gauges, dropped) = crate::metrics::render_pipeline_gauges(&store, series_max);
        metrics.note_series_dropped(dropped);
        let mut body = metrics.render_prometheus(&store.metrics());
        body.push_str(&gauges);
        body.push_str(&metrics.extra.render());
        body
    })
    .await;
    match rendered {
        Ok(body) => text(StatusCode::OK, body),
        Err(_) => text(StatusCode::INTERNAL_SERVER_ERROR, "rendering the metrics failed\n"),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
