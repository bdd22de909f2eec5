//! An in-memory [`Storage`] that injects faults, for tests.
//!
//! Each file keeps two images: `data` (what completed writes produced; what the process and a
//! `kill -9` see) and `synced` (the image at the last `fdatasync`; what survives a machine
//! crash). Faults, set through [`FaultyStorage::faults`]:
//! - `short_writes`: the next N writes persist only half the buffer (rounded down to the
//!   alignment) and report that count;
//! - `write_errno`: every write fails with this errno (e.g. `EIO`) until cleared;
//! - `sync_errno`: every `fdatasync` fails with this errno (e.g. `EIO`, `ENOSPC`);
//! - `write_errno_after`: the write after N more successful ones starts failing.
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
//! Writes and syncs yield to the executor once, so concurrent appends interleave with them as
//! they would with real I/O (that is what lets group commit gather waiters in tests).
//! File metadata (existence, length) is treated as durable at once.
//! Lives on one executor (`Rc`/`RefCell`).

use super::{LockGuard, LogBytes, Storage, StorageFile, IO_ALIGNMENT_BYTES};
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;

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
}

/// Counters a test can assert on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FsCounters {
    /// Completed `write_at` calls.
    pub writes: u64,
    /// Completed `fdatasync` calls.
    pub syncs: u64,
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
    files: BTreeMap<PathBuf, Rc<RefCell<FileData>>>,
    dirs: BTreeSet<PathBuf>,
    faults: Faults,
    counters: FsCounters,
    clock_ms: i64,
    disk_used_ratio: f64,
    /// Paths locked by [`Storage::lock_exclusive`] and not yet released.
    locked: BTreeSet<PathBuf>,
}

/// Releases a [`FaultyStorage`] lock when dropped.
struct FaultyLock {
    fs: Rc<RefCell<FsState>>,
    path: PathBuf,
}

impl Drop for FaultyLock {
    fn drop(&mut self) {
        self.fs.borrow_mut().locked.remove(&self.path);
    }
}

/// The in-memory fault-injecting file system. Clones share state.
#[derive(Clone, Debug, Default)]
pub struct FaultyStorage {
    state: Rc<RefCell<FsState>>,
}

