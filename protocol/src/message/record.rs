//! The stored `CommitLog` record (protocol.md §6.1), byte-compatible with Java's
//! `MessageExtEncoder` / `MessageDecoder`.
//!
//! ```text
//! TOTALSIZE i32 | MAGIC i32 | BODYCRC i32 | QUEUEID i32 | FLAG i32 | QUEUEOFFSET i64 |
//! PHYSICALOFFSET i64 | SYSFLAG i32 | BORNTIMESTAMP i64 | BORNHOST (4|16 + 4) |
//! STORETIMESTAMP i64 | STOREHOST (4|16 + 4) | RECONSUMETIMES i32 | PREPAREDTXOFFSET i64 |
//! BODYLEN i32 | BODY | TOPICLEN (i8 v1 | i16 v2) | TOPIC | PROPLEN i16 | PROPERTIES
//! ```
//! All integers are big-endian. Invariants this module keeps:
//! - [`RecordFields::encode_into`] writes exactly [`RecordFields::encoded_len`] bytes, picks
//!   v1 when the topic is at most 127 bytes (Java reads the v1 length as a *signed* byte) and
//!   derives the two IPv6 sysFlag bits from the address families, so the flag always agrees
//!   with the layout.
//! - [`RecordView::parse`], [`peek_head`] and [`records`] are total: any input gives a value or
//!   a [`CodecError`], never a panic, and they allocate nothing but the error message. A view
//!   exists only for a record whose every length agrees with its TOTALSIZE, so its accessors
//!   cannot fail.
//! - The end-of-file filler is 8 bytes (TOTALSIZE = bytes left in the file, MAGIC =
//!   [`BLANK_MAGIC`]); [`peek_head`] reports it, [`RecordView::parse`] rejects it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::{CodecError, CodecResult};
use crate::limits::{PROPERTIES_SIZE_BYTES_MAX, TOPIC_NAME_BYTES_MAX};
use crate::message::sysflag::message::{BORNHOST_V6, STOREHOSTADDRESS_V6};

/// Magic code of a v1 record (1-byte topic length).
pub const MAGIC_V1: i32 = 0xDAA3_20A7_u32 as i32;
/// Magic code of a v2 record (2-byte topic length).
pub const MAGIC_V2: i32 = 0xDAA3_20AB_u32 as i32;
/// Magic code of the end-of-file filler.
pub const BLANK_MAGIC: i32 = 0xCBD4_3194_u32 as i32;
/// Bytes of the end-of-file filler record (TOTALSIZE and MAGIC).
pub const BLANK_RECORD_BYTES: usize = 8;

/// Longest topic a v1 record can hold: its length is a signed byte.
pub const TOPIC_V1_BYTES_MAX: usize = i8::MAX as usize;

/// Largest record: TOTALSIZE is an int32.
pub const RECORD_SIZE_BYTES_MAX: usize = i32::MAX as usize;

/// Fields whose width never varies: TOTALSIZE, MAGIC, BODYCRC, QUEUEID, FLAG, QUEUEOFFSET,
/// PHYSICALOFFSET, SYSFLAG, BORNTIMESTAMP, STORETIMESTAMP, RECONSUMETIMES, PREPAREDTXOFFSET.
const FIXED_FIELDS_BYTES: usize = 4 + 4 + 4 + 4 + 4 + 8 + 8 + 4 + 8 + 8 + 4 + 8;
const IPV4_HOST_BYTES: usize = 4 + 4;
const IPV6_HOST_BYTES: usize = 16 + 4;
const BODY_LEN_BYTES: usize = 4;
const PROPERTIES_LEN_BYTES: usize = 2;

/// Smallest v1 record: IPv4 hosts, empty body, topic and properties.
pub const RECORD_V1_SIZE_BYTES_MIN: usize =
    FIXED_FIELDS_BYTES + 2 * IPV4_HOST_BYTES + BODY_LEN_BYTES + 1 + PROPERTIES_LEN_BYTES;
/// Smallest v2 record.
pub const RECORD_V2_SIZE_BYTES_MIN: usize = RECORD_V1_SIZE_BYTES_MIN + 1;

const TOTAL_SIZE_AT: usize = 0;
const MAGIC_AT: usize = 4;
const BODY_CRC_AT: usize = 8;
const QUEUE_ID_AT: usize = 12;
const FLAG_AT: usize = 16;
const QUEUE_OFFSET_AT: usize = 20;
const PHYSICAL_OFFSET_AT: usize = 28;
const SYS_FLAG_AT: usize = 36;
const BORN_TIMESTAMP_AT: usize = 40;
const BORN_HOST_AT: usize = 48;

