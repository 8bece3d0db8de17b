//! The listener: accepts connections up to the limit, runs each one, serves
//! Prometheus metrics on a separate port, and shuts down gracefully (stop
//! accepting, finish in-flight requests, flush, close the store and release
//! its directory lock).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use millrace::{Store, StoreOptions};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::auth::Authenticator;
use crate::config::{ConfigError, ServerConfig};
use crate::connection::{self, Shared};
use crate::handshake_budget::HandshakeBudget;
use crate::metrics::ServerMetrics;
use crate::server::service::Service;

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the store: {0}")]
    Store(#[from] millrace::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The Kafka front's address (`--kafka-listen`, `kafka.listen`) is taken.
    #[error("cannot listen on {addr} for Kafka clients (--kafka-listen, kafka.listen): {source}")]
    KafkaBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The schema registry's address (`--registry-listen`, `registry.listen`) is taken.
    #[error("cannot listen on {addr} for the schema registry (--registry-listen, registry.listen): {source}")]
    RegistryBind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
}

/// A running server. Dropping the handle without [`ServerHandle::shutdown`]
/// also shuts the server down (the shutdown channel closes), but nobody waits
/// for the store to be closed.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    kafka_addr: Option<SocketAddr>,
    registry_addr: Option<SocketAddr>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<Result<(), ServeError>>,
    metrics: Arc<ServerMetrics>,
    store: Store,
}

impl ServerHandle {
    /// The protocol address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// The Kafka front's address actually bound (`None`: the front is off).
    pub fn kafka_addr(&self) -> Option<SocketAddr> {
        self.kafka_addr
    }
    /// The schema registry's bound address, when it is on.
    pub fn registry_addr(&self) -> Option<SocketAddr> {
        self.registry_addr
    }
    pub fn metrics(&self) -> &Arc<ServerMetrics> {
        &self.metrics
    }
    /// The store it serves (for what runs beside the server in-process: the
    /// `[[mirror]]` sections). Closed when the server shuts down.
    pub fn store(&self) -> &Store {
        &self.store
    }
    /// Graceful shutdown; returns once the store is closed.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        let _ = self.shutdown.send(true);
        self.wait().await
    }
    /// Wait until the server stops by itself (it does not, short of an error).
    pub async fn wait(self) -> Result<(), ServeError> {
        match self.task.await {
            Ok(result) => result,
            Err(join_error) => Err(ServeError::Runtime(std::io::Error::other(join_error.to_string()))),
        }
    }
}

/// Refuse a store whose limits do not agree with the server's: its
/// de-duplication window must cover `in_flight_max` pipelined batches, and
/// every topic's `record_bytes_max` must fit in a fetch response
/// ([`crate::server::service::record_bytes_fetchable_max`]) so that every record it
/// accepts can be fetched.
fn check_store_limits(config: &ServerConfig, store: &Store) -> Result<(), ConfigError> {
    let window = store.options().producer_dedup_batches;
    if window < config.in_flight_max {
        return Err(ConfigError::Invalid {
            key: "in_flight_max",
            value: config.in_flight_max.to_string(),
            expected: format!(
                "at most the store's producer_dedup_batches ({window}), so that every batch a producer \
                 pipelines can be retried; open the store with StoreOptions::producer_dedup_batches >= in_flight_max"
            ),
        });
    }
    let fetchable = crate::server::service::record_bytes_fetchable_max(config.frame_bytes_max);
    // Client topics: the store's own (`__*`, DLQs among them) are not
    // produced to by clients.
    for topic in store.list_topics() {
        let Ok(description) = store.describe_topic(&topic) else {
            continue;
        };
        let record_bytes_max = description.config.record_bytes_max;
        if record_bytes_max > fetchable {
            return Err(ConfigError::Invalid {
                key: "frame_bytes_max",
                value: config.frame_bytes_max.to_string(),
                expected: format!(
                    "topic {topic:?} has record_bytes_max = {record_bytes_max}, which does not fit in a fetch \
                     response under frame_bytes_max (at most {fetchable}); raise frame_bytes_max or lower the \
                     topic's record_bytes_max"
                ),
            });
        }
    }
    Ok(())
}

