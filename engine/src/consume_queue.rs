//! ConsumeQueue of one (topic, queue id): the logical index from queue offset to a record in
//! the CommitLog.
//!
//! Format (protocol.md §6.2): 20-byte entries `(physical offset i64, size i32, tags code i64)`,
//! big-endian, `entries_per_file` per file (300,000), files named by their first entry's *byte*
//! position (index × 20, 20 digits) under `consumequeue/<topic>/<queueId>/`.
//!
//! Invariants:
//! - entries are added as part of the append (no lagging dispatch), so `max` (next offset to
//!   assign) always counts every record appended for this queue;
//! - `min <= visible_max <= max`; only entries below `visible_max` (records whose write
//!   completed per the flush mode) are served, so a reader never sees a record a crash could
//!   take back;
//! - physical offsets strictly increase with the queue offset.
//!
//! The entries live in memory (one `Vec` per file) and are written back to disk by the
//! periodic persist pass; recovery rebuilds anything past the checkpoint from the CommitLog.
//! Lives on the shard's executor; owned by the store's state.

use crate::limits::CQ_ENTRY_BYTES;
use std::collections::BTreeMap;

/// One ConsumeQueue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CqEntry {
    /// Global physical offset of the record.
    pub physical_offset: i64,
    /// Record size in bytes.
    pub size: i32,
    /// Tag hash code (protocol.md §5.6).
    pub tags_code: i64,
}

impl CqEntry {
    fn encode(&self) -> [u8; CQ_ENTRY_BYTES] {
        let mut b = [0u8; CQ_ENTRY_BYTES];
        b[0..8].copy_from_slice(&self.physical_offset.to_be_bytes());
        b[8..12].copy_from_slice(&self.size.to_be_bytes());
        b[12..20].copy_from_slice(&self.tags_code.to_be_bytes());
        b
    }

    fn decode(b: &[u8]) -> CqEntry {
        let mut p = [0u8; 8];
        p.copy_from_slice(&b[0..8]);
        let mut s = [0u8; 4];
        s.copy_from_slice(&b[8..12]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[12..20]);
        CqEntry {
            physical_offset: i64::from_be_bytes(p),
            size: i32::from_be_bytes(s),
            tags_code: i64::from_be_bytes(t),
        }
    }
}

/// Upstream's fill-in entry `(0, Integer.MAX_VALUE, 0)`.
pub const BLANK_ENTRY: CqEntry = CqEntry {
    physical_offset: 0,
    size: i32::MAX,
    tags_code: 0,
};

/// One ConsumeQueue file held in memory.
#[derive(Debug, Default)]
pub(crate) struct CqFile {
    /// Entries from the file's first index, densely (`len / 20` entries).
    pub(crate) data: Vec<u8>,
    /// Bytes of `data` already written to the file on disk.
    pub(crate) persisted_bytes: usize,
}

/// The ConsumeQueue of one (topic, queue id).
#[derive(Debug)]
pub struct ConsumeQueue {
    entries_per_file: u64,
    /// Files by first entry index.
    pub(crate) files: BTreeMap<u64, CqFile>,
    min: u64,
    max: u64,
    visible_max: u64,
    /// (topic, queue id), set by the store, so arrivals can be reported without a lookup.
    pub(crate) identity: Option<(std::rc::Rc<str>, i32)>,
    /// Whether the store's pending-arrivals list already holds this queue.
    pub(crate) arrival_pending: bool,
}

impl ConsumeQueue {
    /// An empty queue whose first entry will have offset `start`.
    pub fn new(entries_per_file: u64, start: u64) -> Self {
        assert!(entries_per_file > 0);
        ConsumeQueue {
            entries_per_file,
            files: BTreeMap::new(),
            min: start,
            max: start,
            visible_max: start,
            identity: None,
            arrival_pending: false,
        }
    }

