#![recursion_limit = "512"]
//! Scenario driver for the crates.io client `rocketmq-client-rust` 1.0.0, used as published.
//!
//! `rmq-real-client-rust <scenario>` runs one scenario (s1 s3 s4 s5 s6 s7 s8, see ../README.md)
//! against the NameServer in `$NAMESRV` and appends what happened as JSON lines to `$EVENTS`:
//! one `send` event per send, one `recv` event per delivered message, `mark` events between
//! phases. It judges nothing: `../check.py` turns the events into PASS/FAIL lines, so the
//! verdict logic is the same for every client. Every wait is bounded by `$DEADLINE_SECS`, and a
//! watchdog thread exits the process if the client hangs.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rocketmq_client_rust::{
    ClientConfig, ClientError, ClientResult, ClientRuntime, ClientRuntimeConfig,
    ConsumeConcurrentlyContext, ConsumeConcurrentlyStatus, DefaultMQProducer,
    DefaultMQPushConsumer, MQPushConsumer, MessageListenerConcurrently,
};
use rocketmq_model::common::consumer::consume_from_where::ConsumeFromWhere;
use rocketmq_model::common::message::message_ext::MessageExt;
use rocketmq_model::common::message::message_queue::MessageQueue;
use rocketmq_model::common::message::message_single::Message;
use rocketmq_model::result::{SendResult, SendStatus};
use rocketmq_protocol::protocol::heartbeat::message_model::MessageModel;
use rocketmq_runtime::{RuntimeConfig, RuntimeOwner};
use serde_json::{json, Value};

/// Everything a scenario needs from the environment, plus the event sink.
struct Ctx {
    scenario: String,
    namesrv: String,
    topic: String,
    group: String,
    run: String,
    deadline: Instant,
    events: Mutex<File>,
    rt: Arc<ClientRuntime>,
}

impl Ctx {
    fn emit(&self, ev: &Value) {
        let mut ev = ev.clone();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        ev["t"] = json!(u64::try_from(now.as_millis()).unwrap_or(u64::MAX));
        let mut f = self.events.lock().expect("event sink poisoned");
        // A lost event shows up as a FAIL in check.py; nothing more to do here.
        let _ = writeln!(f, "{ev}");
        let _ = f.flush();
    }

    fn body_of(&self, kind: &str, i: usize) -> String {
        format!("{}-{kind}-{i}-{}", self.scenario, self.run)
    }

    fn left(&self) -> bool {
        Instant::now() < self.deadline
    }

    fn message(&self, kind: &str, i: usize, tags: &str, body: Option<Vec<u8>>) -> Message {
        let body = body.unwrap_or_else(|| self.body_of(kind, i).into_bytes());
        Message::builder()
            .topic(self.topic.as_str())
            .tags(tags)
            .key(format!("k-{i}"))
            .raw_property("idx", i.to_string())
            .expect("idx is a legal user property name")
            .body_slice(&body)
            .build_unchecked()
    }

    fn send_event(&self, kind: &str, i: usize, r: Result<Option<&SendResult>, String>) {
        let ev = match r {
            Ok(Some(r)) => json!({"ev": "send", "kind": kind, "i": i,
                "ok": r.send_status == SendStatus::SendOk, "status": format!("{:?}", r.send_status),
                "msgId": r.msg_id.as_ref().map(ToString::to_string),
                "offsetMsgId": r.offset_msg_id,
                "queueId": r.message_queue.as_ref().map(MessageQueue::queue_id),
                "queueOffset": r.queue_offset}),
            Ok(None) => json!({"ev": "send", "kind": kind, "i": i, "ok": false, "err": "no SendResult"}),
            Err(e) => json!({"ev": "send", "kind": kind, "i": i, "ok": false, "err": e}),
        };
        self.emit(&ev);
    }

    async fn producer(&self) -> ClientResult<DefaultMQProducer> {
        let mut p = DefaultMQProducer::builder(self.rt.clone())
            .producer_group(format!("{}_pg", self.group))
            .name_server_addr(self.namesrv.clone())
            .build();
        p.start().await?;
        Ok(p)
    }

    async fn sync_send(&self, p: &DefaultMQProducer, kind: &str, i: usize, tags: &str, body: Option<Vec<u8>>) {
        let r = p.send_with_timeout(self.message(kind, i, tags, body), 5000).await;
        self.send_event(kind, i, r.as_ref().map(Option::as_ref).map_err(ToString::to_string));
    }
}

