//! IndexFile: message keys and unique keys -> physical offsets, for QUERY_MESSAGE.
//!
//! Format (protocol.md §6.3, upstream-compatible): a 40-byte header (begin/end timestamp,
//! begin/end physical offset, used slot count, index count starting at 1), `slots` 4-byte hash
//! slots holding the newest entry number for that hash, then 20-byte entries
//! `(key hash, physical offset, seconds since begin, previous entry number)`. Files live in
//! `index/` named `yyyyMMddHHmmssSSS` (local time of the first entry) and roll when full.
//!
//! The *active* file is an in-memory image written back (dirty pages only) by the persist
//! pass; a full file is written completely, synced, and from then on *sealed*: queried with
//! small reads from disk, never held in memory. At most one active image exists, so memory is
//! bounded by one file's slots plus its used entries.
//! Invariant: entries are added in physical-offset order, so `end_phy` is the newest indexed
//! record. Recovery (see [`crate::recovery`]) deletes an active file left by a crash and
//! re-indexes from the CommitLog, because its pages may be torn.
//! Lives on the shard's executor, inside the store's state.

use crate::error::EngineError;
use crate::io::{align_down, Storage, StorageFile};
use crate::limits::{INDEX_ENTRY_BYTES, INDEX_HEADER_BYTES, INDEX_SLOT_BYTES};
use rmq_protocol::message::tag::java_string_hash;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// The 40-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IndexHeader {
    /// Store time of the first entry (ms).
    pub begin_ts: i64,
    /// Store time of the last entry (ms).
    pub end_ts: i64,
    /// Physical offset of the first entry.
    pub begin_phy: i64,
    /// Physical offset of the last entry.
    pub end_phy: i64,
    /// Slots in use.
    pub slot_count: i32,
    /// Next entry number (starts at 1).
    pub index_count: i32,
}

impl IndexHeader {
    fn encode(&self, out: &mut [u8]) {
        out[0..8].copy_from_slice(&self.begin_ts.to_be_bytes());
        out[8..16].copy_from_slice(&self.end_ts.to_be_bytes());
        out[16..24].copy_from_slice(&self.begin_phy.to_be_bytes());
        out[24..32].copy_from_slice(&self.end_phy.to_be_bytes());
        out[32..36].copy_from_slice(&self.slot_count.to_be_bytes());
        out[36..40].copy_from_slice(&self.index_count.to_be_bytes());
    }

    /// Decode from at least 40 bytes.
    pub fn decode(b: &[u8]) -> Option<IndexHeader> {
        if b.len() < INDEX_HEADER_BYTES {
            return None;
        }
        Some(IndexHeader {
            begin_ts: be_i64(b, 0),
            end_ts: be_i64(b, 8),
            begin_phy: be_i64(b, 16),
            end_phy: be_i64(b, 24),
            slot_count: be_i32(b, 32),
            index_count: be_i32(b, 36),
        })
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(x)
}

/// `abs(String.hashCode(key))`, with `Integer.MIN_VALUE` mapped to 0 (upstream).
pub fn key_hash(key: &str) -> i32 {
    let h = java_string_hash(key);
    if h == i32::MIN {
        0
    } else {
        h.abs()
    }
}

/// Geometry shared by all files of one service.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    slots: u32,
    max_entries: u32,
}

impl Geometry {
    fn slot_pos(self, hash: i32) -> usize {
        INDEX_HEADER_BYTES + (hash as u32 % self.slots) as usize * INDEX_SLOT_BYTES
    }
    fn entry_pos(self, n: u32) -> usize {
        INDEX_HEADER_BYTES + self.slots as usize * INDEX_SLOT_BYTES + n as usize * INDEX_ENTRY_BYTES
    }
    fn file_bytes(self) -> u64 {
        self.entry_pos(self.max_entries) as u64
    }
}

/// The active (in-memory) file.
#[derive(Debug)]
struct ActiveIndex {
    name: String,
    header: IndexHeader,
    /// Header + slots + entries `0..index_count` (entry 0 is the unused sentinel).
    image: Vec<u8>,
    dirty_pages: BTreeSet<u64>,
    persisted_len: usize,
}

/// A full file on disk, queried with small reads.
#[derive(Debug)]
pub struct SealedIndex<F> {
    path: PathBuf,
    header: IndexHeader,
    geometry_slots: u32,
    file: Rc<F>,
}

