//! Single-executor synchronisation primitives: a one-shot completion and a wake-up flag.
//! Both are `!Send` (`Rc`), which is the point: everything of a shard runs on its executor.

use std::cell::RefCell;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
