//! The native protocol: wire types only (`design/protocol.md`). Nothing here
//! calls the engine; the server maps engine types to these in
//! `server::convert`, the client decodes them.
//!
//! - [`frame`]: the length-prefixed envelope and an incremental stream decoder;
//! - [`wire`]: primitive encodings (integers, bytes, strings, options, lists);
//! - [`messages`]: opcodes, requests, responses;
//! - [`error_code`]: error codes on the wire;
//! - [`text`]: client-chosen names made safe to print.

pub mod error_code;
pub mod frame;
pub mod messages;
pub mod text;
pub mod wire;
