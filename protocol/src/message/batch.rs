//! The `SEND_BATCH_MESSAGE` body (protocol.md §2.2): messages laid end to end, each
//!
//! ```text
//! totalSize i32 | magic i32 (0, ignored) | bodyCRC i32 (0, ignored) | flag i32 |
//! bodyLen i32 | body | propertiesLen i16 | properties (UTF-8)
//! ```
//! Invariants: decoding is total — every length is checked (negative, past the buffer,
//! totalSize disagreeing with the parts) and reported as a [`CodecError`]; entries borrow the
//! input, and the only allocation is the result vector, whose length is bounded by the input
//! size (an entry takes at least [`BATCH_ENTRY_SIZE_BYTES_MIN`] bytes) and by
//! [`BATCH_MESSAGES_COUNT_MAX`]. The magic and CRC fields are ignored on decode, as the
//! broker recomputes the CRC, and written as 0 on encode, as Java's `encodeMessage` does.

use crate::error::{CodecError, CodecResult};
use crate::limits::{BATCH_MESSAGES_COUNT_MAX, BODY_SIZE_BYTES_MAX, PROPERTIES_SIZE_BYTES_MAX};

/// Bytes before an entry's body: totalSize, magic, bodyCRC, flag, bodyLen.
const ENTRY_HEAD_BYTES: usize = 4 + 4 + 4 + 4 + 4;
/// Bytes of an entry's propertiesLen.
const PROPERTIES_LEN_BYTES: usize = 2;
/// Smallest entry: empty body and properties.
pub const BATCH_ENTRY_SIZE_BYTES_MIN: usize = ENTRY_HEAD_BYTES + PROPERTIES_LEN_BYTES;

const _: () = assert!(BATCH_ENTRY_SIZE_BYTES_MIN == 22);

/// One message of a batch body, borrowing the body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEntry<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: &'a str,
}

impl BatchEntry<'_> {
    /// Bytes this entry takes in a batch body; errors if its properties exceed
    /// [`PROPERTIES_SIZE_BYTES_MAX`] or the entry exceeds [`BODY_SIZE_BYTES_MAX`].
    pub fn encoded_len(&self) -> CodecResult<usize> {
        if self.properties.len() > PROPERTIES_SIZE_BYTES_MAX {
            return Err(invalid(format!(
                "properties of {} bytes exceed the limit of {PROPERTIES_SIZE_BYTES_MAX}",
                self.properties.len()
            )));
        }
        match (BATCH_ENTRY_SIZE_BYTES_MIN + self.properties.len()).checked_add(self.body.len()) {
            Some(len) if len <= BODY_SIZE_BYTES_MAX => Ok(len),
            _ => Err(invalid(format!(
                "message body of {} bytes exceeds the batch limit of {BODY_SIZE_BYTES_MAX}",
                self.body.len()
            ))),
        }
    }
}

fn invalid(reason: String) -> CodecError {
    CodecError::InvalidBody {
        what: "batch body",
        reason,
    }
}

/// Iterator over the entries of a batch body; see [`batch_entries`].
#[derive(Debug, Clone)]
pub struct BatchEntries<'a> {
    rest: &'a [u8],
    /// Offset of `rest` in the whole body, for error messages.
    at: usize,
    count: usize,
    failed: bool,
}

/// The entries of `body` in order. Yields an error for the first malformed entry (or for more
/// than [`BATCH_MESSAGES_COUNT_MAX`] entries) and then stops.
pub fn batch_entries(body: &[u8]) -> BatchEntries<'_> {
    BatchEntries {
        rest: body,
        at: 0,
        count: 0,
        failed: false,
    }
}

