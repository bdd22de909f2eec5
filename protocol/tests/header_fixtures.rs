//! Fixture tests: whole frames built byte for byte as real clients send them
//! (`../shared/docs/real-clients.md`, protocol.md §1.3), decoded with `RemotingCommand::decode`
//! and then into typed headers.
//!
//! The JSON texts follow each client's encoder:
//! - C++ 1.x / 2.1.0 (jsoncpp `FastWriter`): keys sorted, numbers as JSON numbers for the fields
//!   the client stores as `Json::Value` ints, strings for the ones it stringifies, booleans as
//!   `"0"`/`"1"`, empty signing fields, no `serializeTypeCurrentRPC`, a trailing `"\n"` inside
//!   the header length;
//! - ali-ons (`JSON.stringify`): insertion order, JS numbers and booleans, `remark` omitted;
//! - Java 5.3.3 (fastjson): the example of protocol.md §1.3.

use bytes::{BufMut, Bytes, BytesMut};
use rmq_protocol::codes::request_code;
use rmq_protocol::header::*;
use rmq_protocol::{LanguageCode, RemotingCommand, SerializeType};

/// A frame with a JSON header: `length | serType 0 + headerLen | header | body`.
fn json_frame(header: &str, body: &[u8]) -> Bytes {
    let mut frame = BytesMut::new();
    let length = u32::try_from(4 + header.len() + body.len()).expect("small fixture");
    frame.put_u32(length);
    frame.put_u32(u32::try_from(header.len()).expect("small header"));
    frame.put_slice(header.as_bytes());
    frame.put_slice(body);
    frame.freeze()
}

fn decode(header: &str, body: &[u8]) -> RemotingCommand {
    let cmd = RemotingCommand::decode(json_frame(header, body)).expect("the frame decodes");
    assert_eq!(cmd.serialize_type, SerializeType::Json);
    cmd
}

const CPP_1X_SEND: &str = concat!(
    r#"{"code":10,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"","#,
    r#""batch":"1","bornTimestamp":"1700000000123","defaultTopic":"TBW102","#,
    r#""defaultTopicQueueNums":4,"flag":0,"producerGroup":"py_test_pg","#,
    r#""properties":"KEYS\u0001key-0\u0002TAGS\u0001TagA\u0002UNIQ_KEY\u00010100007F000078C0A1B2C3D4E5F60000\u0002","#,
    r#""queueId":0,"reconsumeTimes":"0","sysFlag":0,"topic":"PyTestTopic","unitMode":"0"},"#,
    r#""flag":0,"language":"CPP","opaque":1,"remark":"","version":63}"#,
    "\n"
);

#[test]
fn cpp_1x_send_message_with_numbers_and_zero_one_booleans() {
    let cmd = decode(CPP_1X_SEND, b"\0\0\0u batch body");
    assert_eq!(cmd.code, request_code::SEND_MESSAGE);
    assert_eq!(
        (cmd.language, cmd.version, cmd.opaque),
        (LanguageCode::Cpp, 63, 1)
    );
    let header = cmd.decode_send_header().expect("a valid V1 send header");
    assert_eq!(
        header,
        SendMessageRequestHeader {
            producer_group: "py_test_pg".into(),
            topic: "PyTestTopic".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_123,
            flag: 0,
            properties: Some(
                "KEYS\u{1}key-0\u{2}TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}0100007F000078C0A1B2C3D4E5F60000\u{2}"
                    .into()
            ),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            // "1" is not "true": Java's Boolean.parseBoolean reads it as false (Q4).
            batch: Some(false),
            broker_name: None,
        }
    );
    assert_eq!(cmd.body.as_deref(), Some(&b"\0\0\0u batch body"[..]));
}

const CPP_210_SEND_V2: &str = concat!(
    r#"{"code":310,"extFields":{"AccessKey":"","OnsChannel":"ALIYUN","Signature":"","#,
    r#""a":"py_test_pg","b":"PyTestTopic","c":"TBW102","d":4,"e":0,"f":0,"#,
    r#""g":"1700000000456","h":0,"i":"TAGS\u0001TagA\u0002KEYS\u0001key-1\u0002","#,
    r#""j":"0","k":"0","l":16,"m":"0"},"#,
    r#""flag":0,"language":"CPP","opaque":7,"remark":"","version":333}"#,
    "\n"
);

