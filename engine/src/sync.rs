//! Single-executor synchronisation primitives: a one-shot completion, a wake-up flag, and a
//! position watch (appenders wait for the durable position to pass their record's end).
//! All are `!Send` (`Rc`/`RefCell`), which is the point: everything of a shard runs on its
//! executor.

use std::cell::RefCell;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Debug)]
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// The completing side of a one-shot.
#[derive(Debug)]
pub struct Completer<T>(Rc<RefCell<Slot<T>>>);

/// The waiting side of a one-shot: a future that resolves with the value once completed.
#[derive(Debug)]
pub struct Completion<T>(Rc<RefCell<Slot<T>>>);

/// A connected pair.
pub fn oneshot<T>() -> (Completer<T>, Completion<T>) {
    let slot = Rc::new(RefCell::new(Slot {
        value: None,
        waker: None,
    }));
    (Completer(slot.clone()), Completion(slot))
}

impl<T> Completer<T> {
    /// Deliver the value and wake the waiter (the first value wins).
    pub fn complete(self, value: T) {
        let waker = {
            let mut slot = self.0.borrow_mut();
            if slot.value.is_none() {
                slot.value = Some(value);
            }
            slot.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Completion<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.0.borrow_mut();
        match slot.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// A level-triggered wake-up flag with one waiter (the flusher task).
#[derive(Debug, Default)]
pub struct Notify {
    state: RefCell<(bool, Option<Waker>)>,
}

impl Notify {
    /// Set the flag and wake the waiter.
    pub fn notify(&self) {
        let waker = {
            let mut s = self.state.borrow_mut();
            s.0 = true;
            s.1.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Wait until the flag is set, then clear it.
    pub fn notified(&self) -> Notified<'_> {
        Notified(self)
    }
}

/// Future of [`Notify::notified`].
#[derive(Debug)]
pub struct Notified<'a>(&'a Notify);

impl Future for Notified<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.state.borrow_mut();
        if s.0 {
            s.0 = false;
            Poll::Ready(())
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A monotonic position (the ack level) that futures wait to pass, or a failure that ends
/// every wait still pending. Waiters sit in a min-heap by target, so advancing wakes exactly
/// those now satisfied — one heap entry per waiting poll, no allocation per waiter beyond the
/// heap's amortised growth, and no channel per append.
#[derive(Debug)]
pub struct PositionWatch<E> {
    state: RefCell<WatchState<E>>,
}

#[derive(Debug)]
struct WatchState<E> {
    level: u64,
    failure: Option<E>,
    waiters: BinaryHeap<Reverse<Waiting>>,
}

#[derive(Debug)]
struct Waiting {
    target: u64,
    waker: Waker,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        self.target == other.target
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> Ordering {
        self.target.cmp(&other.target)
    }
}

impl<E: Clone> PositionWatch<E> {
    /// A watch at `level`.
    pub fn new(level: u64) -> Self {
        PositionWatch {
            state: RefCell::new(WatchState {
                level,
                failure: None,
                waiters: BinaryHeap::new(),
            }),
        }
    }

    /// The current level.
    pub fn level(&self) -> u64 {
        self.state.borrow().level
    }

    /// Raise the level (never lowers it) and wake every waiter whose target it reached.
    pub fn advance(&self, level: u64) {
        let mut ready = Vec::new();
        {
            let mut st = self.state.borrow_mut();
            st.level = st.level.max(level);
            let level = st.level;
            while st.waiters.peek().is_some_and(|w| w.0.target <= level) {
                if let Some(Reverse(w)) = st.waiters.pop() {
                    ready.push(w.waker);
                }
            }
        }
        // Woken outside the borrow: a waker may run code that touches the watch.
        for w in ready {
            w.wake();
        }
    }

    /// End every pending wait (and every later one not yet satisfied) with `failure`; the
    /// first failure wins.
    pub fn fail(&self, failure: E) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            if st.failure.is_none() {
                st.failure = Some(failure);
            }
            std::mem::take(&mut st.waiters)
        };
        for Reverse(w) in waiters {
            w.waker.wake();
        }
    }

    /// Wait until the level reaches `target` (`Ok`) or the watch fails (`Err`). A target
    /// already reached is `Ok` even after a failure: that data was acknowledged-level before.
    pub fn wait_for(&self, target: u64) -> WaitFor<'_, E> {
        WaitFor {
            watch: self,
            target,
        }
    }
}

/// Future of [`PositionWatch::wait_for`].
#[derive(Debug)]
pub struct WaitFor<'a, E> {
    watch: &'a PositionWatch<E>,
    target: u64,
}

impl<E: Clone> Future for WaitFor<'_, E> {
    type Output = Result<(), E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        let mut st = self.watch.state.borrow_mut();
        if st.level >= self.target {
            return Poll::Ready(Ok(()));
        }
        if let Some(f) = &st.failure {
            return Poll::Ready(Err(f.clone()));
        }
        st.waiters.push(Reverse(Waiting {
            target: self.target,
            waker: cx.waker().clone(),
        }));
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::{block_on, poll_once};

    #[test]
    fn oneshot_delivers_first_value() {
        let (c, w) = oneshot();
        c.complete(5);
        assert_eq!(futures_lite::future::block_on(w), 5);
    }

    #[test]
    fn notify_is_level_triggered() {
        let n = Notify::default();
        n.notify();
        futures_lite::future::block_on(n.notified());
        let pending = futures_lite::future::block_on(futures_lite::future::poll_once(n.notified()));
        assert!(pending.is_none());
    }

    #[test]
    fn position_watch_wakes_by_target_in_any_order() {
        let w: PositionWatch<&'static str> = PositionWatch::new(10);
        block_on(async {
            assert_eq!(w.wait_for(5).await, Ok(()));
            let mut far = Box::pin(w.wait_for(30));
            let mut near = Box::pin(w.wait_for(20));
            assert!(poll_once(far.as_mut()).await.is_none());
            assert!(poll_once(near.as_mut()).await.is_none());
            w.advance(25);
            assert_eq!(poll_once(near.as_mut()).await, Some(Ok(())));
            assert!(poll_once(far.as_mut()).await.is_none());
            w.advance(3); // never lowers
            assert_eq!(w.level(), 25);
            w.fail("disk gone");
            assert_eq!(poll_once(far.as_mut()).await, Some(Err("disk gone")));
            // Below the level stays Ok after a failure; above it fails at once.
            assert_eq!(w.wait_for(25).await, Ok(()));
            assert_eq!(w.wait_for(26).await, Err("disk gone"));
        });
    }
}
