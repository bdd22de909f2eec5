//! A full disk on the fault-injecting storage: appends fail with `DiskFull` (never fence), the
//! records acknowledged before stay readable and intact, appends resume by themselves once
//! space is back, queue offsets stay dense, and a restart recovers exactly what was
//! acknowledged. Failed syncs and EIO keep fencing (tests/store.rs).

mod common;

use common::{body, config, msg, open, read_all, run};
use rmq_engine::io::fault::{CrashKind, FaultyStorage};
use rmq_engine::{AppendError, FlushMode, ShardStore};
use std::time::Duration;

/// Longest a test waits for appends to resume (the store retries every second).
const RESUME_WAIT_MAX: Duration = Duration::from_secs(10);

/// Append `b` to T/0 until it is accepted (the store refuses with `DiskFull` until its retry
/// found space); returns the queue offset.
async fn append_when_resumed(store: &ShardStore<FaultyStorage>, b: &[u8]) -> i64 {
    let started = std::time::Instant::now();
    loop {
        match store.append_one(&msg("T", 0, b, "")).await {
            Ok(o) => return o.placement.queue_offset,
            Err(AppendError::DiskFull(_)) => assert!(
                started.elapsed() < RESUME_WAIT_MAX,
                "appends did not resume within {RESUME_WAIT_MAX:?}"
            ),
            Err(e) => panic!("expected DiskFull while resuming, got {e:?}"),
        }
        glommio::timer::sleep(Duration::from_millis(50)).await;
    }
}

fn expected(n: u64, len: usize) -> Vec<(i64, Vec<u8>)> {
    (0..n).map(|i| (i as i64, body(0, i, len))).collect()
}

#[test]
fn enospc_on_write_rolls_back_refuses_then_resumes_with_dense_offsets() {
    for mode in [FlushMode::Sync, FlushMode::Async] {
        run(async move {
            let fs = FaultyStorage::new();
            let store = open(config(mode), &fs).await;
            for i in 0..10u64 {
                store
                    .append_one(&msg("T", 0, &body(0, i, 300), ""))
                    .await
                    .unwrap();
            }
            fs.faults(|f| f.write_errno = Some(libc::ENOSPC));
            let r = store.append_one(&msg("T", 0, b"doomed", "")).await;
            assert!(
                matches!(r, Err(AppendError::DiskFull(_))),
                "{mode:?}: {r:?}"
            );
            assert!(store.disk_full_reason().is_some());
            assert!(
                store.fenced_reason().is_none(),
                "a full disk does not fence"
            );
            // Reads keep working on what was acknowledged; the failed record is not served.
            assert_eq!(read_all(&store, "T", 0).await, expected(10, 300));
            // Still full: refused at once.
            assert!(matches!(
                store.append_one(&msg("T", 0, b"more", "")).await,
                Err(AppendError::DiskFull(_))
            ));
            fs.faults(|f| f.write_errno = None);
            let offset = append_when_resumed(&store, &body(0, 10, 300)).await;
            assert_eq!(offset, 10, "{mode:?}: the rolled-back offset is reused");
            for i in 11..20u64 {
                let o = store
                    .append_one(&msg("T", 0, &body(0, i, 300), ""))
                    .await
                    .unwrap();
                assert_eq!(o.placement.queue_offset, i as i64);
            }
            assert_eq!(read_all(&store, "T", 0).await, expected(20, 300));
            assert!(store.disk_full_reason().is_none());
            // What a restart finds is exactly that, even after power loss.
            store.shutdown().await.unwrap();
            let after = fs.crash(CrashKind::MachineCrash, 9);
            let store = open(config(mode), &after).await;
            assert_eq!(read_all(&store, "T", 0).await, expected(20, 300));
            store.shutdown().await.unwrap();
        });
    }
}

