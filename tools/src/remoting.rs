//! A small blocking remoting client over `std::net`, for the fault tools and tests: it frames
//! and decodes [`RemotingCommand`]s with `rmq-protocol` and builds the handful of requests the
//! tools need (create topic, send, pull, commit and query offsets).
//!
//! Invariants: every read has a timeout (no call blocks forever); bytes from the server are
//! decoded by the codec, which checks every length against its named limits, so a misbehaving
//! server yields a [`ClientError`], never a panic or an unbounded allocation; waiting for a
//! response skips at most [`UNSOLICITED_FRAMES_COUNT_MAX`] unrelated frames.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::message::properties;
use rmq_protocol::message::record::{records, RecordView};
use rmq_protocol::{CodecError, ExtFields, RemotingCommand};
use thiserror::Error;

/// Most frames (server-initiated requests, stale responses) skipped while waiting for the
/// response to one request.
pub const UNSOLICITED_FRAMES_COUNT_MAX: usize = 1024;

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// What can go wrong talking to a server.
#[derive(Debug, Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The server sent bytes that are not a valid frame.
    #[error("invalid frame from server: {0}")]
    Codec(#[from] CodecError),
    /// The server closed the connection.
    #[error("connection closed by server")]
    Closed,
    /// Nothing arrived within the read timeout.
    #[error("timed out waiting for the server")]
    TimedOut,
    /// Too many unrelated frames arrived before the response.
    #[error("no response to opaque {0} among {UNSOLICITED_FRAMES_COUNT_MAX} frames")]
    NoResponse(i32),
    /// A response did not have the expected shape.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

/// A blocking connection.
pub struct RemotingClient {
    stream: TcpStream,
    buf: BytesMut,
    next_opaque: i32,
}

impl RemotingClient {
    /// Connect to `addr` within `timeout`; reads then time out after `timeout` too.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> Result<Self, ClientError> {
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(RemotingClient {
            stream,
            buf: BytesMut::new(),
            next_opaque: 1,
        })
    }

    /// Connect to 127.0.0.1:`port`.
    pub fn connect_local(port: u16, timeout: Duration) -> Result<Self, ClientError> {
        Self::connect(SocketAddr::from(([127, 0, 0, 1], port)), timeout)
    }

    /// Change the read timeout.
    pub fn set_read_timeout(&self, timeout: Duration) -> Result<(), ClientError> {
        Ok(self.stream.set_read_timeout(Some(timeout))?)
    }

    /// Write raw bytes (hostile input goes through here).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        Ok(self.stream.write_all(bytes)?)
    }

    /// Close the writing half: the server reads end-of-stream.
    pub fn shutdown_write(&self) -> Result<(), ClientError> {
        Ok(self.stream.shutdown(Shutdown::Write)?)
    }

    /// Send `cmd` with a fresh opaque; returns the opaque.
    pub fn send(&mut self, mut cmd: RemotingCommand) -> Result<i32, ClientError> {
        cmd.opaque = self.next_opaque;
        self.next_opaque = self.next_opaque.wrapping_add(1);
        let bytes = cmd.encode_to_bytes()?;
        self.send_raw(&bytes)?;
        Ok(cmd.opaque)
    }

    /// The next frame from the server.
    pub fn recv(&mut self) -> Result<RemotingCommand, ClientError> {
        loop {
            if let Some(cmd) = RemotingCommand::decode_from(&mut self.buf)? {
                return Ok(cmd);
            }
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(ClientError::TimedOut)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Err(ClientError::Closed)
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Send a request and wait for the response with its opaque, skipping server-initiated
    /// requests (e.g. NOTIFY_CONSUMER_IDS_CHANGED) in between.
    pub fn call(&mut self, cmd: RemotingCommand) -> Result<RemotingCommand, ClientError> {
        let opaque = self.send(cmd)?;
        self.wait_response(opaque)
    }

    /// Wait for the response to `opaque`.
    pub fn wait_response(&mut self, opaque: i32) -> Result<RemotingCommand, ClientError> {
        for _ in 0..UNSOLICITED_FRAMES_COUNT_MAX {
            let got = self.recv()?;
            if got.is_response() && got.opaque == opaque {
                return Ok(got);
            }
        }
        Err(ClientError::NoResponse(opaque))
    }
}

/// A request with `code` and `fields`.
pub fn request(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    RemotingCommand::new_request(code, fields.iter().copied().collect::<ExtFields>())
}

/// UPDATE_AND_CREATE_TOPIC with `queues` read and write queues, read+write permission.
pub fn create_topic(topic: &str, queues: u32) -> RemotingCommand {
    let q = queues.to_string();
    request(
        request_code::UPDATE_AND_CREATE_TOPIC,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", &q),
            ("writeQueueNums", &q),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ],
    )
}

/// SEND_MESSAGE_V2 of one message to `queue_id` with `key` in KEYS and WAIT=true (the
/// producer waits for the store per the flush mode).
pub fn send_message(
    group: &str,
    topic: &str,
    queue_id: i32,
    key: &str,
    body: &[u8],
) -> RemotingCommand {
    let props = properties::encode([("KEYS", key), ("WAIT", "true"), ("TAGS", "T")]);
    let q = queue_id.to_string();
    request(
        request_code::SEND_MESSAGE_V2,
        &[
            ("a", group),
            ("b", topic),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", q.as_str()),
            ("f", "0"),
            ("g", "1700000000000"),
            ("h", "0"),
            ("i", props.as_str()),
        ],
    )
    .with_body(body.to_vec())
}

