//! Hostile inputs for the live-server test: each [`HostileKind`] builds bytes a broken or
//! malicious peer could send, together with what a correct server must do about them
//! ([`Expect`]), and [`exercise`] throws one at a server on a fresh connection and checks the
//! reaction.
//!
//! The contract checked: every input gets a clear error response or a closed connection, within
//! [`REACTION_WAIT_MAX`]; whatever the server sends back decodes as valid frames; the server
//! never answers a hostile request with SUCCESS; after a whole hostile frame the connection
//! is either closed or still in sync (a probe request behind it is answered). One tolerated
//! exception, counted by the caller: a header that does not decode and has no readable opaque
//! may be ignored without a reply if the probe is answered (see [`Expect::Reply`]).
//!
//! Invariants: inputs are built from a seeded generator (replayable); no input is larger than
//! [`INPUT_SIZE_BYTES_MAX`]; every wait is bounded.

use std::time::{Duration, Instant};

use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::limits::FRAME_SIZE_BYTES_MAX;
use rmq_protocol::message::properties;
use rmq_protocol::RemotingCommand;

use crate::crash::SplitMix;
use crate::remoting::{request, ClientError, RemotingClient};

/// Largest input built (a bound on what the test itself allocates per input).
pub const INPUT_SIZE_BYTES_MAX: usize = 2 * 1024 * 1024;

/// How long the server may take to answer or close after an input.
pub const REACTION_WAIT_MAX: Duration = Duration::from_secs(10);

/// Most frames read back for one input (a server that floods us is a fault).
const REPLY_FRAMES_COUNT_MAX: usize = 64;

/// The classes of hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostileKind {
    /// 1..4096 random bytes, then end of stream.
    RandomBytes,
    /// A valid request cut short, then end of stream.
    TruncatedFrame,
    /// A negative length field.
    NegativeLength,
    /// A length field beyond the 16 MiB frame limit (no more bytes follow).
    HugeLength,
    /// A header length larger than the frame holds.
    HeaderBeyondFrame,
    /// An unknown serialize type byte.
    UnknownSerializeType,
    /// A whole frame whose JSON header is not JSON (or not an object).
    InvalidJson,
    /// A JSON header nested 100,000 levels deep (a recursive parser would overflow its stack).
    DeeplyNestedJson,
    /// A valid frame whose extFields have the wrong types (text where numbers belong).
    WrongFieldTypes,
    /// A valid frame with a request code nobody handles.
    UnknownCode,
    /// SEND_BATCH_MESSAGE whose body announces absurd entry sizes or counts.
    AbsurdBatch,
}

impl HostileKind {
    /// Every kind, for round-robin and reporting.
    pub const ALL: [HostileKind; 11] = [
        HostileKind::RandomBytes,
        HostileKind::TruncatedFrame,
        HostileKind::NegativeLength,
        HostileKind::HugeLength,
        HostileKind::HeaderBeyondFrame,
        HostileKind::UnknownSerializeType,
        HostileKind::InvalidJson,
        HostileKind::DeeplyNestedJson,
        HostileKind::WrongFieldTypes,
        HostileKind::UnknownCode,
        HostileKind::AbsurdBatch,
    ];
}

/// What a correct server does with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Close the connection (a response before closing is allowed if it is not SUCCESS).
    Close,
    /// A whole frame, wrong in content: answer it (opaque [`HOSTILE_OPAQUE`]) with a
    /// non-SUCCESS code — exactly `code` when given — or close. A probe request sent right
    /// after it on the same connection must then be answered (the stream stays in sync)
    /// unless the connection was closed.
    Reply {
        /// The exact code required, if any.
        code: Option<i32>,
        /// The server may also ignore the frame without a reply, provided the probe is
        /// answered: for headers that do not decode and carry no readable opaque, which the
        /// server cannot address a reply to (Java closes the connection instead).
        may_ignore: bool,
    },
}

/// The opaque of hostile requests that are whole frames.
pub const HOSTILE_OPAQUE: i32 = 1;
/// The opaque of the well-formed probe request sent after a hostile frame.
pub const PROBE_OPAQUE: i32 = 2;

/// One hostile input.
#[derive(Debug, Clone)]
pub struct HostileInput {
    /// Its class.
    pub kind: HostileKind,
    /// The bytes to write.
    pub bytes: Vec<u8>,
    /// Whether to close our writing half after the bytes (for inputs that are incomplete, so
    /// the server sees end-of-stream rather than waiting for the rest, as it rightly may).
    pub end_stream: bool,
    /// The reaction required.
    pub expect: Expect,
    /// The probe sent after a whole hostile frame (see [`Expect::Reply`]).
    pub probe: Vec<u8>,
}