    /// Rebuild from file contents read from disk: `(first index, bytes)`. Entries stop at the
    /// first all-zero-size entry of the last file (unwritten space); a short trailing entry is
    /// ignored.
    pub fn from_files(entries_per_file: u64, files: Vec<(u64, Vec<u8>)>) -> Self {
        let mut q = ConsumeQueue::new(entries_per_file, 0);
        let mut first = true;
        let mut expected_start = 0;
        for (start, mut bytes) in files {
            if !first && start != expected_start {
                // A gap between files: keep only the later files (older data is unreachable).
                q.files.clear();
                first = true;
            }
            let mut n = bytes.len() / CQ_ENTRY_BYTES;
            n = n.min(entries_per_file as usize);
            let mut used = 0;
            while used < n {
                let e = CqEntry::decode(&bytes[used * CQ_ENTRY_BYTES..(used + 1) * CQ_ENTRY_BYTES]);
                if e.size == 0 {
                    break;
                }
                used += 1;
            }
            bytes.truncate(used * CQ_ENTRY_BYTES);
            if first {
                q.min = start;
                first = false;
            }
            q.max = start + used as u64;
            expected_start = start + entries_per_file;
            q.files.insert(
                start,
                CqFile {
                    persisted_bytes: bytes.len(),
                    data: bytes,
                },
            );
            if (used as u64) < entries_per_file {
                break; // a partial file is the last one
            }
        }
        // Skip the blank padding at the head of a queue that started mid-file.
        while q.min < q.max && q.get(q.min).is_some_and(|e| e == BLANK_ENTRY) {
            q.min += 1;
        }
        q.visible_max = q.max;
        q
    }

    /// First offset that can be read.
    pub fn min_offset(&self) -> u64 {
        self.min
    }
    /// Next offset to assign (counts every appended entry, visible or not).
    pub fn max_offset(&self) -> u64 {
        self.max
    }
    /// Entries below this are durable per the flush mode and served to readers.
    pub fn visible_max(&self) -> u64 {
        self.visible_max
    }

    /// Make entries below `upto` visible (never moves backwards, never past `max`).
    pub fn set_visible(&mut self, upto: u64) {
        assert!(upto <= self.max, "visible {upto} beyond max {}", self.max);
        self.visible_max = self.visible_max.max(upto);
    }

    /// Append an entry; returns its queue offset.
    pub fn append(&mut self, entry: CqEntry) -> u64 {
        if let Some(last) = self.last() {
            assert!(
                entry.physical_offset > last.physical_offset,
                "consume queue physical offsets must increase"
            );
        }
        let idx = self.max;
        let file_start = idx - idx % self.entries_per_file;
        let file = self.files.entry(file_start).or_default();
        // A queue that starts mid-file (after retention or a restart at a later offset) pads
        // the file's head with upstream's blank entries so positions stay `index * 20`.
        while ((file.data.len() / CQ_ENTRY_BYTES) as u64) < idx - file_start {
            file.data.extend_from_slice(&BLANK_ENTRY.encode());
        }
        assert_eq!((file.data.len() / CQ_ENTRY_BYTES) as u64, idx - file_start);
        file.data.extend_from_slice(&entry.encode());
        self.max += 1;
        idx
    }

    /// The entry at `offset`, if `min <= offset < max`.
    pub fn get(&self, offset: u64) -> Option<CqEntry> {
        if offset < self.min || offset >= self.max {
            return None;
        }
        let file_start = offset - offset % self.entries_per_file;
        let file = self.files.get(&file_start)?;
        let at = ((offset - file_start) as usize).checked_mul(CQ_ENTRY_BYTES)?;
        file.data.get(at..at + CQ_ENTRY_BYTES).map(CqEntry::decode)
    }

    /// The last entry, if any.
    pub fn last(&self) -> Option<CqEntry> {
        if self.max == self.min {
            None
        } else {
            self.get(self.max - 1)
        }
    }

    /// Drop every entry whose physical offset is `>= phys` (they point past the recovered log).
    pub fn truncate_from_physical(&mut self, phys: i64) {
        while let Some(last) = self.last() {
            if last.physical_offset < phys {
                break;
            }
            let idx = self.max - 1;
            let file_start = idx - idx % self.entries_per_file;
            if let Some(f) = self.files.get_mut(&file_start) {
                let keep = ((idx - file_start) as usize) * CQ_ENTRY_BYTES;
                f.data.truncate(keep);
                f.persisted_bytes = f.persisted_bytes.min(keep);
                if keep == 0 {
                    self.files.remove(&file_start);
                }
            }
            self.max -= 1;
        }
        self.visible_max = self.visible_max.min(self.max);
    }

