//! Message ids (protocol.md §5.5): the offset message id the broker returns as `msgId`, and the
//! client unique id stored in `UNIQ_KEY`.
//!
//! Offset id: store IP (4 | 16 bytes) + store port (int32) + `CommitLog` physical offset (int64),
//! uppercase hex — 32 characters for IPv4, 56 for IPv6. The string's length alone decides the
//! family, as in Java's `MessageDecoder.decodeMessageId`; decoding is total (any other length,
//! a non-hex character or an out-of-range port is an error, never a panic).
//!
//! Unique id: IP (4 | 16) + pid low 16 bits + a per-process discriminator int + ms since the
//! start of the current month (int32) + a wrapping 16-bit counter, uppercase hex. Java takes
//! the month start in the local time zone; this module has no time-zone database and uses
//! UTC. Nobody parses the time back except Java's diagnostic `getNearlyTimeFromID`, which is
//! off by the zone offset at worst.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::{CodecError, CodecResult};

/// Hex characters of an offset message id with an IPv4 store host.
pub const OFFSET_MSG_ID_V4_CHARS: usize = 2 * (4 + 4 + 8);
/// Hex characters of an offset message id with an IPv6 store host.
pub const OFFSET_MSG_ID_V6_CHARS: usize = 2 * (16 + 4 + 8);
/// Hex characters of a unique id from an IPv4 host.
pub const UNIQUE_ID_V4_CHARS: usize = 2 * (4 + 2 + 4 + 4 + 2);
/// Hex characters of a unique id from an IPv6 host.
pub const UNIQUE_ID_V6_CHARS: usize = 2 * (16 + 2 + 4 + 4 + 2);

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn push_hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
        out.push(char::from(HEX_UPPER[usize::from(b & 0xF)]));
    }
}

fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(ip) => push_hex(out, &ip.octets()),
        IpAddr::V6(ip) => push_hex(out, &ip.octets()),
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        // Java upper-cases before decoding, so lowercase is accepted.
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

fn invalid(reason: String) -> CodecError {
    CodecError::InvalidBody {
        what: "message id",
        reason,
    }
}

/// The offset message id of the record at `physical_offset` stored by `store_host`.
pub fn encode_offset_msg_id(store_host: SocketAddr, physical_offset: i64) -> String {
    let mut out = String::with_capacity(OFFSET_MSG_ID_V6_CHARS);
    write_offset_msg_id(&mut out, store_host, physical_offset);
    out
}

/// Append the offset message id of [`encode_offset_msg_id`] to `out` (no allocation of its
/// own: the send reply writes it straight into its extFields).
pub fn write_offset_msg_id(out: &mut String, store_host: SocketAddr, physical_offset: i64) {
    push_ip(out, store_host.ip());
    push_hex(out, &i32::from(store_host.port()).to_be_bytes());
    push_hex(out, &physical_offset.to_be_bytes());
}

/// Decode an offset message id into the store host and the `CommitLog` physical offset.
pub fn decode_offset_msg_id(id: &str) -> CodecResult<(SocketAddr, i64)> {
    let hex = id.as_bytes();
    let mut bytes = [0u8; OFFSET_MSG_ID_V6_CHARS / 2];
    let ip_bytes = match hex.len() {
        OFFSET_MSG_ID_V4_CHARS => 4,
        OFFSET_MSG_ID_V6_CHARS => 16,
        n => {
            return Err(invalid(format!(
                "offset message id of {n} bytes is neither {OFFSET_MSG_ID_V4_CHARS} nor {OFFSET_MSG_ID_V6_CHARS} hex characters"
            )))
        }
    };
    let bytes = &mut bytes[..hex.len() / 2];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(invalid(format!(
                "offset message id has a non-hex character near position {}",
                2 * i
            )));
        };
        bytes[i] = (hi << 4) | lo;
    }
    let (ip, rest) = bytes.split_at(ip_bytes);
    let (port, offset) = rest.split_at(4);
    let port = i32::from_be_bytes([port[0], port[1], port[2], port[3]]);
    let port = u16::try_from(port)
        .map_err(|_| invalid(format!("offset message id port {port} is out of range")))?;
    let mut offset_bytes = [0u8; 8];
    offset_bytes.copy_from_slice(offset);
    let offset = i64::from_be_bytes(offset_bytes);
    let addr = if let Ok(v4) = <[u8; 4]>::try_from(ip) {
        SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(v4), port))
    } else {
        let mut v6 = [0u8; 16];
        v6.copy_from_slice(ip);
        SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(v6), port, 0, 0))
    };
    Ok((addr, offset))
}

