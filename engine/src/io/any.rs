//! [`AnyStorage`]: the real disk or the fault-injecting one, chosen at run time, so one broker
//! build runs in production on [`GlommioStorage`] and in in-process fault tests on
//! [`FaultyStorage`] through the same request path.
//!
//! An enum, not a trait object: every call is one `match` on a two-variant tag (the production
//! arm is always taken, so the branch predicts perfectly) in front of an io_uring request that
//! costs microseconds; no allocation and no virtual call is added per I/O. Read buffers are
//! already an enum ([`LogBytes`]), so the read path is unchanged.

use super::fault::{FaultyFile, FaultyStorage};
use super::glommio_fs::{GlommioBuf, GlommioFile, GlommioStorage};
use super::{LockGuard, LogBytes, Storage, StorageFile};
use std::io;
use std::path::Path;

/// The real disk or the in-memory fault-injecting file system.
#[derive(Clone, Debug)]
pub enum AnyStorage {
    /// glommio DMA files (production).
    Disk(GlommioStorage),
    /// The fault-injecting in-memory file system (tests).
    Faulty(FaultyStorage),
}

impl Default for AnyStorage {
    fn default() -> Self {
        AnyStorage::Disk(GlommioStorage)
    }
}

/// An open file of an [`AnyStorage`].
#[derive(Debug)]
pub enum AnyFile {
    /// A glommio DMA file.
    Disk(GlommioFile),
    /// An in-memory file.
    Faulty(FaultyFile),
}

/// A write buffer of an [`AnyFile`].
pub enum AnyBuf {
    /// Aligned DMA memory.
    Disk(GlommioBuf),
    /// A plain vector.
    Faulty(Vec<u8>),
}

impl AsRef<[u8]> for AnyBuf {
    fn as_ref(&self) -> &[u8] {
        match self {
            AnyBuf::Disk(b) => b.as_ref(),
            AnyBuf::Faulty(b) => b,
        }
    }
}

impl AsMut<[u8]> for AnyBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        match self {
            AnyBuf::Disk(b) => b.as_mut(),
            AnyBuf::Faulty(b) => b,
        }
    }
}

impl Storage for AnyStorage {
    type File = AnyFile;

    async fn open(&self, path: &Path, create: bool) -> io::Result<AnyFile> {
        match self {
            AnyStorage::Disk(s) => s.open(path, create).await.map(AnyFile::Disk),
            AnyStorage::Faulty(s) => s.open(path, create).await.map(AnyFile::Faulty),
        }
    }

    async fn remove(&self, path: &Path) -> io::Result<()> {
        match self {
            AnyStorage::Disk(s) => s.remove(path).await,
            AnyStorage::Faulty(s) => s.remove(path).await,
        }
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        match self {
            AnyStorage::Disk(s) => s.create_dir_all(path),
            AnyStorage::Faulty(s) => s.create_dir_all(path),
        }
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        match self {
            AnyStorage::Disk(s) => s.list_dir(path),
            AnyStorage::Faulty(s) => s.list_dir(path),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        match self {
            AnyStorage::Disk(s) => s.exists(path),
            AnyStorage::Faulty(s) => s.exists(path),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        match self {
            AnyStorage::Disk(s) => s.remove_dir_all(path),
            AnyStorage::Faulty(s) => s.remove_dir_all(path),
        }
    }

    fn modified_ms(&self, path: &Path) -> io::Result<i64> {
        match self {
            AnyStorage::Disk(s) => s.modified_ms(path),
            AnyStorage::Faulty(s) => s.modified_ms(path),
        }
    }

    fn disk_used_ratio(&self, path: &Path) -> io::Result<f64> {
        match self {
            AnyStorage::Disk(s) => s.disk_used_ratio(path),
            AnyStorage::Faulty(s) => s.disk_used_ratio(path),
        }
    }

    fn lock_exclusive(&self, path: &Path) -> io::Result<LockGuard> {
        match self {
            AnyStorage::Disk(s) => s.lock_exclusive(path),
            AnyStorage::Faulty(s) => s.lock_exclusive(path),
        }
    }
}

/// A buffer of the other variant than the file is a bug of the caller (buffers come from
/// the file's own `alloc_buf`).
fn mismatched_buffer() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "write buffer allocated by another storage kind",
    )
}

impl StorageFile for AnyFile {
    type Buf = AnyBuf;

    fn alloc_buf(&self, len: usize) -> AnyBuf {
        match self {
            AnyFile::Disk(f) => AnyBuf::Disk(f.alloc_buf(len)),
            AnyFile::Faulty(f) => AnyBuf::Faulty(f.alloc_buf(len)),
        }
    }

    fn alloc_buf_for_overwrite(&self, len: usize) -> AnyBuf {
        match self {
            AnyFile::Disk(f) => AnyBuf::Disk(f.alloc_buf_for_overwrite(len)),
            AnyFile::Faulty(f) => AnyBuf::Faulty(f.alloc_buf_for_overwrite(len)),
        }
    }

    async fn write_at(&self, buf: AnyBuf, pos: u64) -> io::Result<usize> {
        match (self, buf) {
            (AnyFile::Disk(f), AnyBuf::Disk(b)) => f.write_at(b, pos).await,
            (AnyFile::Faulty(f), AnyBuf::Faulty(b)) => f.write_at(b, pos).await,
            _ => Err(mismatched_buffer()),
        }
    }

    async fn write_cached_at(&self, data: bytes::Bytes, pos: u64) -> io::Result<usize> {
        match self {
            AnyFile::Disk(f) => f.write_cached_at(data, pos).await,
            AnyFile::Faulty(f) => f.write_cached_at(data, pos).await,
        }
    }

    async fn drop_cached(&self, pos: u64, len: u64) {
        match self {
            AnyFile::Disk(f) => f.drop_cached(pos, len).await,
            AnyFile::Faulty(f) => f.drop_cached(pos, len).await,
        }
    }

    async fn read_at(&self, pos: u64, len: usize) -> io::Result<LogBytes> {
        match self {
            AnyFile::Disk(f) => f.read_at(pos, len).await,
            AnyFile::Faulty(f) => f.read_at(pos, len).await,
        }
    }

    async fn fdatasync(&self) -> io::Result<()> {
        match self {
            AnyFile::Disk(f) => f.fdatasync().await,
            AnyFile::Faulty(f) => f.fdatasync().await,
        }
    }

    async fn pre_allocate(&self, len: u64) -> io::Result<()> {
        match self {
            AnyFile::Disk(f) => f.pre_allocate(len).await,
            AnyFile::Faulty(f) => f.pre_allocate(len).await,
        }
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        match self {
            AnyFile::Disk(f) => f.truncate(len).await,
            AnyFile::Faulty(f) => f.truncate(len).await,
        }
    }

    async fn size(&self) -> io::Result<u64> {
        match self {
            AnyFile::Disk(f) => f.size().await,
            AnyFile::Faulty(f) => f.size().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::write_all_aligned;

    #[test]
    fn faulty_variant_passes_data_and_errors_through() {
        futures_lite::future::block_on(async {
            let fs = FaultyStorage::new();
            let any = AnyStorage::Faulty(fs.clone());
            let p = Path::new("/x");
            let f = any.open(p, true).await.unwrap();
            write_all_aligned(&f, 0, b"hello").await.unwrap();
            assert_eq!(&*f.read_at(0, 5).await.unwrap(), b"hello");
            assert!(any.exists(p));
            fs.faults(|x| x.write_errno = Some(libc::ENOSPC));
            let e = write_all_aligned(&f, 0, b"x").await.unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        });
    }
}