#[test]
fn cpp_210_send_message_v2_with_numbers_and_zero_one_booleans() {
    let cmd = decode(CPP_210_SEND_V2, b"msg-1");
    assert_eq!(cmd.code, request_code::SEND_MESSAGE_V2);
    assert_eq!((cmd.language, cmd.version), (LanguageCode::Cpp, 333));
    let header = cmd.decode_send_header().expect("a valid V2 send header");
    assert_eq!(
        header,
        SendMessageRequestHeader {
            producer_group: "py_test_pg".into(),
            topic: "PyTestTopic".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_456,
            flag: 0,
            properties: Some("TAGS\u{1}TagA\u{2}KEYS\u{1}key-1\u{2}".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: Some(16),
            batch: Some(false),
            broker_name: None,
        }
    );
    // The V1 names are not there: reading this frame as code 10 would find nothing.
    assert_eq!(
        SendMessageRequestHeader::read_v1(&cmd.ext_fields),
        Err(HeaderError::Missing {
            field: "producerGroup"
        })
    );
}

const ALI_ONS_SEND_V2: &str = concat!(
    r#"{"code":310,"language":"JAVA","opaque":12,"flag":0,"version":121,"extFields":{"#,
    r#""a":"node_test_pg","b":"NodeTestTopic","c":"TBW102","d":4,"e":1,"f":0,"#,
    r#""g":1700000000789,"h":0,"i":"TAGS\u0001TagA\u0002UNIQ_KEY\u0001C0A8000100002A9F0000000000000001\u0002","#,
    r#""j":0,"k":false}}"#
);

#[test]
fn ali_ons_send_message_v2_with_js_numbers_and_booleans() {
    let cmd = decode(ALI_ONS_SEND_V2, b"msg-0");
    assert_eq!((cmd.language, cmd.version), (LanguageCode::Java, 121));
    assert_eq!(cmd.remark, None);
    let header = cmd.decode_send_header().expect("a valid V2 send header");
    assert_eq!(
        header,
        SendMessageRequestHeader {
            producer_group: "node_test_pg".into(),
            topic: "NodeTestTopic".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_789,
            flag: 0,
            properties: Some(
                "TAGS\u{1}TagA\u{2}UNIQ_KEY\u{1}C0A8000100002A9F0000000000000001\u{2}".into()
            ),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: None,
            broker_name: None,
        }
    );
}

const ALI_ONS_CREATE_TOPIC: &str = concat!(
    r#"{"code":17,"language":"JAVA","opaque":3,"flag":0,"version":121,"extFields":{"#,
    r#""topic":"NodeTestTopic","defaultTopic":"TBW102","readQueueNums":4,"writeQueueNums":4,"#,
    r#""perm":6,"topicFilterType":"SINGLE_TAG","topicSysFlag":0,"order":false}}"#
);

#[test]
fn ali_ons_update_and_create_topic_with_js_values() {
    let cmd = decode(ALI_ONS_CREATE_TOPIC, b"");
    assert_eq!(cmd.code, request_code::UPDATE_AND_CREATE_TOPIC);
    assert_eq!(cmd.body, None);
    let header: CreateTopicRequestHeader = cmd.decode_header().expect("a valid header");
    assert_eq!(
        header,
        CreateTopicRequestHeader {
            topic: "NodeTestTopic".into(),
            default_topic: "TBW102".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_filter_type: "SINGLE_TAG".into(),
            topic_sys_flag: Some(0),
            order: false,
            attributes: None,
            // Absent from ali-ons; Java's initial value.
            force: false,
        }
    );
}

const JAVA_533_SEND_V2: &str = concat!(
    r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","#,
    r#""g":"1700000000000","h":"0","#,
    r#""i":"KEYS\u0001k1\u0002TAGS\u0001TagA\u0002WAIT\u0001true\u0002UNIQ_KEY\u00017F0000010F2C18B4AAC2000000000000\u0002","#,
    r#""j":"0","k":"false","m":"false","n":"broker-a"},"#,
    r#""flag":0,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":479}"#
);

#[test]
fn java_533_send_message_v2() {
    let cmd = decode(JAVA_533_SEND_V2, b"Hello RocketMQ");
    assert_eq!((cmd.opaque, cmd.version), (17, 479));
    let header = cmd.decode_send_header().expect("a valid V2 send header");
    assert_eq!(
        header,
        SendMessageRequestHeader {
            producer_group: "PG".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some(
                "KEYS\u{1}k1\u{2}TAGS\u{1}TagA\u{2}WAIT\u{1}true\u{2}UNIQ_KEY\u{1}7F0000010F2C18B4AAC2000000000000\u{2}"
                    .into()
            ),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(false),
            broker_name: Some("broker-a".into()),
        }
    );
    // Re-encoding with the same naming gives the client's extFields back, key for key.
    let mut again = rmq_protocol::ExtFields::new();
    header.write_v2(&mut again);
    assert_eq!(again, cmd.ext_fields);
}

#[test]
fn a_missing_required_field_names_the_java_field() {
    let without_topic = ALI_ONS_SEND_V2.replace(r#""b":"NodeTestTopic","#, "");
    let cmd = decode(&without_topic, b"x");
    let err = cmd.decode_send_header().unwrap_err();
    assert_eq!(err, HeaderError::Missing { field: "b" });
    assert_eq!(err.to_string(), "the custom field <b> is null");

    let without_order = ALI_ONS_CREATE_TOPIC.replace(r#","order":false"#, "");
    assert_eq!(
        decode(&without_order, b"").decode_header::<CreateTopicRequestHeader>(),
        Err(HeaderError::Missing { field: "order" })
    );
}

#[test]
fn a_bad_number_is_invalid() {
    // A JS float, a JS boolean and text where Java's parseInt / parseLong fail.
    for (from, to, field, value) in [
        (r#""e":1,"#, r#""e":1.5,"#, "e", "1.5"),
        (r#""e":1,"#, r#""e":true,"#, "e", "true"),
        (r#""g":1700000000789,"#, r#""g":"17e11","#, "g", "17e11"),
        (r#""d":4,"#, r#""d":" 4","#, "d", " 4"),
    ] {
        let text = ALI_ONS_SEND_V2.replace(from, to);
        assert_ne!(text, ALI_ONS_SEND_V2, "fixture edit {from} applies");
        assert_eq!(
            decode(&text, b"x").decode_send_header(),
            Err(HeaderError::Invalid {
                field,
                value: value.into()
            }),
            "{to}"
        );
    }
    let queue_overflow = CPP_1X_SEND.replace(r#""queueId":0"#, r#""queueId":2147483648"#);
    assert_eq!(
        decode(&queue_overflow, b"").decode_send_header(),
        Err(HeaderError::Invalid {
            field: "queueId",
            value: "2147483648".into()
        })
    );
}

#[test]
fn a_pull_reply_header_is_written_as_java_writes_it() {
    let mut request = RemotingCommand::new_request(request_code::PULL_MESSAGE, Default::default());
    request.opaque = 9;
    let reply = RemotingCommand::response_to(&request, 19, Some("OFFSET_OVERFLOW_ONE".into()))
        .with_header(&PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: 250,
            min_offset: 0,
            max_offset: 250,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        });
    let frame = reply.encode_to_bytes().expect("encodes");
    let header_len =
        usize::try_from(u32::from_be_bytes([0, frame[5], frame[6], frame[7]])).unwrap();
    assert_eq!(
        std::str::from_utf8(&frame[8..8 + header_len]).unwrap(),
        concat!(
            r#"{"code":19,"extFields":{"maxOffset":"250","minOffset":"0","nextBeginOffset":"250","#,
            r#""suggestWhichBrokerId":"0"},"flag":1,"language":"JAVA","opaque":9,"#,
            r#""remark":"OFFSET_OVERFLOW_ONE","serializeTypeCurrentRPC":"JSON","version":409}"#
        )
    );
}