const _: () = assert!(RECORD_V1_SIZE_BYTES_MIN == 91);
const _: () = assert!(FIXED_FIELDS_BYTES + 2 * IPV4_HOST_BYTES == 84);

/// `CRC32(body) & 0x7FFFFFFF`, the BODYCRC field.
pub fn body_crc(body: &[u8]) -> i32 {
    (crc32fast::hash(body) & 0x7FFF_FFFF) as i32
}

fn host_bytes(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => IPV4_HOST_BYTES,
        SocketAddr::V6(_) => IPV6_HOST_BYTES,
    }
}

fn invalid(reason: String) -> CodecError {
    CodecError::InvalidBody {
        what: "stored record",
        reason,
    }
}

/// Everything needed to encode one stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordFields<'a> {
    pub queue_id: i32,
    pub flag: i32,
    pub queue_offset: i64,
    pub physical_offset: i64,
    /// Message sysFlag; the two IPv6 bits are overwritten from `born_host`/`store_host`.
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    pub body: &'a [u8],
    pub topic: &'a str,
    pub properties: &'a str,
}

impl RecordFields<'_> {
    /// Bytes the record will take; errors if the topic, properties or whole record exceed
    /// their limits ([`TOPIC_NAME_BYTES_MAX`], [`PROPERTIES_SIZE_BYTES_MAX`],
    /// [`RECORD_SIZE_BYTES_MAX`]).
    pub fn encoded_len(&self) -> CodecResult<usize> {
        if self.topic.len() > TOPIC_NAME_BYTES_MAX {
            return Err(invalid(format!(
                "topic of {} bytes exceeds the limit of {TOPIC_NAME_BYTES_MAX}",
                self.topic.len()
            )));
        }
        if self.properties.len() > PROPERTIES_SIZE_BYTES_MAX {
            return Err(invalid(format!(
                "properties of {} bytes exceed the limit of {PROPERTIES_SIZE_BYTES_MAX}",
                self.properties.len()
            )));
        }
        let topic_len_bytes = if self.topic.len() <= TOPIC_V1_BYTES_MAX {
            1
        } else {
            2
        };
        // Everything but the body is bounded by the checks above, so only the body can overflow.
        let without_body = FIXED_FIELDS_BYTES
            + host_bytes(&self.born_host)
            + host_bytes(&self.store_host)
            + BODY_LEN_BYTES
            + topic_len_bytes
            + self.topic.len()
            + PROPERTIES_LEN_BYTES
            + self.properties.len();
        match without_body.checked_add(self.body.len()) {
            Some(total) if total <= RECORD_SIZE_BYTES_MAX => Ok(total),
            _ => Err(invalid(format!(
                "body of {} bytes makes the record exceed {RECORD_SIZE_BYTES_MAX} bytes",
                self.body.len()
            ))),
        }
    }

    /// The sysFlag as stored: the given one with the IPv6 bits set from the address families.
    pub fn stored_sys_flag(&self) -> i32 {
        let mut flag = self.sys_flag & !(BORNHOST_V6 | STOREHOSTADDRESS_V6);
        if self.born_host.is_ipv6() {
            flag |= BORNHOST_V6;
        }
        if self.store_host.is_ipv6() {
            flag |= STOREHOSTADDRESS_V6;
        }
        flag
    }

    /// Encode into the start of `out` (which must hold at least [`Self::encoded_len`] bytes)
    /// and return the bytes written. Computes BODYCRC.
    pub fn encode_into(&self, out: &mut [u8]) -> CodecResult<usize> {
        let total = self.encoded_len()?;
        if out.len() < total {
            return Err(invalid(format!(
                "output buffer of {} bytes cannot hold the {total}-byte record",
                out.len()
            )));
        }
        let mut w = Writer {
            buf: &mut out[..total],
            at: 0,
        };
        self.write_fields(&mut w, total);
        debug_assert_eq!(w.at, total);
        Ok(total)
    }

    /// Append the record to `out` (exactly [`Self::encoded_len`] bytes, returned): no zeroed
    /// space to overwrite first, which showed as a `memset` of every record in the store's
    /// append profile.
    pub fn encode_extend(&self, out: &mut bytes::BytesMut) -> CodecResult<usize> {
        let total = self.encoded_len()?;
        out.reserve(total);
        let before = out.len();
        self.write_fields(out, total);
        debug_assert_eq!(out.len() - before, total);
        Ok(total)
    }

    /// Every field in order; `total` is [`Self::encoded_len`] (already checked).
    fn write_fields(&self, w: &mut impl Sink, total: usize) {
        // `total` fits in i32 (checked by encoded_len), as do the body, topic and properties.
        w.put_bytes(&(total as i32).to_be_bytes());
        let v1 = self.topic.len() <= TOPIC_V1_BYTES_MAX;
        w.put_bytes(&(if v1 { MAGIC_V1 } else { MAGIC_V2 }).to_be_bytes());
        w.put_bytes(&body_crc(self.body).to_be_bytes());
        w.put_bytes(&self.queue_id.to_be_bytes());
        w.put_bytes(&self.flag.to_be_bytes());
        w.put_bytes(&self.queue_offset.to_be_bytes());
        w.put_bytes(&self.physical_offset.to_be_bytes());
        w.put_bytes(&self.stored_sys_flag().to_be_bytes());
        w.put_bytes(&self.born_timestamp.to_be_bytes());
        put_host(w, &self.born_host);
        w.put_bytes(&self.store_timestamp.to_be_bytes());
        put_host(w, &self.store_host);
        w.put_bytes(&self.reconsume_times.to_be_bytes());
        w.put_bytes(&self.prepared_transaction_offset.to_be_bytes());
        w.put_bytes(&(self.body.len() as i32).to_be_bytes());
        w.put_bytes(self.body);
        if v1 {
            w.put_bytes(&[self.topic.len() as u8]);
        } else {
            w.put_bytes(&(self.topic.len() as i16).to_be_bytes());
        }
        w.put_bytes(self.topic.as_bytes());
        w.put_bytes(&(self.properties.len() as i16).to_be_bytes());
        w.put_bytes(self.properties.as_bytes());
    }

    /// Encode into a new vector of exactly [`Self::encoded_len`] bytes.
    pub fn encode_to_vec(&self) -> CodecResult<Vec<u8>> {
        let mut out = vec![0; self.encoded_len()?];
        self.encode_into(&mut out)?;
        Ok(out)
    }
}

