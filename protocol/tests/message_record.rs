//! Property tests of the stored-record codec: encode -> parse round trips for v1/v2 topics and
//! IPv4/IPv6 hosts, the in-place patches, concatenated records, and totality of the readers on
//! arbitrary and mutated input.

use std::net::{SocketAddr, SocketAddrV4, SocketAddrV6};

use proptest::prelude::*;
use rmq_protocol::message::record::{
    self, peek_head, records, set_physical_offset, set_queue_offset, set_store_timestamp,
    RecordFields, RecordHead, RecordView, MAGIC_V1, MAGIC_V2,
};
use rmq_protocol::message::sysflag::message::{BORNHOST_V6, STOREHOSTADDRESS_V6};

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

/// Topics on both sides of the 127-byte v1/v2 boundary, ASCII and not.
fn topic() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_%-]{0,127}",
        "[A-Za-z0-9_%-]{120,300}",
        "\\PC{0,100}",
    ]
}

#[derive(Debug, Clone)]
struct Owned {
    queue_id: i32,
    flag: i32,
    queue_offset: i64,
    physical_offset: i64,
    sys_flag: i32,
    born_timestamp: i64,
    born_host: SocketAddr,
    store_timestamp: i64,
    store_host: SocketAddr,
    reconsume_times: i32,
    prepared_transaction_offset: i64,
    body: Vec<u8>,
    topic: String,
    properties: String,
}

impl Owned {
    fn fields(&self) -> RecordFields<'_> {
        RecordFields {
            queue_id: self.queue_id,
            flag: self.flag,
            queue_offset: self.queue_offset,
            physical_offset: self.physical_offset,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            store_timestamp: self.store_timestamp,
            store_host: self.store_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
            body: &self.body,
            topic: &self.topic,
            properties: &self.properties,
        }
    }
}

fn record_fields() -> impl Strategy<Value = Owned> {
    (
        (
            any::<i32>(),
            any::<i32>(),
            any::<i64>(),
            any::<i64>(),
            any::<i32>(),
        ),
        (any::<i64>(), socket_addr(), any::<i64>(), socket_addr()),
        (any::<i32>(), any::<i64>()),
        (
            proptest::collection::vec(any::<u8>(), 0..512),
            topic(),
            "\\PC{0,200}",
        ),
    )
        .prop_map(
            |(
                (queue_id, flag, queue_offset, physical_offset, sys_flag),
                (born_timestamp, born_host, store_timestamp, store_host),
                (reconsume_times, prepared_transaction_offset),
                (body, topic, properties),
            )| Owned {
                queue_id,
                flag,
                queue_offset,
                physical_offset,
                sys_flag,
                born_timestamp,
                born_host,
                store_timestamp,
                store_host,
                reconsume_times,
                prepared_transaction_offset,
                body,
                topic,
                properties,
            },
        )
}

fn assert_view(view: &RecordView<'_>, f: &RecordFields<'_>) {
    let v6_bits = BORNHOST_V6 | STOREHOSTADDRESS_V6;
    assert_eq!(view.sys_flag() & !v6_bits, f.sys_flag & !v6_bits);
    assert_eq!(view.sys_flag() & BORNHOST_V6 != 0, f.born_host.is_ipv6());
    assert_eq!(
        view.sys_flag() & STOREHOSTADDRESS_V6 != 0,
        f.store_host.is_ipv6()
    );
    assert_eq!(view.queue_id(), f.queue_id);
    assert_eq!(view.flag(), f.flag);
    assert_eq!(view.queue_offset(), f.queue_offset);
    assert_eq!(view.physical_offset(), f.physical_offset);
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
    assert_eq!(view.body_crc(), record::body_crc(f.body));
    assert!(view.crc_matches());
    let expected_magic = if f.topic.len() <= 127 {
        MAGIC_V1
    } else {
        MAGIC_V2
    };
    assert_eq!(view.magic(), expected_magic);
}

proptest! {
    #[test]
    fn encode_then_parse_round_trips(owned in record_fields(), trailing in proptest::collection::vec(any::<u8>(), 0..16)) {
        let f = owned.fields();
        let len = f.encoded_len().unwrap();
        let mut buf = vec![0u8; len];
        prop_assert_eq!(f.encode_into(&mut buf).unwrap(), len);
        // Appending to a buffer that already holds bytes gives the same record after them.
        let mut appended = bytes::BytesMut::from(&trailing[..]);
        prop_assert_eq!(f.encode_extend(&mut appended).unwrap(), len);
        prop_assert_eq!(&appended[..trailing.len()], &trailing[..]);
        prop_assert_eq!(&appended[trailing.len()..], &buf[..]);
        prop_assert_eq!(
            peek_head(&buf).unwrap(),
            Some(RecordHead::Message { total_size: len })
        );
        buf.extend_from_slice(&trailing);
        let view = RecordView::parse(&buf).unwrap();
        prop_assert_eq!(view.total_size(), len);
        prop_assert_eq!(view.bytes(), &buf[..len]);
        assert_view(&view, &f);
    }

    #[test]
    fn patches_round_trip(owned in record_fields(), qo in any::<i64>(), po in any::<i64>(), ts in any::<i64>()) {
        let f = owned.fields();
        let mut buf = f.encode_to_vec().unwrap();
        set_queue_offset(&mut buf, qo);
        set_physical_offset(&mut buf, po);
        set_store_timestamp(&mut buf, ts);
        let view = RecordView::parse(&buf).unwrap();
        let patched = RecordFields { queue_offset: qo, physical_offset: po, store_timestamp: ts, ..f };
        assert_view(&view, &patched);
    }

    #[test]
    fn concatenated_records_parse_in_order(all in proptest::collection::vec(record_fields(), 0..6)) {
        let mut buf = Vec::new();
        for owned in &all {
            buf.extend_from_slice(&owned.fields().encode_to_vec().unwrap());
        }
        let views: Vec<_> = records(&buf).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(views.len(), all.len());
        for (view, owned) in views.iter().zip(&all) {
            assert_view(view, &owned.fields());
        }
    }

    /// Arbitrary bytes never panic a reader, and an accepted record stays inside the input.
    #[test]
    fn readers_are_total_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = peek_head(&bytes);
        if let Ok(view) = RecordView::parse(&bytes) {
            prop_assert!(view.total_size() <= bytes.len());
            let _ = (view.born_host(), view.store_host(), view.store_timestamp(), view.reconsume_times());
        }
        for item in records(&bytes) {
            let _ = item.map(|v| v.prepared_transaction_offset());
        }
    }

    /// Corrupting a valid record anywhere gives an error or a view that is still consistent.
    #[test]
    fn readers_are_total_on_mutated_records(
        owned in record_fields(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = owned.fields().encode_to_vec().unwrap();
        for (at, value) in edits {
            let i = at.index(buf.len());
            buf[i] = value;
        }
        for candidate in [&buf[..], &buf[..cut.index(buf.len())]] {
            let _ = peek_head(candidate);
            if let Ok(view) = RecordView::parse(candidate) {
                prop_assert!(view.total_size() <= candidate.len());
                prop_assert!(view.body().len() + view.topic().len() + view.properties().len() < view.total_size());
                let _ = (view.born_host(), view.store_host(), view.store_timestamp(), view.crc_matches());
            }
            // The iterator stops right after its first error.
            let items: Vec<_> = records(candidate).collect();
            prop_assert!(items.iter().rev().skip(1).all(Result::is_ok));
        }
    }
}
