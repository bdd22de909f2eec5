//! The NameServer binary over TCP: registration, routes in both JSON dialects, cluster info,
//! topic lists, KV config, deletion, channel-close cleanup, error paths, SIGTERM.

mod common;

use common::{body_text, free_port, request, start_retrying, temp_dir, Client, Server};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::command::FLAG_ONEWAY;
use rmq_protocol::SerializeType;

fn start_namesrv(name: &str, shards: usize) -> Server {
    start_retrying(env!("CARGO_BIN_EXE_rmq-namesrv"), |attempt| {
        let port = free_port();
        let dir = temp_dir(&format!("{name}-{attempt}"));
        let args = vec![
            format!("--listenPort={port}"),
            "--listenAddress=127.0.0.1".to_string(),
            format!("--kvConfigPath={}", dir.join("kvConfig.json").display()),
            format!("--shards={shards}"),
        ];
        (args, port, dir.join("stderr.log"))
    })
}

/// A REGISTER_BROKER request for a master with `topics` (4 queues each, perm 6), written with
/// fastjson's bare integer keys where Java would write them (none in this body) and with the
/// `dataVersion` counter given.
fn register(
    broker_addr: &str,
    broker_name: &str,
    broker_id: i64,
    topics: &[&str],
    counter: i64,
) -> rmq_protocol::RemotingCommand {
    let table: Vec<String> = topics
        .iter()
        .map(|t| {
            format!(
                "\"{t}\":{{\"order\":false,\"perm\":6,\"readQueueNums\":4,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"{t}\",\"topicSysFlag\":0,\"writeQueueNums\":4}}"
            )
        })
        .collect();
    let body = format!(
        "{{\"filterServerList\":[],\"topicConfigSerializeWrapper\":{{\"dataVersion\":{{\"counter\":{counter},\"timestamp\":1700000000000}},\"topicConfigTable\":{{{}}}}}}}",
        table.join(",")
    );
    let id = broker_id.to_string();
    request(
        request_code::REGISTER_BROKER,
        &[
            ("brokerName", broker_name),
            ("brokerAddr", broker_addr),
            ("clusterName", "DefaultCluster"),
            ("haServerAddr", "127.0.0.1:10912"),
            ("brokerId", &id),
        ],
    )
    .with_body(body.into_bytes())
}

fn route(client: &mut Client, topic: &str, version: i32) -> rmq_protocol::RemotingCommand {
    let mut req = request(request_code::GET_ROUTEINFO_BY_TOPIC, &[("topic", topic)]);
    req.version = version;
    client.call(req)
}

