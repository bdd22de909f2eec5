//! The codec's error type: one variant for each way input can be wrong.
//!
//! Intentionally decoupled from RocketMQ response codes: the server maps a `CodecError` to the
//! code the Java broker would send, at one boundary (`server/`), because the same defect can mean
//! "close the connection" (broken framing) or "reply SYSTEM_ERROR" (a bad custom header).

use thiserror::Error;

/// Everything that can be wrong with bytes handed to the codec.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecError {
    /// The length field is below the 4 bytes that the header-length word needs (or negative).
    #[error("frame length {length} is below the minimum of 4")]
    FrameTooShort { length: i64 },
    /// The length field exceeds the frame limit.
    #[error("frame length {length} exceeds the limit of {max}")]
    FrameTooLarge { length: usize, max: usize },
    /// The serialize-type byte is neither 0 (JSON) nor 1 (ROCKETMQ).
    #[error("unknown serialize type {0}")]
    UnknownSerializeType(u8),
    /// The header length does not fit in the frame.
    #[error("header length {header_len} exceeds the frame's {available} bytes")]
    HeaderLengthExceedsFrame { header_len: usize, available: usize },
    /// The header is larger than the header limit.
    #[error("header length {header_len} exceeds the limit of {max}")]
    HeaderTooLarge { header_len: usize, max: usize },
    /// A buffer passed as a whole frame is not exactly one frame.
    #[error("buffer of {actual} bytes is not the {expected}-byte frame its prefix announces")]
    FrameLengthMismatch { expected: usize, actual: usize },
    /// The JSON header is not valid JSON or has a field of an impossible type.
    #[error("invalid JSON header: {0}")]
    InvalidJsonHeader(String),
    /// The binary header is cut short or a length inside it is impossible.
    #[error("invalid ROCKETMQ header: {0}")]
    InvalidBinaryHeader(&'static str),
    /// A string in a binary header is not UTF-8.
    #[error("invalid UTF-8 in {0}")]
    InvalidUtf8(&'static str),
    /// More extFields entries than allowed.
    #[error("too many extFields entries (limit {max})")]
    TooManyExtFields { max: usize },
    /// A body (batch, stored record, JSON body) is malformed.
    #[error("invalid {what}: {reason}")]
    InvalidBody { what: &'static str, reason: String },
}

/// Short alias used across the crate.
pub type CodecResult<T> = Result<T, CodecError>;
