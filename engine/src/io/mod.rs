//! File I/O behind a small trait, so the engine runs on glommio DMA files in production and on
//! a fault-injecting in-memory file system in tests.
//!
//! # Contract
//! - Writes go to an **aligned** position with a buffer from [`StorageFile::alloc_buf`] whose
//!   length is a multiple of [`IO_ALIGNMENT_BYTES`]. This is what `O_DIRECT` demands; the
//!   in-memory implementation checks it too, so a test catches a misaligned write.
//! - A completed `write_at` means the bytes reached the device (O_DIRECT) and so survive a
//!   `kill -9` of the process. A completed `write_cached_at` (any position and length, through
//!   the page cache) means the kernel has them: they survive a `kill -9` too, and reads see
//!   them. Only `fdatasync` makes either survive a machine crash.
//! - A write may be short (fewer bytes than asked); callers must check the count.
//! - Creating and removing files is treated as immediately durable (the real implementation
//!   syncs the parent directory after creating a file).
//! - Everything runs on one glommio executor: nothing here is `Send`.
//!
//! Implementations: [`glommio_fs::GlommioStorage`] (real disk), [`fault::FaultyStorage`]
//! (in memory, with injectable short writes, EIO/ENOSPC, a capacity limit, crashes and power
//! loss), and [`any::AnyStorage`] (either, chosen at run time: what the broker runs on).

pub mod any;
pub mod fault;
pub mod glommio_fs;

use bytes::Bytes;
use std::io;
use std::ops::Deref;
use std::path::Path;

/// Alignment of positions and lengths of every write (the `O_DIRECT` block size we assume;
/// 4 KiB covers every common device's logical block size).
pub const IO_ALIGNMENT_BYTES: usize = 4096;

/// Round `v` down to the I/O alignment.
pub fn align_down(v: u64) -> u64 {
    v & !(IO_ALIGNMENT_BYTES as u64 - 1)
}

/// Round `v` up to the I/O alignment (saturating; callers use values far below `u64::MAX`).
pub fn align_up(v: u64) -> u64 {
    align_down(v.saturating_add(IO_ALIGNMENT_BYTES as u64 - 1))
}

/// Bytes read from the log: either a shared in-memory buffer (the recent tail, or the in-memory
/// test storage) or a slice of a glommio DMA read. Both deref to `[u8]` and slice without
/// copying, so the server can hand them to a socket as they are.
#[derive(Clone, Debug)]
pub enum LogBytes {
    /// A reference-counted in-memory buffer.
    Shared(Bytes),
    /// A (sliced) DMA read buffer.
    Dma(glommio::io::ReadResult),
}

impl LogBytes {
    /// A sub-range of these bytes, without copying. `None` if the range is out of bounds.
    pub fn slice(&self, offset: usize, len: usize) -> Option<LogBytes> {
        let end = offset.checked_add(len)?;
        if end > self.len() {
            return None;
        }
        match self {
            LogBytes::Shared(b) => Some(LogBytes::Shared(b.slice(offset..end))),
            LogBytes::Dma(r) => glommio::io::ReadResult::slice(r, offset, len).map(LogBytes::Dma),
        }
    }
}

impl Deref for LogBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            LogBytes::Shared(b) => b,
            LogBytes::Dma(r) => r,
        }
    }
}

impl AsRef<[u8]> for LogBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// A directory tree of files. Metadata operations are rare (segment roll, retention, startup)
/// and may block briefly; data operations are on [`StorageFile`].
#[allow(async_fn_in_trait)] // single-threaded executor: the futures never need to be Send
pub trait Storage: Clone + 'static {
    /// An open file.
    type File: StorageFile;

    /// Open `path`; with `create`, create it (empty) if it does not exist.
    async fn open(&self, path: &Path, create: bool) -> io::Result<Self::File>;
    /// Remove the file at `path`.
    async fn remove(&self, path: &Path) -> io::Result<()>;
    /// Create a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (files and directories); empty if it does not exist.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> bool;
    /// Remove a directory and everything under it (a missing directory is not an error).
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Last modification time of a file, in ms since the Unix epoch.
    fn modified_ms(&self, path: &Path) -> io::Result<i64>;
    /// Fraction (0.0..=1.0) of the file system holding `path` that is in use.
    fn disk_used_ratio(&self, path: &Path) -> io::Result<f64>;
    /// Take an exclusive lock on `path` (created if missing) for as long as the returned guard
    /// lives. Fails with `ErrorKind::WouldBlock` if another holder (another process, or
    /// another open store in this one) has it; a holder that dies releases it.
    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard>;
}

