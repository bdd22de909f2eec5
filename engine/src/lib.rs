//! `rmq-engine`: the storage engine of one shard — CommitLog, ConsumeQueue, IndexFile,
//! checkpoint, recovery, flush, retention — run on one glommio executor.
//!
//! # Layout
//! - [`store`]: [`ShardStore`], the API the broker calls, and the CommitLog appender/flusher
//!   (durability positions and group commit are documented there).
//! - [`consume_queue`]: per-(topic, queue) 20-byte entries, written as part of the append.
//! - [`index`]: IndexFile (keys -> physical offsets) for QUERY_MESSAGE.
//! - [`recovery`]: the recovery decision table; [`checkpoint`]: the checkpoint page.
//! - [`retention`]: which segments to delete and when.
//! - [`io`]: the file trait, glommio DMA implementation, fault-injecting test implementation.
//! - [`offsets`], [`paths`], [`limits`], [`config`], [`error`], [`sync`].
//!
//! # Physical offsets
//! `shard_id << 48 | local offset` (see [`offsets`]): unique across shards.
//!
//! # Durability (what an ack means)
//! - ASYNC_FLUSH: the record's O_DIRECT write completed (survives `kill -9`); `fdatasync`
//!   every `flush_interval` (500 ms).
//! - SYNC_FLUSH: an `fdatasync` covering the record completed (survives a machine crash);
//!   group commit. A failed write or sync fails every waiter and fences the store.
//!
//! # Why O_DIRECT (measured)
//! See the figures recorded at the end of this doc; `cargo run --release -p rmq-bench --bin
//! rmq-engine-bench` reproduces them.
//!
//! # Known limits
//! - ConsumeQueue files are held in memory while the queue exists (20 bytes per message).
pub mod checkpoint;
pub mod config;
pub mod consume_queue;
pub mod error;
pub mod index;
pub mod io;
pub mod limits;
pub mod offsets;
pub mod paths;
pub mod recovery;
pub mod retention;
pub mod store;
pub mod sync;

pub use config::{FlushMode, RetentionConfig, StoreConfig};
pub use error::{AppendError, EngineError};
pub use io::LogBytes;
pub use store::{
    AppendOutcome, ArrivalListener, GetResult, GetStatus, MessageInput, Placement, PutStatus,
    QueryResult, ShardStore, StoreStats, TimeBoundary,
};