/// A random int that differs between processes (and between calls), for the unique id's
/// discriminator field. Java uses its class loader's identity hash for the same purpose.
pub fn random_discriminator() -> i32 {
    // std seeds every RandomState from OS randomness (then per-thread increments), so this
    // needs no extra dependency.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish() as i32
}

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of the first day of the month `(year, month)`, proleptic Gregorian.
fn days_from_civil(year: i64, month: u32) -> i64 {
    // Shift the year to start in March so the leap day is last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let m = i64::from(month);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5; // first day: +0
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `(year, month)` (month 1..=12) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month)
}

/// `(start, next start)` in epoch ms of the UTC month containing `now_ms`.
fn month_bounds_utc(now_ms: i64) -> (i64, i64) {
    let (year, month) = civil_from_days(now_ms.div_euclid(MS_PER_DAY));
    let start = days_from_civil(year, month) * MS_PER_DAY;
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (start, days_from_civil(next_year, next_month) * MS_PER_DAY)
}

/// Produces `UNIQ_KEY` values. Not `Sync` on purpose: keep one per shard (thread), each with
/// its own discriminator (e.g. `base ^ shard_index`) — two generators sharing IP, pid and
/// discriminator would repeat each other's ids within the same millisecond.
#[derive(Debug)]
pub struct UniqueIdGenerator {
    /// Hex of IP + pid + discriminator, fixed for the generator's life.
    prefix: String,
    counter: u16,
    month_start_ms: i64,
    next_month_start_ms: i64,
    _not_sync: PhantomData<Cell<()>>,
}

impl UniqueIdGenerator {
    /// A generator for host `ip`, process `pid` (its low 16 bits are used) and
    /// `discriminator`. The counter starts at 0, as Java's does.
    pub fn new(ip: IpAddr, pid: u32, discriminator: i32) -> Self {
        let mut prefix = String::with_capacity(UNIQUE_ID_V6_CHARS);
        push_ip(&mut prefix, ip);
        push_hex(&mut prefix, &(pid as u16).to_be_bytes());
        push_hex(&mut prefix, &discriminator.to_be_bytes());
        Self {
            prefix,
            counter: 0,
            month_start_ms: 0,
            next_month_start_ms: 0,
            _not_sync: PhantomData,
        }
    }

    /// A generator for this process: its pid and a random discriminator.
    pub fn for_this_process(ip: IpAddr) -> Self {
        Self::new(ip, std::process::id(), random_discriminator())
    }

