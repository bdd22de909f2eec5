//! The property: random interleavings of appends (single and batch, several topics and
//! queues, concurrent and awaited), reads, crashes (`kill -9` and machine crash of the
//! fault-injecting storage), clean restarts and checkpoints keep every acknowledged message
//! readable, in order per queue, with its queue offset unchanged.
//!
//! The model: per queue, the bodies known to be in the queue, indexed by queue offset. An
//! append whose ack arrived adds its body at the offset the store returned. After a crash the
//! queue must hold every acknowledged body at its offset (for a machine crash only in
//! SYNC_FLUSH: ASYNC_FLUSH promises survival of `kill -9` only), densely from offset 0, and
//! anything else it holds must be a body that was appended to *that* queue (unacknowledged
//! appends may or may not survive); what survived becomes the model.

mod common;

use common::*;
use proptest::prelude::*;
use rmq_engine::io::fault::{CrashKind, FaultyStorage};
use rmq_engine::{FlushMode, ShardStore, StoreConfig};
use rmq_protocol::message::record::RecordView;
use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

const QUEUES: [(&str, i32); 3] = [("T0", 0), ("T0", 1), ("T1", 0)];

#[derive(Debug, Clone)]
enum Op {
    /// Append and wait for the ack: one message (`batch == 1`, via `append_one`) or a batch.
    Append {
        queue: usize,
        batch: usize,
        len: usize,
    },
    /// Start an append in its own task without waiting for it.
    Spawn {
        queue: usize,
        batch: usize,
        len: usize,
    },
    /// Let background tasks run for a while.
    Yield(u8),
    /// Pull from a queue at a fraction of its known length and check what comes back.
    Read { queue: usize, at_percent: u8 },
    /// Write ConsumeQueues, index and checkpoint now.
    Persist,
    /// Wait for every spawned append, shut down cleanly, reopen.
    Restart,
    /// Crash without any flush, reopen what survived.
    Crash { machine: bool, seed: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    let queue = 0..QUEUES.len();
    let len = prop_oneof![1usize..64, 200usize..1500];
    prop_oneof![
        6 => (queue.clone(), prop_oneof![Just(1usize), 2usize..6], len.clone())
            .prop_map(|(queue, batch, len)| Op::Append { queue, batch, len }),
        4 => (queue.clone(), prop_oneof![Just(1usize), 2usize..4], len)
            .prop_map(|(queue, batch, len)| Op::Spawn { queue, batch, len }),
        2 => (0u8..20).prop_map(Op::Yield),
        2 => (queue, 0u8..=100).prop_map(|(queue, at_percent)| Op::Read { queue, at_percent }),
        1 => Just(Op::Persist),
        1 => Just(Op::Restart),
        2 => (any::<bool>(), any::<u64>()).prop_map(|(machine, seed)| Op::Crash { machine, seed }),
    ]
}

/// What the test knows. `known[q][offset]` is the body at that queue offset (`None`: the
/// store assigned the offset to an append whose ack has not arrived yet).
struct Model {
    known: Vec<Vec<Option<Vec<u8>>>>,
    /// Every body ever handed to an append, per queue (bodies are unique).
    attempted: Vec<HashSet<Vec<u8>>>,
    next_seq: u64,
}

impl Model {
    fn ack(&mut self, q: usize, offset: i64, body: Vec<u8>) {
        let at = usize::try_from(offset).expect("queue offsets are non-negative");
        let v = &mut self.known[q];
        if v.len() <= at {
            v.resize(at + 1, None);
        }
        v[at] = Some(body);
    }
}

type Acks = Rc<RefCell<Vec<(usize, i64, Vec<u8>)>>>;

fn bodies(model: &mut Model, q: usize, batch: usize, len: usize) -> Vec<Vec<u8>> {
    (0..batch)
        .map(|_| {
            model.next_seq += 1;
            let b = body(q as i32, model.next_seq, len);
            model.attempted[q].insert(b.clone());
            b
        })
        .collect()
}

/// Append `bodies` to queue `q`; on Ok, push (queue, offset, body) for each into `acks`.
/// Returns whether the append was acknowledged.
async fn append_bodies(
    store: ShardStore<FaultyStorage>,
    q: usize,
    bodies: Vec<Vec<u8>>,
    acks: Acks,
) -> bool {
    let (topic, qid) = QUEUES[q];
    let props = props("tag", "key");
    if bodies.len() == 1 {
        if let Ok(out) = store.append_one(&msg(topic, qid, &bodies[0], &props)).await {
            acks.borrow_mut()
                .push((q, out.placement.queue_offset, bodies[0].clone()));
            return true;
        }
        return false;
    }
    let msgs: Vec<_> = bodies.iter().map(|b| msg(topic, qid, b, &props)).collect();
    if let Ok(out) = store.append(&msgs).await {
        let mut a = acks.borrow_mut();
        for (p, b) in out.placements.iter().zip(&bodies) {
            a.push((q, p.queue_offset, b.clone()));
        }
        return true;
    }
    false
}

fn drain_acks(model: &mut Model, acks: &Acks) {
    for (q, off, b) in acks.borrow_mut().drain(..) {
        model.ack(q, off, b);
    }
}

/// Check every queue against the model after a restart or crash; adopt what survived.
async fn check_and_adopt(
    store: &ShardStore<FaultyStorage>,
    model: &mut Model,
    acked_must_survive: bool,
) -> Result<(), String> {
    for (q, (topic, qid)) in QUEUES.iter().enumerate() {
        let got = read_all(store, topic, *qid).await;
        for (i, (off, b)) in got.iter().enumerate() {
            if *off != i as i64 {
                return Err(format!("{topic}:{qid}: entry {i} has queue offset {off}"));
            }
            if !model.attempted[q].contains(b) {
                return Err(format!(
                    "{topic}:{qid}@{off}: a body never appended to this queue"
                ));
            }
        }
        if acked_must_survive {
            for (off, b) in model.known[q].iter().enumerate() {
                let Some(b) = b else { continue };
                match got.get(off) {
                    Some((_, g)) if g == b => {}
                    Some(_) => return Err(format!("{topic}:{qid}@{off}: acked body altered")),
                    None => {
                        return Err(format!(
                            "{topic}:{qid}@{off}: acked message lost (have {}, knew {}, {:?}, stats {:?})",
                            got.len(),
                            model.known[q].len(),
                            rmq_engine::recovery::last_report(),
                            store.stats()
                        ))
                    }
                }
            }
        }
        let unique: HashSet<&Vec<u8>> = got.iter().map(|(_, b)| b).collect();
        if unique.len() != got.len() {
            return Err(format!("{topic}:{qid}: a body appears twice"));
        }
        model.known[q] = got.into_iter().map(|(_, b)| Some(b)).collect();
    }
    Ok(())
}

async fn run_case(cfg: StoreConfig, ops: Vec<Op>) -> Result<(), String> {
    let mode = cfg.flush_mode;
    let mut fs = FaultyStorage::new();
    let mut store = open(cfg.clone(), &fs).await;
    let mut model = Model {
        known: vec![Vec::new(); QUEUES.len()],
        attempted: vec![HashSet::new(); QUEUES.len()],
        next_seq: 0,
    };
    let acks: Acks = Rc::default();
    let mut spawned = Vec::new();
    for op in ops {
        match op {
            Op::Append { queue, batch, len } => {
                let b = bodies(&mut model, queue, batch, len);
                if !append_bodies(store.clone(), queue, b, acks.clone()).await {
                    return Err(format!("append to a healthy store failed: {op:?}"));
                }
            }
            Op::Spawn { queue, batch, len } => {
                let b = bodies(&mut model, queue, batch, len);
                let task = append_bodies(store.clone(), queue, b, acks.clone());
                spawned.push(glommio::spawn_local(task));
            }
            Op::Yield(n) => {
                for _ in 0..n {
                    futures_lite::future::yield_now().await;
                }
            }
            Op::Read { queue, at_percent } => {
                let (topic, qid) = QUEUES[queue];
                let known = model.known[queue].len();
                let from = (known * usize::from(at_percent) / 100) as i64;
                let r = store
                    .get_messages(topic, qid, from, 8, 1 << 20, |_| true)
                    .await;
                for (i, m) in r.messages.iter().enumerate() {
                    let v = RecordView::parse(m).map_err(|e| format!("served record: {e}"))?;
                    let off = from + i as i64;
                    if v.queue_offset() != off || !v.crc_matches() {
                        return Err(format!("{topic}:{qid}: read {i} from {from} is wrong"));
                    }
                    let expected = model.known[queue].get(off as usize).cloned().flatten();
                    if expected.is_some_and(|b| b != v.body()) {
                        return Err(format!("{topic}:{qid}@{off}: read a different body"));
                    }
                }
            }
            Op::Persist => store.persist().await.map_err(|e| format!("persist: {e}"))?,
            Op::Restart => {
                for t in spawned.drain(..) {
                    let _acked = t.await;
                }
                drain_acks(&mut model, &acks);
                store
                    .shutdown()
                    .await
                    .map_err(|e| format!("shutdown: {e}"))?;
                store = open(cfg.clone(), &fs).await;
                check_and_adopt(&store, &mut model, true).await?;
            }
            Op::Crash { machine, seed } => {
                // Acks delivered before the crash are the ones that count; every spawned
                // append finishes (Ok if its ack level was reached before, else an error).
                store.clone().abandon();
                for t in spawned.drain(..) {
                    let _acked = t.await;
                }
                drain_acks(&mut model, &acks);
                let kind = if machine {
                    CrashKind::MachineCrash
                } else {
                    CrashKind::ProcessKill
                };
                fs = fs.crash(kind, seed);
                store = open(cfg.clone(), &fs).await;
                let promised = !machine || mode == FlushMode::Sync;
                check_and_adopt(&store, &mut model, promised).await?;
            }
        }
    }
    for t in spawned.drain(..) {
        let _acked = t.await;
    }
    drain_acks(&mut model, &acks);
    store
        .shutdown()
        .await
        .map_err(|e| format!("final shutdown: {e}"))?;
    let store = open(cfg.clone(), &fs).await;
    check_and_adopt(&store, &mut model, true).await?;
    store.shutdown().await.map_err(|e| format!("shutdown: {e}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn acknowledged_messages_survive_interleaved_crashes_and_restarts(
        sync in any::<bool>(),
        page_cache in any::<bool>(),
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        let mut cfg = config(if sync { FlushMode::Sync } else { FlushMode::Async });
        // ASYNC_FLUSH writes through the page cache or with O_DIRECT; SYNC_FLUSH ignores it.
        cfg.async_flush_page_cache_writes = page_cache;
        let outcome = run(run_case(cfg, ops));
        prop_assert!(outcome.is_ok(), "{}", outcome.unwrap_err());
    }
}
