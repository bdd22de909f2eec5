//! The crash test: drive the real broker with checkable synchronous sends, `kill -9` it at a
//! random moment, restart it, and prove from a full read of every queue that nothing
//! acknowledged was lost or altered.
//!
//! Each message is identified by (producer, queue, seq): seqs count up per producer and queue,
//! the body is a pure function of the triple ([`message_body`]), and the key is `p{p}-q{q}-s{s}`.
//! A message counts as acknowledged only when the broker answered SEND_OK (SUCCESS) or
//! FLUSH_DISK_TIMEOUT (which also means stored). A send that got no answer (the broker died)
//! is retried with the same seq after the restart, as a real client would, so it may be stored
//! twice; nothing else may be.
//!
//! After every restart each queue is read from offset 0 and checked ([`verify_queue`]):
//! - offsets are dense from 0, every record's body CRC matches, its queue id is the queue's;
//! - every body is exactly the body of a triple some producer sent to this queue (nothing
//!   unacknowledged appears corrupted, nothing appears that nobody sent);
//! - per producer, seqs never go backwards; a seq appears twice only if it was sent twice;
//! - every acknowledged message is at the queue offset its ack gave, and the ack's msgId is the
//!   offset message id of the stored record (store host + physical offset).
//!
//! With consumers, one consumer pulls every queue and commits what it consumed; before each
//! kill the test reads `config/consumerOffset.json` (what the broker has persisted). After the
//! restart the broker's committed offset must be at least that value (offsets never move
//! backwards past what was persisted before the crash), at least what it reported after the
//! previous restart, and never beyond what the consumer committed.
//!
//! Invariants: every loop is bounded (in count, or by the broker being killed, with read
//! timeouts); every process started is stopped; the test reports, it does not panic.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rmq_protocol::body::{ConsumerOffsetWrapper, JsonBody};
use rmq_protocol::codes::response_code;
use rmq_protocol::message::id;
use thiserror::Error;

use crate::broker_process::{BrokerError, BrokerProcess, BrokerSpec, ScratchDir};
use crate::remoting::{self, decode_pull, ext_i64, ClientError, PullOutcome, RemotingClient};

/// The topic the crash test writes.
pub const TOPIC: &str = "CrashTopic";
/// The consumer group of the optional consumer (and the producer group of the senders).
pub const GROUP: &str = "crash-group";
/// Most records read back from one queue during verification.
pub const VERIFY_RECORDS_PER_QUEUE_MAX: usize = 10_000_000;
/// Messages per pull during verification and consumption.
const PULL_BATCH_MAX: i32 = 32;
/// How long a client waits for one response before deciding the broker is gone.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts to (re)connect a producer or consumer at the start of a cycle.
const CONNECT_ATTEMPTS_MAX: usize = 50;

/// The broker's flush mode under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// `ASYNC_FLUSH`.
    Async,
    /// `SYNC_FLUSH`.
    Sync,
}

impl FlushMode {
    /// The broker.conf spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FlushMode::Async => "ASYNC_FLUSH",
            FlushMode::Sync => "SYNC_FLUSH",
        }
    }
}

impl std::str::FromStr for FlushMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "ASYNC_FLUSH" | "ASYNC" => Ok(FlushMode::Async),
            "SYNC_FLUSH" | "SYNC" => Ok(FlushMode::Sync),
            _ => Err(format!("{s:?}: expected SYNC_FLUSH or ASYNC_FLUSH")),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// Kill/restart cycles.
    pub cycles: usize,
    /// Flush mode of the broker.
    pub flush_mode: FlushMode,
    /// Producer threads (one connection, one send in flight each).
    pub producers: usize,
    /// Queues of the test topic.
    pub queues: i32,
    /// Broker shards.
    pub shards: usize,
    /// Seed of the kill moments and bodies.
    pub seed: u64,
    /// The broker binary.
    pub broker_bin: PathBuf,
    /// Run a consumer that commits offsets, and check them across crashes.
    pub with_consumers: bool,
    /// Keep the store directory and broker log afterwards.
    pub keep_dir: bool,
    /// The kill comes at a random moment in `[kill_after_min, kill_after_max]` after the
    /// producers started.
    pub kill_after_min: Duration,
    /// See `kill_after_min`.
    pub kill_after_max: Duration,
}

