//! Property tests: every typed header survives `write_to` → `read_from`, and a whole frame in
//! both header serializations (JSON and ROCKETMQ binary).
//!
//! Headers are generated from their own field tables: for each declared field a random value of
//! its Java type (canonical text: decimal numbers, `"true"`/`"false"`), optional and defaulted
//! fields sometimes absent, plus keys the header does not declare (the C++ signing fields, 5.x
//! base fields) that must be ignored. From such a map `m`:
//! - `read_from(m)` succeeds and `write_to` gives back exactly the declared keys of `m`, with
//!   defaulted fields filled in with Java's initial value;
//! - through a JSON frame the header comes back equal;
//! - through a binary frame it comes back as if empty values were absent (the binary header
//!   drops them, as Java does): an empty optional string becomes `None`, an empty required
//!   string `Missing`.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rmq_protocol::header::*;
use rmq_protocol::{ExtFields, RemotingCommand, SerializeType};

/// Keys real clients add that no header here declares (filtered per header).
const FOREIGN_KEYS: &[&str] = &[
    "AccessKey",
    "OnsChannel",
    "Signature",
    "ns",
    "nsd",
    "bname",
    "oway",
    "lo",
    "MSG_REGION",
    "TRACE_ON",
    "_UNIQUE_KEY_QUERY",
];

fn value_text(value_type: ValueType) -> BoxedStrategy<String> {
    match value_type {
        // Empty strings are legal values in JSON and vanish in binary headers: generate them
        // often enough to exercise both.
        ValueType::String => prop_oneof![1 => Just(String::new()), 6 => any::<String>()].boxed(),
        ValueType::Integer => any::<i32>().prop_map(|v| v.to_string()).boxed(),
        ValueType::Long => any::<i64>().prop_map(|v| v.to_string()).boxed(),
        ValueType::Boolean => {
            prop_oneof![Just("true".to_owned()), Just("false".to_owned())].boxed()
        }
        ValueType::BoundaryType => {
            prop_oneof![Just("LOWER".to_owned()), Just("UPPER".to_owned())].boxed()
        }
    }
}

/// A map holding every required field, some optional and defaulted ones, and foreign keys.
fn ext_strategy(fields: &'static [HeaderField]) -> impl Strategy<Value = ExtFields> {
    let declared: Vec<BoxedStrategy<Option<(String, String)>>> = fields
        .iter()
        .map(|field| {
            let name = field.name.to_owned();
            let entry = value_text(field.value_type).prop_map(move |v| (name.clone(), v));
            match field.kind {
                FieldKind::Required => entry.prop_map(Some).boxed(),
                FieldKind::Optional | FieldKind::Defaulted { .. } => {
                    proptest::option::of(entry).boxed()
                }
            }
        })
        .collect();
    let foreign: Vec<&'static str> = FOREIGN_KEYS
        .iter()
        .copied()
        .filter(|k| fields.iter().all(|f| f.name != *k))
        .collect();
    let noise =
        proptest::collection::vec((proptest::sample::select(foreign), any::<String>()), 0..4);
    (declared, noise).prop_map(|(declared, noise)| {
        let mut ext: ExtFields = noise.into_iter().collect();
        for (k, v) in declared.into_iter().flatten() {
            ext.insert(k, v);
        }
        ext
    })
}

/// What `write_to` must produce from a header read out of `ext`.
fn expected_written(fields: &[HeaderField], ext: &ExtFields) -> ExtFields {
    let mut out = ExtFields::new();
    for field in fields {
        match (ext.get(field.name), field.kind) {
            (Some(v), _) => out.insert(field.name, v),
            (None, FieldKind::Defaulted { java_text }) => out.insert(field.name, java_text),
            (None, _) => {}
        }
    }
    out
}

fn without_empty_values(ext: &ExtFields) -> ExtFields {
    ext.iter().filter(|(_, v)| !v.is_empty()).collect()
}

fn through_frame(cmd: RemotingCommand, serialize_type: SerializeType) -> RemotingCommand {
    let mut cmd = cmd;
    cmd.serialize_type = serialize_type;
    let bytes = cmd.encode_to_bytes().expect("encodes");
    RemotingCommand::decode(bytes).expect("decodes")
}