/// PULL_MESSAGE of up to `max` messages from `offset`, subscription "*" in the request, no
/// suspension and no commit (the tools commit explicitly).
pub fn pull(group: &str, topic: &str, queue_id: i32, offset: i64, max: i32) -> RemotingCommand {
    let (q, o, m) = (queue_id.to_string(), offset.to_string(), max.to_string());
    request(
        request_code::PULL_MESSAGE,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &q),
            ("queueOffset", &o),
            ("maxMsgNums", &m),
            // FLAG_SUBSCRIPTION: the expression is in this request.
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
        ],
    )
}

/// UPDATE_CONSUMER_OFFSET.
pub fn update_offset(group: &str, topic: &str, queue_id: i32, offset: i64) -> RemotingCommand {
    let (q, o) = (queue_id.to_string(), offset.to_string());
    request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &q),
            ("commitOffset", &o),
        ],
    )
}

/// QUERY_CONSUMER_OFFSET.
pub fn query_offset(group: &str, topic: &str, queue_id: i32) -> RemotingCommand {
    let q = queue_id.to_string();
    request(
        request_code::QUERY_CONSUMER_OFFSET,
        &[("consumerGroup", group), ("topic", topic), ("queueId", &q)],
    )
}

/// An integer extField of a response.
pub fn ext_i64(resp: &RemotingCommand, key: &str) -> Result<i64, ClientError> {
    resp.ext_fields
        .get(key)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| ClientError::Unexpected(format!("{key} missing or not an integer")))
}

/// A record as the tools check it: owned copies of the fields that matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulledRecord {
    /// Offset in its ConsumeQueue.
    pub queue_offset: i64,
    /// Offset in the CommitLog (the offset message id encodes it).
    pub physical_offset: i64,
    /// Queue id stored in the record.
    pub queue_id: i32,
    /// The broker address stored in the record (the offset message id encodes it).
    pub store_host: SocketAddr,
    /// Whether the stored body CRC matches the body.
    pub crc_ok: bool,
    /// The message body.
    pub body: Vec<u8>,
    /// The properties string.
    pub properties: String,
}

impl PulledRecord {
    fn from_view(v: &RecordView<'_>) -> Self {
        PulledRecord {
            queue_offset: v.queue_offset(),
            physical_offset: v.physical_offset(),
            queue_id: v.queue_id(),
            store_host: v.store_host(),
            crc_ok: v.crc_matches(),
            body: v.body().to_vec(),
            properties: v.properties().to_string(),
        }
    }
}

/// The outcome of one pull.
#[derive(Debug)]
pub enum PullOutcome {
    /// Records found; `next` is nextBeginOffset.
    Found {
        /// The records, in queue order.
        records: Vec<PulledRecord>,
        /// Where the next pull starts.
        next: i64,
    },
    /// Nothing at or after the offset (end of queue).
    NotFound {
        /// nextBeginOffset.
        next: i64,
    },
    /// Any other response code (with its remark).
    Other(i32, Option<String>),
}

/// Decode a PULL_MESSAGE response.
pub fn decode_pull(resp: &RemotingCommand) -> Result<PullOutcome, ClientError> {
    match resp.code {
        response_code::SUCCESS => {
            let body = resp.body.as_deref().unwrap_or_default();
            let mut out = Vec::new();
            for view in records(body) {
                out.push(PulledRecord::from_view(&view?));
            }
            Ok(PullOutcome::Found {
                records: out,
                next: ext_i64(resp, "nextBeginOffset")?,
            })
        }
        response_code::PULL_NOT_FOUND
        | response_code::PULL_OFFSET_MOVED
        | response_code::PULL_RETRY_IMMEDIATELY => Ok(PullOutcome::NotFound {
            next: ext_i64(resp, "nextBeginOffset")?,
        }),
        code => Ok(PullOutcome::Other(code, resp.remark.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::message::record::RecordFields;

    #[test]
    fn decode_pull_reads_every_record_and_the_next_offset() {
        let fields = |offset: i64, body: &'static [u8]| RecordFields {
            queue_id: 2,
            flag: 0,
            queue_offset: offset,
            physical_offset: 1000 + offset,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: SocketAddr::from(([127, 0, 0, 1], 1)),
            store_timestamp: 2,
            store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic: "T",
            properties: "KEYS\u{1}k\u{2}",
        };
        let mut body = fields(5, b"one").encode_to_vec().unwrap();
        body.extend(fields(6, b"two").encode_to_vec().unwrap());
        let req = pull("g", "T", 2, 5, 32);
        let mut resp = RemotingCommand::response_to(&req, response_code::SUCCESS, None)
            .with_body(body.clone());
        resp.set_ext("nextBeginOffset", "7");
        let PullOutcome::Found { records, next } = decode_pull(&resp).unwrap() else {
            panic!("expected records");
        };
        assert_eq!(next, 7);
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].body, b"two");
        assert_eq!(records[1].queue_offset, 6);
        assert!(records.iter().all(|r| r.crc_ok && r.queue_id == 2));

        // A torn trailing record is an error, not a panic or a silent skip.
        body.truncate(body.len() - 3);
        let mut torn =
            RemotingCommand::response_to(&req, response_code::SUCCESS, None).with_body(body);
        torn.set_ext("nextBeginOffset", "7");
        assert!(decode_pull(&torn).is_err());
    }

    #[test]
    fn other_codes_are_reported_with_their_remark() {
        let req = pull("g", "T", 0, 0, 1);
        let resp = RemotingCommand::response_to(&req, 17, Some("no topic".into()));
        assert!(matches!(
            decode_pull(&resp).unwrap(),
            PullOutcome::Other(17, Some(r)) if r == "no topic"
        ));
    }
}
