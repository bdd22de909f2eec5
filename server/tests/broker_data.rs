//! The broker's data path over TCP, against the real `rmq-broker --standalone` binary: sends
//! (single, batch, C++ "batch":"1", auto-create, error paths), pulls with tag filtering and
//! long polling, queue offsets, 10,000 messages over 8 queues on 2 shards consumed exactly
//! once with dense offsets, and everything (messages and committed offsets) served again
//! after SIGTERM and restart.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{body_text, request, Broker, Client};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::message::batch::{encode_batch, BatchEntry};
use rmq_protocol::message::properties;
use rmq_protocol::message::record::RecordView;
use rmq_protocol::RemotingCommand;

fn create_topic(c: &mut Client, topic: &str, queues: u32, perm: i32) {
    let q = queues.to_string();
    let p = perm.to_string();
    let r = c.call(request(
        request_code::UPDATE_AND_CREATE_TOPIC,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", &q),
            ("writeQueueNums", &q),
            ("perm", &p),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ],
    ));
    assert_eq!(r.code, response_code::SUCCESS);
}

/// A SEND_MESSAGE_V2 request.
fn send_v2(
    topic: &str,
    queue_id: i32,
    body: &[u8],
    tag: &str,
    extra: &[(&str, &str)],
) -> RemotingCommand {
    let props = properties::encode([("TAGS", tag), ("WAIT", "true")]);
    send_v2_with_properties(topic, queue_id, body, &props, extra)
}

/// A SEND_MESSAGE_V2 request with the given properties string.
fn send_v2_with_properties(
    topic: &str,
    queue_id: i32,
    body: &[u8],
    props: &str,
    extra: &[(&str, &str)],
) -> RemotingCommand {
    let q = queue_id.to_string();
    let mut fields = vec![
        ("a", "PG"),
        ("b", topic),
        ("c", "TBW102"),
        ("d", "4"),
        ("e", q.as_str()),
        ("f", "0"),
        ("g", "1700000000000"),
        ("h", "0"),
        ("i", props),
    ];
    fields.extend_from_slice(extra);
    request(request_code::SEND_MESSAGE_V2, &fields).with_body(body.to_vec())
}

/// A PULL_MESSAGE request with the subscription in the request (no heartbeat needed).
fn pull(
    group: &str,
    topic: &str,
    queue_id: i32,
    offset: i64,
    max: i32,
    suspend_ms: Option<i64>,
    expr: &str,
) -> RemotingCommand {
    let sys_flag = 4 | if suspend_ms.is_some() { 2 } else { 0 };
    let (q, o, m, f, s) = (
        queue_id.to_string(),
        offset.to_string(),
        max.to_string(),
        sys_flag.to_string(),
        suspend_ms.unwrap_or(0).to_string(),
    );
    request(
        request_code::PULL_MESSAGE,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &q),
            ("queueOffset", &o),
            ("maxMsgNums", &m),
            ("sysFlag", &f),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", &s),
            ("subscription", expr),
            ("subVersion", "0"),
        ],
    )
}

/// (queue offset, body) of every record in a pull body.
fn records(resp: &RemotingCommand) -> Vec<(i64, Vec<u8>, String)> {
    let mut out = Vec::new();
    let mut buf = resp.body.as_deref().unwrap_or_default();
    while !buf.is_empty() {
        let r = RecordView::parse(buf).expect("a stored record");
        out.push((
            r.queue_offset(),
            r.body().to_vec(),
            r.properties().to_string(),
        ));
        buf = &buf[r.total_size()..];
    }
    out
}

fn header_i64(resp: &RemotingCommand, k: &str) -> i64 {
    resp.ext_fields
        .get(k)
        .unwrap_or_else(|| panic!("{k} missing"))
        .parse()
        .unwrap()
}

fn commit(c: &mut Client, group: &str, topic: &str, q: i32, offset: i64) {
    let (q, o) = (q.to_string(), offset.to_string());
    let r = c.call(request(
        request_code::UPDATE_CONSUMER_OFFSET,
        &[
            ("consumerGroup", group),
            ("topic", topic),
            ("queueId", &q),
            ("commitOffset", &o),
        ],
    ));
    assert_eq!(r.code, response_code::SUCCESS);
}

