//! Recovery: turn whatever files a previous run left into a consistent store.
//!
//! The CommitLog is the only source of truth. ConsumeQueues and the index are rebuilt from it
//! where they may lag or run ahead. Recovery first loads ConsumeQueue files and index headers,
//! reads the checkpoint and the abort marker, then scans the log *from the scan start* record
//! by record, validating each (magic, TOTALSIZE, BODYCRC, and PHYSICALOFFSET equal to its
//! position, so stale bytes from an earlier timeline cannot pass), re-dispatching each valid
//! record to its ConsumeQueue and the index, until the first position that is not a valid
//! record: that is the log end.
//!
//! | row | condition | decision |
//! |---|---|---|
//! | A `empty` | no segment files | start an empty log at offset 0 |
//! | B `clean` | no abort marker, checkpoint valid | scan from the checkpoint's `cq_done` (normally finds nothing after it); keep every ConsumeQueue entry and index file |
//! | C `crashed` | abort marker present, checkpoint valid | scan from `min(cq_done, begin of the newest index file)`; the newest index file is deleted and rebuilt (its pages may be torn) |
//! | D `no-checkpoint` | checkpoint missing or torn (CRC) but segments exist | scan from the first segment; every ConsumeQueue entry is dropped and rebuilt; all index files are deleted and rebuilt |
//! | E `torn-tail` | the scan meets bytes that are not a valid record (bad magic, impossible length, CRC mismatch, wrong PHYSICALOFFSET, cut short) | the log ends there: the page holding the end is rewritten with zeros after it, the rest of the segment re-zeroed (truncate + preallocate), later segments deleted; never served |
//! | F `blank` | a BLANK record (end-of-file filler) | continue at the next segment |
//! | G `cq-ahead` | ConsumeQueue entries at or past the scan start | dropped before the scan, re-created from the log up to its end (entries past the end stay dropped) |
//! | H `cq-behind` | valid records past the ConsumeQueue's last entry | re-dispatched by the scan |
//! | I `gap` | segment file names not contiguous, or of another shard | refuse to start (`EngineError::Corrupt`) |
//! | J `queue-offset-mismatch` | a valid record's QUEUEOFFSET differs from its queue's next offset (queue not empty) | refuse to start (`EngineError::Corrupt`) |
//!
//! After the scan, ConsumeQueue files on disk are cut to the entries kept (row G), the scanned
//! segments are synced, and a checkpoint matching the recovered state is written (`cq_done` =
//! scan start, `log_synced` = log end), so a crash before the first persist pass cannot make
//! the next recovery start past a log end that moved back (row E below an old checkpoint).
//!
//! Tests: `tests/recovery.rs` has one or more per row and `recovery_table_rows_all_have_tests`,
//! which checks that every row of this table names a test that exists (its `ROW_TESTS` list);
//! `tests/property.rs` exercises all of them in random interleavings with crashes.

use crate::checkpoint::{self, Checkpoint};
use crate::config::StoreConfig;
use crate::consume_queue::{ConsumeQueue, CqEntry};
use crate::error::EngineError;
use crate::index::{IndexHeader, IndexService};
use crate::io::{align_down, align_up, Storage, StorageFile};
use crate::limits::{CQ_ENTRY_BYTES, INDEX_HEADER_BYTES};
use crate::offsets::{parse_file_name, split_global, to_global};
use crate::paths;
use crate::store::{index_keys, tags_code_of, Segment, State};
use rmq_protocol::message::record::{peek_head, RecordHead, RecordView};
use rmq_protocol::message::sysflag::message as sysflag;
use std::rc::Rc;

/// Which row of the table applied (for tests and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryCase {
    /// Row A.
    Empty,
    /// Row B.
    Clean,
    /// Row C.
    Crashed,
    /// Row D.
    NoCheckpoint,
}

