//! The transport: accept loops and the per-connection loop shared by the broker and the
//! NameServer.
//!
//! A connection lives on the shard that accepted it. Its reader loop:
//! 1. checks the frame at the head of the read buffer with [`rmq_protocol::frame::check`]
//!    (allocation-free) — a broken frame (bad length, serialize type or header length) closes
//!    the connection, as Java's decoder does, because the stream can no longer be re-synced;
//! 2. reserves the frame's announced size from the shard's
//!    [`MemoryBudget`](budget::MemoryBudget) *before* buffering its body; when the budget
//!    cannot cover it, only the header is read, the body is discarded as it arrives and the
//!    request gets SYSTEM_BUSY;
//! 3. decodes the command; an undecodable header gets a SYSTEM_ERROR reply and the connection
//!    keeps serving (the framing is intact, so the stream is still in sync) — unless not even
//!    the opaque can be read from it, then the connection closes as Java's decoder does (there
//!    is nothing to answer, and the client would wait for a reply that never comes);
//! 4. admits it against the connection's in-flight limit (SYSTEM_BUSY when full) and runs the
//!    service's handler in its own task, so a long-polling request never blocks the requests
//!    behind it.
//!
//! Responses and broker-initiated requests go through one bounded outbound queue to the writer
//! task. A response is a [`Reply`]: a command plus optional body parts (the store's record
//! buffers on the pull path). The writer takes every reply queued when it wakes, encodes their
//! preambles and headers (`RemotingCommand::encode_header_to_vec`) into one reused buffer and
//! sends them with their bodies — the command's own body or the parts — in one non-blocking
//! vectored `sendmsg` on the socket's descriptor ([`writev`]); nothing is concatenated in
//! user space, so pulled records
//! go from the CommitLog's buffers (in-memory tail slices or DMA read buffers) to the kernel
//! without a copy. Short writes finish through glommio's async write path. Oneway requests
//! never get a reply, not even an error. A connection with no inbound
//! bytes for `serverChannelMaxIdleTimeSeconds` (120 s) is closed.
//!
//! Invariants: the read buffer never holds more than one frame beyond what its permit covers
//! (at most a header of `HEADER_SIZE_BYTES_MAX` while answering SYSTEM_BUSY); every queue is
//! bounded; nothing here panics on peer input.

pub mod budget;
pub mod client;
pub mod reply;
pub mod writev;

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::os::unix::io::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use rmq_protocol::command::{binary, json};
use rmq_protocol::frame::{self, FrameStatus, SerializeType};
use rmq_protocol::limits::{FRAME_PREAMBLE_BYTES, HEADER_SIZE_BYTES_MAX};
use rmq_protocol::{CodecError, RemotingCommand};

use self::budget::MemoryPermit;
pub use self::reply::{Reply, SendableReply};
use crate::limits::{CONNECTION_PUSH_QUEUE_CAPACITY, SOCKET_READ_CHUNK_BYTES};
use crate::shard::Shard;
use crate::wire::{response_code, SYSTEM_BUSY_OVERLOAD_REMARK};

/// Process-unique id of a connection: the shard in the top 16 bits, a per-shard sequence below.
pub type ConnectionId = u64;

/// One accepted connection, as the services see it. Lives on its shard only.
#[derive(Debug)]
pub struct Connection {
    /// Process-unique id.
    pub id: ConnectionId,
    /// The shard that owns the socket.
    pub shard: usize,
    /// The peer's address (`clientAddr` in connection lists).
    pub peer: SocketAddr,
    /// Our local port (the broker's main or VIP port).
    pub local_port: u16,
    /// Frames for the writer task. The channel grows on demand (a bounded glommio channel
    /// allocates its whole capacity up front: ~700 KB for the default in-flight limit, per
    /// connection, which 2,000 idle connections turned into gigabytes); `outbound_room`
    /// bounds it instead.
    outbound: LocalSender<Reply>,
    /// Free slots of `outbound`: taken by whoever queues a reply, given back by the writer
    /// as it takes replies off the queue.
    outbound_room: Rc<glommio::sync::Semaphore>,
    /// Requests of this connection being processed.
    in_flight: Cell<usize>,
}

impl Connection {
    /// Queue a broker-initiated request (e.g. NOTIFY_CONSUMER_IDS_CHANGED). Returns false when
    /// the queue is full or the connection is gone; such pushes are hints and may be dropped.
    pub fn try_push(&self, cmd: RemotingCommand) -> bool {
        if !matches!(self.outbound_room.try_acquire(1), Ok(true)) {
            return false;
        }
        let sent = self.outbound.try_send(Reply::from(cmd)).is_ok();
        if !sent {
            self.outbound_room.signal(1);
        }
        sent
    }

