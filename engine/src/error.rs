//! Errors of the engine, split by who sees them: [`AppendError`] for producers (each variant
//! maps to a RocketMQ put status), [`EngineError`] for open/recovery/admin operations.

use std::io;
use std::path::PathBuf;
use thiserror::Error;

/// Why an append was refused or not confirmed. The server maps these to response codes:
/// `MessageIllegal` -> MESSAGE_ILLEGAL (13); `Fenced`, `DiskFull` and `ShuttingDown` ->
/// SERVICE_NOT_AVAILABLE (14); `WriteFailed` -> SYSTEM_ERROR (1) (the message may or may not
/// be on disk: the shard is fenced and recovery decides).
/// A flush that takes longer than `syncFlushTimeout` is *not* an error: the message is stored,
/// and [`crate::PutStatus::FlushDiskTimeout`] says so.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AppendError {
    /// The message cannot be stored as given (too large, bad topic, empty batch, ...).
    #[error("message illegal: {0}")]
    MessageIllegal(String),
    /// A write or fsync failed earlier; this shard accepts no more writes until restarted.
    #[error("store fenced after an I/O failure: {0}")]
    Fenced(String),
    /// The write or fsync covering this append failed; the shard is now fenced.
    #[error("write of the message failed: {0}")]
    WriteFailed(String),
    /// The disk is full (`ENOSPC`/`EDQUOT` writing the log or creating a segment). The message
    /// is not stored: the store rolled back every unacknowledged record and refuses appends
    /// until a retry finds space again (no restart needed).
    #[error("the store's disk is full: {0}")]
    DiskFull(String),
    /// The store is shutting down.
    #[error("store is shutting down")]
    ShuttingDown,
}

/// Failures of opening, recovering and administering a store.
#[derive(Debug, Error)]
pub enum EngineError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// On which file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid config: {0}")]
    Config(String),
    /// The files on disk contradict each other in a way recovery must not guess about.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// The store is fenced or shut down.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl EngineError {
    /// Attach context to an I/O error.
    pub fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> EngineError {
        let path = path.into();
        move |source| EngineError::Io { op, path, source }
    }
}
