//! Shards: one glommio `LocalExecutor` per core, the mesh between them, and the process
//! lifecycle (startup, SIGTERM, drain, exit).
//!
//! Ownership rules (architecture.md "Threads and ownership"):
//! - A [`Shard`] lives on exactly one executor thread; everything in it is `Rc`/`RefCell` and is
//!   never touched from another core.
//! - Control-plane state (NameServer route table and KV, broker topics, subscription groups,
//!   client registry, offsets) has one owner: [`CONTROL_PLANE_SHARD`]. Other shards forward
//!   mutating requests to it over the mesh ([`Shard::call_owner`]) and read from the read-only
//!   `Arc` snapshot the owner broadcasts after each change.
//! - Every message queue has one owner shard, [`queue_owner_shard`]; the data path forwards
//!   requests for a queue to its owner over the same mesh.
//! - The mesh is one bounded shared channel per ordered pair of shards
//!   ([`MESH_CHANNEL_CAPACITY`]). A forward that finds its channel full fails at once and the
//!   request is answered SYSTEM_BUSY; nothing queues without bound.

pub mod mesh;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::channels::local_channel;
use glommio::channels::shared_channel::{self, ConnectedReceiver, ConnectedSender};
use glommio::sync::Semaphore;
use glommio::{LocalExecutorBuilder, Placement};
use rmq_protocol::RemotingCommand;
use thiserror::Error;

pub use self::mesh::{ConnectionInfo, ServiceKind, ShardMessage};
use crate::config::RuntimeConfig;
use crate::limits::{MESH_CHANNEL_CAPACITY, SHUTDOWN_DRAIN_TIMEOUT, SIGNAL_POLL_INTERVAL};
use crate::transport::budget::MemoryBudget;
use crate::transport::{Connection, ConnectionId, Reply, SendableReply};

/// Index of a shard, `0..shards`.
pub type ShardId = usize;

/// The shard that owns control-plane state.
pub const CONTROL_PLANE_SHARD: ShardId = 0;

/// Locked memory each executor reserves for io_uring buffers (glommio refuses below 512 KiB).
const EXECUTOR_IO_MEMORY_BYTES: usize = 4 * 1024 * 1024;

/// The owner shard of message queue `(topic, queue_id)`: a stable function of both, so that a
/// topic's queues spread over all shards and the same queue maps to the same shard on every
/// restart with the same shard count. CRC-32 of the topic is stable across builds and
/// platforms (unlike `std`'s hasher).
pub fn queue_owner_shard(topic: &str, queue_id: u32, shards: usize) -> ShardId {
    assert!(shards > 0, "a process has at least one shard");
    let h = u64::from(crc32fast::hash(topic.as_bytes())) + u64::from(queue_id);
    // `h % shards` < shards, which fits a usize.
    usize::try_from(h % shards as u64).unwrap_or(0)
}

/// Why the server could not run.
#[derive(Debug, Error)]
pub enum ServerError {
    /// An executor could not be created (e.g. locked memory).
    #[error("cannot start shard {shard}: {reason}")]
    Executor { shard: ShardId, reason: String },
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    /// A service failed to initialise (state files and the like).
    #[error("{0}")]
    Init(String),
    /// A shard thread panicked.
    #[error("shard {0} failed")]
    ShardFailed(ShardId),
}