/// An open in-memory file.
#[derive(Debug)]
pub struct FaultyFile {
    data: Rc<RefCell<FileData>>,
    fs: Rc<RefCell<FsState>>,
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
        change(&mut self.state.borrow_mut().faults);
    }

    /// Counters of completed operations.
    pub fn counters(&self) -> FsCounters {
        self.state.borrow().counters
    }

    /// Set the clock used for file modification times (ms since the epoch).
    pub fn set_clock_ms(&self, now_ms: i64) {
        self.state.borrow_mut().clock_ms = now_ms;
    }

    /// Set what [`Storage::disk_used_ratio`] reports.
    pub fn set_disk_used_ratio(&self, ratio: f64) {
        self.state.borrow_mut().disk_used_ratio = ratio;
    }

    /// Set a file's modification time (for retention tests).
    pub fn set_modified_ms(&self, path: &Path, ms: i64) {
        if let Some(f) = self.state.borrow().files.get(path) {
            f.borrow_mut().mtime_ms = ms;
        }
    }

    /// The current (process-visible) content of a file, for assertions.
    pub fn file_content(&self, path: &Path) -> Option<Vec<u8>> {
        self.state
            .borrow()
            .files
            .get(path)
            .map(|f| f.borrow().data.clone())
    }

    /// Overwrite bytes of a file in both images (to plant corruption a test wants to see).
    pub fn corrupt(&self, path: &Path, pos: usize, bytes: &[u8]) {
        if let Some(f) = self.state.borrow().files.get(path) {
            let mut f = f.borrow_mut();
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
        self.state.borrow().files.keys().cloned().collect()
    }

    /// The file system a restarted process finds after a crash of kind `kind`. The returned
    /// storage shares nothing with `self`, so the crashed store's leftover handles cannot touch
    /// it. Faults are cleared; the clock and disk ratio carry over.
    pub fn crash(&self, kind: CrashKind, seed: u64) -> FaultyStorage {
        let mut rng = SeededRng::new(seed);
        let old = self.state.borrow();
        let mut files = BTreeMap::new();
        for (path, file) in &old.files {
            let f = file.borrow();
            let image = match kind {
                CrashKind::ProcessKill => f.data.clone(),
                CrashKind::MachineCrash => torn_image(&f.data, &f.synced, &mut rng),
            };
            files.insert(
                path.clone(),
                Rc::new(RefCell::new(FileData {
                    synced: image.clone(),
                    data: image,
                    mtime_ms: f.mtime_ms,
                })),
            );
        }
        FaultyStorage {
            state: Rc::new(RefCell::new(FsState {
                files,
                dirs: old.dirs.clone(),
                faults: Faults::default(),
                counters: FsCounters::default(),
                clock_ms: old.clock_ms,
                disk_used_ratio: old.disk_used_ratio,
                // The crashed process's locks died with it.
                locked: BTreeSet::new(),
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
        let mut st = self.state.borrow_mut();
        let data = match st.files.get(path) {
            Some(f) => f.clone(),
            None if create => {
                let f = Rc::new(RefCell::new(FileData {
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
        match self.state.borrow_mut().files.remove(path) {
            Some(_) => Ok(()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                path.display().to_string(),
            )),
        }
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.borrow_mut();
        for anc in path.ancestors() {
            st.dirs.insert(anc.to_path_buf());
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = self.state.borrow();
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
        let st = self.state.borrow();
        st.files.contains_key(path) || st.dirs.contains(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = self.state.borrow_mut();
        st.files.retain(|p, _| !p.starts_with(path));
        st.dirs.retain(|p| !p.starts_with(path));
        Ok(())
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        let st = self.state.borrow();
        st.files
            .get(path)
            .map(|f| f.borrow().mtime_ms)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, path.display().to_string()))
    }

    fn disk_used_ratio(&self, _path: &Path) -> io::Result<f64> {
        Ok(self.state.borrow().disk_used_ratio)
    }

    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        let mut st = self.state.borrow_mut();
        if !st.locked.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("{} is locked", path.display()),
            ));
        }
        let now = st.clock_ms;
        st.files.entry(path.to_path_buf()).or_insert_with(|| {
            Rc::new(RefCell::new(FileData {
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
        let mut fs = self.fs.borrow_mut();
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
        let len = if fs.faults.short_writes > 0 {
            fs.faults.short_writes -= 1;
            (buf.len() / 2) & !(IO_ALIGNMENT_BYTES - 1)
        } else {
            buf.len()
        };
        fs.counters.writes += 1;
        let now = fs.clock_ms;
        drop(fs);
        let pos = usize::try_from(pos).map_err(|_| errno(libc::EFBIG))?;
        let mut f = self.data.borrow_mut();
        if f.data.len() < pos + len {
            f.data.resize(pos + len, 0);
        }
        f.data[pos..pos + len].copy_from_slice(&buf[..len]);
        f.mtime_ms = now;
        Ok(len)
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<LogBytes> {
        let f = self.data.borrow();
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(f.data.len());
        let end = start.saturating_add(len).min(f.data.len());
        Ok(LogBytes::Shared(Bytes::copy_from_slice(
            &f.data[start..end],
        )))
    }

    async fn fdatasync(&self) -> io::Result<()> {
        futures_lite::future::yield_now().await;
        let mut fs = self.fs.borrow_mut();
        if let Some(code) = fs.faults.sync_errno {
            return Err(errno(code));
        }
        fs.counters.syncs += 1;
        drop(fs);
        let mut f = self.data.borrow_mut();
        f.synced = f.data.clone();
        Ok(())
    }

    async fn pre_allocate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        let mut f = self.data.borrow_mut();
        if f.data.len() < len {
            f.data.resize(len, 0);
        }
        Ok(())
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| errno(libc::EFBIG))?;
        let mut f = self.data.borrow_mut();
        f.data.truncate(len);
        f.synced.truncate(len);
        Ok(())
    }

    async fn size(&self) -> io::Result<u64> {
        Ok(self.data.borrow().data.len() as u64)
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
}