/// The Kafka front's listener and the address it bound, when it is on.
async fn bind_kafka(config: &ServerConfig) -> Result<Option<(TcpListener, SocketAddr)>, ServeError> {
    let Some(addr) = config.kafka.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::KafkaBind { addr, source })?;
    let bound = listener.local_addr().map_err(ServeError::Runtime)?;
    Ok(Some((listener, bound)))
}

/// The schema registry's listener and the address it bound, when it is on.
async fn bind_registry(config: &ServerConfig) -> Result<Option<(TcpListener, SocketAddr)>, ServeError> {
    let Some(addr) = config.registry.listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::RegistryBind { addr, source })?;
    let bound = listener.local_addr().map_err(ServeError::Runtime)?;
    Ok(Some((listener, bound)))
}

/// Open the store named by `config` and start serving it.
pub async fn start(config: ServerConfig) -> Result<ServerHandle, ServeError> {
    config.validate()?;
    let options = StoreOptions {
        durability: config.store_durability()?,
        quota_bytes: config.quota_bytes,
        groups_max: config.groups_max as usize,
        producer_dedup_batches: config.producer_dedup_batches(),
        anonymous_producer_idle_expiry: std::time::Duration::from_millis(config.kafka.producer_id_expiration_ms),
        ..StoreOptions::default()
    };
    let data_dir = config.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(data_dir, options))
        .await
        .map_err(|e| ServeError::Runtime(std::io::Error::other(e.to_string())))??;
    start_with_store(config, store).await
}

/// Every listener the config asks for, bound before anything is served: a
/// taken port fails the start with the flag's name.
struct Listeners {
    native: TcpListener,
    native_addr: SocketAddr,
    metrics: Option<(TcpListener, SocketAddr)>,
    kafka: Option<(TcpListener, SocketAddr)>,
    registry: Option<(TcpListener, SocketAddr)>,
}

impl Listeners {
    async fn bind(config: &ServerConfig) -> Result<Listeners, ServeError> {
        let native = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: config.listen,
                source,
            })?;
        let native_addr = native.local_addr().map_err(ServeError::Runtime)?;
        let metrics = match config.metrics_listen {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| ServeError::Bind { addr, source })?;
                let bound = listener.local_addr().map_err(ServeError::Runtime)?;
                Some((listener, bound))
            }
            None => None,
        };
        Ok(Listeners {
            native,
            native_addr,
            metrics,
            kafka: bind_kafka(config).await?,
            registry: bind_registry(config).await?,
        })
    }
}

/// Serve Prometheus metrics on `listener` until shutdown.
fn spawn_metrics(listener: TcpListener, store: &Store, shared: &Shared, shutdown: watch::Receiver<bool>) {
    let endpoint = Arc::new(crate::metrics_http::Endpoint {
        store: store.clone(),
        metrics: shared.metrics.clone(),
        token: shared.config.metrics_token.clone(),
        tls: if shared.config.metrics_tls {
            shared.tls.clone()
        } else {
            None
        },
        series_max: shared.config.metrics_series_max as usize,
        rendering: tokio::sync::Mutex::new(()),
    });
    tokio::spawn(crate::metrics_http::serve(listener, endpoint, shutdown));
}

