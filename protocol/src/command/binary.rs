//! The ROCKETMQ binary remoting header (`RocketMQSerializable`), both directions.
//!
//! ```text
//! code i16 | language u8 | version i16 | opaque i32 | flag i32 |
//! remarkLen i32 | remark | extLen i32 | { keyLen i16 | key | valLen i32 | val }*
//! ```
//! Java rules kept here: a string length of 0 decodes as null (so empty ext values vanish);
//! a length that is negative or larger than the header is an error; entries with an empty key
//! or value are skipped on encode, as Java skips nulls. `code` and `version` are 16-bit on this
//! path (Java casts), so codes above 32767 do not survive a binary header — as in Java.

use super::{ExtFields, LanguageCode, RemotingCommand};
use crate::error::{CodecError, CodecResult};
use crate::limits::{EXT_FIELDS_COUNT_MAX, HEADER_SIZE_BYTES_MAX};

/// Bytes of the fixed part before the remark.
pub const FIXED_PART_BYTES: usize = 17;

/// Decode a binary header (without the frame preamble).
pub fn decode_header(bytes: &[u8]) -> CodecResult<RemotingCommand> {
    let mut r = Reader {
        buf: bytes,
        limit: bytes.len(),
    };
    let code = i32::from(r.i16()?);
    let language = LanguageCode::from_code(r.u8()?);
    let version = i32::from(r.i16()?);
    let opaque = r.i32()?;
    let flag = r.i32()?;
    let remark = r.str_i32("remark")?.map(str::to_owned);
    let mut cmd = RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ..Default::default()
    };
    let ext_len = r.i32()?;
    let ext_len = usize::try_from(ext_len)
        .map_err(|_| CodecError::InvalidBinaryHeader("negative extFields length"))?;
    if ext_len > r.buf.len() {
        return Err(CodecError::InvalidBinaryHeader(
            "extFields length beyond header",
        ));
    }
    if ext_len > 0 {
        let (mut area, rest) = r.buf.split_at(ext_len);
        r.buf = rest;
        // Keys and values go straight into the map's arena (no string per field); the area's
        // length bounds their total.
        let mut fields = ExtFields::with_capacities(16, ext_len);
        while !area.is_empty() {
            let mut er = Reader {
                buf: area,
                limit: r.limit,
            };
            let key = er.str_i16("extFields key")?;
            let value = er.str_i32("extFields value")?;
            area = er.buf;
            if let (Some(k), Some(v)) = (key, value) {
                let k = fields.push_text(k);
                let v = fields.push_text(v);
                fields.commit(k, v);
                if fields.len() > EXT_FIELDS_COUNT_MAX {
                    return Err(CodecError::TooManyExtFields {
                        max: EXT_FIELDS_COUNT_MAX,
                    });
                }
            }
        }
        // Entries with empty keys or values decode as null and are dropped, as in Java; the map
        // counts as present only if something survived, so a re-encode is byte-stable.
        cmd.has_ext_fields = !fields.is_empty();
        cmd.ext_fields = fields;
    }
    Ok(cmd)
}