/// Process-wide stop request, set by SIGTERM/SIGINT or a failing shard.
static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Route SIGTERM and SIGINT to the graceful stop, and ignore SIGPIPE (a write to a closed
/// socket must be an error, not a process kill).
pub fn install_signal_handlers() {
    // SAFETY: the handler only performs an atomic store, which is async-signal-safe; the
    // sigaction struct is fully initialised (zeroed, then the handler set) before use.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_stop_signal as *const () as usize;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
        libc::sigaction(libc::SIGINT, &action, std::ptr::null_mut());
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Ask every shard to stop (same as SIGTERM).
pub fn request_stop() {
    STOP_REQUESTED.store(true, Ordering::SeqCst);
}

/// State shared by all shards of one [`run`] for the shutdown handshake.
#[derive(Debug, Default)]
struct Lifecycle {
    /// Stop request of this run only (a failing shard, or the caller of [`run_until`]).
    stop: Arc<AtomicBool>,
    /// Shards that have stopped accepting and finished their in-flight requests.
    drained: AtomicUsize,
    /// Set once the control-plane shard ran the final hooks (persist, unregister).
    finished: AtomicBool,
}

/// What a shard runs, decided by the binary.
pub trait ShardServices: Send + Clone + 'static {
    /// Create this shard's services and bind its listeners; runs on the shard's executor.
    fn start(
        &self,
        shard: &Rc<Shard>,
    ) -> impl std::future::Future<Output = Result<(), ServerError>>;

    /// Run once on the control-plane shard after every shard drained: persist state,
    /// unregister from NameServers.
    fn finish(&self, shard: &Rc<Shard>) -> impl std::future::Future<Output = ()>;

    /// Run on every shard once every shard drained (before the control-plane shard's
    /// [`finish`]):
    /// close per-shard resources such as the shard's message store.
    ///
    /// [`finish`]: ShardServices::finish
    fn finish_shard(&self, _shard: &Rc<Shard>) -> impl std::future::Future<Output = ()> {
        async {}
    }
}

/// The per-core state of one shard. Lives on its executor thread only.
pub struct Shard {
    /// This shard's index.
    pub id: ShardId,
    /// How many shards the process runs.
    pub count: usize,
    /// Reactor settings.
    pub runtime: RuntimeConfig,
    /// Bytes of requests this shard may hold.
    pub budget: Rc<MemoryBudget>,
    /// Senders to every other shard (`None` at our own index).
    peers: Vec<Option<ConnectedSender<ShardMessage>>>,
    /// Replies awaited from the owner shard, by request id.
    pending: RefCell<HashMap<u64, local_channel::LocalSender<Option<SendableReply>>>>,
    next_request_id: Cell<u64>,
    next_connection_seq: Cell<u64>,
    /// Live connections of this shard, for pushes routed here by id.
    connections: RefCell<HashMap<ConnectionId, Rc<Connection>>>,
    /// Requests being processed on this shard (drained before exit).
    in_flight: Cell<usize>,
    /// Closed when the shard stops; waiters wake with an error.
    stop: Semaphore,
    /// Set when `stop` is closed.
    stopped: Cell<bool>,
    /// Handlers of mesh messages, set by the services at startup.
    pub services: RefCell<mesh::Services>,
}

impl Shard {
    /// A future that completes when the shard is stopping.
    pub async fn stopping(&self) {
        // The semaphore has no permits; `acquire` only returns when it is closed.
        let _ = self.stop.acquire(1).await;
    }

    /// Whether the shard is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopped.get()
    }

    /// A fresh process-unique connection id.
    pub fn next_connection_id(&self) -> ConnectionId {
        let seq = self.next_connection_seq.get();
        self.next_connection_seq.set(seq + 1);
        ((self.id as u64) << 48) | (seq & 0xFFFF_FFFF_FFFF)
    }

    /// Track a live connection.
    pub fn register_connection(&self, conn: Rc<Connection>) {
        self.connections.borrow_mut().insert(conn.id, conn);
    }

    /// Forget a closed connection.
    pub fn unregister_connection(&self, id: ConnectionId) {
        self.connections.borrow_mut().remove(&id);
    }

    /// A live connection of this shard.
    pub fn connection(&self, id: ConnectionId) -> Option<Rc<Connection>> {
        self.connections.borrow().get(&id).cloned()
    }

    /// Count a request as in flight until the guard drops.
    pub fn begin_request(self: &Rc<Self>) -> InFlightGuard {
        self.in_flight.set(self.in_flight.get() + 1);
        InFlightGuard {
            shard: Rc::clone(self),
        }
    }

    /// Send `msg` to shard `to` without waiting; hands the message back when the channel is
    /// full or gone.
    // The message comes back by value, as glommio's channels do; boxing it would cost an
    // allocation on every forward to spare a move on the rare failure.
    #[allow(clippy::result_large_err)]
    pub fn try_send_to(&self, to: ShardId, msg: ShardMessage) -> Result<(), ShardMessage> {
        match self.peers.get(to).and_then(Option::as_ref) {
            Some(peer) => peer.try_send(msg).map_err(|e| match e {
                glommio::GlommioError::Closed(glommio::ResourceType::Channel(m))
                | glommio::GlommioError::WouldBlock(glommio::ResourceType::Channel(m)) => m,
                _ => unreachable_message(),
            }),
            None => Err(msg),
        }
    }

    /// Send `msg` to shard `to`, waiting for room. Used for replies and snapshots, which must
    /// not be dropped; the receiving side drains its channels in dedicated tasks, so the wait
    /// is bounded by the peer's progress.
    pub async fn send_to(&self, to: ShardId, msg: ShardMessage) -> bool {
        match self.peers.get(to).and_then(Option::as_ref) {
            Some(peer) => peer.send(msg).await.is_ok(),
            None => false,
        }
    }

    /// Tell the control-plane shard that a connection of this shard closed, so the service
    /// owning client registrations (`kind`) forgets it. Sent from a detached task: the close
    /// path must not wait on a full inbox.
    pub fn report_connection_closed(self: &Rc<Self>, kind: ServiceKind, conn: ConnectionInfo) {
        let shard = Rc::clone(self);
        glommio::spawn_local(async move {
            shard
                .send_to(
                    CONTROL_PLANE_SHARD,
                    ShardMessage::ConnectionClosed { kind, conn },
                )
                .await;
        })
        .detach();
    }

    /// Send a message built by `make` to every other shard. It is queued at once when the
    /// channel has room, so a snapshot broadcast during a request is ahead of that request's
    /// reply on the same channel (a client that reads after its own write sees it on any
    /// shard); a full channel falls back to a background task that waits for room.
    pub fn broadcast(self: &Rc<Self>, make: impl Fn() -> ShardMessage) {
        for to in 0..self.count {
            if to == self.id {
                continue;
            }
            let Err(msg) = self.try_send_to(to, make()) else {
                continue;
            };
            let shard = Rc::clone(self);
            glommio::spawn_local(async move {
                shard.send_to(to, msg).await;
            })
            .detach();
        }
    }

    /// Run `cmd` on the control-plane shard and return its answer. On the owner itself the
    /// service is called directly. `Err(())` means the owner's inbox is full or gone (answer
    /// SYSTEM_BUSY).
    pub async fn call_owner(
        self: &Rc<Self>,
        kind: ServiceKind,
        conn: ConnectionInfo,
        cmd: RemotingCommand,
    ) -> Result<Option<RemotingCommand>, ()> {
        self.call_shard(CONTROL_PLANE_SHARD, kind, conn, cmd).await
    }

    /// Run `cmd` on shard `to` (the owner of a queue, or the control-plane shard) and return
    /// its answer; on this shard itself the service is called directly. `Err(())` means the
    /// target's inbox is full or gone (answer SYSTEM_BUSY). A reply with body parts has them
    /// concatenated into its body here; [`Shard::call_shard_reply`] keeps them apart.
    pub async fn call_shard(
        self: &Rc<Self>,
        to: ShardId,
        kind: ServiceKind,
        conn: ConnectionInfo,
        cmd: RemotingCommand,
    ) -> Result<Option<RemotingCommand>, ()> {
        Ok(self
            .call_shard_reply(to, kind, conn, cmd)
            .await?
            .map(Reply::into_command))
    }

    /// [`Shard::call_shard`], keeping the reply's body parts for a zero-copy write. On this
    /// shard the parts come back as the store produced them; from another shard they are the
    /// shared buffers of [`SendableReply`].
    pub async fn call_shard_reply(
        self: &Rc<Self>,
        to: ShardId,
        kind: ServiceKind,
        conn: ConnectionInfo,
        cmd: RemotingCommand,
    ) -> Result<Option<Reply>, ()> {
        if self.id == to {
            return Ok(mesh::handle_on_owner(self, kind, conn, cmd).await);
        }
        let request_id = self.next_request_id.get();
        self.next_request_id.set(request_id + 1);
        let (tx, rx) = local_channel::new_bounded(1);
        self.pending.borrow_mut().insert(request_id, tx);
        let msg = ShardMessage::Forward {
            request_id,
            from: self.id,
            kind,
            conn,
            cmd,
        };
        if self.try_send_to(to, msg).is_err() {
            self.pending.borrow_mut().remove(&request_id);
            return Err(());
        }
        // The target always replies (its handler runs to completion); `None` here means the
        // pending entry was dropped at shutdown.
        Ok(rx.recv().await.ok_or(())?.map(Reply::from))
    }

    /// Deliver a reply from the owner to the waiting request.
    fn complete(&self, request_id: u64, response: Option<SendableReply>) {
        if let Some(tx) = self.pending.borrow_mut().remove(&request_id) {
            let _ = tx.try_send(response);
        }
    }
}