/// Keys to offsets for one shard.
#[derive(Debug)]
pub struct IndexService<F> {
    dir: PathBuf,
    geo: Geometry,
    active: Option<ActiveIndex>,
    /// Full images waiting for the persist pass to write and seal them.
    sealing: Vec<ActiveIndex>,
    /// Sealed files, oldest first.
    sealed: Vec<Rc<SealedIndex<F>>>,
    /// Every record below this global offset has its keys in a synced file (or none).
    durable_upto: i64,
}

/// Format `ms` as upstream's index file name `yyyyMMddHHmmssSSS` in local time.
pub fn file_name_for(ms: i64) -> String {
    let secs = ms.div_euclid(1000) as libc::time_t;
    let millis = ms.rem_euclid(1000);
    // SAFETY: `tm` is a plain C struct (all-zero is valid); localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
    if !ok {
        return format!("{ms:017}");
    }
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{millis:03}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    )
}

/// One file's writes: (file name, [(position, bytes)], is_sealing, header, full length).
type FileWork = (String, Vec<(u64, Vec<u8>)>, bool, IndexHeader, usize);

/// Work taken out of the service for one persist pass (so no borrow is held across I/O).
pub struct PersistWork {
    files: Vec<FileWork>,
    durable_after: i64,
}

/// How much of the active file a persist pass writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivePages {
    /// Every dirty page and the new entries: at a clean stop, or when asked to persist.
    All,
    /// The first page only (header: the file's begin offset and time, which crash recovery
    /// reads to know where to re-index from). The periodic pass writes only this, because
    /// recovery after a crash deletes the active file and rebuilds it from the CommitLog
    /// anyway; writing its hash-slot pages every second cost thousands of scattered 4 KiB
    /// writes per second under load (keys hash to random slots).
    HeaderOnly,
}

impl<F: StorageFile> IndexService<F> {
    /// An empty service writing into `dir`.
    pub fn new(dir: PathBuf, slots: u32, max_entries: u32) -> Self {
        IndexService {
            dir,
            geo: Geometry { slots, max_entries },
            active: None,
            sealing: Vec::new(),
            sealed: Vec::new(),
            durable_upto: 0,
        }
    }

    /// Add a sealed file found at startup.
    pub(crate) fn add_sealed(&mut self, path: PathBuf, header: IndexHeader, file: Rc<F>) {
        self.sealed.push(Rc::new(SealedIndex {
            path,
            header,
            geometry_slots: self.geo.slots,
            file,
        }));
    }

    /// Set the durable watermark after recovery.
    pub(crate) fn set_durable_upto(&mut self, v: i64) {
        self.durable_upto = v;
    }

    /// Every record below this global offset is indexed in a synced file.
    pub fn durable_upto(&self) -> i64 {
        self.durable_upto
    }

    /// Sealed files as they are on disk: (path, header), oldest first.
    pub fn sealed_headers(&self) -> Vec<(PathBuf, IndexHeader)> {
        self.sealed
            .iter()
            .map(|s| (s.path.clone(), s.header))
            .collect()
    }

    /// (end timestamp, end physical offset) of the newest entry.
    pub fn last_update(&self) -> (i64, i64) {
        let h = self
            .active
            .as_ref()
            .map(|a| a.header)
            .or_else(|| self.sealing.last().map(|a| a.header))
            .or_else(|| self.sealed.last().map(|s| s.header))
            .unwrap_or_default();
        (h.end_ts, h.end_phy)
    }

    fn names_in_use(&self, name: &str) -> bool {
        self.active.as_ref().is_some_and(|a| a.name == name)
            || self.sealing.iter().any(|a| a.name == name)
            || self
                .sealed
                .iter()
                .any(|s| s.path.file_name().and_then(|n| n.to_str()) == Some(name))
    }