fn committed(c: &mut Client, group: &str, topic: &str, q: i32) -> i64 {
    let q = q.to_string();
    let r = c.call(request(
        request_code::QUERY_CONSUMER_OFFSET,
        &[("consumerGroup", group), ("topic", topic), ("queueId", &q)],
    ));
    assert_eq!(r.code, response_code::SUCCESS);
    header_i64(&r, "offset")
}

/// Pull `queue` from `from` to its end; the bodies in order, asserting dense offsets.
fn drain_queue(c: &mut Client, topic: &str, queue: i32, from: i64) -> Vec<Vec<u8>> {
    let mut next = from;
    let mut out = Vec::new();
    for _ in 0..10_000 {
        let resp = c.call(pull("CG", topic, queue, next, 32, None, "*"));
        for k in [
            "suggestWhichBrokerId",
            "nextBeginOffset",
            "minOffset",
            "maxOffset",
        ] {
            assert!(
                resp.ext_fields.get(k).is_some(),
                "{k} missing in code {} {:?}",
                resp.code,
                resp.remark
            );
        }
        if resp.code == response_code::PULL_NOT_FOUND {
            return out;
        }
        assert_eq!(resp.code, response_code::SUCCESS, "{:?}", resp.remark);
        for (offset, body, _) in records(&resp) {
            assert_eq!(offset, next, "dense, ordered queue offsets");
            next += 1;
            out.push(body);
        }
        assert_eq!(header_i64(&resp, "nextBeginOffset"), next);
    }
    panic!("queue {queue} did not end");
}

#[test]
fn ten_thousand_messages_over_8_queues_and_2_shards_exactly_once_and_after_restart() {
    const TOTAL: usize = 10_000;
    const QUEUES: i32 = 8;
    const WINDOW: usize = 64;
    let broker = Broker::start("d-bulk", 2, &[]);
    let mut c = broker.connect();
    create_topic(&mut c, "Bulk", 8, 6);
    // Pipelined sends, WINDOW in flight.
    let mut in_flight = BTreeMap::new();
    let mut acked = 0;
    for i in 0..TOTAL {
        let q = i32::try_from(i).unwrap() % QUEUES;
        let opaque = c.send(send_v2("Bulk", q, format!("m-{i}").as_bytes(), "T", &[]));
        in_flight.insert(opaque, q);
        while in_flight.len() >= WINDOW || (i + 1 == TOTAL && !in_flight.is_empty()) {
            let resp = c.recv().expect("a send response");
            let q = in_flight.remove(&resp.opaque).expect("known opaque");
            assert_eq!(resp.code, response_code::SUCCESS, "{:?}", resp.remark);
            assert_eq!(header_i64(&resp, "queueId"), i64::from(q));
            assert_eq!(resp.ext_fields.get("msgId").unwrap().len(), 32);
            assert_eq!(resp.ext_fields.get("MSG_REGION"), Some("DefaultRegion"));
            acked += 1;
        }
    }
    assert_eq!(acked, TOTAL);

    // Consume half of each queue and commit there.
    let mut seen = std::collections::BTreeSet::new();
    let mut per_queue = Vec::new();
    for q in 0..QUEUES {
        let bodies = drain_queue(&mut c, "Bulk", q, 0);
        assert_eq!(bodies.len(), TOTAL / 8);
        for b in &bodies {
            assert!(seen.insert(b.clone()), "a message delivered twice");
        }
        let half = i64::try_from(bodies.len() / 2).unwrap();
        commit(&mut c, "CG", "Bulk", q, half);
        per_queue.push(bodies);
    }
    assert_eq!(seen.len(), TOTAL, "every message delivered");
    let max = c.call(request(
        request_code::GET_MAX_OFFSET,
        &[("topic", "Bulk"), ("queueId", "3")],
    ));
    assert_eq!(header_i64(&max, "offset"), 1250);
    let min = c.call(request(
        request_code::GET_MIN_OFFSET,
        &[("topic", "Bulk"), ("queueId", "3")],
    ));
    assert_eq!(header_i64(&min, "offset"), 0);
    let earliest = c.call(request(
        request_code::GET_EARLIEST_MSG_STORETIME,
        &[("topic", "Bulk"), ("queueId", "3")],
    ));
    assert!(header_i64(&earliest, "timestamp") > 0);
    drop(c);

    // SIGTERM and restart: committed offsets and every message are served again; a consumer
    // resumes from its committed offset and gets exactly the rest.
    let broker = broker.restart();
    let mut c = broker.connect();
    for q in 0..QUEUES {
        let from = committed(&mut c, "CG", "Bulk", q);
        assert_eq!(from, 625);
        let rest = drain_queue(&mut c, "Bulk", q, from);
        assert_eq!(rest, per_queue[usize::try_from(q).unwrap()][625..].to_vec());
        let all = drain_queue(&mut c, "Bulk", q, 0);
        assert_eq!(all, per_queue[usize::try_from(q).unwrap()]);
    }
    assert!(broker.terminate().success());
}