/// Where [`RecordFields::write_fields`] puts the record's bytes.
trait Sink {
    fn put_bytes(&mut self, bytes: &[u8]);
}

impl Sink for bytes::BytesMut {
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn put_host(w: &mut impl Sink, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => w.put_bytes(&ip.octets()),
        IpAddr::V6(ip) => w.put_bytes(&ip.octets()),
    }
    w.put_bytes(&i32::from(addr.port()).to_be_bytes());
}

/// Sequential writer over a buffer sized exactly for the record (sizes checked beforehand).
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Sink for Writer<'_> {
    fn put_bytes(&mut self, bytes: &[u8]) {
        self.buf[self.at..self.at + bytes.len()].copy_from_slice(bytes);
        self.at += bytes.len();
    }
}

fn patch(record: &mut [u8], at: usize, value: i64) {
    record[at..at + 8].copy_from_slice(&value.to_be_bytes());
}

/// Overwrite QUEUEOFFSET of an encoded record (the writer assigns it at append).
///
/// # Panics
/// If `record` is shorter than the fixed header; meant for records this process just encoded.
pub fn set_queue_offset(record: &mut [u8], v: i64) {
    patch(record, QUEUE_OFFSET_AT, v);
}

/// Overwrite PHYSICALOFFSET of an encoded record.
///
/// # Panics
/// If `record` is shorter than the fixed header; meant for records this process just encoded.
pub fn set_physical_offset(record: &mut [u8], v: i64) {
    patch(record, PHYSICAL_OFFSET_AT, v);
}

/// Overwrite STORETIMESTAMP of an encoded record; its position follows the born host's width,
/// read from the record's own sysFlag.
///
/// # Panics
/// If `record` is shorter than the fixed header; meant for records this process just encoded.
pub fn set_store_timestamp(record: &mut [u8], v: i64) {
    let sys_flag = read_i32(record, SYS_FLAG_AT);
    patch(record, store_timestamp_at(sys_flag), v);
}

fn store_timestamp_at(sys_flag: i32) -> usize {
    BORN_HOST_AT
        + if sys_flag & BORNHOST_V6 != 0 {
            IPV6_HOST_BYTES
        } else {
            IPV4_HOST_BYTES
        }
}

/// Callers guarantee `at + 4 <= buf.len()`.
fn read_i32(buf: &[u8], at: usize) -> i32 {
    let mut b = [0; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

/// Callers guarantee `at + 8 <= buf.len()`.
fn read_i64(buf: &[u8], at: usize) -> i64 {
    let mut b = [0; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    i64::from_be_bytes(b)
}

/// Callers guarantee the host fits at `at`.
fn read_host(buf: &[u8], at: usize, v6: bool) -> SocketAddr {
    if v6 {
        let mut ip = [0; 16];
        ip.copy_from_slice(&buf[at..at + 16]);
        let port = read_i32(buf, at + 16) as u16;
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
    } else {
        let mut ip = [0; 4];
        ip.copy_from_slice(&buf[at..at + 4]);
        let port = read_i32(buf, at + 4) as u16;
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), port))
    }
}