/// Deterministic printable body of `size` bytes (the same generator in every driver).
fn pattern_body(size: usize) -> Vec<u8> {
    let mut x = size as u32;
    (0..size)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            97 + ((x >> 16) % 26) as u8
        })
        .collect()
}

/// Records every delivery of one push consumer.
struct Recorder {
    name: String,
    ctx: Arc<Ctx>,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl MessageListenerConcurrently for Recorder {
    fn consume_message(
        &self,
        msgs: &[&MessageExt],
        _context: &ConsumeConcurrentlyContext,
    ) -> ClientResult<ConsumeConcurrentlyStatus> {
        for m in msgs {
            let props = m.properties();
            let prop = |k: &str| props.get(k).map(ToString::to_string).unwrap_or_default();
            let body = m.body().map(|b| b.to_vec()).unwrap_or_default();
            let mut ev = json!({"ev": "recv", "c": self.name, "tags": prop("TAGS"), "keys": prop("KEYS"),
                "idx": prop("idx"), "queueId": m.queue_id(), "queueOffset": m.queue_offset(),
                "msgId": m.msg_id().to_string(), "clOffset": m.commit_log_offset()});
            let key = if self.ctx.scenario == "s8" {
                let i: usize = prop("idx").parse().unwrap_or(0);
                ev["i"] = json!(i);
                ev["len"] = json!(body.len());
                ev["bodyOk"] = json!(body == pattern_body(i));
                i.to_string()
            } else {
                let text = String::from_utf8_lossy(&body).into_owned();
                ev["body"] = json!(text);
                text
            };
            *self.seen.lock().expect("seen poisoned").entry(key).or_insert(0) += 1;
            self.ctx.emit(&ev);
        }
        Ok(ConsumeConcurrentlyStatus::ConsumeSuccess)
    }
}

struct Running {
    name: String,
    consumer: DefaultMQPushConsumer,
    seen: Arc<Mutex<HashMap<String, usize>>>,
}

impl Running {
    fn count(&self, prefix: &str) -> usize {
        self.seen.lock().expect("seen poisoned").keys().filter(|k| k.starts_with(prefix)).count()
    }