#[test]
fn long_polling_answers_at_once_on_arrival_and_empty_at_the_timeout() {
    let broker = Broker::start("d-poll", 2, &[]);
    let mut c = broker.connect();
    create_topic(&mut c, "Poll", 2, 6);
    // A held pull, answered when a matching message arrives (well before its 20 s timeout).
    let mut consumer = broker.connect();
    let started = Instant::now();
    let opaque = consumer.send(pull("CG", "Poll", 1, 0, 32, Some(20_000), "*"));
    assert!(
        consumer.recv_within(Duration::from_millis(300)).is_none(),
        "held, not answered"
    );
    let sent = c.call(send_v2("Poll", 1, b"wake", "T", &[]));
    assert_eq!(sent.code, response_code::SUCCESS);
    let resp = consumer
        .recv_within(Duration::from_secs(10))
        .expect("answered on arrival");
    assert_eq!(resp.opaque, opaque);
    assert_eq!(resp.code, response_code::SUCCESS);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "answered before the suspend timeout"
    );
    assert_eq!(records(&resp)[0].1, b"wake");
    // Nothing new: PULL_NOT_FOUND once the (short) suspend timeout passes, all four fields.
    let started = Instant::now();
    let resp = consumer.call(pull("CG", "Poll", 1, 1, 32, Some(500), "*"));
    assert_eq!(resp.code, response_code::PULL_NOT_FOUND);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(header_i64(&resp, "nextBeginOffset"), 1);
    assert_eq!(header_i64(&resp, "maxOffset"), 1);
    // Tag filtering: a TagB subscription skips TagA messages.
    c.call(send_v2("Poll", 0, b"a", "TagA", &[]));
    c.call(send_v2("Poll", 0, b"b", "TagB", &[]));
    let resp = consumer.call(pull("CG", "Poll", 0, 0, 32, None, "TagB"));
    assert_eq!(resp.code, response_code::SUCCESS);
    let got = records(&resp);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"b");
    assert_eq!(
        properties::get(&got[0].2, "CLUSTER"),
        Some("DefaultCluster")
    );
    assert_eq!(
        properties::get(&got[0].2, "WAIT"),
        None,
        "WAIT is not stored (4.9.8)"
    );
    // A held TagB pull stays held when only a TagA message arrives, and wakes for TagB.
    let opaque = consumer.send(pull("CG", "Poll", 0, 2, 32, Some(20_000), "TagB"));
    assert!(consumer.recv_within(Duration::from_millis(300)).is_none());
    c.call(send_v2("Poll", 0, b"c", "TagA", &[]));
    assert!(
        consumer.recv_within(Duration::from_millis(500)).is_none(),
        "a non-matching arrival does not answer a held pull"
    );
    c.call(send_v2("Poll", 0, b"d", "TagB", &[]));
    let resp = consumer
        .recv_within(Duration::from_secs(10))
        .expect("answered on a match");
    assert_eq!(resp.opaque, opaque);
    assert_eq!(resp.code, response_code::SUCCESS);
    let got = records(&resp);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, b"d");
    assert!(broker.terminate().success());
}