/// All entries of `body`, or the first error. An empty body gives no entries; whether that is
/// acceptable is the caller's decision.
pub fn decode_batch(body: &[u8]) -> CodecResult<Vec<BatchEntry<'_>>> {
    batch_entries(body).collect()
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> BatchEntries<'a> {
    fn decode_one(&mut self) -> CodecResult<BatchEntry<'a>> {
        let at = self.at;
        let rest = self.rest;
        if self.count >= BATCH_MESSAGES_COUNT_MAX {
            return Err(invalid(format!(
                "more than {BATCH_MESSAGES_COUNT_MAX} messages"
            )));
        }
        if rest.len() < BATCH_ENTRY_SIZE_BYTES_MIN {
            return Err(invalid(format!(
                "{} trailing bytes at offset {at} cannot hold a message",
                rest.len()
            )));
        }
        let total_size = be_i32(rest, 0);
        let total_size = match usize::try_from(total_size) {
            Ok(n) if (BATCH_ENTRY_SIZE_BYTES_MIN..=rest.len()).contains(&n) => n,
            _ => {
                return Err(invalid(format!(
                    "message at offset {at} has total size {total_size}, outside {BATCH_ENTRY_SIZE_BYTES_MIN}..={}",
                    rest.len()
                )))
            }
        };
        let entry = &rest[..total_size];
        let flag = be_i32(entry, 12);
        let body_len = be_i32(entry, 16);
        // The body and propertiesLen must fit inside totalSize.
        let body_end = usize::try_from(body_len)
            .ok()
            .and_then(|n| n.checked_add(ENTRY_HEAD_BYTES))
            .filter(|&end| end + PROPERTIES_LEN_BYTES <= total_size);
        let Some(body_end) = body_end else {
            return Err(invalid(format!(
                "message at offset {at} has body length {body_len}, impossible in its total size {total_size}"
            )));
        };
        let body = &entry[ENTRY_HEAD_BYTES..body_end];
        let properties_len = i16::from_be_bytes([entry[body_end], entry[body_end + 1]]);
        let properties_start = body_end + PROPERTIES_LEN_BYTES;
        let expected_total = usize::try_from(properties_len)
            .ok()
            .map(|n| properties_start + n);
        if expected_total != Some(total_size) {
            return Err(invalid(format!(
                "message at offset {at} has properties length {properties_len}, but its total size {total_size} leaves {}",
                total_size - properties_start
            )));
        }
        let properties = std::str::from_utf8(&entry[properties_start..]).map_err(|_| {
            invalid(format!(
                "message at offset {at} has properties that are not UTF-8"
            ))
        })?;
        self.rest = &rest[total_size..];
        self.at += total_size;
        self.count += 1;
        Ok(BatchEntry {
            flag,
            body,
            properties,
        })
    }
}

impl<'a> Iterator for BatchEntries<'a> {
    type Item = CodecResult<BatchEntry<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let result = self.decode_one();
        self.failed = result.is_err();
        Some(result)
    }
}

