//! The broker's control plane over TCP, against the real `rmq-broker --standalone` binary:
//! system topics and their routes, heartbeats with retry-topic creation and consumer-change
//! notifications, consumer offsets persisted across a restart, topic and group admin, info
//! codes, connection lists, and the error and admission paths of the transport.

mod common;

use std::time::Duration;

use common::{body_text, eventually, request, Broker, Client};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::command::FLAG_ONEWAY;
use rmq_protocol::RemotingCommand;

fn heartbeat(
    client_id: &str,
    consumer_group: Option<&str>,
    producer_group: Option<&str>,
) -> RemotingCommand {
    let consumers = consumer_group.map_or(String::new(), |g| {
        format!(
            "{{\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"consumeType\":\"CONSUME_PASSIVELY\",\"groupName\":\"{g}\",\"messageModel\":\"CLUSTERING\",\"unitMode\":false,\"subscriptionDataSet\":[{{\"classFilterMode\":false,\"codeSet\":[],\"expressionType\":\"TAG\",\"subString\":\"*\",\"subVersion\":1,\"tagsSet\":[],\"topic\":\"TopicTest\"}}]}}"
        )
    });
    let producers = producer_group.map_or(String::new(), |g| format!("{{\"groupName\":\"{g}\"}}"));
    let body = format!(
        "{{\"clientID\":\"{client_id}\",\"consumerDataSet\":[{consumers}],\"producerDataSet\":[{producers}]}}"
    );
    request(request_code::HEART_BEAT, &[]).with_body(body.into_bytes())
}

fn route_code(ns: &mut Client, topic: &str) -> i32 {
    ns.call(request(
        request_code::GET_ROUTEINFO_BY_TOPIC,
        &[("topic", topic)],
    ))
    .code
}

fn create_topic(c: &mut Client, topic: &str, queues: &str, perm: &str) -> RemotingCommand {
    c.call(request(
        request_code::UPDATE_AND_CREATE_TOPIC,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", queues),
            ("writeQueueNums", queues),
            ("perm", perm),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ],
    ))
}

fn query_offset(
    c: &mut Client,
    group: &str,
    topic: &str,
    q: &str,
    extra: &[(&str, &str)],
) -> RemotingCommand {
    let mut fields = vec![("consumerGroup", group), ("topic", topic), ("queueId", q)];
    fields.extend_from_slice(extra);
    c.call(request(request_code::QUERY_CONSUMER_OFFSET, &fields))
}

#[test]
fn system_topics_exist_and_are_routed_through_the_embedded_namesrv() {
    let broker = Broker::start("b-system", 2, &[]);
    let mut c = broker.connect();
    let all = c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]));
    assert_eq!(all.code, response_code::SUCCESS);
    let text = body_text(&all);
    for t in [
        "TBW102",
        "SELF_TEST_TOPIC",
        "BenchmarkTest",
        "OFFSET_MOVED_EVENT",
        "SCHEDULE_TOPIC_XXXX",
        "DefaultCluster",
        "broker-it",
        "DefaultCluster_REPLY_TOPIC",
    ] {
        assert!(
            text.contains(&format!("\"{t}\":{{")),
            "{t} missing in {text}"
        );
    }
    assert!(text.contains("\"perm\":7,\"readQueueNums\":8,\"topicFilterType\":\"SINGLE_TAG\",\"topicName\":\"TBW102\""));
    let persisted = std::fs::read_to_string(broker.store.join("config/topics.json")).unwrap();
    assert!(persisted.contains("\"TBW102\""));
    let mut ns = broker.namesrv();
    assert!(eventually(Duration::from_secs(10), || route_code(
        &mut ns, "TBW102"
    )
        == response_code::SUCCESS));
    // The VIP port (listenPort - 2) serves the same broker.
    let mut vip = Client::connect(broker.port - 2);
    assert_eq!(
        vip.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .code,
        response_code::SUCCESS
    );
    assert!(broker.terminate().success());
}