#[test]
fn a_held_pull_counts_against_the_in_flight_limit() {
    let broker = Broker::start("d-inflight", 1, &["--connectionInFlightRequestsMax=1"]);
    let mut c = broker.connect();
    create_topic(&mut c, "Held", 1, 6);
    let held = c.send(pull("CG", "Held", 0, 0, 32, Some(3_000), "*"));
    std::thread::sleep(Duration::from_millis(200));
    let busy = c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]));
    assert_eq!(busy.code, response_code::SYSTEM_BUSY);
    let resp = c.recv().expect("the held pull ends");
    assert_eq!(resp.opaque, held);
    assert_eq!(resp.code, response_code::PULL_NOT_FOUND);
    assert_eq!(
        c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[]))
            .code,
        response_code::SUCCESS
    );
    assert!(broker.terminate().success());
}

#[test]
fn sends_validate_auto_create_and_batch_like_java() {
    // Level 3 (a send-back's first retry) waits 1 s here instead of 10 s.
    let broker = Broker::start("d-send", 2, &["--messageDelayLevel=1s 1s 1s"]);
    let mut c = broker.connect();
    // Auto-create from TBW102: min(defaultTopicQueueNums 4, 8) queues, perm 6.
    let r = c.call(send_v2("AutoTopic", -1, b"x", "T", &[]));
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    let topics = body_text(&c.call(request(request_code::GET_ALL_TOPIC_CONFIG, &[])));
    assert!(
        topics.contains("\"AutoTopic\":{\"order\":false,\"perm\":6,\"readQueueNums\":4"),
        "{topics}"
    );
    // Unknown default topic: TOPIC_NOT_EXIST.
    let r = c.call(send_v2("NoDefault", 0, b"x", "T", &[("c", "NOPE")]));
    assert_eq!(r.code, response_code::TOPIC_NOT_EXIST);
    // Bad names, forbidden topics, read-only topics, bad queue ids, bad headers.
    assert_eq!(
        c.call(send_v2("bad topic", 0, b"x", "T", &[])).code,
        response_code::INVALID_PARAMETER
    );
    assert_eq!(
        c.call(send_v2("SCHEDULE_TOPIC_XXXX", 0, b"x", "T", &[]))
            .code,
        response_code::NO_PERMISSION
    );
    create_topic(&mut c, "ReadOnly", 2, 4);
    assert_eq!(
        c.call(send_v2("ReadOnly", 0, b"x", "T", &[])).code,
        response_code::NO_PERMISSION
    );
    assert_eq!(
        c.call(send_v2("AutoTopic", 99, b"x", "T", &[])).code,
        response_code::INVALID_PARAMETER
    );
    assert_eq!(
        c.call(request(request_code::SEND_MESSAGE_V2, &[("b", "T")]))
            .code,
        response_code::SYSTEM_ERROR
    );
    // Pull errors: unknown topic, queue out of range, no registered subscription.
    assert_eq!(
        c.call(pull("CG", "Nope", 0, 0, 32, None, "*")).code,
        response_code::TOPIC_NOT_EXIST
    );
    assert_eq!(
        c.call(pull("CG", "AutoTopic", 9, 0, 32, None, "*")).code,
        response_code::INVALID_PARAMETER
    );
    let mut no_sub = pull("CG", "AutoTopic", 0, 0, 32, None, "*");
    no_sub.ext_fields.insert("sysFlag", "0");
    assert_eq!(c.call(no_sub).code, response_code::SUBSCRIPTION_NOT_EXIST);

    // A batch (320): one reply, comma-joined msgIds, consecutive queue offsets.
    create_topic(&mut c, "Batch", 1, 6);
    let mut body = Vec::new();
    let props: Vec<String> = (0..3)
        .map(|i| properties::encode([("TAGS", "T"), ("KEYS", &format!("k{i}"))]))
        .collect();
    encode_batch(
        (0..3).map(|i| BatchEntry {
            flag: 0,
            body: b"batched",
            properties: &props[i],
        }),
        &mut body,
    )
    .unwrap();
    let mut batch = send_v2("Batch", 0, &body, "T", &[]);
    batch.code = request_code::SEND_BATCH_MESSAGE;
    let r = c.call(batch);
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    assert_eq!(r.ext_fields.get("msgId").unwrap().split(',').count(), 3);
    assert_eq!(header_i64(&r, "queueOffset"), 0);
    // C++ 1.x "batch":"1" on code 10 is NOT a batch: stored as one message.
    let props = properties::encode([("TAGS", "T")]);
    let cpp = request(
        request_code::SEND_MESSAGE,
        &[
            ("producerGroup", "PG"),
            ("topic", "Batch"),
            ("defaultTopic", "TBW102"),
            ("defaultTopicQueueNums", "4"),
            ("queueId", "0"),
            ("sysFlag", "0"),
            ("bornTimestamp", "1700000000000"),
            ("flag", "0"),
            ("properties", &props),
            ("batch", "1"),
        ],
    )
    .with_body(body.clone());
    let r = c.call(cpp);
    assert_eq!(r.code, response_code::SUCCESS);
    let cpp_msg_id = r.ext_fields.get("msgId").unwrap().to_string();
    assert_eq!(header_i64(&r, "queueOffset"), 3);
    assert_eq!(r.ext_fields.get("msgId").unwrap().len(), 32);
    let all = records(&c.call(pull("CG", "Batch", 0, 0, 32, None, "*")));
    assert_eq!(all.len(), 4);
    assert_eq!(all[3].1, body);

    // VIEW_MESSAGE_BY_ID with the offset from the C++ send's msgId.
    let (_, phys) =
        rmq_protocol::message::id::decode_offset_msg_id(r.ext_fields.get("msgId").unwrap())
            .unwrap();
    let view = c.call(request(
        request_code::VIEW_MESSAGE_BY_ID,
        &[("offset", &phys.to_string())],
    ));
    assert_eq!(view.code, response_code::SUCCESS, "{:?}", view.remark);
    let record = RecordView::parse(view.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        (record.topic(), record.queue_offset(), record.body()),
        ("Batch", 3, body.as_slice())
    );
    let missing = c.call(request(
        request_code::VIEW_MESSAGE_BY_ID,
        &[("offset", &(phys + 1).to_string())],
    ));
    assert_eq!(missing.code, response_code::SYSTEM_ERROR);
    // QUERY_MESSAGE by key (the batch's inner messages carry KEYS k0..k2).
    let q = c.call(request(
        request_code::QUERY_MESSAGE,
        &[
            ("topic", "Batch"),
            ("key", "k1"),
            ("maxNum", "32"),
            ("beginTimestamp", "0"),
            ("endTimestamp", &i64::MAX.to_string()),
        ],
    ));
    assert_eq!(q.code, response_code::SUCCESS, "{:?}", q.remark);
    let found = records(&q);
    assert_eq!(found.len(), 1);
    assert_eq!(properties::get(&found[0].2, "KEYS"), Some("k1"));
    let q = c.call(request(
        request_code::QUERY_MESSAGE,
        &[
            ("topic", "Batch"),
            ("key", "nope"),
            ("maxNum", "32"),
            ("beginTimestamp", "0"),
            ("endTimestamp", &i64::MAX.to_string()),
        ],
    ));
    assert_eq!(q.code, response_code::QUERY_NOT_FOUND);
    // Topic and consume stats (object-keyed maps).
    let stats = c.call(request(
        request_code::GET_TOPIC_STATS_INFO,
        &[("topic", "Batch")],
    ));
    assert_eq!(stats.code, response_code::SUCCESS, "{:?}", stats.remark);
    let stats = body_text(&stats);
    assert!(
        stats.starts_with(
            "{\"offsetTable\":{{\"brokerName\":\"broker-it\",\"queueId\":0,\"topic\":\"Batch\"}:{"
        ),
        "{stats}"
    );
    assert!(stats.contains("\"maxOffset\":4,\"minOffset\":0"), "{stats}");
    assert_eq!(
        c.call(request(
            request_code::GET_TOPIC_STATS_INFO,
            &[("topic", "Nope")]
        ))
        .code,
        response_code::TOPIC_NOT_EXIST
    );
    commit(&mut c, "CG", "Batch", 0, 2);
    let cs = c.call(request(
        request_code::GET_CONSUME_STATS,
        &[("consumerGroup", "CG")],
    ));
    assert_eq!(cs.code, response_code::SUCCESS);
    let text = body_text(&cs);
    assert!(
        text.contains("\"brokerOffset\":4,\"consumerOffset\":2,\"lastTimestamp\":"),
        "{text}"
    );
    assert!(!text.contains("\"lastTimestamp\":0,"), "{text}");

    // %RETRY%<group> past maxReconsumeTimes goes to %DLQ%<group>.
    let hb = "{\"clientID\":\"c1\",\"consumerDataSet\":[{\"groupName\":\"DG\",\"consumeType\":\"CONSUME_PASSIVELY\",\"messageModel\":\"CLUSTERING\",\"consumeFromWhere\":\"CONSUME_FROM_LAST_OFFSET\",\"subscriptionDataSet\":[]}],\"producerDataSet\":[]}";
    let (r, _) =
        c.call_collecting(request(request_code::HEART_BEAT, &[]).with_body(hb.as_bytes().to_vec()));
    assert_eq!(r.code, response_code::SUCCESS);
    let (r, _) = c.call_collecting(send_v2(
        "%RETRY%DG",
        0,
        b"retry-1",
        "T",
        &[("j", "1"), ("l", "16")],
    ));
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    let (r, _) = c.call_collecting(send_v2(
        "%RETRY%DG",
        0,
        b"dead",
        "T",
        &[("j", "16"), ("l", "16")],
    ));
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    let (dlq, _) = c.call_collecting(pull("DG", "%DLQ%DG", 0, 0, 32, None, "*"));
    assert_eq!(dlq.code, response_code::SUCCESS, "{:?}", dlq.remark);
    let dead = records(&dlq);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1, b"dead");

    // CONSUMER_SEND_MSG_BACK: a copy in %RETRY%DG with reconsumeTimes + 1 and RETRY_TOPIC;
    // at maxReconsumeTimes it goes to %DLQ%DG instead.
    let (_, phys) = rmq_protocol::message::id::decode_offset_msg_id(&cpp_msg_id).unwrap();
    let back = |c: &mut Client, max: &str| {
        c.call_collecting(request(
            request_code::CONSUMER_SEND_MSG_BACK,
            &[
                ("offset", &phys.to_string()),
                ("group", "DG"),
                ("delayLevel", "0"),
                ("maxReconsumeTimes", max),
            ],
        ))
        .0
    };
    assert_eq!(back(&mut c, "16").code, response_code::SUCCESS);
    // The copy waits out delay level 3 (3 + reconsumeTimes 0) in the schedule topic first.
    let mut retry = None;
    assert!(
        common::eventually(Duration::from_secs(30), || {
            let (r, _) = c.call_collecting(pull("DG", "%RETRY%DG", 0, 1, 32, None, "*"));
            let found = r.code == response_code::SUCCESS;
            retry = found.then_some(r);
            found
        }),
        "the send-back copy never left the schedule topic"
    );
    let retry = retry.unwrap();
    let copy = RecordView::parse(retry.body.as_deref().unwrap()).unwrap();
    assert_eq!(copy.body(), body.as_slice());
    assert_eq!(copy.reconsume_times(), 1);
    assert_eq!(
        properties::get(copy.properties(), "RETRY_TOPIC"),
        Some("Batch")
    );
    assert_eq!(properties::get(copy.properties(), "DELAY"), None);
    assert_eq!(
        properties::get(copy.properties(), "REAL_TOPIC"),
        Some("%RETRY%DG")
    );
    let (held, _) = c.call_collecting(pull("DG", "SCHEDULE_TOPIC_XXXX", 2, 0, 32, None, "*"));
    assert_eq!(held.code, response_code::SUCCESS, "{:?}", held.remark);
    let held = RecordView::parse(held.body.as_deref().unwrap()).unwrap();
    assert_eq!(properties::get(held.properties(), "DELAY"), Some("3"));
    assert!(copy.store_timestamp() >= held.store_timestamp() + 1000);
    assert_eq!(back(&mut c, "0").code, response_code::SUCCESS);
    let (dlq, _) = c.call_collecting(pull("DG", "%DLQ%DG", 0, 1, 32, None, "*"));
    assert_eq!(dlq.code, response_code::SUCCESS, "{:?}", dlq.remark);
    let bad = c.call_collecting(request(
        request_code::CONSUMER_SEND_MSG_BACK,
        &[
            ("offset", &(phys + 1).to_string()),
            ("group", "DG"),
            ("delayLevel", "0"),
        ],
    ));
    assert_eq!(bad.0.code, response_code::SYSTEM_ERROR);

    // A new group on a queue whose first message is in memory starts at 0 (C++ rule).
    let q = c.call(request(
        request_code::QUERY_CONSUMER_OFFSET,
        &[
            ("consumerGroup", "Fresh"),
            ("topic", "Batch"),
            ("queueId", "0"),
        ],
    ));
    assert_eq!(q.code, response_code::SUCCESS);
    assert_eq!(header_i64(&q, "offset"), 0);
    let search = c.call(request(
        request_code::SEARCH_OFFSET_BY_TIMESTAMP,
        &[("topic", "Batch"), ("queueId", "0"), ("timestamp", "0")],
    ));
    assert_eq!(search.code, response_code::SUCCESS);
    assert_eq!(header_i64(&search, "offset"), 0);
    assert!(broker.terminate().success());
}

