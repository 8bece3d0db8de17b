//! The native protocol: wire types only (`design/protocol.md`). Nothing here
//! calls the engine; the server maps engine types to these in
//! `server::convert`, the client decodes them.
//!
//! Names: a wire type may carry the name of the engine type it mirrors
//! (`Isolation`, `ProducerStamp`, `PartitionInfo`, `PartitionLag`,
//! `TopicDescription`, `CommittedOffset`, `CommittedPart`, `RedriveReport`,
//! `ResetPlan`, `ResetTarget`, `ResetWarning`): it is then always named
//! through `messages::` here and the engine's through `millrace::`, and
//! `server::convert` is the only module that holds both. The remote handles
//! `Producer`, `Consumer`, `ConsumerOptions` and `Transaction` live in
//! `client::`, the engine's in `millrace::`. Six engine types are still
//! encoded as they are (`Record`, `StoredRecord`, the record view of a
//! fetch, `ResetAuditEntry`, `DlqEntry`, `DeadLetter`): their encodings are
//! here, their definitions in the engine.
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