    async fn stop(mut self, ctx: &Ctx) {
        self.consumer.shutdown().await;
        ctx.emit(&json!({"ev": "mark", "name": format!("{}-stopped", self.name)}));
    }
}

async fn start_consumer(
    ctx: &Arc<Ctx>,
    name: &str,
    expression: &str,
    group: Option<String>,
    model: MessageModel,
) -> ClientResult<Running> {
    // A distinct instance name per consumer: two consumers in one process are two clients to
    // the broker, and broadcast offsets are kept per instance name (real-clients Q7).
    let config = ClientConfig::builder()
        .instance_name(format!("{name}_{}", std::process::id()))
        .build_unvalidated();
    let mut consumer = DefaultMQPushConsumer::builder(ctx.rt.clone())
        .client_config(config)
        .consumer_group(group.unwrap_or_else(|| ctx.group.clone()))
        .name_server_addr(ctx.namesrv.clone())
        .message_model(model)
        .consume_from_where(ConsumeFromWhere::ConsumeFromFirstOffset)
        .build();
    consumer.subscribe(ctx.topic.as_str(), expression).await?;
    let seen = Arc::new(Mutex::new(HashMap::new()));
    consumer.register_message_listener_concurrently(Recorder { name: name.to_string(), ctx: ctx.clone(), seen: seen.clone() });
    consumer.start().await?;
    Ok(Running { name: name.to_string(), consumer, seen })
}

async fn wait_until(ctx: &Ctx, pred: impl Fn() -> bool) {
    while !pred() && ctx.left() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mark(ctx: &Ctx, name: &str) {
    ctx.emit(&json!({"ev": "mark", "name": name}));
}

async fn s1(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 1000;
    let mut p = ctx.producer().await?;
    for i in 0..n {
        if !ctx.left() {
            break;
        }
        ctx.sync_send(&p, "sync", i, "TagA", None).await;
    }
    p.shutdown().await;
    let c = start_consumer(ctx, "c1", "*", None, MessageModel::Clustering).await?;
    wait_until(ctx, || c.count("") >= n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop(ctx).await;
    Ok(())
}

async fn s3(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 300;
    let mut p = ctx.producer().await?;
    for i in 0..n {
        ctx.sync_send(&p, "sync", i, ["TagA", "TagB", "TagC"][i % 3], None).await;
    }
    p.shutdown().await;
    // No spaces: 1.0.0 hashes the untrimmed tags for codeSet (real-clients Q2).
    let c = start_consumer(ctx, "c1", "TagA||TagB", None, MessageModel::Clustering).await?;
    wait_until(ctx, || c.count("") >= 2 * n / 3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop(ctx).await;
    Ok(())
}

async fn s4(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 100;
    let c1 = start_consumer(ctx, "c1", "*", None, MessageModel::Clustering).await?;
    let c2 = start_consumer(ctx, "c2", "*", None, MessageModel::Clustering).await?;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut p = ctx.producer().await?;
    mark(ctx, "phase1");
    for i in 0..n {
        ctx.sync_send(&p, "p1", i, "TagA", None).await;
    }
    wait_until(ctx, || c1.count("") + c2.count("") >= n).await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    c2.stop(ctx).await;
    mark(ctx, "phase2");
    for i in 0..n {
        ctx.sync_send(&p, "p2", i, "TagA", None).await;
    }
    p.shutdown().await;
    wait_until(ctx, || c1.count("s4-p2-") >= n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c1.stop(ctx).await;
    Ok(())
}

async fn s5(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 100;
    let keep: u64 = std::env::var("KEEP_RUNNING_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut p = ctx.producer().await?;
    for i in 0..n {
        ctx.sync_send(&p, "a", i, "TagA", None).await;
    }
    mark(ctx, "run1");
    let r1 = start_consumer(ctx, "run1", "*", None, MessageModel::Clustering).await?;
    wait_until(ctx, || r1.count("") >= n).await;
    tokio::time::sleep(Duration::from_secs(keep)).await;
    r1.stop(ctx).await;
    for i in 0..n {
        ctx.sync_send(&p, "b", i, "TagA", None).await;
    }
    p.shutdown().await;
    mark(ctx, "run2");
    let r2 = start_consumer(ctx, "run2", "*", None, MessageModel::Clustering).await?;
    wait_until(ctx, || r2.count("") >= n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    r2.stop(ctx).await;
    mark(ctx, "fresh");
    let fresh = start_consumer(ctx, "fresh", "*", Some(format!("{}_fresh", ctx.group)), MessageModel::Clustering).await?;
    wait_until(ctx, || fresh.count("") >= 2 * n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    fresh.stop(ctx).await;
    Ok(())
}

async fn s6(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 50;
    let mut p = ctx.producer().await?;
    for i in 0..n {
        ctx.sync_send(&p, "sync", i, "TagA", None).await;
    }
    let acked = Arc::new(Mutex::new(0usize));
    for i in 0..2 * n {
        let (cb_ctx, cb_acked) = (ctx.clone(), acked.clone());
        let r = p
            .send_with_callback(ctx.message("async", i, "TagA", None), move |res, err| {
                match (res, err) {
                    (_, Some(e)) => cb_ctx.send_event("async", i, Err(e.to_string())),
                    (res, None) => cb_ctx.send_event("async", i, Ok(res)),
                }
                *cb_acked.lock().expect("acked poisoned") += 1;
            })
            .await;
        if let Err(e) = r {
            ctx.send_event("async", i, Err(e.to_string()));
            *acked.lock().expect("acked poisoned") += 1;
        }
    }
    wait_until(ctx, || *acked.lock().expect("acked poisoned") >= 2 * n).await;
    for i in 0..2 * n {
        match p.send_oneway(ctx.message("oneway", i, "TagA", None)).await {
            Ok(()) => ctx.emit(&json!({"ev": "send", "kind": "oneway", "i": i, "ok": true})),
            Err(e) => ctx.send_event("oneway", i, Err(e.to_string())),
        }
    }
    // Batches of 10: SEND_BATCH_MESSAGE (320); the result's msgId is the comma-joined UNIQ_KEYs.
    for chunk in 0..(2 * n) / 10 {
        let msgs: Vec<Message> = (chunk * 10..chunk * 10 + 10).map(|i| ctx.message("batch", i, "TagA", None)).collect();
        let r = p.send_batch(msgs).await;
        for i in chunk * 10..chunk * 10 + 10 {
            ctx.send_event("batch", i, r.as_ref().map(Some).map_err(ToString::to_string));
        }
    }
    for i in 0..n {
        let r = p
            .send_with_selector(
                ctx.message("ordered", i, "TagA", None),
                |mqs: &[MessageQueue], _m: &Message, arg: &usize| mqs.get(*arg % mqs.len().max(1)).cloned(),
                1usize,
            )
            .await;
        ctx.send_event("ordered", i, r.as_ref().map(Option::as_ref).map_err(ToString::to_string));
    }
    p.shutdown().await;
    let expected = n + 2 * n + 2 * n + 2 * n + n;
    let c = start_consumer(ctx, "c1", "*", None, MessageModel::Clustering).await?;
    wait_until(ctx, || c.count("") >= expected).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop(ctx).await;
    Ok(())
}

async fn s7(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let n = 100;
    let c1 = start_consumer(ctx, "c1", "*", None, MessageModel::Broadcasting).await?;
    let c2 = start_consumer(ctx, "c2", "*", None, MessageModel::Broadcasting).await?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut p = ctx.producer().await?;
    for i in 0..n {
        ctx.sync_send(&p, "sync", i, "TagA", None).await;
    }
    p.shutdown().await;
    wait_until(ctx, || c1.count("") >= n && c2.count("") >= n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c1.stop(ctx).await;
    c2.stop(ctx).await;
    Ok(())
}

async fn s8(ctx: &Arc<Ctx>) -> ClientResult<()> {
    let sizes: Vec<usize> = std::env::var("S8_SIZES")
        .unwrap_or_else(|_| "5000,100000,300000,3000000".into())
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    let mut p = ctx.producer().await?;
    for &size in &sizes {
        ctx.sync_send(&p, "big", size, "TagA", Some(pattern_body(size))).await;
    }
    p.shutdown().await;
    let c = start_consumer(ctx, "c1", "*", None, MessageModel::Clustering).await?;
    wait_until(ctx, || c.count("") >= sizes.len()).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.stop(ctx).await;
    Ok(())
}

fn env(key: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| panic!("{key} must be set (run through tools/real-clients/run.sh)"))
}

#[tokio::main]
async fn main() -> ClientResult<()> {
    let scenario = std::env::args().nth(1).unwrap_or_default();
    let secs: u64 = std::env::var("DEADLINE_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(90);
    let events = OpenOptions::new().create(true).append(true).open(env("EVENTS")).expect("open $EVENTS");

    let owner = RuntimeOwner::plan(RuntimeConfig { thread_name: "rmq-real-client".into(), ..Default::default() })
        .expect("runtime config")
        .build()
        .map_err(|e| ClientError::internal("runtime", e))?;
    let telemetry = rocketmq_observability::install_global(&rocketmq_observability::TelemetryBootstrapConfig::default())
        .map_err(|e| ClientError::internal("telemetry", e))?;
    let rt = ClientRuntime::try_new(owner.root_context().component("client"), ClientRuntimeConfig::default(), telemetry.handle())?;

    let ctx = Arc::new(Ctx {
        scenario: scenario.clone(),
        namesrv: env("NAMESRV"),
        topic: env("TOPIC"),
        group: env("GROUP"),
        run: env("RUN_ID"),
        deadline: Instant::now() + Duration::from_secs(secs),
        events: Mutex::new(events),
        rt,
    });
    let watchdog_ctx = ctx.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs + 20));
        watchdog_ctx.emit(&json!({"ev": "mark", "name": "hard-timeout"}));
        std::process::exit(3);
    });
    let result = match scenario.as_str() {
        "s1" => s1(&ctx).await,
        "s3" => s3(&ctx).await,
        "s4" => s4(&ctx).await,
        "s5" => s5(&ctx).await,
        "s6" => s6(&ctx).await,
        "s7" => s7(&ctx).await,
        "s8" => s8(&ctx).await,
        other => {
            eprintln!("unknown scenario {other}");
            std::process::exit(2);
        }
    };
    match result {
        Ok(()) => {
            mark(&ctx, "done");
            std::process::exit(0);
        }
        Err(e) => {
            ctx.emit(&json!({"ev": "error", "err": e.to_string()}));
            std::process::exit(1);
        }
    }
}
