//! `rmq-protocol`: the RocketMQ remoting protocol as a pure codec — no I/O, no async, no
//! runtime. Everything here takes bytes and returns values (or the reverse), checks every
//! length against a named limit in [`limits`] before allocating, and reports bad input as a
//! typed [`CodecError`]; nothing here panics on input.
//!
//! # Layout
//! - [`frame`]: is a whole frame here and within limits? (cheap, allocation-free)
//! - [`command`]: `RemotingCommand` — JSON (lenient, fastjson-compatible) and binary headers.
//! - [`codes`]: request and response codes.
//! - [`header`]: typed custom headers decoded from / encoded to `extFields`.
//! - [`body`]: JSON bodies (heartbeat, route, cluster info, ...) with fastjson's quirks.
//! - [`message`]: message codecs — properties, sysFlag, batch body, stored record, message ids,
//!   tag hash.
//! - [`fuzzing`]: the entry points the fuzz targets and the corpus replay test share.
//!
//! Facts come from `../shared/docs/protocol.md` (checked against the Java source) and the client
//! quirks from `../shared/docs/real-clients.md`.

pub mod body;
pub mod codes;
pub mod command;
pub mod error;
pub mod frame;
pub mod fuzzing;
pub mod header;
pub mod json_text;
pub mod limits;
pub mod message;

pub use command::{ExtFields, LanguageCode, RemotingCommand};
pub use error::{CodecError, CodecResult};
pub use frame::{FrameHeader, FrameStatus, SerializeType};
