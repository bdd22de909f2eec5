//! Hostile input to every body decoder: deep nesting, huge numbers, truncated text, invalid
//! UTF-8, wrong types, oversize and random bytes. Each must return an error (or a value),
//! never panic.

use proptest::prelude::*;
use rmq_protocol::body::lenient_json::{self, JSON_BODY_SIZE_BYTES_MAX, JSON_NESTING_DEPTH_MAX};
use rmq_protocol::body::{
    ClusterInfo, ConsumeStats, ConsumerConnection, ConsumerOffsetWrapper, DataVersion,
    DelayOffsetWrapper, GetConsumerListByGroupResponseBody, GroupList, HeartbeatData, JsonBody,
    KVTable, LockBatchRequestBody, LockBatchResponseBody, ProducerConnection, RegisterBrokerBody,
    SubscriptionGroupConfig, SubscriptionGroupWrapper, TopicConfig, TopicConfigSerializeWrapper,
    TopicList, TopicRouteData, TopicStatsTable, UnlockBatchRequestBody,
};
use rmq_protocol::CodecError;

type Decoder = fn(&[u8]) -> Result<(), CodecError>;

fn decoder<T: JsonBody>() -> Decoder {
    |bytes| T::decode(bytes).map(drop)
}

fn all_decoders() -> Vec<(&'static str, Decoder)> {
    vec![
        ("HeartbeatData", decoder::<HeartbeatData>()),
        ("TopicRouteData", decoder::<TopicRouteData>()),
        ("ClusterInfo", decoder::<ClusterInfo>()),
        ("DataVersion", decoder::<DataVersion>()),
        ("TopicConfig", decoder::<TopicConfig>()),
        (
            "TopicConfigSerializeWrapper",
            decoder::<TopicConfigSerializeWrapper>(),
        ),
        ("RegisterBrokerBody", decoder::<RegisterBrokerBody>()),
        (
            "SubscriptionGroupConfig",
            decoder::<SubscriptionGroupConfig>(),
        ),
        (
            "SubscriptionGroupWrapper",
            decoder::<SubscriptionGroupWrapper>(),
        ),
        ("ConsumerOffsetWrapper", decoder::<ConsumerOffsetWrapper>()),
        ("DelayOffsetWrapper", decoder::<DelayOffsetWrapper>()),
        ("KVTable", decoder::<KVTable>()),
        ("TopicList", decoder::<TopicList>()),
        ("GroupList", decoder::<GroupList>()),
        (
            "GetConsumerListByGroupResponseBody",
            decoder::<GetConsumerListByGroupResponseBody>(),
        ),
        ("LockBatchRequestBody", decoder::<LockBatchRequestBody>()),
        (
            "UnlockBatchRequestBody",
            decoder::<UnlockBatchRequestBody>(),
        ),
        ("LockBatchResponseBody", decoder::<LockBatchResponseBody>()),
        ("ConsumeStats", decoder::<ConsumeStats>()),
        ("TopicStatsTable", decoder::<TopicStatsTable>()),
        ("ConsumerConnection", decoder::<ConsumerConnection>()),
        ("ProducerConnection", decoder::<ProducerConnection>()),
    ]
}

/// Valid bodies, one per shape, used as seeds for truncation and mutation.
const SEEDS: &[&str] = &[
    r#"{"clientID":"c","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"g","messageModel":1,"subscriptionDataSet":[{"subString":"*","subVersion":"1795298845132","topic":"%RETRY%g"}]}]}"#,
    r#"{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.1:10911",1:"10.0.0.2:10911"},"brokerName":"broker-a","cluster":"DefaultCluster","enableActingMaster":false}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":4}]}"#,
    r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":0,"topic":"TopicTest"}:{"brokerOffset":100,"consumerOffset":90,"lastTimestamp":1700000000000,"pullOffset":95}}}"#,
    "{\n\t\"offsetTable\":{\n\t\t\"TopicTest@CG\":{0:12,1:9,2:0,3:4\n\t\t}\n\t}\n}",
    r#"{"dataVersion":{"counter":3,"stateVersion":0,"timestamp":1700000000000},"topicConfigTable":{"T":{"attributes":{},"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG","topicName":"T","topicSysFlag":0,"writeQueueNums":4}}}"#,
];

