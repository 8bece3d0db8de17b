//! The Kafka listener: accepts connections beside the native one, under
//! the same `connections_max` (one pool of slots for both fronts), the same
//! TLS settings and the same shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{connection, Front};
use crate::server::connection::Shared;
use crate::server::listener::accept_until_shutdown;

/// Start the Kafka front on `listener` (bound to `bound`) beside the native
/// one: its `Front` over the native front's service, accepting until shutdown.
pub(crate) fn spawn(listener: TcpListener, bound: SocketAddr, shared: &Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let mut config = shared.config.kafka.clone();
    config.advertised = Some(config.advertised_or(bound));
    let mut front = Front::new(shared.context.clone(), config);
    front.auth = shared.auth.clone();
    let front = Arc::new(front);
    tokio::spawn(accept_loop(listener, front, shared.clone(), shutdown));
}

/// Accept Kafka connections until shutdown. Each takes one of the
/// `connections_max` slots the native front uses too; with none free it is
/// closed at once (a Kafka client has no frame to be told why; it backs off
/// and reconnects). On a server with TLS the Kafka port speaks TLS too.
async fn accept_loop(listener: TcpListener, front: Arc<Front>, shared: Arc<Shared>, shutdown: watch::Receiver<bool>) {
    let mut stop = shutdown.clone();
    accept_until_shutdown(&listener, "kafka", &mut stop, |stream, peer| {
        let kafka = &shared.metrics.kafka;
        shared.metrics.connections_accepted.fetch_add(1, Relaxed);
        kafka.connections_accepted.fetch_add(1, Relaxed);
        let Ok(slot) = shared.connection_slots.clone().try_acquire_owned() else {
            shared.metrics.connections_rejected.fetch_add(1, Relaxed);
            kafka.connections_rejected.fetch_add(1, Relaxed);
            let connections_max = shared.config.connections_max;
            tracing::warn!(%peer, connections_max, "refusing Kafka connection: too many connections");
            drop(stream);
            return;
        };
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        kafka.connections_open.fetch_add(1, Relaxed);
        let front = front.clone();
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match shared.tls.clone() {
                None => connection::run(stream.into_split(), peer, front, shared.clone(), shutdown, slot).await,
                Some(acceptor) => {
                    let timeout = shared.config.handshake_timeout();
                    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            connection::run(tokio::io::split(tls), peer, front, shared.clone(), shutdown, slot).await;
                        }
                        Ok(Err(error)) => tracing::info!(%peer, %error, "Kafka TLS handshake failed"),
                        Err(_) => tracing::info!(%peer, "Kafka TLS handshake timed out"),
                    }
                }
            }
            shared.metrics.connections_open.fetch_sub(1, Relaxed);
            shared.metrics.kafka.connections_open.fetch_sub(1, Relaxed);
        });
    })
    .await;
    tracing::info!("Kafka listener stopped accepting");
}
