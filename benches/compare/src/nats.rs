//! A minimal blocking NATS client: the text protocol plus the JetStream API
//! requests this benchmark needs (stream create, publish with ack, pull fetch).

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;

pub struct Nats {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    inbox: String,
    next_reply: u64,
}

#[derive(Debug)]
pub struct Message {
    pub subject: String,
    /// The message's reply subject (`$JS.ACK.…` for a JetStream delivery).
    pub reply: Option<String>,
    /// `NATS/1.0 <status>` headers block, for HMSG.
    pub headers: Option<String>,
    pub payload: Vec<u8>,
}

const LINE_BYTES_MAX: u64 = 64 * 1024;
/// Payloads larger than this are a protocol error here (1 KiB records).
const PAYLOAD_BYTES_MAX: usize = 8 * 1024 * 1024;

impl Nats {
    pub fn connect(port: u16, name: &str) -> io::Result<Nats> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        let mut nats = Nats {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone()?),
            writer: BufWriter::with_capacity(1 << 20, stream),
            inbox: format!("_INBOX.{name}.{}", std::process::id()),
            next_reply: 0,
        };
        let info = nats.read_line()?;
        if !info.starts_with("INFO") {
            return Err(io::Error::other(format!("expected INFO, got {info:?}")));
        }
        write!(
            nats.writer,
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true,\"name\":\"{name}\"}}\r\nPING\r\n"
        )?;
        write!(nats.writer, "SUB {}.* 1\r\n", nats.inbox)?;
        nats.writer.flush()?;
        loop {
            let line = nats.read_line()?;
            if line == "PONG" {
                break;
            }
            if line.starts_with("-ERR") {
                return Err(io::Error::other(line));
            }
        }
        Ok(nats)
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        let n = self.reader.by_ref().take(LINE_BYTES_MAX).read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "nats closed the connection",
            ));
        }
        Ok(line.trim_end_matches("\r\n").to_string())
    }

    /// Queue a publish with a fresh reply subject; returns that subject.
    pub fn publish_request(&mut self, subject: &str, payload: &[u8]) -> io::Result<String> {
        self.next_reply += 1;
        let reply = format!("{}.{}", self.inbox, self.next_reply);
        write!(self.writer, "PUB {subject} {reply} {}\r\n", payload.len())?;
        self.writer.write_all(payload)?;
        self.writer.write_all(b"\r\n")?;
        Ok(reply)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    /// Request/reply: publish and wait for the reply on our inbox.
    pub fn request(&mut self, subject: &str, payload: &[u8]) -> io::Result<Message> {
        let reply = self.publish_request(subject, payload)?;
        self.flush()?;
        loop {
            let message = self.next_message()?;
            if message.subject == reply {
                return Ok(message);
            }
        }
    }

    /// The next MSG/HMSG, answering server PINGs on the way.
    pub fn next_message(&mut self) -> io::Result<Message> {
        loop {
            let line = self.read_line()?;
            if std::env::var_os("MILLRACE_COMPARE_TRACE").is_some() {
                eprintln!("nats< {line}");
            }
            if line == "PING" {
                self.writer.write_all(b"PONG\r\n")?;
                self.writer.flush()?;
                continue;
            }
            if line == "PONG" || line == "+OK" || line.starts_with("INFO") {
                continue;
            }
            if line.starts_with("-ERR") {
                return Err(io::Error::other(line));
            }
            let parts: Vec<&str> = line.split(' ').collect();
            let bad = || io::Error::other(format!("bad nats line {line:?}"));
            let number = |s: Option<&&str>| s.and_then(|s| s.parse::<usize>().ok()).ok_or_else(bad);
            match parts.first().copied() {
                Some("MSG") => {
                    let total = number(parts.last())?;
                    let payload = self.read_payload(total)?;
                    return Ok(Message {
                        subject: parts.get(1).ok_or_else(bad)?.to_string(),
                        reply: (parts.len() == 5)
                            .then(|| parts.get(3).map(|s| s.to_string()))
                            .flatten(),
                        headers: None,
                        payload,
                    });
                }
                Some("HMSG") => {
                    let total = number(parts.last())?;
                    let header_len = number(parts.get(parts.len().saturating_sub(2)))?;
                    let mut bytes = self.read_payload(total)?;
                    let payload = bytes.split_off(header_len.min(bytes.len()));
                    return Ok(Message {
                        subject: parts.get(1).ok_or_else(bad)?.to_string(),
                        reply: (parts.len() == 6)
                            .then(|| parts.get(3).map(|s| s.to_string()))
                            .flatten(),
                        headers: Some(String::from_utf8_lossy(&bytes).into_owned()),
                        payload,
                    });
                }
                _ => return Err(bad()),
            }
        }
    }

    fn read_payload(&mut self, len: usize) -> io::Result<Vec<u8>> {
        if len > PAYLOAD_BYTES_MAX {
            return Err(io::Error::other(format!("nats payload of {len} bytes")));
        }
        let mut buf = vec![0u8; len + 2];
        self.reader.read_exact(&mut buf)?;
        buf.truncate(len);
        Ok(buf)
    }
}

/// A JetStream API reply or publish ack is an error if it carries `"error"`.
pub fn check_api_reply(message: &Message) -> io::Result<serde_json::Value> {
    if let Some(headers) = &message.headers {
        if headers.contains("503") {
            return Err(io::Error::other("no responders: is JetStream enabled?"));
        }
    }
    let value: serde_json::Value =
        serde_json::from_slice(&message.payload).map_err(|e| io::Error::other(format!("bad JSON reply: {e}")))?;
    if let Some(error) = value.get("error") {
        return Err(io::Error::other(format!("jetstream error: {error}")));
    }
    Ok(value)
}
