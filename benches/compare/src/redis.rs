//! A minimal blocking Redis client (RESP2 over TCP): enough for XADD and XRANGE.

use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;

#[derive(Debug)]
#[allow(dead_code, reason = "fields are read only through Debug, in error messages")]
pub enum Reply {
    Simple(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

pub struct Redis {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

/// Bound on one reply line and on nesting, so a confused stream cannot run away.
const LINE_BYTES_MAX: usize = 1024;
const DEPTH_MAX: usize = 8;

impl Redis {
    pub fn connect(port: u16) -> io::Result<Redis> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        Ok(Redis {
            reader: BufReader::with_capacity(1 << 20, stream.try_clone()?),
            writer: BufWriter::with_capacity(1 << 20, stream),
        })
    }

    /// Queue a command without waiting for its reply (pipelining).
    pub fn send(&mut self, args: &[&[u8]]) -> io::Result<()> {
        write!(self.writer, "*{}\r\n", args.len())?;
        for arg in args {
            write!(self.writer, "${}\r\n", arg.len())?;
            self.writer.write_all(arg)?;
            self.writer.write_all(b"\r\n")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }

    pub fn command(&mut self, args: &[&[u8]]) -> io::Result<Reply> {
        self.send(args)?;
        self.flush()?;
        self.read_reply()
    }

    pub fn read_reply(&mut self) -> io::Result<Reply> {
        self.read_reply_at(0)
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        let n = self.reader.by_ref().take(LINE_BYTES_MAX as u64).read_line(&mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "redis closed the connection",
            ));
        }
        Ok(line.trim_end_matches("\r\n").to_string())
    }

    fn read_reply_at(&mut self, depth: usize) -> io::Result<Reply> {
        if depth > DEPTH_MAX {
            return Err(io::Error::other("redis reply nested too deeply"));
        }
        let line = self.read_line()?;
        let (kind, rest) = line.split_at_checked(1).unwrap_or(("", ""));
        let number = || {
            rest.parse::<i64>()
                .map_err(|_| io::Error::other(format!("bad redis reply line {line:?}")))
        };
        match kind {
            "+" => Ok(Reply::Simple(rest.to_string())),
            "-" => Err(io::Error::other(format!("redis error: {rest}"))),
            ":" => Ok(Reply::Integer(number()?)),
            "$" => {
                let len = number()?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut buf = vec![0u8; len as usize + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Ok(Reply::Bulk(Some(buf)))
            }
            "*" => {
                let len = number()?;
                if len < 0 {
                    return Ok(Reply::Array(None));
                }
                let mut items = Vec::with_capacity((len as usize).min(1 << 16));
                for _ in 0..len {
                    items.push(self.read_reply_at(depth + 1)?);
                }
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(io::Error::other(format!("bad redis reply line {line:?}"))),
        }
    }
}

/// `XADD key * v <payload>` expects a bulk reply (the new entry id).
pub fn expect_bulk(reply: Reply) -> io::Result<Vec<u8>> {
    match reply {
        Reply::Bulk(Some(id)) => Ok(id),
        other => Err(io::Error::other(format!("expected a bulk reply, got {other:?}"))),
    }
}