fn check_header<T>(ext: &ExtFields) -> Result<(), TestCaseError>
where
    T: CommandHeader + Debug + PartialEq + Clone,
{
    let header = T::read_from(ext).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut written = ExtFields::new();
    header.write_to(&mut written);
    prop_assert_eq!(&written, &expected_written(T::FIELDS, ext));
    prop_assert_eq!(T::read_from(&written), Ok(header.clone()));

    let request = RemotingCommand::new_request(10, ExtFields::new()).with_header(&header);
    let json = through_frame(request.clone(), SerializeType::Json);
    prop_assert_eq!(json.decode_header::<T>(), Ok(header.clone()));
    let binary = through_frame(request, SerializeType::RocketMq);
    prop_assert_eq!(
        binary.decode_header::<T>(),
        T::read_from(&without_empty_values(&written))
    );
    Ok(())
}

/// Declares one property test per header and the list the coverage test checks.
macro_rules! round_trip_every_header {
    ($($test:ident => $header:ident,)*) => {
        proptest! {
            $(
                #[test]
                fn $test(ext in ext_strategy(<$header as CommandHeader>::FIELDS)) {
                    check_header::<$header>(&ext)?;
                }
            )*
        }

        const TESTED_HEADERS: &[&str] = &[$(stringify!($header)),*];
    };
}

round_trip_every_header! {
    send_response => SendMessageResponseHeader,
    pull_request => PullMessageRequestHeader,
    pull_response => PullMessageResponseHeader,
    query_consumer_offset_request => QueryConsumerOffsetRequestHeader,
    query_consumer_offset_response => QueryConsumerOffsetResponseHeader,
    update_consumer_offset_request => UpdateConsumerOffsetRequestHeader,
    get_max_offset_request => GetMaxOffsetRequestHeader,
    get_max_offset_response => GetMaxOffsetResponseHeader,
    get_min_offset_request => GetMinOffsetRequestHeader,
    get_min_offset_response => GetMinOffsetResponseHeader,
    search_offset_request => SearchOffsetRequestHeader,
    search_offset_response => SearchOffsetResponseHeader,
    earliest_msg_storetime_request => GetEarliestMsgStoretimeRequestHeader,
    earliest_msg_storetime_response => GetEarliestMsgStoretimeResponseHeader,
    reset_offset_request => ResetOffsetRequestHeader,
    view_message_request => ViewMessageRequestHeader,
    query_message_request => QueryMessageRequestHeader,
    query_message_response => QueryMessageResponseHeader,
    consumer_send_msg_back_request => ConsumerSendMsgBackRequestHeader,
    end_transaction_request => EndTransactionRequestHeader,
    check_transaction_state_request => CheckTransactionStateRequestHeader,
    unregister_client_request => UnregisterClientRequestHeader,
    get_consumer_list_by_group_request => GetConsumerListByGroupRequestHeader,
    notify_consumer_ids_changed_request => NotifyConsumerIdsChangedRequestHeader,
    get_route_info_request => GetRouteInfoRequestHeader,
    register_broker_request => RegisterBrokerRequestHeader,
    register_broker_response => RegisterBrokerResponseHeader,
    unregister_broker_request => UnregisterBrokerRequestHeader,
    query_data_version_request => QueryDataVersionRequestHeader,
    query_data_version_response => QueryDataVersionResponseHeader,
    delete_topic_from_namesrv_request => DeleteTopicFromNamesrvRequestHeader,
    put_kv_config_request => PutKvConfigRequestHeader,
    get_kv_config_request => GetKvConfigRequestHeader,
    get_kv_config_response => GetKvConfigResponseHeader,
    delete_kv_config_request => DeleteKvConfigRequestHeader,
    get_kv_list_by_namespace_request => GetKvListByNamespaceRequestHeader,
    get_topics_by_cluster_request => GetTopicsByClusterRequestHeader,
    wipe_write_perm_request => WipeWritePermOfBrokerRequestHeader,
    wipe_write_perm_response => WipeWritePermOfBrokerResponseHeader,
    add_write_perm_request => AddWritePermOfBrokerRequestHeader,
    add_write_perm_response => AddWritePermOfBrokerResponseHeader,
    create_topic_request => CreateTopicRequestHeader,
    delete_topic_request => DeleteTopicRequestHeader,
    get_consume_stats_request => GetConsumeStatsRequestHeader,
    get_consumer_connection_list_request => GetConsumerConnectionListRequestHeader,
    get_producer_connection_list_request => GetProducerConnectionListRequestHeader,
    get_topic_stats_info_request => GetTopicStatsInfoRequestHeader,
    query_topic_consume_by_who_request => QueryTopicConsumeByWhoRequestHeader,
    get_all_topic_config_response => GetAllTopicConfigResponseHeader,
}

