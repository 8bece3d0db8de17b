//! The schema registry's REST front (`--registry-listen`) seen from a test:
//! a free address, waiting for the listener, one HTTP/1.1 request.

use std::io::{Read, Write};

pub fn free_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

pub fn wait_for(addr: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(std::time::Instant::now() < deadline, "registry did not start on {addr}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
pub fn http(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, String) {
    try_http(addr, method, path, auth, body).unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// [`http`], with a failed connection or a response cut short (a server
/// killed under it) as an error instead of a panic.
pub fn try_http(addr: &str, method: &str, path: &str, auth: Option<&str>, body: &str) -> Result<(u16, String), String> {
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let auth = auth.map_or(String::new(), |basic| format!("Authorization: Basic {basic}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}Content-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| format!("read: {e}"))?;
    let response = String::from_utf8(response).map_err(|e| format!("response: {e}"))?;
    let status = response
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {response:?}"))?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header end in {response:?}"))?;
    // A body cut short by a kill is not an answer.
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok());
    if length.is_some_and(|n| n != body.len()) {
        return Err(format!("body cut short: {response:?}"));
    }
    Ok((status, body.to_string()))
}
