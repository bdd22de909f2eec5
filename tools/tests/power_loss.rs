//! Power loss through the broker, in process: the real request path (shards, mesh, transport,
//! send and pull processors, the engine) runs on the engine's fault-injecting storage in
//! SYNC_FLUSH, producers send over TCP on 127.0.0.1, and at a random moment the power goes:
//! `FaultyStorage::power_loss` atomically keeps only what was synced (tearing every sector
//! written since at random: new bytes, old bytes or garbage) and makes the running broker's
//! every later write and sync fail. The broker is then stopped and a new one started on the
//! surviving disk. After each restart every acknowledged (SUCCESS) message must be at its
//! queue offset with its msgId and unaltered body, every record served must have a good CRC
//! and be one that was sent to that queue, and queue offsets must be dense.
//!
//! Several cycles on the same accumulating disk; `RMQ_POWER_LOSS_CYCLES` (default 5) and
//! `RMQ_POWER_LOSS_SEED` (default: from the clock, printed) control it. Every loop is bounded
//! in count and time; the broker runs in this process and is stopped by its run's stop flag.
//!
//! Only the message store is on the fault-injecting disk; the broker's JSON state files
//! (topics, offsets) are real files in a temporary directory and survive every "power loss".

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rmq_engine::io::any::AnyStorage;
use rmq_engine::io::fault::{FaultyStorage, SeededRng};
use rmq_protocol::codes::response_code;
use rmq_protocol::message::id::encode_offset_msg_id;
use rmq_server::broker::BrokerServices;
use rmq_server::config::{BrokerConfig, Properties, RuntimeConfig};
use rmq_tools::broker_process::{free_broker_port, ScratchDir};
use rmq_tools::remoting::{self, decode_pull, ext_i64, PullOutcome, RemotingClient};

const TOPIC: &str = "PowerLoss";
const QUEUES: i32 = 4;
const PRODUCERS: usize = 3;
/// Shards of the in-process broker (queues spread over them, so sends cross the mesh).
const SHARDS: usize = 2;
/// Small segments, so cycles roll segments and tear writes at segment ends too.
const SEGMENT_BYTES: u64 = 256 * 1024;
/// The power goes this long (random in the range) after the producers started.
const CRASH_AFTER_MS: std::ops::Range<u64> = 150..900;
/// Longest a broker may take to accept connections after its start.
const START_WAIT_MAX: Duration = Duration::from_secs(30);
/// Longest one cycle's producers may keep sending (they stop at the crash anyway).
const SEND_PHASE_MAX: Duration = Duration::from_secs(20);
/// Longest a restarted broker's shards may answer TOPIC_NOT_EXIST for the existing topic.
const SNAPSHOT_WAIT_MAX: Duration = Duration::from_secs(10);
/// Bound on the reads of one queue.
const PULLS_PER_QUEUE_MAX: usize = 100_000;

/// A body that says who sent it where, as a pure function of (producer, queue, seq), with a
/// length that varies (so records end anywhere in a page).
fn body_of(producer: usize, queue: i32, seq: u64) -> Vec<u8> {
    let mut b = format!("p{producer}-q{queue}-s{seq}-").into_bytes();
    let len = 200 + (seq as usize * 131 + producer * 17) % 3000;
    b.resize(len, b'a' + (seq % 26) as u8);
    b
}

/// Parse a body back to (producer, queue, seq), checking it is exactly what was sent.
fn parse_body(b: &[u8]) -> Option<(usize, i32, u64)> {
    let text = String::from_utf8_lossy(&b[..b.len().min(40)]);
    let mut parts = text.split('-');
    let p = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let q = parts.next()?.strip_prefix('q')?.parse().ok()?;
    let s = parts.next()?.strip_prefix('s')?.parse().ok()?;
    (body_of(p, q, s) == b).then_some((p, q, s))
}

/// An acknowledged send.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Acked {
    queue_offset: i64,
    msg_id: String,
    body: Vec<u8>,
}