#[test]
fn enospc_creating_a_segment_resumes_once_space_is_freed() {
    run(async {
        let fs = FaultyStorage::new();
        let mut cfg = config(FlushMode::Sync);
        // No zero-fill: the flusher itself must meet the full disk at the segment roll.
        cfg.zero_fill_ahead_bytes = 0;
        let store = open(cfg.clone(), &fs).await;
        let seg = cfg.commit_log_segment_bytes;
        // Room for the first segment and some metadata, not for a second segment.
        fs.faults(|f| f.capacity_bytes = Some(seg + seg / 2));
        let mut acked = 0u64;
        let refusal = loop {
            assert!(acked < 1000, "the disk never filled");
            match store
                .append_one(&msg("T", 0, &body(0, acked, 1000), ""))
                .await
            {
                Ok(o) => {
                    assert_eq!(o.placement.queue_offset, acked as i64);
                    acked += 1;
                }
                Err(e) => break e,
            }
        };
        assert!(matches!(refusal, AppendError::DiskFull(_)), "{refusal:?}");
        assert!(acked > 0);
        assert_eq!(read_all(&store, "T", 0).await, expected(acked, 1000));
        // No partial segment file is left taking space.
        assert_eq!(
            fs.paths()
                .iter()
                .filter(|p| p.starts_with("/store/commitlog"))
                .count(),
            1
        );
        fs.faults(|f| f.capacity_bytes = None);
        let offset = append_when_resumed(&store, &body(0, acked, 1000)).await;
        assert_eq!(offset, acked as i64);
        for i in acked + 1..acked + 80 {
            store
                .append_one(&msg("T", 0, &body(0, i, 1000), ""))
                .await
                .unwrap();
        }
        assert_eq!(read_all(&store, "T", 0).await, expected(acked + 80, 1000));
        store.shutdown().await.unwrap();
        let after = fs.crash(CrashKind::MachineCrash, 4);
        let store = open(cfg, &after).await;
        assert_eq!(read_all(&store, "T", 0).await, expected(acked + 80, 1000));
        store.shutdown().await.unwrap();
    });
}

#[test]
fn enospc_under_concurrent_async_appends_keeps_every_acknowledged_record() {
    // Pipelined rounds end mid-record: the rollback point is a record end below `written`.
    for seed in 0..4u64 {
        run(async move {
            let fs = FaultyStorage::new();
            let store = open(config(FlushMode::Async), &fs).await;
            fs.faults(|f| f.write_errno_after = Some((3 + seed * 5, libc::ENOSPC)));
            let mut tasks = Vec::new();
            for q in 0..4i32 {
                let store = store.clone();
                tasks.push(glommio::spawn_local(async move {
                    let mut acked = Vec::new();
                    for i in 0..60u64 {
                        let b = body(q, i, 1500 + (i as usize * 37) % 1500);
                        match store.append_one(&msg("T", q, &b, "")).await {
                            Ok(o) => acked.push((o.placement.queue_offset, b)),
                            Err(AppendError::DiskFull(_)) => {}
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    acked
                }));
            }
            let mut acked = Vec::new();
            for t in tasks {
                acked.push(t.await);
            }
            fs.faults(|f| f.write_errno = None);
            // Every acknowledged record is served at its offset; offsets are dense.
            for (q, mine) in acked.iter().enumerate() {
                let all = read_all(&store, "T", q as i32).await;
                for (i, (o, _)) in all.iter().enumerate() {
                    assert_eq!(*o, i as i64, "queue {q} offsets dense");
                }
                for (o, b) in mine {
                    assert_eq!(
                        all.get(*o as usize).map(|x| &x.1),
                        Some(b),
                        "queue {q} offset {o}"
                    );
                }
            }
            let next = append_when_resumed(&store, b"after").await;
            assert_eq!(next, read_all(&store, "T", 0).await.len() as i64 - 1);
            store.shutdown().await.unwrap();
            let after = fs.crash(CrashKind::MachineCrash, seed);
            let store = open(config(FlushMode::Async), &after).await;
            for (q, mine) in acked.iter().enumerate() {
                let all = read_all(&store, "T", q as i32).await;
                for (o, b) in mine {
                    assert_eq!(all.get(*o as usize).map(|x| &x.1), Some(b));
                }
            }
            store.shutdown().await.unwrap();
        });
    }
}

#[test]
fn shutdown_while_the_disk_is_full_fences_and_a_restart_recovers_the_acknowledged() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Sync), &fs).await;
        for i in 0..5u64 {
            store
                .append_one(&msg("T", 0, &body(0, i, 300), ""))
                .await
                .unwrap();
        }
        fs.faults(|f| f.write_errno = Some(libc::ENOSPC));
        assert!(matches!(
            store.append_one(&msg("T", 0, b"doomed", "")).await,
            Err(AppendError::DiskFull(_))
        ));
        // The rolled-back range cannot be zeroed: shutdown reports it instead of hanging.
        assert!(store.shutdown().await.is_err());
        let after = fs.crash(CrashKind::ProcessKill, 2);
        let store = open(config(FlushMode::Sync), &after).await;
        assert_eq!(read_all(&store, "T", 0).await, expected(5, 300));
        store.shutdown().await.unwrap();
    });
}
