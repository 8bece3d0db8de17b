//! Millrace TCP protocol server and Rust client. The protocol is specified in
//! `design/protocol.md`; modules follow its sections:
//!
//! - [`frame`]: the length-prefixed envelope and an incremental stream decoder;
//! - [`wire`]: primitive encodings (integers, bytes, strings, options, lists);
//! - [`messages`]: opcodes, requests, responses;
//! - [`error_code`]: error codes on the wire and their mapping from engine errors.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::indexing_slicing))]

pub mod error_code;
pub mod frame;
pub mod messages;
pub mod wire;