#[test]
fn heartbeats_register_groups_create_retry_topics_and_notify_members() {
    let broker = Broker::start("b-heartbeat", 2, &[]);
    let mut ns = broker.namesrv();
    let mut a = broker.connect();
    let resp = a
        .call_collecting(heartbeat("10.0.0.1@a", Some("CG"), Some("PG")))
        .0;
    assert_eq!(resp.code, response_code::SUCCESS);
    // %RETRY%CG: 1 queue, perm 6, registered with the NameServer.
    let topics = body_text(
        &a.call_collecting(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .0,
    );
    assert!(
        topics.contains("\"%RETRY%CG\":{\"order\":false,\"perm\":6,\"readQueueNums\":1"),
        "{topics}"
    );
    assert!(eventually(Duration::from_secs(10), || route_code(
        &mut ns,
        "%RETRY%CG"
    )
        == response_code::SUCCESS));
    let groups = body_text(
        &a.call_collecting(request(request_code::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[]))
            .0,
    );
    assert!(groups.contains("\"CG\":{"), "{groups}");

    let (list, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &[("consumerGroup", "CG")],
    ));
    assert_eq!(list.code, response_code::SUCCESS);
    assert_eq!(body_text(&list), "{\"consumerIdList\":[\"10.0.0.1@a\"]}");
    let (none, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &[("consumerGroup", "NOPE")],
    ));
    assert_eq!(none.code, response_code::SYSTEM_ERROR);
    assert_eq!(
        none.remark.as_deref(),
        Some("no consumer for this group, NOPE")
    );

    // A second member (several connections, so other shards too): the first is notified.
    let mut others: Vec<Client> = (0..3).map(|_| broker.connect()).collect();
    for (i, o) in others.iter_mut().enumerate() {
        // The joining member is notified too (every channel of the group is), possibly
        // before its own answer arrives.
        let (resp, _) = o.call_collecting(heartbeat(&format!("10.0.0.2@b{i}"), Some("CG"), None));
        assert_eq!(resp.code, response_code::SUCCESS);
    }
    let mut notified = 0;
    while let Some(push) = a.recv_within(Duration::from_secs(2)) {
        assert_eq!(push.code, request_code::NOTIFY_CONSUMER_IDS_CHANGED);
        assert!(push.is_oneway());
        assert_eq!(push.ext_fields.get("consumerGroup"), Some("CG"));
        notified += 1;
        if notified == 3 {
            break;
        }
    }
    assert_eq!(notified, 3);
    let (list, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &[("consumerGroup", "CG")],
    ));
    assert_eq!(body_text(&list).matches('@').count(), 4);

    // Connection list and who consumes the topic.
    let (conns, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "CG")],
    ));
    assert_eq!(conns.code, response_code::SUCCESS);
    let text = body_text(&conns);
    assert!(
        text.contains("\"consumeType\":\"CONSUME_PASSIVELY\"")
            && text.contains("\"messageModel\":\"CLUSTERING\""),
        "{text}"
    );
    let (offline, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_CONNECTION_LIST,
        &[("consumerGroup", "NOPE")],
    ));
    assert_eq!(offline.code, response_code::CONSUMER_NOT_ONLINE);
    let (producers, _) = a.call_collecting(request(
        request_code::GET_PRODUCER_CONNECTION_LIST,
        &[("producerGroup", "PG")],
    ));
    assert_eq!(producers.code, response_code::SUCCESS);
    assert!(body_text(&producers).contains("\"clientId\":\"10.0.0.1@a\""));
    let (who, _) = a.call_collecting(request(
        request_code::QUERY_TOPIC_CONSUME_BY_WHO,
        &[("topic", "TopicTest")],
    ));
    assert_eq!(body_text(&who), "{\"groupList\":[\"CG\"]}");

    // A member leaving by closing its connection, and one unregistering: both notify.
    drop(others.pop());
    let push = a
        .recv_within(Duration::from_secs(5))
        .expect("a notification after a close");
    assert_eq!(push.code, request_code::NOTIFY_CONSUMER_IDS_CHANGED);
    let (resp, _) = others[0].call_collecting(request(
        request_code::UNREGISTER_CLIENT,
        &[("clientID", "10.0.0.2@b0"), ("consumerGroup", "CG")],
    ));
    assert_eq!(resp.code, response_code::SUCCESS);
    let push = a
        .recv_within(Duration::from_secs(5))
        .expect("a notification after unregister");
    assert_eq!(push.code, request_code::NOTIFY_CONSUMER_IDS_CHANGED);
    let (list, _) = a.call_collecting(request(
        request_code::GET_CONSUMER_LIST_BY_GROUP,
        &[("consumerGroup", "CG")],
    ));
    assert_eq!(
        body_text(&list).matches('@').count(),
        2,
        "{}",
        body_text(&list)
    );
    assert!(broker.terminate().success());
}

