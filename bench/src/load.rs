//! The load drivers behind `rmq-bench produce`, `consume` and `e2e`.
//!
//! Threads: `--threads` OS threads, each running one glommio executor with its own client
//! (connection pool, producer or consumer), so the load spreads over the cores without any
//! cross-thread state but the counters in [`crate::stats`].
//!
//! Send modes: `sync` runs `connections x in-flight` workers per thread, each sending and
//! waiting in turn; `async` issues [`Producer::send_async`] under a window of the same size
//! (batches use the worker form, which is the same on the wire); `oneway` sends without
//! answers, so only throughput is measured.
//!
//! End-to-end latency: with `--e2e` (and in `e2e` mode) the first 16 bytes of each body are a
//! marker and the send time in microseconds since the epoch; the consumer records
//! `receive time - send time`.

use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rmq_client::admin::Admin;
use rmq_client::consumer::{
    ConcurrentlyStatus, ConsumeFrom, Listener, PushConsumer, PushConsumerConfig,
};
use rmq_client::{ConnectionPool, Message, Producer, ProducerConfig, SendStatus};
use rmq_protocol::body::MessageModel;
use rmq_protocol::SerializeType;

use crate::stats::{report_live, Stats, Summary};

/// Marker at the start of a timestamped body.
pub const E2E_MARKER: &[u8; 8] = b"RMQBENCH";
/// Bytes of marker plus timestamp.
pub const E2E_HEADER_BYTES: usize = 16;

/// How a producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    /// Wait for each answer.
    Sync,
    /// Bounded window of outstanding sends.
    Async,
    /// No answers.
    Oneway,
}

