//! Pull throughput through the real transport: zero-copy bodies against `transferMsgByHeap=true`.
//!
//! Starts two `rmq-broker --standalone` processes (one shard each) on free 127.0.0.1 ports,
//! one per mode, stores `MESSAGES_COUNT` records of 1 KiB in one queue of each, then pulls
//! them 32 per reply (`maxMsgNums=32`) over one connection with `PULLS_IN_FLIGHT` requests
//! pipelined, cycling over the queue. The modes are measured in alternating rounds (the
//! machine is shared, so interleaving keeps background load from favouring one mode) and the
//! median round is reported: body megabytes per second, and the broker's CPU time (user +
//! system, from `/proc/<pid>/stat`) per gigabyte of body, which is less sensitive to load
//! than wall-clock throughput. Two phases: from the in-memory CommitLog tail right after the
//! sends, and cold, after a restart, when every read is a DMA read of the segment file.
//!
//! Run: `cargo bench -p rmq-server --bench pull_throughput`. Figures are recorded in the pull
//! processor's module docs (`src/broker/processor/pull.rs`).

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::HashSet;
use std::time::Instant;

use common::{request, Broker, Client};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::message::properties;
use rmq_protocol::RemotingCommand;

/// Records stored in the benchmark queue (4 MiB of bodies: well inside the 64 MiB tail cache).
const MESSAGES_COUNT: i64 = 4096;
/// Body bytes of each record.
const BODY_BYTES: usize = 1024;
/// Records per pull reply.
const RECORDS_PER_PULL: i64 = 32;
/// Pulls measured per round from the tail.
const PULLS_TAIL_COUNT: usize = 20_000;
/// Pulls measured per round cold (DMA reads are much slower).
const PULLS_COLD_COUNT: usize = 1000;
/// Pulls sent ahead of their replies on the connection.
const PULLS_IN_FLIGHT: usize = 16;
/// Alternating rounds per phase.
const ROUNDS_COUNT: usize = 5;

const TOPIC: &str = "BenchPull";

/// One measured round.
#[derive(Debug, Clone, Copy)]
struct Round {
    mb_per_s: f64,
    cpu_ms_per_gb: f64,
}

fn main() {
    println!(
        "pull throughput: {RECORDS_PER_PULL} x {BODY_BYTES} B records per reply, \
         {PULLS_IN_FLIGHT} in flight, 1 shard, 127.0.0.1, median of {ROUNDS_COUNT} rounds"
    );
    let modes = ["zero-copy", "transferMsgByHeap=true (copy)"];
    let mut brokers: Vec<Broker> = [false, true]
        .iter()
        .map(|heap| {
            let flag = format!("--transferMsgByHeap={heap}");
            let broker = Broker::start(&format!("bench-pull-{heap}"), 1, &[&flag]);
            fill_queue(&mut broker.connect());
            broker
        })
        .collect();
    let tail = measure_phase(&brokers, PULLS_TAIL_COUNT);
    brokers = brokers.into_iter().map(Broker::restart).collect();
    let cold = measure_phase(&brokers, PULLS_COLD_COUNT);
    for broker in brokers {
        let status = broker.terminate();
        assert!(status.success(), "broker exit status {status:?}");
    }
    for (i, mode) in modes.iter().enumerate() {
        println!(
            "{mode:30} tail: {:7.1} MB/s {:7.0} CPU ms/GB   cold (DMA): {:6.1} MB/s {:7.0} CPU ms/GB",
            tail[i].mb_per_s, tail[i].cpu_ms_per_gb, cold[i].mb_per_s, cold[i].cpu_ms_per_gb
        );
    }
}

/// Alternating rounds over `brokers`; the median round of each.
fn measure_phase(brokers: &[Broker], pulls: usize) -> Vec<Round> {
    let mut clients: Vec<Client> = brokers.iter().map(Broker::connect).collect();
    let mut rounds: Vec<Vec<Round>> = vec![Vec::new(); brokers.len()];
    for (i, c) in clients.iter_mut().enumerate() {
        // Warm-up.
        let _ = measure(c, &brokers[i], pulls / 10);
    }
    for _ in 0..ROUNDS_COUNT {
        for (i, c) in clients.iter_mut().enumerate() {
            rounds[i].push(measure(c, &brokers[i], pulls));
        }
    }
    rounds
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.mb_per_s.total_cmp(&b.mb_per_s));
            let mut cpu: Vec<f64> = r.iter().map(|x| x.cpu_ms_per_gb).collect();
            cpu.sort_by(f64::total_cmp);
            Round {
                mb_per_s: r[r.len() / 2].mb_per_s,
                cpu_ms_per_gb: cpu[cpu.len() / 2],
            }
        })
        .collect()
}

