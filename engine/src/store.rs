//! The shard store: the API the broker calls (append, reads, offsets, shutdown) and the
//! CommitLog appender with its flusher task.
//!
//! # Where it lives
//! One [`ShardStore`] per shard, created and used on that shard's glommio executor only. All
//! state is in one `RefCell`; no borrow is ever held across an `.await` (each method copies
//! what it needs out of a `{ }` block, then awaits I/O).
//!
//! # Durability positions (local offsets of this shard's log)
//! `visible <= synced|written <= write_pos`:
//! - `write_pos`: next byte to append; records below it are encoded in the in-memory buffer,
//!   have their queue offset and ConsumeQueue entry;
//! - `written`: every byte below it was written by a completed write — O_DIRECT, or into the
//!   page cache in ASYNC_FLUSH by default — so it survives `kill -9`;
//! - `synced`: every byte below it is covered by a completed `fdatasync` (survives a machine
//!   crash);
//! - `visible`: the ack level — `written` in ASYNC_FLUSH, `synced` in SYNC_FLUSH. Appends are
//!   acknowledged, and readers see records, only below it, so no reader ever sees a record that
//!   a crash the flush mode protects against could take back.
//!
//! # The flusher (one task per shard)
//! Works in *rounds*: a round takes bytes appended since the last one and writes them in
//! writes of up to 1 MiB, all in flight together: aligned DMA writes (the partial last page is
//! rewritten by the next round), or — ASYNC_FLUSH with
//! [`StoreConfig::async_flush_page_cache_writes`], the default — `pwrite`s of exactly the
//! round's bytes into the page cache ([`StorageFile::write_cached_at`]). In SYNC_FLUSH one
//! round runs at a time and is followed by `fdatasync` (group commit: everything appended
//! while a round runs shares the next round's sync). In ASYNC_FLUSH up to 8 rounds are in
//! flight; a round behind others takes whole pages only (and at least 256 KiB), and a round
//! ending mid-page goes out only when nothing else is in flight and holds back the next, so no
//! two in-flight writes ever touch the same page; with O_DIRECT a round takes at most
//! [`FLUSH_ROUND_BYTES_MAX`], so a deep backlog is acknowledged round by round while the rest
//! is still on its way to the device. ASYNC_FLUSH's `fdatasync` runs every `flush_interval` in
//! a task of its own beside the rounds: no ack waits for it (it covers what was written when it
//! started; a full-disk rollback waits for it before cutting positions back), and with a
//! bounded [`StoreConfig::page_cache_keep_bytes`] it then drops the page cache of synced bytes
//! older than that window. Rounds complete in log order: `written` advances, then (sync mode)
//! `synced`; the ack level rises (appenders wait on a [`PositionWatch`] for it to pass their
//! record's end — no channel or task per append), the round's ConsumeQueue entries become
//! visible and the arrival listener is called. A failed write or sync fails
//! every waiter and *fences* the store: no further appends are accepted; reads keep working on
//! what is visible. Data never lands in a page range a zero-fill write is in flight for
//! ([`crate::zero_fill`]).
//!
//! # A full disk
//! `ENOSPC`/`EDQUOT` from a log write or from creating/preallocating a segment is not a
//! failing device: the flusher waits for every write of the attempt, rolls the log back to
//! `written_record_end` (so `write_pos`, the pending bytes, ConsumeQueues and the memory tail
//! forget every record the device may not fully have — none of them was acknowledged), fails
//! their waiters with [`AppendError::DiskFull`] and refuses appends with it. Every second it
//! retries: zero what the attempt may have written past the rollback point (so recovery never
//! finds a dropped record after the log end), sync, re-create the segment that could not be
//! created; once that succeeds appends resume at the rollback point (queue offsets stay
//! dense). Any other error on the way fences. See `roll_back_after_no_space`.
//!
//! # Measured (this machine kind, see `rmq-engine-bench`)
//! See the crate docs for the figures behind the write paths and the round sizes.

use crate::config::{FlushMode, StoreConfig};
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::{AppendError, EngineError};
use crate::index::{ActivePages, IndexService};
use crate::io::{align_down, LogBytes, Storage, StorageFile, IO_ALIGNMENT_BYTES};
use crate::limits::{
    FLUSH_ROUNDS_IN_FLIGHT_MAX, FLUSH_ROUND_BYTES_MAX, FLUSH_ROUND_PIPELINED_BYTES_MIN,
    FLUSH_WRITE_BYTES_MAX, PULL_MESSAGES_COUNT_MAX, PULL_SIZE_BYTES_MAX, QUERY_MESSAGES_COUNT_MAX,
    SHORT_WRITE_RETRIES_MAX,
};
use crate::offsets::{split_global, to_global};
use crate::pending::PendingBuf;
use crate::sync::{Notify, PositionWatch};
use crate::{checkpoint, paths, recovery};
use bytes::Bytes;
use rmq_protocol::message::record::{RecordFields, RecordView, BLANK_MAGIC, BLANK_RECORD_BYTES};
use rmq_protocol::message::sysflag::message as sysflag;
use rmq_protocol::message::{keys, properties, tag};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One message to append: everything of the stored record except what the store assigns
/// (queue offset, physical offset, store timestamp, store host).
#[derive(Debug, Clone, Copy)]
pub struct MessageInput<'a> {
    /// Topic (UTF-8, at most 32767 bytes; v2 records are used above 127).
    pub topic: &'a str,
    /// Queue id within the topic (>= 0).
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Message sysFlag (transaction type, compression, ...).
    pub sys_flag: i32,
    /// Producer timestamp (ms).
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Redelivery count.
    pub reconsume_times: i32,
    /// For transaction commit records, the half message's physical offset.
    pub prepared_transaction_offset: i64,
    /// Body bytes.
    pub body: &'a [u8],
    /// Properties string (`name\u{1}value\u{2}`...): TAGS, KEYS and UNIQ_KEY are indexed.
    pub properties: &'a str,
}

/// Where an appended message was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Global physical offset (shard in bits 48..=62).
    pub physical_offset: i64,
    /// Queue offset (0 for PREPARED/ROLLBACK transaction records, which get no CQ entry).
    pub queue_offset: i64,
    /// Record size in bytes.
    pub size: i32,
    /// Store timestamp (ms) written into the record.
    pub store_timestamp: i64,
}

/// Outcome of a successful append (the message is stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    /// PUT_OK: durable as the flush mode promises.
    PutOk,
    /// FLUSH_DISK_TIMEOUT: stored, but the sync did not complete within `syncFlushTimeout`.
    FlushDiskTimeout,
}

/// Result of [`ShardStore::append_one`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleAppendOutcome {
    /// PUT_OK or FLUSH_DISK_TIMEOUT.
    pub status: PutStatus,
    /// Where the message was stored.
    pub placement: Placement,
}

/// Result of [`ShardStore::append`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// PUT_OK or FLUSH_DISK_TIMEOUT.
    pub status: PutStatus,
    /// One per input message, in order.
    pub placements: Vec<Placement>,
}

/// `GetMessageStatus` of upstream; map to response codes with protocol.md §2.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetStatus {
    /// At least one message matched.
    Found,
    /// Entries were examined but none matched the filter.
    NoMatchedMessage,
    /// The entries examined point at log data already deleted by retention.
    MessageWasRemoving,
    /// An entry could not be read back (corrupt or unreadable record).
    OffsetFoundNull,
    /// `offset == max`: nothing new yet (the long-polling case).
    OffsetOverflowOne,
    /// `offset > max`.
    OffsetOverflowBadly,
    /// `offset < min`.
    OffsetTooSmall,
    /// The queue has no entries at all.
    NoMessageInQueue,
    /// The queue does not exist on this shard.
    NoMatchedLogicQueue,
}

/// Result of [`ShardStore::get_messages`].
#[derive(Debug, Clone)]
pub struct GetResult {
    /// Status for the response code mapping.
    pub status: GetStatus,
    /// Where the consumer continues.
    pub next_begin_offset: i64,
    /// Queue min offset.
    pub min_offset: i64,
    /// Queue max offset (entries visible to readers).
    pub max_offset: i64,
    /// The raw records, in queue order; send them concatenated as the PULL body.
    pub messages: Vec<LogBytes>,
}

/// `boundaryType` of SEARCH_OFFSET_BY_TIMESTAMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBoundary {
    /// The first offset whose store time is `>= timestamp` (max offset if none).
    Lower,
    /// The last offset whose store time is `<= timestamp` (min offset if none).
    Upper,
}

/// Result of [`ShardStore::query_by_key`].
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// Matching records, newest first.
    pub messages: Vec<LogBytes>,
    /// `indexLastUpdateTimestamp`.
    pub index_last_update_timestamp: i64,
    /// `indexLastUpdatePhyoffset`.
    pub index_last_update_phy_offset: i64,
}

/// Counters for benchmarks and monitoring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Messages appended.
    pub messages_appended: u64,
    /// `fdatasync` rounds of the CommitLog.
    pub log_syncs: u64,
    /// DMA writes issued for the CommitLog.
    pub log_writes: u64,
    /// Flush rounds.
    pub flush_rounds: u64,
    /// Total time spent in CommitLog `fdatasync` calls of the flusher (us).
    pub log_sync_micros: u64,
    /// Synced CommitLog bytes whose page cache was dropped (the page-cache window,
    /// [`StoreConfig::page_cache_keep_bytes`]).
    pub cache_dropped_bytes: u64,
    /// Bytes of zeros written ahead of the write position (see
    /// [`StoreConfig::zero_fill_ahead_bytes`]).
    pub zero_filled_bytes: u64,
    /// Times a flush round waited for an overlapping zero-fill write to complete.
    pub zero_fill_waits: u64,
    /// The most flush rounds seen in flight at once (pipelining in ASYNC_FLUSH).
    pub rounds_in_flight_max: u64,
    /// Sum over flush rounds of the time from launching a round's writes to the flusher seeing
    /// them complete (us): with `flush_rounds` and the wall time, how much of a run the log
    /// had writes outstanding versus how long appenders took to fill the next round.
    pub round_write_micros: u64,
    /// Slabs the pending buffer allocated (not reused; see `pending`): a steady stream stops
    /// adding to it once the memory tail's slabs come back.
    pub pending_slabs_allocated: u64,
}

/// Called with (topic, queue id, new visible max offset) when new entries become readable:
/// the hook for long polling. Runs on the shard's executor; it may call back into the store.
pub type ArrivalListener = Box<dyn Fn(&str, i32, i64)>;

pub(crate) struct Segment<F> {
    pub(crate) file: Option<Rc<F>>,
}

pub(crate) type QueueRef = Rc<RefCell<ConsumeQueue>>;

