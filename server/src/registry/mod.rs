//! The schema registry's REST front: the subset of the Confluent Schema
//! Registry API that serializers, deserializers and tools use
//! (design/contracts.md, "Schema registry"), served by hyper on
//! `--registry-listen` (`[registry] listen`, default 127.0.0.1:8081) beside
//! the native and Kafka fronts, under the same tokens (HTTP basic auth:
//! user = token name, password = the token), the same TLS, the same
//! connection slots and the same shutdown.
//!
//! - [`config`]: the `[registry]` table.
//! - `http`: a request's authentication, its bounded body, and the
//!   registry's JSON answers and error codes.
//! - `routes`: the paths, each a call through the service layer
//!   ([`crate::server::service::Service::registry`]), never the store.

pub mod config;
mod http;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use config::RegistryConfig;

use crate::server::connection::Shared;
use crate::server::listener::accept_until_shutdown;

/// Time a connection has for the TLS handshake and each request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head buffered.
const HEAD_BYTES_MAX: usize = 64 * 1024;

/// Start the registry front on `listener` (bound to `bound`): accepting
/// until shutdown.
pub(crate) fn spawn(listener: TcpListener, bound: SocketAddr, shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) {
    tracing::info!(%bound, "schema registry listening");
    tokio::spawn(accept_loop(listener, shared.clone(), shutdown));
}

/// Accept connections until shutdown. Each takes one of the
/// `connections_max` slots the other fronts use; with none free it is
/// closed at once.
async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let mut stop_accepting = shutdown.clone();
    accept_until_shutdown(&listener, "registry", &mut stop_accepting, |stream, peer| {
        shared.metrics.connections_accepted.fetch_add(1, Relaxed);
        let Ok(slot) = shared.connection_slots.clone().try_acquire_owned() else {
            shared.metrics.connections_rejected.fetch_add(1, Relaxed);
            tracing::warn!(%peer, "refusing schema registry connection: too many connections");
            drop(stream);
            return;
        };
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        let shared = shared.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let _ = stream.set_nodelay(true);
            match shared.tls.clone() {
                None => serve_connection(stream, shared.clone(), stop).await,
                Some(acceptor) => match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => serve_connection(tls, shared.clone(), stop).await,
                    Ok(Err(error)) => tracing::info!(%peer, %error, "schema registry TLS handshake failed"),
                    Err(_) => tracing::info!(%peer, "schema registry TLS handshake timed out"),
                },
            }
            shared.metrics.connections_open.fetch_sub(1, Relaxed);
        });
    })
    .await;
    tracing::info!("schema registry stopped accepting");
}

/// HTTP/1.1 with keep-alive until the client closes, the connection idles
/// past `idle_timeout_ms`, or shutdown (then the request in progress is
/// answered, within the shutdown grace period).
async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let grace = shared.config.shutdown_grace();
    let idle = shared.config.idle_timeout();
    let service = hyper::service::service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, std::convert::Infallible>(http::respond(request, &shared).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT.min(idle))
        .max_buf_size(HEAD_BYTES_MAX)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = shutdown.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, connection).await;
        }
    }
}
