//! The broker's side of the NameServer protocol: REGISTER_BROKER to every configured
//! NameServer every `registerNameServerPeriod` (30 s) and after topic changes, and
//! UNREGISTER_BROKER at shutdown.
//!
//! The NameServer drops a broker's routes when the broker's connection closes (as Java's does),
//! so each NameServer gets ONE PERSISTENT connection ([`NamesrvLink`]) that is kept between
//! registrations and re-opened only after it fails. Calls on one link are serialized (one
//! request in flight), so responses match requests without a demultiplexer; every call is
//! bounded by [`OUTBOUND_REQUEST_TIMEOUT`]. Runs on the control-plane shard only.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use rmq_protocol::body::{JsonBody, RegisterBrokerBody, TopicConfigSerializeWrapper};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{RegisterBrokerRequestHeader, UnregisterBrokerRequestHeader};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::config::BrokerConfig;
use crate::limits::{OUTBOUND_REQUEST_TIMEOUT, SOCKET_READ_CHUNK_BYTES};
use crate::transport::client::CallError;

/// One persistent connection to one NameServer.
pub struct NamesrvLink {
    /// `host:port`.
    pub addr: String,
    stream: RefCell<Option<TcpStream>>,
    /// Serializes calls (one permit).
    turn: Semaphore,
    next_opaque: std::cell::Cell<i32>,
}

impl NamesrvLink {
    /// A link to `addr`; connects on first use.
    pub fn new(addr: String) -> Rc<Self> {
        Rc::new(NamesrvLink {
            addr,
            stream: RefCell::new(None),
            turn: Semaphore::new(1),
            next_opaque: std::cell::Cell::new(1),
        })
    }

    /// Send `request` and wait for its response over the persistent connection; on any
    /// failure the connection is dropped (and re-opened by the next call).
    pub async fn call(&self, mut request: RemotingCommand) -> Result<RemotingCommand, CallError> {
        let Ok(_turn) = self.turn.acquire_permit(1).await else {
            return Err(CallError::Closed(self.addr.clone()));
        };
        let opaque = self.next_opaque.get();
        self.next_opaque.set(opaque.wrapping_add(1).max(1));
        request.opaque = opaque;
        let stream = self.stream.borrow_mut().take();
        let result = glommio::timer::timeout(OUTBOUND_REQUEST_TIMEOUT, async {
            Ok(self.exchange(stream, &request).await)
        })
        .await
        .unwrap_or_else(|_| Err(CallError::Timeout(self.addr.clone())));
        match result {
            Ok((response, stream)) => {
                *self.stream.borrow_mut() = Some(stream);
                Ok(response)
            }
            Err(e) => Err(e),
        }
    }

    async fn exchange(
        &self,
        stream: Option<TcpStream>,
        request: &RemotingCommand,
    ) -> Result<(RemotingCommand, TcpStream), CallError> {
        let io = |source| CallError::Io {
            addr: self.addr.clone(),
            source,
        };
        let codec = |source| CallError::Codec {
            addr: self.addr.clone(),
            source,
        };
        let mut stream = match stream {
            Some(s) => s,
            None => {
                let sock: SocketAddr = self
                    .addr
                    .parse()
                    .map_err(|_| CallError::BadAddress(self.addr.clone()))?;
                let s = TcpStream::connect_timeout(sock, OUTBOUND_REQUEST_TIMEOUT)
                    .await
                    .map_err(|e| io(std::io::Error::other(e.to_string())))?;
                let _ = s.set_nodelay(true);
                s
            }
        };
        let frame = request.encode_to_bytes().map_err(codec)?;
        stream.write_all(&frame).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        let mut buf = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
        loop {
            // `decode_from` checks the frame against the protocol limits before buffering more.
            while let Some(cmd) = RemotingCommand::decode_from(&mut buf).map_err(codec)? {
                if cmd.is_response() && cmd.opaque == request.opaque {
                    return Ok((cmd, stream));
                }
            }
            let start = buf.len();
            buf.resize(start + SOCKET_READ_CHUNK_BYTES, 0);
            let n = stream.read(&mut buf[start..]).await.map_err(io)?;
            buf.truncate(start + n);
            if n == 0 {
                return Err(CallError::Closed(self.addr.clone()));
            }
        }
    }

    /// Close the connection (after UNREGISTER_BROKER).
    pub fn close(&self) {
        self.stream.borrow_mut().take();
    }
}

/// The REGISTER_BROKER request for `topics`.
pub fn register_request(
    config: &BrokerConfig,
    topics: TopicConfigSerializeWrapper,
) -> RemotingCommand {
    let body = RegisterBrokerBody {
        topic_config_serialize_wrapper: topics,
        filter_server_list: Vec::new(),
    }
    .encode();
    // `CRC32(body) & 0x7FFFFFFF` fits an i32.
    let crc = i32::try_from(crc32fast::hash(&body) & 0x7FFF_FFFF).unwrap_or(0);
    RemotingCommand::new_request(request_code::REGISTER_BROKER, ExtFields::new())
        .with_header(&RegisterBrokerRequestHeader {
            broker_name: config.broker_name.clone(),
            broker_addr: config.broker_addr(),
            cluster_name: config.broker_cluster_name.clone(),
            ha_server_addr: config.ha_server_addr(),
            broker_id: i64::try_from(config.broker_id).unwrap_or(0),
            heartbeat_timeout_millis: None,
            enable_acting_master: None,
            compressed: false,
            body_crc32: crc,
        })
        .with_body(body)
}

/// The UNREGISTER_BROKER request.
pub fn unregister_request(config: &BrokerConfig) -> RemotingCommand {
    RemotingCommand::new_request(request_code::UNREGISTER_BROKER, ExtFields::new()).with_header(
        &UnregisterBrokerRequestHeader {
            broker_name: config.broker_name.clone(),
            broker_addr: config.broker_addr(),
            cluster_name: config.broker_cluster_name.clone(),
            broker_id: i64::try_from(config.broker_id).unwrap_or(0),
        },
    )
}

/// Send `request` on every link concurrently; returns how many answered SUCCESS. Failures are
/// logged (the next period retries).
pub async fn call_all(
    links: &[Rc<NamesrvLink>],
    request: &RemotingCommand,
    what: &'static str,
) -> usize {
    let calls = links.iter().map(|link| {
        let link = Rc::clone(link);
        let request = request.clone();
        glommio::spawn_local(async move {
            match link.call(request).await {
                Ok(resp) if resp.code == response_code::SUCCESS => true,
                Ok(resp) => {
                    log_warn!(
                        "name server refused",
                        request = what,
                        namesrv = link.addr,
                        code = resp.code,
                        remark = resp.remark.unwrap_or_default()
                    );
                    false
                }
                Err(e) => {
                    log_warn!("name server call failed", request = what, error = e);
                    false
                }
            }
        })
    });
    let tasks: Vec<_> = calls.collect();
    let mut ok = 0;
    for t in tasks {
        if t.await {
            ok += 1;
        }
    }
    ok
}