/// Serve an already open store (embedders, tests). The store is closed on shutdown.
pub async fn start_with_store(config: ServerConfig, store: Store) -> Result<ServerHandle, ServeError> {
    config.validate()?;
    check_store_limits(&config, &store)?;
    let mirror_store = store.clone();
    let tls = match (&config.tls_cert_path, &config.tls_key_path) {
        (Some(cert), Some(key)) => Some(crate::tls::acceptor(cert, key)?),
        _ => None,
    };
    let listeners = Listeners::bind(&config).await?;
    let local_addr = listeners.native_addr;
    let metrics_addr = listeners.metrics.as_ref().map(|(_, bound)| *bound);
    let kafka_addr = listeners.kafka.as_ref().map(|(_, bound)| *bound);
    let registry_addr = listeners.registry.as_ref().map(|(_, bound)| *bound);
    let metrics = Arc::new(ServerMetrics::default());
    let shutting_down = Arc::new(AtomicBool::new(false));
    let context = Arc::new(Service {
        store: store.clone(),
        metrics: metrics.clone(),
        frame_bytes_max: config.frame_bytes_max,
        fetch_wait_max_ms: config.fetch_wait_max_ms,
        shutting_down: shutting_down.clone(),
        group_budget: crate::group_budget::GroupBudget::default(),
        kafka_groups: crate::server::service::LiveGroups::default(),
        info: crate::server::service::ServerInfo::now()
            .listening("native", Some(local_addr))
            .listening("kafka", kafka_addr)
            .listening("registry", registry_addr)
            .listening("metrics", metrics_addr),
    });
    let shared = Arc::new(Shared {
        auth: Authenticator::new(&config.tokens),
        buffered_bytes: crate::budget::ByteBudget::new(config.buffered_bytes_max, config.frame_bytes_max),
        connection_slots: Arc::new(Semaphore::new(config.connections_max as usize)),
        response_bytes: crate::budget::ByteBudget::new(config.response_buffered_bytes_max, config.frame_bytes_max),
        handshakes: Arc::new(HandshakeBudget::new(
            config.handshake_connections_max,
            config.handshake_connections_per_address_max,
        )),
        tls,
        config,
        context,
        metrics: metrics.clone(),
    });
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    if let Some((listener, _)) = listeners.metrics {
        spawn_metrics(listener, &store, &shared, shutdown_rx.clone());
    }
    if let Some(quiet) = shared.config.memory_release_idle() {
        tokio::spawn(release_memory_when_idle(
            quiet,
            store.clone(),
            metrics.clone(),
            shutdown_rx.clone(),
        ));
    }
    if let Some((listener, bound)) = listeners.kafka {
        crate::kafka::front::listener::spawn(listener, bound, &shared, shutdown_rx.clone());
    }
    if let Some((listener, bound)) = listeners.registry {
        crate::registry::spawn(listener, bound, &shared, shutdown_rx.clone());
    }
    tracing::info!(%local_addr, ?metrics_addr, ?kafka_addr, data_dir = %store.path().display(), "millrace server listening");
    let task = tokio::spawn(accept_loop(listeners.native, shared, store, shutting_down, shutdown_rx));
    Ok(ServerHandle {
        local_addr,
        metrics_addr,
        kafka_addr,
        registry_addr,
        shutdown: shutdown_tx,
        task,
        metrics,
        store: mirror_store,
    })
}

