//! An in-memory [`Storage`] that injects faults, for tests.
//!
//! Each file keeps two images: `data` (what completed writes produced; what the process and a
//! `kill -9` see) and `synced` (the image at the last `fdatasync`; what survives a machine
//! crash). Direct (`write_at`) and page-cache (`write_cached_at`) writes land in the same
//! images: on Linux both survive a `kill -9` once completed, and neither survives power loss
//! unless a later sync covered it; only direct writes are checked for alignment. Faults, set
//! through [`FaultyStorage::faults`] (they apply to both kinds of write):
//! - `short_writes`: the next N writes persist only half the buffer (rounded down to the
//!   alignment for direct writes) and report that count;
//! - `write_errno`: every write fails with this errno (e.g. `EIO`) until cleared;
//! - `sync_errno`: every `fdatasync` fails with this errno (e.g. `EIO`, `ENOSPC`);
//! - `write_errno_after`: the write after N more successful ones starts failing.
//!
//! [`FaultyStorage::hold_syncs`] makes every `fdatasync` wait until
//! [`FaultyStorage::release_syncs`] (a device flush as slow as a test wants).
//!
//! [`FaultyStorage::crash`] returns a fresh file system as a restarted process would find it:
//! - [`CrashKind::ProcessKill`] keeps every completed write (the OS or device has them);
//! - [`CrashKind::MachineCrash`] keeps the synced image, and for every 512-byte sector that
//!   changed since the last sync keeps at random the new bytes, the old bytes, or garbage in
//!   the bytes that changed — the "durable plus random torn bytes past it" model. A byte equal
//!   in the synced and the new image keeps its value even in a garbled sector: a rewrite of a
//!   page that holds synced records (every O_DIRECT append rewrites its partial last page)
//!   must not destroy them. That assumes sector-atomic devices, as upstream and most storage
//!   engines do; a device that scrambles whole sectors on power loss can lose synced bytes
//!   sharing a sector with unsynced ones.
//!
//! [`FaultyStorage::power_loss`] is the same machine crash taken *atomically* while the store
//! runs: it returns the surviving disk and makes every later write, sync and file creation of
//! the running process fail with `EIO` (the power is gone), so whatever the process
//! acknowledges afterwards cannot be anything the returned disk lacks.
//!
//! Disk full: `capacity_bytes` caps the total length of all files. A write or preallocation
//! that would grow the total past it fails with `ENOSPC` (nothing of it persists); rewriting
//! bytes inside a file's current length needs no space, as on a real file system with
//! preallocated files. Removing a file frees its bytes.
//!
//! Writes and syncs yield to the executor once, so concurrent appends interleave with them as
//! they would with real I/O (that is what lets group commit gather waiters in tests).
//! File metadata (existence, length) is treated as durable at once.
//! Clones share one file system behind a mutex, so every shard of an in-process broker can use
//! the same "disk" (each from its own thread), and the disk outlives the broker for a restart.

use super::{LockGuard, LogBytes, Storage, StorageFile, IO_ALIGNMENT_BYTES};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// Sector size of the torn-write model.
const TORN_SECTOR_BYTES: usize = 512;

/// Which faults are active. Changed by tests between or during operations.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// The next this-many writes are short (half the buffer persists).
    pub short_writes: u32,
    /// Every write fails with this errno while set.
    pub write_errno: Option<i32>,
    /// Every fdatasync fails with this errno while set.
    pub sync_errno: Option<i32>,
    /// After this many more successful writes, set `write_errno` to the given errno.
    pub write_errno_after: Option<(u64, i32)>,
    /// Total bytes all files may hold; growing past it fails with `ENOSPC`.
    pub capacity_bytes: Option<u64>,
    /// Opening a file that does not exist (creating it) fails with this errno while set.
    pub create_errno: Option<i32>,
}

/// Counters a test can assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsCounters {
    /// Completed `write_at` and `write_cached_at` calls.
    pub writes: u64,
    /// Of those, completed `write_cached_at` calls (page-cache writes).
    pub cached_writes: u64,
    /// Completed `fdatasync` calls.
    pub syncs: u64,
    /// Bytes named by `drop_cached` calls (each checked to be synced).
    pub cache_dropped_bytes: u64,
}