#[test]
fn runtime_info_counts_puts_and_gets_and_consume_stats_report_pull_offsets() {
    use rmq_protocol::body::{ConsumeStats, JsonBody, KVTable};
    let broker = Broker::start("d-stats", 2, &[]);
    let mut c = broker.connect();
    create_topic(&mut c, "Stats", 4, 6);
    for q in 0..4 {
        for i in 0..5 {
            let r = c.call(send_v2("Stats", q, format!("m{i}").as_bytes(), "T", &[]));
            assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
        }
    }
    let r = c.call(pull("SG", "Stats", 0, 0, 3, None, "*"));
    assert_eq!(records(&r).len(), 3);
    let r = c.call(pull("SG", "Stats", 1, 0, 32, None, "*"));
    assert_eq!(records(&r).len(), 5);
    commit(&mut c, "SG", "Stats", 0, 1);

    let info = c.call(request(request_code::GET_BROKER_RUNTIME_INFO, &[]));
    assert_eq!(info.code, response_code::SUCCESS);
    let table = KVTable::decode(info.body.as_deref().unwrap_or_default())
        .expect("a KVTable")
        .table;
    let get = |k: &str| table.get(k).cloned().unwrap_or_else(|| panic!("no {k}"));
    // The queues are spread over both shards: the totals are summed.
    assert_eq!(get("msgPutTotalTodayNow"), "20");
    assert_eq!(get("msgGetTotalTodayNow"), "8");
    for key in ["putTps", "getTransferedTps", "getTransferredTps"] {
        let rates: Vec<f64> = get(key)
            .split(' ')
            .map(|v| v.parse().expect("a number"))
            .collect();
        assert_eq!(rates.len(), 3, "{key}");
        // The 600 s window covers the whole test.
        assert!(rates[2] > 0.0, "{key} = {rates:?}");
    }
    let morning: u64 = get("msgPutTotalTodayMorning").parse().expect("a number");
    assert!(morning <= 20);

    let cs = c.call(request(
        request_code::GET_CONSUME_STATS,
        &[("consumerGroup", "SG"), ("topic", "Stats")],
    ));
    assert_eq!(cs.code, response_code::SUCCESS);
    let stats = ConsumeStats::decode(cs.body.as_deref().unwrap_or_default()).expect("stats");
    let by_queue: BTreeMap<i32, (i64, i64, i64)> = stats
        .offset_table
        .iter()
        .map(|(mq, o)| {
            (
                mq.queue_id,
                (o.broker_offset, o.consumer_offset, o.pull_offset),
            )
        })
        .collect();
    assert_eq!(by_queue.get(&0), Some(&(5, 1, 3)));
    assert_eq!(by_queue.get(&1), Some(&(5, 0, 5)));
    assert_eq!(by_queue.get(&2), Some(&(5, 0, 0)));
    assert!(broker.terminate().success());
}