    /// Index `key` for the record at `phys` stored at `store_ts`.
    pub fn put(&mut self, key: &str, phys: i64, store_ts: i64) {
        if self
            .active
            .as_ref()
            .is_some_and(|a| a.header.index_count as u32 >= self.geo.max_entries)
        {
            let full = self.active.take().expect("checked above");
            self.sealing.push(full);
        }
        if self.active.is_none() {
            let mut ms = store_ts;
            let mut name = file_name_for(ms);
            while self.names_in_use(&name) {
                ms += 1;
                name = file_name_for(ms);
            }
            let mut image = vec![0u8; self.geo.entry_pos(1)];
            let header = IndexHeader {
                begin_ts: store_ts,
                end_ts: store_ts,
                begin_phy: phys,
                end_phy: phys,
                slot_count: 0,
                index_count: 1,
            };
            header.encode(&mut image);
            self.active = Some(ActiveIndex {
                name,
                header,
                image,
                dirty_pages: BTreeSet::new(),
                persisted_len: 0,
            });
        }
        let geo = self.geo;
        let a = self.active.as_mut().expect("created above");
        let hash = key_hash(key);
        let slot_pos = geo.slot_pos(hash);
        let prev = be_i32(&a.image, slot_pos);
        let prev = if prev <= 0 || prev >= a.header.index_count {
            0
        } else {
            prev
        };
        if prev == 0 {
            a.header.slot_count += 1;
        }
        let diff = ((store_ts - a.header.begin_ts) / 1000).clamp(0, i64::from(i32::MAX)) as i32;
        let n = a.header.index_count;
        assert_eq!(a.image.len(), geo.entry_pos(n as u32));
        a.image.extend_from_slice(&hash.to_be_bytes());
        a.image.extend_from_slice(&phys.to_be_bytes());
        a.image.extend_from_slice(&diff.to_be_bytes());
        a.image.extend_from_slice(&prev.to_be_bytes());
        a.image[slot_pos..slot_pos + 4].copy_from_slice(&n.to_be_bytes());
        a.dirty_pages.insert(align_down(slot_pos as u64));
        a.header.index_count += 1;
        a.header.end_ts = store_ts;
        a.header.end_phy = phys;
        let h = a.header;
        h.encode(&mut a.image);
    }

    /// Query the in-memory files (active and sealing), newest first.
    pub fn query_active(&self, key: &str, max: usize, begin: i64, end: i64) -> Vec<i64> {
        let mut out = Vec::new();
        for a in self.active.iter().chain(self.sealing.iter().rev()) {
            if out.len() >= max {
                break;
            }
            if a.header.end_ts < begin || a.header.begin_ts > end {
                continue;
            }
            walk(
                self.geo.slots,
                &a.header,
                key,
                max - out.len(),
                begin,
                end,
                &mut out,
                |pos, len| a.image.get(pos..pos + len).map(<[u8]>::to_vec),
            );
        }
        out
    }

    /// Sealed files whose time range overlaps `[begin, end]`, newest first.
    pub fn sealed_files(&self, begin: i64, end: i64) -> Vec<Rc<SealedIndex<F>>> {
        self.sealed
            .iter()
            .rev()
            .filter(|s| s.header.end_ts >= begin && s.header.begin_ts <= end)
            .cloned()
            .collect()
    }

    /// Copy out what the persist pass must write; `write_pos_global` is the log position
    /// every index entry made so far is below. Files being sealed are always written whole;
    /// of the active file, `active` says how much (see [`ActivePages`]).
    pub fn take_persist_work(&mut self, write_pos_global: i64, active: ActivePages) -> PersistWork {
        let mut files = Vec::new();
        let geo = self.geo;
        for a in self.sealing.iter_mut() {
            files.push((
                a.name.clone(),
                vec![(0, a.image.clone())],
                true,
                a.header,
                a.image.len(),
            ));
            a.dirty_pages.clear();
        }
        if active == ActivePages::HeaderOnly {
            if let Some(a) = self.active.as_ref() {
                let end = crate::io::IO_ALIGNMENT_BYTES.min(a.image.len());
                // Length 0: nothing of the file counts as persisted by this pass.
                files.push((
                    a.name.clone(),
                    vec![(0, a.image[..end].to_vec())],
                    false,
                    a.header,
                    0,
                ));
            }
            return PersistWork {
                files,
                // The active file's entries are not written: the index is not durable further.
                durable_after: self.durable_upto,
            };
        }
        if let Some(a) = self.active.as_mut() {
            let mut parts = Vec::new();
            // The header page, every dirty slot page, and the entries not yet written.
            let mut pages: BTreeSet<u64> = std::mem::take(&mut a.dirty_pages);
            pages.insert(0);
            let entries_from = align_down(a.persisted_len.max(geo.entry_pos(0)) as u64);
            for p in pages {
                if p >= entries_from {
                    continue;
                }
                let end = (p as usize + crate::io::IO_ALIGNMENT_BYTES).min(a.image.len());
                parts.push((p, a.image[p as usize..end].to_vec()));
            }
            parts.push((entries_from, a.image[entries_from as usize..].to_vec()));
            files.push((a.name.clone(), parts, false, a.header, a.image.len()));
        }
        PersistWork {
            files,
            durable_after: write_pos_global,
        }
    }