#[test]
fn consumer_offsets_follow_4_9_8_and_survive_a_restart() {
    let broker = Broker::start("b-offsets", 2, &[]);
    let mut c = broker.connect();
    // No committed offset, empty queue: SUCCESS 0 (the C++ LAST_OFFSET rule).
    let q = query_offset(&mut c, "CG", "TopicTest", "0", &[]);
    assert_eq!(q.code, response_code::SUCCESS);
    assert_eq!(q.ext_fields.get("offset"), Some("0"));
    let q = query_offset(
        &mut c,
        "CG",
        "TopicTest",
        "0",
        &[("setZeroIfNotFound", "false")],
    );
    assert_eq!(q.code, response_code::QUERY_NOT_FOUND);
    // Oneway commit (never answered), then a sync one.
    let mut oneway = request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "CG"),
            ("topic", "TopicTest"),
            ("queueId", "1"),
            ("commitOffset", "42"),
        ],
    );
    oneway.flag = FLAG_ONEWAY;
    c.send(oneway);
    let sync = c.call(request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "CG"),
            ("topic", "TopicTest"),
            ("queueId", "2"),
            ("commitOffset", "7"),
        ],
    ));
    assert_eq!(sync.code, response_code::SUCCESS);
    let q = query_offset(&mut c, "CG", "TopicTest", "1", &[]);
    assert_eq!(q.ext_fields.get("offset"), Some("42"));
    let bad = c.call(request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "CG"),
            ("topic", "TopicTest"),
            ("queueId", "x"),
            ("commitOffset", "1"),
        ],
    ));
    assert_eq!(bad.code, response_code::SYSTEM_ERROR);
    let all = c.call(request(request_code::GET_ALL_CONSUMER_OFFSET, &[]));
    assert_eq!(
        body_text(&all),
        "{\"offsetTable\":{\"TopicTest@CG\":{1:42,2:7}}}"
    );
    drop(c);

    let broker = broker.restart();
    let text = std::fs::read_to_string(broker.store.join("config/consumerOffset.json")).unwrap();
    assert!(text.contains("\"TopicTest@CG\""), "{text}");
    let mut c = broker.connect();
    assert_eq!(
        query_offset(&mut c, "CG", "TopicTest", "1", &[])
            .ext_fields
            .get("offset"),
        Some("42")
    );
    assert_eq!(
        query_offset(&mut c, "CG", "TopicTest", "2", &[])
            .ext_fields
            .get("offset"),
        Some("7")
    );
    assert!(broker.terminate().success());
}

