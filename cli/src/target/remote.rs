//! `--server`: the connection to a running server, its errors as the CLI
//! reports them, and the server's topic config read through the engine's key
//! table.

use crate::cli::GlobalArgs;
use crate::error::{exit, CliError, CliResult};
use millrace::{Durability, TopicConfig};
use millrace_server::error_code::ErrorCode;
use millrace_server::messages::ConfigEntry;
use millrace_server::{Client, ClientError, ClientOptions};
use std::net::{SocketAddr, ToSocketAddrs};

pub struct Remote {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) client: Client,
    pub(super) addr: SocketAddr,
}

pub fn remote_error(addr: SocketAddr, e: ClientError) -> CliError {
    match &e {
        ClientError::Server(wire) => {
            let mut error = CliError::new(format!("server {addr}: {}", wire.message));
            error = match wire.code {
                ErrorCode::Corruption => CliError {
                    code: exit::CORRUPTION,
                    ..error
                }
                .with_hint("run `millrace check` on the server's data directory (stop the server first)"),
                ErrorCode::Unauthenticated => {
                    error.with_hint("set MILLRACE_TOKEN (or --token) to a token the server accepts")
                }
                ErrorCode::PermissionDenied => error.with_hint(
                    "the token's permissions (or its `groups`, or the producer's owner) do not allow this; \
                     use a token configured for it",
                ),
                ErrorCode::TopicNotFound => error.with_hint("list topics with `millrace topic list`"),
                _ => error,
            };
            error
        }
        ClientError::Io { .. } | ClientError::Timeout(_) | ClientError::Disconnected => {
            CliError::new(format!("cannot talk to server {addr}: {e}"))
                .with_hint("is `millrace serve` running there? check --server (or MILLRACE_SERVER)")
        }
        // Protocol violations, TLS failures and whatever the client adds later.
        _ => CliError::new(format!("server {addr}: {e}")),
    }
}

/// `host:port` to a socket address.
pub fn resolve_server(server: &str) -> CliResult<SocketAddr> {
    server
        .to_socket_addrs()
        .map_err(|e| {
            CliError::usage(format!(
                "--server {server}: {e}; expected host:port like 127.0.0.1:7878"
            ))
        })?
        .next()
        .ok_or_else(|| CliError::usage(format!("--server {server}: resolves to no address")))
}

/// Client options from the global flags (token, TLS).
pub fn client_options(global: &GlobalArgs) -> CliResult<ClientOptions> {
    let tls = match &global.tls_ca {
        None => None,
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                CliError::new(format!("cannot read the TLS certificate file {}: {e}", path.display()))
                    .with_hint("--tls-ca (or MILLRACE_TLS_CA) names a PEM file holding the server's certificate or CA")
            })?;
            let server_name = match &global.tls_server_name {
                Some(name) => name.clone(),
                None => {
                    let server = global.server.as_deref().unwrap_or_default();
                    server
                        .rsplit_once(':')
                        .map_or(server, |(host, _)| host)
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string()
                }
            };
            Some(millrace_server::tls::ClientTls {
                root_certificates_pem: pem,
                server_name,
            })
        }
    };
    Ok(ClientOptions {
        client_name: format!("millrace-cli/{}", env!("CARGO_PKG_VERSION")),
        token: global.token.as_ref().map(|t| t.as_bytes().to_vec()),
        connect_attempts_max: 2,
        tls,
        ..ClientOptions::default()
    })
}

impl Remote {
    pub(super) fn connect(global: &GlobalArgs, server: &str) -> CliResult<Remote> {
        let addr = resolve_server(server)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::new(format!("cannot start the I/O runtime: {e}")))?;
        let options = client_options(global)?;
        let client = runtime
            .block_on(Client::connect(addr, options))
            .map_err(|e| remote_error(addr, e))?;
        Ok(Remote { runtime, client, addr })
    }

    pub(super) fn call<T>(&self, f: impl std::future::Future<Output = Result<T, ClientError>>) -> CliResult<T> {
        self.runtime.block_on(f).map_err(|e| remote_error(self.addr, e))
    }

    /// Send one request and wait for its response.
    pub fn request(
        &self,
        request: millrace_server::messages::Request,
    ) -> CliResult<millrace_server::messages::Response> {
        self.call(self.client.call(request))
    }

    /// An answer of the wrong kind: a protocol problem, not the user's.
    pub fn unexpected(&self, response: &millrace_server::messages::Response) -> CliError {
        CliError::new(format!(
            "server {} sent an unexpected response: {response:?}",
            self.addr
        ))
    }
}

/// A server's `DescribeTopic` config through the engine's key table: a
/// value of a known key that does not parse is refused (never replaced by
/// a default); a key this build does not know is skipped (a newer server
/// may add one). The durability comes resolved (the one in effect).
pub(super) fn config_from_entries(
    addr: SocketAddr,
    topic: &str,
    partitions: u32,
    entries: &[ConfigEntry],
) -> CliResult<(TopicConfig, Option<Durability>)> {
    let mut config = TopicConfig::with_partitions(partitions);
    for ConfigEntry { key, value } in entries {
        let Some(entry) = millrace::config::topic_config_key(key) else {
            continue;
        };
        entry.set(&mut config, value).map_err(|e| {
            CliError::new(format!(
                "server {addr} described topic {topic:?} with a bad config value: {e}"
            ))
            .with_hint("the server and this CLI disagree on the protocol; use a CLI of the server's version")
        })?;
    }
    let durability = config.durability;
    Ok((config, durability))
}