#[cold]
fn unreachable_message() -> ShardMessage {
    // glommio only returns Closed/WouldBlock with the channel payload from try_send.
    panic!("shared channel try_send returned an error without its message")
}

/// Keeps a request counted as in flight on its shard.
pub struct InFlightGuard {
    shard: Rc<Shard>,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let n = self.shard.in_flight.get();
        assert!(n > 0, "in-flight count underflow");
        self.shard.in_flight.set(n - 1);
    }
}

/// The endpoints of the mesh handed to one shard before its executor starts.
struct MeshEnds {
    senders: Vec<Option<shared_channel::SharedSender<ShardMessage>>>,
    receivers: Vec<(ShardId, shared_channel::SharedReceiver<ShardMessage>)>,
}

/// Build one bounded channel per ordered pair of shards.
fn build_mesh(count: usize) -> Vec<MeshEnds> {
    let mut ends: Vec<MeshEnds> = (0..count)
        .map(|_| MeshEnds {
            senders: (0..count).map(|_| None).collect(),
            receivers: Vec::new(),
        })
        .collect();
    for from in 0..count {
        for to in 0..count {
            if from == to {
                continue;
            }
            let (tx, rx) = shared_channel::new_bounded(MESH_CHANNEL_CAPACITY);
            ends[from].senders[to] = Some(tx);
            ends[to].receivers.push((from, rx));
        }
    }
    ends
}