    /// The next id at wall-clock time `now_ms` (ms since the Unix epoch), injected so callers
    /// and tests control the clock.
    pub fn next_id(&mut self, now_ms: i64) -> String {
        if now_ms >= self.next_month_start_ms || now_ms < self.month_start_ms {
            (self.month_start_ms, self.next_month_start_ms) = month_bounds_utc(now_ms);
        }
        // At most 31 days of ms (< 2^32), written as Java's (int) cast does.
        let since_month_start = (now_ms - self.month_start_ms) as i32;
        let mut id = String::with_capacity(self.prefix.len() + 12);
        id.push_str(&self.prefix);
        push_hex(&mut id, &since_month_start.to_be_bytes());
        push_hex(&mut id, &self.counter.to_be_bytes());
        self.counter = self.counter.wrapping_add(1);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_offset_msg_id() {
        let host: SocketAddr = "10.0.0.1:10911".parse().unwrap();
        assert_eq!(
            encode_offset_msg_id(host, 8000),
            "0A00000100002A9F0000000000001F40"
        );
        assert_eq!(
            decode_offset_msg_id("0A00000100002A9F0000000000001F40").unwrap(),
            (host, 8000)
        );
        assert_eq!(
            decode_offset_msg_id("0a00000100002a9f0000000000001f40").unwrap(),
            (host, 8000)
        );
    }

    #[test]
    fn ipv6_offset_msg_id() {
        let host: SocketAddr = "[2001:db8::7]:10911".parse().unwrap();
        let id = encode_offset_msg_id(host, i64::MAX);
        assert_eq!(id.len(), OFFSET_MSG_ID_V6_CHARS);
        assert_eq!(
            id,
            "20010DB800000000000000000000000700002A9F7FFFFFFFFFFFFFFF"
        );
        assert_eq!(decode_offset_msg_id(&id).unwrap(), (host, i64::MAX));
    }

    #[test]
    fn bad_offset_msg_ids_are_errors() {
        for bad in [
            "",
            "0A00000100002A9F0000000000001F4",
            "0A00000100002A9F0000000000001F400",
            "0A00000100002A9F0000000000001F4G",
            "0A000001FFFFFFFF0000000000001F40", // port -1
            "0A00000100010000000000000000001F", // port 65536
            "ÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄÄ",                 // 32 bytes, not hex
        ] {
            assert!(decode_offset_msg_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn month_bounds() {
        // 2024-02-29T12:00:00Z -> [2024-02-01, 2024-03-01)
        assert_eq!(
            month_bounds_utc(1_709_208_000_000),
            (1_706_745_600_000, 1_709_251_200_000)
        );
        // 2023-12-31T23:59:59.999Z -> [2023-12-01, 2024-01-01)
        assert_eq!(
            month_bounds_utc(1_704_067_199_999),
            (1_701_388_800_000, 1_704_067_200_000)
        );
        // The epoch itself and a pre-epoch instant (1969-12-31).
        assert_eq!(month_bounds_utc(0), (0, 31 * MS_PER_DAY));
        assert_eq!(month_bounds_utc(-1), (-31 * MS_PER_DAY, 0));
    }

    #[test]
    fn unique_id_layout() {
        let ip = IpAddr::from([192, 168, 1, 10]);
        let mut g = UniqueIdGenerator::new(ip, 0x0001_2345, 0x0BAD_CAFE);
        // 2024-03-01T00:00:01.5Z: 1500 ms into the month.
        let now = 1_709_251_201_500;
        let first = g.next_id(now);
        assert_eq!(first, "C0A8010A23450BADCAFE000005DC0000");
        assert_eq!(first.len(), UNIQUE_ID_V4_CHARS);
        assert_eq!(g.next_id(now), "C0A8010A23450BADCAFE000005DC0001");
        // The time field restarts in the next month.
        assert_eq!(&g.next_id(now + 31 * MS_PER_DAY)[20..], "000005DC0002");
    }

    #[test]
    fn unique_id_counter_wraps_and_ipv6_width() {
        let mut g = UniqueIdGenerator::new("::1".parse().unwrap(), 7, -1);
        let mut last = String::new();
        for _ in 0..=u16::MAX {
            last = g.next_id(0);
        }
        assert!(last.ends_with("FFFF"));
        let wrapped = g.next_id(0);
        assert!(wrapped.ends_with("0000"));
        assert_eq!(wrapped.len(), UNIQUE_ID_V6_CHARS);
        assert!(wrapped.starts_with("00000000000000000000000000000001" /* ::1 */));
        assert_eq!(&wrapped[32..44], "0007FFFFFFFF");
    }
}