/// Every header declared with `command_header!` in `src/header/` has a property test above (the
/// send request header, declared with `dual_named_header!`, has its own below).
#[test]
fn every_declared_header_is_round_tripped() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/header");
    let mut declared = Vec::new();
    for entry in std::fs::read_dir(dir).expect("header sources") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        // mod.rs declares only a test sample; macros.rs defines the macro.
        if name == "mod.rs" || name == "macros.rs" {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("readable source");
        for chunk in source.split("command_header! {").skip(1) {
            let after = chunk
                .split("pub struct ")
                .nth(1)
                .expect("a struct per invocation");
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            declared.push(ident);
        }
    }
    declared.sort();
    let mut tested: Vec<String> = TESTED_HEADERS.iter().map(|s| (*s).to_owned()).collect();
    tested.sort();
    assert_eq!(declared, tested);
}

fn check_send_header(ext_v1: &ExtFields) -> Result<(), TestCaseError> {
    let header = SendMessageRequestHeader::read_v1(ext_v1)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut v1 = ExtFields::new();
    header.write_v1(&mut v1);
    prop_assert_eq!(
        &v1,
        &expected_written(SendMessageRequestHeader::FIELDS_V1, ext_v1)
    );
    let mut v2 = ExtFields::new();
    header.write_v2(&mut v2);
    prop_assert_eq!(v2.len(), v1.len());
    prop_assert_eq!(SendMessageRequestHeader::read_v1(&v1), Ok(header.clone()));
    prop_assert_eq!(SendMessageRequestHeader::read_v2(&v2), Ok(header.clone()));

    for (code, written) in [(10, &v1), (310, &v2), (320, &v2)] {
        let request = RemotingCommand::new_request(code, ExtFields::new())
            .with_send_header(&header)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&request.ext_fields, written);
        let json = through_frame(request.clone(), SerializeType::Json);
        prop_assert_eq!(json.decode_send_header(), Ok(header.clone()));
        let binary = through_frame(request, SerializeType::RocketMq);
        prop_assert_eq!(
            binary.decode_send_header(),
            SendMessageRequestHeader::read_for_code(code, &without_empty_values(written))
        );
    }
    Ok(())
}

proptest! {
    #[test]
    fn send_request_in_both_namings(ext in ext_strategy(SendMessageRequestHeader::FIELDS_V1)) {
        check_send_header(&ext)?;
    }

    /// Java accepts any `parseInt` spelling; we write the canonical one back.
    #[test]
    fn number_spellings_read_as_java_and_write_canonically(v in any::<i64>(), zeros in 0usize..4) {
        let digits = v.unsigned_abs().to_string();
        let sign = if v < 0 { "-" } else { "+" };
        let spelled = format!("{sign}{}{digits}", "0".repeat(zeros));
        let ext: ExtFields = [("offset", spelled.as_str())].into_iter().collect();
        let header = QueryConsumerOffsetResponseHeader::read_from(&ext).unwrap();
        prop_assert_eq!(header.offset, v);
        let mut out = ExtFields::new();
        header.write_to(&mut out);
        let canonical = v.to_string();
        prop_assert_eq!(out.get("offset"), Some(canonical.as_str()));
    }
}

#[test]
fn v1_and_v2_tables_describe_the_same_fields() {
    let v1 = SendMessageRequestHeader::FIELDS_V1;
    let v2 = SendMessageRequestHeader::FIELDS_V2;
    assert_eq!(v1.len(), 14);
    assert_eq!(v1.len(), v2.len());
    for (a, b) in v1.iter().zip(v2) {
        assert_eq!((a.kind, a.value_type), (b.kind, b.value_type));
    }
    let v2_names: String = v2.iter().map(|f| f.name).collect();
    assert_eq!(v2_names, "abcdefghijklmn");
}