    /// Write the work out (no borrow of the service held). Returns sealed files opened.
    pub async fn write_work<S: Storage<File = F>>(
        storage: &S,
        dir: &Path,
        work: &PersistWork,
        geo_bytes: u64,
    ) -> Result<Vec<(String, IndexHeader, Rc<F>)>, EngineError> {
        storage
            .create_dir_all(dir)
            .map_err(EngineError::io("create index dir", dir))?;
        let mut sealed = Vec::new();
        for (name, parts, sealing, header, _) in &work.files {
            let path = dir.join(name);
            let f = storage
                .open(&path, true)
                .await
                .map_err(EngineError::io("open index file", &path))?;
            if *sealing {
                f.pre_allocate(geo_bytes)
                    .await
                    .map_err(EngineError::io("preallocate index file", &path))?;
            }
            for (pos, bytes) in parts {
                crate::io::write_all_aligned(&f, *pos, bytes)
                    .await
                    .map_err(EngineError::io("write index file", &path))?;
            }
            f.fdatasync()
                .await
                .map_err(EngineError::io("sync index file", &path))?;
            if *sealing {
                sealed.push((name.clone(), *header, Rc::new(f)));
            }
        }
        Ok(sealed)
    }

    /// Apply a completed persist pass.
    pub fn finish_persist(
        &mut self,
        work: &PersistWork,
        sealed: Vec<(String, IndexHeader, Rc<F>)>,
    ) {
        for (name, header, file) in sealed {
            self.sealing.retain(|a| a.name != name);
            let path = self.dir.join(&name);
            self.add_sealed(path, header, file);
        }
        if let Some(a) = self.active.as_mut() {
            if let Some((name, _, false, _, len)) = work.files.iter().find(|f| !f.2) {
                if *name == a.name {
                    a.persisted_len = a.persisted_len.max(*len);
                }
            }
        }
        self.durable_upto = self.durable_upto.max(work.durable_after);
    }

    /// Bytes of a full file with this service's geometry.
    pub fn file_bytes(&self) -> u64 {
        self.geo.file_bytes()
    }

    /// The directory of the files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Forget sealed files whose entries all point below `min_phys` (deleted log); returns
    /// their paths for removal.
    pub fn take_files_before(&mut self, min_phys: i64) -> Vec<PathBuf> {
        let mut gone = Vec::new();
        self.sealed.retain(|s| {
            if s.header.end_phy < min_phys {
                gone.push(s.path.clone());
                false
            } else {
                true
            }
        });
        gone
    }
}

impl<F: StorageFile> SealedIndex<F> {
    /// Query this file with small reads.
    pub async fn query(&self, key: &str, max: usize, begin: i64, end: i64) -> Vec<i64> {
        // Chains are walked one read at a time; the count is bounded by `index_count`.
        let geo = Geometry {
            slots: self.geometry_slots,
            max_entries: u32::MAX,
        };
        let hash = key_hash(key);
        let mut out = Vec::new();
        let Ok(slot) = self.file.read_at(geo.slot_pos(hash) as u64, 4).await else {
            return out;
        };
        if slot.len() < 4 {
            return out;
        }
        let mut n = be_i32(&slot, 0);
        let mut steps = 0;
        while n > 0
            && n < self.header.index_count
            && out.len() < max
            && steps < self.header.index_count
        {
            steps += 1;
            let Ok(e) = self
                .file
                .read_at(geo.entry_pos(n as u32) as u64, INDEX_ENTRY_BYTES)
                .await
            else {
                break;
            };
            if e.len() < INDEX_ENTRY_BYTES {
                break;
            }
            let (h, phys, diff, prev) =
                (be_i32(&e, 0), be_i64(&e, 4), be_i32(&e, 12), be_i32(&e, 16));
            let ts = self.header.begin_ts + i64::from(diff) * 1000;
            if h == hash && ts + 999 >= begin && ts <= end {
                out.push(phys);
            }
            if prev >= n {
                break; // chains point backwards; anything else is corruption
            }
            n = prev;
        }
        out
    }
}

