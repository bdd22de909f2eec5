//! The glommio task queues of the engine's background tasks, created once per executor and
//! shared by every store opened on it (reopening a store must not create queues without end).
//!
//! - zero-fill: low shares, latency not important: it yields to appends and reads.
//!
//! (The flusher runs in the default queue: a queue of its own with a short latency target was
//! measured slower, see `store.rs`.)

use std::cell::RefCell;
use std::future::Future;

/// Which background queue a task runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queue {
    /// The zero-fill task.
    ZeroFill,
}

/// Shares of the zero-fill queue.
const ZERO_FILL_SHARES: usize = 50;

thread_local! {
    /// (executor id, queue, handle) of the queues created on this thread's executors.
    static QUEUES: RefCell<Vec<(usize, Queue, glommio::TaskQueueHandle)>> =
        const { RefCell::new(Vec::new()) };
}

/// Spawn the future `make` returns into `queue` on the current executor (into the default
/// queue if that queue cannot be used).
pub(crate) fn spawn<F: Future<Output = ()> + 'static>(
    queue: Queue,
    make: impl Fn() -> F,
) -> glommio::task::JoinHandle<()> {
    let ex = glommio::executor();
    let id = ex.id();
    let handle = QUEUES.with(|qs| {
        let mut qs = qs.borrow_mut();
        if let Some((_, _, h)) = qs.iter().find(|(e, q, _)| *e == id && *q == queue) {
            return *h;
        }
        let h = match queue {
            Queue::ZeroFill => ex.create_task_queue(
                glommio::Shares::Static(ZERO_FILL_SHARES),
                glommio::Latency::NotImportant,
                "rmq-engine-zero-fill",
            ),
        };
        // Executor ids can be reused by later executors on this thread: drop stale entries.
        qs.retain(|(e, q, _)| !(*e == id && *q == queue));
        qs.push((id, queue, h));
        h
    });
    match glommio::spawn_local_into(make(), handle) {
        Ok(task) => task.detach(),
        Err(_) => glommio::spawn_local(make()).detach(),
    }
}