#[test]
fn registration_makes_routes_in_both_json_dialects() {
    let server = start_namesrv("routes", 2);
    let mut c = server.connect();

    let resp = route(&mut c, "TopicTest", 479);
    assert_eq!(resp.code, response_code::TOPIC_NOT_EXIST);
    assert!(resp
        .remark
        .as_deref()
        .unwrap()
        .starts_with("No topic route info in name server for the topic: TopicTest"));

    let resp = c.call(register(
        "127.0.0.1:10911",
        "broker-a",
        0,
        &["TopicTest", "TBW102"],
        1,
    ));
    assert_eq!(resp.code, response_code::SUCCESS);

    // Old clients (< V4_9_4) get fastjson's bare integer keys; newer ones standard JSON.
    let old = route(&mut c, "TopicTest", 317);
    assert_eq!(old.code, response_code::SUCCESS);
    assert_eq!(
        body_text(&old),
        "{\"brokerDatas\":[{\"brokerAddrs\":{0:\"127.0.0.1:10911\"},\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}],\"filterServerTable\":{},\"queueDatas\":[{\"brokerName\":\"broker-a\",\"perm\":6,\"readQueueNums\":4,\"topicSysFlag\":0,\"writeQueueNums\":4}]}"
    );
    let new = route(&mut c, "TopicTest", 479);
    assert!(body_text(&new).contains("{\"0\":\"127.0.0.1:10911\"}"));
    let mut flagged = request(
        request_code::GET_ROUTEINFO_BY_TOPIC,
        &[("topic", "TopicTest"), ("acceptStandardJsonOnly", "true")],
    );
    flagged.version = 317;
    assert!(body_text(&c.call(flagged)).contains("{\"0\":"));

    // Reads on other connections (possibly other shards) see the same state.
    for _ in 0..4 {
        let mut other = server.connect();
        assert_eq!(
            route(&mut other, "TBW102", 479).code,
            response_code::SUCCESS
        );
    }

    let cluster = c.call(request(request_code::GET_BROKER_CLUSTER_INFO, &[]));
    assert_eq!(
        body_text(&cluster),
        "{\"brokerAddrTable\":{\"broker-a\":{\"brokerAddrs\":{0:\"127.0.0.1:10911\"},\"brokerName\":\"broker-a\",\"cluster\":\"DefaultCluster\",\"enableActingMaster\":false}},\"clusterAddrTable\":{\"DefaultCluster\":[\"broker-a\"]}}"
    );
    let topics = c.call(request(
        request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
        &[],
    ));
    assert_eq!(
        body_text(&topics),
        "{\"topicList\":[\"TBW102\",\"TopicTest\"]}"
    );

    // A slave learns its master's addresses.
    let slave = c.call(register(
        "127.0.0.1:11011",
        "broker-a",
        1,
        &["TopicTest"],
        1,
    ));
    assert_eq!(slave.ext_fields.get("masterAddr"), Some("127.0.0.1:10911"));
    assert_eq!(
        slave.ext_fields.get("haServerAddr"),
        Some("127.0.0.1:10912")
    );

    // Deleting the topic removes its route; unregistering the master leaves the slave only.
    let del = c.call(request(
        request_code::DELETE_TOPIC_IN_NAMESRV,
        &[("topic", "TopicTest")],
    ));
    assert_eq!(del.code, response_code::SUCCESS);
    assert_eq!(
        route(&mut c, "TopicTest", 479).code,
        response_code::TOPIC_NOT_EXIST
    );
    let unreg = c.call(request(
        request_code::UNREGISTER_BROKER,
        &[
            ("brokerName", "broker-a"),
            ("brokerAddr", "127.0.0.1:10911"),
            ("clusterName", "DefaultCluster"),
            ("brokerId", "0"),
        ],
    ));
    assert_eq!(unreg.code, response_code::SUCCESS);
    let cluster = body_text(&c.call(request(request_code::GET_BROKER_CLUSTER_INFO, &[])));
    assert!(!cluster.contains("127.0.0.1:10911"), "{cluster}");
    assert!(cluster.contains("127.0.0.1:11011"), "{cluster}");

    assert!(server.terminate().success());
}