/// A SEND_MESSAGE_V2 of one message with delay level `level` to `topic` queue 0.
fn send_delayed(topic: &str, body: &[u8], level: &str, uniq: &str) -> RemotingCommand {
    let props = properties::encode([
        ("TAGS", "T"),
        ("DELAY", level),
        ("UNIQ_KEY", uniq),
        ("WAIT", "true"),
    ]);
    send_v2_with_properties(topic, 0, body, &props, &[])
}

/// The records of `topic` queue 0 from `offset`, waiting (bounded) until there are `n`.
fn wait_for_records(c: &mut Client, topic: &str, n: usize) -> Vec<(i64, Vec<u8>, String)> {
    let mut got = Vec::new();
    common::eventually(Duration::from_secs(30), || {
        let (r, _) = c.call_collecting(pull("LG", topic, 0, 0, 32, None, "*"));
        got = if r.code == response_code::SUCCESS {
            records(&r)
        } else {
            Vec::new()
        };
        got.len() >= n
    });
    got
}

#[test]
fn delayed_messages_wait_their_level_then_reach_their_queue_once_across_a_restart() {
    let broker = Broker::start("d-delay", 2, &["--messageDelayLevel=1s 2s"]);
    let mut c = broker.connect();
    create_topic(&mut c, "Later", 4, 6);
    let r = c.call(send_delayed("Later", b"first", "2", "U1"));
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    // Java answers with the queue the producer chose, not the schedule queue.
    assert_eq!(header_i64(&r, "queueId"), 0);
    // A delayed batch is MESSAGE_ILLEGAL, as upstream's putMessages.
    let props = properties::encode([("DELAY", "1"), ("WAIT", "true")]);
    let mut batch = Vec::new();
    encode_batch(
        [BatchEntry {
            flag: 0,
            body: b"b",
            properties: "TAGS\u{1}T\u{2}",
        }],
        &mut batch,
    )
    .unwrap();
    let mut delayed_batch = send_v2_with_properties("Later", 0, &batch, &props, &[("m", "true")]);
    delayed_batch.code = request_code::SEND_BATCH_MESSAGE;
    let r = c.call(delayed_batch);
    assert_eq!(r.code, response_code::MESSAGE_ILLEGAL, "{:?}", r.remark);

    let delivered = wait_for_records(&mut c, "Later", 1);
    assert_eq!(delivered.len(), 1, "the delayed message never arrived");
    let (offset, body, props) = &delivered[0];
    assert_eq!((*offset, body.as_slice()), (0, b"first".as_slice()));
    assert_eq!(properties::get(props, "UNIQ_KEY"), Some("U1"));
    assert_eq!(properties::get(props, "DELAY"), None);
    assert_eq!(properties::get(props, "REAL_TOPIC"), Some("Later"));
    assert_eq!(properties::get(props, "REAL_QID"), Some("0"));
    let (held, _) = c.call_collecting(pull("LG", "SCHEDULE_TOPIC_XXXX", 1, 0, 32, None, "*"));
    assert_eq!(held.code, response_code::SUCCESS, "{:?}", held.remark);
    let held = RecordView::parse(held.body.as_deref().unwrap()).unwrap();
    let (later, _) = c.call_collecting(pull("LG", "Later", 0, 0, 1, None, "*"));
    let later = RecordView::parse(later.body.as_deref().unwrap()).unwrap();
    assert!(
        later.store_timestamp() >= held.store_timestamp() + 2000,
        "delivered {} ms after it was stored, level 2 is 2 s",
        later.store_timestamp() - held.store_timestamp()
    );

    // GET_ALL_DELAY_OFFSET gathers every level's next offset from the shards that own them.
    let mut table = String::new();
    let moved_on = common::eventually(Duration::from_secs(10), || {
        table = body_text(&c.call(request(request_code::GET_ALL_DELAY_OFFSET, &[])));
        table == "{\"offsetTable\":{2:1}}"
    });
    assert!(moved_on, "delay offsets {table}");

    // Delivery progress survives a restart: the first message is not delivered again. The
    // level is first-in first-out, so once the second one arrives any repeat would be there.
    let broker = broker.restart();
    let mut c = broker.connect();
    let r = c.call(send_delayed("Later", b"second", "2", "U2"));
    assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    let delivered = wait_for_records(&mut c, "Later", 2);
    let bodies: Vec<&[u8]> = delivered.iter().map(|(_, b, _)| b.as_slice()).collect();
    assert_eq!(bodies, [b"first".as_slice(), b"second".as_slice()]);
    assert!(broker.terminate().success());
}