    /// Queue a response, waiting for room (the queue drains as the writer sends).
    async fn respond(&self, reply: impl Into<Reply>) {
        // A closed queue means the writer died with the socket; nothing left to tell.
        if self.outbound_room.acquire(1).await.is_err() {
            return;
        }
        if self.outbound.try_send(reply.into()).is_err() {
            self.outbound_room.signal(1);
        }
    }
}

/// Something that answers requests: the NameServer or the broker. One instance per shard.
pub trait Service: 'static {
    /// Process one request; `None` means no reply (the transport also never replies to a
    /// oneway request, whatever this returns). A reply's body parts are written after its
    /// header without being copied ([`Reply`]).
    fn handle(
        self: Rc<Self>,
        conn: Rc<Connection>,
        cmd: RemotingCommand,
    ) -> impl Future<Output = Option<Reply>> + 'static;

    /// The connection closed (peer gone, idle, broken framing or shutdown).
    fn connection_closed(self: Rc<Self>, conn: &Rc<Connection>);
}

/// Accept on `listener` until the shard stops, serving each connection with `service`.
pub async fn serve<S: Service>(shard: Rc<Shard>, listener: TcpListener, service: Rc<S>) {
    let accept_loop = {
        let shard = Rc::clone(&shard);
        async move {
            loop {
                match listener.accept().await {
                    Ok(stream) => {
                        let shard = Rc::clone(&shard);
                        let service = Rc::clone(&service);
                        glommio::spawn_local(run_connection(shard, service, stream)).detach();
                    }
                    Err(e) => {
                        // EMFILE and friends: back off briefly instead of spinning.
                        log_warn!("accept failed", error = e);
                        glommio::timer::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    futures_lite::future::or(accept_loop, shard.stopping()).await;
}

/// Serve one connection until it closes.
async fn run_connection<S: Service>(shard: Rc<Shard>, service: Rc<S>, stream: TcpStream) {
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let local_port = stream.local_addr().map_or(0, |a| a.port());
    // Latency matters more than packet count for request/response traffic.
    let _ = stream.set_nodelay(true);
    let idle = Duration::from_secs(shard.runtime.idle_timeout_seconds);
    if let Err(e) = stream.set_read_timeout(Some(idle)) {
        log_warn!("cannot set idle timeout", peer = peer, error = e);
    }
    // The writer task sends vectored frames on the raw descriptor; the write half it holds
    // keeps the descriptor open.
    let fd = stream.as_raw_fd();
    let (reader, writer) = futures_lite::io::split(stream);
    let capacity = shard
        .runtime
        .connection_in_flight_requests_max
        .saturating_add(CONNECTION_PUSH_QUEUE_CAPACITY);
    let (tx, rx) = local_channel::new_unbounded();
    let room = Rc::new(glommio::sync::Semaphore::new(capacity as u64));
    let conn = Rc::new(Connection {
        id: shard.next_connection_id(),
        shard: shard.id,
        peer,
        local_port,
        outbound: tx,
        outbound_room: Rc::clone(&room),
        in_flight: Cell::new(0),
    });
    shard.register_connection(Rc::clone(&conn));
    glommio::spawn_local(async move {
        write_loop(fd, writer, rx, &room).await;
        // Nothing will drain the queue any more: wake and fail whoever waits for room.
        room.close();
    })
    .detach();

    let reason = futures_lite::future::or(read_loop(&shard, &service, &conn, reader), async {
        shard.stopping().await;
        CloseReason::Shutdown
    })
    .await;
    if reason != CloseReason::PeerClosed {
        log_info!("connection closed", peer = peer, reason = reason.name());
    }
    shard.unregister_connection(conn.id);
    Rc::clone(&service).connection_closed(&conn);
    // In-flight tasks hold their own `Rc<Connection>`; when the last one ends the outbound
    // queue closes, the writer ends and the socket is closed.
}

/// Why a connection's reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CloseReason {
    PeerClosed,
    Idle,
    BrokenFraming,
    /// A header that neither decodes nor yields an opaque to answer: Java's decoder closes the
    /// channel, and a client would otherwise wait for a reply that never comes.
    UnanswerableHeader,
    ReadError,
    Shutdown,
}

impl CloseReason {
    const fn name(self) -> &'static str {
        match self {
            CloseReason::PeerClosed => "peer closed",
            CloseReason::Idle => "idle timeout",
            CloseReason::BrokenFraming => "broken framing",
            CloseReason::UnanswerableHeader => "undecodable header without an opaque",
            CloseReason::ReadError => "read error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// Read, check, admit and dispatch frames until the connection ends.
async fn read_loop<S: Service, R: futures_lite::AsyncRead + Unpin>(
    shard: &Rc<Shard>,
    service: &Rc<S>,
    conn: &Rc<Connection>,
    mut reader: R,
) -> CloseReason {
    let mut buf = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
    // The reservation for the frame at the head of `buf`, taken once its length is known.
    let mut permit: Option<MemoryPermit> = None;
    // Body bytes still to drop of a frame answered with SYSTEM_BUSY for lack of budget.
    let mut discard_bytes: usize = 0;
    loop {
        // Handle everything already buffered.
        loop {
            if discard_bytes > 0 {
                let n = discard_bytes.min(buf.len());
                buf.advance(n);
                discard_bytes -= n;
                if discard_bytes > 0 {
                    break;
                }
            }
            match frame::check(&buf) {
                Err(e) => {
                    log_warn!("broken framing", peer = conn.peer, error = e);
                    return CloseReason::BrokenFraming;
                }
                Ok(FrameStatus::Complete(h)) => {
                    let held = match permit.take() {
                        Some(p) => Some(p),
                        None => shard.budget.try_acquire(h.frame_len),
                    };
                    let Some(held) = held else {
                        answer_over_budget(conn, &buf[h.header_range()], h.serialize_type).await;
                        buf.advance(h.frame_len);
                        continue;
                    };
                    let frame = buf.split_to(h.frame_len).freeze();
                    if let Err(reason) = dispatch_frame(shard, service, conn, frame, held).await {
                        return reason;
                    }
                }
                Ok(FrameStatus::Partial { frame_len }) => {
                    if buf.len() >= FRAME_PREAMBLE_BYTES && permit.is_none() {
                        // The preamble was validated by `check`; reserve before buffering.
                        match shard.budget.try_acquire(frame_len) {
                            Some(p) => permit = Some(p),
                            None => {
                                let header_len = header_len_of(&buf);
                                let header_end = FRAME_PREAMBLE_BYTES + header_len;
                                if buf.len() < header_end {
                                    // Read on until the header is here (bounded by the header
                                    // limit, which `check` enforced).
                                    break;
                                }
                                let ser = serialize_type_of(&buf);
                                answer_over_budget(
                                    conn,
                                    &buf[FRAME_PREAMBLE_BYTES..header_end],
                                    ser,
                                )
                                .await;
                                discard_bytes = frame_len - header_end;
                                buf.advance(header_end);
                                continue;
                            }
                        }
                    }
                    break;
                }
            }
        }
        // Make room for the rest of the current frame, a chunk at a time.
        let start = buf.len();
        buf.resize(start + SOCKET_READ_CHUNK_BYTES, 0);
        let read = reader.read(&mut buf[start..]).await;
        match read {
            Ok(0) => {
                buf.truncate(start);
                return CloseReason::PeerClosed;
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return CloseReason::Idle,
            Err(e) => {
                if e.kind() != std::io::ErrorKind::ConnectionReset {
                    log_warn!("read failed", peer = conn.peer, error = e);
                }
                return CloseReason::ReadError;
            }
        }
        // Keep the buffer from growing past one chunk of slack when idle.
        if buf.is_empty() && buf.capacity() > 4 * SOCKET_READ_CHUNK_BYTES {
            buf = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
        }
    }
}

/// The header length of a frame whose preamble `check` has validated.
fn header_len_of(buf: &[u8]) -> usize {
    let word = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let len = (word & 0x00FF_FFFF) as usize;
    debug_assert!(len <= HEADER_SIZE_BYTES_MAX);
    len
}

/// The serialize type of a frame whose preamble `check` has validated.
fn serialize_type_of(buf: &[u8]) -> SerializeType {
    SerializeType::from_code(buf[4]).unwrap_or_default()
}

/// Decode a header on its own (no body).
fn decode_header_only(header: &[u8], ser: SerializeType) -> Result<RemotingCommand, CodecError> {
    let mut cmd = match ser {
        SerializeType::Json => json::decode_header(header)?,
        SerializeType::RocketMq => binary::decode_header(header)?,
    };
    cmd.serialize_type = ser;
    Ok(cmd)
}

/// SYSTEM_BUSY for a request skipped because the shard's memory budget is spent.
async fn answer_over_budget(conn: &Connection, header: &[u8], ser: SerializeType) {
    let Ok(cmd) = decode_header_only(header, ser) else {
        return;
    };
    if cmd.is_oneway() || cmd.is_response() {
        return;
    }
    let resp = RemotingCommand::response_to(
        &cmd,
        response_code::SYSTEM_BUSY,
        Some(SYSTEM_BUSY_OVERLOAD_REMARK.to_string()),
    );
    conn.respond(resp).await;
}

/// Decode one complete frame and run it, or answer the error. `Err` means the connection
/// must close: the header cannot be decoded and carries no opaque to answer.
async fn dispatch_frame<S: Service>(
    shard: &Rc<Shard>,
    service: &Rc<S>,
    conn: &Rc<Connection>,
    frame: bytes::Bytes,
    permit: MemoryPermit,
) -> Result<(), CloseReason> {
    let cmd = match RemotingCommand::decode(frame.clone()) {
        Ok(cmd) => cmd,
        Err(e) => {
            log_warn!("undecodable header", peer = conn.peer, error = e);
            // Answer with what can be salvaged so the client fails fast instead of timing out.
            let Some((opaque, oneway)) = salvage_opaque(&frame) else {
                return Err(CloseReason::UnanswerableHeader);
            };
            if !oneway {
                let mut resp = RemotingCommand::response_to(
                    &RemotingCommand::default(),
                    response_code::SYSTEM_ERROR,
                    Some(format!("bad request header: {e}")),
                );
                resp.opaque = opaque;
                conn.respond(resp).await;
            }
            return Ok(());
        }
    };
    if cmd.is_response() {
        // Server connections issue no requests of their own that expect answers
        // (pushes are oneway), so a response here has no one waiting for it.
        return Ok(());
    }
    let oneway = cmd.is_oneway();
    if conn.in_flight.get() >= shard.runtime.connection_in_flight_requests_max {
        if !oneway {
            let resp = RemotingCommand::response_to(
                &cmd,
                response_code::SYSTEM_BUSY,
                Some(SYSTEM_BUSY_OVERLOAD_REMARK.to_string()),
            );
            conn.respond(resp).await;
        }
        return Ok(());
    }
    conn.in_flight.set(conn.in_flight.get() + 1);
    let guard = shard.begin_request();
    let conn = Rc::clone(conn);
    let service = Rc::clone(service);
    glommio::spawn_local(async move {
        let response = service.handle(Rc::clone(&conn), cmd).await;
        drop(permit);
        conn.in_flight.set(conn.in_flight.get() - 1);
        if let Some(resp) = response {
            if !oneway {
                conn.respond(resp).await;
            }
        }
        drop(guard);
    })
    .detach();
    Ok(())
}

/// The opaque and oneway flag of a frame whose header did not decode, when they can be read:
/// the binary header has them at fixed offsets; a JSON header may still parse as a value.
fn salvage_opaque(frame: &[u8]) -> Option<(i32, bool)> {
    let FrameStatus::Complete(h) = frame::check(frame).ok()? else {
        return None;
    };
    let header = &frame[h.header_range()];
    match h.serialize_type {
        SerializeType::RocketMq => {
            let opaque = i32::from_be_bytes(header.get(5..9)?.try_into().ok()?);
            let flag = i32::from_be_bytes(header.get(9..13)?.try_into().ok()?);
            Some((opaque, flag & rmq_protocol::command::FLAG_ONEWAY != 0))
        }
        SerializeType::Json => {
            let v: serde_json::Value = serde_json::from_slice(header).ok()?;
            let opaque = i32::try_from(v.get("opaque")?.as_i64()?).ok()?;
            let flag = v
                .get("flag")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0);
            Some((
                opaque,
                flag & i64::from(rmq_protocol::command::FLAG_ONEWAY) != 0,
            ))
        }
    }
}

/// Most replies gathered into one vectored send: bounds the iovec list (pull replies add
/// their parts) and the header bytes encoded before anything leaves.
const WRITE_BATCH_REPLIES_MAX: usize = 128;

/// Encode and write queued frames until the queue closes or the socket fails.
///
/// Every reply already queued when the writer wakes (up to [`WRITE_BATCH_REPLIES_MAX`]) leaves
/// in one vectored send: one syscall for a burst of responses instead of one each. Preambles
/// and headers are encoded back to back into one reused buffer; bodies (the command's own, or
/// a [`Reply`]'s parts — store buffers on the pull path) follow their header in the same send
/// without being copied ([`writev::write_all_vectored`], which also merges the adjacent header
/// ranges of body-less replies into one iovec).
async fn write_loop<W: futures_lite::AsyncWrite + Unpin>(
    fd: RawFd,
    mut writer: W,
    rx: LocalReceiver<Reply>,
    room: &glommio::sync::Semaphore,
) {
    // Grown on first use: an idle connection (there may be thousands) holds none of them.
    let mut heads: Vec<u8> = Vec::new();
    let mut batch: Vec<Reply> = Vec::new();
    // Per reply of the batch: where its header ends in `heads`, and whether its body follows
    // (not for the error reply that replaces an unencodable one).
    let mut framing: Vec<(usize, bool)> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < WRITE_BATCH_REPLIES_MAX {
            // `Some(None)` (closed) ends the outer loop at its next `recv`.
            match futures_lite::future::poll_once(rx.recv()).await {
                Some(Some(reply)) => batch.push(reply),
                _ => break,
            }
        }
        room.signal(batch.len() as u64);
        heads.clear();
        framing.clear();
        for reply in &batch {
            let with_body = encode_reply_header(reply, &mut heads);
            framing.push((heads.len(), with_body));
        }
        let mut slices: Vec<&[u8]> = Vec::with_capacity(batch.len() * 2);
        let mut head_start = 0;
        for (reply, &(head_end, with_body)) in batch.iter().zip(&framing) {
            if head_end > head_start {
                slices.push(&heads[head_start..head_end]);
            }
            head_start = head_end;
            if !with_body {
                continue;
            }
            if reply.parts.is_empty() {
                if let Some(body) = &reply.cmd.body {
                    slices.push(body);
                }
            } else {
                slices.extend(reply.parts.iter().map(|p| &**p));
            }
        }
        let written = writev::write_all_vectored(fd, &mut writer, &slices).await;
        drop(slices);
        batch.clear();
        if written.is_err() {
            return;
        }
        // An odd huge header (a long remark) must not pin its buffer for the connection's life.
        if heads.capacity() > 4 * SOCKET_READ_CHUNK_BYTES {
            heads = Vec::with_capacity(SOCKET_READ_CHUNK_BYTES);
        }
    }
    let _ = writer.close().await;
}

/// Append `reply`'s preamble and header to `heads`. Returns whether its body follows. A
/// response too large for a frame is replaced by a SYSTEM_ERROR reply (no body), so the client
/// hears about it instead of waiting; an unencodable request (a push) is dropped.
fn encode_reply_header(reply: &Reply, heads: &mut Vec<u8>) -> bool {
    let Err(e) = reply.cmd.encode_header_to_vec(reply.body_len(), heads) else {
        return true;
    };
    log_warn!("response not encodable", code = reply.cmd.code, error = e);
    if reply.cmd.is_response() {
        let mut resp = RemotingCommand::response_to(
            &RemotingCommand::default(),
            response_code::SYSTEM_ERROR,
            Some(format!("response not encodable: {e}")),
        );
        resp.opaque = reply.cmd.opaque;
        // A remark-only header always fits; if not, the reply is dropped like a push.
        let _ = resp.encode_header_to_vec(0, heads);
    }
    false
}

/// Bind a listener (SO_REUSEPORT, so every shard can bind the same port).
pub fn bind(address: &str, port: u16) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = format!("{address}:{port}")
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    TcpListener::bind(addr).map_err(|e| std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::ExtFields;

    #[test]
    fn opaque_is_salvaged_from_both_header_kinds() {
        let mut cmd = RemotingCommand::new_request(105, ExtFields::new());
        cmd.opaque = 4242;
        cmd.flag = rmq_protocol::command::FLAG_ONEWAY;
        let json = cmd.encode_to_bytes().unwrap();
        assert_eq!(salvage_opaque(&json), Some((4242, true)));
        cmd.serialize_type = SerializeType::RocketMq;
        cmd.flag = 0;
        let bin = cmd.encode_to_bytes().unwrap();
        assert_eq!(salvage_opaque(&bin), Some((4242, false)));
        assert_eq!(salvage_opaque(b"\0\0\0\x05\0\0\0\x01x"), None);
    }

    #[test]
    fn header_only_decode_reads_code_and_opaque() {
        let mut cmd = RemotingCommand::new_request(310, ExtFields::new());
        cmd.opaque = 9;
        let bytes = cmd.encode_to_bytes().unwrap();
        let header_len = header_len_of(&bytes);
        let got = decode_header_only(
            &bytes[FRAME_PREAMBLE_BYTES..FRAME_PREAMBLE_BYTES + header_len],
            serialize_type_of(&bytes),
        )
        .unwrap();
        assert_eq!((got.code, got.opaque), (310, 9));
    }
}
