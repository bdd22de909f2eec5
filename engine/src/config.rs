//! Configuration of one shard's store, with upstream's `broker.conf` names and defaults in the
//! field docs. The server builds one per shard (its own `root_dir`, its own `shard_id`).

use crate::error::EngineError;
use crate::io::IO_ALIGNMENT_BYTES;
use crate::limits::{
    COMMIT_LOG_SEGMENT_SIZE_BYTES_DEFAULT, COMMIT_LOG_SEGMENT_SIZE_BYTES_MIN,
    CQ_ENTRIES_PER_FILE_DEFAULT, INDEX_ENTRIES_DEFAULT, INDEX_HASH_SLOTS_DEFAULT,
    MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX, PAGE_CACHE_KEEP_BYTES_DEFAULT, SHARD_ID_MAX,
    ZERO_FILL_AHEAD_BYTES_DEFAULT, ZERO_FILL_AHEAD_BYTES_MAX,
};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

/// What an acknowledged append promises (`flushDiskType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// `ASYNC_FLUSH`: the ack waits until the record's write completed — into the page cache
    /// by default, with O_DIRECT if [`StoreConfig::async_flush_page_cache_writes`] is off —
    /// so it survives `kill -9`; `fdatasync` runs every `flush_interval` beside the writes,
    /// so a machine crash may lose up to that interval (plus the sync's own duration).
    Async,
    /// `SYNC_FLUSH`: the ack waits for an `fdatasync` covering the record (it survives a
    /// machine crash). Appends arriving while a sync runs share the next one (group commit).
    Sync,
}

/// Retention (`fileReservedTime`, `deleteWhen`, disk ratios).
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionConfig {
    /// `fileReservedTime`: hours a CommitLog segment is kept after its last write (72).
    pub file_reserved_hours: u32,
    /// `deleteWhen`: hours of the day (local time) when expired segments are deleted ("04").
    pub delete_when_hours: Vec<u8>,
    /// `diskMaxUsedSpaceRatio` (%): above it, expired segments are deleted at any hour (75).
    pub disk_max_used_ratio_percent: u8,
    /// `diskSpaceCleanForciblyRatio` (%): above it, the oldest segments are deleted even if
    /// not expired (85).
    pub disk_clean_forcibly_ratio_percent: u8,
    /// `cleanResourceInterval`: how often the retention check runs (10 s).
    pub clean_interval: Duration,
    /// Most segments deleted in one retention pass, so a pass stays short (upstream: 10).
    pub segments_deleted_per_pass_max: usize,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            file_reserved_hours: 72,
            delete_when_hours: vec![4],
            disk_max_used_ratio_percent: 75,
            disk_clean_forcibly_ratio_percent: 85,
            clean_interval: Duration::from_secs(10),
            segments_deleted_per_pass_max: 10,
        }
    }
}

/// Parse `deleteWhen`: hours separated by `;`, e.g. `"04"` or `"04;16"`.
pub fn parse_delete_when(text: &str) -> Result<Vec<u8>, EngineError> {
    text.split(';')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.trim().parse::<u8>() {
            Ok(h) if h < 24 => Ok(h),
            _ => Err(EngineError::Config(format!(
                "deleteWhen hour {s:?} is not 0..=23"
            ))),
        })
        .collect()
}