/// State of one shard's store. See the module docs for the positions' invariants.
pub(crate) struct State<F> {
    pub(crate) segments: BTreeMap<u64, Segment<F>>,
    pub(crate) min_local: u64,
    pub(crate) write_pos: u64,
    pub(crate) written: u64,
    pub(crate) synced: u64,
    pub(crate) visible: u64,
    /// Bytes `[pending_start, write_pos)`, not yet taken by a flush round.
    pending: PendingBuf,
    pending_start: u64,
    /// Bytes `[align_down(written), written)`: the head of the next round's first page.
    pub(crate) partial_page: Vec<u8>,
    /// Recently written chunks `(start, bytes)` serving fresh reads from memory.
    recent: VecDeque<(u64, Bytes)>,
    recent_bytes: usize,
    /// Queues with entries appended since the last round was taken (each once: see
    /// `ConsumeQueue::arrival_pending`).
    arrivals: Vec<QueueRef>,
    /// Segments written since the last sync.
    unsynced_segments: Vec<u64>,
    pub(crate) queues: HashMap<String, HashMap<i32, QueueRef>>,
    pub(crate) index: IndexService<F>,
    /// Every page in `[align_up(write_pos), zeroed_upto)` holds zeros written (and synced) by
    /// the zero-fill task, so a data write there converts no extent.
    pub(crate) zeroed_upto: u64,
    /// Ends of the records (and of segment fillers) not yet taken by a round, in order: a
    /// round ending on a whole page may end inside a record, and the checkpoint and
    /// `log_offsets` must name record boundaries.
    record_ends: VecDeque<u64>,
    /// The last record end at or below `written` / `synced` (what may be checkpointed).
    written_record_end: u64,
    synced_record_end: u64,
    /// With page-cache writes: the log below this position has had its page cache dropped
    /// (see [`drop_synced_pages`]); always at or below `synced`.
    cache_dropped_below: u64,
    /// The page range a zero-fill write is in flight for; a flush round never writes data
    /// into it until that write completed (their order on the device would be undefined).
    pub(crate) zeroing: Option<(u64, u64)>,
    pub(crate) fenced: Option<String>,
    /// Set while the store is refusing appends because the disk is full (see
    /// [`roll_back_after_no_space`]); cleared by the flusher once a retry finds space.
    no_space: Option<String>,
    shutting_down: bool,
    last_store_timestamp: i64,
    pub(crate) stats: StoreStats,
}

pub(crate) struct Inner<S: Storage> {
    pub(crate) config: StoreConfig,
    /// The CommitLog is written through the page cache (ASYNC_FLUSH with
    /// [`StoreConfig::async_flush_page_cache_writes`]), not with O_DIRECT.
    page_cache_writes: bool,
    pub(crate) storage: S,
    pub(crate) state: RefCell<State<S::File>>,
    flusher_wakeup: Notify,
    /// The ack level (`State::visible`), which appenders wait on; failed when the store fences.
    /// Replaced by a fresh watch when a full disk rolls unacknowledged records back (the old
    /// one stays failed for its waiters, so none of them can be satisfied by a record placed
    /// later at the same offsets).
    ack: RefCell<Rc<PositionWatch<AppendError>>>,
    /// The written level (`State::written`): what a SYNC_FLUSH append with `WAIT=false`
    /// waits for (survives `kill -9`, as an ASYNC_FLUSH ack). Replaced as `ack` is.
    written_ack: RefCell<Rc<PositionWatch<AppendError>>>,
    /// The directory lock; released by shutdown and by `abandon` (as a dying process would).
    lock: RefCell<Option<crate::io::LockGuard>>,
    /// Wakes the zero-fill task (the write position moved).
    pub(crate) zero_fill_wakeup: Notify,
    /// Set when a zero-fill write completed (the flusher may be waiting for it).
    pub(crate) zero_fill_done: Notify,
    listener: RefCell<Option<Rc<ArrivalListener>>>,
    /// Serialises the persist pass, topic deletion and retention (they touch the same files).
    maintenance: glommio::sync::Semaphore,
    pub(crate) stopped: Cell<bool>,
}

/// Handle to one shard's store. Cheap to clone; lives on one executor.
pub struct ShardStore<S: Storage> {
    inner: Rc<Inner<S>>,
    tasks: Rc<RefCell<Vec<glommio::task::JoinHandle<()>>>>,
}

