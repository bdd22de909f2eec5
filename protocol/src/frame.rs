//! Frame boundaries: is a whole frame in the buffer, and is it within limits?
//!
//! ```text
//! +------------+------------------------------+------------------+-----------+
//! | length u32 | serType u8 | headerLen u24   | header bytes     | body      |
//! +------------+------------------------------+------------------+-----------+
//! ```
//! `length` counts everything after itself (`4 + headerLen + bodyLen`), big-endian.
//!
//! [`check`] is cheap and allocation-free; the connection loop calls it on every read to learn
//! how many bytes the next frame needs and to reject hostile lengths before reserving memory.
//! Decoding the header is a separate step ([`crate::command::RemotingCommand::decode`]).

use crate::error::{CodecError, CodecResult};
use crate::limits::{
    FRAME_LENGTH_FIELD_MIN, FRAME_LENGTH_PREFIX_BYTES, FRAME_PREAMBLE_BYTES, FRAME_SIZE_BYTES_MAX,
    HEADER_SIZE_BYTES_MAX,
};

/// How the header of a frame is serialized (high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// fastjson text header (type 0), what Java clients send by default.
    #[default]
    Json,
    /// The compact binary header (type 1), `RocketMQSerializable`.
    RocketMq,
}

impl SerializeType {
    /// The byte on the wire.
    pub const fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// Parse the wire byte.
    pub fn from_code(code: u8) -> CodecResult<Self> {
        match code {
            0 => Ok(SerializeType::Json),
            1 => Ok(SerializeType::RocketMq),
            other => Err(CodecError::UnknownSerializeType(other)),
        }
    }

    /// The name Java uses in `serializeTypeCurrentRPC`.
    pub const fn name(self) -> &'static str {
        match self {
            SerializeType::Json => "JSON",
            SerializeType::RocketMq => "ROCKETMQ",
        }
    }
}

/// The validated preamble of a complete frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Bytes of the whole frame, the length prefix included.
    pub frame_len: usize,
    /// How the header is encoded.
    pub serialize_type: SerializeType,
    /// Bytes of the header.
    pub header_len: usize,
}

impl FrameHeader {
    /// Bytes of the body (may be 0).
    pub const fn body_len(&self) -> usize {
        self.frame_len - FRAME_PREAMBLE_BYTES - self.header_len
    }

    /// Byte range of the header inside the frame.
    pub const fn header_range(&self) -> std::ops::Range<usize> {
        FRAME_PREAMBLE_BYTES..FRAME_PREAMBLE_BYTES + self.header_len
    }

    /// Byte range of the body inside the frame.
    pub const fn body_range(&self) -> std::ops::Range<usize> {
        FRAME_PREAMBLE_BYTES + self.header_len..self.frame_len
    }
}

/// Outcome of [`check`] on a buffer that holds the start of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// A whole, valid frame is at the start of the buffer.
    Complete(FrameHeader),
    /// More bytes are needed; `frame_len` is the size of the whole frame once known (the length
    /// prefix was read and validated), else the minimum needed to learn it.
    Partial { frame_len: usize },
}

/// Check the frame at the start of `buf` without allocating.
///
/// Validates, as soon as the bytes are present: the length field (at least 4, at most the frame
/// limit), the serialize type, and the header length (within the frame and within the header
/// limit). Bytes after the frame are ignored (they belong to the next frame).
pub fn check(buf: &[u8]) -> CodecResult<FrameStatus> {
    let Some(prefix) = buf.first_chunk::<FRAME_LENGTH_PREFIX_BYTES>() else {
        return Ok(FrameStatus::Partial {
            frame_len: FRAME_PREAMBLE_BYTES,
        });
    };
    let length = i32::from_be_bytes(*prefix);
    let length = usize::try_from(length).map_err(|_| CodecError::FrameTooShort {
        length: i64::from(length),
    })?;
    if length < FRAME_LENGTH_FIELD_MIN {
        return Err(CodecError::FrameTooShort {
            length: length as i64,
        });
    }
    let frame_len = length + FRAME_LENGTH_PREFIX_BYTES;
    if frame_len > FRAME_SIZE_BYTES_MAX {
        return Err(CodecError::FrameTooLarge {
            length,
            max: FRAME_SIZE_BYTES_MAX - FRAME_LENGTH_PREFIX_BYTES,
        });
    }
    let Some(word) = buf.get(FRAME_LENGTH_PREFIX_BYTES..FRAME_PREAMBLE_BYTES) else {
        return Ok(FrameStatus::Partial { frame_len });
    };
    let word = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
    let serialize_type = SerializeType::from_code((word >> 24) as u8)?;
    let header_len = (word & 0x00FF_FFFF) as usize;
    let available = length - FRAME_LENGTH_FIELD_MIN;
    if header_len > available {
        return Err(CodecError::HeaderLengthExceedsFrame {
            header_len,
            available,
        });
    }
    if header_len > HEADER_SIZE_BYTES_MAX {
        return Err(CodecError::HeaderTooLarge {
            header_len,
            max: HEADER_SIZE_BYTES_MAX,
        });
    }
    if buf.len() < frame_len {
        return Ok(FrameStatus::Partial { frame_len });
    }
    Ok(FrameStatus::Complete(FrameHeader {
        frame_len,
        serialize_type,
        header_len,
    }))
}

