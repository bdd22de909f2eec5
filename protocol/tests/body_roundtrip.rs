//! Round-trip properties: every body decodes back to itself from every style it can be
//! written in, and the lenient parser reads back any JSON value the writer produces.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use rmq_protocol::body::heartbeat::java_string_hash;
use rmq_protocol::body::lenient_json;
use rmq_protocol::body::{
    BrokerData, ClusterInfo, Connection, ConsumeFromWhere, ConsumeStats, ConsumeType,
    ConsumerConnection, ConsumerData, ConsumerOffsetWrapper, DataVersion, DelayOffsetWrapper,
    GetConsumerListByGroupResponseBody, GroupList, HeartbeatData, JavaEnum, JsonBody, JsonStyle,
    JsonWriter, KVTable, LockBatchRequestBody, LockBatchResponseBody, MessageModel, MessageQueue,
    OffsetWrapper, ProducerConnection, ProducerData, QueueData, RegisterBrokerBody, RouteJsonStyle,
    SubscriptionData, SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicConfig,
    TopicConfigSerializeWrapper, TopicFilterType, TopicList, TopicOffset, TopicRouteData,
    TopicStatsTable, UnlockBatchRequestBody,
};
use rmq_protocol::LanguageCode;
use serde_json::{Map, Number, Value};

const ALL_STYLES: [JsonStyle; 3] = [
    JsonStyle::FASTJSON,
    JsonStyle::FASTJSON_PRETTY,
    JsonStyle::STANDARD,
];

/// Encode in every style and decode each back.
fn assert_round_trip<T: JsonBody + PartialEq + Debug>(value: &T) -> Result<(), TestCaseError> {
    for style in ALL_STYLES {
        let bytes = value.encode_with_style(style);
        let back = T::decode(&bytes).map_err(|e| {
            TestCaseError::fail(format!(
                "{style:?}: {e}\n{}",
                String::from_utf8_lossy(&bytes)
            ))
        })?;
        prop_assert_eq!(
            &back,
            value,
            "{:?}: {}",
            style,
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, control characters and quotes included, kept short.
    proptest::string::string_regex("(?s).{0,12}").unwrap()
}

fn java_enum<E: JavaEnum + Debug>() -> impl Strategy<Value = E> {
    proptest::sample::select(E::ALL)
}

fn finite_double() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        (-1_000_000i32..1_000_000).prop_map(|v| f64::from(v) / 8.0),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

fn string_map() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..4)
}

fn message_queue() -> impl Strategy<Value = MessageQueue> {
    (text(), text(), any::<i32>()).prop_map(|(t, b, q)| MessageQueue::new(t, b, q))
}

fn subscription() -> impl Strategy<Value = SubscriptionData> {
    (
        text(),
        text(),
        btree_set(text(), 0..3),
        btree_set(any::<i32>(), 0..3),
        any::<i64>(),
        text(),
        any::<bool>(),
    )
        .prop_map(
            |(topic, sub_string, tags_set, code_set, sub_version, expression_type, class)| {
                SubscriptionData {
                    topic,
                    sub_string,
                    tags_set,
                    code_set,
                    sub_version,
                    expression_type,
                    class_filter_mode: class,
                }
            },
        )
}

fn consumer_data() -> impl Strategy<Value = ConsumerData> {
    (
        text(),
        proptest::option::of(java_enum::<ConsumeType>()),
        proptest::option::of(java_enum::<MessageModel>()),
        proptest::option::of(java_enum::<ConsumeFromWhere>()),
        vec(subscription(), 0..3),
        any::<bool>(),
    )
        .prop_map(|(group_name, ct, mm, cfw, subs, unit_mode)| ConsumerData {
            group_name,
            consume_type: ct,
            message_model: mm,
            consume_from_where: cfw,
            subscription_data_set: subs,
            unit_mode,
        })
}

fn heartbeat() -> impl Strategy<Value = HeartbeatData> {
    (
        text(),
        vec(text().prop_map(|g| ProducerData { group_name: g }), 0..3),
        vec(consumer_data(), 0..3),
        proptest::option::of(any::<i32>()),
        proptest::option::of(any::<bool>()),
    )
        .prop_map(|(client_id, producers, consumers, fp, ws)| HeartbeatData {
            client_id,
            producer_data_set: producers,
            consumer_data_set: consumers,
            heartbeat_fingerprint: fp,
            without_sub: ws,
        })
}