#[test]
fn a_closed_broker_connection_removes_its_routes() {
    let server = start_namesrv("close", 2);
    {
        let mut broker = server.connect();
        let resp = broker.call(register("127.0.0.1:20911", "broker-b", 0, &["Gone"], 1));
        assert_eq!(resp.code, response_code::SUCCESS);
        let mut c = server.connect();
        assert_eq!(route(&mut c, "Gone", 479).code, response_code::SUCCESS);
    }
    // The broker connection is closed now; removal happens on the owner shard shortly after.
    let mut c = server.connect();
    let mut removed = false;
    for _ in 0..200 {
        if route(&mut c, "Gone", 479).code == response_code::TOPIC_NOT_EXIST {
            removed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert!(
        removed,
        "route still present after the broker connection closed"
    );
}

#[test]
fn kv_config_put_get_delete_and_list() {
    let server = start_namesrv("kv", 1);
    let mut c = server.connect();
    let get = |c: &mut Client| {
        c.call(request(
            request_code::GET_KV_CONFIG,
            &[("namespace", "ORDER_TOPIC_CONFIG"), ("key", "T")],
        ))
    };
    assert_eq!(get(&mut c).code, response_code::QUERY_NOT_FOUND);
    let put = c.call(request(
        request_code::PUT_KV_CONFIG,
        &[
            ("namespace", "ORDER_TOPIC_CONFIG"),
            ("key", "T"),
            ("value", "broker-a:4"),
        ],
    ));
    assert_eq!(put.code, response_code::SUCCESS);
    let got = get(&mut c);
    assert_eq!(got.code, response_code::SUCCESS);
    assert_eq!(got.ext_fields.get("value"), Some("broker-a:4"));
    let list = c.call(request(
        request_code::GET_KVLIST_BY_NAMESPACE,
        &[("namespace", "ORDER_TOPIC_CONFIG")],
    ));
    assert_eq!(body_text(&list), "{\"table\":{\"T\":\"broker-a:4\"}}");
    let del = c.call(request(
        request_code::DELETE_KV_CONFIG,
        &[("namespace", "ORDER_TOPIC_CONFIG"), ("key", "T")],
    ));
    assert_eq!(del.code, response_code::SUCCESS);
    assert_eq!(get(&mut c).code, response_code::QUERY_NOT_FOUND);
}

#[test]
fn error_paths_keep_the_connection_unless_framing_breaks() {
    let server = start_namesrv("errors", 1);
    let mut c = server.connect();

    // Unknown code.
    let resp = c.call(request(9999, &[]));
    assert_eq!(resp.code, response_code::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        resp.remark.as_deref(),
        Some(" request type 9999 not supported")
    );

    // Bad header (required field missing): SYSTEM_ERROR, connection keeps serving.
    let resp = c.call(request(request_code::GET_ROUTEINFO_BY_TOPIC, &[]));
    assert_eq!(resp.code, response_code::SYSTEM_ERROR);
    assert!(resp.remark.as_deref().unwrap().contains("topic"));

    // An undecodable JSON header: SYSTEM_ERROR with the opaque, connection keeps serving.
    let header = b"{\"code\":105,\"opaque\":77,\"flag\":0,\"extFields\":[1]}";
    let mut frame = Vec::new();
    frame.extend_from_slice(&(4 + header.len() as i32).to_be_bytes());
    frame.extend_from_slice(&(header.len() as i32).to_be_bytes());
    frame.extend_from_slice(header);
    c.send_raw(&frame);
    let resp = c.recv().expect("an answer");
    assert_eq!((resp.code, resp.opaque), (response_code::SYSTEM_ERROR, 77));

    // Oneway: no reply at all; the next reply is for the next request.
    let mut oneway = request(request_code::GET_ROUTEINFO_BY_TOPIC, &[("topic", "X")]);
    oneway.flag = FLAG_ONEWAY;
    c.send(oneway);
    let resp = c.call(request(request_code::GET_BROKER_CLUSTER_INFO, &[]));
    assert_eq!(resp.code, response_code::SUCCESS);

    // A binary (ROCKETMQ) header is answered in kind.
    let mut bin = request(request_code::GET_ROUTEINFO_BY_TOPIC, &[("topic", "X")]);
    bin.serialize_type = SerializeType::RocketMq;
    let resp = c.call(bin);
    assert_eq!(resp.code, response_code::TOPIC_NOT_EXIST);
    assert_eq!(resp.serialize_type, SerializeType::RocketMq);

    // Oversize frame: the connection is closed without an answer.
    c.send_raw(&(i32::MAX).to_be_bytes());
    assert!(
        c.recv().is_none(),
        "oversize frame must close the connection"
    );

    // Unknown serialize type: closed as well; the server keeps accepting others.
    let mut d = server.connect();
    d.send_raw(&[0, 0, 0, 8, 9, 0, 0, 0, 0, 0, 0, 0]);
    assert!(d.recv().is_none());
    let mut e = server.connect();
    assert_eq!(
        e.call(request(request_code::GET_BROKER_CLUSTER_INFO, &[]))
            .code,
        response_code::SUCCESS
    );

    assert!(server.terminate().success());
}