/// Everything one shard's store needs.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// This shard's store directory (`storePathRootDir`, plus a per-shard suffix chosen by the
    /// server). Holds `commitlog/`, `consumequeue/`, `index/`, `checkpoint`, `abort`.
    pub root_dir: PathBuf,
    /// Shard id, encoded in bits 48..=62 of every physical offset (see [`crate::offsets`]).
    pub shard_id: u16,
    /// `mappedFileSizeCommitLog` (1 GiB); a multiple of 4 KiB.
    pub commit_log_segment_bytes: u64,
    /// Entries per ConsumeQueue file (`mappedFileSizeConsumeQueue` / 20 = 300,000).
    pub cq_entries_per_file: u64,
    /// `flushDiskType`.
    pub flush_mode: FlushMode,
    /// `flushIntervalCommitLog` (500 ms): the background `fdatasync` period in async mode.
    pub flush_interval: Duration,
    /// `syncFlushTimeout` (5 s): after it, a sync-mode append answers FLUSH_DISK_TIMEOUT.
    pub sync_flush_timeout: Duration,
    /// `flushIntervalConsumeQueue` (1 s): how often ConsumeQueue and index pages and the
    /// checkpoint are written.
    pub cq_flush_interval: Duration,
    /// `maxMessageSize` (4 MiB).
    pub max_message_body_bytes: usize,
    /// Bytes of recently written log kept in memory to serve fresh pulls without disk reads.
    pub tail_cache_bytes: usize,
    /// `messageIndexEnable` (true).
    pub index_enabled: bool,
    /// `maxHashSlotNum` (5,000,000).
    pub index_hash_slots: u32,
    /// `maxIndexNum` (20,000,000).
    pub index_entries: u32,
    /// The broker address written as STOREHOSTADDRESS into every record.
    pub store_host: SocketAddr,
    /// Retention settings.
    pub retention: RetentionConfig,
    /// Bytes of the CommitLog kept zero-filled ahead of the write position by a background
    /// task (4 MiB; 0 disables). Segments are preallocated with `fallocate`, which leaves
    /// *unwritten* extents: the first write into one converts the extent, a metadata change
    /// that makes the next `fdatasync` commit the file system journal. Writing zeros ahead
    /// (and syncing them) in a low-priority task takes that cost off the group-commit path
    /// (upstream warms its mapped files for the same reason). Used in SYNC_FLUSH only: in
    /// ASYNC_FLUSH (one sync per 500 ms) doubling the device writes costs more than it saves.
    /// See the crate docs for the measurements.
    pub zero_fill_ahead_bytes: u64,
    /// In ASYNC_FLUSH, write the CommitLog through the page cache (true, the default: a
    /// `pwrite` of each flush round's bytes, acked when it returns, as upstream's mmap'd
    /// CommitLog acks after its copy) instead of with O_DIRECT (false: acked when the device
    /// has the bytes). Both survive `kill -9`; neither survives power loss before the periodic
    /// sync. Page-cache writes measured faster on this machine kind (crate docs); set false to
    /// keep dirty page-cache memory out of the picture (for example when the disk is slower
    /// than the producers for long stretches, where `pwrite` would block in writeback
    /// throttling). SYNC_FLUSH always writes with O_DIRECT.
    pub async_flush_page_cache_writes: bool,
    /// With page-cache writes: how many of the newest synced CommitLog bytes stay in the page
    /// cache. `u64::MAX` (the default) keeps everything and lets the kernel decide. A bounded
    /// window drops the synced pages older than that after each periodic sync
    /// (`POSIX_FADV_DONTNEED`), so the log's page-cache footprint stays about the window plus
    /// one sync interval of writes, and new writes reuse the pages just freed instead of
    /// taking fresh ones. For hosts where fresh pages are expensive: on a VM whose free memory
    /// is handed back to the hypervisor (this machine), page-cache growth made each `pwrite`
    /// ~6x slower, and a 256 MiB window tripled sustained ASYNC_FLUSH throughput. The cost:
    /// reads of data older than the window come from the device (a 1M-message backlog consumed
    /// 17% slower). Pulls of fresh data are served by the tail cache either way. Crate docs,
    /// "The page-cache window".
    pub page_cache_keep_bytes: u64,
}