/// One running in-process broker.
struct InProcessBroker {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl InProcessBroker {
    fn start(root: &std::path::Path, disk: FaultyStorage) -> InProcessBroker {
        let port = free_broker_port().expect("a free port pair");
        let mut props = Properties::new();
        for (k, v) in [
            ("listenPort", port.to_string()),
            ("listenAddress", "127.0.0.1".to_string()),
            ("brokerIP1", "127.0.0.1".to_string()),
            ("brokerName", "power-loss".to_string()),
            ("storePathRootDir", root.display().to_string()),
            ("flushDiskType", "SYNC_FLUSH".to_string()),
            ("mappedFileSizeCommitLog", SEGMENT_BYTES.to_string()),
            ("maxMessageSize", "65536".to_string()),
            ("shards", SHARDS.to_string()),
        ] {
            props.insert(k, v);
        }
        let config = BrokerConfig::from_properties(&props).expect("broker config");
        let runtime = RuntimeConfig::from_properties(&props).expect("runtime config");
        let services = BrokerServices {
            config,
            namesrv: None,
            storage: AnyStorage::Faulty(disk),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let run_stop = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            rmq_server::shard::run_until(&runtime, &services, run_stop).map_err(|e| e.to_string())
        });
        let broker = InProcessBroker {
            port,
            stop,
            thread: Some(thread),
        };
        let started = Instant::now();
        while RemotingClient::connect_local(port, Duration::from_secs(1)).is_err() {
            let finished = broker.thread.as_ref().is_some_and(JoinHandle::is_finished);
            assert!(!finished, "the broker stopped during its start");
            assert!(started.elapsed() < START_WAIT_MAX, "broker did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        broker
    }

    /// Stop it and wait for its shards to exit.
    fn stop(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err("a broker thread panicked".into()),
            None => Ok(()),
        }
    }
}

impl Drop for InProcessBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Every record of a queue from offset 0, checked: good CRC, dense offsets, a body that was
/// sent to this queue. Returns them by offset.
fn read_queue(c: &mut RemotingClient, queue: i32) -> Vec<(i64, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut next = 0;
    let started = Instant::now();
    for _ in 0..PULLS_PER_QUEUE_MAX {
        let resp = c
            .call(remoting::pull("checker", TOPIC, queue, next, 32))
            .expect("pull answered");
        match decode_pull(&resp).expect("a served pull body decodes (no torn record)") {
            PullOutcome::Found { records, next: to } => {
                for r in records {
                    assert!(r.crc_ok, "queue {queue} offset {}: bad CRC", r.queue_offset);
                    assert_eq!(
                        r.queue_offset,
                        out.len() as i64,
                        "queue {queue}: offsets dense"
                    );
                    assert_eq!(r.queue_id, queue);
                    let (_, q, _) = parse_body(&r.body).unwrap_or_else(|| {
                        panic!("queue {queue} offset {}: a body never sent", r.queue_offset)
                    });
                    assert_eq!(q, queue, "a record of queue {q} served in queue {queue}");
                    let msg_id = encode_offset_msg_id(r.store_host, r.physical_offset);
                    out.push((r.queue_offset, msg_id, r.body));
                }
                assert!(to > next, "pull made no progress at {next}");
                next = to;
            }
            PullOutcome::NotFound { .. } => return out,
            // Right after a start, a shard other than the control-plane one may not have the
            // topic table yet (its snapshot is broadcast once the state files are loaded).
            PullOutcome::Other(response_code::TOPIC_NOT_EXIST, _)
                if started.elapsed() < SNAPSHOT_WAIT_MAX =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            PullOutcome::Other(code, remark) => panic!("pull {queue}@{next}: {code} {remark:?}"),
        }
    }
    panic!("queue {queue} did not end within {PULLS_PER_QUEUE_MAX} pulls");
}

/// Send until `stop`, recording every SUCCESS. Sequence numbers continue across cycles.
fn produce(
    port: u16,
    producer: usize,
    first_seq: u64,
    stop: &AtomicBool,
    acked: &Mutex<Vec<(i32, Acked)>>,
) -> u64 {
    let Ok(mut c) = RemotingClient::connect_local(port, Duration::from_secs(5)) else {
        return first_seq;
    };
    let started = Instant::now();
    let mut seq = first_seq;
    while !stop.load(Ordering::SeqCst) && started.elapsed() < SEND_PHASE_MAX {
        let queue = ((seq as usize + producer) % QUEUES as usize) as i32;
        let body = body_of(producer, queue, seq);
        seq += 1;
        let Ok(resp) = c.call(remoting::send_message("PG", TOPIC, queue, "k", &body)) else {
            break;
        };
        if resp.code != response_code::SUCCESS {
            continue;
        }
        let queue_offset = ext_i64(&resp, "queueOffset").expect("queueOffset");
        let msg_id = resp.ext_fields.get("msgId").expect("msgId").to_string();
        acked.lock().unwrap().push((
            queue,
            Acked {
                queue_offset,
                msg_id,
                body,
            },
        ));
    }
    seq
}

#[test]
fn acknowledged_sync_flush_messages_survive_power_loss_through_the_broker() {
    let cycles: usize = std::env::var("RMQ_POWER_LOSS_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("RMQ_POWER_LOSS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("power-loss test: {cycles} cycles, seed {seed} (RMQ_POWER_LOSS_SEED replays it)");
    let mut rng = SeededRng::new(seed);
    let scratch = ScratchDir::new("power-loss").expect("scratch dir");
    let root = scratch.path.join("store");
    let mut disk = FaultyStorage::new();
    let mut broker = InProcessBroker::start(&root, disk.clone());
    {
        let mut c = RemotingClient::connect_local(broker.port, Duration::from_secs(5)).unwrap();
        let r = c
            .call(remoting::create_topic(TOPIC, QUEUES as u32))
            .unwrap();
        assert_eq!(r.code, response_code::SUCCESS, "{:?}", r.remark);
    }
    // Every acknowledged message of every cycle, by queue.
    let mut all_acked: BTreeMap<i32, Vec<Acked>> = BTreeMap::new();
    let mut next_seq = [0u64; PRODUCERS];
    for cycle in 0..cycles {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let producers: Vec<JoinHandle<u64>> = (0..PRODUCERS)
            .map(|p| {
                let (stop, acked, port, first) = (
                    Arc::clone(&stop),
                    Arc::clone(&acked),
                    broker.port,
                    next_seq[p],
                );
                std::thread::spawn(move || produce(port, p, first, &stop, &acked))
            })
            .collect();
        let wait = CRASH_AFTER_MS.start + rng.below(CRASH_AFTER_MS.end - CRASH_AFTER_MS.start);
        std::thread::sleep(Duration::from_millis(wait));
        // The power goes: from here the old broker's disk fails every write and sync, so no
        // acknowledgement it still sends can be for data the surviving disk lacks.
        let survivor = disk.power_loss(rng.next_u64());
        stop.store(true, Ordering::SeqCst);
        for (p, h) in producers.into_iter().enumerate() {
            next_seq[p] = h.join().expect("producer thread");
        }
        // The old broker stops with a fenced store (its shutdown cannot sync); that is the
        // point, so its result is not checked beyond having stopped.
        let _ = broker.stop();
        let acked_now = std::mem::take(&mut *acked.lock().unwrap());
        let acked_count = acked_now.len();
        for (q, a) in acked_now {
            all_acked.entry(q).or_default().push(a);
        }
        disk = survivor;
        let restart = Instant::now();
        broker = InProcessBroker::start(&root, disk.clone());
        let recovery_ms = restart.elapsed().as_millis();
        let mut c = RemotingClient::connect_local(broker.port, Duration::from_secs(5)).unwrap();
        let mut stored = 0;
        for q in 0..QUEUES {
            let records = read_queue(&mut c, q);
            stored += records.len();
            for a in all_acked.get(&q).map_or(&[][..], Vec::as_slice) {
                let found = usize::try_from(a.queue_offset)
                    .ok()
                    .and_then(|i| records.get(i));
                let Some((_, msg_id, body)) = found else {
                    panic!(
                        "cycle {cycle}: acknowledged message at queue {q} offset {} lost (seed {seed})",
                        a.queue_offset
                    );
                };
                assert_eq!(
                    body, &a.body,
                    "cycle {cycle}: queue {q} offset {} altered",
                    a.queue_offset
                );
                assert_eq!(
                    msg_id, &a.msg_id,
                    "cycle {cycle}: queue {q} offset {} msgId",
                    a.queue_offset
                );
            }
        }
        let total: usize = all_acked.values().map(Vec::len).sum();
        println!(
            "cycle {cycle}: power lost after {wait} ms, {acked_count} acked this cycle, {total} \
             acked in all, {stored} stored, restart {recovery_ms} ms"
        );
        assert!(
            acked_count > 0 || cycle > 0,
            "the first cycle acknowledged nothing"
        );
    }
    broker.stop().expect("the last broker stops cleanly");
}