/// How the process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashKind {
    /// `kill -9`: completed writes survive.
    ProcessKill,
    /// Power loss: only synced bytes are sure to survive; unsynced sectors are torn at random.
    MachineCrash,
}

#[derive(Debug, Default)]
struct FileData {
    data: Vec<u8>,
    synced: Vec<u8>,
    mtime_ms: i64,
}

#[derive(Debug, Default)]
struct FsState {
    files: BTreeMap<PathBuf, SharedFile>,
    dirs: BTreeSet<PathBuf>,
    faults: Faults,
    counters: FsCounters,
    clock_ms: i64,
    disk_used_ratio: f64,
    /// Paths locked by [`Storage::lock_exclusive`] and not yet released.
    locked: BTreeSet<PathBuf>,
    /// While set, `fdatasync` calls wait; the wakers of those waiting.
    syncs_held: bool,
    held_syncs: Vec<std::task::Waker>,
}

type SharedFile = Arc<Mutex<FileData>>;
type SharedFs = Arc<Mutex<FsState>>;

/// Lock a mutex of this module. A panic while one is held (a failed assertion in a test) does
/// not make the data unusable: every update here is a plain assignment.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Releases a [`FaultyStorage`] lock when dropped.
struct FaultyLock {
    fs: SharedFs,
    path: PathBuf,
}

impl Drop for FaultyLock {
    fn drop(&mut self) {
        lock(&self.fs).locked.remove(&self.path);
    }
}

/// The in-memory fault-injecting file system. Clones share state (across threads too).
#[derive(Clone, Debug, Default)]
pub struct FaultyStorage {
    state: SharedFs,
}

/// An open in-memory file.
#[derive(Debug)]
pub struct FaultyFile {
    data: SharedFile,
    fs: SharedFs,
}

/// A tiny deterministic generator (xorshift64*), so crashes reproduce from a seed.
#[derive(Debug, Clone)]
pub struct SeededRng(u64);

impl SeededRng {
    /// A generator from `seed` (0 is remapped, xorshift has no zero state).
    pub fn new(seed: u64) -> Self {
        SeededRng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// Next pseudo-random value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

impl FaultyStorage {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Change the active faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut lock(&self.state).faults);
    }

    /// Counters of completed operations.
    pub fn counters(&self) -> FsCounters {
        lock(&self.state).counters
    }

    /// Make every `fdatasync` (those running and later ones) wait until [`Self::release_syncs`].
    pub fn hold_syncs(&self) {
        lock(&self.state).syncs_held = true;
    }

    /// Let held and later `fdatasync` calls complete.
    pub fn release_syncs(&self) {
        let waiting = {
            let mut st = lock(&self.state);
            st.syncs_held = false;
            std::mem::take(&mut st.held_syncs)
        };
        for w in waiting {
            w.wake();
        }
    }

    /// Set the clock used for file modification times (ms since the epoch).
    pub fn set_clock_ms(&self, now_ms: i64) {
        lock(&self.state).clock_ms = now_ms;
    }

    /// Set what [`Storage::disk_used_ratio`] reports.
    pub fn set_disk_used_ratio(&self, ratio: f64) {
        lock(&self.state).disk_used_ratio = ratio;
    }

    /// Set a file's modification time (for retention tests).
    pub fn set_modified_ms(&self, path: &Path, ms: i64) {
        if let Some(f) = lock(&self.state).files.get(path) {
            lock(f).mtime_ms = ms;
        }
    }

    /// The current (process-visible) content of a file, for assertions.
    pub fn file_content(&self, path: &Path) -> Option<Vec<u8>> {
        lock(&self.state)
            .files
            .get(path)
            .map(|f| lock(f).data.clone())
    }

    /// Total bytes held by all files (what `capacity_bytes` limits).
    pub fn used_bytes(&self) -> u64 {
        used_bytes(&lock(&self.state))
    }

    /// Overwrite bytes of a file in both images (to plant corruption a test wants to see).
    pub fn corrupt(&self, path: &Path, pos: usize, bytes: &[u8]) {
        if let Some(f) = lock(&self.state).files.get(path) {
            let mut f = lock(f);
            let end = pos + bytes.len();
            if f.data.len() < end {
                f.data.resize(end, 0);
            }
            f.data[pos..end].copy_from_slice(bytes);
            f.synced = f.data.clone();
        }
    }

