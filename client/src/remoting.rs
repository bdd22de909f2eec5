//! TCP transport: one [`Connection`] per socket, a [`ConnectionPool`] of them per address.
//!
//! A connection has one reader task and one writer task. Callers append encoded frames to the
//! connection's shared write buffer (no per-request channel message, no copy beyond the
//! encode) and ring the writer; the writer swaps the buffer out and writes it whole, so
//! requests issued while a write is in progress coalesce into the next one. The reader splits
//! frames off its buffer and completes the pending request with the same opaque.
//!
//! Invariants:
//! - every pending request is completed exactly once: by its response, by its timeout (the
//!   caller removes its own entry), or by the connection closing (all entries fail);
//! - the pending table holds at most [`CONNECTION_PENDING_REQUESTS_MAX`] entries and the write
//!   buffer at most about [`CONNECTION_WRITE_BUFFER_BYTES_MAX`] (writers wait beyond it);
//! - a frame from the peer that breaks the protocol limits closes the connection; it never
//!   panics and never makes us allocate more than the frame limit.
//! - requests from the peer (e.g. `NOTIFY_CONSUMER_IDS_CHANGED`) go to the pool's
//!   [`RequestHandler`]; non-oneway ones the handler does not answer get
//!   `REQUEST_CODE_NOT_SUPPORTED`, as Java's client does.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rmq_protocol::codes::response_code;
use rmq_protocol::command::FLAG_ONEWAY;
use rmq_protocol::{RemotingCommand, SerializeType};

use crate::error::{ClientError, ClientResult};
use crate::limits::{
    CONNECTION_PENDING_REQUESTS_MAX, CONNECTION_WRITE_BUFFER_BYTES_MAX, CONNECT_TIMEOUT,
    SOCKET_READ_CHUNK_BYTES,
};
use crate::sync::{oneshot, Notify, OneshotSender};
use crate::transport::Transport;

/// Called with each request a peer sends us; returns the response to send back, if any.
pub type RequestHandler = Rc<dyn Fn(&str, RemotingCommand) -> Option<RemotingCommand>>;

type Pending = RefCell<HashMap<i32, OneshotSender<ClientResult<RemotingCommand>>>>;

/// One TCP connection with request/response correlation by opaque.
pub struct Connection {
    addr: String,
    pending: Pending,
    write_buf: RefCell<BytesMut>,
    /// Rung when `write_buf` gains bytes or the connection closes.
    writer_doorbell: Notify,
    /// Rung when the writer took the buffer (space is free again) or the connection closed.
    drained: Notify,
    closed: Cell<bool>,
    close_reason: RefCell<String>,
    next_opaque: Cell<i32>,
    /// How request headers are serialized (peers answer in kind).
    serialize_type: SerializeType,
}