/// Walk a hash chain in an in-memory image.
#[allow(clippy::too_many_arguments)]
fn walk(
    slots: u32,
    header: &IndexHeader,
    key: &str,
    max: usize,
    begin: i64,
    end: i64,
    out: &mut Vec<i64>,
    read: impl Fn(usize, usize) -> Option<Vec<u8>>,
) {
    let geo = Geometry {
        slots,
        max_entries: u32::MAX,
    };
    let hash = key_hash(key);
    let Some(slot) = read(geo.slot_pos(hash), 4) else {
        return;
    };
    let mut n = be_i32(&slot, 0);
    let mut taken = 0;
    while n > 0 && n < header.index_count && taken < max {
        let Some(e) = read(geo.entry_pos(n as u32), INDEX_ENTRY_BYTES) else {
            return;
        };
        let (h, phys, diff, prev) = (be_i32(&e, 0), be_i64(&e, 4), be_i32(&e, 12), be_i32(&e, 16));
        // Upstream stores seconds since begin; widen the window by the truncated second.
        let ts = header.begin_ts + i64::from(diff) * 1000;
        if h == hash && ts + 999 >= begin && ts <= end {
            out.push(phys);
            taken += 1;
        }
        if prev >= n {
            return;
        }
        n = prev;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::fault::{FaultyFile, FaultyStorage};

    #[test]
    fn key_hash_matches_java_abs_hash_code() {
        assert_eq!(key_hash("TagA"), 2_598_919);
        assert!(key_hash("some#key") >= 0);
    }

    #[test]
    fn put_and_query_in_memory_follows_chains_and_time() {
        let mut idx: IndexService<FaultyFile> = IndexService::new("/i".into(), 4, 100);
        for i in 0..20i64 {
            idx.put(&format!("T#k{}", i % 3), i * 100, 1_000_000 + i * 1000);
        }
        let hits = idx.query_active("T#k1", 100, 0, i64::MAX);
        assert_eq!(hits, vec![1900, 1600, 1300, 1000, 700, 400, 100]);
        let limited = idx.query_active("T#k1", 2, 0, i64::MAX);
        assert_eq!(limited, vec![1900, 1600]);
        let windowed = idx.query_active("T#k1", 100, 1_004_000, 1_010_000);
        assert_eq!(windowed, vec![1000, 700, 400]);
        assert_eq!(idx.last_update(), (1_019_000, 1900));
    }

    #[test]
    fn periodic_pass_writes_only_the_active_header_page_and_keeps_the_rest_dirty() {
        // 4096 slots: the slot table spans pages 0..=4; keys land on several of them.
        let mut idx: IndexService<FaultyFile> = IndexService::new("/i".into(), 4096, 1000);
        for i in 0..200i64 {
            idx.put(&format!("T#k{i}"), i * 100, 1_000_000 + i);
        }
        let header_only = idx.take_persist_work(5000, ActivePages::HeaderOnly);
        let parts: Vec<u64> = header_only.files[0].1.iter().map(|(pos, _)| *pos).collect();
        assert_eq!(parts, vec![0], "only the header page");
        idx.finish_persist(&header_only, Vec::new());
        assert_eq!(idx.durable_upto(), 0, "entries not written: not durable");
        let all = idx.take_persist_work(5000, ActivePages::All);
        let pages = all.files[0].1.len();
        assert!(
            pages > 2,
            "dirty slot pages and entries still written: {pages} parts"
        );
        idx.finish_persist(&all, Vec::new());
        assert_eq!(idx.durable_upto(), 5000);
    }

    #[test]
    fn full_file_is_sealed_persisted_and_queried_from_disk() {
        futures_lite::future::block_on(async {
            let fs = FaultyStorage::new();
            let mut idx: IndexService<FaultyFile> = IndexService::new("/i".into(), 8, 4);
            for i in 0..5i64 {
                idx.put("T#x", i * 10, 5000 + i);
            }
            // Entries 1..=3 filled the first file (index_count starts at 1); the 5th rolled.
            let work = idx.take_persist_work(1000, ActivePages::All);
            let sealed = IndexService::write_work(&fs, Path::new("/i"), &work, idx.file_bytes())
                .await
                .unwrap();
            assert_eq!(sealed.len(), 1);
            idx.finish_persist(&work, sealed);
            assert_eq!(idx.durable_upto(), 1000);
            let on_disk = idx.sealed_files(0, i64::MAX);
            assert_eq!(on_disk.len(), 1);
            assert_eq!(
                on_disk[0].query("T#x", 10, 0, i64::MAX).await,
                vec![20, 10, 0]
            );
            assert_eq!(idx.query_active("T#x", 10, 0, i64::MAX), vec![40, 30]);
            assert_eq!(idx.take_files_before(25).len(), 1);
        });
    }

    #[test]
    fn file_names_are_seventeen_digit_local_times() {
        let n = file_name_for(1_700_000_000_123);
        assert_eq!(n.len(), 17);
        assert!(n.ends_with("123"));
    }
}
