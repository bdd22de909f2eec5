//! The production [`Storage`]: glommio `DmaFile`s (O_DIRECT through io_uring).
//!
//! Data operations are asynchronous io_uring requests; the rare metadata operations (list a
//! directory, create a directory, sync a directory after creating a file, statvfs) use blocking
//! `std`/`libc` calls, which take microseconds and happen only at segment roll, retention and
//! startup.
//!
//! Page-cache writes (`write_cached_at`, the CommitLog in ASYNC_FLUSH) are a synchronous
//! `pwrite` on the executor's thread through a second, buffered handle of the file. An
//! io_uring buffered write of the same bytes measured slower (closed loop, three interleaved
//! runs: 565-749k vs 771-1,014k msgs/s): the kernel punts it to an io-wq worker, adding a
//! thread hand-off per round, and it needs an owned copy of the bytes. The copy into the page
//! cache took 72-90 us per 269 KiB round on this thread (`round write` in the bench). The
//! cost: if dirty memory hits the kernel's limit (`vm.dirty_ratio`, a disk slower than the
//! appends for many seconds), the `pwrite` sleeps in writeback throttling and the whole shard
//! waits — the backpressure an mmap'd CommitLog (upstream) gets from page faults.
//!
//! Reads go through the same buffered handle: glommio 0.9 submits every
//! `DmaFile` read as `IORING_OP_READ_FIXED` on a registered buffer, and on this project's
//! machines (kernel 6.x, virtio-blk, ext4) the kernel answers those with `EOPNOTSUPP`, so cold
//! reads from the O_DIRECT handle fail while writes (plain `WRITE` of unregistered buffers)
//! work. A buffered `READ` of the same bytes is coherent with the O_DIRECT writes (the kernel
//! invalidates cached pages on direct writes) and with page-cache writes (same cache), and
//! still returns a `ReadResult` without an extra copy. `tests/real_disk.rs` covers it.

use super::{LockGuard, LogBytes, Storage, StorageFile};
use bytes::Bytes;
use glommio::io::{BufferedFile, DmaBuffer, DmaFile, OpenOptions};
use std::io;
use std::path::Path;

/// Real files on the local disk, opened with O_DIRECT.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlommioStorage;

/// An open DMA file, with a buffered handle for reads and page-cache writes (see the module
/// doc for why).
#[derive(Debug)]
pub struct GlommioFile {
    file: DmaFile,
    cached: BufferedFile,
}

/// The OS error behind a glommio error. glommio's own conversion turns its "enhanced" errors
/// (operation, path, fd) into a plain message, losing the errno; callers tell a full disk
/// (`ENOSPC`) from a failing one (`EIO`) by it, and name the file themselves.
fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    match e {
        glommio::GlommioError::EnhancedIoError { source, .. } => source,
        other => io::Error::from(other),
    }
}

impl Storage for GlommioStorage {
    type File = GlommioFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<GlommioFile> {
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .dma_open(path)
            .await
            .map_err(to_io)?;
        if create && !existed {
            // Make the new directory entry durable, so a synced file cannot vanish in a crash.
            if let Some(parent) = path.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
        }
        let cached = OpenOptions::new()
            .read(true)
            .write(true)
            .buffered_open(path)
            .await
            .map_err(to_io)?;
        Ok(GlommioFile { file, cached })
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        let modified = std::fs::metadata(path)?.modified()?;
        let since = modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
    }