impl Connection {
    /// Connect to `addr` (`ip:port`) and start the reader and writer tasks. Requests go out
    /// with headers in `serialize_type`.
    pub async fn connect(
        addr: &str,
        handler: Option<RequestHandler>,
        serialize_type: SerializeType,
    ) -> ClientResult<Rc<Self>> {
        let sock: SocketAddr = addr
            .parse()
            .map_err(|_| ClientError::BadAddress(addr.to_string()))?;
        let stream = TcpStream::connect_timeout(sock, CONNECT_TIMEOUT)
            .await
            .map_err(|e| ClientError::Connect {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
        // Request/response traffic: latency over packet count.
        let _ = stream.set_nodelay(true);
        let (reader, writer) = futures_lite::io::split(stream);
        let conn = Rc::new(Connection {
            addr: addr.to_string(),
            pending: RefCell::new(HashMap::new()),
            write_buf: RefCell::new(BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES)),
            writer_doorbell: Notify::new(),
            drained: Notify::new(),
            closed: Cell::new(false),
            close_reason: RefCell::new(String::new()),
            next_opaque: Cell::new(1),
            serialize_type,
        });
        glommio::spawn_local(Rc::clone(&conn).write_loop(writer)).detach();
        glommio::spawn_local(Rc::clone(&conn).read_loop(reader, handler)).detach();
        Ok(conn)
    }

    /// The peer address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether the connection has closed (it will not carry more requests).
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Requests waiting for a response.
    pub fn pending_count(&self) -> usize {
        self.pending.borrow().len()
    }

    fn closed_error(&self) -> ClientError {
        ClientError::ConnectionClosed {
            addr: self.addr.clone(),
            reason: self.close_reason.borrow().clone(),
        }
    }

    fn next_opaque(&self) -> i32 {
        let v = self.next_opaque.get();
        // Positive ids only, skipping 0 after wrap-around.
        self.next_opaque.set(v.checked_add(1).unwrap_or(1));
        v
    }

    /// Encode `request` into the write buffer, waiting while the buffer is over its limit.
    async fn enqueue(&self, request: &RemotingCommand) -> ClientResult<()> {
        loop {
            if self.closed.get() {
                return Err(self.closed_error());
            }
            let waiting = self.drained.notified();
            if self.write_buf.borrow().len() < CONNECTION_WRITE_BUFFER_BYTES_MAX {
                break;
            }
            waiting.await;
        }
        request
            .encode(&mut self.write_buf.borrow_mut())
            .map_err(|source| ClientError::Codec {
                addr: self.addr.clone(),
                source,
            })?;
        self.writer_doorbell.notify_all();
        Ok(())
    }

    /// Send `request` and wait at most `timeout` for the response with its opaque.
    pub async fn invoke(
        &self,
        mut request: RemotingCommand,
        timeout: Duration,
    ) -> ClientResult<RemotingCommand> {
        if self.closed.get() {
            return Err(self.closed_error());
        }
        if self.pending.borrow().len() >= CONNECTION_PENDING_REQUESTS_MAX {
            return Err(ClientError::TooManyRequests {
                addr: self.addr.clone(),
                max: CONNECTION_PENDING_REQUESTS_MAX,
            });
        }
        let opaque = self.next_opaque();
        request.opaque = opaque;
        request.flag &= !FLAG_ONEWAY;
        request.serialize_type = self.serialize_type;
        let (tx, rx) = oneshot();
        self.pending.borrow_mut().insert(opaque, tx);
        let exchange = async {
            if let Err(e) = self.enqueue(&request).await {
                self.pending.borrow_mut().remove(&opaque);
                return Err(e);
            }
            match rx.await {
                Some(result) => result,
                None => Err(self.closed_error()),
            }
        };
        let timed_out = async {
            glommio::timer::sleep(timeout).await;
            Err(ClientError::Timeout {
                addr: self.addr.clone(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })
        };
        let result = futures_lite::future::or(exchange, timed_out).await;
        if result.is_err() {
            // Timed out (or failed): nobody will read a late answer.
            self.pending.borrow_mut().remove(&opaque);
        }
        result
    }

    /// Send `request` with the oneway flag.
    pub async fn invoke_oneway(&self, mut request: RemotingCommand) -> ClientResult<()> {
        request.opaque = self.next_opaque();
        request.flag |= FLAG_ONEWAY;
        request.serialize_type = self.serialize_type;
        self.enqueue(&request).await
    }

    fn close(&self, reason: &str) {
        if self.closed.replace(true) {
            return;
        }
        *self.close_reason.borrow_mut() = reason.to_string();
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (_, tx) in pending {
            tx.send(Err(self.closed_error()));
        }
        self.writer_doorbell.notify_all();
        self.drained.notify_all();
    }

    async fn write_loop<W: futures_lite::AsyncWrite + Unpin>(self: Rc<Self>, mut writer: W) {
        let mut out = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
        loop {
            let waiting = self.writer_doorbell.notified();
            if self.write_buf.borrow().is_empty() {
                if self.closed.get() {
                    break;
                }
                waiting.await;
                continue;
            }
            // Swap buffers: callers keep appending to the (empty) other one while we write.
            std::mem::swap(&mut out, &mut *self.write_buf.borrow_mut());
            self.drained.notify_all();
            if let Err(e) = writer.write_all(&out).await {
                self.close(&format!("write failed: {e}"));
                break;
            }
            out.clear();
        }
        let _ = writer.close().await;
    }

    async fn read_loop<R: futures_lite::AsyncRead + Unpin>(
        self: Rc<Self>,
        mut reader: R,
        handler: Option<RequestHandler>,
    ) {
        let mut buf = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
        // Reads land in a reused scratch buffer and only the bytes read are appended: decoded
        // frames keep slices of `buf` alive, so zero-filling a fresh chunk of it per read
        // (what `resize` would do) costs an allocation and a 64 KiB memset each time.
        let mut scratch = vec![0u8; SOCKET_READ_CHUNK_BYTES];
        let reason = loop {
            loop {
                match RemotingCommand::decode_from(&mut buf) {
                    Ok(Some(cmd)) => self.on_frame(cmd, handler.as_ref()).await,
                    Ok(None) => break,
                    Err(e) => {
                        self.close(&format!("bad frame: {e}"));
                        return;
                    }
                }
            }
            if self.closed.get() {
                break "closed".to_string();
            }
            match reader.read(&mut scratch).await {
                Ok(0) => break "peer closed".to_string(),
                Ok(n) => buf.extend_from_slice(&scratch[..n]),
                Err(e) => break format!("read failed: {e}"),
            }
        };
        self.close(&reason);
    }

    async fn on_frame(&self, cmd: RemotingCommand, handler: Option<&RequestHandler>) {
        if cmd.is_response() {
            let waiter = self.pending.borrow_mut().remove(&cmd.opaque);
            // A response nobody waits for (timed out) is dropped.
            if let Some(tx) = waiter {
                tx.send(Ok(cmd));
            }
            return;
        }
        let oneway = cmd.is_oneway();
        let opaque = cmd.opaque;
        let serialize_type = cmd.serialize_type;
        let code = cmd.code;
        let reply = match handler {
            Some(h) => h(&self.addr, cmd),
            None => None,
        };
        if oneway {
            return;
        }
        let mut reply = reply.unwrap_or_else(|| RemotingCommand {
            code: response_code::REQUEST_CODE_NOT_SUPPORTED,
            remark: Some(format!("request code {code} not supported by this client")),
            ..RemotingCommand::default()
        });
        reply.opaque = opaque;
        reply.flag = rmq_protocol::command::FLAG_RESPONSE;
        reply.serialize_type = serialize_type;
        // A failure here means the connection is closing; the reader notices on its own.
        let _ = self.enqueue(&reply).await;
    }
}

/// Connections per address, opened lazily, replaced when they close.
pub struct ConnectionPool {
    per_addr: usize,
    serialize_type: SerializeType,
    slots: RefCell<HashMap<String, Vec<Option<Rc<Connection>>>>>,
    next_slot: Cell<usize>,
    handler: RefCell<Option<RequestHandler>>,
}

impl ConnectionPool {
    /// A pool opening up to `per_addr` connections to each address (at least 1), sending
    /// JSON headers as Java clients do by default.
    pub fn new(per_addr: usize) -> Self {
        Self::with_serialize_type(per_addr, SerializeType::Json)
    }

    /// A pool whose requests use `serialize_type` headers (`ROCKETMQ` binary headers are
    /// cheaper to encode and decode; every 4.x+ broker accepts them and answers in kind).
    pub fn with_serialize_type(per_addr: usize, serialize_type: SerializeType) -> Self {
        ConnectionPool {
            per_addr: per_addr.max(1),
            serialize_type,
            slots: RefCell::new(HashMap::new()),
            next_slot: Cell::new(0),
            handler: RefCell::new(None),
        }
    }

    /// Set the handler for requests peers send us (applies to connections opened later).
    pub fn set_request_handler(&self, handler: RequestHandler) {
        *self.handler.borrow_mut() = Some(handler);
    }

    /// A live connection to `addr`, round-robin over its slots, connecting if needed.
    pub async fn get(&self, addr: &str) -> ClientResult<Rc<Connection>> {
        let slot = self.next_slot.get() % self.per_addr;
        self.next_slot.set(self.next_slot.get().wrapping_add(1));
        if let Some(conn) = self.existing(addr, slot) {
            return Ok(conn);
        }
        let handler = self.handler.borrow().clone();
        let conn = Connection::connect(addr, handler, self.serialize_type).await?;
        let mut slots = self.slots.borrow_mut();
        let list = slots
            .entry(addr.to_string())
            .or_insert_with(|| vec![None; self.per_addr]);
        // Another task may have connected this slot meanwhile; keep the first live one.
        match &list[slot] {
            Some(existing) if !existing.is_closed() => Ok(Rc::clone(existing)),
            _ => {
                list[slot] = Some(Rc::clone(&conn));
                Ok(conn)
            }
        }
    }

    fn existing(&self, addr: &str, slot: usize) -> Option<Rc<Connection>> {
        let slots = self.slots.borrow();
        let conn = slots.get(addr)?.get(slot)?.as_ref()?;
        (!conn.is_closed()).then(|| Rc::clone(conn))
    }

    /// Close and forget every connection to `addr`.
    pub fn close_addr(&self, addr: &str) {
        if let Some(list) = self.slots.borrow_mut().remove(addr) {
            for conn in list.into_iter().flatten() {
                conn.close("closed by the client");
            }
        }
    }

    /// Close every connection.
    pub fn close_all(&self) {
        let all = std::mem::take(&mut *self.slots.borrow_mut());
        for conn in all.into_values().flatten().flatten() {
            conn.close("closed by the client");
        }
    }
}

impl Drop for ConnectionPool {
    /// A dropped pool closes its connections: pending calls fail and the sockets shut down,
    /// instead of lingering until the peer closes them.
    fn drop(&mut self) {
        self.close_all();
    }
}

impl Transport for ConnectionPool {
    async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> ClientResult<RemotingCommand> {
        let conn = self.get(addr).await?;
        conn.invoke(request, timeout).await
    }

    async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> ClientResult<()> {
        let conn = self.get(addr).await?;
        conn.invoke_oneway(request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::run_local;
    use glommio::net::TcpListener;
    use rmq_protocol::ExtFields;

    /// A peer that reads `batch` requests, then answers them in reverse order; or, with
    /// `script`, writes those bytes and closes.
    async fn peer(listener: TcpListener, batch: usize, script: Option<Vec<u8>>) {
        let mut stream = listener.accept().await.unwrap();
        if let Some(bytes) = script {
            stream.write_all(&bytes).await.unwrap();
            // Keep the socket open until the client reads, then drop it.
            glommio::timer::sleep(Duration::from_millis(50)).await;
            return;
        }
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        while requests.len() < batch {
            let start = buf.len();
            buf.resize(start + 4096, 0);
            let n = stream.read(&mut buf[start..]).await.unwrap();
            buf.truncate(start + n);
            if n == 0 {
                return;
            }
            while let Some(cmd) = RemotingCommand::decode_from(&mut buf).unwrap() {
                requests.push(cmd);
            }
        }
        for req in requests.iter().rev() {
            let mut r = RemotingCommand::response_to(req, 0, Some(format!("echo {}", req.code)));
            r.has_ext_fields = true;
            stream
                .write_all(&r.encode_to_bytes().unwrap())
                .await
                .unwrap();
        }
        // Hold the connection open briefly so the client reads every answer.
        glommio::timer::sleep(Duration::from_millis(200)).await;
    }

    fn listener() -> (TcpListener, String) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        (l, addr)
    }

    #[test]
    fn answers_are_matched_by_opaque_even_out_of_order() {
        run_local(|| async {
            let (l, addr) = listener();
            glommio::spawn_local(peer(l, 3, None)).detach();
            let pool = Rc::new(ConnectionPool::new(1));
            let calls = (1..=3).map(|code| {
                let pool = Rc::clone(&pool);
                let addr = addr.clone();
                glommio::spawn_local(async move {
                    pool.invoke(
                        &addr,
                        RemotingCommand::new_request(code, ExtFields::new()),
                        Duration::from_secs(5),
                    )
                    .await
                })
            });
            let calls: Vec<_> = calls.collect();
            for (i, call) in calls.into_iter().enumerate() {
                let r = call.await.unwrap();
                assert_eq!(
                    r.remark.as_deref(),
                    Some(format!("echo {}", i + 1).as_str())
                );
            }
        });
    }

    #[test]
    fn silence_is_a_timeout_and_close_or_garbage_is_a_closed_connection() {
        run_local(|| async {
            // Accepts, reads nothing back: timeout.
            let (l, addr) = listener();
            glommio::spawn_local(peer(l, 1000, None)).detach();
            let pool = ConnectionPool::new(1);
            let e = pool
                .invoke(
                    &addr,
                    RemotingCommand::new_request(1, ExtFields::new()),
                    Duration::from_millis(50),
                )
                .await
                .unwrap_err();
            assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
            assert_eq!(pool.get(&addr).await.unwrap().pending_count(), 0);

            // A frame claiming to be 2 GiB: the connection closes, the call fails.
            let (l, addr) = listener();
            glommio::spawn_local(peer(l, 0, Some(vec![0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])))
                .detach();
            let e = pool
                .invoke(
                    &addr,
                    RemotingCommand::new_request(1, ExtFields::new()),
                    Duration::from_secs(5),
                )
                .await
                .unwrap_err();
            assert!(matches!(e, ClientError::ConnectionClosed { .. }), "{e}");

            // Nobody listening.
            let (l, addr) = listener();
            drop(l);
            let e = pool
                .invoke(
                    &addr,
                    RemotingCommand::new_request(1, ExtFields::new()),
                    Duration::from_secs(1),
                )
                .await
                .unwrap_err();
            assert!(matches!(e, ClientError::Connect { .. }), "{e}");
            assert!(matches!(
                pool.invoke(
                    "not-an-address",
                    RemotingCommand::default(),
                    Duration::from_secs(1)
                )
                .await,
                Err(ClientError::BadAddress(_))
            ));
        });
    }

    #[test]
    fn requests_from_the_peer_reach_the_handler_and_unknown_ones_are_refused() {
        run_local(|| async {
            let (l, addr) = listener();
            let mut notify = RemotingCommand::new_request(request_code_notify(), ExtFields::new());
            notify.opaque = 77;
            notify.flag = FLAG_ONEWAY;
            let mut unknown = RemotingCommand::new_request(4242, ExtFields::new());
            unknown.opaque = 78;
            let mut script = notify.encode_to_bytes().unwrap().to_vec();
            script.extend_from_slice(&unknown.encode_to_bytes().unwrap());
            let server = glommio::spawn_local(async move {
                let mut stream = l.accept().await.unwrap();
                stream.write_all(&script).await.unwrap();
                let mut buf = BytesMut::new();
                loop {
                    let start = buf.len();
                    buf.resize(start + 4096, 0);
                    let n = stream.read(&mut buf[start..]).await.unwrap();
                    buf.truncate(start + n);
                    if let Some(cmd) = RemotingCommand::decode_from(&mut buf).unwrap() {
                        return cmd;
                    }
                }
            });
            let seen = Rc::new(Cell::new(0));
            let pool = ConnectionPool::new(1);
            let s = Rc::clone(&seen);
            pool.set_request_handler(Rc::new(move |_, cmd: RemotingCommand| {
                s.set(cmd.code);
                None
            }));
            let _conn = pool.get(&addr).await.unwrap();
            let reply = server.await;
            assert!(reply.is_response());
            assert_eq!(reply.opaque, 78);
            assert_eq!(reply.code, response_code::REQUEST_CODE_NOT_SUPPORTED);
            // The handler saw both requests; the last was the unknown one.
            assert_eq!(seen.get(), 4242);
        });
    }

    fn request_code_notify() -> i32 {
        rmq_protocol::codes::request_code::NOTIFY_CONSUMER_IDS_CHANGED
    }
}
