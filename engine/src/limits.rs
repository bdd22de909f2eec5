//! Named limits and fixed sizes of the engine (unit and qualifier last, so related names sort
//! together). Tied together with compile-time asserts where they depend on each other.

use crate::io::IO_ALIGNMENT_BYTES;

/// Bits of a physical offset that address bytes inside one shard's CommitLog. The shard id is
/// stored above them (bits 48..=62); bit 63 stays clear so offsets are positive `i64`s, as
/// RocketMQ's Java clients expect.
pub const SHARD_OFFSET_BITS: u32 = 48;

/// Largest shard id that fits in bits 48..=62.
pub const SHARD_ID_MAX: u16 = (1 << (63 - SHARD_OFFSET_BITS)) - 1;

/// Default CommitLog segment size (`mappedFileSizeCommitLog`, 1 GiB).
pub const COMMIT_LOG_SEGMENT_SIZE_BYTES_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Smallest CommitLog segment we accept (tests use small segments; one aligned block minimum
/// would make every message a roll, so require room for real records).
pub const COMMIT_LOG_SEGMENT_SIZE_BYTES_MIN: u64 = 64 * 1024;

/// Bytes of one ConsumeQueue entry: physical offset (8), size (4), tags code (8).
pub const CQ_ENTRY_BYTES: usize = 20;

/// Default entries per ConsumeQueue file (`mappedFileSizeConsumeQueue` / 20).
pub const CQ_ENTRIES_PER_FILE_DEFAULT: u64 = 300_000;

/// Largest single DMA write the flusher issues; a flush round is split into writes of this
/// size, all in flight at once (the disk ceiling is reached at 1 MiB, performance.md).
pub const FLUSH_WRITE_BYTES_MAX: usize = 1024 * 1024;

/// Default of [`crate::StoreConfig::zero_fill_ahead_bytes`].
pub const ZERO_FILL_AHEAD_BYTES_DEFAULT: u64 = 4 * 1024 * 1024;

/// Synced CommitLog bytes (the newest) an ASYNC_FLUSH store with page-cache writes keeps in
/// the page cache ([`crate::StoreConfig::page_cache_keep_bytes`]): by default all of them (the
/// kernel decides, as for upstream's mapped files). A bounded window is opt-in: it costs
/// catch-up reads of older data a trip to the device (measured in the crate docs).
pub const PAGE_CACHE_KEEP_BYTES_DEFAULT: u64 = u64::MAX;

/// Largest accepted `zero_fill_ahead_bytes` (zeroing further ahead only costs bandwidth).
pub const ZERO_FILL_AHEAD_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Largest single zero-fill write (each is followed by its own `fdatasync`).
pub const ZERO_FILL_WRITE_BYTES_MAX: usize = 1024 * 1024;

/// Flush rounds in flight at once in ASYNC_FLUSH (rounds after the first take whole pages
/// only, so they never share a page; SYNC_FLUSH runs one round per `fdatasync`).
pub const FLUSH_ROUNDS_IN_FLIGHT_MAX: usize = 8;

/// Smallest round launched while other rounds are in flight (a round with nothing in flight
/// goes at once, whatever its size, so an idle log adds no latency).
pub const FLUSH_ROUND_PIPELINED_BYTES_MIN: u64 = 256 * 1024;

/// Largest ASYNC_FLUSH round: a longer backlog goes out as several rounds in flight together,
/// acknowledged one after the other (SYNC_FLUSH rounds are not capped: one sync covers all).
pub const FLUSH_ROUND_BYTES_MAX: u64 = 1024 * 1024;

/// How often a short write is retried before it is treated as a failed write.
pub const SHORT_WRITE_RETRIES_MAX: usize = 3;

/// Size of the checkpoint file (one page, as upstream).
pub const CHECKPOINT_FILE_BYTES: usize = 4096;

/// Largest message body the engine stores by default (`maxMessageSize`).
pub const MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX: usize = 4 * 1024 * 1024;

/// Largest byte range one `get_messages` call reads (upstream caps a pull at 128 MiB).
pub const PULL_SIZE_BYTES_MAX: usize = 128 * 1024 * 1024;

/// Largest number of records one `get_messages` call returns.
pub const PULL_MESSAGES_COUNT_MAX: usize = 100_000;

/// Default hash slots per IndexFile (`maxHashSlotNum`).
pub const INDEX_HASH_SLOTS_DEFAULT: u32 = 5_000_000;

/// Default entries per IndexFile (`maxIndexNum`).
pub const INDEX_ENTRIES_DEFAULT: u32 = 20_000_000;

/// Largest number of records `query_by_key` returns (`maxNum` from the wire is capped here).
pub const QUERY_MESSAGES_COUNT_MAX: usize = 64 * 1024;

/// Bytes of an IndexFile header.
pub const INDEX_HEADER_BYTES: usize = 40;
/// Bytes of one IndexFile hash slot.
pub const INDEX_SLOT_BYTES: usize = 4;
/// Bytes of one IndexFile entry.
pub const INDEX_ENTRY_BYTES: usize = 20;

const _: () = assert!(COMMIT_LOG_SEGMENT_SIZE_BYTES_DEFAULT % IO_ALIGNMENT_BYTES as u64 == 0);
const _: () = assert!(COMMIT_LOG_SEGMENT_SIZE_BYTES_MIN % IO_ALIGNMENT_BYTES as u64 == 0);
const _: () = assert!(FLUSH_WRITE_BYTES_MAX % IO_ALIGNMENT_BYTES == 0);
const _: () = assert!(ZERO_FILL_WRITE_BYTES_MAX % IO_ALIGNMENT_BYTES == 0);
const _: () = assert!(CHECKPOINT_FILE_BYTES == IO_ALIGNMENT_BYTES);
const _: () =
    assert!((MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX as u64) < COMMIT_LOG_SEGMENT_SIZE_BYTES_DEFAULT);

/// Size of one slab of the pending buffer (see `pending`): large enough that moves to the
/// next slab are rare and a few 4 MiB rounds fit, small enough that the memory tail's slabs
/// come back a few at a time.
pub const PENDING_SLAB_BYTES: usize = 16 * 1024 * 1024;

/// Spare pending-buffer slabs kept beyond those the memory tail can span (rounds in flight
/// and pulls still sending hold a few more).
pub const PENDING_SPARE_SLABS_MIN: usize = 4;