impl<S: Storage> Clone for ShardStore<S> {
    fn clone(&self) -> Self {
        ShardStore {
            inner: self.inner.clone(),
            tasks: self.tasks.clone(),
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// True for PREPARED and ROLLBACK records, which get no ConsumeQueue entry and queue offset 0.
fn is_prepared_or_rollback(sys_flag: i32) -> bool {
    matches!(
        sys_flag & sysflag::TRANSACTION_TYPE_MASK,
        sysflag::TRANSACTION_PREPARED_TYPE | sysflag::TRANSACTION_ROLLBACK_TYPE
    )
}

/// The keys a record is indexed by (`topic#UNIQ_KEY`, `topic#k` for each of KEYS).
pub(crate) fn index_keys(topic: &str, props: &str, mut each: impl FnMut(&str)) {
    let [uniq, user_keys] = properties::get_each(props, [keys::UNIQ_KEY, keys::KEYS]);
    with_index_key_buffer(|key| index_keys_of(key, topic, uniq, user_keys, &mut each));
}

/// Run `f` with this thread's index key buffer (every shard runs on its own thread): no
/// allocation per record.
fn with_index_key_buffer(f: impl FnOnce(&mut String)) {
    thread_local! {
        static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    KEY.with(|key| match key.try_borrow_mut() {
        Ok(mut key) => f(&mut key),
        // Re-entered (never today): a fresh buffer.
        Err(_) => f(&mut String::new()),
    });
}

/// [`index_keys`] from the record's UNIQ_KEY and KEYS values, already looked up.
fn index_keys_of(
    key: &mut String,
    topic: &str,
    uniq: Option<&str>,
    user_keys: Option<&str>,
    each: &mut impl FnMut(&str),
) {
    key.clear();
    if let Some(uniq) = uniq {
        if !uniq.is_empty() {
            key.push_str(topic);
            key.push('#');
            key.push_str(uniq);
            each(key);
        }
    }
    if let Some(ks) = user_keys {
        for k in ks.split(keys::KEY_SEPARATOR).filter(|k| !k.is_empty()) {
            key.clear();
            key.push_str(topic);
            key.push('#');
            key.push_str(k);
            each(key);
        }
    }
}

/// The tags code of a record from its properties.
pub(crate) fn tags_code_of(props: &str) -> i64 {
    tag::tags_code(properties::get(props, keys::TAGS))
}

impl<F: StorageFile> State<F> {
    pub(crate) fn new(index: IndexService<F>, tail_cache_bytes: usize) -> Self {
        State {
            segments: BTreeMap::new(),
            min_local: 0,
            write_pos: 0,
            written: 0,
            synced: 0,
            visible: 0,
            pending: PendingBuf::new(tail_cache_bytes),
            pending_start: 0,
            partial_page: Vec::new(),
            recent: VecDeque::new(),
            recent_bytes: 0,
            arrivals: Vec::new(),
            unsynced_segments: Vec::new(),
            queues: HashMap::new(),
            index,
            zeroed_upto: 0,
            record_ends: VecDeque::new(),
            written_record_end: 0,
            synced_record_end: 0,
            cache_dropped_below: 0,
            zeroing: None,
            fenced: None,
            no_space: None,
            shutting_down: false,
            last_store_timestamp: 0,
            stats: StoreStats::default(),
        }
    }

    /// Set all positions to the recovered log end `end` (`partial_page` already set).
    pub(crate) fn start_at(&mut self, end: u64) {
        self.write_pos = end;
        self.written = end;
        self.synced = end;
        self.visible = end;
        self.pending_start = end;
        self.zeroed_upto = crate::io::align_up(end);
        self.written_record_end = end;
        self.synced_record_end = end;
        self.cache_dropped_below = end;
        assert_eq!(self.partial_page.len() as u64, end - align_down(end));
    }

    pub(crate) fn queue_or_create(&mut self, topic: &str, queue_id: i32, epf: u64) -> QueueRef {
        if let Some(q) = self.queues.get(topic).and_then(|m| m.get(&queue_id)) {
            return q.clone();
        }
        let mut cq = ConsumeQueue::new(epf, 0);
        cq.identity = Some((Rc::from(topic), queue_id));
        let q = Rc::new(RefCell::new(cq));
        self.queues
            .entry(topic.to_owned())
            .or_default()
            .insert(queue_id, q.clone());
        q
    }

    fn queue(&self, topic: &str, queue_id: i32) -> Option<QueueRef> {
        self.queues.get(topic)?.get(&queue_id).cloned()
    }

    /// Bytes of the visible log at `[local, local+len)` if they are in the memory tail.
    fn memory_slice(&self, local: u64, len: usize) -> Option<LogBytes> {
        let i = self
            .recent
            .partition_point(|(s, _)| *s <= local)
            .checked_sub(1)?;
        let (start, chunk) = &self.recent[i];
        let off = usize::try_from(local - start).ok()?;
        let end = off.checked_add(len)?;
        (end <= chunk.len()).then(|| LogBytes::Shared(chunk.slice(off..end)))
    }

    /// The store timestamp of the next append: the clock, but never going backwards within
    /// a shard (SEARCH_OFFSET_BY_TIMESTAMP binary-searches store times).
    fn next_store_timestamp(&mut self) -> i64 {
        let ts = now_ms().max(self.last_store_timestamp);
        self.last_store_timestamp = ts;
        ts
    }

    fn segment_base(&self, local: u64, seg_size: u64) -> u64 {
        local - local % seg_size
    }
}

impl<S: Storage> ShardStore<S> {
    /// Open (and recover) the store described by `config` on `storage`, and start its
    /// background tasks on the current executor. See [`crate::recovery`] for what recovery
    /// does with the files it finds.
    pub async fn open(config: StoreConfig, storage: S) -> Result<Self, EngineError> {
        config.validate()?;
        // One live store per directory: taken before recovery touches any file.
        storage
            .create_dir_all(&config.root_dir)
            .map_err(EngineError::io("create store dir", &config.root_dir))?;
        let lock_path = paths::lock_file(&config.root_dir);
        let lock = storage.lock_exclusive(&lock_path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                EngineError::Unavailable(format!(
                    "store {} is open in another process (or store)",
                    config.root_dir.display()
                ))
            } else {
                EngineError::io("lock store", &lock_path)(e)
            }
        })?;
        let state = recovery::recover(&config, &storage).await?;
        let written_ack = RefCell::new(Rc::new(PositionWatch::new(state.written)));
        let ack = RefCell::new(Rc::new(PositionWatch::new(state.visible)));
        // Mark the store as running: if this file survives, the next start knows it crashed.
        let abort = paths::abort_file(&config.root_dir);
        let f = storage
            .open(&abort, true)
            .await
            .map_err(EngineError::io("create abort marker", &abort))?;
        drop(f);
        let page_cache_writes =
            config.flush_mode == FlushMode::Async && config.async_flush_page_cache_writes;
        let inner = Rc::new(Inner {
            config,
            page_cache_writes,
            storage,
            state: RefCell::new(state),
            flusher_wakeup: Notify::default(),
            ack,
            written_ack,
            lock: RefCell::new(Some(lock)),
            zero_fill_wakeup: Notify::default(),
            zero_fill_done: Notify::default(),
            listener: RefCell::new(None),
            maintenance: glommio::sync::Semaphore::new(1),
            stopped: Cell::new(false),
        });
        let store = ShardStore {
            inner,
            tasks: Rc::new(RefCell::new(Vec::new())),
        };
        store.spawn_background();
        Ok(store)
    }

    fn spawn_background(&self) {
        let flusher = {
            let inner = self.inner.clone();
            // The default queue: a latency-sensitive queue of its own was measured slower
            // (more preemption, smaller rounds: 91-101 vs 155-220 MiB/s, one message per call).
            glommio::spawn_local(async move { flusher_loop(inner).await }).detach()
        };
        let persister = {
            let inner = self.inner.clone();
            glommio::spawn_local(async move {
                let interval = inner.config.cq_flush_interval;
                while !inner.stopped.get() {
                    glommio::timer::sleep(interval).await;
                    if inner.stopped.get() {
                        break;
                    }
                    // Failures fence the store inside; the loop just keeps its period.
                    let _outcome = persist(&inner, ActivePages::HeaderOnly).await;
                }
            })
            .detach()
        };
        let cleaner = {
            let inner = self.inner.clone();
            glommio::spawn_local(async move {
                let interval = inner.config.retention.clean_interval;
                while !inner.stopped.get() {
                    glommio::timer::sleep(interval).await;
                    if inner.stopped.get() {
                        break;
                    }
                    let input =
                        crate::retention::RetentionInput::now(&inner.storage, &inner.config);
                    let _outcome = clean_expired(&inner, input).await;
                }
            })
            .detach()
        };
        self.tasks
            .borrow_mut()
            .extend([flusher, persister, cleaner]);
        // SYNC_FLUSH only: in ASYNC_FLUSH one sync every 500 ms does not pay for doubling the
        // device writes (measured: 16-per-call appends 501-525 vs 716-865 MiB/s without).
        if self.inner.config.zero_fill_ahead_bytes > 0
            && self.inner.config.flush_mode == FlushMode::Sync
        {
            let inner = self.inner.clone();
            let zero_fill =
                crate::task_queues::spawn(crate::task_queues::Queue::ZeroFill, move || {
                    crate::zero_fill::zero_fill_loop(inner.clone())
                });
            self.tasks.borrow_mut().push(zero_fill);
        }
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.inner.config
    }

    /// Install the arrival listener (long polling hook). Replaces any previous one.
    pub fn set_arrival_listener(&self, listener: ArrivalListener) {
        *self.inner.listener.borrow_mut() = Some(Rc::new(listener));
    }

    /// Append messages (one, or a batch) and wait for the durability the flush mode promises.
    /// The batch is validated first and either wholly placed or wholly refused. For a single
    /// message, [`ShardStore::append_one`] does the same without allocating.
    pub async fn append(
        &self,
        messages: &[MessageInput<'_>],
    ) -> Result<AppendOutcome, AppendError> {
        if messages.is_empty() {
            return Err(AppendError::MessageIllegal("empty batch".into()));
        }
        let (placements, target) = {
            let cfg = &self.inner.config;
            let mut st = self.inner.state.borrow_mut();
            self.check_accepting(&st)?;
            // Validate everything before placing anything: a batch is all or nothing.
            let mut lens = Vec::with_capacity(messages.len());
            for m in messages {
                lens.push(validate(cfg, m)?);
            }
            let store_ts = st.next_store_timestamp();
            let placements: Vec<Placement> = messages
                .iter()
                .zip(&lens)
                .map(|(m, &len)| place_validated(cfg, &mut st, m, len, store_ts))
                .collect();
            st.stats.messages_appended += messages.len() as u64;
            (placements, st.write_pos)
        };
        // `WAIT` only changes SYNC_FLUSH acks: skip reading it otherwise.
        let wait =
            self.inner.config.flush_mode != FlushMode::Sync || messages.iter().any(waits_for_flush);
        let status = self.await_ack(target, wait).await?;
        Ok(AppendOutcome { status, placements })
    }

    /// Append one message and wait for the durability the flush mode promises: the same as
    /// [`ShardStore::append`] with a one-message batch, without a `Vec` per call.
    pub async fn append_one(
        &self,
        message: &MessageInput<'_>,
    ) -> Result<SingleAppendOutcome, AppendError> {
        let (placement, target) = {
            let cfg = &self.inner.config;
            let mut st = self.inner.state.borrow_mut();
            self.check_accepting(&st)?;
            let len = validate(cfg, message)?;
            let store_ts = st.next_store_timestamp();
            let placement = place_validated(cfg, &mut st, message, len, store_ts);
            st.stats.messages_appended += 1;
            (placement, st.write_pos)
        };
        let wait = self.inner.config.flush_mode != FlushMode::Sync || waits_for_flush(message);
        let status = self.await_ack(target, wait).await?;
        Ok(SingleAppendOutcome { status, placement })
    }

    fn check_accepting(&self, st: &State<S::File>) -> Result<(), AppendError> {
        if let Some(reason) = &st.fenced {
            return Err(AppendError::Fenced(reason.clone()));
        }
        if let Some(reason) = &st.no_space {
            return Err(AppendError::DiskFull(reason.clone()));
        }
        if st.shutting_down || self.inner.stopped.get() {
            return Err(AppendError::ShuttingDown);
        }
        Ok(())
    }

    /// Wake the flusher and wait until the ack level passes `target` (the end of the last
    /// placed record); in SYNC_FLUSH answer FLUSH_DISK_TIMEOUT after `sync_flush_timeout`.
    /// In SYNC_FLUSH, `wait == false` (the `WAIT=false` property) waits only for the write,
    /// not the `fdatasync`: upstream acks such messages without waiting for the flush.
    async fn await_ack(&self, target: u64, wait: bool) -> Result<PutStatus, AppendError> {
        self.inner.flusher_wakeup.notify();
        // The watches are taken before the first await, in the same synchronous stretch as
        // the placement: a rollback replaces them only while appends are refused.
        if !wait && self.inner.config.flush_mode == FlushMode::Sync {
            let written = Rc::clone(&self.inner.written_ack.borrow());
            return written.wait_for(target).await.map(|()| PutStatus::PutOk);
        }
        let ack = Rc::clone(&self.inner.ack.borrow());
        let acked = ack.wait_for(target);
        match self.inner.config.flush_mode {
            FlushMode::Sync => {
                match glommio::timer::timeout(self.inner.config.sync_flush_timeout, async {
                    Ok(acked.await)
                })
                .await
                {
                    Ok(r) => r.map(|()| PutStatus::PutOk),
                    Err(_) => Ok(PutStatus::FlushDiskTimeout),
                }
            }
            FlushMode::Async => acked.await.map(|()| PutStatus::PutOk),
        }
    }

    /// Min and max offsets of a queue: `(min, max)` where max counts visible entries.
    pub fn queue_offsets(&self, topic: &str, queue_id: i32) -> Option<(i64, i64)> {
        let st = self.inner.state.borrow();
        let q = st.queue(topic, queue_id)?;
        let q = q.borrow();
        Some((q.min_offset() as i64, q.visible_max() as i64))
    }

    /// GET_MIN_OFFSET (0 for an unknown queue).
    pub fn min_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue_offsets(topic, queue_id)
            .map_or(0, |(min, _)| min)
    }

    /// GET_MAX_OFFSET: number of readable entries (0 for an unknown queue).
    pub fn max_offset(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue_offsets(topic, queue_id)
            .map_or(0, |(_, max)| max)
    }

    /// Topics and queue ids that exist on this shard.
    pub fn queues(&self) -> Vec<(String, i32)> {
        let st = self.inner.state.borrow();
        let mut v: Vec<(String, i32)> = st
            .queues
            .iter()
            .flat_map(|(t, m)| m.keys().map(move |q| (t.clone(), *q)))
            .collect();
        v.sort();
        v
    }

    /// Lowest and next-to-write global physical offsets of the visible log.
    pub fn log_offsets(&self) -> (i64, i64) {
        let st = self.inner.state.borrow();
        let id = self.inner.config.shard_id;
        let visible_record_end = match self.inner.config.flush_mode {
            FlushMode::Sync => st.synced_record_end,
            FlushMode::Async => st.written_record_end,
        };
        (
            to_global(id, st.min_local),
            to_global(id, visible_record_end.min(st.visible)),
        )
    }

    /// Counters.
    pub fn stats(&self) -> StoreStats {
        let st = self.inner.state.borrow();
        StoreStats {
            pending_slabs_allocated: st.pending.slabs_allocated(),
            ..st.stats
        }
    }

    /// Why the store refuses writes, if it does.
    pub fn fenced_reason(&self) -> Option<String> {
        self.inner.state.borrow().fenced.clone()
    }

    /// Why the store refuses appends for a full disk, if it does (cleared by itself once a
    /// retry finds space again).
    pub fn disk_full_reason(&self) -> Option<String> {
        self.inner.state.borrow().no_space.clone()
    }

    /// Used fraction (0.0..=1.0) of the file system holding the store, if it can be read.
    pub fn disk_used_ratio(&self) -> Option<f64> {
        self.inner
            .storage
            .disk_used_ratio(&self.inner.config.root_dir)
            .ok()
    }

    /// PULL: up to `max_count` records (and about `max_bytes`; at least one record if any
    /// matches) of `(topic, queue_id)` from `offset`, keeping entries whose tags code passes
    /// `filter`. Follows `DefaultMessageStore.getMessage` (protocol.md §2.3).
    pub async fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_count: usize,
        max_bytes: usize,
        filter: impl Fn(i64) -> bool,
    ) -> GetResult {
        let max_count = max_count.clamp(1, PULL_MESSAGES_COUNT_MAX);
        let max_bytes = max_bytes.clamp(100, PULL_SIZE_BYTES_MAX);
        // Phase 1 (borrowed): choose the entries.
        let (mut result, picked) = {
            let st = self.inner.state.borrow();
            let Some(q) = st.queue(topic, queue_id) else {
                return GetResult {
                    status: GetStatus::NoMatchedLogicQueue,
                    next_begin_offset: 0,
                    min_offset: 0,
                    max_offset: 0,
                    messages: Vec::new(),
                };
            };
            let q = q.borrow();
            let (min, max) = (q.min_offset() as i64, q.visible_max() as i64);
            let mut result = GetResult {
                status: GetStatus::NoMatchedMessage,
                next_begin_offset: offset,
                min_offset: min,
                max_offset: max,
                messages: Vec::new(),
            };
            let early = if max == 0 {
                Some((GetStatus::NoMessageInQueue, 0))
            } else if offset < min {
                Some((GetStatus::OffsetTooSmall, min))
            } else if offset == max {
                Some((GetStatus::OffsetOverflowOne, offset))
            } else if offset > max {
                Some((GetStatus::OffsetOverflowBadly, max))
            } else {
                None
            };
            if let Some((status, next)) = early {
                result.status = status;
                result.next_begin_offset = next;
                return result;
            }
            // Upstream scans at most max(16000, maxMsgNums * 20) bytes of ConsumeQueue.
            let scan_max = (16_000 / 20).max(max_count);
            let mut picked = Vec::new();
            let mut bytes = 0usize;
            let mut next = offset;
            let mut removed = 0usize;
            let min_phys = to_global(self.inner.config.shard_id, st.min_local);
            for (examined, off) in (offset..max).enumerate() {
                if examined >= scan_max || picked.len() >= max_count {
                    break;
                }
                let Some(e) = q.get(off as u64) else { break };
                let size = usize::try_from(e.size).unwrap_or(0);
                if !picked.is_empty() && bytes + size > max_bytes {
                    break;
                }
                next = off + 1;
                if e.physical_offset < min_phys {
                    removed += 1;
                    continue;
                }
                if !filter(e.tags_code) {
                    continue;
                }
                bytes += size;
                picked.push((e.physical_offset, size));
            }
            result.next_begin_offset = next;
            if picked.is_empty() && removed > 0 {
                result.status = GetStatus::MessageWasRemoving;
            }
            (result, picked)
        };
        // Phase 2: fetch the bytes (memory tail or file), no borrow held across awaits.
        for (phys, size) in picked {
            match self.read_record(phys, Some(size)).await {
                Some(b) => result.messages.push(b),
                None => {
                    if result.messages.is_empty() {
                        result.status = GetStatus::OffsetFoundNull;
                    }
                    break;
                }
            }
        }
        if !result.messages.is_empty() {
            result.status = GetStatus::Found;
        }
        result
    }

    /// VIEW_MESSAGE_BY_ID: the record at a global physical offset, if it is visible and valid.
    pub async fn message_at(&self, physical_offset: i64) -> Option<LogBytes> {
        self.read_record(physical_offset, None).await
    }

    /// Read one validated record at `phys`; `size` if known from the ConsumeQueue.
    async fn read_record(&self, phys: i64, size: Option<usize>) -> Option<LogBytes> {
        let (shard, local) = split_global(phys)?;
        if shard != self.inner.config.shard_id {
            return None;
        }
        let seg_size = self.inner.config.commit_log_segment_bytes;
        let (mem, file) = {
            let st = self.inner.state.borrow();
            if local < st.min_local || local >= st.visible {
                return None;
            }
            let base = st.segment_base(local, seg_size);
            let file = st.segments.get(&base).and_then(|s| s.file.clone());
            let limit = (st.visible - local).min(base + seg_size - local);
            let probe = size.unwrap_or(8).min(limit as usize);
            (
                st.memory_slice(local, probe).map(|b| (b, limit)),
                file.map(|f| (f, base, limit)),
            )
        };
        let bytes = if let Some((head, limit)) = mem {
            let total = record_size(&head, size)?;
            if total as u64 > limit {
                return None;
            }
            let st = self.inner.state.borrow();
            st.memory_slice(local, total)?
        } else {
            let (file, base, limit) = file?;
            let pos = local - base;
            let head = file.read_at(pos, size.unwrap_or(8)).await.ok()?;
            let total = record_size(&head, size)?;
            if total as u64 > limit {
                return None;
            }
            if head.len() >= total {
                head.slice(0, total)?
            } else {
                let b = crate::io::read_exact(&*file, pos, total).await.ok()?;
                b.slice(0, total)?
            }
        };
        // Pair of the write-side check: what we serve parses, and is where it claims to be.
        let view = RecordView::parse(&bytes).ok()?;
        (view.physical_offset() == phys && view.total_size() == bytes.len()).then_some(bytes)
    }

    /// SEARCH_OFFSET_BY_TIMESTAMP: binary search over the queue's store timestamps.
    pub async fn offset_by_timestamp(
        &self,
        topic: &str,
        queue_id: i32,
        timestamp: i64,
        boundary: TimeBoundary,
    ) -> i64 {
        let Some((min, max)) = self.queue_offsets(topic, queue_id) else {
            return 0;
        };
        // Lower: first offset with ts >= t. Upper: last offset with ts <= t.
        let (mut lo, mut hi) = (min, max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let Some(ts) = self.store_time_at(topic, queue_id, mid).await else {
                // Unreadable (removed meanwhile): search above it.
                lo = mid + 1;
                continue;
            };
            let go_right = match boundary {
                TimeBoundary::Lower => ts < timestamp,
                TimeBoundary::Upper => ts <= timestamp,
            };
            if go_right {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        match boundary {
            TimeBoundary::Lower => lo,
            TimeBoundary::Upper => (lo - 1).max(min),
        }
    }

    async fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> Option<i64> {
        let entry = {
            let st = self.inner.state.borrow();
            let q = st.queue(topic, queue_id)?;
            let q = q.borrow();
            q.get(u64::try_from(offset).ok()?)?
        };
        let bytes = self
            .read_record(entry.physical_offset, usize::try_from(entry.size).ok())
            .await?;
        RecordView::parse(&bytes).ok().map(|v| v.store_timestamp())
    }

    /// GET_EARLIEST_MSG_STORETIME: store time of the queue's first readable record.
    pub async fn earliest_store_time(&self, topic: &str, queue_id: i32) -> Option<i64> {
        let (min, max) = self.queue_offsets(topic, queue_id)?;
        if min >= max {
            return None;
        }
        self.store_time_at(topic, queue_id, min).await
    }

    /// QUERY_MESSAGE: records indexed under `topic#key` with store time in `[begin, end]`,
    /// newest first, at most `max_count`.
    pub async fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max_count: usize,
        begin_ms: i64,
        end_ms: i64,
    ) -> QueryResult {
        let full_key = format!("{topic}#{key}");
        let max_count = max_count.clamp(1, QUERY_MESSAGES_COUNT_MAX);
        let (active_hits, sealed, last_ts, last_phy) = {
            let st = self.inner.state.borrow();
            let (ts, phy) = st.index.last_update();
            (
                st.index
                    .query_active(&full_key, max_count, begin_ms, end_ms),
                st.index.sealed_files(begin_ms, end_ms),
                ts,
                phy,
            )
        };
        let mut offsets = active_hits;
        for file in sealed {
            if offsets.len() >= max_count {
                break;
            }
            let more = file
                .query(&full_key, max_count - offsets.len(), begin_ms, end_ms)
                .await;
            offsets.extend(more);
        }
        let mut messages = Vec::new();
        for phys in offsets {
            if let Some(b) = self.read_record(phys, None).await {
                // The index stores hashes: re-check the key against the record itself.
                let matches = RecordView::parse(&b).is_ok_and(|v| {
                    let mut hit = false;
                    index_keys(v.topic(), v.properties(), |k| hit |= k == full_key);
                    hit
                });
                if matches {
                    messages.push(b);
                }
            }
        }
        QueryResult {
            messages,
            index_last_update_timestamp: last_ts,
            index_last_update_phy_offset: last_phy,
        }
    }

    /// Delete every queue of `topic` on this shard (memory and files). The CommitLog keeps the
    /// records until retention removes them.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), EngineError> {
        let _permit = self.inner.maintenance.acquire_permit(1).await;
        self.inner.state.borrow_mut().queues.remove(topic);
        let dir = paths::cq_topic_dir(&self.inner.config.root_dir, topic);
        self.inner
            .storage
            .remove_dir_all(&dir)
            .map_err(EngineError::io("remove topic queues", &dir))?;
        drop(_permit);
        // Checkpoint now, so a crash cannot re-dispatch the deleted topic's old records.
        persist(&self.inner, ActivePages::HeaderOnly).await
    }

    /// Write ConsumeQueue and index pages and the checkpoint now (also runs periodically).
    pub async fn persist(&self) -> Result<(), EngineError> {
        persist(&self.inner, ActivePages::All).await
    }

    /// Run retention once with explicit inputs (the periodic task uses the clock and statvfs).
    pub async fn clean_expired(
        &self,
        input: crate::retention::RetentionInput,
    ) -> Result<usize, EngineError> {
        clean_expired(&self.inner, input).await
    }

    /// Orderly shutdown: refuse new appends, flush and sync everything, persist ConsumeQueues,
    /// index and checkpoint, then remove the abort marker.
    pub async fn shutdown(self) -> Result<(), EngineError> {
        self.inner.state.borrow_mut().shutting_down = true;
        self.inner.flusher_wakeup.notify();
        // Wait for the flusher to drain (bounded: it exits once pending is empty).
        loop {
            let (drained, fenced) = {
                let st = self.inner.state.borrow();
                // A rollback after a full disk is finished (its range zeroed) or has fenced
                // before the files are handed on.
                (
                    st.pending.is_empty() && st.synced == st.write_pos && st.no_space.is_none(),
                    st.fenced.clone(),
                )
            };
            if let Some(reason) = fenced {
                self.stop_tasks();
                self.inner.lock.borrow_mut().take();
                return Err(EngineError::Unavailable(reason));
            }
            if drained {
                break;
            }
            self.inner.flusher_wakeup.notify();
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        let persisted = persist(&self.inner, ActivePages::All).await;
        self.stop_tasks();
        // A zero-fill write still in flight must land before the files are handed to a
        // successor (it only ever covers pages past the log end, but a reopened store writes
        // there).
        while self.inner.state.borrow().zeroing.is_some() {
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
        persisted?;
        let abort = paths::abort_file(&self.inner.config.root_dir);
        let removed = self
            .inner
            .storage
            .remove(&abort)
            .await
            .map_err(EngineError::io("remove abort marker", &abort));
        self.inner.lock.borrow_mut().take();
        removed
    }

    /// Stop the background tasks without flushing anything: what `kill -9` does to the
    /// in-process state. For crash tests; the files are left as they are.
    pub fn abandon(self) {
        self.stop_tasks();
        self.inner.state.borrow_mut().fenced = Some("abandoned".into());
        self.inner.ack.borrow().fail(AppendError::ShuttingDown);
        self.inner
            .written_ack
            .borrow()
            .fail(AppendError::ShuttingDown);
        // A killed process's flock dies with it.
        self.inner.lock.borrow_mut().take();
    }

    fn stop_tasks(&self) {
        self.inner.stopped.set(true);
        self.inner.flusher_wakeup.notify();
        self.inner.zero_fill_wakeup.notify();
        self.tasks.borrow_mut().clear();
    }
}

/// The size of the record whose head is in `head`, checked against the CQ size if known.
fn record_size(head: &[u8], expected: Option<usize>) -> Option<usize> {
    match rmq_protocol::message::record::peek_head(head).ok()?? {
        rmq_protocol::message::record::RecordHead::Message { total_size } => {
            if expected.is_some_and(|e| e != total_size) {
                None
            } else {
                Some(total_size)
            }
        }
        rmq_protocol::message::record::RecordHead::Blank { .. } => None,
    }
}

/// Whether the producer waits for the flush (`WAIT` property, true unless "false").
fn waits_for_flush(m: &MessageInput<'_>) -> bool {
    properties::get(m.properties, keys::WAIT) != Some("false")
}

/// Check one message against the limits; returns its encoded record length.
fn validate(cfg: &StoreConfig, m: &MessageInput<'_>) -> Result<usize, AppendError> {
    if m.topic.is_empty() {
        return Err(AppendError::MessageIllegal("empty topic".into()));
    }
    if m.queue_id < 0 {
        return Err(AppendError::MessageIllegal(format!(
            "queue id {}",
            m.queue_id
        )));
    }
    if m.body.len() > cfg.max_message_body_bytes {
        return Err(AppendError::MessageIllegal(format!(
            "body of {} bytes exceeds maxMessageSize {}",
            m.body.len(),
            cfg.max_message_body_bytes
        )));
    }
    let len = fields_of(m, 0, 0, 0, cfg.store_host)
        .encoded_len()
        .map_err(|e| AppendError::MessageIllegal(e.to_string()))?;
    let seg_size = cfg.commit_log_segment_bytes;
    if (len + BLANK_RECORD_BYTES) as u64 > seg_size {
        return Err(AppendError::MessageIllegal(format!(
            "record of {len} bytes does not fit a {seg_size}-byte segment"
        )));
    }
    Ok(len)
}

/// Place one validated message of `len` encoded bytes: roll the segment if it does not fit,
/// assign its offsets, encode it straight into the pending buffer, add its ConsumeQueue and
/// index entries.
fn place_validated<F: StorageFile>(
    cfg: &StoreConfig,
    st: &mut State<F>,
    m: &MessageInput<'_>,
    len: usize,
    store_ts: i64,
) -> Placement {
    let seg_size = cfg.commit_log_segment_bytes;
    let len64 = len as u64;
    let seg_base = st.segment_base(st.write_pos, seg_size);
    let room = seg_base + seg_size - st.write_pos;
    if len64 + BLANK_RECORD_BYTES as u64 > room {
        // End-of-file filler: TOTALSIZE = bytes left, BLANK magic, zeros to the end.
        st.pending.reserve(room as usize + len);
        let pending = st.pending.buf();
        let start = pending.len();
        pending.resize(start + room as usize, 0);
        pending[start..start + 4].copy_from_slice(&(room as i32).to_be_bytes());
        pending[start + 4..start + 8].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        st.write_pos += room;
        let next = st.write_pos;
        st.record_ends.push_back(next);
        st.segments.entry(next).or_insert(Segment { file: None });
    }
    if st.segments.is_empty() {
        let base = st.segment_base(st.write_pos, seg_size);
        st.segments.insert(base, Segment { file: None });
    }
    let phys = to_global(cfg.shard_id, st.write_pos);
    let dispatch = !is_prepared_or_rollback(m.sys_flag);
    let (queue, queue_offset) = if dispatch {
        let q = st.queue_or_create(m.topic, m.queue_id, cfg.cq_entries_per_file);
        let off = q.borrow().max_offset();
        (Some(q), off as i64)
    } else {
        (None, 0)
    };
    st.pending.reserve(len);
    let written = fields_of(m, queue_offset, phys, store_ts, cfg.store_host)
        .encode_extend(st.pending.buf())
        .expect("record validated before placement");
    assert_eq!(written, len);
    st.write_pos += len64;
    let record_end = st.write_pos;
    st.record_ends.push_back(record_end);
    // One pass over the properties for everything the queue entry and the index need.
    let [tags, uniq, user_keys] =
        properties::get_each(m.properties, [keys::TAGS, keys::UNIQ_KEY, keys::KEYS]);
    if let Some(q) = queue {
        let entry = CqEntry {
            physical_offset: phys,
            size: len as i32,
            tags_code: tag::tags_code(tags),
        };
        let newly_pending = {
            let mut cq = q.borrow_mut();
            let off = cq.append(entry);
            assert_eq!(off as i64, queue_offset);
            !std::mem::replace(&mut cq.arrival_pending, true)
        };
        if newly_pending {
            st.arrivals.push(q);
        }
    }
    if cfg.index_enabled
        && m.sys_flag & sysflag::TRANSACTION_TYPE_MASK != sysflag::TRANSACTION_ROLLBACK_TYPE
    {
        let State { index, .. } = st;
        with_index_key_buffer(|key| {
            index_keys_of(key, m.topic, uniq, user_keys, &mut |k| {
                index.put(k, phys, store_ts);
            });
        });
    }
    Placement {
        physical_offset: phys,
        queue_offset,
        size: len as i32,
        store_timestamp: store_ts,
    }
}

fn fields_of<'a>(
    m: &MessageInput<'a>,
    queue_offset: i64,
    phys: i64,
    store_ts: i64,
    store_host: SocketAddr,
) -> RecordFields<'a> {
    RecordFields {
        queue_id: m.queue_id,
        flag: m.flag,
        queue_offset,
        physical_offset: phys,
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        store_timestamp: store_ts,
        store_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
        body: m.body,
        topic: m.topic,
        properties: m.properties,
    }
}

/// Fail every waiter and refuse further appends.
fn fence<S: Storage>(inner: &Inner<S>, reason: String) {
    {
        let mut st = inner.state.borrow_mut();
        if st.fenced.is_none() {
            st.fenced = Some(reason.clone());
        }
    }
    inner
        .ack
        .borrow()
        .fail(AppendError::WriteFailed(reason.clone()));
    inner
        .written_ack
        .borrow()
        .fail(AppendError::WriteFailed(reason));
}

/// A full disk met by a flush round (`ENOSPC`/`EDQUOT` writing the log or creating a segment):
/// undo every record the device may not fully have, refuse appends until space is back, then
/// resume — without a restart, and without fencing the store.
///
/// Why this is safe: a record is acknowledged only once the ack level passed its end, and the
/// ack level never passes `written` (what completed writes put on the device). The store rolls
/// back to `written_record_end`, the last record end at or below `written`, so every
/// acknowledged record stays and every record dropped was never acknowledged. Its waiters get
/// [`AppendError::DiskFull`] through the old watches, which stay failed; new appends wait on
/// fresh ones (so no old waiter can be satisfied by a record placed later at its offsets).
///
/// Before appends resume, everything this attempt may have written past the rollback point is
/// overwritten with zeros and synced (the "scrub"): recovery after a later crash must not find
/// a dropped record's bytes after the new log end and take them as records. The scrub also
/// re-creates the segment whose creation failed, so resuming is retried — every
/// [`NO_SPACE_RETRY_INTERVAL`] — until the disk has room. An error other than a full disk
/// during the scrub fences the store as any I/O error does.
///
/// ConsumeQueue entries of dropped records are removed; index entries are left (a query
/// re-checks every hit's key against the record it reads, so a stale hash is never served).
/// Shutdown waits for the scrub; if it cannot run (still no space) the store fences, and a
/// crash or fenced stop before the scrub may let recovery find dropped records whose bytes all
/// reached the device: messages whose sends were refused may then be stored (never an
/// acknowledged one lost, never a torn one served).
/// Returns whether the flusher may continue (false: the store fenced or stopped).
async fn roll_back_after_no_space<S: Storage>(
    inner: &Rc<Inner<S>>,
    in_flight: &mut VecDeque<(Round, RoundTask)>,
    sync_task: &mut Option<SyncTask>,
    error: RoundError,
) -> bool {
    // Every write of this attempt must have completed before the scrub is issued, or one could
    // land after the zeros.
    for (_, task) in in_flight.drain(..) {
        let _ = task.await;
    }
    // A background sync raises `synced` to what was written when it started, which may be
    // past the rollback point: it must finish before the positions are cut back.
    if let Some(task) = sync_task.take() {
        if let Err(e) = task.await {
            fence(inner, e);
            return false;
        }
    }
    let cfg = &inner.config;
    let reason = error.reason.clone();
    let (rollback_to, scrub_end) = {
        let mut st = inner.state.borrow_mut();
        let to = st.written_record_end;
        assert!(
            to <= st.written,
            "record end {to} past written {}",
            st.written
        );
        // The highest byte any round of this attempt may have written.
        let scrub_end = crate::io::align_up(st.pending_start.max(st.written));
        st.write_pos = to;
        st.pending.clear();
        st.pending_start = to;
        st.record_ends.clear();
        st.written = to;
        st.synced = st.synced.min(to);
        st.synced_record_end = st.synced_record_end.min(to);
        st.visible = st.visible.min(to);
        // The memory tail serves fresh reads: nothing past the rollback point may stay in it.
        while let Some((start, chunk)) = st.recent.back() {
            let (start, len) = (*start, chunk.len());
            if start >= to {
                st.recent.pop_back();
                st.recent_bytes -= len;
            } else {
                let keep = usize::try_from(to - start).unwrap_or(len).min(len);
                if keep < len {
                    if let Some((_, c)) = st.recent.back_mut() {
                        *c = c.slice(..keep);
                    }
                    st.recent_bytes -= len - keep;
                }
                break;
            }
        }
        let to_global_offset = to_global(cfg.shard_id, to);
        for q in st.queues.values().flat_map(HashMap::values) {
            let mut q = q.borrow_mut();
            q.truncate_from_physical(to_global_offset);
            q.arrival_pending = false;
        }
        st.arrivals.clear();
        st.no_space = Some(reason.clone());
        (to, scrub_end)
    };
    // Fail the waiters of everything dropped; appends are refused from here until resumed.
    for watch in [&inner.ack, &inner.written_ack] {
        let fresh = Rc::new(PositionWatch::new(rollback_to));
        let old = std::mem::replace(&mut *watch.borrow_mut(), fresh);
        old.fail(AppendError::DiskFull(reason.clone()));
    }
    loop {
        if inner.stopped.get() {
            return false;
        }
        let outcome = async {
            let head = read_partial_page(inner, rollback_to).await?;
            scrub_after_rollback(inner, rollback_to, scrub_end, &head).await?;
            if let Some(base) = error.segment {
                segment_file(inner, base).await?;
            }
            Ok::<Vec<u8>, RoundError>(head)
        }
        .await;
        match outcome {
            Ok(head) => {
                let mut st = inner.state.borrow_mut();
                st.partial_page = head;
                // [align_up(rollback_to), scrub_end) holds synced zeros now.
                st.zeroed_upto = st.zeroed_upto.max(scrub_end);
                st.no_space = None;
                return true;
            }
            Err(e) if e.no_space && !inner.state.borrow().shutting_down => {
                glommio::timer::sleep(NO_SPACE_RETRY_INTERVAL).await;
            }
            Err(e) => {
                // A real I/O error, or a shutdown that cannot wait for space: fence, so
                // shutdown reports it and the next start recovers from the files.
                inner.state.borrow_mut().no_space = None;
                fence(inner, e.reason);
                return false;
            }
        }
    }
}

/// The bytes `[align_down(end), end)` of the log, read back from the device (they are below
/// `written`): the head of the page the next round rewrites.
async fn read_partial_page<S: Storage>(inner: &Inner<S>, end: u64) -> Result<Vec<u8>, RoundError> {
    let page = align_down(end);
    if page == end {
        return Ok(Vec::new());
    }
    let seg_size = inner.config.commit_log_segment_bytes;
    let base = page - page % seg_size;
    let file = segment_file(inner, base).await?;
    let len = usize::try_from(end - page).expect("less than a page");
    let bytes = crate::io::read_exact(&*file, page - base, len)
        .await
        .map_err(|e| RoundError::io("read back the log tail", &e))?;
    Ok(bytes.to_vec())
}

/// Overwrite `[align_down(from), to)` with `head` then zeros, in every segment that has a file
/// (a segment without one was never written), and sync what was written.
async fn scrub_after_rollback<S: Storage>(
    inner: &Inner<S>,
    from: u64,
    to: u64,
    head: &[u8],
) -> Result<(), RoundError> {
    let seg_size = inner.config.commit_log_segment_bytes;
    let first_page = align_down(from);
    let mut pos = first_page;
    let mut written: Vec<Rc<S::File>> = Vec::new();
    while pos < to {
        let (base, piece_end) = write_piece_bounds(pos, to, seg_size);
        let file = inner
            .state
            .borrow()
            .segments
            .get(&base)
            .and_then(|s| s.file.clone());
        if let Some(file) = file {
            let mut data = vec![0u8; usize::try_from(piece_end - pos).expect("at most 1 MiB")];
            if pos == first_page {
                data[..head.len()].copy_from_slice(head);
            }
            crate::io::write_all_aligned(&*file, pos - base, &data)
                .await
                .map_err(|e| RoundError::io("zero the rolled-back log tail", &e))?;
            if !written.last().is_some_and(|f| Rc::ptr_eq(f, &file)) {
                written.push(file);
            }
        }
        pos = piece_end;
    }
    for f in written {
        f.fdatasync()
            .await
            .map_err(|e| RoundError::io("sync the rolled-back log tail", &e))?;
    }
    Ok(())
}

/// One flush round: the log bytes `[start, start + chunk.len())` taken from `pending`.
struct Round {
    start: u64,
    chunk: Bytes,
    /// Bytes `[align_down(start), start)`: the head of the round's first page, written by an
    /// earlier round and rewritten by this one (O_DIRECT writes whole pages). Moved into the
    /// round's first write when it is launched.
    prefix: Vec<u8>,
    /// Queues to publish when the round completes, with their new visible max.
    arrivals: Vec<(QueueRef, u64)>,
    /// The last record end inside the round, if one is.
    record_end: Option<u64>,
    /// When the round's writes were launched (for [`StoreStats::round_write_micros`]).
    launched_at: std::time::Instant,
}

impl Round {
    fn end(&self) -> u64 {
        self.start + self.chunk.len() as u64
    }
}

/// Where the next round ends: the write position, or its last whole page (`whole_pages_only`,
/// used while other rounds are in flight, so no two in-flight rounds ever write the same
/// page); and a round longer than `round_max` is cut at the last whole page within it (the
/// rest follows in the next round). At least `pending_start` (then there is nothing to take).
fn round_end<F>(st: &State<F>, whole_pages_only: bool, round_max: u64) -> u64 {
    let end = if whole_pages_only {
        align_down(st.write_pos)
    } else {
        st.write_pos
    };
    if end - st.pending_start.min(end) > round_max {
        align_down(st.pending_start.saturating_add(round_max)).max(st.pending_start)
    } else {
        end
    }
}

/// The page range the next round would write if it took up to `end` (for the zero-fill check).
fn would_overlap_zeroing<F>(st: &State<F>, end: u64) -> bool {
    let (w_start, w_end) = (align_down(st.pending_start), crate::io::align_up(end));
    st.zeroing
        .is_some_and(|(zs, ze)| zs < w_end && w_start < ze)
}

/// Take the next round from `pending`: the bytes up to `end` (at most `write_pos`; the
/// flusher chooses it, see [`round_end`]). `None` if there is nothing to take.
fn take_round<F>(st: &mut State<F>, shard_id: u16, end: u64) -> Option<Round> {
    let start = st.pending_start;
    assert!(
        end <= st.write_pos,
        "round end {end} past the write position"
    );
    if end <= start {
        return None;
    }
    let chunk = st.pending.split_to((end - start) as usize);
    st.pending_start = end;
    // The next round's first-page head: bytes [align_down(end), end) of prefix + chunk.
    let tail_from = align_down(end);
    let next_prefix = if tail_from >= start {
        chunk[(tail_from - start) as usize..].to_vec()
    } else {
        let mut p = st.partial_page.clone();
        p.extend_from_slice(&chunk);
        p
    };
    let prefix = std::mem::replace(&mut st.partial_page, next_prefix);
    // Publish, per queue, the entries whose record lies wholly below `end`; a queue with
    // entries past it (in the held-back partial page) stays pending for the next round.
    let end_global = to_global(shard_id, end);
    let mut arrivals = Vec::with_capacity(st.arrivals.len());
    let mut still_pending = Vec::new();
    for q in st.arrivals.drain(..) {
        let (upto, complete) = {
            let mut cq = q.borrow_mut();
            let max = cq.max_offset();
            let mut upto = max;
            while upto > cq.visible_max() {
                match cq.get(upto - 1) {
                    Some(e) if e.physical_offset + i64::from(e.size) > end_global => upto -= 1,
                    _ => break,
                }
            }
            if upto == max {
                cq.arrival_pending = false;
            }
            (upto, upto == max)
        };
        if !complete {
            still_pending.push(q.clone());
        }
        arrivals.push((q, upto));
    }
    st.arrivals = still_pending;
    let mut record_end = None;
    while st.record_ends.front().is_some_and(|e| *e <= end) {
        record_end = st.record_ends.pop_front();
    }
    Some(Round {
        start,
        chunk,
        prefix,
        arrivals,
        record_end,
        launched_at: std::time::Instant::now(),
    })
}

/// The flusher: launches rounds (one at a time in SYNC_FLUSH, where each is followed by its
/// `fdatasync`; up to [`FLUSH_ROUNDS_IN_FLIGHT_MAX`] in ASYNC_FLUSH), completes them in log
/// order, syncs, and publishes.
///
/// A round launched behind others waits until it has at least
/// [`FLUSH_ROUND_PIPELINED_BYTES_MIN`], so a busy log goes out in large writes.
///
/// Pipelining rule: a round that ends mid-page is launched only when no other round is in
/// flight, and no round is launched while it is; rounds launched while others are in flight
/// take whole pages only, and in ASYNC_FLUSH so does a round with nothing in flight when
/// there are at least the minimum of whole pages (the rest follows in the next round). So two writes of the same page are never in flight together.
async fn flusher_loop<S: Storage>(inner: Rc<Inner<S>>) {
    let max_in_flight = match inner.config.flush_mode {
        FlushMode::Sync => 1,
        FlushMode::Async => FLUSH_ROUNDS_IN_FLIGHT_MAX,
    };
    let shard_id = inner.config.shard_id;
    // Small segments (tests) pipeline smaller rounds, so the path is exercised there too.
    let pipelined_min =
        FLUSH_ROUND_PIPELINED_BYTES_MIN.min(inner.config.commit_log_segment_bytes / 16);
    // O_DIRECT in ASYNC_FLUSH: rounds of at most this many bytes, so a deep backlog goes out
    // as several rounds whose acks come one after the other (appenders refill while the rest
    // is still on its way to the device). SYNC_FLUSH: one round per sync takes everything
    // (group commit). Page-cache writes: a round's write is a copy on this thread, there is
    // no device time to overlap, and more rounds only cost more (measured, crate docs).
    let round_max = if inner.config.flush_mode == FlushMode::Async && !inner.page_cache_writes {
        FLUSH_ROUND_BYTES_MAX.max(pipelined_min)
    } else {
        u64::MAX
    };
    let interval = inner.config.flush_interval;
    let mut last_sync = std::time::Instant::now();
    let mut sync_task: Option<SyncTask> = None;
    let mut in_flight: VecDeque<(Round, RoundTask)> = VecDeque::new();
    let mut tail_in_flight = false;
    loop {
        if inner.stopped.get() || inner.state.borrow().fenced.is_some() {
            return;
        }
        // Launch what may be launched.
        let mut blocked_on_zero_fill = false;
        while in_flight.len() < max_in_flight && !tail_in_flight {
            let round = {
                let mut st = inner.state.borrow_mut();
                // Whole pages only: behind other rounds always; with nothing in flight too when
                // there are enough of them (ASYNC_FLUSH), so the next round can follow at
                // once instead of waiting behind a round that ends mid-page. A small tail
                // with nothing in flight goes out whole, so an idle log adds no latency.
                let whole_bytes = align_down(st.write_pos).saturating_sub(st.pending_start);
                let whole_pages_only =
                    !in_flight.is_empty() || (max_in_flight > 1 && whole_bytes >= pipelined_min);
                let end = round_end(&st, whole_pages_only, round_max);
                if whole_pages_only && whole_bytes < pipelined_min {
                    // Small rounds behind others would only add small writes: let it grow
                    // (it goes out when it is large enough or when the pipe drains).
                    None
                } else if end > st.pending_start && would_overlap_zeroing(&st, end) {
                    // Data must land after the zeros: wait for that zero write.
                    st.stats.zero_fill_waits += 1;
                    blocked_on_zero_fill = true;
                    None
                } else {
                    take_round(&mut st, shard_id, end)
                }
            };
            let Some(mut round) = round else { break };
            tail_in_flight = round.end() % IO_ALIGNMENT_BYTES as u64 != 0;
            let task = Box::pin(glommio::spawn_local(write_round(
                inner.clone(),
                round.start,
                round.chunk.clone(),
                std::mem::take(&mut round.prefix),
            )));
            in_flight.push_back((round, task));
            let mut st = inner.state.borrow_mut();
            st.stats.rounds_in_flight_max =
                st.stats.rounds_in_flight_max.max(in_flight.len() as u64);
        }
        // ASYNC_FLUSH's periodic sync (and a shutdown's final one) runs beside the rounds: no
        // ack waits for it, and with page-cache writes it is where the device catches up.
        if inner.config.flush_mode == FlushMode::Async && sync_task.is_none() {
            let due = {
                let st = inner.state.borrow();
                st.synced < st.written && (last_sync.elapsed() >= interval || st.shutting_down)
            };
            if due {
                let inner = inner.clone();
                sync_task = Some(Box::pin(glommio::spawn_local(async move {
                    sync_log(&inner).await
                })));
                last_sync = std::time::Instant::now();
            }
        }
        // Wait for the oldest round, the sync, or new appends that may start another round.
        let event = {
            let idle = in_flight.is_empty();
            let sync_running = sync_task.is_some();
            let round = async {
                match in_flight.front_mut() {
                    Some((_, task)) => FlusherEvent::Round(task.await),
                    None => std::future::pending().await,
                }
            };
            let synced = async {
                match sync_task.as_mut() {
                    Some(task) => FlusherEvent::Synced(task.await),
                    None => std::future::pending().await,
                }
            };
            let woken = async {
                if blocked_on_zero_fill {
                    inner.zero_fill_done.notified().await;
                } else if idle {
                    // Idle: wake for the next periodic sync too (a sync still running wakes
                    // the loop when it ends; a zero wait would spin until then).
                    let wait = {
                        let st = inner.state.borrow();
                        if st.synced < st.written && !sync_running {
                            interval
                                .saturating_sub(last_sync.elapsed())
                                .max(Duration::from_millis(1))
                        } else {
                            interval
                        }
                    };
                    futures_lite::future::or(
                        inner.flusher_wakeup.notified(),
                        glommio::timer::sleep(wait),
                    )
                    .await;
                } else {
                    inner.flusher_wakeup.notified().await;
                }
                FlusherEvent::Woken
            };
            futures_lite::future::or(round, futures_lite::future::or(synced, woken)).await
        };
        let result = match event {
            FlusherEvent::Woken => continue,
            FlusherEvent::Synced(Ok(())) => {
                sync_task = None;
                continue;
            }
            FlusherEvent::Synced(Err(e)) => {
                fence(&inner, e);
                return;
            }
            FlusherEvent::Round(result) => result,
        };
        let Some((round, _)) = in_flight.pop_front() else {
            continue;
        };
        let touched = match result {
            Ok(t) => t,
            Err(e) if e.no_space => {
                // Nothing of this round (or of any after it) was acknowledged: roll back to
                // the last record the device has, and refuse appends until space is back.
                if roll_back_after_no_space(&inner, &mut in_flight, &mut sync_task, e).await {
                    tail_in_flight = false;
                    continue;
                }
                return;
            }
            Err(e) => {
                fence(&inner, e.reason);
                return;
            }
        };
        if round.end() % IO_ALIGNMENT_BYTES as u64 != 0 {
            tail_in_flight = false;
        }
        {
            let mut st = inner.state.borrow_mut();
            assert_eq!(st.written, round.start, "rounds complete in log order");
            st.written = round.end();
            if let Some(e) = round.record_end {
                st.written_record_end = e;
            }
            inner.written_ack.borrow().advance(round.end());
            st.stats.flush_rounds += 1;
            let write_micros = u64::try_from(round.launched_at.elapsed().as_micros());
            st.stats.round_write_micros = st
                .stats
                .round_write_micros
                .saturating_add(write_micros.unwrap_or(u64::MAX));
            for b in touched {
                if !st.unsynced_segments.contains(&b) {
                    st.unsynced_segments.push(b);
                }
            }
        }
        // SYNC_FLUSH: group commit, the round's waiters are acked after its sync.
        if inner.config.flush_mode == FlushMode::Sync {
            if let Err(e) = sync_log(&inner).await {
                fence(&inner, e);
                return;
            }
        }
        publish(&inner, round);
    }
}

/// What woke the flusher.
enum FlusherEvent {
    /// The oldest in-flight round finished.
    Round(Result<Vec<u64>, RoundError>),
    /// The background sync finished.
    Synced(Result<(), String>),
    /// New appends, a shutdown, a zero-fill write done, or the sync timer.
    Woken,
}

type SyncTask = std::pin::Pin<Box<glommio::Task<Result<(), String>>>>;

type RoundTask = std::pin::Pin<Box<glommio::Task<Result<Vec<u64>, RoundError>>>>;

/// Why a flush round (or the segment file it needed) failed.
#[derive(Debug)]
pub(crate) struct RoundError {
    /// What failed, for logs and the fence reason.
    pub(crate) reason: String,
    /// The file system is out of space (`ENOSPC`, `EDQUOT`): recoverable by rolling back.
    pub(crate) no_space: bool,
    /// The segment whose file could not be created, if that was the failure.
    pub(crate) segment: Option<u64>,
}

impl RoundError {
    fn io(what: impl std::fmt::Display, e: &std::io::Error) -> Self {
        RoundError {
            reason: format!("{what}: {e}"),
            no_space: matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT)),
            segment: None,
        }
    }
}

