//! Byte-exact fixtures for the JSON bodies: the Java bytes from protocol.md §2.4, §2.15, §4,
//! §6.5, and the heartbeat bodies of the three independent clients (real-clients.md).

use std::collections::{BTreeMap, BTreeSet};

use rmq_protocol::body::heartbeat::java_string_hash;
use rmq_protocol::body::{
    BrokerData, ClusterInfo, Connection, ConsumeFromWhere, ConsumeStats, ConsumeType,
    ConsumerConnection, ConsumerOffsetWrapper, DataVersion, HeartbeatData, JsonBody, MessageModel,
    MessageQueue, OffsetWrapper, QueueData, RegisterBrokerBody, RouteJsonStyle, SubscriptionData,
    SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicConfig, TopicConfigSerializeWrapper,
    TopicOffset, TopicRouteData, TopicStatsTable,
};
use rmq_protocol::LanguageCode;

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("encoders write UTF-8")
}

fn route_fixture() -> TopicRouteData {
    TopicRouteData {
        order_topic_conf: None,
        queue_datas: vec![QueueData {
            broker_name: "broker-a".into(),
            read_queue_nums: 4,
            write_queue_nums: 4,
            perm: 6,
            topic_sys_flag: 0,
        }],
        broker_datas: vec![BrokerData {
            cluster: "DefaultCluster".into(),
            broker_name: "broker-a".into(),
            broker_addrs: BTreeMap::from([
                (0, "10.0.0.1:10911".to_owned()),
                (1, "10.0.0.2:10911".to_owned()),
            ]),
            enable_acting_master: false,
            zone_name: None,
        }],
        filter_server_table: BTreeMap::new(),
    }
}

/// protocol.md §4.1, with `enableActingMaster` as 5.x writes it.
const ROUTE_FASTJSON: &str = r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;
const ROUTE_STANDARD: &str = r#"{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#;

#[test]
fn route_in_both_styles_is_byte_exact() {
    let route = route_fixture();
    assert_eq!(
        text(route.encode_route(RouteJsonStyle::Fastjson)),
        ROUTE_FASTJSON
    );
    assert_eq!(
        text(route.encode_route(RouteJsonStyle::Standard)),
        ROUTE_STANDARD
    );
    assert_eq!(text(route.encode()), ROUTE_FASTJSON);
    assert_eq!(
        TopicRouteData::decode(ROUTE_FASTJSON.as_bytes()).unwrap(),
        route
    );
    assert_eq!(
        TopicRouteData::decode(ROUTE_STANDARD.as_bytes()).unwrap(),
        route
    );
}

#[test]
fn route_style_follows_the_java_namesrv_rule() {
    assert_eq!(
        RouteJsonStyle::for_request(400, false),
        RouteJsonStyle::Fastjson
    );
    assert_eq!(
        RouteJsonStyle::for_request(317, false),
        RouteJsonStyle::Fastjson
    );
    assert_eq!(
        RouteJsonStyle::for_request(400, true),
        RouteJsonStyle::Standard
    );
    assert_eq!(
        RouteJsonStyle::for_request(401, false),
        RouteJsonStyle::Standard
    );
    assert_eq!(
        RouteJsonStyle::for_request(479, false),
        RouteJsonStyle::Standard
    );
}