/// A JSON-serialized frame from raw header and body bytes (no validation: that is the point).
pub fn raw_frame(header: &[u8], body: &[u8]) -> Vec<u8> {
    let length = 4 + header.len() + body.len();
    let mut out = Vec::with_capacity(4 + length);
    out.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(&u32::try_from(header.len()).unwrap_or(0).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// The encoded bytes of a well-formed command (hostile through its content only), with opaque
/// [`HOSTILE_OPAQUE`].
fn encoded(cmd: &RemotingCommand) -> Vec<u8> {
    let mut cmd = cmd.clone();
    cmd.opaque = HOSTILE_OPAQUE;
    cmd.encode_to_bytes()
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// The probe: GET_MAX_OFFSET of `topic` queue 0 with opaque [`PROBE_OPAQUE`].
pub fn probe_frame(topic: &str) -> Vec<u8> {
    let mut cmd = request(
        request_code::GET_MAX_OFFSET,
        &[("topic", topic), ("queueId", "0")],
    );
    cmd.opaque = PROBE_OPAQUE;
    cmd.encode_to_bytes()
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

/// Build one input of `kind` for topic `topic`.
pub fn generate(kind: HostileKind, topic: &str, rng: &mut SplitMix) -> HostileInput {
    let valid = probe_frame(topic);
    let (bytes, end_stream, expect) = match kind {
        HostileKind::RandomBytes => {
            let n = usize::try_from(rng.between(1, 4096)).unwrap_or(1);
            let bytes = (0..n).map(|_| (rng.next_u64() & 0xff) as u8).collect();
            (bytes, true, Expect::Close)
        }
        HostileKind::TruncatedFrame => {
            let cut = usize::try_from(rng.between(1, (valid.len() - 1) as u64)).unwrap_or(1);
            (valid[..cut].to_vec(), true, Expect::Close)
        }
        HostileKind::NegativeLength => {
            let len = -i32::try_from(rng.between(1, i32::MAX as u64)).unwrap_or(1);
            let mut b = len.to_be_bytes().to_vec();
            b.extend_from_slice(&valid[4..]);
            (b, false, Expect::Close)
        }
        HostileKind::HugeLength => {
            let len = rng.between(FRAME_SIZE_BYTES_MAX as u64, i32::MAX as u64);
            let mut b = u32::try_from(len)
                .unwrap_or(u32::MAX)
                .to_be_bytes()
                .to_vec();
            b.extend_from_slice(&valid[4..]);
            (b, false, Expect::Close)
        }
        HostileKind::HeaderBeyondFrame => {
            let mut b = valid.clone();
            let frame_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let header_len = frame_len + u32::try_from(rng.between(1, 1 << 20)).unwrap_or(1);
            b[4..8].copy_from_slice(&(header_len & 0x00FF_FFFF).to_be_bytes());
            (b, false, Expect::Close)
        }
        HostileKind::UnknownSerializeType => {
            let mut b = valid.clone();
            b[4] = [2u8, 7, 0x7f, 0xff][usize::try_from(rng.below(4)).unwrap_or(0)];
            (b, false, Expect::Close)
        }
        HostileKind::InvalidJson => {
            let headers: [&[u8]; 6] = [
                b"{not json",
                b"[1,2,3]",
                b"\"just a string\"",
                b"{\"code\":\"abc\",\"opaque\":1}",
                b"{\"code\":10,\"extFields\":{\"a\":",
                b"\xff\xfe\x00garbage",
            ];
            let h = headers[usize::try_from(rng.below(headers.len() as u64)).unwrap_or(0)];
            let expect = Expect::Reply {
                code: None,
                may_ignore: true,
            };
            (raw_frame(h, b""), false, expect)
        }
        HostileKind::DeeplyNestedJson => {
            let depth = 100_000;
            let mut h = Vec::with_capacity(depth * 2 + 32);
            h.extend_from_slice(b"{\"code\":30,\"x\":");
            h.extend(std::iter::repeat_n(b'[', depth));
            h.extend(std::iter::repeat_n(b']', depth));
            h.push(b'}');
            let expect = Expect::Reply {
                code: None,
                may_ignore: true,
            };
            (raw_frame(&h, b""), false, expect)
        }
        HostileKind::WrongFieldTypes => {
            let cmd = match rng.below(3) {
                0 => request(
                    request_code::SEND_MESSAGE_V2,
                    &[
                        ("a", "PG"),
                        ("b", topic),
                        ("c", "TBW102"),
                        ("d", "four"),
                        ("e", "queue-zero"),
                        ("f", "1.5"),
                        ("g", "yesterday"),
                        ("h", "{}"),
                        ("i", ""),
                    ],
                )
                .with_body(b"wrong types".to_vec()),
                1 => request(
                    request_code::PULL_MESSAGE,
                    &[
                        ("consumerGroup", "G"),
                        ("topic", topic),
                        ("queueId", "99999999999999999999"),
                        ("queueOffset", "-x"),
                        ("maxMsgNums", "many"),
                        ("sysFlag", "NaN"),
                        ("commitOffset", "0"),
                        ("suspendTimeoutMillis", "[]"),
                        ("subscription", "*"),
                        ("subVersion", "0"),
                    ],
                ),
                _ => request(
                    request_code::UPDATE_CONSUMER_OFFSET,
                    &[
                        ("consumerGroup", "G"),
                        ("topic", topic),
                        ("queueId", "0"),
                        ("commitOffset", "1e999"),
                    ],
                ),
            };
            let expect = Expect::Reply {
                code: None,
                may_ignore: false,
            };
            (encoded(&cmd), false, expect)
        }
        HostileKind::UnknownCode => {
            let code = [99_999, -5, 123_456_789, 7777][usize::try_from(rng.below(4)).unwrap_or(0)];
            let cmd = request(code, &[("topic", topic)]);
            (
                encoded(&cmd),
                false,
                Expect::Reply {
                    code: Some(response_code::REQUEST_CODE_NOT_SUPPORTED),
                    may_ignore: false,
                },
            )
        }
        HostileKind::AbsurdBatch => {
            let body = absurd_batch_body(rng);
            let props = properties::encode([("WAIT", "true")]);
            let cmd = request(
                request_code::SEND_BATCH_MESSAGE,
                &[
                    ("a", "PG"),
                    ("b", topic),
                    ("c", "TBW102"),
                    ("d", "4"),
                    ("e", "0"),
                    ("f", "0"),
                    ("g", "1700000000000"),
                    ("h", "0"),
                    ("i", props.as_str()),
                    ("m", "true"),
                ],
            )
            .with_body(body);
            let expect = Expect::Reply {
                code: None,
                may_ignore: false,
            };
            (encoded(&cmd), false, expect)
        }
    };
    debug_assert!(bytes.len() <= INPUT_SIZE_BYTES_MAX);
    let probe = match expect {
        Expect::Reply { .. } => probe_frame(topic),
        Expect::Close => Vec::new(),
    };
    HostileInput {
        kind,
        bytes,
        end_stream,
        expect,
        probe,
    }
}

/// A batch body whose entries lie about their sizes: a first entry claiming `i32::MAX` or a
/// negative total size, or 50,000 entries each claiming a body far past the end.
fn absurd_batch_body(rng: &mut SplitMix) -> Vec<u8> {
    // Inner entry layout (protocol.md): totalSize i32, magic i32, bodyCRC i32, flag i32,
    // bodyLength i32, body, propertiesLength i16, properties.
    let entry = |total: i32, body_len: i32| {
        let mut e = Vec::with_capacity(22);
        e.extend_from_slice(&total.to_be_bytes());
        e.extend_from_slice(&0i32.to_be_bytes());
        e.extend_from_slice(&0i32.to_be_bytes());
        e.extend_from_slice(&0i32.to_be_bytes());
        e.extend_from_slice(&body_len.to_be_bytes());
        e.extend_from_slice(&0i16.to_be_bytes());
        e
    };
    match rng.below(3) {
        0 => entry(i32::MAX, i32::MAX),
        1 => entry(-22, -1),
        _ => {
            let mut b = Vec::with_capacity(50_000 * 22);
            for _ in 0..50_000 {
                b.extend(entry(22, 1_000_000));
            }
            b
        }
    }
}

/// How the server reacted to one input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reaction {
    /// Codes of the responses to the hostile frame (or to anything but the probe).
    pub codes: Vec<i32>,
    /// The code of the probe's response, if it came.
    pub probe_code: Option<i32>,
    /// Whether the server closed the connection.
    pub closed: bool,
}

impl Reaction {
    /// Whether the server ignored a whole hostile frame (no reply, no close) and answered the
    /// probe behind it.
    pub fn ignored(&self) -> bool {
        self.codes.is_empty() && !self.closed && self.probe_code.is_some()
    }
}

/// Send `input` on a fresh connection to 127.0.0.1:`port` and check the reaction; `Err`
/// describes a violation.
pub fn exercise(port: u16, input: &HostileInput) -> Result<Reaction, String> {
    let mut c = RemotingClient::connect_local(port, REACTION_WAIT_MAX)
        .map_err(|e| format!("{:?}: connect: {e}", input.kind))?;
    let mut bytes = input.bytes.clone();
    bytes.extend_from_slice(&input.probe);
    // The server may close while we are still writing (it rejected the start): that is fine.
    let write_failed = c.send_raw(&bytes).is_err();
    if input.end_stream && !write_failed {
        let _ = c.shutdown_write();
    }
    let deadline = Instant::now() + REACTION_WAIT_MAX;
    let mut reaction = Reaction::default();
    let probing = !input.probe.is_empty();
    for _ in 0..REPLY_FRAMES_COUNT_MAX {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let _ = c.set_read_timeout(left);
        match c.recv() {
            Ok(resp) if !resp.is_response() => {}
            Ok(resp) if probing && resp.opaque == PROBE_OPAQUE => {
                reaction.probe_code = Some(resp.code);
                break;
            }
            Ok(resp) => reaction.codes.push(resp.code),
            Err(ClientError::Closed) => {
                reaction.closed = true;
                break;
            }
            Err(ClientError::TimedOut) => break,
            Err(ClientError::Io(_)) if write_failed => {
                reaction.closed = true;
                break;
            }
            Err(e) => return Err(format!("{:?}: bad reply: {e}", input.kind)),
        }
    }
    let ok = match input.expect {
        Expect::Close => reaction.closed && !reaction.codes.contains(&response_code::SUCCESS),
        Expect::Reply { code, may_ignore } => {
            let answered = match (reaction.codes.first(), code) {
                (Some(&got), Some(want)) => got == want,
                (Some(&got), None) => got != response_code::SUCCESS,
                (None, _) => false,
            };
            let in_sync = reaction.probe_code == Some(response_code::SUCCESS);
            let no_success = !reaction.codes.contains(&response_code::SUCCESS);
            no_success
                && (reaction.closed
                    || (answered && in_sync)
                    || (may_ignore && reaction.ignored() && in_sync))
        }
    };
    if ok {
        Ok(reaction)
    } else {
        Err(format!(
            "{:?}: expected {:?}, got {reaction:?} (input of {} bytes starting {:02x?})",
            input.kind,
            input.expect,
            input.bytes.len(),
            &input.bytes[..input.bytes.len().min(16)]
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use rmq_protocol::frame::{check, FrameStatus};

    fn decode(bytes: &[u8]) -> Result<Option<RemotingCommand>, rmq_protocol::CodecError> {
        RemotingCommand::decode_from(&mut BytesMut::from(bytes))
    }

    #[test]
    fn framing_attacks_are_rejected_by_the_codec_itself() {
        let mut rng = SplitMix::new(1);
        for _ in 0..50 {
            for kind in [
                HostileKind::NegativeLength,
                HostileKind::HugeLength,
                HostileKind::HeaderBeyondFrame,
                HostileKind::UnknownSerializeType,
            ] {
                let input = generate(kind, "T", &mut rng);
                assert!(
                    check(&input.bytes).is_err(),
                    "{kind:?} passes the frame check"
                );
                assert!(!input.end_stream);
            }
        }
    }

    #[test]
    fn truncated_frames_are_partial_and_end_the_stream() {
        let mut rng = SplitMix::new(2);
        for _ in 0..50 {
            let input = generate(HostileKind::TruncatedFrame, "T", &mut rng);
            assert!(matches!(
                check(&input.bytes),
                Ok(FrameStatus::Partial { .. })
            ));
            assert!(input.end_stream);
        }
    }

    #[test]
    fn content_attacks_are_whole_frames() {
        let mut rng = SplitMix::new(3);
        for kind in [
            HostileKind::InvalidJson,
            HostileKind::DeeplyNestedJson,
            HostileKind::WrongFieldTypes,
            HostileKind::UnknownCode,
            HostileKind::AbsurdBatch,
        ] {
            for _ in 0..10 {
                let input = generate(kind, "T", &mut rng);
                assert!(
                    matches!(check(&input.bytes), Ok(FrameStatus::Complete(_))),
                    "{kind:?}"
                );
                assert!(input.bytes.len() <= INPUT_SIZE_BYTES_MAX);
            }
        }
        // Invalid and deeply nested JSON do not decode; the others do (they are wrong in
        // content, which only the server can judge).
        let bad = generate(HostileKind::InvalidJson, "T", &mut rng);
        assert!(decode(&bad.bytes).is_err());
        let deep = generate(HostileKind::DeeplyNestedJson, "T", &mut rng);
        let _ = decode(&deep.bytes); // must not overflow the stack; either result is fine
        let unknown = generate(HostileKind::UnknownCode, "T", &mut rng);
        assert!(decode(&unknown.bytes).unwrap().is_some());
    }

    #[test]
    fn raw_frames_have_the_lengths_they_claim() {
        let f = raw_frame(b"{}", b"xyz");
        assert_eq!(&f[..4], &9u32.to_be_bytes());
        assert_eq!(&f[4..8], &2u32.to_be_bytes());
        assert_eq!(f.len(), 13);
    }
}
