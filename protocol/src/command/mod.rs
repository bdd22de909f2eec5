//! `RemotingCommand`: one request or response, with its header fields, extFields and body.
//!
//! Decoding takes a complete frame (validated by [`crate::frame::check`]) as [`Bytes`] and keeps
//! the body as a slice of it (no copy). Encoding writes the preamble and header into a
//! caller-owned buffer; the body can be appended or sent separately (zero-copy pull replies).
//!
//! Leniency (accepting what Java's fastjson accepts) lives in [`json`]; the binary header is in
//! [`binary`]. Both produce the same [`RemotingCommand`].

pub mod binary;
mod ext_fields;
pub mod json;
mod json_fast;

use bytes::{Bytes, BytesMut};

pub use self::ext_fields::ExtFields;
use crate::error::{CodecError, CodecResult};
use crate::frame::{self, FrameStatus, SerializeType};
use crate::limits::FRAME_PREAMBLE_BYTES;

/// `flag` bit 0: the frame is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// `flag` bit 1: the sender expects no response.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// `MQVersion.Version` ordinals that change behaviour on the wire (protocol.md §1.6).
pub mod version {
    /// V3_0_11: brokers from here on send a `RegisterBrokerBody`.
    pub const V3_0_11: i32 = 89;
    /// V3_4_9: the send-back header's `maxReconsumeTimes` is honoured from here on.
    pub const V3_4_9: i32 = 157;
    /// V4_9_4: the NameServer answers routes in standard JSON (quoted keys) from here on.
    pub const V4_9_4: i32 = 401;
    /// V4_9_8.
    pub const V4_9_8: i32 = 409;
    /// V5_0_0.
    pub const V5_0_0: i32 = 413;
    /// V5_3_1: clients above it understand `GO_AWAY`.
    pub const V5_3_1: i32 = 475;
    /// What our servers put in every response: a modern 4.x ordinal, so clients that compare
    /// the broker version (SQL92 filters, heartbeat handling) treat us as current, while route
    /// replies follow the 4.9.x rules this project mirrors.
    pub const CURRENT: i32 = V4_9_8;
}

/// The sender's language (`LanguageCode`). JSON headers carry the name, binary headers the byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(missing_docs)]
pub enum LanguageCode {
    #[default]
    Java,
    Cpp,
    DotNet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    NodeJs,
}

impl LanguageCode {
    const ALL: [LanguageCode; 14] = [
        LanguageCode::Java,
        LanguageCode::Cpp,
        LanguageCode::DotNet,
        LanguageCode::Python,
        LanguageCode::Delphi,
        LanguageCode::Erlang,
        LanguageCode::Ruby,
        LanguageCode::Other,
        LanguageCode::Http,
        LanguageCode::Go,
        LanguageCode::Php,
        LanguageCode::Oms,
        LanguageCode::Rust,
        LanguageCode::NodeJs,
    ];

    /// The byte used in binary headers.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// From the binary byte; unknown values map to `Other` (Java would yield null and carry on).
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .get(usize::from(code))
            .copied()
            .unwrap_or(LanguageCode::Other)
    }

    /// The enum name Java writes in JSON.
    pub const fn name(self) -> &'static str {
        match self {
            LanguageCode::Java => "JAVA",
            LanguageCode::Cpp => "CPP",
            LanguageCode::DotNet => "DOTNET",
            LanguageCode::Python => "PYTHON",
            LanguageCode::Delphi => "DELPHI",
            LanguageCode::Erlang => "ERLANG",
            LanguageCode::Ruby => "RUBY",
            LanguageCode::Other => "OTHER",
            LanguageCode::Http => "HTTP",
            LanguageCode::Go => "GO",
            LanguageCode::Php => "PHP",
            LanguageCode::Oms => "OMS",
            LanguageCode::Rust => "RUST",
            LanguageCode::NodeJs => "NODE_JS",
        }
    }

    /// From the JSON name; unknown names map to `Other`.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|l| l.name() == name)
            .unwrap_or(LanguageCode::Other)
    }
}