#[test]
fn route_optional_fields_and_standard_escaping() {
    let mut route = route_fixture();
    route.order_topic_conf = Some("broker-a:4;broker-b:4".into());
    route.broker_datas[0].zone_name = Some("zoné".into());
    route
        .filter_server_table
        .insert("10.0.0.1:10911".into(), vec!["10.0.0.9:30000".into()]);
    let fast = text(route.encode_route(RouteJsonStyle::Fastjson));
    assert!(
        fast.contains(r#""enableActingMaster":false,"zoneName":"zoné"}"#),
        "{fast}"
    );
    assert!(fast.contains(r#""filterServerTable":{"10.0.0.1:10911":["10.0.0.9:30000"]},"orderTopicConf":"broker-a:4;broker-b:4","queueDatas""#), "{fast}");
    let standard = text(route.encode_route(RouteJsonStyle::Standard));
    assert!(standard.contains(r#""zoneName":"zon\u00E9""#), "{standard}");
    assert!(standard.is_ascii());
    for encoded in [fast, standard] {
        assert_eq!(TopicRouteData::decode(encoded.as_bytes()).unwrap(), route);
    }
}

#[test]
fn route_without_enable_acting_master_reads_as_false() {
    // What a 4.9.8 NameServer sends.
    let java_498 = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[]}"#;
    let route = TopicRouteData::decode(java_498.as_bytes()).unwrap();
    assert!(!route.broker_datas[0].enable_acting_master);
    assert!(text(route.encode()).contains(r#""enableActingMaster":false"#));
}

#[test]
fn cluster_info_is_byte_exact() {
    let broker = BrokerData {
        cluster: "DefaultCluster".into(),
        broker_name: "broker-a".into(),
        broker_addrs: BTreeMap::from([(0, "10.0.0.1:10911".to_owned())]),
        enable_acting_master: false,
        zone_name: None,
    };
    let info = ClusterInfo {
        broker_addr_table: BTreeMap::from([("broker-a".to_owned(), broker)]),
        cluster_addr_table: BTreeMap::from([(
            "DefaultCluster".to_owned(),
            BTreeSet::from(["broker-a".to_owned()]),
        )]),
    };
    let java = r#"{"brokerAddrTable":{"broker-a":{"brokerAddrs":{0:"10.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}},"clusterAddrTable":{"DefaultCluster":["broker-a"]}}"#;
    assert_eq!(text(info.encode()), java);
    assert_eq!(ClusterInfo::decode(java.as_bytes()).unwrap(), info);
}

#[test]
fn consume_stats_uses_object_keys_and_java_doubles() {
    let stats = ConsumeStats {
        offset_table: BTreeMap::from([(
            MessageQueue::new("TopicTest", "broker-a", 0),
            OffsetWrapper {
                broker_offset: 100,
                consumer_offset: 90,
                pull_offset: 95,
                last_timestamp: 1_700_000_000_000,
            },
        )]),
        consume_tps: 0.0,
    };
    let java = r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}}"#;
    assert_eq!(text(stats.encode()), java);
    assert_eq!(ConsumeStats::decode(java.as_bytes()).unwrap(), stats);

    let busy = ConsumeStats {
        consume_tps: 12.5,
        ..stats
    };
    assert!(text(busy.encode()).starts_with(r#"{"consumeTps":12.5,"#));
}

#[test]
fn topic_stats_table_uses_object_keys() {
    let table = TopicStatsTable {
        offset_table: BTreeMap::from([
            (
                MessageQueue::new("T", "broker-a", 1),
                TopicOffset {
                    min_offset: 0,
                    max_offset: 7,
                    last_update_timestamp: 1_700_000_000_001,
                },
            ),
            (
                MessageQueue::new("T", "broker-a", 0),
                TopicOffset {
                    min_offset: 0,
                    max_offset: 5,
                    last_update_timestamp: 1_700_000_000_000,
                },
            ),
        ]),
        topic_put_tps: None,
    };
    let java = r#"{"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{"lastUpdateTimestamp":1700000000000,"maxOffset":5,"minOffset":0},{"brokerName":"broker-a","queueId":1,"topic":"T"}:{"lastUpdateTimestamp":1700000000001,"maxOffset":7,"minOffset":0}}}"#;
    assert_eq!(text(table.encode()), java);
    assert_eq!(TopicStatsTable::decode(java.as_bytes()).unwrap(), table);
    let with_tps = TopicStatsTable {
        topic_put_tps: Some(0.0),
        ..table
    };
    assert!(text(with_tps.encode()).ends_with(r#"},"topicPutTps":0.0}"#));
}

#[test]
fn consumer_offset_json_compact_and_pretty() {
    let offsets = ConsumerOffsetWrapper {
        offset_table: BTreeMap::from([(
            "TopicTest@CG".to_owned(),
            BTreeMap::from([(0, 12), (1, 9), (2, 0), (3, 4)]),
        )]),
        data_version: None,
    };
    let compact = r#"{"offsetTable":{"TopicTest@CG":{0:12,1:9,2:0,3:4}}}"#;
    assert_eq!(text(offsets.encode()), compact);
    // fastjson's PrettyFormat breaks lines before String keys only, so the integer keys stay
    // on the line of their `{`.
    let pretty = "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@CG\":{0:12,1:9,2:0,3:4\n\t\t}\n\t}\n}";
    assert_eq!(text(offsets.encode_pretty()), pretty);
    assert_eq!(
        ConsumerOffsetWrapper::decode(compact.as_bytes()).unwrap(),
        offsets
    );
    assert_eq!(
        ConsumerOffsetWrapper::decode(pretty.as_bytes()).unwrap(),
        offsets
    );
    // Quoted keys (a file rewritten by a standard JSON tool) read the same.
    let quoted = r#"{"offsetTable":{"TopicTest@CG":{"0":12,"1":9,"2":0,"3":4}}}"#;
    assert_eq!(
        ConsumerOffsetWrapper::decode(quoted.as_bytes()).unwrap(),
        offsets
    );

    let v5 = ConsumerOffsetWrapper {
        data_version: Some(DataVersion {
            counter: 2,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        }),
        ..offsets
    };
    let v5_text = r#"{"dataVersion":{"counter":2,"stateVersion":0,"timestamp":1700000000000},"offsetTable":{"TopicTest@CG":{0:12,1:9,2:0,3:4}}}"#;
    assert_eq!(text(v5.encode()), v5_text);
    assert_eq!(
        ConsumerOffsetWrapper::decode(v5_text.as_bytes()).unwrap(),
        v5
    );
}

#[test]
fn topics_json_pretty_and_compact() {
    let topic = TopicConfig {
        attributes: Some(BTreeMap::new()),
        read_queue_nums: 4,
        write_queue_nums: 4,
        ..TopicConfig::new("TopicTest")
    };
    let wrapper = TopicConfigSerializeWrapper {
        topic_config_table: BTreeMap::from([("TopicTest".to_owned(), topic)]),
        data_version: DataVersion {
            counter: 3,
            state_version: 0,
            timestamp: 1_700_000_000_000,
        },
    };
    let compact = r#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}"#;
    assert_eq!(text(wrapper.encode()), compact);
    let pretty = concat!(
        "{\n",
        "\t\"dataVersion\":{\n",
        "\t\t\"counter\":3,\n",
        "\t\t\"stateVersion\":0,\n",
        "\t\t\"timestamp\":1700000000000\n",
        "\t},\n",
        "\t\"topicConfigTable\":{\n",
        "\t\t\"TopicTest\":{\n",
        "\t\t\t\"attributes\":{},\n",
        "\t\t\t\"order\":false,\n",
        "\t\t\t\"perm\":6,\n",
        "\t\t\t\"readQueueNums\":4,\n",
        "\t\t\t\"topicFilterType\":\"SINGLE_TAG\",\n",
        "\t\t\t\"topicName\":\"TopicTest\",\n",
        "\t\t\t\"topicSysFlag\":0,\n",
        "\t\t\t\"writeQueueNums\":4\n",
        "\t\t}\n",
        "\t}\n",
        "}"
    );
    assert_eq!(text(wrapper.encode_pretty()), pretty);
    assert_eq!(
        TopicConfigSerializeWrapper::decode(compact.as_bytes()).unwrap(),
        wrapper
    );
    assert_eq!(
        TopicConfigSerializeWrapper::decode(pretty.as_bytes()).unwrap(),
        wrapper
    );
    // A 4.x file: no attributes, no stateVersion.
    let v4 = r#"{"dataVersion":{"counter":3,"timestamp":1700000000000},"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}}}"#;
    let read = TopicConfigSerializeWrapper::decode(v4.as_bytes()).unwrap();
    assert_eq!(read.topic_config_table["TopicTest"].attributes, None);
    assert_eq!(read.data_version, wrapper.data_version);
}

#[test]
fn subscription_group_json_pretty() {
    let wrapper = SubscriptionGroupWrapper {
        subscription_group_table: BTreeMap::from([(
            "CG".to_owned(),
            SubscriptionGroupConfig::new("CG"),
        )]),
        data_version: DataVersion {
            counter: 1,
            state_version: 0,
            timestamp: 5,
        },
    };
    let pretty = text(wrapper.encode_pretty());
    assert!(pretty.starts_with(
        "{\n\t\"dataVersion\":{\n\t\t\"counter\":1,\n\t\t\"stateVersion\":0,\n\t\t\"timestamp\":5\n\t},\n\t\"subscriptionGroupTable\":{\n\t\t\"CG\":{\n\t\t\t\"brokerId\":0,\n"
    ), "{pretty}");
    assert!(
        pretty.ends_with("\t\t\t\"whichBrokerWhenConsumeSlowly\":1\n\t\t}\n\t}\n}"),
        "{pretty}"
    );
    assert_eq!(
        SubscriptionGroupWrapper::decode(pretty.as_bytes()).unwrap(),
        wrapper
    );
    // A 5.x file with fields we do not model reads fine.
    let v5 = r#"{"dataVersion":{"counter":1,"stateVersion":0,"timestamp":5},"forbiddenTable":{},"subscriptionGroupTable":{"CG":{"attributes":{},"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,"consumeFromMinEnable":true,"consumeMessageOrderly":false,"consumeTimeoutMinute":15,"groupName":"CG","groupRetryPolicy":{"type":"CUSTOMIZED"},"groupSysFlag":0,"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}}}"#;
    let read = SubscriptionGroupWrapper::decode(v5.as_bytes()).unwrap();
    assert_eq!(
        read.subscription_group_table["CG"].attributes,
        Some(BTreeMap::new())
    );
}

#[test]
fn register_broker_body_from_a_5x_broker() {
    let body = r#"{"filterServerList":[],
 "topicConfigSerializeWrapper":{
   "dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},
   "topicConfigTable":{"TopicTest":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4}},
   "mappingDataVersion":{"counter":0,"stateVersion":0,"timestamp":1}, "topicQueueMappingInfoMap":{}, "topicQueueMappingDetailMap":{}}}"#;
    let read = RegisterBrokerBody::decode_register(body.as_bytes(), false).unwrap();
    let wrapper = &read.topic_config_serialize_wrapper;
    assert_eq!(wrapper.data_version.counter, 3);
    assert_eq!(wrapper.topic_config_table["TopicTest"].write_queue_nums, 4);
    assert!(read.filter_server_list.is_empty());
    let encoded = text(read.encode());
    assert!(encoded.starts_with(
        r#"{"filterServerList":[],"topicConfigSerializeWrapper":{"dataVersion":{"counter":3,"#
    ));
    assert_eq!(
        RegisterBrokerBody::decode(encoded.as_bytes()).unwrap(),
        read
    );
}

/// protocol.md §2.4, exactly as printed (whitespace and all).
const JAVA_HEARTBEAT: &str = r#"{"clientID":"192.168.0.2@12345#123456789",
 "consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY",
   "groupName":"CG","messageModel":"CLUSTERING","unitMode":false,
   "subscriptionDataSet":[
     {"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"},
     {"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%CG"}]}],
 "heartbeatFingerprint":0,
 "producerDataSet":[{"groupName":"PG"},{"groupName":"CLIENT_INNER_PRODUCER"}],
 "withoutSub":false}"#;

#[test]
fn java_heartbeat() {
    let hb = HeartbeatData::decode(JAVA_HEARTBEAT.as_bytes()).unwrap();
    assert_eq!(hb.client_id, "192.168.0.2@12345#123456789");
    assert_eq!(hb.heartbeat_fingerprint, Some(0));
    assert_eq!(hb.without_sub, Some(false));
    assert_eq!(
        hb.producer_data_set
            .iter()
            .map(|p| p.group_name.as_str())
            .collect::<Vec<_>>(),
        ["PG", "CLIENT_INNER_PRODUCER"]
    );
    let consumer = &hb.consumer_data_set[0];
    assert_eq!(consumer.consume_type, Some(ConsumeType::Passively));
    assert_eq!(consumer.message_model, Some(MessageModel::Clustering));
    assert_eq!(
        consumer.consume_from_where,
        Some(ConsumeFromWhere::LastOffset)
    );
    assert_eq!(
        consumer.subscription_data_set[0],
        SubscriptionData::from_expression("TopicTest", "TagA", 1_700_000_000_000)
    );
    assert_eq!(
        consumer.subscription_data_set[1],
        SubscriptionData::from_expression("%RETRY%CG", "*", 1_700_000_000_001)
    );
    // What a Java client would put on the wire: the same, compact and sorted.
    let compact = r#"{"clientID":"192.168.0.2@12345#123456789","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"CG","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598919],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"TopicTest"},{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%CG"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"PG"},{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;
    assert_eq!(text(hb.encode()), compact);
    assert_eq!(HeartbeatData::decode(compact.as_bytes()).unwrap(), hb);
}

#[test]
fn cpp_heartbeat_with_ordinals_string_versions_and_trailing_newline() {
    // real-clients.md quirk 7, with the trailing "\n" of jsoncpp's FastWriter; a tag
    // subscription as C++ writes it (tagsSet/codeSet only when non-empty).
    let cpp = "{\"clientID\":\"127.0.0.1@4242\",\"consumerDataSet\":[{\"consumeFromWhere\":0,\"consumeType\":1,\"groupName\":\"g\",\"messageModel\":1,\"subscriptionDataSet\":[{\"subString\":\"*\",\"subVersion\":\"1795298845132\",\"topic\":\"%RETRY%g\"},{\"codeSet\":[2598919,2598920],\"subString\":\"TagA || TagB\",\"subVersion\":\"1795298845133\",\"tagsSet\":[\"TagA\",\"TagB\"],\"topic\":\"T\"}]}],\"producerDataSet\":[]}\n";
    let hb = HeartbeatData::decode(cpp.as_bytes()).unwrap();
    assert_eq!(hb.client_id, "127.0.0.1@4242");
    assert_eq!((hb.heartbeat_fingerprint, hb.without_sub), (None, None));
    assert!(hb.producer_data_set.is_empty());
    let consumer = &hb.consumer_data_set[0];
    assert_eq!(consumer.group_name, "g");
    assert_eq!(consumer.consume_type, Some(ConsumeType::Passively));
    assert_eq!(consumer.message_model, Some(MessageModel::Clustering));
    assert_eq!(
        consumer.consume_from_where,
        Some(ConsumeFromWhere::LastOffset)
    );
    assert!(!consumer.unit_mode);
    let retry = &consumer.subscription_data_set[0];
    assert_eq!(
        *retry,
        SubscriptionData::from_expression("%RETRY%g", "*", 1_795_298_845_132)
    );
    let tagged = &consumer.subscription_data_set[1];
    assert_eq!(tagged.expression_type, "TAG");
    assert_eq!(tagged.sub_version, 1_795_298_845_133);
    assert_eq!(
        tagged.code_set,
        BTreeSet::from([java_string_hash("TagA"), java_string_hash("TagB")])
    );
    assert_eq!(
        *tagged,
        SubscriptionData::from_expression("T", "TagA || TagB", 1_795_298_845_133)
    );
}

#[test]
fn cpp_heartbeat_with_unknown_ordinal_is_rejected_like_fastjson() {
    let bad = r#"{"clientID":"c","consumerDataSet":[{"consumeFromWhere":9,"groupName":"g"}]}"#;
    assert!(HeartbeatData::decode(bad.as_bytes()).is_err());
}

#[test]
fn ali_ons_heartbeat_without_expression_type() {
    // ali-ons 3.12.0 `_prepareHeartbeatData`: JSON.stringify insertion order, no
    // expressionType, no unitMode.
    let ons = r#"{"clientID":"127.0.0.1@c4242","consumerDataSet":[{"groupName":"node_test_cg","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","subscriptionDataSet":[{"topic":"NodeTestTopic","subString":"*","classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1700000000000},{"topic":"%RETRY%node_test_cg","subString":"*","classFilterMode":false,"tagsSet":[],"codeSet":[],"subVersion":1700000000001}]}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;
    let hb = HeartbeatData::decode(ons.as_bytes()).unwrap();
    let consumer = &hb.consumer_data_set[0];
    assert_eq!(
        consumer.consume_from_where,
        Some(ConsumeFromWhere::FirstOffset)
    );
    assert_eq!(consumer.subscription_data_set.len(), 2);
    for sub in &consumer.subscription_data_set {
        assert_eq!(sub.expression_type, "TAG");
        assert!(sub.is_sub_all());
    }
    assert_eq!(hb.producer_data_set[0].group_name, "CLIENT_INNER_PRODUCER");
}

#[test]
fn consumer_connection_shape() {
    let connection = ConsumerConnection {
        connection_set: vec![Connection {
            client_id: "10.0.0.9@1234#1".into(),
            client_addr: "10.0.0.9:53211".into(),
            language: LanguageCode::Java,
            version: 479,
        }],
        subscription_table: BTreeMap::from([(
            "TopicTest".to_owned(),
            SubscriptionData::from_expression("TopicTest", "*", 1),
        )]),
        consume_type: Some(ConsumeType::Passively),
        message_model: Some(MessageModel::Clustering),
        consume_from_where: Some(ConsumeFromWhere::LastOffset),
    };
    let java = r#"{"connectionSet":[{"clientAddr":"10.0.0.9:53211","clientId":"10.0.0.9@1234#1","language":"JAVA","version":479}],"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","subscriptionTable":{"TopicTest":{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1,"tagsSet":[],"topic":"TopicTest"}}}"#;
    assert_eq!(text(connection.encode()), java);
    assert_eq!(
        ConsumerConnection::decode(java.as_bytes()).unwrap(),
        connection
    );
}