    /// Paths of all files, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        lock(&self.state).files.keys().cloned().collect()
    }

    /// The file system a restarted process finds after a crash of kind `kind`. The returned
    /// storage shares nothing with `self`, so the crashed store's leftover handles cannot touch
    /// it. Faults are cleared; the clock and disk ratio carry over.
    pub fn crash(&self, kind: CrashKind, seed: u64) -> FaultyStorage {
        crash_image(&lock(&self.state), kind, seed)
    }

    /// Power loss while the process keeps running: atomically take the machine-crash image
    /// (what the restarted machine finds, returned) and make every later write, sync and file
    /// creation on `self` fail with `EIO`. So nothing the running process completes after
    /// this instant — in particular no acknowledgement — can depend on bytes the image lacks.
    pub fn power_loss(&self, seed: u64) -> FaultyStorage {
        let mut st = lock(&self.state);
        let image = crash_image(&st, CrashKind::MachineCrash, seed);
        st.faults.write_errno = Some(libc::EIO);
        st.faults.sync_errno = Some(libc::EIO);
        st.faults.create_errno = Some(libc::EIO);
        st.faults.write_errno_after = None;
        image
    }
}

/// Total length of all files.
fn used_bytes(st: &FsState) -> u64 {
    st.files.values().map(|f| lock(f).data.len() as u64).sum()
}

/// Whether growing one file from `old_len` to `new_len` bytes fits the capacity.
fn fits(st: &FsState, old_len: usize, new_len: usize) -> bool {
    match st.faults.capacity_bytes {
        Some(cap) if new_len > old_len => used_bytes(st) - old_len as u64 + new_len as u64 <= cap,
        _ => true,
    }
}

/// The crash image of the whole file system (see [`FaultyStorage::crash`]).
fn crash_image(old: &FsState, kind: CrashKind, seed: u64) -> FaultyStorage {
    {
        let mut rng = SeededRng::new(seed);
        let mut files = BTreeMap::new();
        for (path, file) in &old.files {
            let f = lock(file);
            let image = match kind {
                CrashKind::ProcessKill => f.data.clone(),
                CrashKind::MachineCrash => torn_image(&f.data, &f.synced, &mut rng),
            };
            files.insert(
                path.clone(),
                Arc::new(Mutex::new(FileData {
                    synced: image.clone(),
                    data: image,
                    mtime_ms: f.mtime_ms,
                })),
            );
        }
        FaultyStorage {
            state: Arc::new(Mutex::new(FsState {
                files,
                dirs: old.dirs.clone(),
                faults: Faults::default(),
                counters: FsCounters::default(),
                clock_ms: old.clock_ms,
                disk_used_ratio: old.disk_used_ratio,
                // The crashed process's locks died with it.
                locked: BTreeSet::new(),
                syncs_held: false,
                held_syncs: Vec::new(),
            })),
        }
    }
}

/// The image after power loss: synced bytes, and for each changed sector new, old or garbage.
fn torn_image(data: &[u8], synced: &[u8], rng: &mut SeededRng) -> Vec<u8> {
    let mut image = synced.to_vec();
    image.resize(data.len(), 0);
    for start in (0..data.len()).step_by(TORN_SECTOR_BYTES) {
        let end = (start + TORN_SECTOR_BYTES).min(data.len());
        if data[start..end] == image[start..end] {
            continue;
        }
        match rng.below(3) {
            0 => image[start..end].copy_from_slice(&data[start..end]),
            1 => {}
            _ => {
                for (b, new) in image[start..end].iter_mut().zip(&data[start..end]) {
                    if b != new {
                        *b = rng.next_u64() as u8;
                    }
                }
            }
        }
    }
    image
}