/// Accept connections on `listener` until `shutdown` changes, handing each
/// to `serve` (which spawns its task). The one accept loop of every front
/// (native, Kafka, registry): an accept error (EMFILE and friends) is
/// logged and backs off instead of spinning.
pub(crate) async fn accept_until_shutdown(
    listener: &TcpListener,
    front: &'static str,
    shutdown: &mut watch::Receiver<bool>,
    mut serve: impl FnMut(TcpStream, SocketAddr),
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => serve(stream, peer),
                Err(error) => {
                    tracing::warn!(%error, front, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    store: Store,
    shutting_down: Arc<AtomicBool>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), ServeError> {
    let connections_max = shared.config.connections_max as usize;
    let slots = shared.connection_slots.clone();
    let mut stop_accepting = shutdown.clone();
    accept_until_shutdown(&listener, "native", &mut stop_accepting, |stream, peer| {
        // Every new connection is taken into the handshake budget
        // (evicting the oldest one still in its handshake when it is
        // full); it takes one of the `connections_max` slots when its
        // Hello succeeds.
        let (ticket, evicted) = shared.handshakes.admit(peer.ip());
        if evicted {
            tracing::debug!(%peer, "handshake budget full: evicted the oldest connection in its handshake");
        }
        shared.metrics.connections_accepted.fetch_add(1, Relaxed);
        shared.metrics.connections_open.fetch_add(1, Relaxed);
        let shared = shared.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match shared.tls.clone() {
                None => connection::run(stream.into_split(), peer, shared.clone(), shutdown, ticket).await,
                Some(acceptor) => {
                    let timeout = shared.config.handshake_timeout();
                    tokio::select! {
                        accepted = tokio::time::timeout(timeout, acceptor.accept(stream)) => match accepted {
                            Ok(Ok(tls)) => connection::run(tokio::io::split(tls), peer, shared.clone(), shutdown, ticket).await,
                            Ok(Err(error)) => tracing::info!(%peer, %error, "TLS handshake failed"),
                            Err(_) => tracing::info!(%peer, "TLS handshake timed out"),
                        },
                        () = ticket.evicted() => tracing::info!(%peer, "TLS handshake evicted: handshake budget full"),
                    }
                }
            }
            shared.metrics.connections_open.fetch_sub(1, Relaxed);
        });
    })
    .await;
    drop(listener);
    tracing::info!("shutting down: finishing in-flight requests");
    shutting_down.store(true, Relaxed);
    let grace = shared.config.shutdown_grace();
    let all = u32::try_from(connections_max).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!(
            ?grace,
            "shutdown grace period over; closing with connections still open"
        );
    }
    let result = tokio::task::spawn_blocking(move || {
        let flushed = store.flush();
        let closed = store.close();
        flushed.and(closed)
    })
    .await
    .map_err(|e| ServeError::Runtime(std::io::Error::other(e.to_string())))?;
    tracing::info!(ok = result.is_ok(), "store flushed and closed");
    result.map_err(ServeError::Store)
}

/// Once a whole `quiet` period (`memory_release_idle_ms`) passed without a
/// request, response or new connection, give memory back, once per quiet
/// spell (the first one after start too: opening the store loaded every
/// sealed segment's index): the pages of memory-mapped sealed segments leave
/// the resident set ([`Store::release_mapped_pages`]; a large fetch would
/// otherwise leave the server's RSS at the size of what it read), sealed
/// segments' index entries leave memory ([`Store::release_sealed_indexes`];
/// they grow with the store), and the allocator returns its free memory.
/// Nothing is lost: the pages stay in the page cache, the indexes in their
/// files, and the next read brings back what it needs.
async fn release_memory_when_idle(
    quiet: Duration,
    store: Store,
    metrics: Arc<ServerMetrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(quiet);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate
    let mut seen = metrics.activity();
    let mut released_at = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = shutdown.changed() => return,
        }
        let now = metrics.activity();
        if now == seen && released_at != Some(now) {
            let store = store.clone();
            let released = tokio::task::spawn_blocking(move || {
                let mapped = store.release_mapped_pages();
                let indexes = store.release_sealed_indexes();
                release_free_heap();
                (mapped, indexes)
            })
            .await;
            metrics.idle_memory_releases.fetch_add(1, Relaxed);
            if let Ok((mapped, indexes)) = released {
                tracing::debug!(
                    mapped_bytes = mapped,
                    index_bytes = indexes,
                    "idle: released mapped segment pages, sealed indexes and free heap"
                );
            }
            released_at = Some(now);
        }
        seen = now;
    }
}

/// Give the allocator's free memory back to the system (glibc keeps freed
/// memory in per-thread arenas; after a burst on many threads that is most
/// of an idle server's anonymous memory).
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    expect(unsafe_code, reason = "malloc_trim is a C call")
)]
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` has no preconditions; it takes the arenas' own
    // locks, so it is safe while other threads allocate.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Run a server until SIGTERM or SIGINT, then shut down gracefully. This is
/// what `millrace serve` calls; it builds its own tokio runtime. `on_ready`
/// runs once the store is open and every listener is bound (so a banner it
/// prints is true, with the addresses actually bound), before the first
/// connection is accepted.
pub fn serve(config: ServerConfig, on_ready: impl FnOnce(&ServerHandle)) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("millrace-server")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let handle = start(config).await?;
        on_ready(&handle);
        wait_for_signal().await;
        tracing::info!("signal received");
        handle.shutdown().await
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