/// What the first 8 bytes of a `CommitLog` position say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordHead {
    /// A message record (v1 or v2) of `total_size` bytes.
    Message { total_size: usize },
    /// The end-of-file filler; `total_size` is the bytes left in the file from here.
    Blank { total_size: usize },
}

/// Classify the record starting at `buf`: `Ok(None)` if fewer than 8 bytes are available;
/// an error if the magic is unknown or the size impossible for it. A message's TOTALSIZE is
/// checked against its minimum, not against `buf.len()`, so a caller can learn how much to
/// read. Note that zero-filled (pre-allocated, never written) space is an error here: its
/// magic is 0; callers scanning for the end of written data check for zeros themselves.
pub fn peek_head(buf: &[u8]) -> CodecResult<Option<RecordHead>> {
    if buf.len() < BLANK_RECORD_BYTES {
        return Ok(None);
    }
    let total_size = read_i32(buf, TOTAL_SIZE_AT);
    let magic = read_i32(buf, MAGIC_AT);
    let min = match magic {
        MAGIC_V1 => RECORD_V1_SIZE_BYTES_MIN,
        MAGIC_V2 => RECORD_V2_SIZE_BYTES_MIN,
        BLANK_MAGIC => BLANK_RECORD_BYTES,
        _ => return Err(invalid(format!("unknown magic code {magic:#010x}"))),
    };
    let total_size = match usize::try_from(total_size) {
        Ok(size) if size >= min => size,
        _ => {
            return Err(invalid(format!(
                "total size {total_size} is below the minimum of {min} for magic {magic:#010x}"
            )))
        }
    };
    Ok(Some(if magic == BLANK_MAGIC {
        RecordHead::Blank { total_size }
    } else {
        RecordHead::Message { total_size }
    }))
}

/// A validated, zero-copy, read-only view of one stored record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Exactly the record's bytes (TOTALSIZE long).
    bytes: &'a [u8],
    store_timestamp_at: usize,
    body: &'a [u8],
    topic: &'a str,
    properties: &'a str,
}

/// Bounds-checked reader used only by [`RecordView::parse`].
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> CodecResult<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return Err(invalid(format!(
                "{what} of {n} bytes at offset {} runs past the record's {} bytes",
                self.at,
                self.buf.len()
            )));
        };
        let slice = &self.buf[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn skip(&mut self, n: usize, what: &str) -> CodecResult<()> {
        self.take(n, what).map(|_| ())
    }

    fn i32(&mut self, what: &str) -> CodecResult<i32> {
        self.take(4, what).map(|b| read_i32(b, 0))
    }

    fn i16(&mut self, what: &str) -> CodecResult<i16> {
        self.take(2, what).map(|b| i16::from_be_bytes([b[0], b[1]]))
    }

    fn i8(&mut self, what: &str) -> CodecResult<i8> {
        self.take(1, what).map(|b| b[0] as i8)
    }

    fn host(&mut self, v6: bool, what: &str) -> CodecResult<()> {
        let ip_bytes = if v6 { 16 } else { 4 };
        self.skip(ip_bytes, what)?;
        let port = self.i32(what)?;
        if u16::try_from(port).is_err() {
            return Err(invalid(format!("{what} port {port} is out of range")));
        }
        Ok(())
    }

    fn len_field(len: i64, what: &str) -> CodecResult<usize> {
        usize::try_from(len).map_err(|_| invalid(format!("negative {what} length {len}")))
    }
}

