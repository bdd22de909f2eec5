//! The per-shard memory budget: bytes of request frames the shard may hold at once.
//!
//! Lives on one shard (an `Rc`, never shared across cores). A connection takes a
//! [`MemoryPermit`] for a frame's announced size *before* buffering the frame; when the budget
//! cannot cover it the frame is skipped and answered with SYSTEM_BUSY, so a flood of large
//! requests costs a bounded amount of memory. The permit is released when the request's
//! processing ends (drop).

use std::cell::Cell;
use std::rc::Rc;

/// Bytes available to requests on this shard.
#[derive(Debug)]
pub struct MemoryBudget {
    capacity_bytes: usize,
    used_bytes: Cell<usize>,
}

impl MemoryBudget {
    /// A budget of `capacity_bytes`.
    pub fn new(capacity_bytes: usize) -> Rc<Self> {
        Rc::new(MemoryBudget {
            capacity_bytes,
            used_bytes: Cell::new(0),
        })
    }

    /// Reserve `bytes`, or `None` when that would exceed the capacity.
    pub fn try_acquire(self: &Rc<Self>, bytes: usize) -> Option<MemoryPermit> {
        let used = self.used_bytes.get();
        let after = used.checked_add(bytes)?;
        if after > self.capacity_bytes {
            return None;
        }
        self.used_bytes.set(after);
        Some(MemoryPermit {
            budget: Rc::clone(self),
            bytes,
        })
    }

    /// Bytes currently reserved.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.get()
    }
}

/// A reservation; gives its bytes back on drop.
#[derive(Debug)]
pub struct MemoryPermit {
    budget: Rc<MemoryBudget>,
    bytes: usize,
}

impl Drop for MemoryPermit {
    fn drop(&mut self) {
        let used = self.budget.used_bytes.get();
        assert!(
            used >= self.bytes,
            "memory budget released more than it reserved"
        );
        self.budget.used_bytes.set(used - self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_bounded_and_returned_on_drop() {
        let budget = MemoryBudget::new(100);
        let a = budget.try_acquire(60).unwrap();
        assert!(budget.try_acquire(41).is_none());
        let b = budget.try_acquire(40).unwrap();
        assert_eq!(budget.used_bytes(), 100);
        drop(a);
        assert_eq!(budget.used_bytes(), 40);
        drop(b);
        assert_eq!(budget.used_bytes(), 0);
        assert!(budget.try_acquire(usize::MAX).is_none());
    }
}