fn errno(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl Storage for FaultyStorage {
    type File = FaultyFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<FaultyFile> {
        let mut st = lock(&self.state);
        let data = match st.files.get(path) {
            Some(f) => f.clone(),
            None if create => {
                if let Some(code) = st.faults.create_errno {
                    return Err(errno(code));
                }
                let f = Arc::new(Mutex::new(FileData {
                    mtime_ms: st.clock_ms,
                    ..FileData::default()
                }));
                st.files.insert(path.to_path_buf(), f.clone());
                f
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    path.display().to_string(),
                ))
            }
        };
        Ok(FaultyFile {
            data,
            fs: self.state.clone(),
        })
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        match lock(&self.state).files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                path.display().to_string(),
            )),
        }
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        for anc in path.ancestors() {
            st.dirs.insert(anc.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        let mut names = BTreeSet::new();
        let children = st
            .files
            .keys()
            .chain(st.dirs.iter())
            .filter(|p| p.parent() == Some(path));
        for p in children {
            if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                names.insert(n.to_owned());
            }
        }
        Ok(names.into_iter().collect())
    }

    fn exists(&self, path: &Path) -> bool {
        let st = lock(&self.state);
        st.files.contains_key(path) || st.dirs.contains(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.files.retain(|p, _| !p.starts_with(path));
        st.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        let st = lock(&self.state);
        st.files
            .get(path)
            .map(|f| lock(f).mtime_ms)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    fn disk_used_ratio(&self, _path: &Path) -> io::Result<f64> {
        let st = lock(&self.state);
        // With a capacity set, report the real fill level (what statvfs would say).
        #[allow(clippy::cast_precision_loss)] // a ratio of test-sized byte counts
        match st.faults.capacity_bytes {
            Some(cap) if cap > 0 => Ok((used_bytes(&st) as f64 / cap as f64).min(1.0)),
            _ => Ok(st.disk_used_ratio),
        }
    }

    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        let mut st = lock(&self.state);
        if !st.locked.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked", path.display()),
            ));
        }
        let now = st.clock_ms;
        st.files.entry(path.to_path_buf()).or_insert_with(|| {
            Arc::new(Mutex::new(FileData {
                mtime_ms: now,
                ..FileData::default()
            }))
        });
        Ok(LockGuard::new(FaultyLock {
            fs: self.state.clone(),
            path: path.to_path_buf(),
        }))
    }
}

impl FaultyFile {
    /// A completed write of `data` at `pos` into the process-visible image, with the write
    /// faults applied. A short write persists half of `data`, rounded down to `granule`.
    fn store_written(&self, data: &[u8], pos: u64, granule: usize) -> io::Result<usize> {
        // The file system lock is held through the copy, so a `power_loss` image is taken
        // either wholly before or wholly after this write.
        let mut fs = lock(&self.fs);
        if let Some((after, code)) = fs.faults.write_errno_after {
            if after == 0 {
                fs.faults.write_errno = Some(code);
                fs.faults.write_errno_after = None;
            } else {
                fs.faults.write_errno_after = Some((after - 1, code));
            }
        }
        if let Some(code) = fs.faults.write_errno {
            return Err(errno(code));
        }
        let pos = usize::try_from(pos).map_err(|_| errno(libc::EFBIG))?;
        let len = if fs.faults.short_writes > 0 {
            fs.faults.short_writes -= 1;
            (data.len() / 2) / granule * granule
        } else {
            data.len()
        };
        let end = pos.checked_add(len).ok_or_else(|| errno(libc::EFBIG))?;
        let old_len = lock(&self.data).data.len();
        if !fits(&fs, old_len, end.max(old_len)) {
            return Err(errno(libc::ENOSPC));
        }
        fs.counters.writes += 1;
        let mut f = lock(&self.data);
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[pos..end].copy_from_slice(&data[..len]);
        f.mtime_ms = fs.clock_ms;
        Ok(len)
    }
}

impl StorageFile for FaultyFile {
    type Buf = Vec<u8>;

    fn alloc_buf(&self, len: usize) -> Vec<u8> {
        vec![0; len]
    }

    async fn write_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<usize> {
        futures_lite::future::yield_now().await;
        assert_eq!(
            pos % IO_ALIGNMENT_BYTES as u64,
            0,
            "unaligned write at {pos}"
        );
        assert_eq!(buf.len() % IO_ALIGNMENT_BYTES, 0, "unaligned write length");
        self.store_written(&buf, pos, IO_ALIGNMENT_BYTES)
    }

    async fn write_cached_at(&self, data: Bytes, pos: u64) -> io::Result<usize> {
        futures_lite::future::yield_now().await;
        // The same images as a direct write: a completed page-cache write is what the
        // process and a `kill -9` see, and only a sync moves it into `synced`.
        let n = self.store_written(&data, pos, 1)?;
        lock(&self.fs).counters.cached_writes += 1;
        Ok(n)
    }