impl<'a> RecordView<'a> {
    /// Validate the record at the start of `buf` (which may extend past it): TOTALSIZE at least
    /// the minimum and within `buf`, magic v1/v2 (the blank filler is an error here), every
    /// inner length consistent with TOTALSIZE, ports in range, topic and properties UTF-8.
    /// Does not check BODYCRC (see [`Self::crc_matches`]).
    pub fn parse(buf: &'a [u8]) -> CodecResult<RecordView<'a>> {
        let total_size = match peek_head(buf)? {
            None => {
                return Err(invalid(format!(
                    "{} bytes cannot hold a record head",
                    buf.len()
                )))
            }
            Some(RecordHead::Blank { .. }) => {
                return Err(invalid(
                    "blank end-of-file record, not a message".to_owned(),
                ))
            }
            Some(RecordHead::Message { total_size }) => total_size,
        };
        if total_size > buf.len() {
            return Err(invalid(format!(
                "total size {total_size} exceeds the {} bytes available",
                buf.len()
            )));
        }
        let bytes = &buf[..total_size];
        let v1 = read_i32(bytes, MAGIC_AT) == MAGIC_V1;
        // The minimum size guarantees the fixed head through BORNHOST's start is present.
        let sys_flag = read_i32(bytes, SYS_FLAG_AT);
        let mut c = Cursor {
            buf: bytes,
            at: BORN_HOST_AT,
        };
        c.host(sys_flag & BORNHOST_V6 != 0, "born host")?;
        let store_timestamp_at = c.at;
        c.skip(8, "store timestamp")?;
        c.host(sys_flag & STOREHOSTADDRESS_V6 != 0, "store host")?;
        c.skip(4 + 8, "reconsume times and prepared transaction offset")?;
        let body_len = Cursor::len_field(i64::from(c.i32("body length")?), "body")?;
        let body = c.take(body_len, "body")?;
        let topic_len = if v1 {
            i64::from(c.i8("topic length")?)
        } else {
            i64::from(c.i16("topic length")?)
        };
        let topic_len = Cursor::len_field(topic_len, "topic")?;
        let topic = c.take(topic_len, "topic")?;
        let properties_len =
            Cursor::len_field(i64::from(c.i16("properties length")?), "properties")?;
        let properties = c.take(properties_len, "properties")?;
        if c.at != total_size {
            return Err(invalid(format!(
                "fields end at {} but total size is {total_size}",
                c.at
            )));
        }
        let topic =
            std::str::from_utf8(topic).map_err(|_| invalid("topic is not UTF-8".to_owned()))?;
        let properties = std::str::from_utf8(properties)
            .map_err(|_| invalid("properties are not UTF-8".to_owned()))?;
        Ok(RecordView {
            bytes,
            store_timestamp_at,
            body,
            topic,
            properties,
        })
    }

    /// TOTALSIZE: the record's length in bytes.
    pub fn total_size(&self) -> usize {
        self.bytes.len()
    }
    /// [`MAGIC_V1`] or [`MAGIC_V2`].
    pub fn magic(&self) -> i32 {
        read_i32(self.bytes, MAGIC_AT)
    }
    /// BODYCRC as stored.
    pub fn body_crc(&self) -> i32 {
        read_i32(self.bytes, BODY_CRC_AT)
    }
    /// Whether the stored BODYCRC matches the body.
    pub fn crc_matches(&self) -> bool {
        body_crc(self.body) == self.body_crc()
    }
    pub fn queue_id(&self) -> i32 {
        read_i32(self.bytes, QUEUE_ID_AT)
    }
    pub fn flag(&self) -> i32 {
        read_i32(self.bytes, FLAG_AT)
    }
    pub fn queue_offset(&self) -> i64 {
        read_i64(self.bytes, QUEUE_OFFSET_AT)
    }
    pub fn physical_offset(&self) -> i64 {
        read_i64(self.bytes, PHYSICAL_OFFSET_AT)
    }
    pub fn sys_flag(&self) -> i32 {
        read_i32(self.bytes, SYS_FLAG_AT)
    }
    pub fn born_timestamp(&self) -> i64 {
        read_i64(self.bytes, BORN_TIMESTAMP_AT)
    }
    pub fn born_host(&self) -> SocketAddr {
        read_host(self.bytes, BORN_HOST_AT, self.sys_flag() & BORNHOST_V6 != 0)
    }
    pub fn store_timestamp(&self) -> i64 {
        read_i64(self.bytes, self.store_timestamp_at)
    }
    pub fn store_host(&self) -> SocketAddr {
        read_host(
            self.bytes,
            self.store_timestamp_at + 8,
            self.sys_flag() & STOREHOSTADDRESS_V6 != 0,
        )
    }
    pub fn reconsume_times(&self) -> i32 {
        read_i32(self.bytes, self.reconsume_times_at())
    }
    pub fn prepared_transaction_offset(&self) -> i64 {
        read_i64(self.bytes, self.reconsume_times_at() + 4)
    }
    pub fn body(&self) -> &'a [u8] {
        self.body
    }
    pub fn topic(&self) -> &'a str {
        self.topic
    }
    pub fn properties(&self) -> &'a str {
        self.properties
    }
    /// The whole record, exactly TOTALSIZE bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    fn reconsume_times_at(&self) -> usize {
        let store_host_bytes = if self.sys_flag() & STOREHOSTADDRESS_V6 != 0 {
            IPV6_HOST_BYTES
        } else {
            IPV4_HOST_BYTES
        };
        self.store_timestamp_at + 8 + store_host_bytes
    }
}