/// Why the crash test could not run (as opposed to finding a loss, which is a result).
#[derive(Debug, Error)]
pub enum CrashError {
    /// Running the broker failed.
    #[error("broker: {0}")]
    Broker(#[from] BrokerError),
    /// Talking to the broker failed where it must not (e.g. verification after a restart).
    #[error("client: {0}")]
    Client(#[from] ClientError),
    /// Local I/O (scratch directory, output).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The broker answered a setup or verification request with an error.
    #[error("broker refused: {0}")]
    Refused(String),
}

/// A small deterministic generator (splitmix64): the kill moments and body padding follow from
/// the seed, so a failing run can be replayed.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `[0, n)` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// A value in `[lo, hi]` (`lo` if the range is empty).
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Which message a body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MessageTag {
    /// Producer index.
    pub producer: usize,
    /// Queue id.
    pub queue: i32,
    /// Sequence number within (producer, queue).
    pub seq: u64,
}

/// The body of a message: a header naming the triple, then 0..255 bytes of padding that
/// depend on the triple and the seed (so a body from one message cannot pass for another's).
pub fn message_body(seed: u64, tag: MessageTag) -> Vec<u8> {
    let mut body = format!("crash p={} q={} s={} |", tag.producer, tag.queue, tag.seq).into_bytes();
    let mut rng = SplitMix::new(
        seed ^ (tag.seq.wrapping_mul(0x1000_0000_01b3))
            ^ ((tag.producer as u64) << 48)
            ^ (u64::from(tag.queue.unsigned_abs()) << 32),
    );
    let pad = rng.between(0, 255);
    for _ in 0..pad {
        // Printable ASCII so a dump of a failing record stays readable.
        body.push(b'a' + u8::try_from(rng.next_u64() % 26).unwrap_or(0));
    }
    body
}

/// The triple named by a body's header, if it has the shape [`message_body`] writes.
pub fn parse_body(body: &[u8]) -> Option<MessageTag> {
    let head_end = body.iter().position(|&b| b == b'|')?;
    let head = std::str::from_utf8(&body[..head_end]).ok()?;
    let mut parts = head.trim_end().strip_prefix("crash ")?.split(' ');
    let mut field = |name: &str| parts.next()?.strip_prefix(name)?.parse::<u64>().ok();
    let producer = usize::try_from(field("p=")?).ok()?;
    let queue = i32::try_from(field("q=")?).ok()?;
    let seq = field("s=")?;
    Some(MessageTag {
        producer,
        queue,
        seq,
    })
}

/// What the broker said when it acknowledged a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// queueOffset of the response.
    pub queue_offset: i64,
    /// msgId of the response.
    pub msg_id: String,
}

/// Everything one producer sent, across cycles.
#[derive(Debug, Default)]
pub struct ProducerLedger {
    /// Next seq per queue.
    next_seq: BTreeMap<i32, u64>,
    /// Sends per (queue, seq): more than one means the message was retried.
    attempts: BTreeMap<(i32, u64), u32>,
    /// Acknowledged messages.
    acked: BTreeMap<(i32, u64), Ack>,
    /// A send that got no answer, resent first in the next cycle.
    pending_retry: Option<(i32, u64)>,
    /// Sends refused with an error code (not stored; retried).
    refused: u64,
}

impl ProducerLedger {
    /// Number of acknowledged messages.
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }
}