impl From<RoundError> for String {
    fn from(e: RoundError) -> String {
        e.reason
    }
}

/// How long a store that met a full disk waits between attempts to resume.
const NO_SPACE_RETRY_INTERVAL: Duration = Duration::from_secs(1);

/// Ensure segment `base` has an open, preallocated file. A file this call created is removed
/// again if it cannot be preallocated, so a full disk does not keep a partial allocation.
pub(crate) async fn segment_file<S: Storage>(
    inner: &Inner<S>,
    base: u64,
) -> Result<Rc<S::File>, RoundError> {
    if let Some(f) = inner
        .state
        .borrow()
        .segments
        .get(&base)
        .and_then(|s| s.file.clone())
    {
        return Ok(f);
    }
    let cfg = &inner.config;
    let path = paths::segment_file(&cfg.root_dir, to_global(cfg.shard_id, base) as u64);
    let with_segment = |mut e: RoundError| {
        e.segment = Some(base);
        e
    };
    let existed = inner.storage.exists(&path);
    let file = inner.storage.open(&path, true).await.map_err(|e| {
        with_segment(RoundError::io(
            format_args!("create segment {}", path.display()),
            &e,
        ))
    })?;
    if let Err(e) = file.pre_allocate(cfg.commit_log_segment_bytes).await {
        if !existed {
            // Best effort: a leftover short file past the log end is also what recovery
            // handles after a crash here.
            drop(file);
            let _ = inner.storage.remove(&path).await;
        }
        return Err(with_segment(RoundError::io(
            format_args!("preallocate segment {}", path.display()),
            &e,
        )));
    }
    let file = Rc::new(file);
    inner
        .state
        .borrow_mut()
        .segments
        .entry(base)
        .or_insert(Segment { file: None })
        .file = Some(file.clone());
    Ok(file)
}