/// Iterator over a concatenation of records (a PULL or `QUERY_MESSAGE` body); see [`records`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Views of the records laid end to end in `buf`. Yields an error for the first malformed
/// record (including a trailing fragment) and then stops.
pub fn records(buf: &[u8]) -> Records<'_> {
    Records {
        rest: buf,
        failed: false,
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = CodecResult<RecordView<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        match RecordView::parse(self.rest) {
            Ok(view) => {
                self.rest = &self.rest[view.total_size()..];
                Some(Ok(view))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, a], port))
    }

    fn sample<'a>(topic: &'a str, body: &'a [u8], properties: &'a str) -> RecordFields<'a> {
        RecordFields {
            queue_id: 3,
            flag: 7,
            queue_offset: 11,
            physical_offset: 8000,
            sys_flag: 0x4 | BORNHOST_V6 | STOREHOSTADDRESS_V6,
            born_timestamp: 1_700_000_000_000,
            born_host: v4(2, 54321),
            store_timestamp: 1_700_000_000_123,
            store_host: v4(1, 10911),
            reconsume_times: 2,
            prepared_transaction_offset: 99,
            body,
            topic,
            properties,
        }
    }

    /// The layout written out field by field from protocol.md §6.1, independently of the encoder.
    fn by_hand(f: &RecordFields<'_>, sys_flag: i32) -> Vec<u8> {
        let mut v = Vec::new();
        let host = |v: &mut Vec<u8>, a: &SocketAddr| {
            match a.ip() {
                IpAddr::V4(ip) => v.extend_from_slice(&ip.octets()),
                IpAddr::V6(ip) => v.extend_from_slice(&ip.octets()),
            }
            v.extend_from_slice(&i32::from(a.port()).to_be_bytes());
        };
        v.extend_from_slice(&[0; 4]);
        let magic = if f.topic.len() <= 127 {
            0xDAA3_20A7_u32
        } else {
            0xDAA3_20AB
        };
        v.extend_from_slice(&magic.to_be_bytes());
        v.extend_from_slice(&body_crc(f.body).to_be_bytes());
        v.extend_from_slice(&f.queue_id.to_be_bytes());
        v.extend_from_slice(&f.flag.to_be_bytes());
        v.extend_from_slice(&f.queue_offset.to_be_bytes());
        v.extend_from_slice(&f.physical_offset.to_be_bytes());
        v.extend_from_slice(&sys_flag.to_be_bytes());
        v.extend_from_slice(&f.born_timestamp.to_be_bytes());
        host(&mut v, &f.born_host);
        v.extend_from_slice(&f.store_timestamp.to_be_bytes());
        host(&mut v, &f.store_host);
        v.extend_from_slice(&f.reconsume_times.to_be_bytes());
        v.extend_from_slice(&f.prepared_transaction_offset.to_be_bytes());
        v.extend_from_slice(&(f.body.len() as u32).to_be_bytes());
        v.extend_from_slice(f.body);
        if f.topic.len() <= 127 {
            v.push(f.topic.len() as u8);
        } else {
            v.extend_from_slice(&(f.topic.len() as u16).to_be_bytes());
        }
        v.extend_from_slice(f.topic.as_bytes());
        v.extend_from_slice(&(f.properties.len() as u16).to_be_bytes());
        v.extend_from_slice(f.properties.as_bytes());
        let n = v.len() as u32;
        v[..4].copy_from_slice(&n.to_be_bytes());
        v
    }

    fn assert_view_matches(view: &RecordView<'_>, f: &RecordFields<'_>) {
        assert_eq!(view.queue_id(), f.queue_id);
        assert_eq!(view.flag(), f.flag);
        assert_eq!(view.queue_offset(), f.queue_offset);
        assert_eq!(view.physical_offset(), f.physical_offset);
        assert_eq!(view.sys_flag(), f.stored_sys_flag());
        assert_eq!(view.born_timestamp(), f.born_timestamp);
        assert_eq!(view.born_host(), f.born_host);
        assert_eq!(view.store_timestamp(), f.store_timestamp);
        assert_eq!(view.store_host(), f.store_host);
        assert_eq!(view.reconsume_times(), f.reconsume_times);
        assert_eq!(
            view.prepared_transaction_offset(),
            f.prepared_transaction_offset
        );
        assert_eq!(view.body(), f.body);
        assert_eq!(view.topic(), f.topic);
        assert_eq!(view.properties(), f.properties);
        assert!(view.crc_matches());
    }

    #[test]
    fn magic_values_match_the_doc() {
        assert_eq!(MAGIC_V1, -626_843_481);
        assert_eq!(MAGIC_V2, -626_843_477);
        assert_eq!(BLANK_MAGIC, -875_286_124);
    }

    #[test]
    fn ipv4_v1_record_matches_the_documented_layout() {
        let f = sample("TopicTest", b"Hello", "TAGS\u{1}TagA\u{2}");
        let encoded = f.encode_to_vec().unwrap();
        // IPv4 sender: the v6 bits given by the caller are cleared.
        assert_eq!(f.stored_sys_flag(), 0x4);
        assert_eq!(encoded, by_hand(&f, 0x4));
        assert_eq!(encoded.len(), 84 + 4 + 5 + 1 + 9 + 2 + 10);
        // Documented offsets.
        assert_eq!(read_i32(&encoded, 4), MAGIC_V1);
        assert_eq!(read_i32(&encoded, 16), 7);
        assert_eq!(read_i64(&encoded, 20), 11);
        assert_eq!(read_i64(&encoded, 28), 8000);
        assert_eq!(read_i32(&encoded, 36), 0x4);
        assert_eq!(read_i64(&encoded, 56), 1_700_000_000_123);
        let view = RecordView::parse(&encoded).unwrap();
        assert_eq!(view.magic(), MAGIC_V1);
        assert_eq!(view.total_size(), encoded.len());
        assert_view_matches(&view, &f);
    }

    #[test]
    fn ipv6_v2_record_round_trips() {
        let topic = "t".repeat(128);
        let mut f = sample(&topic, b"", "");
        f.sys_flag = 0;
        f.born_host = "[2001:db8::1]:40000".parse().unwrap();
        f.store_host = "[::1]:10911".parse().unwrap();
        let encoded = f.encode_to_vec().unwrap();
        assert_eq!(f.stored_sys_flag(), BORNHOST_V6 | STOREHOSTADDRESS_V6);
        assert_eq!(encoded, by_hand(&f, BORNHOST_V6 | STOREHOSTADDRESS_V6));
        let view = RecordView::parse(&encoded).unwrap();
        assert_eq!(view.magic(), MAGIC_V2);
        assert_view_matches(&view, &f);
    }

    #[test]
    fn topic_of_127_bytes_is_v1_and_128_is_v2() {
        let t127 = "a".repeat(127);
        let t128 = "a".repeat(128);
        let r127 = sample(&t127, b"x", "").encode_to_vec().unwrap();
        let r128 = sample(&t128, b"x", "").encode_to_vec().unwrap();
        assert_eq!(read_i32(&r127, MAGIC_AT), MAGIC_V1);
        assert_eq!(read_i32(&r128, MAGIC_AT), MAGIC_V2);
        assert_eq!(r128.len(), r127.len() + 2);
    }

    #[test]
    fn patches_land_where_the_reader_looks() {
        for born in [v4(2, 1), "[::2]:1".parse().unwrap()] {
            let mut f = sample("T", b"body", "");
            f.born_host = born;
            let mut encoded = f.encode_to_vec().unwrap();
            set_queue_offset(&mut encoded, -5);
            set_physical_offset(&mut encoded, 1 << 40);
            set_store_timestamp(&mut encoded, 42);
            let view = RecordView::parse(&encoded).unwrap();
            assert_eq!(view.queue_offset(), -5);
            assert_eq!(view.physical_offset(), 1 << 40);
            assert_eq!(view.store_timestamp(), 42);
            assert_eq!(view.born_host(), born);
            assert_eq!(view.store_host(), f.store_host);
            assert_eq!(view.born_timestamp(), f.born_timestamp);
            assert_eq!(view.reconsume_times(), f.reconsume_times);
        }
    }

    #[test]
    fn encode_rejects_oversized_fields_and_small_buffers() {
        let long_topic = "a".repeat(TOPIC_NAME_BYTES_MAX + 1);
        assert!(sample(&long_topic, b"", "").encoded_len().is_err());
        let long_props = "p".repeat(PROPERTIES_SIZE_BYTES_MAX + 1);
        assert!(sample("T", b"", &long_props).encoded_len().is_err());
        let max_props = "p".repeat(PROPERTIES_SIZE_BYTES_MAX);
        let r = sample("T", b"", &max_props).encode_to_vec().unwrap();
        assert_eq!(
            RecordView::parse(&r).unwrap().properties().len(),
            PROPERTIES_SIZE_BYTES_MAX
        );
        let f = sample("T", b"abc", "");
        let mut small = vec![0; f.encoded_len().unwrap() - 1];
        assert!(f.encode_into(&mut small).is_err());
        let mut big = vec![0xEE; f.encoded_len().unwrap() + 3];
        assert_eq!(f.encode_into(&mut big).unwrap(), big.len() - 3);
        assert_eq!(&big[big.len() - 3..], &[0xEE; 3]);
    }

    #[test]
    fn parse_accepts_trailing_bytes_and_bad_crc() {
        let f = sample("T", b"abc", "k\u{1}v\u{2}");
        let mut encoded = f.encode_to_vec().unwrap();
        encoded.extend_from_slice(&[1, 2, 3]);
        let view = RecordView::parse(&encoded).unwrap();
        assert_eq!(view.bytes().len(), encoded.len() - 3);
        encoded[BODY_CRC_AT] ^= 0x10;
        let view = RecordView::parse(&encoded).unwrap();
        assert!(!view.crc_matches());
    }

    #[test]
    fn parse_rejects_inconsistent_records() {
        let good = sample("T", b"abc", "k\u{1}v\u{2}").encode_to_vec().unwrap();
        let n = good.len();
        // Truncated buffer.
        assert!(RecordView::parse(&good[..n - 1]).is_err());
        // TOTALSIZE one more than the fields (buffer long enough).
        let mut longer = good.clone();
        longer.push(0);
        longer[..4].copy_from_slice(&((n + 1) as i32).to_be_bytes());
        assert!(RecordView::parse(&longer).is_err());
        // Body length pointing past the record.
        let body_len_at = 84;
        let mut bad = good.clone();
        bad[body_len_at..body_len_at + 4].copy_from_slice(&1000i32.to_be_bytes());
        assert!(RecordView::parse(&bad).is_err());
        // Negative body length.
        bad[body_len_at..body_len_at + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(RecordView::parse(&bad).is_err());
        // Negative v1 topic length (signed byte).
        let mut bad = good.clone();
        bad[body_len_at + 4 + 3] = 0x80;
        assert!(RecordView::parse(&bad).is_err());
        // Invalid UTF-8 in the topic.
        let mut bad = good.clone();
        bad[body_len_at + 4 + 3 + 1] = 0xFF;
        assert!(RecordView::parse(&bad).is_err());
        // Unknown magic, blank magic, negative size.
        let mut bad = good.clone();
        bad[MAGIC_AT] = 0;
        assert!(RecordView::parse(&bad).is_err());
        let mut bad = good.clone();
        bad[MAGIC_AT..MAGIC_AT + 4].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        assert!(RecordView::parse(&bad).is_err());
        let mut bad = good.clone();
        bad[..4].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(RecordView::parse(&bad).is_err());
        // Flipping the born-host v6 bit moves every later field.
        let mut bad = good.clone();
        bad[SYS_FLAG_AT + 3] |= BORNHOST_V6 as u8;
        assert!(RecordView::parse(&bad).is_err());
        // Port out of range.
        let mut bad = good;
        bad[BORN_HOST_AT + 4..BORN_HOST_AT + 8].copy_from_slice(&70000i32.to_be_bytes());
        assert!(RecordView::parse(&bad).is_err());
    }

    #[test]
    fn peek_head_classifies() {
        assert_eq!(peek_head(&[0; 7]).unwrap(), None);
        assert!(peek_head(&[0; 8]).is_err());
        let mut blank = [0u8; 8];
        blank[..4].copy_from_slice(&4096i32.to_be_bytes());
        blank[4..].copy_from_slice(&BLANK_MAGIC.to_be_bytes());
        assert_eq!(
            peek_head(&blank).unwrap(),
            Some(RecordHead::Blank { total_size: 4096 })
        );
        blank[..4].copy_from_slice(&7i32.to_be_bytes());
        assert!(peek_head(&blank).is_err());
        let record = sample("T", b"", "").encode_to_vec().unwrap();
        assert_eq!(
            peek_head(&record[..8]).unwrap(),
            Some(RecordHead::Message {
                total_size: record.len()
            })
        );
        let mut small = record.clone();
        small[..4].copy_from_slice(&90i32.to_be_bytes());
        assert!(peek_head(&small).is_err());
    }

    #[test]
    fn records_iterates_and_stops_at_the_first_bad_one() {
        let a = sample("A", b"1", "").encode_to_vec().unwrap();
        let b = sample("B", b"22", "").encode_to_vec().unwrap();
        let mut all = [a.clone(), b.clone()].concat();
        let topics: Vec<_> = records(&all).map(|r| r.unwrap().topic()).collect();
        assert_eq!(topics, ["A", "B"]);
        all.extend_from_slice(&a[..10]);
        all.extend_from_slice(&b);
        let results: Vec<_> = records(&all).collect();
        assert_eq!(results.len(), 3);
        assert!(results[2].is_err());
        assert_eq!(records(&[]).count(), 0);
    }
}