/// What recovery found, for tests and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The table row.
    pub case: RecoveryCase,
    /// Local offset where the scan started.
    pub scan_start: u64,
    /// Local offset of the log end.
    pub log_end: u64,
    /// Whether the scan stopped at bytes that were not zeros (row E).
    pub torn_tail: bool,
    /// Records re-dispatched by the scan.
    pub records_scanned: u64,
}

thread_local! {
    static LAST_REPORT: std::cell::Cell<Option<RecoveryReport>> = const { std::cell::Cell::new(None) };
}

/// The report of the last recovery on this thread (each shard runs on its own thread).
pub fn last_report() -> Option<RecoveryReport> {
    LAST_REPORT.with(std::cell::Cell::get)
}

fn corrupt(msg: String) -> EngineError {
    EngineError::Corrupt(msg)
}

/// Recover the store; returns the state the store starts from.
pub(crate) async fn recover<S: Storage>(
    cfg: &StoreConfig,
    storage: &S,
) -> Result<State<S::File>, EngineError> {
    let root = &cfg.root_dir;
    let seg_size = cfg.commit_log_segment_bytes;
    for dir in [
        paths::commit_log_dir(root),
        paths::cq_dir(root),
        paths::index_dir(root),
    ] {
        storage
            .create_dir_all(&dir)
            .map_err(EngineError::io("create dir", &dir))?;
    }
    let crashed = storage.exists(&paths::abort_file(root));
    let ckpt = checkpoint::read(storage, root)
        .await?
        .filter(|c| c.shard_id == cfg.shard_id);

    // Segments: contiguous, of this shard (row I).
    let mut bases = Vec::new();
    let log_dir = paths::commit_log_dir(root);
    for name in storage
        .list_dir(&log_dir)
        .map_err(EngineError::io("list", &log_dir))?
    {
        let Some(global) = parse_file_name(&name) else {
            continue;
        };
        let (shard, local) = split_global(global as i64)
            .ok_or_else(|| corrupt(format!("segment name {name} out of range")))?;
        if shard != cfg.shard_id {
            return Err(corrupt(format!("segment {name} belongs to shard {shard}")));
        }
        if local % seg_size != 0 {
            return Err(corrupt(format!(
                "segment {name} is not at a segment boundary"
            )));
        }
        bases.push(local);
    }
    bases.sort_unstable();
    for w in bases.windows(2) {
        if w[1] != w[0] + seg_size {
            return Err(corrupt(format!(
                "gap between segments {} and {}",
                w[0], w[1]
            )));
        }
    }

    let mut index = IndexService::new(
        paths::index_dir(root),
        cfg.index_hash_slots,
        cfg.index_entries,
    );
    let mut state = State::new(
        IndexService::new(
            paths::index_dir(root),
            cfg.index_hash_slots,
            cfg.index_entries,
        ),
        cfg.tail_cache_bytes,
    );

    if bases.is_empty() {
        // Row A. Leftover queue and index files without a log describe nothing.
        storage
            .remove_dir_all(&paths::cq_dir(root))
            .map_err(EngineError::io("clear", paths::cq_dir(root)))?;
        storage
            .remove_dir_all(&paths::index_dir(root))
            .map_err(EngineError::io("clear", paths::index_dir(root)))?;
        let start = ckpt
            .and_then(|c| split_global(c.log_synced))
            .map_or(0, |(_, l)| l - l % seg_size);
        state.min_local = start;
        state.start_at(start);
        LAST_REPORT.with(|r| {
            r.set(Some(RecoveryReport {
                case: RecoveryCase::Empty,
                scan_start: start,
                log_end: start,
                torn_tail: false,
                records_scanned: 0,
            }));
        });
        return Ok(state);
    }
    let first = bases[0];
    let last_end = bases[bases.len() - 1] + seg_size;
    for b in &bases {
        let path = paths::segment_file(root, to_global(cfg.shard_id, *b) as u64);
        let f = storage
            .open(&path, false)
            .await
            .map_err(EngineError::io("open segment", &path))?;
        state.segments.insert(
            *b,
            Segment {
                file: Some(Rc::new(f)),
            },
        );
    }

    let case = match (ckpt, crashed) {
        (None, _) => RecoveryCase::NoCheckpoint,
        (Some(_), false) => RecoveryCase::Clean,
        (Some(_), true) => RecoveryCase::Crashed,
    };

    // Index files: keep the sealed ones; rebuild the suspect newest one after a crash.
    let index_dir = paths::index_dir(root);
    let mut names: Vec<String> = storage
        .list_dir(&index_dir)
        .map_err(EngineError::io("list", &index_dir))?
        .into_iter()
        .filter(|n| n.len() == 17 && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    names.sort();
    let mut index_from_local = first; // records at or past this get indexed by the scan
    let mut index_scan_start = None;
    if case == RecoveryCase::NoCheckpoint {
        for n in names.drain(..) {
            let p = index_dir.join(n);
            storage
                .remove(&p)
                .await
                .map_err(EngineError::io("remove index", &p))?;
        }
        index_scan_start = Some(first);
    } else if case == RecoveryCase::Crashed {
        if let Some(newest) = names.pop() {
            let p = index_dir.join(&newest);
            let header = read_index_header(storage, &p).await;
            storage
                .remove(&p)
                .await
                .map_err(EngineError::io("remove index", &p))?;
            let begin = header
                .and_then(|h| split_global(h.begin_phy))
                .map(|(_, l)| l)
                .filter(|l| *l >= first);
            index_scan_start = Some(begin.unwrap_or(first));
        }
    }
    let mut kept_end_phy: Option<i64> = None;
    for n in &names {
        let p = index_dir.join(n);
        let f = storage
            .open(&p, false)
            .await
            .map_err(EngineError::io("open index", &p))?;
        let hb = f
            .read_at(0, INDEX_HEADER_BYTES)
            .await
            .map_err(EngineError::io("read index", &p))?;
        let Some(h) = IndexHeader::decode(&hb) else {
            continue;
        };
        kept_end_phy = Some(kept_end_phy.map_or(h.end_phy, |e| e.max(h.end_phy)));
        index.add_sealed(p, h, Rc::new(f));
    }
    if let Some((_, l)) = kept_end_phy.and_then(split_global) {
        index_from_local = index_from_local.max(l + 1);
    }

    // ConsumeQueues.
    load_queues(cfg, storage, &mut state).await?;

    // Where the scan starts.
    let ckpt_local = |g: i64| split_global(g).map_or(first, |(_, l)| l);
    let mut scan_start = match ckpt {
        Some(Checkpoint { cq_done, .. }) => ckpt_local(cq_done),
        None => first,
    };
    if let Some(s) = index_scan_start {
        scan_start = scan_start.min(s);
    }
    scan_start = scan_start.clamp(first, last_end);
    if case == RecoveryCase::NoCheckpoint {
        scan_start = first;
    }

    // Row G: drop ConsumeQueue entries at or past the scan start; the scan re-creates them.
    // The files on disk are cut to match at once: stale entries left past what the next
    // persist rewrites would otherwise be loaded again later, pointing at records of a
    // different timeline.
    let scan_start_global = to_global(cfg.shard_id, scan_start);
    let mut cut_files = Vec::new();
    for (topic, qs) in &state.queues {
        for (qid, q) in qs {
            let mut q = q.borrow_mut();
            let before: Vec<(u64, usize)> = q
                .files
                .iter()
                .map(|(f, d)| (*f, d.persisted_bytes))
                .collect();
            q.truncate_from_physical(scan_start_global);
            for (first, len) in before {
                let now = q.files.get(&first).map(|d| d.persisted_bytes);
                if now != Some(len) {
                    cut_files.push((topic.clone(), *qid, first, now));
                }
            }
        }
    }
    for (topic, qid, first, keep) in cut_files {
        let p = paths::cq_queue_dir(root, &topic, qid)
            .join(crate::offsets::file_name(first * CQ_ENTRY_BYTES as u64));
        match keep {
            None => storage
                .remove(&p)
                .await
                .map_err(EngineError::io("remove stale consume queue", &p))?,
            Some(len) => {
                let f = storage
                    .open(&p, false)
                    .await
                    .map_err(EngineError::io("open consume queue", &p))?;
                f.truncate(len as u64)
                    .await
                    .map_err(EngineError::io("cut stale consume queue", &p))?;
                f.fdatasync()
                    .await
                    .map_err(EngineError::io("sync consume queue", &p))?;
            }
        }
    }

    // Scan.
    let scan = scan_log(
        cfg,
        &mut state,
        scan_start,
        last_end,
        index_from_local,
        &mut index,
    )
    .await?;
    let end = scan.end;

    // Row E: make everything past the end zeros, and drop later segments.
    let end_base = end - end % seg_size;
    let later: Vec<u64> = state
        .segments
        .range(end_base + 1..)
        .map(|(b, _)| *b)
        .collect();
    // When the end is exactly a segment boundary, the segment starting there may not exist.
    for b in later {
        if b > end_base {
            state.segments.remove(&b);
            let p = paths::segment_file(root, to_global(cfg.shard_id, b) as u64);
            storage
                .remove(&p)
                .await
                .map_err(EngineError::io("remove segment", &p))?;
        }
    }
    let mut partial = Vec::new();
    if let Some(file) = state.segments.get(&end_base).and_then(|s| s.file.clone()) {
        let in_file = end - end_base;
        let page = align_down(in_file);
        if in_file > page {
            let b = crate::io::read_exact(&*file, page, (in_file - page) as usize)
                .await
                .map_err(EngineError::io("read tail page", "commitlog"))?;
            partial = b.to_vec();
        }
        let p = paths::segment_file(root, to_global(cfg.shard_id, end_base) as u64);
        crate::io::write_all_aligned(&*file, page, &partial)
            .await
            .map_err(EngineError::io("rewrite tail page", &p))?;
        file.truncate(align_up(in_file).max(page))
            .await
            .map_err(EngineError::io("truncate segment", &p))?;
        file.pre_allocate(seg_size)
            .await
            .map_err(EngineError::io("preallocate segment", &p))?;
        file.fdatasync()
            .await
            .map_err(EngineError::io("sync segment", &p))?;
    }
    // Everything the scan accepted is synced before anything builds on it (after `kill -9`
    // it may have been written but never synced).
    for (b, seg) in state
        .segments
        .range(scan_start - scan_start % seg_size..end_base)
    {
        if let Some(f) = &seg.file {
            let p = paths::segment_file(root, to_global(cfg.shard_id, *b) as u64);
            f.fdatasync()
                .await
                .map_err(EngineError::io("sync segment", &p))?;
        }
    }
    // A checkpoint that matches the recovered state, so a crash before the first persist
    // pass cannot start the next recovery past the log end (row D/E after a torn tail below
    // the old checkpoint): ConsumeQueue entries on disk cover exactly the records below
    // `scan_start`, index entries at most that, and the log is synced up to its end.
    let previous_index_done = ckpt.map_or(i64::MAX, |c| c.index_done);
    checkpoint::write(
        storage,
        root,
        &Checkpoint {
            shard_id: cfg.shard_id,
            log_synced: to_global(cfg.shard_id, end),
            cq_done: scan_start_global,
            index_done: previous_index_done.min(scan_start_global),
            timestamp: crate::store::now_ms(),
        },
    )
    .await?;
    state.partial_page = partial;
    state.min_local = first;
    state.start_at(end);
    let min_global = to_global(cfg.shard_id, first);
    for qs in state.queues.values() {
        for q in qs.values() {
            let mut q = q.borrow_mut();
            q.advance_min(min_global);
            let max = q.max_offset();
            q.set_visible(max);
        }
    }
    // Entries re-created by the scan are in memory only until the next persist pass.
    let durable_from = if case == RecoveryCase::Clean {
        end
    } else {
        scan_start
    };
    index.set_durable_upto(to_global(cfg.shard_id, durable_from));
    state.index = index;
    LAST_REPORT.with(|r| {
        r.set(Some(RecoveryReport {
            case,
            scan_start,
            log_end: end,
            torn_tail: scan.torn,
            records_scanned: scan.records,
        }));
    });
    Ok(state)
}

async fn read_index_header<S: Storage>(storage: &S, p: &std::path::Path) -> Option<IndexHeader> {
    let f = storage.open(p, false).await.ok()?;
    let b = f.read_at(0, INDEX_HEADER_BYTES).await.ok()?;
    IndexHeader::decode(&b).filter(|h| h.index_count >= 1)
}

async fn load_queues<S: Storage>(
    cfg: &StoreConfig,
    storage: &S,
    state: &mut State<S::File>,
) -> Result<(), EngineError> {
    let cq_root = paths::cq_dir(&cfg.root_dir);
    for topic in storage
        .list_dir(&cq_root)
        .map_err(EngineError::io("list", &cq_root))?
    {
        let tdir = cq_root.join(&topic);
        for qname in storage
            .list_dir(&tdir)
            .map_err(EngineError::io("list", &tdir))?
        {
            let Ok(qid) = qname.parse::<i32>() else {
                continue;
            };
            let qdir = tdir.join(&qname);
            let mut files = Vec::new();
            for fname in storage
                .list_dir(&qdir)
                .map_err(EngineError::io("list", &qdir))?
            {
                let Some(byte_start) = parse_file_name(&fname) else {
                    continue;
                };
                if byte_start % CQ_ENTRY_BYTES as u64 != 0 {
                    continue;
                }
                let p = qdir.join(&fname);
                let f = storage
                    .open(&p, false)
                    .await
                    .map_err(EngineError::io("open cq", &p))?;
                let size = f.size().await.map_err(EngineError::io("stat cq", &p))?;
                let want = (cfg.cq_entries_per_file as usize * CQ_ENTRY_BYTES).min(size as usize);
                let b = f
                    .read_at(0, want)
                    .await
                    .map_err(EngineError::io("read cq", &p))?;
                files.push((byte_start / CQ_ENTRY_BYTES as u64, b.to_vec()));
            }
            files.sort_by_key(|(s, _)| *s);
            let mut q = ConsumeQueue::from_files(cfg.cq_entries_per_file, files);
            q.identity = Some((Rc::from(topic.as_str()), qid));
            state
                .queues
                .entry(topic.clone())
                .or_default()
                .insert(qid, Rc::new(std::cell::RefCell::new(q)));
        }
    }
    Ok(())
}

struct ScanOutcome {
    end: u64,
    torn: bool,
    records: u64,
}

/// Validate and re-dispatch records from `start` until the first invalid position.
async fn scan_log<F: StorageFile>(
    cfg: &StoreConfig,
    state: &mut State<F>,
    start: u64,
    last_end: u64,
    index_from: u64,
    index: &mut IndexService<F>,
) -> Result<ScanOutcome, EngineError> {
    let seg_size = cfg.commit_log_segment_bytes;
    let window = (cfg.max_message_body_bytes + 64 * 1024 + (1 << 20)) as u64;
    let mut pos = start;
    let mut records = 0u64;
    let mut buf = crate::io::LogBytes::Shared(bytes::Bytes::new());
    let mut buf_start = 0u64;
    loop {
        if pos >= last_end {
            return Ok(ScanOutcome {
                end: pos,
                torn: false,
                records,
            });
        }
        let base = pos - pos % seg_size;
        let Some(file) = state.segments.get(&base).and_then(|s| s.file.clone()) else {
            return Ok(ScanOutcome {
                end: pos,
                torn: false,
                records,
            });
        };
        // Make sure `buf` holds at least the head at `pos`, refilling by window.
        let need_refill = pos < buf_start || pos + 8 > buf_start + buf.len() as u64;
        if need_refill {
            let len = window.min(base + seg_size - pos) as usize;
            buf = file
                .read_at(pos - base, len)
                .await
                .map_err(EngineError::io("read segment", "commitlog"))?;
            buf_start = pos;
        }
        let at = (pos - buf_start) as usize;
        let head = &buf[at..];
        if head.len() < 8 || head[..8].iter().all(|b| *b == 0) {
            // Zeros: nothing was ever written here.
            return Ok(ScanOutcome {
                end: pos,
                torn: head.len() >= 8 && has_nonzero_after(&buf[at..]),
                records,
            });
        }
        let total = match peek_head(head) {
            Ok(Some(RecordHead::Blank { total_size })) => {
                // Row F: the filler must run exactly to the end of the segment.
                if pos + total_size as u64 != base + seg_size {
                    return Ok(ScanOutcome {
                        end: pos,
                        torn: true,
                        records,
                    });
                }
                pos = base + seg_size;
                continue;
            }
            Ok(Some(RecordHead::Message { total_size })) => total_size,
            _ => {
                return Ok(ScanOutcome {
                    end: pos,
                    torn: true,
                    records,
                })
            }
        };
        if pos + total as u64 > base + seg_size {
            return Ok(ScanOutcome {
                end: pos,
                torn: true,
                records,
            });
        }
        if at + total > buf.len() {
            // Record crosses the window: re-read from its start.
            buf = file
                .read_at(pos - base, window.min(base + seg_size - pos) as usize)
                .await
                .map_err(EngineError::io("read segment", "commitlog"))?;
            buf_start = pos;
            if total > buf.len() {
                return Ok(ScanOutcome {
                    end: pos,
                    torn: true,
                    records,
                });
            }
            continue;
        }
        let bytes = &buf[at..at + total];
        let phys = to_global(cfg.shard_id, pos);
        let view = match RecordView::parse(bytes) {
            Ok(v) if v.crc_matches() && v.physical_offset() == phys && v.total_size() == total => v,
            _ => {
                return Ok(ScanOutcome {
                    end: pos,
                    torn: true,
                    records,
                })
            }
        };
        dispatch(cfg, state, &view, phys, pos >= index_from, index)?;
        records += 1;
        pos += total as u64;
    }
}

fn has_nonzero_after(b: &[u8]) -> bool {
    b.iter().any(|x| *x != 0)
}

fn dispatch<F: StorageFile>(
    cfg: &StoreConfig,
    state: &mut State<F>,
    view: &RecordView<'_>,
    phys: i64,
    do_index: bool,
    index: &mut IndexService<F>,
) -> Result<(), EngineError> {
    let sys = view.sys_flag();
    let tx = sys & sysflag::TRANSACTION_TYPE_MASK;
    if tx != sysflag::TRANSACTION_PREPARED_TYPE && tx != sysflag::TRANSACTION_ROLLBACK_TYPE {
        let q = state.queue_or_create(view.topic(), view.queue_id(), cfg.cq_entries_per_file);
        let mut q = q.borrow_mut();
        let qo = u64::try_from(view.queue_offset())
            .map_err(|_| corrupt(format!("negative queue offset at {phys}")))?;
        if q.min_offset() == q.max_offset() && qo != q.max_offset() {
            q.reset_empty_at(qo);
        }
        if qo != q.max_offset() {
            // Row J.
            return Err(corrupt(format!(
                "record at {phys} of {}:{} has queue offset {qo}, queue expects {}",
                view.topic(),
                view.queue_id(),
                q.max_offset()
            )));
        }
        q.append(CqEntry {
            physical_offset: phys,
            size: view.total_size() as i32,
            tags_code: tags_code_of(view.properties()),
        });
    }
    if cfg.index_enabled && do_index && tx != sysflag::TRANSACTION_ROLLBACK_TYPE {
        let ts = view.store_timestamp();
        index_keys(view.topic(), view.properties(), |k| index.put(k, phys, ts));
    }
    Ok(())
}