/// Append the binary header of `cmd`.
pub fn encode_header(cmd: &RemotingCommand, out: &mut Vec<u8>) -> CodecResult<()> {
    out.extend_from_slice(&(cmd.code as i16).to_be_bytes());
    out.push(cmd.language.code());
    out.extend_from_slice(&(cmd.version as i16).to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    match cmd.remark.as_deref() {
        Some(r) if !r.is_empty() => {
            out.extend_from_slice(&checked_len_i32(r.len())?.to_be_bytes());
            out.extend_from_slice(r.as_bytes());
        }
        _ => out.extend_from_slice(&0i32.to_be_bytes()),
    }
    let len_at = out.len();
    out.extend_from_slice(&0i32.to_be_bytes());
    for (k, v) in cmd.ext_fields.iter() {
        if k.is_empty() || v.is_empty() {
            continue;
        }
        let key_len = i16::try_from(k.len())
            .map_err(|_| CodecError::InvalidBinaryHeader("extFields key over 32767 bytes"))?;
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&checked_len_i32(v.len())?.to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
    let ext_len = checked_len_i32(out.len() - len_at - 4)?;
    out[len_at..len_at + 4].copy_from_slice(&ext_len.to_be_bytes());
    Ok(())
}

fn checked_len_i32(len: usize) -> CodecResult<i32> {
    if len > HEADER_SIZE_BYTES_MAX {
        return Err(CodecError::HeaderTooLarge {
            header_len: len,
            max: HEADER_SIZE_BYTES_MAX,
        });
    }
    Ok(len as i32)
}

/// A bounds-checked big-endian reader over the header bytes.
struct Reader<'a> {
    buf: &'a [u8],
    /// Java rejects any string longer than the whole header.
    limit: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> CodecResult<&'a [u8]> {
        if n > self.buf.len() {
            return Err(CodecError::InvalidBinaryHeader("header cut short"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self) -> CodecResult<u8> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> CodecResult<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> CodecResult<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn str(&mut self, len: i64, what: &'static str) -> CodecResult<Option<&'a str>> {
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len)
            .map_err(|_| CodecError::InvalidBinaryHeader("negative string length"))?;
        if len > self.limit {
            return Err(CodecError::InvalidBinaryHeader(
                "string length beyond header",
            ));
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| CodecError::InvalidUtf8(what))
    }
    fn str_i32(&mut self, what: &'static str) -> CodecResult<Option<&'a str>> {
        let len = self.i32()?;
        self.str(i64::from(len), what)
    }
    fn str_i16(&mut self, what: &'static str) -> CodecResult<Option<&'a str>> {
        let len = self.i16()?;
        self.str(i64::from(len), what)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_java() {
        let mut cmd = RemotingCommand {
            code: 10,
            language: LanguageCode::Go,
            version: 317,
            opaque: 5,
            flag: 2,
            ..Default::default()
        };
        cmd.remark = Some("hi".into());
        cmd.set_ext("k", "vv");
        let mut out = Vec::new();
        encode_header(&cmd, &mut out).unwrap();
        let expected: Vec<u8> = [
            &[0, 10][..],
            &[9],
            &[1, 61],
            &[0, 0, 0, 5],
            &[0, 0, 0, 2],
            &[0, 0, 0, 2],
            b"hi",
            &[0, 0, 0, 9],
            &[0, 1],
            b"k",
            &[0, 0, 0, 2],
            b"vv",
        ]
        .concat();
        assert_eq!(out, expected);
        let back = decode_header(&out).unwrap();
        assert_eq!(back, cmd);
    }

    #[test]
    fn empty_strings_decode_as_absent() {
        let mut cmd = RemotingCommand {
            remark: Some(String::new()),
            ..Default::default()
        };
        cmd.set_ext("empty", "");
        let mut out = Vec::new();
        encode_header(&cmd, &mut out).unwrap();
        assert_eq!(out.len(), FIXED_PART_BYTES + 4);
        let back = decode_header(&out).unwrap();
        assert_eq!(back.remark, None);
        assert!(back.ext_fields.is_empty());
    }

    #[test]
    fn broken_lengths_are_errors() {
        let fixed = vec![0u8; FIXED_PART_BYTES - 4];
        let with = |tail: &[&[u8]]| -> Vec<u8> { [&[fixed.as_slice()], tail].concat().concat() };
        let remark_too_long = with(&[&100i32.to_be_bytes()]);
        assert!(decode_header(&remark_too_long).is_err());
        let remark_negative = with(&[&(-1i32).to_be_bytes()]);
        assert!(decode_header(&remark_negative).is_err());
        let no_remark = 0i32.to_be_bytes();
        let ext_too_long = with(&[&no_remark, &50i32.to_be_bytes()]);
        assert!(decode_header(&ext_too_long).is_err());
        let entry_cut_short = with(&[&no_remark, &3i32.to_be_bytes(), &[0, 5, b'x']]);
        assert!(decode_header(&entry_cut_short).is_err());
        let bad_utf8_key = with(&[
            &no_remark,
            &9i32.to_be_bytes(),
            &[0, 1, 0xFF, 0, 0, 0, 2, b'o', b'k'],
        ]);
        assert!(matches!(
            decode_header(&bad_utf8_key),
            Err(CodecError::InvalidUtf8(_))
        ));
        assert!(decode_header(&[0, 1]).is_err());
    }
}