impl StoreConfig {
    /// Upstream defaults for a store under `root_dir`, shard `shard_id`.
    pub fn new(root_dir: impl Into<PathBuf>, shard_id: u16) -> Self {
        StoreConfig {
            root_dir: root_dir.into(),
            shard_id,
            commit_log_segment_bytes: COMMIT_LOG_SEGMENT_SIZE_BYTES_DEFAULT,
            cq_entries_per_file: CQ_ENTRIES_PER_FILE_DEFAULT,
            flush_mode: FlushMode::Async,
            flush_interval: Duration::from_millis(500),
            sync_flush_timeout: Duration::from_secs(5),
            cq_flush_interval: Duration::from_secs(1),
            max_message_body_bytes: MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX,
            tail_cache_bytes: 64 * 1024 * 1024,
            index_enabled: true,
            index_hash_slots: INDEX_HASH_SLOTS_DEFAULT,
            index_entries: INDEX_ENTRIES_DEFAULT,
            store_host: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 10911)),
            retention: RetentionConfig::default(),
            zero_fill_ahead_bytes: ZERO_FILL_AHEAD_BYTES_DEFAULT,
            async_flush_page_cache_writes: true,
            page_cache_keep_bytes: PAGE_CACHE_KEEP_BYTES_DEFAULT,
        }
    }

    /// Check the values that would break invariants.
    pub fn validate(&self) -> Result<(), EngineError> {
        let seg = self.commit_log_segment_bytes;
        if seg < COMMIT_LOG_SEGMENT_SIZE_BYTES_MIN || seg % IO_ALIGNMENT_BYTES as u64 != 0 {
            return Err(EngineError::Config(format!(
                "commit log segment size {seg} must be a multiple of {IO_ALIGNMENT_BYTES} and \
                 at least {COMMIT_LOG_SEGMENT_SIZE_BYTES_MIN}"
            )));
        }
        if seg >= 1 << crate::limits::SHARD_OFFSET_BITS {
            return Err(EngineError::Config(format!(
                "segment size {seg} is too large"
            )));
        }
        if self.shard_id > SHARD_ID_MAX {
            return Err(EngineError::Config(format!(
                "shard id {} exceeds {SHARD_ID_MAX}",
                self.shard_id
            )));
        }
        if self.cq_entries_per_file == 0 || self.cq_entries_per_file > 1 << 40 {
            return Err(EngineError::Config(
                "cq_entries_per_file out of range".into(),
            ));
        }
        if self.zero_fill_ahead_bytes > ZERO_FILL_AHEAD_BYTES_MAX {
            return Err(EngineError::Config(format!(
                "zero_fill_ahead_bytes {} exceeds {ZERO_FILL_AHEAD_BYTES_MAX}",
                self.zero_fill_ahead_bytes
            )));
        }
        if self.index_hash_slots == 0 || self.index_entries < 2 {
            return Err(EngineError::Config("index sizes out of range".into()));
        }
        // A maximal body with typical headers must fit a segment with room for the blank
        // filler; records that still do not fit (huge topic + properties) are refused per
        // append as MESSAGE_ILLEGAL.
        if (self.max_message_body_bytes as u64).saturating_add(8 * 1024) >= seg {
            return Err(EngineError::Config(format!(
                "max message body {} does not fit in a {seg}-byte segment",
                self.max_message_body_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_when_parses_upstream_forms() {
        assert_eq!(parse_delete_when("04").unwrap(), vec![4]);
        assert_eq!(parse_delete_when("04;16").unwrap(), vec![4, 16]);
        assert!(parse_delete_when("25").is_err());
        assert!(parse_delete_when("x").is_err());
    }

    #[test]
    fn defaults_validate_and_bad_sizes_do_not() {
        let mut c = StoreConfig::new("/tmp/x", 0);
        c.validate().unwrap();
        c.commit_log_segment_bytes = 100_000;
        assert!(c.validate().is_err());
        c.commit_log_segment_bytes = 1 << 20;
        c.max_message_body_bytes = 1 << 20;
        assert!(c.validate().is_err());
        c.max_message_body_bytes = 1024;
        c.shard_id = SHARD_ID_MAX + 1;
        assert!(c.validate().is_err());
    }
}