/// Write the 8-byte preamble for a frame with the given header and body sizes.
///
/// Returns an error if the sizes break the limits, so an encoder never produces a frame that a
/// conforming peer would reject.
pub fn write_preamble(
    out: &mut [u8; FRAME_PREAMBLE_BYTES],
    serialize_type: SerializeType,
    header_len: usize,
    body_len: usize,
) -> CodecResult<()> {
    if header_len > HEADER_SIZE_BYTES_MAX {
        return Err(CodecError::HeaderTooLarge {
            header_len,
            max: HEADER_SIZE_BYTES_MAX,
        });
    }
    let frame_len = FRAME_PREAMBLE_BYTES + header_len + body_len;
    if frame_len > FRAME_SIZE_BYTES_MAX {
        return Err(CodecError::FrameTooLarge {
            length: frame_len - FRAME_LENGTH_PREFIX_BYTES,
            max: FRAME_SIZE_BYTES_MAX - FRAME_LENGTH_PREFIX_BYTES,
        });
    }
    let length = (frame_len - FRAME_LENGTH_PREFIX_BYTES) as u32;
    let word = (u32::from(serialize_type.code()) << 24) | header_len as u32;
    out[..4].copy_from_slice(&length.to_be_bytes());
    out[4..].copy_from_slice(&word.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preamble(length: i32, ser: u8, header_len: u32) -> Vec<u8> {
        let mut v = length.to_be_bytes().to_vec();
        v.extend_from_slice(&((u32::from(ser) << 24) | header_len).to_be_bytes());
        v
    }

    #[test]
    fn empty_and_short_buffers_are_partial() {
        assert_eq!(check(&[]).unwrap(), FrameStatus::Partial { frame_len: 8 });
        assert_eq!(
            check(&[0, 0]).unwrap(),
            FrameStatus::Partial { frame_len: 8 }
        );
        // Length known, preamble not complete yet.
        assert_eq!(
            check(&[0, 0, 0, 10, 0]).unwrap(),
            FrameStatus::Partial { frame_len: 14 }
        );
    }

    #[test]
    fn complete_frame_reports_ranges() {
        let mut buf = preamble(4 + 3 + 2, 0, 3);
        buf.extend_from_slice(b"{}\nXY");
        buf.extend_from_slice(b"next-frame");
        let FrameStatus::Complete(h) = check(&buf).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(h.frame_len, 13);
        assert_eq!(h.header_len, 3);
        assert_eq!(h.body_len(), 2);
        assert_eq!(&buf[h.header_range()], b"{}\n");
        assert_eq!(&buf[h.body_range()], b"XY");
    }

    #[test]
    fn hostile_lengths_are_rejected_before_the_bytes_arrive() {
        assert!(matches!(
            check(&(-1i32).to_be_bytes()),
            Err(CodecError::FrameTooShort { .. })
        ));
        assert!(matches!(
            check(&3i32.to_be_bytes()),
            Err(CodecError::FrameTooShort { .. })
        ));
        assert!(matches!(
            check(&i32::MAX.to_be_bytes()),
            Err(CodecError::FrameTooLarge { .. })
        ));
        // The largest length field Java accepts is 16 MiB - 4.
        let max_ok = (FRAME_SIZE_BYTES_MAX - 4) as i32;
        assert!(matches!(
            check(&max_ok.to_be_bytes()),
            Ok(FrameStatus::Partial { .. })
        ));
        assert!(matches!(
            check(&(max_ok + 1).to_be_bytes()),
            Err(CodecError::FrameTooLarge { .. })
        ));
        assert!(matches!(
            check(&preamble(10, 2, 1)),
            Err(CodecError::UnknownSerializeType(2))
        ));
        assert!(matches!(
            check(&preamble(10, 0, 7)),
            Err(CodecError::HeaderLengthExceedsFrame {
                header_len: 7,
                available: 6
            })
        ));
        let big = (HEADER_SIZE_BYTES_MAX + 1) as u32;
        assert!(matches!(
            check(&preamble(8 * 1024 * 1024, 1, big)),
            Err(CodecError::HeaderTooLarge { .. })
        ));
    }

    #[test]
    fn preamble_round_trips_through_check() {
        let mut pre = [0u8; 8];
        write_preamble(&mut pre, SerializeType::RocketMq, 21, 5).unwrap();
        let mut buf = pre.to_vec();
        buf.resize(8 + 21 + 5, 0);
        let FrameStatus::Complete(h) = check(&buf).unwrap() else {
            panic!("incomplete")
        };
        assert_eq!(
            (h.serialize_type, h.header_len, h.body_len()),
            (SerializeType::RocketMq, 21, 5)
        );
        assert!(write_preamble(&mut pre, SerializeType::Json, 0, FRAME_SIZE_BYTES_MAX).is_err());
    }
}