    fn disk_used_ratio(&self, path: &Path) -> io::Result<f64> {
        use std::os::unix::ffi::OsStrExt;
        let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `stat` is a plain C struct for which all-zero bytes is a valid value.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c_path` is a valid NUL-terminated string and `stat` a valid out-pointer.
        let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // Free = unallocated blocks (`f_bfree`), as Java's `File.getFreeSpace` that upstream's
        // disk ratios use, not `f_bavail`: on a file system with many reserved blocks the
        // latter can make a quarter-full disk look 90% full and start forced deletion of
        // unexpired segments.
        #[allow(clippy::cast_precision_loss)] // a ratio: precision loss is irrelevant
        let (total, free) = (stat.f_blocks as f64, stat.f_bfree as f64);
        if total <= 0.0 {
            return Ok(0.0);
        }
        Ok(((total - free) / total).clamp(0.0, 1.0))
    }

    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // SAFETY: `file` owns a valid open descriptor for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // The flock lives as long as this open file description: closing the file (dropping
        // the guard, or the process dying) releases it.
        Ok(LockGuard::new(file))
    }
}

/// Owned aligned buffer for a DMA write.
pub struct GlommioBuf(DmaBuffer);

impl AsRef<[u8]> for GlommioBuf {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl AsMut<[u8]> for GlommioBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_bytes_mut()
    }
}

impl StorageFile for GlommioFile {
    type Buf = GlommioBuf;

    fn alloc_buf(&self, len: usize) -> GlommioBuf {
        let mut buf = self.file.alloc_dma_buffer(len);
        // DMA buffers come from a pool and are not zeroed; padding must be zeros.
        buf.as_bytes_mut().fill(0);
        GlommioBuf(buf)
    }

    fn alloc_buf_for_overwrite(&self, len: usize) -> GlommioBuf {
        // Pool memory with old contents; the caller overwrites every byte.
        GlommioBuf(self.file.alloc_dma_buffer(len))
    }

    async fn write_at(&self, buf: GlommioBuf, pos: u64) -> io::Result<usize> {
        self.file.write_at(buf.0, pos).await.map_err(to_io)
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<LogBytes> {
        let r = self.cached.read_at(pos, len).await.map_err(to_io)?;
        Ok(LogBytes::Dma(r))
    }

    async fn write_cached_at(&self, data: Bytes, pos: u64) -> io::Result<usize> {
        // A plain `pwrite` on this thread, not an io_uring request: see the module doc.
        use std::os::fd::AsRawFd;
        let pos =
            libc::off_t::try_from(pos).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        // SAFETY: `data` is a live buffer of `data.len()` bytes for the duration of the call,
        // and the descriptor is owned by `self.cached`, which outlives it.
        let n = unsafe {
            libc::pwrite(
                self.cached.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                pos,
            )
        };
        let Ok(written) = usize::try_from(n) else {
            let err = io::Error::last_os_error();
            // Interrupted before writing: the caller's short-write loop writes it again.
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            };
        };
        Ok(written)
    }

    async fn drop_cached(&self, pos: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(pos), Ok(len)) = (libc::off_t::try_from(pos), libc::off_t::try_from(len)) else {
            return;
        };
        let fd = self.cached.as_raw_fd();
        // On glommio's blocking pool: invalidating hundreds of MiB of pages takes milliseconds
        // that the executor's appenders should not wait through. `self` (which owns `fd`) is
        // borrowed until the call has returned, so the descriptor stays open meanwhile.
        glommio::executor()
            .spawn_blocking(move || {
                // SAFETY: advice on an open descriptor; no memory is passed.
                unsafe { libc::posix_fadvise(fd, pos, len, libc::POSIX_FADV_DONTNEED) };
            })
            .await;
    }

    async fn fdatasync(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    async fn pre_allocate(&self, len: u64) -> io::Result<()> {
        self.file.pre_allocate(len, false).await.map_err(to_io)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }

    async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glommio_errors_keep_their_errno() {
        let e = to_io(glommio::GlommioError::EnhancedIoError {
            source: io::Error::from_raw_os_error(libc::ENOSPC),
            op: "Pre-allocate space",
            path: None,
            fd: Some(3),
        });
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn flock_is_exclusive_until_the_guard_drops() {
        let dir = std::env::temp_dir().join(format!("rmq-engine-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("lock");
        let first = GlommioStorage.lock_exclusive(&path).unwrap();
        let second = GlommioStorage.lock_exclusive(&path).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
        drop(first);
        let again = GlommioStorage.lock_exclusive(&path).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