fn broker_data() -> impl Strategy<Value = BrokerData> {
    (
        text(),
        text(),
        btree_map(any::<i64>(), text(), 0..3),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(|(cluster, broker_name, addrs, acting, zone)| BrokerData {
            cluster,
            broker_name,
            broker_addrs: addrs,
            enable_acting_master: acting,
            zone_name: zone,
        })
}

fn queue_data() -> impl Strategy<Value = QueueData> {
    (
        text(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
    )
        .prop_map(|(broker_name, r, w, perm, flag)| QueueData {
            broker_name,
            read_queue_nums: r,
            write_queue_nums: w,
            perm,
            topic_sys_flag: flag,
        })
}

fn route() -> impl Strategy<Value = TopicRouteData> {
    (
        proptest::option::of(text()),
        vec(queue_data(), 0..3),
        vec(broker_data(), 0..3),
        btree_map(text(), vec(text(), 0..3), 0..3),
    )
        .prop_map(|(conf, queues, brokers, filters)| TopicRouteData {
            order_topic_conf: conf,
            queue_datas: queues,
            broker_datas: brokers,
            filter_server_table: filters,
        })
}

fn data_version() -> impl Strategy<Value = DataVersion> {
    (any::<i64>(), any::<i64>(), any::<i64>()).prop_map(|(c, s, t)| DataVersion {
        counter: c,
        state_version: s,
        timestamp: t,
    })
}

fn topic_config() -> impl Strategy<Value = TopicConfig> {
    (
        text(),
        any::<i32>(),
        any::<i32>(),
        any::<i32>(),
        java_enum::<TopicFilterType>(),
        any::<i32>(),
        any::<bool>(),
        proptest::option::of(string_map()),
    )
        .prop_map(
            |(name, r, w, perm, filter, flag, order, attributes)| TopicConfig {
                topic_name: name,
                read_queue_nums: r,
                write_queue_nums: w,
                perm,
                topic_filter_type: filter,
                topic_sys_flag: flag,
                order,
                attributes,
            },
        )
}

fn topic_wrapper() -> impl Strategy<Value = TopicConfigSerializeWrapper> {
    (btree_map(text(), topic_config(), 0..3), data_version()).prop_map(|(table, version)| {
        TopicConfigSerializeWrapper {
            topic_config_table: table,
            data_version: version,
        }
    })
}

fn group_config() -> impl Strategy<Value = SubscriptionGroupConfig> {
    (
        (text(), any::<[bool; 6]>()),
        (any::<i32>(), any::<i32>(), any::<i64>(), any::<i64>()),
        (
            any::<i32>(),
            any::<i32>(),
            proptest::option::of(string_map()),
        ),
    )
        .prop_map(
            |((name, b), (rq, rm, broker_id, which), (sys, timeout, attributes))| {
                SubscriptionGroupConfig {
                    group_name: name,
                    consume_enable: b[0],
                    consume_from_min_enable: b[1],
                    consume_broadcast_enable: b[2],
                    consume_message_orderly: b[3],
                    retry_queue_nums: rq,
                    retry_max_times: rm,
                    broker_id,
                    which_broker_when_consume_slowly: which,
                    notify_consumer_ids_changed_enable: b[4] && b[5],
                    group_sys_flag: sys,
                    consume_timeout_minute: timeout,
                    attributes,
                }
            },
        )
}

fn connection() -> impl Strategy<Value = Connection> {
    (text(), text(), 0u8..14, any::<i32>()).prop_map(|(id, addr, lang, version)| Connection {
        client_id: id,
        client_addr: addr,
        language: LanguageCode::from_code(lang),
        version,
    })
}

fn offset_wrapper() -> impl Strategy<Value = OffsetWrapper> {
    any::<[i64; 4]>().prop_map(|v| OffsetWrapper {
        broker_offset: v[0],
        consumer_offset: v[1],
        pull_offset: v[2],
        last_timestamp: v[3],
    })
}

fn topic_offset() -> impl Strategy<Value = TopicOffset> {
    any::<[i64; 3]>().prop_map(|v| TopicOffset {
        min_offset: v[0],
        max_offset: v[1],
        last_update_timestamp: v[2],
    })
}

fn lock_parts() -> impl Strategy<Value = (String, String, bool, BTreeSet<MessageQueue>)> {
    (
        text(),
        text(),
        any::<bool>(),
        btree_set(message_queue(), 0..3),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn heartbeat_round_trips(hb in heartbeat()) {
        assert_round_trip(&hb)?;
    }

    #[test]
    fn route_round_trips(route in route()) {
        assert_round_trip(&route)?;
        for style in [RouteJsonStyle::Fastjson, RouteJsonStyle::Standard] {
            let bytes = route.encode_route(style);
            // Compact: no layout whitespace (the Go client splits brokerAddrs on ',' and ':');
            // newlines and tabs inside strings are escaped.
            prop_assert!(!bytes.contains(&b'\n') && !bytes.contains(&b'\t'));
            prop_assert_eq!(TopicRouteData::decode(&bytes).unwrap(), route.clone());
        }
        prop_assert!(route.encode_route(RouteJsonStyle::Standard).is_ascii());
    }

    #[test]
    fn cluster_info_round_trips(
        brokers in btree_map(text(), broker_data(), 0..3),
        clusters in btree_map(text(), btree_set(text(), 0..3), 0..3),
    ) {
        assert_round_trip(&ClusterInfo { broker_addr_table: brokers, cluster_addr_table: clusters })?;
    }

    #[test]
    fn topic_bodies_round_trip(wrapper in topic_wrapper(), filters in vec(text(), 0..3)) {
        assert_round_trip(&wrapper)?;
        assert_round_trip(&wrapper.data_version)?;
        for config in wrapper.topic_config_table.values() {
            assert_round_trip(config)?;
        }
        assert_round_trip(&RegisterBrokerBody {
            topic_config_serialize_wrapper: wrapper,
            filter_server_list: filters,
        })?;
    }

    #[test]
    fn subscription_groups_round_trip(
        table in btree_map(text(), group_config(), 0..3),
        version in data_version(),
    ) {
        for config in table.values() {
            assert_round_trip(config)?;
        }
        assert_round_trip(&SubscriptionGroupWrapper {
            subscription_group_table: table,
            data_version: version,
        })?;
    }

    #[test]
    fn consumer_offsets_round_trip(
        table in btree_map(text(), btree_map(any::<i32>(), any::<i64>(), 0..4), 0..3),
        version in proptest::option::of(data_version()),
    ) {
        assert_round_trip(&ConsumerOffsetWrapper { offset_table: table.clone(), data_version: version })?;
        for queues in table.into_values() {
            assert_round_trip(&DelayOffsetWrapper { offset_table: queues, data_version: version })?;
        }
    }

    #[test]
    fn stats_round_trip(
        consume in btree_map(message_queue(), offset_wrapper(), 0..4),
        tps in finite_double(),
        topic in btree_map(message_queue(), topic_offset(), 0..4),
        put_tps in proptest::option::of(finite_double()),
    ) {
        assert_round_trip(&ConsumeStats { offset_table: consume, consume_tps: tps })?;
        assert_round_trip(&TopicStatsTable { offset_table: topic, topic_put_tps: put_tps })?;
    }

    #[test]
    fn connections_round_trip(
        connections in vec(connection(), 0..3),
        subs in btree_map(text(), subscription(), 0..3),
        ct in proptest::option::of(java_enum::<ConsumeType>()),
        mm in proptest::option::of(java_enum::<MessageModel>()),
        cfw in proptest::option::of(java_enum::<ConsumeFromWhere>()),
    ) {
        assert_round_trip(&ProducerConnection { connection_set: connections.clone() })?;
        assert_round_trip(&ConsumerConnection {
            connection_set: connections,
            subscription_table: subs,
            consume_type: ct,
            message_model: mm,
            consume_from_where: cfw,
        })?;
    }

    #[test]
    fn lock_and_list_bodies_round_trip(
        (group, client, only, queues) in lock_parts(),
        strings in vec(text(), 0..4),
        table in string_map(),
        addr in proptest::option::of(text()),
    ) {
        assert_round_trip(&LockBatchRequestBody {
            consumer_group: group.clone(),
            client_id: client.clone(),
            only_this_broker: only,
            mq_set: queues.clone(),
        })?;
        assert_round_trip(&UnlockBatchRequestBody {
            consumer_group: group,
            client_id: client,
            only_this_broker: only,
            mq_set: queues.clone(),
        })?;
        assert_round_trip(&LockBatchResponseBody { lock_ok_mq_set: queues })?;
        assert_round_trip(&KVTable { table })?;
        assert_round_trip(&TopicList { topic_list: strings.iter().cloned().collect(), broker_addr: addr })?;
        assert_round_trip(&GroupList { group_list: strings.iter().cloned().collect() })?;
        assert_round_trip(&GetConsumerListByGroupResponseBody { consumer_id_list: strings })?;
    }

    #[test]
    fn any_json_value_round_trips_through_writer_and_parser(value in json_value()) {
        for style in ALL_STYLES {
            let mut w = JsonWriter::new(style);
            w.value(&value);
            let bytes = w.into_bytes();
            let back = lenient_json::parse(&bytes).map_err(|e| {
                TestCaseError::fail(format!("{style:?}: {e}\n{}", String::from_utf8_lossy(&bytes)))
            })?;
            prop_assert_eq!(&back, &value);
            // String-keyed values are standard JSON in every style. (Only acceptance is
            // checked: serde_json's default float parsing can be one ULP off.)
            prop_assert!(serde_json::from_slice::<Value>(&bytes).is_ok());
        }
        // And serde_json's own output (standard escaping, its float format) parses too.
        let theirs = serde_json::to_vec_pretty(&value).unwrap();
        prop_assert_eq!(lenient_json::parse(&theirs).unwrap(), value);
    }

    #[test]
    fn subscription_from_expression_round_trips(
        topic in text(),
        expression in proptest::string::string_regex("[ a-zA-Z|*]{0,16}").unwrap(),
        version in any::<i64>(),
    ) {
        let sub = SubscriptionData::from_expression(&topic, &expression, version);
        for tag in &sub.tags_set {
            prop_assert_eq!(tag.trim(), tag.as_str());
            prop_assert!(!tag.is_empty());
        }
        let codes: BTreeSet<i32> = sub.tags_set.iter().map(|t| java_string_hash(t)).collect();
        prop_assert_eq!(&sub.code_set, &codes);
        prop_assert_eq!(sub.is_sub_all(), expression.is_empty() || expression == "*");
        assert_round_trip(&sub)?;
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|v| Value::Number(v.into())),
        any::<u64>().prop_map(|v| Value::Number(v.into())),
        finite_double().prop_map(|f| Value::Number(Number::from_f64(f).unwrap())),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}