/// Append the batch body of `entries` to `out` (client side). Errors, leaving `out` as it
/// was, if an entry's properties exceed [`PROPERTIES_SIZE_BYTES_MAX`], the appended batch
/// exceeds [`BODY_SIZE_BYTES_MAX`] or there are more than [`BATCH_MESSAGES_COUNT_MAX`] entries.
pub fn encode_batch<'a>(
    entries: impl IntoIterator<Item = BatchEntry<'a>>,
    out: &mut Vec<u8>,
) -> CodecResult<()> {
    let start = out.len();
    let result = append_entries(entries, start, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn append_entries<'a>(
    entries: impl IntoIterator<Item = BatchEntry<'a>>,
    start: usize,
    out: &mut Vec<u8>,
) -> CodecResult<()> {
    for (count, entry) in entries.into_iter().enumerate() {
        if count >= BATCH_MESSAGES_COUNT_MAX {
            return Err(invalid(format!(
                "more than {BATCH_MESSAGES_COUNT_MAX} messages"
            )));
        }
        let len = entry.encoded_len()?;
        if out.len() - start + len > BODY_SIZE_BYTES_MAX {
            return Err(invalid(format!(
                "batch exceeds the body limit of {BODY_SIZE_BYTES_MAX} bytes"
            )));
        }
        // Each length fits in i32/i16: checked by encoded_len and the body limit.
        out.extend_from_slice(&(len as i32).to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&0i32.to_be_bytes());
        out.extend_from_slice(&entry.flag.to_be_bytes());
        out.extend_from_slice(&(entry.body.len() as i32).to_be_bytes());
        out.extend_from_slice(entry.body);
        out.extend_from_slice(&(entry.properties.len() as i16).to_be_bytes());
        out.extend_from_slice(entry.properties.as_bytes());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(flag: i32, body: &'a [u8], properties: &'a str) -> BatchEntry<'a> {
        BatchEntry {
            flag,
            body,
            properties,
        }
    }

    #[test]
    fn layout_matches_the_doc() {
        let mut out = Vec::new();
        encode_batch([entry(5, b"ab", "k\u{1}v\u{2}")], &mut out).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&28i32.to_be_bytes()); // 22 + 2 + 4
        expected.extend_from_slice(&[0; 8]);
        expected.extend_from_slice(&5i32.to_be_bytes());
        expected.extend_from_slice(&2i32.to_be_bytes());
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&4i16.to_be_bytes());
        expected.extend_from_slice(b"k\x01v\x02");
        assert_eq!(out, expected);
        assert_eq!(
            decode_batch(&out).unwrap(),
            [entry(5, b"ab", "k\u{1}v\u{2}")]
        );
    }

    #[test]
    fn magic_and_crc_are_ignored() {
        let mut out = Vec::new();
        encode_batch([entry(0, b"x", "")], &mut out).unwrap();
        out[4..12].copy_from_slice(&[0xAB; 8]);
        assert_eq!(decode_batch(&out).unwrap(), [entry(0, b"x", "")]);
    }

    #[test]
    fn empty_body_has_no_entries() {
        assert_eq!(decode_batch(&[]).unwrap(), []);
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        let mut good = Vec::new();
        encode_batch([entry(1, b"body", "a\u{1}b\u{2}")], &mut good).unwrap();
        let set_i32 = |b: &mut Vec<u8>, at: usize, v: i32| {
            b[at..at + 4].copy_from_slice(&v.to_be_bytes());
        };
        let n = good.len() as i32;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", good[..good.len() - 1].to_vec()),
            ("short tail", [good.clone(), vec![0; 21]].concat()),
            ("total too big", {
                let mut b = good.clone();
                set_i32(&mut b, 0, n + 1);
                b
            }),
            ("total too small", {
                let mut b = good.clone();
                set_i32(&mut b, 0, 21);
                b
            }),
            ("total negative", {
                let mut b = good.clone();
                set_i32(&mut b, 0, -1);
                b
            }),
            ("total shorter than parts", {
                let mut b = [good.clone(), good.clone()].concat();
                set_i32(&mut b, 0, n - 1);
                b
            }),
            ("body negative", {
                let mut b = good.clone();
                set_i32(&mut b, 16, -4);
                b
            }),
            ("body past total", {
                let mut b = good.clone();
                set_i32(&mut b, 16, i32::MAX);
                b
            }),
            ("properties negative", {
                let mut b = good.clone();
                b[24..26].copy_from_slice(&(-1i16).to_be_bytes());
                b
            }),
            ("properties disagree", {
                let mut b = good.clone();
                b[24..26].copy_from_slice(&3i16.to_be_bytes());
                b
            }),
            ("properties not UTF-8", {
                let mut b = good.clone();
                b[26] = 0xFF;
                b
            }),
        ];
        for (name, bytes) in cases {
            assert!(decode_batch(&bytes).is_err(), "{name}");
        }
    }

    #[test]
    fn iterator_stops_after_the_first_error() {
        let mut body = Vec::new();
        encode_batch([entry(1, b"a", ""), entry(2, b"b", "")], &mut body).unwrap();
        body.extend_from_slice(&[0xFF; 30]);
        let mut it = batch_entries(&body);
        assert_eq!(it.next().unwrap().unwrap().flag, 1);
        assert_eq!(it.next().unwrap().unwrap().flag, 2);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }

    #[test]
    fn encode_rejects_oversized_properties_and_keeps_out_intact() {
        let big = "p".repeat(PROPERTIES_SIZE_BYTES_MAX + 1);
        let mut out = vec![9];
        assert!(encode_batch([entry(0, b"ok", ""), entry(0, b"", &big)], &mut out).is_err());
        assert_eq!(out, [9]);
    }
}