/// Run `services` on `runtime.shards` pinned executors until SIGTERM (or [`request_stop`]),
/// then drain, run the final hooks and return.
pub fn run<S: ShardServices>(runtime: &RuntimeConfig, services: &S) -> Result<(), ServerError> {
    run_until(runtime, services, Arc::new(AtomicBool::new(false)))
}

/// [`run`], stopping also when `stop` is set: lets a test run a server in its own process,
/// stop it and start another one (the process-wide stop request cannot be taken back).
pub fn run_until<S: ShardServices>(
    runtime: &RuntimeConfig,
    services: &S,
    stop: Arc<AtomicBool>,
) -> Result<(), ServerError> {
    let count = runtime.shards;
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let lifecycle = Arc::new(Lifecycle {
        stop,
        ..Lifecycle::default()
    });
    let mut handles = Vec::with_capacity(count);
    for (id, ends) in build_mesh(count).into_iter().enumerate() {
        let runtime = runtime.clone();
        let services = services.clone();
        let lifecycle = Arc::clone(&lifecycle);
        let handle = LocalExecutorBuilder::new(Placement::Fixed(id % cpus))
            .name(&format!("shard-{id}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || shard_main(id, count, runtime, ends, services, lifecycle))
            .map_err(|e| ServerError::Executor {
                shard: id,
                reason: e.to_string(),
            })?;
        handles.push(handle);
    }
    let mut first_error = None;
    for (id, handle) in handles.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert(ServerError::ShardFailed(id));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The life of one shard.
async fn shard_main<S: ShardServices>(
    id: ShardId,
    count: usize,
    runtime: RuntimeConfig,
    ends: MeshEnds,
    services: S,
    lifecycle: Arc<Lifecycle>,
) -> Result<(), ServerError> {
    crate::log::set_shard(id);
    // Receivers first, each in its own task: a sender's `connect` waits for its receiver.
    let mut receivers = Vec::new();
    for (from, rx) in ends.receivers {
        receivers.push((from, glommio::spawn_local(rx.connect())));
    }
    let mut connected_receivers: Vec<(ShardId, ConnectedReceiver<ShardMessage>)> = Vec::new();
    let mut peers = Vec::with_capacity(count);
    let sender_connects = async {
        let mut out = Vec::with_capacity(count);
        for tx in ends.senders {
            out.push(match tx {
                Some(tx) => Some(tx.connect().await),
                None => None,
            });
        }
        out
    };
    let connected_senders = sender_connects.await;
    for (from, task) in receivers {
        connected_receivers.push((from, task.await));
    }
    peers.extend(connected_senders);

    let shard = Rc::new(Shard {
        id,
        count,
        budget: MemoryBudget::new(runtime.shard_memory_budget_bytes),
        runtime,
        peers,
        pending: RefCell::new(HashMap::new()),
        next_request_id: Cell::new(1),
        next_connection_seq: Cell::new(1),
        connections: RefCell::new(HashMap::new()),
        in_flight: Cell::new(0),
        stop: Semaphore::new(0),
        stopped: Cell::new(false),
        services: RefCell::new(mesh::Services::default()),
    });
    for (from, rx) in connected_receivers {
        let shard = Rc::clone(&shard);
        glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                mesh::on_message(&shard, from, msg);
            }
        })
        .detach();
    }
    // Watch for the stop request.
    {
        let shard = Rc::clone(&shard);
        let lifecycle = Arc::clone(&lifecycle);
        glommio::spawn_local(async move {
            while !STOP_REQUESTED.load(Ordering::SeqCst) && !lifecycle.stop.load(Ordering::SeqCst) {
                glommio::timer::sleep(SIGNAL_POLL_INTERVAL).await;
            }
            shard.stopped.set(true);
            shard.stop.close();
        })
        .detach();
    }

    let started = services.start(&shard).await;
    if let Err(e) = &started {
        log_error!("shard failed to start", error = e);
        lifecycle.stop.store(true, Ordering::SeqCst);
    }

    shard.stopping().await;
    // Drain: listeners and readers stop on the same signal; wait for requests in progress.
    let deadline = Instant::now() + SHUTDOWN_DRAIN_TIMEOUT;
    while shard.in_flight.get() > 0 && Instant::now() < deadline {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    if shard.in_flight.get() > 0 {
        log_warn!(
            "requests still in flight at shutdown",
            count = shard.in_flight.get()
        );
    }
    lifecycle.drained.fetch_add(1, Ordering::SeqCst);
    // Keep serving mesh messages until every shard drained, so forwarded requests complete.
    while lifecycle.drained.load(Ordering::SeqCst) < count {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    // No shard has client requests left, so no forwarded request can reach this shard's
    // resources any more.
    if started.is_ok() {
        services.finish_shard(&shard).await;
    }
    if id == CONTROL_PLANE_SHARD {
        if started.is_ok() {
            services.finish(&shard).await;
        }
        lifecycle.finished.store(true, Ordering::SeqCst);
        log_info!("stopped");
    } else {
        while !lifecycle.finished.load(Ordering::SeqCst) {
            glommio::timer::sleep(Duration::from_millis(10)).await;
        }
    }
    shard.pending.borrow_mut().clear();
    started
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_owner_is_stable_and_spreads_queues() {
        for shards in 1..8 {
            for q in 0..16 {
                let a = queue_owner_shard("TopicTest", q, shards);
                assert!(a < shards);
                assert_eq!(a, queue_owner_shard("TopicTest", q, shards));
            }
        }
        // Consecutive queues of one topic land on different shards.
        let owners: std::collections::BTreeSet<_> =
            (0..4).map(|q| queue_owner_shard("T", q, 4)).collect();
        assert_eq!(owners.len(), 4);
    }

    #[test]
    fn mesh_has_one_channel_per_ordered_pair() {
        let ends = build_mesh(3);
        for (id, e) in ends.iter().enumerate() {
            assert_eq!(e.receivers.len(), 2);
            assert!(e.senders[id].is_none());
            assert_eq!(e.senders.iter().filter(|s| s.is_some()).count(), 2);
        }
    }
}
