//! Single-threaded synchronisation primitives for tasks on one glommio executor: a one-shot
//! channel (a request waiting for its response) and a notifier (wake every waiter).
//!
//! Invariants: nothing here is `Send`; a value is delivered at most once; a dropped sender
//! wakes its receiver with `None`, so a waiter never hangs on a sender that is gone.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct OneshotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

/// The sending half of a one-shot channel.
pub struct OneshotSender<T> {
    state: Rc<RefCell<OneshotState<T>>>,
}

/// The receiving half: a future resolving to the value, or `None` if the sender was dropped.
pub struct OneshotReceiver<T> {
    state: Rc<RefCell<OneshotState<T>>>,
}

/// A new one-shot channel.
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let state = Rc::new(RefCell::new(OneshotState {
        value: None,
        waker: None,
        sender_gone: false,
    }));
    (
        OneshotSender {
            state: Rc::clone(&state),
        },
        OneshotReceiver { state },
    )
}

impl<T> OneshotSender<T> {
    /// Deliver the value and wake the receiver.
    pub fn send(self, value: T) {
        let waker = {
            let mut s = self.state.borrow_mut();
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        // `Drop` runs next and finds the value already there.
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = self.state.borrow_mut();
            s.sender_gone = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = self.state.borrow_mut();
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes every task waiting in [`Notify::notified`] when [`Notify::notify_all`] is called.
/// A waiter registered after the call waits for the next one (use a generation check around
/// it, as the callers do, to avoid missing a wake-up between checking and waiting).
#[derive(Default)]
pub struct Notify {
    generation: std::cell::Cell<u64>,
    waiters: RefCell<Vec<Waker>>,
}

impl Notify {
    /// A notifier with no waiters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wake every current waiter.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get().wrapping_add(1));
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for w in waiters {
            w.wake();
        }
    }

    /// Wait until the next [`Notify::notify_all`].
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.get(),
        }
    }
}

/// Future returned by [`Notify::notified`].
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.generation {
            return Poll::Ready(());
        }
        self.notify.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneshot_delivers_once_and_reports_a_dropped_sender() {
        futures_lite::future::block_on(async {
            let (tx, rx) = oneshot();
            tx.send(5);
            assert_eq!(rx.await, Some(5));
            let (tx, rx) = oneshot::<i32>();
            drop(tx);
            assert_eq!(rx.await, None);
        });
    }

    #[test]
    fn notify_wakes_a_waiter_registered_before_the_call() {
        futures_lite::future::block_on(async {
            let n = Notify::new();
            let waiting = n.notified();
            n.notify_all();
            waiting.await;
        });
    }
}