async fn sync_log<S: Storage>(inner: &Inner<S>) -> Result<(), String> {
    let (target, segs) = {
        let mut st = inner.state.borrow_mut();
        (
            (st.written, st.written_record_end),
            std::mem::take(&mut st.unsynced_segments),
        )
    };
    for base in segs {
        // A segment deleted by retention meanwhile needs no sync (and must not be re-created).
        let file = inner
            .state
            .borrow()
            .segments
            .get(&base)
            .and_then(|s| s.file.clone());
        let Some(f) = file else { continue };
        let started = std::time::Instant::now();
        f.fdatasync()
            .await
            .map_err(|e| format!("fdatasync commit log: {e}"))?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut st = inner.state.borrow_mut();
        st.stats.log_sync_micros = st.stats.log_sync_micros.saturating_add(micros);
    }
    {
        let mut st = inner.state.borrow_mut();
        st.synced = st.synced.max(target.0);
        st.synced_record_end = st.synced_record_end.max(target.1);
        st.stats.log_syncs += 1;
    }
    if inner.page_cache_writes {
        drop_synced_pages(inner).await;
    }
    Ok(())
}

/// Page-cache writes: drop the page cache of synced log bytes older than the newest
/// [`StoreConfig::page_cache_keep_bytes`], so the log's footprint stays bounded and new writes
/// reuse freed pages (why: the config field's docs). Runs after each periodic sync, in its
/// task; each byte is dropped once (`State::cache_dropped_below`).
async fn drop_synced_pages<S: Storage>(inner: &Inner<S>) {
    let seg_size = inner.config.commit_log_segment_bytes;
    let ranges = {
        let mut st = inner.state.borrow_mut();
        let upto = align_down(st.synced.saturating_sub(inner.config.page_cache_keep_bytes));
        let from = st.cache_dropped_below;
        if upto <= from {
            return;
        }
        st.cache_dropped_below = upto;
        st.stats.cache_dropped_bytes += upto - from;
        let mut ranges = Vec::new();
        let mut base = from - from % seg_size;
        while base < upto {
            // A segment retention deleted meanwhile has no pages left to drop.
            if let Some(file) = st.segments.get(&base).and_then(|s| s.file.clone()) {
                let start = from.max(base) - base;
                let end = upto.min(base + seg_size) - base;
                ranges.push((file, start, end - start));
            }
            base += seg_size;
        }
        ranges
    };
    for (file, pos, len) in ranges {
        file.drop_cached(pos, len).await;
    }
}