/// One remoting request or response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RemotingCommand {
    /// Request code (requests) or response code (responses).
    pub code: i32,
    /// Sender's language.
    pub language: LanguageCode,
    /// Sender's `MQVersion` ordinal.
    pub version: i32,
    /// Request id; a response echoes its request's.
    pub opaque: i32,
    /// Bit 0 response, bit 1 oneway.
    pub flag: i32,
    /// Error text; `None` is omitted on the wire.
    pub remark: Option<String>,
    /// The custom header.
    pub ext_fields: ExtFields,
    /// Whether the peer sent an `extFields` object at all (Java distinguishes a null map; replies
    /// that Java clients read unconditionally must carry one, even if empty).
    pub has_ext_fields: bool,
    /// How the header was (or will be) serialized.
    pub serialize_type: SerializeType,
    /// The body, if any (a slice of the received frame; no copy).
    pub body: Option<Bytes>,
}

impl RemotingCommand {
    /// A request with the given code and custom header, sent as a Java client would.
    pub fn new_request(code: i32, ext_fields: ExtFields) -> Self {
        RemotingCommand {
            code,
            version: version::CURRENT,
            has_ext_fields: true,
            ext_fields,
            ..RemotingCommand::default()
        }
    }

    /// A response to `request`: same opaque and header serialization, response flag set,
    /// language JAVA and our version, as `NettyRemotingAbstract` does.
    pub fn response_to(request: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            version: version::CURRENT,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            serialize_type: request.serialize_type,
            ..RemotingCommand::default()
        }
    }

    /// Whether this frame is a response.
    pub const fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    /// Whether the sender expects no reply.
    pub const fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Set an extFields entry (and mark the map present).
    pub fn set_ext(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        self.has_ext_fields = true;
        self.ext_fields.insert(key, value);
        self
    }

    /// Attach a body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Decode one complete frame, the length prefix included. The body stays a slice of
    /// `frame`.
    // By value: the caller hands the frame over; the body is a refcounted slice of it.
    #[allow(clippy::needless_pass_by_value)]
    pub fn decode(frame: Bytes) -> CodecResult<Self> {
        let header = match frame::check(&frame)? {
            FrameStatus::Complete(h) if h.frame_len == frame.len() => h,
            FrameStatus::Complete(h) => {
                return Err(CodecError::FrameLengthMismatch {
                    expected: h.frame_len,
                    actual: frame.len(),
                })
            }
            FrameStatus::Partial { frame_len } => {
                return Err(CodecError::FrameLengthMismatch {
                    expected: frame_len,
                    actual: frame.len(),
                })
            }
        };
        let header_bytes = &frame[header.header_range()];
        let mut cmd = match header.serialize_type {
            SerializeType::Json => json::decode_header(header_bytes)?,
            SerializeType::RocketMq => binary::decode_header(header_bytes)?,
        };
        cmd.serialize_type = header.serialize_type;
        if header.body_len() > 0 {
            cmd.body = Some(frame.slice(header.body_range()));
        }
        Ok(cmd)
    }

    /// Decode the frame at the start of `buf` if it is complete, splitting it off. Returns
    /// `Ok(None)` when more bytes are needed.
    pub fn decode_from(buf: &mut BytesMut) -> CodecResult<Option<Self>> {
        match frame::check(buf)? {
            FrameStatus::Partial { .. } => Ok(None),
            FrameStatus::Complete(h) => Self::decode(buf.split_to(h.frame_len).freeze()).map(Some),
        }
    }

    /// Append the preamble and header for a frame whose body of `body_len` bytes the caller
    /// sends right after (zero-copy bodies). The header is serialized per `serialize_type`.
    pub fn encode_header(&self, body_len: usize, out: &mut BytesMut) -> CodecResult<()> {
        let mut frame_head = Vec::with_capacity(256);
        self.encode_header_to_vec(body_len, &mut frame_head)?;
        out.extend_from_slice(&frame_head);
        Ok(())
    }

    /// [`Self::encode_header`] into a `Vec`: the header is serialized in place, so a caller
    /// that reuses `out` (a connection's writer) encodes without allocating. On error `out` is
    /// left as it was.
    pub fn encode_header_to_vec(&self, body_len: usize, out: &mut Vec<u8>) -> CodecResult<()> {
        let start = out.len();
        out.resize(start + FRAME_PREAMBLE_BYTES, 0);
        let encoded = match self.serialize_type {
            SerializeType::Json => {
                json::encode_header(self, out);
                Ok(())
            }
            SerializeType::RocketMq => binary::encode_header(self, out),
        };
        let header_len = out.len() - start - FRAME_PREAMBLE_BYTES;
        let mut preamble = [0u8; FRAME_PREAMBLE_BYTES];
        if let Err(e) = encoded.and_then(|()| {
            frame::write_preamble(&mut preamble, self.serialize_type, header_len, body_len)
        }) {
            out.truncate(start);
            return Err(e);
        }
        out[start..start + FRAME_PREAMBLE_BYTES].copy_from_slice(&preamble);
        Ok(())
    }

    /// Append the whole frame (preamble, header, body).
    pub fn encode(&self, out: &mut BytesMut) -> CodecResult<()> {
        let body = self.body.as_deref().unwrap_or_default();
        self.encode_header(body.len(), out)?;
        out.extend_from_slice(body);
        Ok(())
    }

    /// The whole frame as a new buffer.
    pub fn encode_to_bytes(&self) -> CodecResult<Bytes> {
        let mut out = BytesMut::with_capacity(256 + self.body.as_ref().map_or(0, Bytes::len));
        self.encode(&mut out)?;
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_round_trip() {
        for l in LanguageCode::ALL {
            assert_eq!(LanguageCode::from_code(l.code()), l);
            assert_eq!(LanguageCode::from_name(l.name()), l);
        }
        assert_eq!(LanguageCode::from_code(200), LanguageCode::Other);
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Other);
        assert_eq!(LanguageCode::NodeJs.code(), 13);
    }

    #[test]
    fn response_mirrors_request() {
        let mut req = RemotingCommand::new_request(10, ExtFields::new());
        req.opaque = 77;
        req.serialize_type = SerializeType::RocketMq;
        let resp = RemotingCommand::response_to(&req, 0, None);
        assert!(resp.is_response());
        assert!(!resp.is_oneway());
        assert_eq!(resp.opaque, 77);
        assert_eq!(resp.serialize_type, SerializeType::RocketMq);
        assert_eq!(resp.version, version::CURRENT);
    }

    #[test]
    fn decode_rejects_a_buffer_that_is_not_one_frame() {
        let cmd = RemotingCommand::new_request(34, ExtFields::new()).with_body(&b"xyz"[..]);
        let bytes = cmd.encode_to_bytes().unwrap();
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(matches!(
            RemotingCommand::decode(Bytes::from(longer)),
            Err(CodecError::FrameLengthMismatch { .. })
        ));
        assert!(matches!(
            RemotingCommand::decode(bytes.slice(..bytes.len() - 1)),
            Err(CodecError::FrameLengthMismatch { .. })
        ));
    }

    #[test]
    fn header_into_a_vec_matches_the_bytes_mut_form_and_appends() {
        for ser in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = RemotingCommand::new_request(310, ExtFields::new());
            cmd.serialize_type = ser;
            cmd.set_ext("b", "T").set_ext("a", "PG");
            let mut expected = BytesMut::new();
            cmd.encode_header(5, &mut expected).unwrap();
            let mut out = b"prev".to_vec();
            cmd.encode_header_to_vec(5, &mut out).unwrap();
            assert_eq!(&out[..4], b"prev");
            assert_eq!(&out[4..], &expected[..]);
            let decoded =
                RemotingCommand::decode(Bytes::from([&out[4..], &b"body!"[..]].concat())).unwrap();
            assert_eq!(decoded.ext_fields, cmd.ext_fields);
        }
        // A header the binary form cannot carry leaves the buffer as it was.
        let mut cmd = RemotingCommand::new_request(10, ExtFields::new());
        cmd.serialize_type = SerializeType::RocketMq;
        cmd.set_ext("k".repeat(40_000), "v");
        let mut out = b"prev".to_vec();
        assert!(cmd.encode_header_to_vec(0, &mut out).is_err());
        assert_eq!(out, b"prev");
    }

    #[test]
    fn decode_from_splits_frames_off_a_stream() {
        let a = RemotingCommand::new_request(1, ExtFields::new())
            .encode_to_bytes()
            .unwrap();
        let b = RemotingCommand::new_request(2, ExtFields::new())
            .with_body(&b"b"[..])
            .encode_to_bytes()
            .unwrap();
        let mut stream = BytesMut::new();
        stream.extend_from_slice(&a);
        stream.extend_from_slice(&b[..5]);
        assert_eq!(
            RemotingCommand::decode_from(&mut stream)
                .unwrap()
                .unwrap()
                .code,
            1
        );
        assert!(RemotingCommand::decode_from(&mut stream).unwrap().is_none());
        stream.extend_from_slice(&b[5..]);
        let second = RemotingCommand::decode_from(&mut stream).unwrap().unwrap();
        assert_eq!((second.code, second.body.as_deref()), (2, Some(&b"b"[..])));
        assert!(stream.is_empty());
    }
}