/// Drive one producer until the broker dies or `stop` is set; returns whether the last send
/// was left without an answer.
fn run_producer(
    port: u16,
    producer: usize,
    queues: i32,
    seed: u64,
    ledger: &mut ProducerLedger,
    stop: &AtomicBool,
) {
    let Some(mut client) = connect_retrying(port, stop) else {
        return;
    };
    let mut round = producer;
    while !stop.load(Ordering::Relaxed) {
        let (queue, seq) = match ledger.pending_retry.take() {
            Some(retry) => retry,
            None => {
                let queue =
                    i32::try_from(round % usize::try_from(queues).unwrap_or(1)).unwrap_or(0);
                round = round.wrapping_add(1);
                let next = ledger.next_seq.entry(queue).or_insert(0);
                let seq = *next;
                *next += 1;
                (queue, seq)
            }
        };
        let tag = MessageTag {
            producer,
            queue,
            seq,
        };
        *ledger.attempts.entry((queue, seq)).or_insert(0) += 1;
        let key = format!("p{producer}-q{queue}-s{seq}");
        let req = remoting::send_message(GROUP, TOPIC, queue, &key, &message_body(seed, tag));
        match client.call(req) {
            Ok(resp)
                if resp.code == response_code::SUCCESS
                    || resp.code == response_code::FLUSH_DISK_TIMEOUT =>
            {
                let ack = ext_i64(&resp, "queueOffset")
                    .ok()
                    .zip(resp.ext_fields.get("msgId").map(str::to_string));
                match ack {
                    Some((queue_offset, msg_id)) => {
                        ledger.acked.insert(
                            (queue, seq),
                            Ack {
                                queue_offset,
                                msg_id,
                            },
                        );
                    }
                    // An ack without its fields: treat as unanswered (it will be retried).
                    None => ledger.pending_retry = Some((queue, seq)),
                }
            }
            Ok(_) => {
                // Refused (busy, not available): not stored; resend the same seq.
                ledger.refused += 1;
                ledger.pending_retry = Some((queue, seq));
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => {
                // No answer: the broker is gone. The message may or may not be stored.
                ledger.pending_retry = Some((queue, seq));
                return;
            }
        }
    }
}

fn connect_retrying(port: u16, stop: &AtomicBool) -> Option<RemotingClient> {
    for _ in 0..CONNECT_ATTEMPTS_MAX {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        if let Ok(c) = RemotingClient::connect_local(port, CALL_TIMEOUT) {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// What the consumer committed, across cycles.
#[derive(Debug, Default)]
pub struct ConsumerLedger {
    /// Highest offset the consumer asked to commit per queue.
    committed_max: BTreeMap<i32, i64>,
    /// Messages consumed (with repeats after crashes).
    consumed: u64,
}

/// Pull every queue from the broker's committed offset and commit after each batch, until the
/// broker dies or `stop` is set.
fn run_consumer(port: u16, queues: i32, ledger: &mut ConsumerLedger, stop: &AtomicBool) {
    let Some(mut client) = connect_retrying(port, stop) else {
        return;
    };
    let mut next = BTreeMap::new();
    for q in 0..queues {
        match client.call(remoting::query_offset(GROUP, TOPIC, q)) {
            Ok(r) if r.code == response_code::SUCCESS => {
                next.insert(q, ext_i64(&r, "offset").unwrap_or(0));
            }
            Ok(_) => {
                next.insert(q, 0);
            }
            Err(_) => return,
        }
    }
    let mut idle_rounds = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let mut got_any = false;
        for q in 0..queues {
            let from = next.get(&q).copied().unwrap_or(0);
            let outcome = match client
                .call(remoting::pull(GROUP, TOPIC, q, from, PULL_BATCH_MAX))
                .map(|r| decode_pull(&r))
            {
                Ok(Ok(o)) => o,
                _ => return,
            };
            let PullOutcome::Found { records, next: to } = outcome else {
                continue;
            };
            got_any = true;
            ledger.consumed += records.len() as u64;
            // Counted as asked before the call: a kill can land after the broker stored the
            // commit and before its answer arrived, and the stored value is then legitimate.
            let max = ledger.committed_max.entry(q).or_insert(0);
            *max = (*max).max(to);
            if client
                .call(remoting::update_offset(GROUP, TOPIC, q, to))
                .is_err()
            {
                return;
            }
            next.insert(q, to);
        }
        if got_any {
            idle_rounds = 0;
        } else {
            idle_rounds = idle_rounds.saturating_add(1);
            std::thread::sleep(Duration::from_millis(u64::from(idle_rounds.min(20))));
        }
    }
}

/// What one queue's read-back showed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueFindings {
    /// Records read.
    pub records: usize,
    /// Acknowledged messages missing, moved, or with a different msgId.
    pub lost: Vec<String>,
    /// Records that are not an intact message some producer sent to this queue.
    pub corrupt: Vec<String>,
    /// A producer's seqs going backwards in the queue.
    pub out_of_order: Vec<String>,
    /// A message stored twice that was sent only once.
    pub unexpected_duplicates: Vec<String>,
    /// Messages stored twice after a retry (allowed).
    pub retried_duplicates: usize,
}

impl QueueFindings {
    /// Whether anything is wrong.
    pub fn has_faults(&self) -> bool {
        !(self.lost.is_empty()
            && self.corrupt.is_empty()
            && self.out_of_order.is_empty()
            && self.unexpected_duplicates.is_empty())
    }
}

/// Check one queue's records (read from offset 0) against what the producers sent.
pub fn verify_queue(
    queue: i32,
    records: &[remoting::PulledRecord],
    ledgers: &[ProducerLedger],
    seed: u64,
) -> QueueFindings {
    let mut f = QueueFindings {
        records: records.len(),
        ..QueueFindings::default()
    };
    let mut last_seq: BTreeMap<usize, u64> = BTreeMap::new();
    for (index, r) in records.iter().enumerate() {
        let where_ = format!("queue {queue} offset {}", r.queue_offset);
        if usize::try_from(r.queue_offset).ok() != Some(index) {
            f.corrupt
                .push(format!("{where_}: at position {index} (offsets not dense)"));
        }
        if !r.crc_ok || r.queue_id != queue {
            f.corrupt.push(format!(
                "{where_}: crc ok {} queue id {}",
                r.crc_ok, r.queue_id
            ));
            continue;
        }
        let Some(tag) = parse_body(&r.body).filter(|t| {
            t.queue == queue
                && t.producer < ledgers.len()
                && ledgers[t.producer].attempts.contains_key(&(t.queue, t.seq))
        }) else {
            f.corrupt.push(format!(
                "{where_}: body {:?} was never sent to this queue",
                String::from_utf8_lossy(&r.body[..r.body.len().min(64)])
            ));
            continue;
        };
        if r.body != message_body(seed, tag) {
            f.corrupt.push(format!("{where_}: body of {tag:?} altered"));
            continue;
        }
        match last_seq.get(&tag.producer).copied() {
            Some(prev) if tag.seq < prev => f.out_of_order.push(format!(
                "{where_}: producer {} seq {} after seq {prev}",
                tag.producer, tag.seq
            )),
            Some(prev) if tag.seq == prev => {
                if ledgers[tag.producer]
                    .attempts
                    .get(&(queue, tag.seq))
                    .copied()
                    > Some(1)
                {
                    f.retried_duplicates += 1;
                } else {
                    f.unexpected_duplicates
                        .push(format!("{where_}: {tag:?} stored twice, sent once"));
                }
            }
            _ => {}
        }
        last_seq.insert(tag.producer, tag.seq);
    }
    for (producer, ledger) in ledgers.iter().enumerate() {
        for (&(q, seq), ack) in ledger.acked.range((queue, 0)..=(queue, u64::MAX)) {
            debug_assert_eq!(q, queue);
            let tag = MessageTag {
                producer,
                queue,
                seq,
            };
            let stored = usize::try_from(ack.queue_offset)
                .ok()
                .and_then(|i| records.get(i));
            let ok = stored.is_some_and(|r| {
                r.crc_ok
                    && parse_body(&r.body) == Some(tag)
                    && id::encode_offset_msg_id(r.store_host, r.physical_offset) == ack.msg_id
            });
            if !ok {
                f.lost.push(format!(
                    "{tag:?} acked at queue offset {} msgId {}: {}",
                    ack.queue_offset,
                    ack.msg_id,
                    match stored {
                        None => "no record there".to_string(),
                        Some(r) => format!(
                            "found {:?} msgId {}",
                            parse_body(&r.body),
                            id::encode_offset_msg_id(r.store_host, r.physical_offset)
                        ),
                    }
                ));
            }
        }
    }
    f
}

/// Read `queue` from offset 0 to its end.
fn read_queue(
    client: &mut RemotingClient,
    queue: i32,
) -> Result<Vec<remoting::PulledRecord>, CrashError> {
    let mut out = Vec::new();
    let mut next = 0i64;
    while out.len() < VERIFY_RECORDS_PER_QUEUE_MAX {
        let resp = client.call(remoting::pull(
            "crash-verifier",
            TOPIC,
            queue,
            next,
            PULL_BATCH_MAX,
        ))?;
        match decode_pull(&resp)? {
            PullOutcome::Found { records, next: to } => {
                if records.is_empty() || to <= next {
                    return Err(CrashError::Refused(format!(
                        "pull of queue {queue} at {next} made no progress"
                    )));
                }
                out.extend(records);
                next = to;
            }
            PullOutcome::NotFound { .. } => return Ok(out),
            PullOutcome::Other(code, remark) => {
                return Err(CrashError::Refused(format!(
                    "pull of queue {queue} at {next}: code {code} {remark:?}"
                )))
            }
        }
    }
    Ok(out)
}

/// One cycle's line of the report.
#[derive(Debug, Clone, Default)]
pub struct CycleReport {
    /// 1-based cycle number (the final check after the last kill is `cycles + 1`).
    pub cycle: usize,
    /// Time from spawning the broker to its first successful data request.
    pub recovery: Duration,
    /// Records read back over all queues.
    pub stored: usize,
    /// Acknowledged messages so far.
    pub acked_total: usize,
    /// Faults found (lost, corrupt, out of order, unexpected duplicates, offsets backwards).
    pub faults: Vec<String>,
    /// Lost acknowledged messages.
    pub lost: usize,
    /// Duplicates from retries.
    pub retried_duplicates: usize,
}

/// The result of a run.
#[derive(Debug, Clone, Default)]
pub struct CrashSummary {
    /// Flush mode.
    pub flush_mode: &'static str,
    /// Kill cycles run.
    pub cycles: usize,
    /// Acknowledged messages.
    pub acked: usize,
    /// Acknowledged messages lost (must be 0).
    pub lost: usize,
    /// Every fault found, lost included.
    pub faults: Vec<String>,
    /// Records stored at the end.
    pub stored: usize,
    /// Sends refused with an error code.
    pub refused: u64,
    /// Duplicates from retries at the end.
    pub retried_duplicates: usize,
    /// Messages the consumer consumed.
    pub consumed: u64,
    /// Recovery times of every restart after a kill, in milliseconds.
    pub recovery_ms: Vec<u64>,
}

impl CrashSummary {
    /// The `p`-th percentile (0..=100) of recovery times.
    pub fn recovery_percentile_ms(&self, p: usize) -> u64 {
        let mut v = self.recovery_ms.clone();
        v.sort_unstable();
        if v.is_empty() {
            return 0;
        }
        let i = (v.len() - 1) * p.min(100) / 100;
        v[i]
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.faults.is_empty()
    }

    /// One JSON object line (no nested values).
    pub fn json_line(&self) -> String {
        format!(
            "{{\"flush_mode\":\"{}\",\"cycles\":{},\"acked\":{},\"lost\":{},\"faults\":{},\"stored\":{},\"refused\":{},\"retried_duplicates\":{},\"consumed\":{},\"recovery_ms_p50\":{},\"recovery_ms_max\":{},\"passed\":{}}}",
            self.flush_mode,
            self.cycles,
            self.acked,
            self.lost,
            self.faults.len(),
            self.stored,
            self.refused,
            self.retried_duplicates,
            self.consumed,
            self.recovery_percentile_ms(50),
            self.recovery_percentile_ms(100),
            self.passed()
        )
    }
}

/// The committed offsets in a `consumerOffset.json` for the test topic and group.
fn persisted_offsets(path: &std::path::Path) -> BTreeMap<i32, i64> {
    let Ok(bytes) = std::fs::read(path) else {
        return BTreeMap::new();
    };
    ConsumerOffsetWrapper::decode(&bytes)
        .ok()
        .and_then(|w| {
            w.offset_table
                .get(&ConsumerOffsetWrapper::table_key(TOPIC, GROUP))
                .cloned()
        })
        .unwrap_or_default()
}

/// Run the crash test, writing per-cycle lines and the summary to `out`.
pub fn run(config: &CrashConfig, out: &mut dyn Write) -> Result<CrashSummary, CrashError> {
    let mut scratch = ScratchDir::new(&format!(
        "crash-{}-{}",
        config.flush_mode.as_str(),
        config.seed
    ))?;
    scratch.keep = config.keep_dir;
    let store_dir = scratch.path.join("store");
    let mut extra_args = vec![
        format!("--flushDiskType={}", config.flush_mode.as_str()),
        // Small preallocated CommitLog segments keep each start cheap.
        "--mappedFileSizeCommitLog=67108864".to_string(),
    ];
    if config.with_consumers {
        // Persist committed offsets often so kills land between and after persists.
        extra_args.push("--flushConsumerOffsetInterval=200".to_string());
    }
    let mut spec = BrokerSpec {
        binary: config.broker_bin.clone(),
        store_dir: store_dir.clone(),
        log_path: scratch.path.join("broker.log"),
        shards: config.shards,
        extra_args,
        ready_probes: Vec::new(),
    };
    writeln!(
        out,
        "crash test: flush={} cycles={} producers={} queues={} shards={} consumers={} seed={} dir={}",
        config.flush_mode.as_str(),
        config.cycles,
        config.producers,
        config.queues,
        config.shards,
        config.with_consumers,
        config.seed,
        scratch.path.display()
    )?;

    let (first, _) = BrokerProcess::start(&spec)?;
    let (port, namesrv_port) = (first.port, first.namesrv_port);
    {
        let mut c = RemotingClient::connect_local(port, CALL_TIMEOUT)?;
        let queues = u32::try_from(config.queues).unwrap_or(1);
        let r = c.call(remoting::create_topic(TOPIC, queues))?;
        if r.code != response_code::SUCCESS {
            return Err(CrashError::Refused(format!(
                "create topic: code {} {:?}",
                r.code, r.remark
            )));
        }
    }
    spec.ready_probes = (0..config.queues).map(|q| (TOPIC.to_string(), q)).collect();
    let offsets_file = store_dir.join("config").join("consumerOffset.json");

    let mut rng = SplitMix::new(config.seed);
    let mut producers: Vec<ProducerLedger> = (0..config.producers)
        .map(|_| ProducerLedger::default())
        .collect();
    let mut consumer = ConsumerLedger::default();
    let mut offsets_after_restart: BTreeMap<i32, i64> = BTreeMap::new();
    let mut summary = CrashSummary {
        flush_mode: config.flush_mode.as_str(),
        cycles: config.cycles,
        ..CrashSummary::default()
    };
    let mut broker = Some(first);
    for cycle in 1..=config.cycles + 1 {
        let mut report = CycleReport {
            cycle,
            ..CycleReport::default()
        };
        let running = match broker.take() {
            Some(b) => b,
            None => {
                let (b, recovery) = BrokerProcess::restart_after(&spec, port, namesrv_port)?;
                report.recovery = recovery;
                summary
                    .recovery_ms
                    .push(u64::try_from(recovery.as_millis()).unwrap_or(u64::MAX));
                b
            }
        };
        // Verify everything sent so far.
        let mut verifier = RemotingClient::connect_local(port, CALL_TIMEOUT)?;
        for q in 0..config.queues {
            let records = read_queue(&mut verifier, q)?;
            let found = verify_queue(q, &records, &producers, config.seed);
            report.stored += found.records;
            report.lost += found.lost.len();
            report.retried_duplicates += found.retried_duplicates;
            for list in [
                &found.lost,
                &found.corrupt,
                &found.out_of_order,
                &found.unexpected_duplicates,
            ] {
                report.faults.extend(list.iter().cloned());
            }
        }
        if config.with_consumers && cycle > 1 {
            // The floor: persisted before the kill, or served after the previous restart.
            let persisted_before_kill = offsets_after_restart.clone();
            for q in 0..config.queues {
                let r = verifier.call(remoting::query_offset(GROUP, TOPIC, q))?;
                let now = if r.code == response_code::SUCCESS {
                    ext_i64(&r, "offset")?
                } else {
                    -1
                };
                let floor = persisted_before_kill.get(&q).copied().unwrap_or(-1);
                let ceiling = consumer.committed_max.get(&q).copied().unwrap_or(0);
                if now < floor {
                    report.faults.push(format!(
                        "queue {q}: committed offset {now} after restart is below {floor}, which was committed (and persisted or served after a restart) before the crash"
                    ));
                }
                if now > ceiling {
                    report.faults.push(format!(
                        "queue {q}: committed offset {now} after restart is beyond the highest ever committed, {ceiling}"
                    ));
                }
                offsets_after_restart.insert(q, now.max(floor));
            }
        }
        drop(verifier);
        report.acked_total = producers.iter().map(ProducerLedger::acked_count).sum();
        summary.stored = report.stored;
        summary.retried_duplicates = report.retried_duplicates;
        summary.lost = report.lost;
        summary.faults.extend(report.faults.iter().cloned());
        let label = if cycle > config.cycles {
            "final".to_string()
        } else {
            format!("cycle {cycle}/{}", config.cycles)
        };
        writeln!(
            out,
            "{label} recovery_ms={} stored={} acked_total={} lost={} faults={} retried_duplicates={}",
            report.recovery.as_millis(),
            report.stored,
            report.acked_total,
            report.lost,
            report.faults.len(),
            report.retried_duplicates
        )?;
        for fault in report.faults.iter().take(20) {
            writeln!(out, "  FAULT {fault}")?;
        }
        if cycle > config.cycles {
            // The final check: stop cleanly, which must also work after all those crashes.
            let status = running.terminate()?;
            if !status.success() {
                summary
                    .faults
                    .push(format!("broker exit status after SIGTERM: {status}"));
            }
            break;
        }

        // Drive the load and kill the broker at a random moment.
        let stop = AtomicBool::new(false);
        let kill_after = Duration::from_millis(rng.between(
            u64::try_from(config.kill_after_min.as_millis()).unwrap_or(0),
            u64::try_from(config.kill_after_max.as_millis()).unwrap_or(0),
        ));
        let seed = config.seed;
        let queues = config.queues;
        let with_consumers = config.with_consumers;
        let mut persisted = BTreeMap::new();
        std::thread::scope(|s| -> Result<(), CrashError> {
            for (i, ledger) in producers.iter_mut().enumerate() {
                let stop = &stop;
                s.spawn(move || run_producer(port, i, queues, seed, ledger, stop));
            }
            if with_consumers {
                let (stop, consumer) = (&stop, &mut consumer);
                s.spawn(move || run_consumer(port, queues, consumer, stop));
            }
            let started = Instant::now();
            while started.elapsed() < kill_after {
                std::thread::sleep(Duration::from_millis(5));
            }
            if with_consumers {
                persisted = persisted_offsets(&offsets_file);
            }
            let killed = running.kill9();
            stop.store(true, Ordering::Relaxed);
            killed.map_err(CrashError::from)
        })?;
        // What was persisted before the kill (or served after the previous restart) is the
        // floor for the offsets after this restart.
        for (q, v) in persisted {
            let e = offsets_after_restart.entry(q).or_insert(v);
            *e = (*e).max(v);
        }
    }
    summary.acked = producers.iter().map(ProducerLedger::acked_count).sum();
    summary.refused = producers.iter().map(|p| p.refused).sum();
    summary.consumed = consumer.consumed;
    writeln!(
        out,
        "summary: flush={} cycles={} acked={} lost={} faults={} stored={} refused={} retried_duplicates={} consumed={} recovery_ms p50={} max={}",
        summary.flush_mode,
        summary.cycles,
        summary.acked,
        summary.lost,
        summary.faults.len(),
        summary.stored,
        summary.refused,
        summary.retried_duplicates,
        summary.consumed,
        summary.recovery_percentile_ms(50),
        summary.recovery_percentile_ms(100)
    )?;
    writeln!(out, "{}", summary.json_line())?;
    if !summary.passed() {
        scratch.keep = true;
        writeln!(
            out,
            "store and broker log kept in {}",
            scratch.path.display()
        )?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn record(offset: i64, queue: i32, body: Vec<u8>) -> remoting::PulledRecord {
        remoting::PulledRecord {
            queue_offset: offset,
            physical_offset: 4096 + offset * 100,
            queue_id: queue,
            store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
            crc_ok: true,
            body,
            properties: String::new(),
        }
    }

    fn tag(producer: usize, queue: i32, seq: u64) -> MessageTag {
        MessageTag {
            producer,
            queue,
            seq,
        }
    }

    /// A ledger where `sent` were each sent once, and `acked` acknowledged at the offsets the
    /// records below use.
    fn ledger_with(sent: &[(i32, u64)], acked: &[(i32, u64, i64)]) -> ProducerLedger {
        let mut l = ProducerLedger::default();
        for &(q, s) in sent {
            l.attempts.insert((q, s), 1);
        }
        for &(q, s, off) in acked {
            l.acked.insert(
                (q, s),
                Ack {
                    queue_offset: off,
                    msg_id: id::encode_offset_msg_id(
                        SocketAddr::from(([127, 0, 0, 1], 10911)),
                        4096 + off * 100,
                    ),
                },
            );
        }
        l
    }

    #[test]
    fn bodies_round_trip_and_differ_per_message() {
        let t = tag(3, 2, 77);
        let b = message_body(9, t);
        assert_eq!(parse_body(&b), Some(t));
        assert_ne!(message_body(9, t), message_body(10, t));
        assert_ne!(message_body(9, t), message_body(9, tag(3, 2, 78)));
        assert_eq!(parse_body(b"garbage"), None);
        assert_eq!(parse_body(b"crash p=1 q=x s=2 |"), None);
    }

    #[test]
    fn an_intact_queue_passes() {
        let seed = 5;
        let l = ledger_with(&[(0, 0), (0, 1)], &[(0, 0, 0), (0, 1, 1)]);
        let recs = vec![
            record(0, 0, message_body(seed, tag(0, 0, 0))),
            record(1, 0, message_body(seed, tag(0, 0, 1))),
        ];
        let f = verify_queue(0, &recs, &[l], seed);
        assert!(!f.has_faults(), "{f:?}");
        assert_eq!(f.records, 2);
    }

    #[test]
    fn a_missing_acked_message_is_lost() {
        let seed = 5;
        let l = ledger_with(&[(0, 0), (0, 1)], &[(0, 0, 0), (0, 1, 1)]);
        let recs = vec![record(0, 0, message_body(seed, tag(0, 0, 0)))];
        let f = verify_queue(0, &recs, &[l], seed);
        assert_eq!(f.lost.len(), 1, "{f:?}");
    }

    #[test]
    fn a_wrong_msg_id_counts_as_lost() {
        let seed = 5;
        let mut l = ledger_with(&[(0, 0)], &[(0, 0, 0)]);
        l.acked.get_mut(&(0, 0)).unwrap().msg_id = "0".repeat(32);
        let recs = vec![record(0, 0, message_body(seed, tag(0, 0, 0)))];
        assert_eq!(verify_queue(0, &recs, &[l], seed).lost.len(), 1);
    }

    #[test]
    fn altered_bytes_bad_crc_and_unsent_messages_are_corrupt() {
        let seed = 5;
        let l = ledger_with(&[(0, 0), (0, 1)], &[]);
        let mut altered = message_body(seed, tag(0, 0, 0));
        *altered.last_mut().unwrap() ^= 1;
        let mut bad_crc = record(1, 0, message_body(seed, tag(0, 0, 1)));
        bad_crc.crc_ok = false;
        let recs = vec![
            record(0, 0, altered),
            bad_crc,
            record(2, 0, message_body(seed, tag(0, 0, 9))),
        ];
        let f = verify_queue(0, &recs, &[l], seed);
        assert_eq!(f.corrupt.len(), 3, "{f:?}");
    }

    #[test]
    fn duplicates_are_allowed_only_after_a_retry_and_order_is_checked() {
        let seed = 5;
        let mut l = ledger_with(&[(0, 0), (0, 1), (0, 2)], &[]);
        l.attempts.insert((0, 1), 2);
        let recs = vec![
            record(0, 0, message_body(seed, tag(0, 0, 0))),
            record(1, 0, message_body(seed, tag(0, 0, 1))),
            record(2, 0, message_body(seed, tag(0, 0, 1))),
            record(3, 0, message_body(seed, tag(0, 0, 2))),
            record(4, 0, message_body(seed, tag(0, 0, 2))),
            record(5, 0, message_body(seed, tag(0, 0, 0))),
        ];
        let f = verify_queue(0, &recs, &[l], seed);
        assert_eq!(f.retried_duplicates, 1);
        assert_eq!(f.unexpected_duplicates.len(), 1, "{f:?}");
        assert_eq!(f.out_of_order.len(), 1, "{f:?}");
    }

    #[test]
    fn sparse_offsets_are_reported() {
        let seed = 5;
        let l = ledger_with(&[(0, 0)], &[]);
        let recs = vec![record(3, 0, message_body(seed, tag(0, 0, 0)))];
        assert_eq!(verify_queue(0, &recs, &[l], seed).corrupt.len(), 1);
    }

    #[test]
    fn percentiles_and_json() {
        let s = CrashSummary {
            flush_mode: "SYNC_FLUSH",
            recovery_ms: vec![30, 10, 20],
            ..CrashSummary::default()
        };
        assert_eq!(s.recovery_percentile_ms(50), 20);
        assert_eq!(s.recovery_percentile_ms(100), 30);
        assert!(s.json_line().contains("\"recovery_ms_max\":30"));
        assert!(s.passed());
    }
}