#[test]
fn topic_and_group_admin_persist_and_register_at_once() {
    let broker = Broker::start("b-admin", 2, &[]);
    let mut c = broker.connect();
    let mut ns = broker.namesrv();
    assert_eq!(
        create_topic(&mut c, "AdminTopic", "4", "6").code,
        response_code::SUCCESS
    );
    assert!(eventually(Duration::from_secs(5), || route_code(
        &mut ns,
        "AdminTopic"
    )
        == response_code::SUCCESS));
    let text = std::fs::read_to_string(broker.store.join("config/topics.json")).unwrap();
    assert!(text.contains("\"AdminTopic\""));
    assert!(broker.store.join("config/topics.json.bak").exists());
    // Invalid names and system topics.
    for bad in ["bad topic", "a/b", &"x".repeat(128)] {
        let r = create_topic(&mut c, bad, "4", "6");
        assert_eq!(r.code, response_code::INVALID_PARAMETER, "{bad}");
    }
    assert_eq!(
        create_topic(&mut c, "TBW102", "4", "6").code,
        response_code::INVALID_PARAMETER
    );
    assert_eq!(
        create_topic(&mut c, "Q0", "0", "6").code,
        response_code::INVALID_PARAMETER
    );
    let missing = c.call(request(
        request_code::UPDATE_AND_CREATE_TOPIC,
        &[("topic", "T")],
    ));
    assert_eq!(missing.code, response_code::SYSTEM_ERROR);
    assert!(missing.remark.unwrap().contains("is null"));
    // Delete the topic: gone from the config (offsets too).
    c.call(request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "G"),
            ("topic", "AdminTopic"),
            ("queueId", "0"),
            ("commitOffset", "3"),
        ],
    ));
    let del = c.call(request(
        request_code::DELETE_TOPIC_IN_BROKER,
        &[("topic", "AdminTopic")],
    ));
    assert_eq!(del.code, response_code::SUCCESS);
    assert!(
        !body_text(&c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[])))
            .contains("\"AdminTopic\"")
    );
    assert_eq!(
        body_text(&c.call(request(request_code::GET_ALL_CONSUMER_OFFSET, &[]))),
        "{\"offsetTable\":{}}"
    );
    assert_eq!(
        c.call(request(
            request_code::DELETE_TOPIC_IN_BROKER,
            &[("topic", "SELF_TEST_TOPIC")]
        ))
        .code,
        response_code::INVALID_PARAMETER
    );

    // Subscription groups.
    let cfg = "{\"groupName\":\"AdminGroup\",\"retryMaxTimes\":3,\"retryQueueNums\":1,\"consumeEnable\":true}";
    let r = c.call(
        request(request_code::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, &[])
            .with_body(cfg.as_bytes().to_vec()),
    );
    assert_eq!(r.code, response_code::SUCCESS);
    let groups = body_text(&c.call(request(request_code::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[])));
    assert!(
        groups.contains("\"AdminGroup\":{") && groups.contains("\"retryMaxTimes\":3"),
        "{groups}"
    );
    let garbage = c.call(
        request(request_code::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, &[]).with_body(b"[1,".to_vec()),
    );
    assert_eq!(garbage.code, response_code::SYSTEM_ERROR);
    let r = c.call(request(
        request_code::DELETE_SUBSCRIPTIONGROUP,
        &[("groupName", "AdminGroup")],
    ));
    assert_eq!(r.code, response_code::SUCCESS);
    assert!(
        !body_text(&c.call(request(request_code::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[])))
            .contains("AdminGroup")
    );
    assert_eq!(
        c.call(request(request_code::DELETE_SUBSCRIPTIONGROUP, &[]))
            .code,
        response_code::SYSTEM_ERROR
    );

    // Info codes.
    let info = c.call(request(request_code::GET_BROKER_RUNTIME_INFO, &[]));
    let kv: serde_json::Value = serde_json::from_slice(info.body.as_deref().unwrap()).unwrap();
    let ratio = kv["table"]["commitLogDiskRatio"].as_str().unwrap();
    assert!(ratio.parse::<f64>().is_ok(), "{ratio}");
    assert_eq!(kv["table"]["brokerVersionDesc"], "V4_9_8");
    let conf = body_text(&c.call(request(request_code::GET_BROKER_CONFIG, &[])));
    assert!(
        conf.contains(&format!("listenPort={}\n", broker.port)),
        "{conf}"
    );

    // Persisted across a restart.
    create_topic(&mut c, "Kept", "2", "6");
    drop(c);
    let broker = broker.restart();
    let mut c = broker.connect();
    assert!(
        body_text(&c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))).contains("\"Kept\":{")
    );
    assert!(broker.terminate().success());
}