/// Holds a lock taken by [`Storage::lock_exclusive`]; dropping it releases the lock.
pub struct LockGuard(#[allow(dead_code)] Box<dyn std::any::Any>);

impl LockGuard {
    /// Wrap whatever keeps the lock held (released when it is dropped).
    pub fn new(holder: impl std::any::Any) -> Self {
        LockGuard(Box::new(holder))
    }
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockGuard")
    }
}

/// One open file. Positions are byte offsets from the start of the file.
#[allow(async_fn_in_trait)]
pub trait StorageFile: 'static {
    /// A write buffer suitable for this file (aligned memory for O_DIRECT).
    type Buf: AsRef<[u8]> + AsMut<[u8]> + 'static;

    /// A zeroed write buffer of `len` bytes (`len` a multiple of [`IO_ALIGNMENT_BYTES`]).
    fn alloc_buf(&self, len: usize) -> Self::Buf;
    /// A write buffer of `len` bytes whose contents are unspecified (the caller overwrites
    /// all of it): saves zeroing a buffer that is about to be filled.
    fn alloc_buf_for_overwrite(&self, len: usize) -> Self::Buf {
        self.alloc_buf(len)
    }
    /// Write `buf` at `pos` (aligned). Returns the bytes written, which may be fewer than asked.
    async fn write_at(&self, buf: Self::Buf, pos: u64) -> io::Result<usize>;
    /// Write `data` at `pos` (any alignment) through the page cache. Returns the bytes written,
    /// which may be fewer than asked. Completed, the bytes are the kernel's (they survive a
    /// `kill -9` and every read sees them) but only `fdatasync` puts them on the device.
    async fn write_cached_at(&self, data: Bytes, pos: u64) -> io::Result<usize>;
    /// Drop the page cache of `[pos, pos + len)`, bytes a completed `fdatasync` covered (the
    /// caller guarantees that): a hint, so it cannot fail, and reads stay correct either way
    /// (they go to the device). Nothing to do for storage without a page cache.
    async fn drop_cached(&self, _pos: u64, _len: u64) {}
    /// Read up to `len` bytes at `pos` (any alignment). Returns fewer only at end of file.
    async fn read_at(&self, pos: u64, len: usize) -> io::Result<LogBytes>;
    /// Make every completed write durable against a machine crash.
    async fn fdatasync(&self) -> io::Result<()>;
    /// Reserve space so the file is `len` bytes long (new space reads as zeros).
    async fn pre_allocate(&self, len: u64) -> io::Result<()>;
    /// Cut the file to `len` bytes.
    async fn truncate(&self, len: u64) -> io::Result<()>;
    /// Current size in bytes.
    async fn size(&self) -> io::Result<u64>;
}

/// Write `data` at the aligned position `pos` of `file`, zero-padding the last block. A short
/// write is retried (rewriting the whole aligned buffer is idempotent) up to
/// [`crate::limits::SHORT_WRITE_RETRIES_MAX`] times, then reported as an error.
pub async fn write_all_aligned<F: StorageFile>(file: &F, pos: u64, data: &[u8]) -> io::Result<()> {
    assert_eq!(pos, align_down(pos), "unaligned write position {pos}");
    let len = align_up(data.len() as u64) as usize;
    for _attempt in 0..=crate::limits::SHORT_WRITE_RETRIES_MAX {
        let mut buf = file.alloc_buf_for_overwrite(len);
        let (payload, padding) = buf.as_mut().split_at_mut(data.len());
        payload.copy_from_slice(data);
        padding.fill(0);
        let written = file.write_at(buf, pos).await?;
        if written >= len {
            return Ok(());
        }
    }
    Err(io::Error::new(
        io::ErrorKind::WriteZero,
        format!("short write of {len} bytes at {pos} persisted after retries"),
    ))
}

/// Read exactly `len` bytes at `pos`, or fail with `UnexpectedEof`.
pub async fn read_exact<F: StorageFile>(file: &F, pos: u64, len: usize) -> io::Result<LogBytes> {
    let got = file.read_at(pos, len).await?;
    if got.len() < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at {pos} returned {}", got.len()),
        ));
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_helpers_round_to_4k() {
        assert_eq!(align_down(0), 0);
        assert_eq!(align_down(4095), 0);
        assert_eq!(align_down(4096), 4096);
        assert_eq!(align_up(1), 4096);
        assert_eq!(align_up(4096), 4096);
        assert_eq!(align_up(4097), 8192);
    }

    #[test]
    fn shared_log_bytes_slice_checks_bounds() {
        let b = LogBytes::Shared(Bytes::from_static(b"hello world"));
        assert_eq!(&*b.slice(6, 5).unwrap(), b"world");
        assert!(b.slice(6, 6).is_none());
        assert!(b.slice(usize::MAX, 2).is_none());
    }
}