    /// Make an empty queue restart at `start` (used when recovery meets the first surviving
    /// record of a queue whose older entries were deleted by retention).
    pub fn reset_empty_at(&mut self, start: u64) {
        assert_eq!(self.min, self.max, "reset of a non-empty queue");
        self.files.clear();
        self.min = start;
        self.max = start;
        self.visible_max = start;
    }

    /// Advance `min` past entries whose record is below `min_physical` (deleted by retention),
    /// dropping files that became wholly unreachable. Returns the first indexes of the files
    /// dropped, so the caller can delete them on disk.
    pub fn advance_min(&mut self, min_physical: i64) -> Vec<u64> {
        // Binary search the first entry with physical offset >= min_physical.
        let (mut lo, mut hi) = (self.min, self.max);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid) {
                Some(e) if e.physical_offset < min_physical => lo = mid + 1,
                _ => hi = mid,
            }
        }
        self.min = lo;
        self.visible_max = self.visible_max.max(lo);
        let mut dropped = Vec::new();
        let keep_from = lo - lo % self.entries_per_file;
        while let Some((&start, _)) = self.files.first_key_value() {
            if start >= keep_from || start + self.entries_per_file > self.max {
                break;
            }
            self.files.remove(&start);
            dropped.push(start);
        }
        dropped
    }

    /// Entries per file (for file naming: the name is `first_index * 20`).
    pub fn entries_per_file(&self) -> u64 {
        self.entries_per_file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(p: i64) -> CqEntry {
        CqEntry {
            physical_offset: p,
            size: 100,
            tags_code: p * 7,
        }
    }

    #[test]
    fn append_get_and_roll_across_files() {
        let mut q = ConsumeQueue::new(3, 0);
        for i in 0..7 {
            assert_eq!(q.append(e(i * 100)), i as u64);
        }
        assert_eq!(q.files.len(), 3);
        assert_eq!(q.get(5), Some(e(500)));
        assert_eq!(q.get(7), None);
        assert_eq!((q.min_offset(), q.max_offset(), q.visible_max()), (0, 7, 0));
        q.set_visible(4);
        assert_eq!(q.visible_max(), 4);
    }

    #[test]
    fn truncate_drops_entries_past_the_log_end() {
        let mut q = ConsumeQueue::new(3, 0);
        for i in 0..7 {
            q.append(e(i * 100));
        }
        q.set_visible(7);
        q.truncate_from_physical(350);
        assert_eq!(q.max_offset(), 4);
        assert_eq!(q.visible_max(), 4);
        assert_eq!(q.last(), Some(e(300)));
        assert_eq!(q.append(e(360)), 4);
    }

    #[test]
    fn from_files_round_trips_and_stops_at_zero_entries() {
        let mut q = ConsumeQueue::new(3, 0);
        for i in 1..=5 {
            q.append(e(i * 100));
        }
        let mut files: Vec<(u64, Vec<u8>)> =
            q.files.iter().map(|(s, f)| (*s, f.data.clone())).collect();
        files[1].1.resize(4096, 0); // page padding on disk
        let r = ConsumeQueue::from_files(3, files);
        assert_eq!((r.min_offset(), r.max_offset(), r.visible_max()), (0, 5, 5));
        assert_eq!(r.get(4), Some(e(500)));
    }

    #[test]
    fn advance_min_skips_deleted_records_and_drops_whole_files() {
        let mut q = ConsumeQueue::new(2, 0);
        for i in 1..=6 {
            q.append(e(i * 100));
        }
        let dropped = q.advance_min(450);
        assert_eq!(q.min_offset(), 4);
        assert_eq!(dropped, vec![0, 2]);
        assert_eq!(q.get(3), None);
        assert_eq!(q.get(4), Some(e(500)));
    }

    #[test]
    fn queue_starting_mid_file_pads_and_reloads() {
        let mut q = ConsumeQueue::new(4, 0);
        q.reset_empty_at(6);
        assert_eq!(q.append(e(100)), 6);
        assert_eq!(q.append(e(200)), 7);
        let files: Vec<(u64, Vec<u8>)> =
            q.files.iter().map(|(s, f)| (*s, f.data.clone())).collect();
        let r = ConsumeQueue::from_files(4, files);
        assert_eq!((r.min_offset(), r.max_offset()), (6, 8));
        assert_eq!(r.get(7), Some(e(200)));
    }
}
