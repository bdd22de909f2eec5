//! The pending buffer: CommitLog bytes encoded by appenders and not yet taken by a flush round,
//! held in large reusable slabs.
//!
//! # Why
//! A round takes its bytes as a frozen [`Bytes`] that the memory tail keeps for fresh reads
//! (`StoreConfig::tail_cache_bytes`, 64 MiB by default) and pulls may still be sending. While
//! any of them lives, a plain `BytesMut` cannot reuse its allocation, so it used to allocate a
//! new one every time it filled and free the old one once the tail let go. At these sizes
//! glibc serves that with `mmap`/`munmap`, so every byte of the log was first written into a
//! freshly faulted, kernel-zeroed anonymous page: about 13% of the ASYNC_FLUSH append profile
//! (page faults and `clear_page` under the record copy). Here a filled slab is set aside and
//! taken back once every `Bytes` cut from it has been dropped, so a steady stream cycles
//! through the same few slabs.
//!
//! # Invariants
//! - All pending bytes are contiguous in the current slab: a round is one `Bytes`.
//! - [`PendingBuf::reserve`] is called with a record's full size before it is encoded, so
//!   encoding never reallocates (a record never straddles two slabs).
//! - A spare slab is reused only when `BytesMut::try_reclaim` proves no `Bytes` cut from it is
//!   alive (the bytes crate checks its reference count); nothing here is `unsafe`.
//! - At most [`PENDING_SPARE_SLABS_MAX`] spare slabs are kept; the oldest beyond that is let
//!   go (its memory is freed when its last `Bytes` drops).

use crate::limits::{PENDING_SLAB_BYTES, PENDING_SPARE_SLABS_MAX};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// See the module docs.
pub(crate) struct PendingBuf {
    current: BytesMut,
    /// Slabs set aside when full, oldest first; each may still back live `Bytes`.
    spare: VecDeque<BytesMut>,
    slab_bytes: usize,
    /// Slabs allocated (not reused) so far: a steady stream stops adding to it.
    slabs_allocated: u64,
}

impl PendingBuf {
    pub(crate) fn new() -> Self {
        Self::with_slab_bytes(PENDING_SLAB_BYTES)
    }

    pub(crate) fn with_slab_bytes(slab_bytes: usize) -> Self {
        PendingBuf {
            current: BytesMut::new(),
            spare: VecDeque::new(),
            slab_bytes,
            slabs_allocated: 0,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    pub(crate) fn slabs_allocated(&self) -> u64 {
        self.slabs_allocated
    }

    /// The buffer to encode into; call [`Self::reserve`] for the bytes first.
    pub(crate) fn buf(&mut self) -> &mut BytesMut {
        &mut self.current
    }

    /// Make room for `additional` more bytes without a reallocation while encoding: if the
    /// current slab is too small, move the pending bytes to a reclaimed spare slab or, when
    /// none is free, to a new one.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.current.capacity() - self.current.len() >= additional {
            return;
        }
        // Before the first slab, `current` is the empty `BytesMut::new()`, not worth keeping.
        let current_is_slab = self.slabs_allocated > 0;
        let need = self.current.len() + additional;
        let mut next = match self.take_free_spare(need) {
            Some(slab) => slab,
            None => {
                self.slabs_allocated += 1;
                BytesMut::with_capacity(need.max(self.slab_bytes))
            }
        };
        next.extend_from_slice(&self.current);
        let mut full = std::mem::replace(&mut self.current, next);
        full.clear();
        if current_is_slab {
            self.spare.push_back(full);
        }
        while self.spare.len() > PENDING_SPARE_SLABS_MAX {
            self.spare.pop_front();
        }
    }

    /// The first spare slab (oldest first: the memory tail releases in log order) that no
    /// `Bytes` references any more and that can hold `need` bytes.
    fn take_free_spare(&mut self, need: usize) -> Option<BytesMut> {
        let at = self
            .spare
            .iter_mut()
            .position(|slab| slab.try_reclaim(need))?;
        self.spare.remove(at)
    }