#[test]
fn every_strict_prefix_of_a_body_is_an_error() {
    for seed in SEEDS {
        for cut in 0..seed.len() {
            let Some(prefix) = seed.get(..cut) else {
                continue; // not a char boundary; covered by the byte-level test below
            };
            assert!(
                lenient_json::parse(prefix.as_bytes()).is_err(),
                "prefix {prefix:?} parsed"
            );
            for (name, decode) in all_decoders() {
                assert!(
                    decode(prefix.as_bytes()).is_err(),
                    "{name} accepted {prefix:?}"
                );
            }
        }
    }
}

#[test]
fn deep_nesting_is_an_error_for_every_decoder() {
    let depth = JSON_NESTING_DEPTH_MAX + 1;
    let arrays = "[".repeat(depth) + &"]".repeat(depth);
    let objects = "{\"a\":".repeat(depth) + "1" + &"}".repeat(depth);
    let keys = "{".repeat(depth * 4);
    let in_field = format!(r#"{{"consumerDataSet":{arrays}}}"#);
    for input in [&arrays, &objects, &keys, &in_field] {
        for (name, decode) in all_decoders() {
            assert!(
                decode(input.as_bytes()).is_err(),
                "{name} accepted deep input"
            );
        }
    }
    // Far beyond the limit, unterminated: still an error, no stack overflow.
    let huge = "[".repeat(4 * 1024 * 1024);
    assert!(lenient_json::parse(huge.as_bytes()).is_err());
}

#[test]
fn huge_and_impossible_numbers_are_errors() {
    let cases: &[(&str, Decoder)] = &[
        (r#"{"counter":1e400}"#, decoder::<DataVersion>()),
        (r#"{"counter":-1e400}"#, decoder::<DataVersion>()),
        (r#"{"counter":1e30}"#, decoder::<DataVersion>()),
        (
            r#"{"counter":99999999999999999999999}"#,
            decoder::<DataVersion>(),
        ),
        (
            r#"{"counter":"99999999999999999999999"}"#,
            decoder::<DataVersion>(),
        ),
        (
            r#"{"counter":18446744073709551615}"#,
            decoder::<DataVersion>(),
        ),
        (r#"{"perm":2147483648}"#, decoder::<TopicConfig>()),
        (r#"{"perm":"-2147483649"}"#, decoder::<TopicConfig>()),
        (r#"{"perm":"six"}"#, decoder::<TopicConfig>()),
        (
            r#"{"offsetTable":{"T@G":{2147483648:1}}}"#,
            decoder::<ConsumerOffsetWrapper>(),
        ),
        (
            r#"{"brokerDatas":[{"brokerAddrs":{99999999999999999999:"a"}}]}"#,
            decoder::<TopicRouteData>(),
        ),
        (r#"{"consumeTps":"fast"}"#, decoder::<ConsumeStats>()),
        (r#"{"consumeTps":1e999}"#, decoder::<ConsumeStats>()),
        (
            r#"{"consumerDataSet":[{"subscriptionDataSet":[{"codeSet":[4294967296]}]}]}"#,
            decoder::<HeartbeatData>(),
        ),
    ];
    for (input, decode) in cases {
        assert!(decode(input.as_bytes()).is_err(), "accepted {input}");
    }
    // The largest legal values are fine.
    let max =
        DataVersion::decode(br#"{"counter":9223372036854775807,"timestamp":-9223372036854775808}"#)
            .unwrap();
    assert_eq!((max.counter, max.timestamp), (i64::MAX, i64::MIN));
}

#[test]
fn invalid_utf8_is_an_error() {
    for bad in [
        &b"{\"clientID\":\"\xff\"}"[..],
        b"{\"clientID\":\"\xc3\"}",
        b"{\"clientID\":\"\xed\xa0\x80\"}", // an encoded surrogate
        b"\xef\xbb",
        b"{\"a\xfe\":1}",
    ] {
        assert!(lenient_json::parse(bad).is_err());
        for (name, decode) in all_decoders() {
            assert!(decode(bad).is_err(), "{name} accepted invalid UTF-8");
        }
    }
}

#[test]
fn wrong_shapes_are_errors() {
    let cases: &[(&str, Decoder)] = &[
        ("[]", decoder::<HeartbeatData>()),
        ("null", decoder::<HeartbeatData>()),
        ("\"text\"", decoder::<TopicRouteData>()),
        ("42", decoder::<KVTable>()),
        (r#"{"consumerDataSet":{}}"#, decoder::<HeartbeatData>()),
        (r#"{"consumerDataSet":[1]}"#, decoder::<HeartbeatData>()),
        (
            r#"{"brokerDatas":[{"brokerAddrs":[]}]}"#,
            decoder::<TopicRouteData>(),
        ),
        (
            r#"{"brokerDatas":[{"brokerAddrs":{"x":"a"}}]}"#,
            decoder::<TopicRouteData>(),
        ),
        (
            r#"{"clusterAddrTable":{"c":"b"}}"#,
            decoder::<ClusterInfo>(),
        ),
        (r#"{"table":[]}"#, decoder::<KVTable>()),
        (
            r#"{"offsetTable":{"T@G":5}}"#,
            decoder::<ConsumerOffsetWrapper>(),
        ),
        (r#"{"offsetTable":{"plain":{}}}"#, decoder::<ConsumeStats>()),
        (
            r#"{"offsetTable":{{"queueId":"x"}:{}}}"#,
            decoder::<TopicStatsTable>(),
        ),
        (r#"{"mqSet":[[]]}"#, decoder::<LockBatchRequestBody>()),
        (
            r#"{"onlyThisBroker":"maybe"}"#,
            decoder::<UnlockBatchRequestBody>(),
        ),
        (r#"{"consumeType":true}"#, decoder::<ConsumerConnection>()),
        (r#"{"consumeType":3}"#, decoder::<ConsumerConnection>()),
        (r#"{"topicFilterType":7}"#, decoder::<TopicConfig>()),
        (
            r#"{"dataVersion":[]}"#,
            decoder::<TopicConfigSerializeWrapper>(),
        ),
        (
            r#"{"topicConfigSerializeWrapper":1}"#,
            decoder::<RegisterBrokerBody>(),
        ),
    ];
    for (input, decode) in cases {
        assert!(decode(input.as_bytes()).is_err(), "accepted {input}");
    }
}

#[test]
fn oversize_body_is_refused_before_parsing() {
    let mut big = vec![b' '; JSON_BODY_SIZE_BYTES_MAX + 1];
    big[0] = b'0';
    let err = lenient_json::parse(&big).unwrap_err();
    assert!(err.to_string().contains("exceed"), "{err}");
}

#[test]
fn errors_name_the_body() {
    let err = HeartbeatData::decode(b"{").unwrap_err();
    assert!(
        matches!(
            err,
            CodecError::InvalidBody {
                what: "HeartbeatData",
                ..
            }
        ),
        "{err:?}"
    );
    let err = TopicConfig::decode(br#"{"perm":"x"}"#).unwrap_err();
    assert!(err.to_string().contains("perm"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = lenient_json::parse(&bytes);
        for (_, decode) in all_decoders() {
            let _ = decode(&bytes);
        }
    }

    #[test]
    fn mutated_bodies_never_panic(
        seed in proptest::sample::select(SEEDS),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = seed.as_bytes().to_vec();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let truncated = &bytes[..cut.index(bytes.len() + 1)];
        for input in [&bytes[..], truncated] {
            let _ = lenient_json::parse(input);
            for (_, decode) in all_decoders() {
                let _ = decode(input);
            }
        }
    }

    #[test]
    fn json_like_noise_never_panics(
        text in proptest::string::string_regex(r#"[\[\]{}:,"'\\0-9a-z.eE+\-\t\n ]{0,64}"#).unwrap(),
    ) {
        let _ = lenient_json::parse(text.as_bytes());
        for (_, decode) in all_decoders() {
            let _ = decode(text.as_bytes());
        }
    }
}
