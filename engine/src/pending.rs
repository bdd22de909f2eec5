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
//! - Moving to the next slab copies the bytes still pending. To keep that copy small the
//!   buffer moves right after a round is cut (when little is pending) if the slab has less
//!   room left than twice that round; a move forced by a record that does not fit is rare.
//! - A spare slab is reused only when `BytesMut::try_reclaim` proves no `Bytes` cut from it is
//!   alive (the bytes crate checks its reference count); nothing here is `unsafe`.
//! - At most `spare_max` spare slabs are kept (enough for the memory tail); the oldest beyond
//!   that is let go, and its memory is freed when its last `Bytes` drops.

use crate::limits::{PENDING_SLAB_BYTES, PENDING_SPARE_SLABS_MIN};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// See the module docs.
pub(crate) struct PendingBuf {
    current: BytesMut,
    /// Slabs set aside, oldest first; each may still back live `Bytes`.
    spare: VecDeque<BytesMut>,
    slab_bytes: usize,
    spare_max: usize,
    /// Slabs allocated (not reused) so far: a steady stream stops adding to it.
    slabs_allocated: u64,
}

impl PendingBuf {
    /// A buffer whose cut chunks are kept for up to `tail_cache_bytes` (sizes its spare list).
    pub(crate) fn new(tail_cache_bytes: usize) -> Self {
        Self::with_slab_bytes(PENDING_SLAB_BYTES, tail_cache_bytes)
    }

    pub(crate) fn with_slab_bytes(slab_bytes: usize, tail_cache_bytes: usize) -> Self {
        PendingBuf {
            current: BytesMut::new(),
            spare: VecDeque::new(),
            slab_bytes,
            // Rounds are usually far smaller than a slab, so a slab mostly holds at least
            // half its size of the tail (see `split_to`); too short a list only costs churn.
            spare_max: (2 * tail_cache_bytes / slab_bytes).saturating_add(PENDING_SPARE_SLABS_MIN),
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

    fn room(&self) -> usize {
        self.current.capacity() - self.current.len()
    }

    /// Make room for `additional` more bytes without a reallocation while encoding.
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.room() < additional {
            self.move_to_next_slab(additional);
        }
    }

    /// Move the pending bytes to a reclaimed spare slab or, when none is free, a new one
    /// with room for `additional` more.
    fn move_to_next_slab(&mut self, additional: usize) {
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
        while self.spare.len() > self.spare_max {
            self.spare.pop_front();
        }
    }

    /// The first spare slab (oldest first: the memory tail releases in log order) that no
    /// `Bytes` references any more and that can hold `need` bytes.
    fn take_free_spare(&mut self, need: usize) -> Option<BytesMut> {
        // Asking for a whole slab makes `try_reclaim` restart at the allocation's beginning;
        // for less it may hand back only the end left after the last cut.
        let want = need.max(self.slab_bytes);
        let at = self
            .spare
            .iter_mut()
            .position(|slab| slab.try_reclaim(want))?;
        self.spare.remove(at)
    }

    /// Cut the first `n` pending bytes off as an immutable chunk (a flush round).
    pub(crate) fn split_to(&mut self, n: usize) -> Bytes {
        let chunk = self.current.split_to(n).freeze();
        if self.room() < 2 * n {
            self.move_to_next_slab(0);
        }
        chunk
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
    const TAIL: usize = 4 * 1024;

    #[test]
    fn bytes_stay_contiguous_and_in_order_across_slabs() {
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
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
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
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
    fn a_reclaimed_slab_starts_over_at_its_beginning() {
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
        p.reserve(100);
        let first_slab = p.buf().as_ptr();
        p.buf().extend_from_slice(&[1u8; 100]);
        drop(p.split_to(100));
        // A whole slab does not fit the first one's room: move to a second slab; cutting it
        // all leaves no room there, so the buffer moves again, back to the free first one.
        p.reserve(SLAB);
        p.buf().extend_from_slice(&[2u8; SLAB]);
        drop(p.split_to(SLAB));
        assert_eq!(p.buf().as_ptr(), first_slab);
        assert_eq!(
            p.buf().capacity(),
            SLAB,
            "only the slab's end was reclaimed"
        );
        assert_eq!(p.slabs_allocated(), 2);
    }

    #[test]
    fn a_slab_still_referenced_is_never_reused() {
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
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
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
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
        let mut p = PendingBuf::with_slab_bytes(SLAB, TAIL);
        let mut held = Vec::new();
        for _ in 0..(p.spare_max * 3) {
            p.reserve(SLAB);
            p.buf().extend_from_slice(&[3u8; SLAB]);
            held.push(p.split_to(SLAB));
        }
        assert!(p.spare.len() <= p.spare_max);
        assert!(held.iter().all(|c| c.iter().all(|b| *b == 3)));
    }
}