    /// Cut the first `n` pending bytes off as an immutable chunk (a flush round).
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        self.current.split_to(n).freeze()
    }

    /// Drop every pending byte (a rollback); the slab stays.
    pub(crate) fn clear(&mut self) {
        self.current.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLAB: usize = 4096;

    #[test]
    fn bytes_stay_contiguous_and_in_order_across_slabs() {
        let mut p = PendingBuf::with_slab_bytes(SLAB);
        let mut expected = Vec::new();
        let mut cut = Vec::new();
        for i in 0..200u32 {
            let record = vec![i as u8; 100 + (i as usize % 7) * 50];
            p.reserve(record.len());
            let at = p.buf().as_ptr();
            p.buf().extend_from_slice(&record);
            assert_eq!(p.buf().as_ptr(), at, "encoding reallocated");
            expected.extend_from_slice(&record);
            if i % 5 == 4 {
                let n = p.buf().len() - 30.min(p.buf().len());
                cut.push(p.split_to(n));
            }
        }
        let n = p.buf().len();
        cut.push(p.split_to(n));
        assert!(p.is_empty());
        assert_eq!(cut.concat(), expected);
    }

    #[test]
    fn slabs_are_reused_once_their_chunks_are_dropped() {
        let mut p = PendingBuf::with_slab_bytes(SLAB);
        let mut tail: VecDeque<Bytes> = VecDeque::new();
        for _ in 0..1000 {
            p.reserve(1000);
            p.buf().extend_from_slice(&[7u8; 1000]);
            let n = p.buf().len();
            tail.push_back(p.split_to(n));
            // A memory tail of 4 chunks.
            if tail.len() > 4 {
                tail.pop_front();
            }
        }
        // 1 MB went through; the tail (4 KB) spans at most two slabs, plus the current one.
        assert!(
            p.slabs_allocated() <= 4,
            "allocated {} slabs",
            p.slabs_allocated()
        );
    }

    #[test]
    fn a_slab_still_referenced_is_never_reused() {
        let mut p = PendingBuf::with_slab_bytes(SLAB);
        p.reserve(SLAB);
        p.buf().extend_from_slice(&[1u8; SLAB]);
        let held = p.split_to(SLAB);
        for round in 0..20u8 {
            p.reserve(SLAB);
            p.buf().extend_from_slice(&[round; SLAB]);
            drop(p.split_to(SLAB));
        }
        assert_eq!(
            &held[..],
            &[1u8; SLAB][..],
            "the held chunk was overwritten"
        );
    }

    #[test]
    fn a_record_larger_than_a_slab_gets_its_own() {
        let mut p = PendingBuf::with_slab_bytes(SLAB);
        p.reserve(10);
        p.buf().extend_from_slice(b"0123456789");
        p.reserve(3 * SLAB);
        let at = p.buf().as_ptr();
        p.buf().extend_from_slice(&vec![9u8; 3 * SLAB]);
        assert_eq!(p.buf().as_ptr(), at, "encoding reallocated");
        let n = p.buf().len();
        let all = p.split_to(n);
        assert_eq!(&all[..10], b"0123456789");
        assert_eq!(all.len(), 10 + 3 * SLAB);
    }

    #[test]
    fn spare_slabs_are_bounded_even_when_all_are_held() {
        let mut p = PendingBuf::with_slab_bytes(SLAB);
        let mut held = Vec::new();
        for _ in 0..(PENDING_SPARE_SLABS_MAX * 3) {
            p.reserve(SLAB);
            p.buf().extend_from_slice(&[3u8; SLAB]);
            held.push(p.split_to(SLAB));
        }
        assert!(p.spare.len() <= PENDING_SPARE_SLABS_MAX);
        assert!(held.iter().all(|c| c.iter().all(|b| *b == 3)));
    }
}