    async fn drop_cached(&self, pos: u64, len: u64) {
        // Dropping is harmless for correctness on Linux (dirty pages are kept), but the store
        // promises to name only synced bytes: a range past the last sync is a bug.
        let f = lock(&self.data);
        let (start, end) = (pos as usize, (pos + len) as usize);
        assert!(
            end <= f.synced.len() && f.data[start..end] == f.synced[start..end],
            "drop_cached of unsynced bytes [{start}, {end})"
        );
        drop(f);
        lock(&self.fs).counters.cache_dropped_bytes += len;
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<LogBytes> {
        let f = lock(&self.data);
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(f.data.len());
        let end = start.saturating_add(len).min(f.data.len());
        Ok(LogBytes::Shared(Bytes::copy_from_slice(
            &f.data[start..end],
        )))
    }

    async fn fdatasync(&self) -> io::Result<()> {
        futures_lite::future::yield_now().await;
        std::future::poll_fn(|cx| {
            let mut fs = lock(&self.fs);
            if fs.syncs_held {
                fs.held_syncs.push(cx.waker().clone());
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        let mut fs = lock(&self.fs);
        if let Some(code) = fs.faults.sync_errno {
            return Err(errno(code));
        }
        fs.counters.syncs += 1;
        let mut f = lock(&self.data);
        f.synced = f.data.clone();
        Ok(())
    }

    async fn pre_allocate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        let fs = lock(&self.fs);
        let old_len = lock(&self.data).data.len();
        if !fits(&fs, old_len, len.max(old_len)) {
            return Err(errno(libc::ENOSPC));
        }
        let mut f = lock(&self.data);
        if f.data.len() < len {
            f.data.resize(len, 0);
        }
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        let _fs = lock(&self.fs);
        let mut f = lock(&self.data);
        f.data.truncate(len);
        f.synced.truncate(len);
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(lock(&self.data).data.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::write_all_aligned;

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        futures_lite::future::block_on(f)
    }

    #[test]
    fn process_kill_keeps_unsynced_writes_machine_crash_keeps_synced() {
        run(async {
            let fs = FaultyStorage::new();
            let p = Path::new("/s/f");
            let f = fs.open(p, true).await.unwrap();
            write_all_aligned(&f, 0, &[1u8; 4096]).await.unwrap();
            f.fdatasync().await.unwrap();
            write_all_aligned(&f, 4096, &[2u8; 4096]).await.unwrap();
            let killed = fs.crash(CrashKind::ProcessKill, 1);
            assert_eq!(killed.file_content(p).unwrap()[4096..], [2u8; 4096]);
            let crashed = fs.crash(CrashKind::MachineCrash, 7);
            let image = crashed.file_content(p).unwrap();
            assert_eq!(image[..4096], [1u8; 4096], "synced bytes always survive");
        });
    }

    #[test]
    fn page_cache_writes_land_anywhere_survive_a_kill_and_need_a_sync_for_power_loss() {
        run(async {
            let fs = FaultyStorage::new();
            let p = Path::new("/f");
            let f = fs.open(p, true).await.unwrap();
            assert_eq!(
                f.write_cached_at(Bytes::from_static(b"abc"), 5)
                    .await
                    .unwrap(),
                3
            );
            f.fdatasync().await.unwrap();
            assert_eq!(
                f.write_cached_at(Bytes::from(vec![7u8; 2000]), 8)
                    .await
                    .unwrap(),
                2000
            );
            assert_eq!(&*f.read_at(5, 4).await.unwrap(), b"abc\x07");
            assert_eq!(fs.counters().cached_writes, 2);
            let killed = fs.crash(CrashKind::ProcessKill, 1).file_content(p).unwrap();
            assert_eq!(killed[5..8], *b"abc");
            assert_eq!(killed[8..], [7u8; 2000]);
            // Power loss: the synced bytes always survive; the unsynced ones only by chance,
            // and some seed must lose some of them.
            let mut lost_some = false;
            for seed in 1..20 {
                let image = fs
                    .crash(CrashKind::MachineCrash, seed)
                    .file_content(p)
                    .unwrap();
                assert_eq!(image[5..8], *b"abc", "seed {seed}");
                lost_some |= image[8..] != [7u8; 2000];
            }
            assert!(lost_some);
            // A short page-cache write persists half, not rounded to pages.
            fs.faults(|x| x.short_writes = 1);
            assert_eq!(
                f.write_cached_at(Bytes::from(vec![1u8; 101]), 0)
                    .await
                    .unwrap(),
                50
            );
            let content = fs.file_content(p).unwrap();
            assert_eq!(content[..50], [1u8; 50]);
            assert_eq!(content[50], 7, "past the short write: the earlier bytes");
        });
    }

    #[test]
    fn short_write_then_retry_persists_everything() {
        run(async {
            let fs = FaultyStorage::new();
            let f = fs.open(Path::new("/f"), true).await.unwrap();
            fs.faults(|x| x.short_writes = 1);
            write_all_aligned(&f, 0, &[9u8; 8192]).await.unwrap();
            assert_eq!(fs.counters().writes, 2);
            assert_eq!(fs.file_content(Path::new("/f")).unwrap(), vec![9u8; 8192]);
        });
    }

    #[test]
    fn injected_errors_surface_as_errno() {
        run(async {
            let fs = FaultyStorage::new();
            let f = fs.open(Path::new("/f"), true).await.unwrap();
            fs.faults(|x| x.sync_errno = Some(libc::ENOSPC));
            let e = f.fdatasync().await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
            fs.faults(|x| x.write_errno_after = Some((1, libc::EIO)));
            write_all_aligned(&f, 0, &[1; 10]).await.unwrap();
            let e = write_all_aligned(&f, 0, &[1; 10]).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO));
        });
    }

    #[test]
    fn list_dir_shows_files_and_subdirs() {
        run(async {
            let fs = FaultyStorage::new();
            fs.create_dir_all(Path::new("/r/cq/T/0")).unwrap();
            fs.open(Path::new("/r/cq/a"), true).await.unwrap();
            assert_eq!(fs.list_dir(Path::new("/r/cq")).unwrap(), vec!["T", "a"]);
            fs.remove_dir_all(Path::new("/r/cq/T")).unwrap();
            assert_eq!(fs.list_dir(Path::new("/r/cq")).unwrap(), vec!["a"]);
        });
    }

    #[test]
    fn capacity_refuses_growth_but_not_rewrites_and_frees_on_remove() {
        run(async {
            let fs = FaultyStorage::new();
            fs.faults(|x| x.capacity_bytes = Some(3 * 4096));
            let a = fs.open(Path::new("/a"), true).await.unwrap();
            a.pre_allocate(2 * 4096).await.unwrap();
            let b = fs.open(Path::new("/b"), true).await.unwrap();
            let e = b.pre_allocate(2 * 4096).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
            write_all_aligned(&b, 0, &[7; 4096]).await.unwrap();
            let e = write_all_aligned(&b, 4096, &[7; 10]).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
            // Inside a file's length needs no space.
            write_all_aligned(&a, 4096, &[1; 4096]).await.unwrap();
            assert_eq!(fs.used_bytes(), 3 * 4096);
            fs.remove(Path::new("/a")).await.unwrap();
            write_all_aligned(&b, 4096, &[7; 10]).await.unwrap();
        });
    }

    #[test]
    fn power_loss_keeps_synced_image_and_fails_the_running_process() {
        run(async {
            let fs = FaultyStorage::new();
            let p = Path::new("/f");
            let f = fs.open(p, true).await.unwrap();
            write_all_aligned(&f, 0, &[1; 4096]).await.unwrap();
            f.fdatasync().await.unwrap();
            let disk = fs.power_loss(3);
            assert_eq!(disk.file_content(p).unwrap(), vec![1; 4096]);
            let e = write_all_aligned(&f, 4096, &[2; 4096]).await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::EIO));
            assert!(f.fdatasync().await.is_err());
            assert!(fs.open(Path::new("/g"), true).await.is_err());
            // The surviving disk is a separate, healthy file system.
            let g = disk.open(p, false).await.unwrap();
            write_all_aligned(&g, 4096, &[3; 4096]).await.unwrap();
            g.fdatasync().await.unwrap();
            assert_eq!(fs.file_content(p).unwrap(), vec![1; 4096]);
        });
    }
}
