//! Schema-id translation (`--registry-to URL`, design/mirror.md "Schema
//! ids"): a key or value in Confluent wire format (magic byte 0, then the
//! schema id as 4 bytes big-endian, then the payload) names a schema of
//! the **edge's** registry (`Store::schemas`, kept in `__schemas`). The
//! mirror looks that schema up on the edge, registers it on the central
//! registry under the target subject (`<target topic>-value` or `-key`,
//! Confluent's topic-name strategy; registering a schema the subject
//! already has answers its id and changes nothing), and sends the record
//! with the central id. The mapping is cached in memory per (edge id,
//! subject) and rebuilt after a restart by the same idempotent requests.
//!
//! A record whose id the edge registry does not know is an error: the
//! session ends (its transaction aborted), the shard backs off and tries
//! again, and the partition waits there (`errors_total{code="schema"}`,
//! lag grows) until the operator registers the schema on the edge or
//! drops past the record (`mirror drop-unmirrored`). Bytes not in wire
//! format (a first byte other than 0, or fewer than 5 bytes) are copied
//! unchanged. Plain HTTP only; credentials as `http://user:password@host`
//! (HTTP basic auth).

use crate::error::{MirrorError, Result};
use millrace::schema::SchemaType;
use millrace::Store;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Longest answer read from the central registry.
const ANSWER_BYTES_MAX: u64 = 1024 * 1024;

/// Where the central registry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RegistryUrl {
    /// `host:port`.
    authority: String,
    /// The `Host` header.
    host: String,
    /// Path prefix without the trailing `/` (often empty).
    base: String,
    /// `Authorization: Basic ...` value, from the URL's user information.
    basic: Option<String>,
}

impl RegistryUrl {
    /// Parse `http://[user:password@]host[:port][/base]`.
    pub(crate) fn parse(url: &str) -> Result<RegistryUrl> {
        let bad = |why: &str| MirrorError::Config(format!("--registry-to {url:?}: {why}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("use http://host:port (https is not supported)"))?;
        let (authority, base) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((user, host)) => (Some(user), host),
            None => (None, authority),
        };
        if hostport.is_empty() {
            return Err(bad("no host"));
        }
        let with_port = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        Ok(RegistryUrl {
            authority: with_port,
            host: hostport.to_string(),
            base: base.trim_end_matches('/').to_string(),
            basic: userinfo.map(|u| base64(u.as_bytes())),
        })
    }
}

/// One shard's translator: the central registry and the ids it gave.
pub(crate) struct Translator {
    url: RegistryUrl,
    timeout: Duration,
    /// (edge id, target subject) → central id.
    ids: HashMap<(u32, String), u32>,
}

impl Translator {
    pub(crate) fn new(url: RegistryUrl, timeout: Duration) -> Translator {
        Translator {
            url,
            timeout,
            ids: HashMap::new(),
        }
    }

    /// `bytes` with its schema id replaced by the central one, or `None`
    /// when `bytes` is not in wire format (sent unchanged).
    pub(crate) fn translate(
        &mut self,
        store: &Store,
        subject: &str,
        bytes: &[u8],
        at: &str,
    ) -> Result<Option<Vec<u8>>> {
        let Some((&0, rest)) = bytes.split_first() else {
            return Ok(None);
        };
        let id = rest.get(..4).and_then(|id| <[u8; 4]>::try_from(id).ok());
        let (Some(id), Some(payload)) = (id, rest.get(4..)) else {
            return Ok(None);
        };
        let edge_id = u32::from_be_bytes(id);
        let central = self.central_id(store, edge_id, subject, at)?;
        let mut out = Vec::with_capacity(bytes.len());
        out.push(0);
        out.extend_from_slice(&central.to_be_bytes());
        out.extend_from_slice(payload);
        Ok(Some(out))
    }

    fn central_id(&mut self, store: &Store, edge_id: u32, subject: &str, at: &str) -> Result<u32> {
        if let Some(id) = self.ids.get(&(edge_id, subject.to_string())) {
            return Ok(*id);
        }
        let schema = store.schemas().by_id(edge_id)?.ok_or_else(|| {
            MirrorError::Schema(format!(
                "{at} carries schema id {edge_id}, which the edge's registry does not know: register it on the edge, or drop past the record (mirror drop-unmirrored)"
            ))
        })?;
        let body = if schema.schema_type == SchemaType::Avro {
            serde_json::json!({ "schema": schema.schema })
        } else {
            serde_json::json!({ "schema": schema.schema, "schemaType": schema.schema_type.name() })
        };
        let path = format!("{}/subjects/{}/versions", self.url.base, subject);
        let answer = self.post(&path, &body.to_string())?;
        let id = answer
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| MirrorError::Schema(format!("central registry: no id in its answer to {path}: {answer}")))?;
        tracing::info!(
            subject,
            edge_id,
            central_id = id,
            "schema id mapped to the central registry"
        );
        self.ids.insert((edge_id, subject.to_string()), id);
        Ok(id)
    }

    /// POST `body` (JSON) to `path`; the answer's JSON if 200.
    fn post(&self, path: &str, body: &str) -> Result<serde_json::Value> {
        let fail = |why: String| MirrorError::Schema(format!("central registry {}: {why}", self.url.authority));
        let addr = self
            .url
            .authority
            .to_socket_addrs()
            .map_err(|e| fail(e.to_string()))?
            .next()
            .ok_or_else(|| fail("no address".into()))?;
        let mut stream = TcpStream::connect_timeout(&addr, self.timeout).map_err(|e| fail(e.to_string()))?;
        stream
            .set_read_timeout(Some(self.timeout))
            .and_then(|()| stream.set_write_timeout(Some(self.timeout)))
            .map_err(|e| fail(e.to_string()))?;
        let auth = self
            .url
            .basic
            .as_ref()
            .map(|b| format!("Authorization: Basic {b}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{auth}Content-Type: application/vnd.schemaregistry.v1+json\r\nAccept: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.url.host,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(|e| fail(e.to_string()))?;
        let mut answer = Vec::new();
        stream
            .take(ANSWER_BYTES_MAX)
            .read_to_end(&mut answer)
            .map_err(|e| fail(e.to_string()))?;
        let text = String::from_utf8_lossy(&answer);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| fail("an answer without headers".into()))?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| fail(format!("no HTTP status in {head:?}")))?;
        if status != 200 {
            return Err(fail(format!("POST {path}: HTTP {status}: {}", body.trim())));
        }
        serde_json::from_str(body).map_err(|e| fail(format!("POST {path}: {e}")))
    }
}

/// Standard base64 with padding (RFC 4648), for the basic auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let index = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_with_and_without_port_base_and_credentials() {
        let u = RegistryUrl::parse("http://central:8081").expect("parses");
        assert_eq!(
            (u.authority.as_str(), u.base.as_str(), u.basic.clone()),
            ("central:8081", "", None)
        );
        let u = RegistryUrl::parse("http://ops:secret@central/registry/").expect("parses");
        assert_eq!(u.authority, "central:80");
        assert_eq!(u.base, "/registry");
        assert_eq!(u.basic.as_deref(), Some("b3BzOnNlY3JldA=="));
        assert!(RegistryUrl::parse("https://central:8081").is_err());
        assert!(RegistryUrl::parse("http:///x").is_err());
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
