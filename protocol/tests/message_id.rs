//! Message id tests: the documented offset id example, encode -> decode round trips, totality
//! of the decoder on arbitrary strings, and the unique id layout with an injected clock.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

use proptest::prelude::*;
use rmq_protocol::message::id::{
    decode_offset_msg_id, encode_offset_msg_id, UniqueIdGenerator, OFFSET_MSG_ID_V4_CHARS,
    OFFSET_MSG_ID_V6_CHARS, UNIQUE_ID_V4_CHARS,
};

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::V4(SocketAddrV4::new(ip.into(), port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::V6(SocketAddrV6::new(
            ip.into(),
            port,
            0,
            0
        ))),
    ]
}

#[test]
fn documented_example() {
    let (host, offset) = decode_offset_msg_id("0A00000100002A9F0000000000001F40").unwrap();
    assert_eq!(host, "10.0.0.1:10911".parse::<SocketAddr>().unwrap());
    assert_eq!(offset, 8000);
}

#[test]
fn unique_ids_do_not_repeat_within_a_counter_cycle() {
    let mut g = UniqueIdGenerator::new(IpAddr::from([127, 0, 0, 1]), 4242, 17);
    let mut seen = HashSet::new();
    // One millisecond, every counter value: all distinct.
    for _ in 0..=u16::MAX {
        assert!(seen.insert(g.next_id(1_700_000_000_000)));
    }
    // Another generator with another discriminator never collides with the first.
    let mut other = UniqueIdGenerator::new(IpAddr::from([127, 0, 0, 1]), 4242, 18);
    for _ in 0..1000 {
        assert!(!seen.contains(&other.next_id(1_700_000_000_000)));
    }
}

proptest! {
    #[test]
    fn offset_id_round_trips(host in socket_addr(), offset in any::<i64>()) {
        let id = encode_offset_msg_id(host, offset);
        let expected_len = if host.is_ipv4() { OFFSET_MSG_ID_V4_CHARS } else { OFFSET_MSG_ID_V6_CHARS };
        prop_assert_eq!(id.len(), expected_len);
        prop_assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
        prop_assert_eq!(decode_offset_msg_id(&id).unwrap(), (host, offset));
        prop_assert_eq!(decode_offset_msg_id(&id.to_ascii_lowercase()).unwrap(), (host, offset));
    }

    #[test]
    fn decoder_is_total_on_arbitrary_strings(s in "\\PC{0,60}") {
        if let Ok((host, offset)) = decode_offset_msg_id(&s) {
            prop_assert_eq!(encode_offset_msg_id(host, offset), s.to_ascii_uppercase());
        }
    }

    /// Hex strings of the right length decode exactly when the port field is a valid port.
    #[test]
    fn hex_of_the_right_length_decodes_iff_the_port_fits(s in "[0-9A-Fa-f]{32}|[0-9A-Fa-f]{56}") {
        let port_at = if s.len() == 32 { 8 } else { 32 };
        let port_ok = &s[port_at..port_at + 4] == "0000";
        prop_assert_eq!(decode_offset_msg_id(&s).is_ok(), port_ok);
    }

    #[test]
    fn unique_id_time_field_is_ms_since_month_start(pid in any::<u32>(), disc in any::<i32>(), now in 0i64..4_102_444_800_000) {
        let mut g = UniqueIdGenerator::new(IpAddr::from([10, 1, 2, 3]), pid, disc);
        let id = g.next_id(now);
        prop_assert_eq!(id.len(), UNIQUE_ID_V4_CHARS);
        prop_assert_eq!(&id[..8], "0A010203");
        prop_assert_eq!(&id[8..12], format!("{:04X}", pid & 0xFFFF));
        prop_assert_eq!(&id[12..20], format!("{disc:08X}"));
        let since = u32::from_str_radix(&id[20..28], 16).unwrap();
        // A month is 28..=31 days; the time of day must match exactly.
        prop_assert!(u64::from(since) < 31 * 86_400_000);
        prop_assert_eq!(i64::from(since) % 86_400_000, now.rem_euclid(86_400_000));
        prop_assert_eq!(&id[28..], "0000");
    }
}
