//! Sample frames shared by the codec benchmarks and the allocation-count tests, so both
//! measure the same request.

use bytes::Bytes;
use rmq_protocol::codes::request_code;
use rmq_protocol::frame::SerializeType;
use rmq_protocol::header::SendMessageRequestHeader;
use rmq_protocol::{ExtFields, RemotingCommand};

/// A SEND_MESSAGE_V2 request as the Java client sends it (13 extFields, 1 KiB body), with
/// `extra` additional extFields, encoded as a whole frame.
pub fn send_v2_frame(serialize_type: SerializeType, extra: usize) -> Bytes {
    let header = SendMessageRequestHeader {
        producer_group: "bench_producer_group".into(),
        topic: "BenchTopic".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some(
            "KEYS\u{1}order-123456\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}7F000001A4B218B4AAC27D8A6A2F0000\u{2}"
                .into(),
        ),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        max_reconsume_times: None,
        batch: Some(false),
        broker_name: Some("broker-a".into()),
    };
    let mut cmd = RemotingCommand::new_request(request_code::SEND_MESSAGE_V2, ExtFields::new())
        .with_send_header(&header)
        .expect("code 310 takes a send header")
        .with_body(vec![b'x'; 1024]);
    for i in 0..extra {
        cmd.set_ext(format!("extra{i:02}"), format!("value-{i}"));
    }
    cmd.opaque = 42;
    cmd.serialize_type = serialize_type;
    cmd.encode_to_bytes().expect("encodes")
}