impl SendMode {
    /// Name used in reports.
    pub const fn name(self) -> &'static str {
        match self {
            SendMode::Sync => "sync",
            SendMode::Async => "async",
            SendMode::Oneway => "oneway",
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// NameServer list.
    pub name_server: String,
    /// Topic.
    pub topic: String,
    /// Body bytes.
    pub msg_size: usize,
    /// Messages per send call.
    pub batch: usize,
    /// Connections (total, spread over threads).
    pub connections: usize,
    /// Requests in flight per connection.
    pub in_flight: usize,
    /// Send mode.
    pub mode: SendMode,
    /// The flush mode the broker is expected to run (a label in the report).
    pub flush: String,
    /// Measured duration (after warm-up), if bounded by time.
    pub duration: Option<Duration>,
    /// Messages to send or consume, if bounded by count.
    pub messages: Option<u64>,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// Tag for every message.
    pub tags: Option<String>,
    /// Key prefix: each message gets `prefix` + sequence number.
    pub keys: Option<String>,
    /// Load threads (executors).
    pub threads: usize,
    /// Producer / consumer group.
    pub group: String,
    /// Total send rate limit (messages per second).
    pub rate: Option<u64>,
    /// Consumers start from the first offset (else the last).
    pub from_first: bool,
    /// Messages per pull.
    pub pull_batch: i32,
    /// Stamp bodies with the send time.
    pub e2e: bool,
    /// Stop consuming after this long without a message (once one arrived).
    pub idle_exit: Option<Duration>,
    /// Create the topic on every master with this many queues first.
    pub create_topic_queues: Option<i32>,
    /// Header serialization of requests (JSON as Java clients by default, or ROCKETMQ binary).
    pub serialize_type: SerializeType,
}

/// Current wall-clock time in microseconds since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// The send time stamped in `body`, if it carries one.
pub fn stamped_time_us(body: &[u8]) -> Option<i64> {
    let head = body.get(..E2E_HEADER_BYTES)?;
    if &head[..8] != E2E_MARKER {
        return None;
    }
    let mut t = [0u8; 8];
    t.copy_from_slice(&head[8..16]);
    Some(i64::from_be_bytes(t))
}

fn body_template(size: usize) -> Bytes {
    // Printable filler so a human looking at a stored message sees what it is.
    Bytes::from(
        (0..size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn stamped(template: &Bytes) -> Bytes {
    let mut b = BytesMut::with_capacity(template.len());
    b.put_slice(E2E_MARKER);
    b.put_i64(now_us());
    b.put_slice(&template[E2E_HEADER_BYTES..]);
    b.freeze()
}

/// Shared between the threads of one run: the message budget and how many threads finished.
pub struct RunControl {
    budget: Option<AtomicU64>,
    finished: AtomicUsize,
    sequence: AtomicU64,
    failed: AtomicBool,
}

impl RunControl {
    /// Control for a run of at most `messages` (if given).
    pub fn new(messages: Option<u64>) -> Arc<Self> {
        Arc::new(RunControl {
            budget: messages.map(AtomicU64::new),
            finished: AtomicUsize::new(0),
            sequence: AtomicU64::new(0),
            failed: AtomicBool::new(false),
        })
    }

    /// Claim up to `n` messages from the budget: how many were granted (0 when it is used
    /// up), so the last batch of a run can be smaller than the others.
    pub fn claim(&self, n: u64) -> u64 {
        match &self.budget {
            None => n,
            Some(b) => match b.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left > 0).then(|| left - left.min(n))
            }) {
                Ok(left) => left.min(n),
                Err(_) => 0,
            },
        }
    }

    /// Threads that have finished.
    pub fn finished(&self) -> usize {
        self.finished.load(Ordering::SeqCst)
    }

    /// Whether a thread failed to start.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

fn executor_io_memory() -> usize {
    // glommio refuses below 512 KiB; 1 MiB stays under the default locked-memory limit.
    1024 * 1024
}

/// Spawn `threads` executors running `body(thread index)`.
fn spawn_threads<F, Fut>(
    threads: usize,
    control: &Arc<RunControl>,
    body: F,
) -> Vec<std::thread::JoinHandle<()>>
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + 'static,
{
    (0..threads)
        .map(|i| {
            let body = body.clone();
            let control = Arc::clone(control);
            std::thread::Builder::new()
                .name(format!("rmq-bench-{i}"))
                .spawn(move || {
                    let result = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                        .io_memory(executor_io_memory())
                        .make()
                        .map_err(|e| e.to_string())
                        .and_then(|ex| ex.run(body(i)));
                    if let Err(e) = result {
                        eprintln!("thread {i}: {e}");
                        control.failed.store(true, Ordering::SeqCst);
                    }
                    control.finished.fetch_add(1, Ordering::SeqCst);
                })
                .expect("spawn a load thread")
        })
        .collect()
}

fn message_for(opts: &LoadOptions, body: Bytes, control: &RunControl) -> Message {
    let mut m = Message::new(opts.topic.clone(), body);
    m.tags.clone_from(&opts.tags);
    if let Some(prefix) = &opts.keys {
        let seq = control.sequence.fetch_add(1, Ordering::Relaxed);
        m.keys = Some(format!("{prefix}{seq}"));
    }
    m
}

/// Paces one thread at `rate` messages per second (checked every millisecond).
struct Pacer {
    rate: Option<f64>,
    started: Instant,
    sent: Rc<std::cell::Cell<u64>>,
}

impl Pacer {
    async fn wait(&self, n: u64) {
        let Some(rate) = self.rate else { return };
        loop {
            let allowed = (self.started.elapsed().as_secs_f64() * rate) as u64;
            if self.sent.get() + n <= allowed.max(1) {
                self.sent.set(self.sent.get() + n);
                return;
            }
            glommio::timer::sleep(Duration::from_millis(1)).await;
        }
    }
}

async fn produce_thread(
    opts: Arc<LoadOptions>,
    stats: Arc<Stats>,
    control: Arc<RunControl>,
    index: usize,
) -> Result<(), String> {
    let threads = opts.threads.max(1);
    let connections = opts.connections.div_ceil(threads).max(1);
    let window = connections * opts.in_flight.max(1);
    let pool = Rc::new(ConnectionPool::with_serialize_type(
        connections,
        opts.serialize_type,
    ));
    let mut config = ProducerConfig::new(opts.group.clone(), opts.name_server.clone());
    config.async_in_flight_max = window;
    config.instance_name = format!("{}-{index}", std::process::id());
    let producer = Producer::new(config, pool).map_err(|e| e.to_string())?;
    producer.start();
    producer
        .route(&opts.topic)
        .await
        .map_err(|e| format!("route of {}: {e}", opts.topic))?;
    let template = body_template(opts.msg_size);
    let recorder_index = index;
    let pacer = Rc::new(Pacer {
        rate: opts.rate.map(|r| r as f64 / threads as f64),
        started: Instant::now(),
        sent: Rc::new(std::cell::Cell::new(0)),
    });
    let batch = opts.batch.max(1) as u64;
    let body_bytes = opts.msg_size as u64;
    let make_body = |template: &Bytes| {
        if opts.e2e {
            stamped(template)
        } else {
            template.clone()
        }
    };

    match opts.mode {
        SendMode::Async if batch == 1 => {
            while !stats.stopping() && control.claim(1) == 1 {
                pacer.wait(1).await;
                let body = make_body(&template);
                let stamp = stamped_time_us(&body);
                let msg = message_for(&opts, body, &control);
                let stats = Arc::clone(&stats);
                let started = Instant::now();
                producer
                    .send_async(msg, move |result| {
                        let r = stats.recorder(recorder_index);
                        match result {
                            // e2e: sent before the end of warm-up, not this run's traffic.
                            Ok(_) if stamp.is_some_and(|t| !stats.in_run(t)) => {}
                            Ok(res) => {
                                if res.status != SendStatus::SendOk {
                                    r.not_ok();
                                }
                                r.record(1, body_bytes, Some(started.elapsed()));
                            }
                            Err(_) => r.error(),
                        }
                    })
                    .await;
            }
            producer.wait_for_async_sends().await;
        }
        SendMode::Oneway => {
            while !stats.stopping() && control.claim(1) == 1 {
                pacer.wait(1).await;
                let msg = message_for(&opts, make_body(&template), &control);
                let r = stats.recorder(recorder_index);
                match producer.send_oneway(&msg).await {
                    Ok(()) => r.record(1, body_bytes, None),
                    Err(_) => r.error(),
                }
            }
        }
        SendMode::Sync | SendMode::Async => {
            let mut workers = Vec::with_capacity(window);
            for _ in 0..window {
                let producer = Rc::clone(&producer);
                let opts = Arc::clone(&opts);
                let stats = Arc::clone(&stats);
                let control = Arc::clone(&control);
                let template = template.clone();
                let pacer = Rc::clone(&pacer);
                workers.push(glommio::spawn_local(async move {
                    let r = stats.recorder(recorder_index);
                    loop {
                        if stats.stopping() {
                            break;
                        }
                        let batch = control.claim(batch);
                        if batch == 0 {
                            break;
                        }
                        pacer.wait(batch).await;
                        let started = Instant::now();
                        // One stamp per request: a batch's messages leave together, and the
                        // warm-up cut (`Stats::in_run`) counts a batch whole on both sides.
                        let body = if opts.e2e {
                            stamped(&template)
                        } else {
                            template.clone()
                        };
                        let stamp = stamped_time_us(&body);
                        let result = if batch == 1 {
                            producer.send(&message_for(&opts, body, &control)).await
                        } else {
                            let msgs: Vec<Message> = (0..batch)
                                .map(|_| message_for(&opts, body.clone(), &control))
                                .collect();
                            producer.send_batch(&msgs).await
                        };
                        match result {
                            // e2e: sent before the end of warm-up, not this run's traffic.
                            Ok(_) if stamp.is_some_and(|t| !stats.in_run(t)) => {}
                            Ok(res) => {
                                if res.status != SendStatus::SendOk {
                                    r.not_ok();
                                }
                                r.record(batch, batch * body_bytes, Some(started.elapsed()));
                            }
                            Err(_) => r.error(),
                        }
                    }
                }));
            }
            for w in workers {
                w.await;
            }
        }
    }
    producer.shutdown().await;
    Ok(())
}

/// When the first and the last message of a consume run arrived (us since the epoch; 0 until
/// one did), so a backlog's drain rate is measured over the time it took, not the idle tail.
#[derive(Default)]
pub struct ArrivalWindow {
    first_us: AtomicI64,
    last_us: AtomicI64,
}

impl ArrivalWindow {
    fn mark(&self, now: i64) {
        let _ = self
            .first_us
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        self.last_us.store(now, Ordering::Relaxed);
    }

    /// Seconds from the first to the last arrival (None before two arrivals apart).
    pub fn seconds(&self) -> Option<f64> {
        let (first, last) = (
            self.first_us.load(Ordering::Relaxed),
            self.last_us.load(Ordering::Relaxed),
        );
        (first > 0 && last > first).then(|| (last - first) as f64 / 1e6)
    }

    /// The last arrival (0 if none).
    pub fn last_us(&self) -> i64 {
        self.last_us.load(Ordering::Relaxed)
    }
}

async fn consume_thread(
    opts: Arc<LoadOptions>,
    stats: Arc<Stats>,
    window: Arc<ArrivalWindow>,
    run: Option<Arc<Stats>>,
    index: usize,
) -> Result<(), String> {
    let pool = Rc::new(ConnectionPool::with_serialize_type(1, opts.serialize_type));
    let mut config = PushConsumerConfig::new(opts.group.clone(), opts.name_server.clone());
    config.instance_name = format!("{}-{index}", std::process::id());
    config.model = MessageModel::Clustering;
    config.consume_from = if opts.from_first {
        ConsumeFrom::FirstOffset
    } else {
        ConsumeFrom::LastOffset
    };
    config.pull_batch_size = opts.pull_batch;
    config.consume_batch_size = usize::try_from(opts.pull_batch).unwrap_or(32).max(1);
    let recorder_stats = Arc::clone(&stats);
    let listener = Listener::Concurrently(Rc::new(move |msgs| {
        let r = recorder_stats.recorder(index);
        let now = now_us();
        let (mut count, mut bytes) = (0, 0);
        for m in msgs {
            let stamp = stamped_time_us(&m.body);
            // e2e: count exactly the messages the producer counts (stamped after the end of
            // warm-up); a backlog from before the run has older stamps.
            if let Some(run) = &run {
                if !stamp.is_some_and(|t| run.in_run(t)) {
                    continue;
                }
            }
            if let Some(sent) = stamp {
                r.record_latency_us(u64::try_from(now - sent).unwrap_or(0));
            }
            count += 1;
            bytes += m.body.len() as u64;
        }
        if count > 0 {
            r.record(count, bytes, None);
            window.mark(now);
        }
        ConcurrentlyStatus::Success
    }));
    let consumer =
        PushConsumer::new(config, Rc::clone(&pool), listener).map_err(|e| e.to_string())?;
    pool.set_request_handler(consumer.request_handler());
    consumer.subscribe(&opts.topic, opts.tags.as_deref().unwrap_or("*"));
    // A topic created a moment ago reaches the NameServer with the broker's next
    // registration: retry the start (route lookup) for a while.
    let mut attempts = 0;
    while let Err(e) = consumer.start().await {
        attempts += 1;
        if attempts >= 40 || stats.stopping() {
            return Err(format!("consumer start: {e}"));
        }
        glommio::timer::sleep(Duration::from_millis(250)).await;
    }
    while !stats.stopping() {
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
    let cs = consumer.stats();
    println!(
        "consumer {index}: queues={} pulls={} pull_errors={} flow_control_pauses={} rebalances={}",
        consumer.assigned_queues().len(),
        cs.pulls.get(),
        cs.pull_errors.get(),
        cs.flow_control_pauses.get(),
        cs.rebalances.get()
    );
    consumer.shutdown().await;
    // Failed pulls are the consumer's errors.
    stats
        .recorder(index)
        .add_errors(consumer.stats().pull_errors.get());
    Ok(())
}

fn sleep_until_done(
    stats: &Stats,
    control: &RunControl,
    threads: usize,
    opts: &LoadOptions,
    mut extra_done: impl FnMut() -> bool,
) {
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if control.finished() >= threads || control.failed() || extra_done() {
            return;
        }
        if let Some(d) = opts.duration {
            if stats.elapsed() >= d {
                return;
            }
        }
    }
}

fn print_params(opts: &LoadOptions, mode: &str) {
    println!(
        "rmq-bench {mode}: namesrv={} topic={} size={} batch={} connections={} in_flight={} send_mode={} flush={} threads={} duration={:?} messages={:?} warmup={:?} rate={:?}",
        opts.name_server,
        opts.topic,
        opts.msg_size,
        opts.batch,
        opts.connections,
        opts.in_flight,
        opts.mode.name(),
        opts.flush,
        opts.threads,
        opts.duration,
        opts.messages,
        opts.warmup,
        opts.rate
    );
}

fn create_topic_if_asked(opts: &LoadOptions) -> Result<(), String> {
    let Some(queues) = opts.create_topic_queues else {
        return Ok(());
    };
    let opts = opts.clone();
    let handle = std::thread::spawn(move || {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(executor_io_memory())
            .make()
            .map_err(|e| e.to_string())?
            .run(async move {
                let pool = Rc::new(ConnectionPool::new(1));
                let admin = Admin::new(&opts.name_server, pool).map_err(|e| e.to_string())?;
                let addrs = admin
                    .create_topic_in_cluster(&opts.topic, queues, false)
                    .await
                    .map_err(|e| format!("create topic: {e}"))?;
                println!(
                    "created topic {} with {queues} queues on {addrs:?}",
                    opts.topic
                );
                Ok::<(), String>(())
            })
    });
    handle
        .join()
        .map_err(|_| "topic creation thread panicked".to_string())?
}

fn finish(summary: &mut Summary, opts: &LoadOptions) {
    summary
        .extra
        .push(("send_mode".into(), format!("\"{}\"", opts.mode.name())));
    summary.extra.push(("batch".into(), opts.batch.to_string()));
    summary
        .extra
        .push(("connections".into(), opts.connections.to_string()));
    summary
        .extra
        .push(("in_flight".into(), opts.in_flight.to_string()));
    summary
        .extra
        .push(("threads".into(), opts.threads.to_string()));
    summary.extra.push((
        "flush".into(),
        format!("\"{}\"", crate::stats::json_escape(&opts.flush)),
    ));
    summary.extra.push((
        "serialize".into(),
        format!("\"{}\"", opts.serialize_type.name()),
    ));
    println!("{}", summary.percentiles_text());
    println!("{}", summary.json_line());
}

/// `rmq-bench produce`.
pub fn run_produce(opts: LoadOptions) -> Result<Summary, String> {
    if opts.e2e && opts.msg_size < E2E_HEADER_BYTES {
        return Err(format!(
            "--e2e needs a message size of at least {E2E_HEADER_BYTES}"
        ));
    }
    create_topic_if_asked(&opts)?;
    print_params(&opts, "produce");
    let threads = opts.threads.max(1);
    let stats = Stats::new(threads);
    let control = RunControl::new(opts.messages);
    let opts = Arc::new(opts);
    let handles = {
        let (opts, stats, control2) = (Arc::clone(&opts), Arc::clone(&stats), Arc::clone(&control));
        spawn_threads(threads, &control, move |i| {
            produce_thread(
                Arc::clone(&opts),
                Arc::clone(&stats),
                Arc::clone(&control2),
                i,
            )
        })
    };
    let reporter = {
        let stats = Arc::clone(&stats);
        std::thread::spawn(move || report_live(&stats, "produce"))
    };
    if !opts.warmup.is_zero() {
        std::thread::sleep(opts.warmup);
        stats.reset();
    }
    sleep_until_done(&stats, &control, threads, &opts, || false);
    stats.request_stop();
    for h in handles {
        let _ = h.join();
    }
    let _ = reporter.join();
    if control.failed() && stats.totals().messages == 0 {
        return Err("every load thread failed".into());
    }
    let mut summary = Summary::new(
        "produce",
        opts.msg_size,
        stats.totals(),
        &stats.total_histogram(),
        stats.elapsed().as_secs_f64(),
    );
    finish(&mut summary, &opts);
    Ok(summary)
}

/// `rmq-bench consume`.
pub fn run_consume(opts: LoadOptions) -> Result<Summary, String> {
    print_params(&opts, "consume");
    let threads = opts.threads.max(1);
    let stats = Stats::new(threads);
    let control = RunControl::new(None);
    let window = Arc::new(ArrivalWindow::default());
    let opts = Arc::new(opts);
    let handles = {
        let (opts, stats, window) = (Arc::clone(&opts), Arc::clone(&stats), Arc::clone(&window));
        spawn_threads(threads, &control, move |i| {
            consume_thread(
                Arc::clone(&opts),
                Arc::clone(&stats),
                Arc::clone(&window),
                None,
                i,
            )
        })
    };
    let reporter = {
        let stats = Arc::clone(&stats);
        std::thread::spawn(move || report_live(&stats, "consume"))
    };
    let target = opts.messages;
    let idle = opts.idle_exit;
    let mut ended_early = false;
    sleep_until_done(&stats, &control, threads, &opts, || {
        let consumed = stats.totals().messages;
        let idle_out = idle.is_some_and(|idle| {
            consumed > 0
                && now_us() - window.last_us() > i64::try_from(idle.as_micros()).unwrap_or(i64::MAX)
        });
        ended_early = target.is_some_and(|t| consumed >= t) || idle_out;
        ended_early
    });
    stats.request_stop();
    for h in handles {
        let _ = h.join();
    }
    let _ = reporter.join();
    if control.failed() && stats.totals().messages == 0 {
        return Err("every consumer thread failed".into());
    }
    // A run that ended on its count or on idleness is measured from the first to the last
    // message (the drain of a backlog); a timed run over its whole duration.
    let seconds = if ended_early {
        window
            .seconds()
            .unwrap_or_else(|| stats.elapsed().as_secs_f64())
    } else {
        stats.elapsed().as_secs_f64()
    };
    let mut summary = Summary::new(
        "consume",
        opts.msg_size,
        stats.totals(),
        &stats.total_histogram(),
        seconds,
    );
    finish(&mut summary, &opts);
    Ok(summary)
}

/// `rmq-bench e2e`: producers and consumers together; latency is receive time minus the send
/// time stamped in the body.
pub fn run_e2e(mut opts: LoadOptions) -> Result<Summary, String> {
    if opts.msg_size < E2E_HEADER_BYTES {
        return Err(format!(
            "e2e needs a message size of at least {E2E_HEADER_BYTES}"
        ));
    }
    opts.e2e = true;
    opts.from_first = false;
    create_topic_if_asked(&opts)?;
    print_params(&opts, "e2e");
    let threads = opts.threads.max(1);
    let produce_stats = Stats::new(threads);
    let consume_stats = Stats::new(threads);
    let produce_control = RunControl::new(opts.messages);
    let consume_control = RunControl::new(None);
    let window = Arc::new(ArrivalWindow::default());
    let opts = Arc::new(opts);
    let consumers = {
        let (opts, stats, window, run) = (
            Arc::clone(&opts),
            Arc::clone(&consume_stats),
            Arc::clone(&window),
            Arc::clone(&produce_stats),
        );
        spawn_threads(threads, &consume_control, move |i| {
            consume_thread(
                Arc::clone(&opts),
                Arc::clone(&stats),
                Arc::clone(&window),
                Some(Arc::clone(&run)),
                i,
            )
        })
    };
    // Let the consumers join the group and take their queues before sending; the run's clock
    // starts when the producers do. Each time, the consumer side is cleared first: the
    // producer's reset sets the stamp from which both sides count.
    std::thread::sleep(Duration::from_secs(2));
    consume_stats.reset();
    produce_stats.reset();
    let producers = {
        let (opts, stats, control2) = (
            Arc::clone(&opts),
            Arc::clone(&produce_stats),
            Arc::clone(&produce_control),
        );
        spawn_threads(threads, &produce_control, move |i| {
            produce_thread(
                Arc::clone(&opts),
                Arc::clone(&stats),
                Arc::clone(&control2),
                i,
            )
        })
    };
    let reporter = {
        let stats = Arc::clone(&consume_stats);
        std::thread::spawn(move || report_live(&stats, "e2e"))
    };
    if !opts.warmup.is_zero() {
        std::thread::sleep(opts.warmup);
        consume_stats.reset();
        produce_stats.reset();
    }
    sleep_until_done(&produce_stats, &produce_control, threads, &opts, || false);
    produce_stats.request_stop();
    for h in producers {
        let _ = h.join();
    }
    // The producers' time ends here; the drain below is not sending time.
    let seconds = produce_stats.elapsed().as_secs_f64();
    // Give in-flight messages a moment to arrive.
    let sent = produce_stats.totals().messages;
    let drain_deadline = Instant::now() + Duration::from_secs(5);
    while consume_stats.totals().messages < sent && Instant::now() < drain_deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    consume_stats.request_stop();
    for h in consumers {
        let _ = h.join();
    }
    let _ = reporter.join();
    let produced = produce_stats.totals();
    let consumed = consume_stats.totals();
    let send_hist = produce_stats.total_histogram();
    let mut summary = Summary::new(
        "e2e",
        opts.msg_size,
        produced,
        &consume_stats.total_histogram(),
        seconds,
    );
    summary
        .extra
        .push(("consumed".into(), consumed.messages.to_string()));
    summary
        .extra
        .push(("consume_errors".into(), consumed.errors.to_string()));
    summary.extra.push((
        "send_p50_us".into(),
        if send_hist.is_empty() {
            "0".into()
        } else {
            send_hist.value_at_quantile(0.5).to_string()
        },
    ));
    summary.extra.push((
        "send_p99_us".into(),
        if send_hist.is_empty() {
            "0".into()
        } else {
            send_hist.value_at_quantile(0.99).to_string()
        },
    ));
    finish(&mut summary, &opts);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_bodies_carry_the_send_time() {
        let t = body_template(64);
        let before = now_us();
        let b = stamped(&t);
        assert_eq!(b.len(), 64);
        let ts = stamped_time_us(&b).unwrap();
        assert!(ts >= before && ts <= now_us());
        assert_eq!(stamped_time_us(&t), None);
        assert_eq!(stamped_time_us(b"short"), None);
    }

    #[test]
    fn budget_is_claimed_exactly() {
        let c = RunControl::new(Some(10));
        assert_eq!(c.claim(4), 4);
        assert_eq!(c.claim(4), 4);
        // The last claim gets what is left.
        assert_eq!(c.claim(4), 2);
        assert_eq!(c.claim(1), 0);
        let unbounded = RunControl::new(None);
        assert_eq!(unbounded.claim(7), 7);
    }
}