#[test]
fn error_paths_answer_or_close_as_java_does() {
    let broker = Broker::start("b-errors", 1, &[]);
    let mut c = broker.connect();
    let r = c.call(request(9999, &[]));
    assert_eq!(r.code, response_code::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        r.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
    let r = c.call(request(
        request_code::QUERY_CONSUMER_OFFSET,
        &[("topic", "T")],
    ));
    assert_eq!(r.code, response_code::SYSTEM_ERROR);
    let r = c.call(request(request_code::HEART_BEAT, &[]).with_body(b"{\"clientID\":".to_vec()));
    assert_eq!(r.code, response_code::SYSTEM_ERROR);
    // Still serving on the same connection.
    assert_eq!(
        c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .code,
        response_code::SUCCESS
    );
    // A frame over the 16 MiB limit closes the connection.
    let mut oversize = Vec::new();
    oversize.extend_from_slice(&(64u32 * 1024 * 1024).to_be_bytes());
    oversize.extend_from_slice(&[0, 0, 0, 2, b'{', b'}']);
    c.send_raw(&oversize);
    assert!(c.recv_within(Duration::from_secs(5)).is_none());
    // Other connections are unaffected.
    assert_eq!(
        broker
            .connect()
            .call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .code,
        response_code::SUCCESS
    );
    assert!(broker.terminate().success());
}

#[test]
fn memory_budget_gives_system_busy_and_idle_connections_close() {
    // One shard, budget of one maximal frame, idle timeout 1 s.
    let budget = rmq_protocol::limits::FRAME_SIZE_BYTES_MAX;
    let broker = Broker::start(
        "b-budget",
        1,
        &[
            &format!("--shardMemoryBudgetBytes={budget}"),
            "--serverChannelMaxIdleTimeSeconds=1",
        ],
    );
    // Connection A announces a 12 MiB frame and sends only part of it: the shard reserves
    // the whole frame before buffering it.
    let big = 12 * 1024 * 1024;
    let frame = request(request_code::HEART_BEAT, &[])
        .with_body(vec![b' '; big])
        .encode_to_bytes()
        .unwrap();
    let mut a = broker.connect();
    a.send_raw(&frame[..1024 * 1024]);
    std::thread::sleep(Duration::from_millis(300));
    // Connection B's 12 MiB frame does not fit: SYSTEM_BUSY, and B keeps working.
    let mut b = broker.connect();
    let resp = b.call(request(request_code::HEART_BEAT, &[]).with_body(vec![b' '; big]));
    assert_eq!(resp.code, response_code::SYSTEM_BUSY);
    assert_eq!(
        resp.remark.as_deref(),
        Some("[OVERLOAD]system busy, start flow control for a while")
    );
    assert_eq!(
        b.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .code,
        response_code::SUCCESS
    );
    // A, silent for more than the idle timeout, is closed; its reservation is returned.
    assert!(a.recv_within(Duration::from_secs(10)).is_none());
    let mut c = broker.connect();
    let resp = c.call(request(request_code::HEART_BEAT, &[]).with_body(vec![b' '; big]));
    assert_ne!(resp.code, response_code::SYSTEM_BUSY);
    assert!(broker.terminate().success());
}

#[test]
fn registration_keeps_one_connection_open_and_routes_leave_with_the_broker() {
    // A separate NameServer: it drops a broker's routes when the broker's connection closes,
    // so routes that outlive the registration prove the connection is persistent.
    let mut ns_chosen = None;
    let namesrv = common::start_retrying(env!("CARGO_BIN_EXE_rmq-namesrv"), |attempt| {
        let ns_port = common::free_port();
        let ns_dir = common::temp_dir(&format!("b-ns-ext-{attempt}"));
        let args = vec![
            format!("--listenPort={ns_port}"),
            "--listenAddress=127.0.0.1".to_string(),
            format!("--kvConfigPath={}", ns_dir.join("kv.json").display()),
            "--shards=2".to_string(),
        ];
        let log = ns_dir.join("stderr.log");
        ns_chosen = Some((ns_port, ns_dir));
        (args, ns_port, log)
    });
    let (ns_port, ns_dir) = ns_chosen.expect("the NameServer's settings");
    let mut broker_chosen = None;
    let broker = common::start_retrying(env!("CARGO_BIN_EXE_rmq-broker"), |attempt| {
        let store = common::temp_dir(&format!("b-ns-ext-store-{attempt}"));
        let port = common::free_broker_port();
        let args = vec![
            "-n".to_string(),
            format!("127.0.0.1:{ns_port}"),
            format!("--listenPort={port}"),
            "--listenAddress=127.0.0.1".to_string(),
            "--brokerIP1=127.0.0.1".to_string(),
            "--brokerName=broker-ext".to_string(),
            format!("--storePathRootDir={}", store.display()),
            "--mappedFileSizeCommitLog=67108864".to_string(),
            "--shards=2".to_string(),
        ];
        let log = common::broker_log(&store);
        broker_chosen = Some((port, store));
        (args, port, log)
    });
    let (port, store) = broker_chosen.expect("the broker's settings");
    let mut ns = Client::connect(ns_port);
    assert!(eventually(Duration::from_secs(10), || route_code(
        &mut ns, "TBW102"
    )
        == response_code::SUCCESS));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        route_code(&mut ns, "TBW102"),
        response_code::SUCCESS,
        "routes survive between registrations"
    );
    let cluster = body_text(&ns.call(request(request_code::GET_BROKER_CLUSTER_INFO, &[])));
    assert!(cluster.contains(&format!("127.0.0.1:{port}")), "{cluster}");
    assert!(broker.terminate().success());
    assert!(eventually(Duration::from_secs(5), || route_code(
        &mut ns, "TBW102"
    )
        == response_code::TOPIC_NOT_EXIST));
    assert!(namesrv.terminate().success());
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_dir_all(&ns_dir);
}