/// The segment base holding `pos` and where the write starting at `pos` ends: at `end`, the
/// segment's end or [`FLUSH_WRITE_BYTES_MAX`] further, whichever comes first.
fn write_piece_bounds(pos: u64, end: u64, seg_size: u64) -> (u64, u64) {
    let base = pos - pos % seg_size;
    let piece_end = end
        .min(base + seg_size)
        .min(pos + FLUSH_WRITE_BYTES_MAX as u64);
    (base, piece_end)
}

/// Write one round's bytes in writes of up to [`FLUSH_WRITE_BYTES_MAX`], all in flight
/// together: aligned DMA writes, or page-cache writes of exactly the round's bytes
/// (`Inner::page_cache_writes`). Returns the segments it touched.
async fn write_round<S: Storage>(
    inner: Rc<Inner<S>>,
    start: u64,
    chunk: Bytes,
    prefix: Vec<u8>,
) -> Result<Vec<u64>, RoundError> {
    let seg_size = inner.config.commit_log_segment_bytes;
    let end = start + chunk.len() as u64;
    let w_start = align_down(start);
    assert_eq!(prefix.len() as u64, start - w_start);
    // Every segment file first: a failure to create one (a full disk) must come before any
    // write is issued, so a failed round leaves no write of its own in flight.
    let mut files = Vec::new();
    let mut base = w_start - w_start % seg_size;
    while base < end {
        files.push((base, segment_file(&inner, base).await?));
        base += seg_size;
    }
    // Moved into the first piece (the only one starting before `start`).
    let mut prefix = Some(prefix);
    // Plan the writes: split at segment boundaries and at FLUSH_WRITE_BYTES_MAX. Direct
    // writes cover whole pages from `w_start` (the first rewrites the prefix); page-cache
    // writes cover exactly the round's bytes.
    let mut writes = Vec::new();
    let mut touched = Vec::new();
    let mut pos = if inner.page_cache_writes {
        start
    } else {
        w_start
    };
    while pos < end {
        let (base, piece_end) = write_piece_bounds(pos, end, seg_size);
        let file = files
            .iter()
            .find(|(b, _)| *b == base)
            .map(|(_, f)| Rc::clone(f))
            .expect("every segment of the round was opened above");
        if touched.last() != Some(&base) {
            touched.push(base);
        }
        let body_range = (pos.max(start) - start) as usize..(piece_end - start) as usize;
        let body = chunk.slice(body_range);
        // Issued at once (each piece its own task), awaited below.
        let write = if inner.page_cache_writes {
            glommio::spawn_local(write_cached_piece(file, pos - base, body))
        } else {
            let head = if pos < start {
                prefix.take().unwrap_or_default()
            } else {
                Vec::new()
            };
            glommio::spawn_local(write_piece(file, pos - base, head, body))
        };
        writes.push(write);
        pos = piece_end;
    }
    let n_writes = writes.len() as u64;
    let mut first_error = None;
    for w in writes {
        if let Err(e) = w.await {
            first_error.get_or_insert(RoundError::io("commit log write", &e));
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    inner.state.borrow_mut().stats.log_writes += n_writes;
    Ok(touched)
}

/// Write `head` then `body` at the aligned `pos_in_file` (one DMA write, zero-padded). Both
/// are copied straight into the DMA buffer (no staging copy of the first page's head). A short
/// write is retried (rewriting the whole aligned buffer is idempotent) up to
/// [`SHORT_WRITE_RETRIES_MAX`] times, then reported as an error.
async fn write_piece<F: StorageFile>(
    file: Rc<F>,
    pos_in_file: u64,
    head: Vec<u8>,
    body: Bytes,
) -> std::io::Result<()> {
    let len = head.len() + body.len();
    let aligned = crate::io::align_up(len as u64) as usize;
    for _attempt in 0..=SHORT_WRITE_RETRIES_MAX {
        let mut buf = file.alloc_buf_for_overwrite(aligned);
        let bytes = buf.as_mut();
        bytes[..head.len()].copy_from_slice(&head);
        bytes[head.len()..len].copy_from_slice(&body);
        bytes[len..].fill(0);
        if file.write_at(buf, pos_in_file).await? >= aligned {
            return Ok(());
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::WriteZero,
        format!("short write of {aligned} bytes at {pos_in_file} persisted after retries"),
    ))
}

/// Write `body` at `pos_in_file` through the page cache. A short write continues where it
/// stopped, up to [`SHORT_WRITE_RETRIES_MAX`] more times, then is reported as an error.
async fn write_cached_piece<F: StorageFile>(
    file: Rc<F>,
    pos_in_file: u64,
    body: Bytes,
) -> std::io::Result<()> {
    let mut done = 0;
    for _attempt in 0..=SHORT_WRITE_RETRIES_MAX {
        let n = file
            .write_cached_at(body.slice(done..), pos_in_file + done as u64)
            .await?;
        done += n.min(body.len() - done);
        if done == body.len() {
            return Ok(());
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::WriteZero,
        format!(
            "short page-cache write of {} bytes at {pos_in_file} persisted after retries",
            body.len()
        ),
    ))
}

/// A completed (and, in SYNC_FLUSH, synced) round: raise the ack level, keep its bytes in
/// the memory tail, make its ConsumeQueue entries visible, wake appenders and the zero-fill
/// task, call the arrival listener.
fn publish<S: Storage>(inner: &Inner<S>, round: Round) {
    let Round {
        start,
        chunk,
        arrivals,
        ..
    } = round;
    let end = start + chunk.len() as u64;
    let (level, listener) = {
        let mut st = inner.state.borrow_mut();
        let level = match inner.config.flush_mode {
            FlushMode::Sync => st.synced,
            FlushMode::Async => st.written,
        };
        assert!(level >= end, "round end {end} not covered by level {level}");
        st.visible = st.visible.max(level);
        // Keep the chunk for fresh reads; bound the memory tail.
        if !chunk.is_empty() {
            st.recent_bytes += chunk.len();
            st.recent.push_back((start, chunk));
        }
        while st.recent_bytes > inner.config.tail_cache_bytes && st.recent.len() > 1 {
            if let Some((_, c)) = st.recent.pop_front() {
                st.recent_bytes -= c.len();
            }
        }
        for (q, upto) in &arrivals {
            q.borrow_mut().set_visible(*upto);
        }
        (level, inner.listener.borrow().clone())
    };
    inner.ack.borrow().advance(level);
    inner.zero_fill_wakeup.notify();
    if let Some(listener) = listener {
        for (q, upto) in arrivals {
            let identity = q.borrow().identity.clone();
            if let Some((topic, queue_id)) = identity {
                listener(&topic, queue_id, upto as i64);
            }
        }
    }
}

/// Write dirty ConsumeQueue and index pages (`active`: how much of the active index file),
/// sync them, then write the checkpoint.
async fn persist<S: Storage>(inner: &Rc<Inner<S>>, active: ActivePages) -> Result<(), EngineError> {
    let _permit = inner.maintenance.acquire_permit(1).await;
    let cfg = &inner.config;
    // Snapshot (borrowed): every CQ entry of records below `snapshot_pos` is in this copy.
    let (snapshot_pos, dirty) = {
        let st = inner.state.borrow();
        let mut dirty = Vec::new();
        for (topic, qs) in &st.queues {
            for (qid, q) in qs {
                let q = q.borrow();
                let epf = q.entries_per_file();
                for (first, f) in &q.files {
                    if f.data.len() > f.persisted_bytes {
                        let from = align_down(f.persisted_bytes as u64) as usize;
                        dirty.push((
                            topic.clone(),
                            *qid,
                            *first,
                            epf,
                            from,
                            f.data[from..].to_vec(),
                            f.data.len(),
                        ));
                    }
                }
            }
        }
        (st.write_pos, dirty)
    };
    for (topic, qid, first, _epf, from, bytes, len) in dirty {
        let dir = paths::cq_queue_dir(&cfg.root_dir, &topic, qid);
        inner
            .storage
            .create_dir_all(&dir)
            .map_err(EngineError::io("create queue dir", &dir))?;
        let path = dir.join(crate::offsets::file_name(
            first * crate::limits::CQ_ENTRY_BYTES as u64,
        ));
        let f = inner
            .storage
            .open(&path, true)
            .await
            .map_err(EngineError::io("open consume queue", &path))?;
        crate::io::write_all_aligned(&f, from as u64, &bytes)
            .await
            .map_err(EngineError::io("write consume queue", &path))?;
        f.fdatasync()
            .await
            .map_err(EngineError::io("sync consume queue", &path))?;
        let st = inner.state.borrow();
        if let Some(q) = st.queue(&topic, qid) {
            if let Some(file) = q.borrow_mut().files.get_mut(&first) {
                file.persisted_bytes = file.persisted_bytes.max(len).min(file.data.len());
            }
        }
    }
    let work = {
        let mut st = inner.state.borrow_mut();
        st.index
            .take_persist_work(to_global(cfg.shard_id, snapshot_pos), active)
    };
    let (index_dir, index_bytes) = {
        let st = inner.state.borrow();
        (st.index.dir().to_path_buf(), st.index.file_bytes())
    };
    let sealed = IndexService::write_work(&inner.storage, &index_dir, &work, index_bytes).await?;
    inner.state.borrow_mut().index.finish_persist(&work, sealed);
    let (synced, index_end) = {
        let st = inner.state.borrow();
        // A record boundary: recovery starts scanning at `cq_done`.
        (st.synced_record_end, st.index.durable_upto())
    };
    let done = snapshot_pos.min(synced);
    let ckpt = checkpoint::Checkpoint {
        shard_id: cfg.shard_id,
        log_synced: to_global(cfg.shard_id, synced),
        cq_done: to_global(cfg.shard_id, done),
        index_done: index_end,
        timestamp: now_ms(),
    };
    checkpoint::write(&inner.storage, &cfg.root_dir, &ckpt).await
}

/// One retention pass; returns the number of segments deleted.
async fn clean_expired<S: Storage>(
    inner: &Rc<Inner<S>>,
    input: crate::retention::RetentionInput,
) -> Result<usize, EngineError> {
    let _permit = inner.maintenance.acquire_permit(1).await;
    let cfg = &inner.config;
    let candidates: Vec<(u64, i64)> = {
        let st = inner.state.borrow();
        let active = st.segment_base(st.write_pos, cfg.commit_log_segment_bytes);
        st.segments
            .keys()
            .filter(|b| **b < active && **b + cfg.commit_log_segment_bytes <= st.visible)
            .map(|b| {
                let path = paths::segment_file(&cfg.root_dir, to_global(cfg.shard_id, *b) as u64);
                (*b, inner.storage.modified_ms(&path).unwrap_or(i64::MAX))
            })
            .collect()
    };
    let doomed = crate::retention::segments_to_delete(&cfg.retention, &input, &candidates);
    if doomed.is_empty() {
        return Ok(0);
    }
    let new_min = {
        let mut st = inner.state.borrow_mut();
        for b in &doomed {
            st.segments.remove(b);
        }
        let new_min = st.segments.keys().next().copied().unwrap_or(st.write_pos);
        st.min_local = new_min;
        while st
            .recent
            .front()
            .is_some_and(|(s, c)| s + c.len() as u64 <= new_min)
        {
            if let Some((_, c)) = st.recent.pop_front() {
                st.recent_bytes -= c.len();
            }
        }
        new_min
    };
    for b in &doomed {
        let path = paths::segment_file(&cfg.root_dir, to_global(cfg.shard_id, *b) as u64);
        inner
            .storage
            .remove(&path)
            .await
            .map_err(EngineError::io("remove segment", &path))?;
    }
    // Advance every ConsumeQueue's min consistently, deleting unreachable CQ files.
    let min_global = to_global(cfg.shard_id, new_min);
    let dropped: Vec<(String, i32, u64)> = {
        let st = inner.state.borrow();
        let mut v = Vec::new();
        for (t, qs) in &st.queues {
            for (id, q) in qs {
                for first in q.borrow_mut().advance_min(min_global) {
                    v.push((t.clone(), *id, first));
                }
            }
        }
        v
    };
    for (t, id, first) in dropped {
        let path = paths::cq_queue_dir(&cfg.root_dir, &t, id).join(crate::offsets::file_name(
            first * crate::limits::CQ_ENTRY_BYTES as u64,
        ));
        if inner.storage.exists(&path) {
            inner
                .storage
                .remove(&path)
                .await
                .map_err(EngineError::io("remove consume queue file", &path))?;
        }
    }
    let gone = inner.state.borrow_mut().index.take_files_before(min_global);
    for path in gone {
        inner
            .storage
            .remove(&path)
            .await
            .map_err(EngineError::io("remove index file", &path))?;
    }
    Ok(doomed.len())
}