/// CPU time (user + system) of process `pid` so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let after = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

/// Clock ticks per second of `/proc` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    #[allow(clippy::cast_precision_loss)] // a small constant
    let t = t.max(1) as f64;
    t
}

/// Create the topic and store the records.
fn fill_queue(c: &mut Client) {
    let r = c.call(request(
        request_code::UPDATE_AND_CREATE_TOPIC,
        &[
            ("topic", TOPIC),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "1"),
            ("writeQueueNums", "1"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("order", "false"),
        ],
    ));
    assert_eq!(r.code, response_code::SUCCESS, "create topic");
    let props = properties::encode([("TAGS", "T"), ("WAIT", "true")]);
    let body = vec![b'x'; BODY_BYTES];
    for _ in 0..MESSAGES_COUNT {
        let send = request(
            request_code::SEND_MESSAGE_V2,
            &[
                ("a", "PG"),
                ("b", TOPIC),
                ("c", "TBW102"),
                ("d", "4"),
                ("e", "0"),
                ("f", "0"),
                ("g", "1700000000000"),
                ("h", "0"),
                ("i", props.as_str()),
            ],
        )
        .with_body(body.clone());
        let r = c.call(send);
        assert_eq!(r.code, response_code::SUCCESS, "send");
    }
}

/// A pull of `RECORDS_PER_PULL` records from `offset`, subscription in the request.
fn pull(offset: i64) -> RemotingCommand {
    let o = offset.to_string();
    let m = RECORDS_PER_PULL.to_string();
    request(
        request_code::PULL_MESSAGE,
        &[
            ("consumerGroup", "BenchGroup"),
            ("topic", TOPIC),
            ("queueId", "0"),
            ("queueOffset", &o),
            ("maxMsgNums", &m),
            ("maxMsgBytes", "1048576"),
            ("sysFlag", "4"),
            ("commitOffset", "0"),
            ("suspendTimeoutMillis", "0"),
            ("subscription", "*"),
            ("subVersion", "0"),
        ],
    )
}

/// `count` pulls from `broker` over `c`.
fn measure(c: &mut Client, broker: &Broker, count: usize) -> Round {
    let pid = broker.server.pid().expect("broker running");
    let cpu_before = cpu_ticks(pid);
    let started = Instant::now();
    let bytes = run_pulls(c, count);
    let secs = started.elapsed().as_secs_f64();
    #[allow(clippy::cast_precision_loss)] // figures for people
    let (mb, cpu_secs) = (
        bytes as f64 / 1e6,
        (cpu_ticks(pid) - cpu_before) as f64 / ticks_per_second(),
    );
    Round {
        mb_per_s: mb / secs,
        cpu_ms_per_gb: cpu_secs * 1e3 / (mb / 1e3),
    }
}

/// `count` pulls with `PULLS_IN_FLIGHT` pipelined; body bytes received.
fn run_pulls(c: &mut Client, count: usize) -> usize {
    let mut next_offset = 0i64;
    let mut offsets = || {
        let o = next_offset;
        next_offset = (next_offset + RECORDS_PER_PULL) % MESSAGES_COUNT;
        o
    };
    let mut waiting: HashSet<i32> = HashSet::with_capacity(PULLS_IN_FLIGHT);
    let mut sent = 0;
    let mut bytes = 0;
    while sent < count || !waiting.is_empty() {
        while sent < count && waiting.len() < PULLS_IN_FLIGHT {
            waiting.insert(c.send(pull(offsets())));
            sent += 1;
        }
        let resp = c.recv().expect("a pull reply");
        // Each request runs in its own task, so replies may come back in any order.
        assert!(waiting.remove(&resp.opaque), "a reply to a pull in flight");
        assert_eq!(resp.code, response_code::SUCCESS, "pull: {:?}", resp.remark);
        let body = resp.body.as_deref().unwrap_or_default();
        #[allow(clippy::cast_sign_loss)] // a positive constant
        let min = RECORDS_PER_PULL as usize * BODY_BYTES;
        assert!(body.len() > min, "a full reply");
        bytes += body.len();
    }
    bytes
}
