//! Behaviour of the store through its public API on the in-memory storage: append, reads,
//! statuses, segment roll, restart, group commit, faults, crashes, index, retention.

mod common;

use common::*;
use rmq_engine::io::fault::{CrashKind, FaultyStorage};
use rmq_engine::retention::RetentionInput;
use rmq_engine::{AppendError, FlushMode, GetStatus, PutStatus, TimeBoundary};
use rmq_protocol::message::record::RecordView;
use rmq_protocol::message::tag::tags_code;
use std::rc::Rc;

#[test]
fn append_then_read_back_in_order_with_statuses() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        let p = props("TagA", "k");
        let pb = props("TagB", "k");
        for i in 0..40u64 {
            let b = body((i % 2) as i32, i / 2, 100);
            let pr = if i % 4 < 2 { &p } else { &pb };
            let out = store
                .append(&[msg("T", (i % 2) as i32, &b, pr)])
                .await
                .unwrap();
            assert_eq!(out.status, PutStatus::PutOk);
            assert_eq!(out.placements[0].queue_offset, (i / 2) as i64);
            assert_eq!(
                out.placements[0].physical_offset >> 48,
                1,
                "shard id in high bits"
            );
        }
        let all = read_all(&store, "T", 0).await;
        assert_eq!(all.len(), 20);
        for (i, (qo, b)) in all.iter().enumerate() {
            assert_eq!(*qo, i as i64);
            assert_eq!(*b, body(0, i as u64, 100));
        }
        assert_eq!(store.queue_offsets("T", 1), Some((0, 20)));
        // Tag filter at the ConsumeQueue.
        let a = tags_code(Some("TagA"));
        let r = store.get_messages("T", 0, 0, 32, 1 << 20, |c| c == a).await;
        assert_eq!(r.status, GetStatus::Found);
        assert_eq!(r.messages.len(), 10);
        assert_eq!(r.next_begin_offset, 20);
        let none = store.get_messages("T", 0, 0, 32, 1 << 20, |_| false).await;
        assert_eq!(none.status, GetStatus::NoMatchedMessage);
        assert_eq!(none.next_begin_offset, 20);
        // Byte and count limits: at least one message, then stop.
        let small = store.get_messages("T", 0, 3, 32, 150, |_| true).await;
        assert_eq!((small.messages.len(), small.next_begin_offset), (1, 4));
        let two = store.get_messages("T", 0, 3, 2, 1 << 20, |_| true).await;
        assert_eq!(two.next_begin_offset, 5);
        // The status table of protocol.md 2.3.
        let st = |o| {
            let store = store.clone();
            async move { store.get_messages("T", 0, o, 32, 1 << 20, |_| true).await }
        };
        let r = st(20).await;
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetStatus::OffsetOverflowOne, 20)
        );
        let r = st(25).await;
        assert_eq!(
            (r.status, r.next_begin_offset),
            (GetStatus::OffsetOverflowBadly, 20)
        );
        let r = store
            .get_messages("nope", 0, 0, 32, 1 << 20, |_| true)
            .await;
        assert_eq!(r.status, GetStatus::NoMatchedLogicQueue);
        // By physical offset.
        let first = store
            .get_messages("T", 1, 0, 1, 1 << 20, |_| true)
            .await
            .messages[0]
            .clone();
        let phys = RecordView::parse(&first).unwrap().physical_offset();
        let again = store.message_at(phys).await.unwrap();
        assert_eq!(&*again, &*first);
        assert!(store.message_at(phys + 1).await.is_none());
        assert!(
            store.message_at(phys & ((1 << 48) - 1)).await.is_none(),
            "other shard"
        );
        store.shutdown().await.unwrap();
    });
}

#[test]
fn segments_roll_with_blank_filler_and_survive_restart() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = config(FlushMode::Async);
        let store = open(cfg.clone(), &fs).await;
        for i in 0..300u64 {
            let b = body(0, i, 1000);
            store.append(&[msg("T", 0, &b, "")]).await.unwrap();
        }
        let segments = fs
            .paths()
            .iter()
            .filter(|p| p.starts_with("/store/commitlog"))
            .count();
        assert!(
            segments >= 5,
            "expected several 64 KiB segments, got {segments}"
        );
        store.shutdown().await.unwrap();
        let store = open(cfg, &fs).await;
        let report = rmq_engine::recovery::last_report().unwrap();
        assert_eq!(report.case, rmq_engine::recovery::RecoveryCase::Clean);
        let all = read_all(&store, "T", 0).await;
        assert_eq!(all.len(), 300);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, (qo, b))| *qo == i as i64 && *b == body(0, i as u64, 1000)));
        let out = store.append(&[msg("T", 0, b"after", "")]).await.unwrap();
        assert_eq!(out.placements[0].queue_offset, 300);
        store.shutdown().await.unwrap();
    });
}

#[test]
fn sync_flush_group_commit_shares_fdatasyncs() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Sync), &fs).await;
        let mut tasks = Vec::new();
        for i in 0..64u64 {
            let s = store.clone();
            tasks.push(glommio::spawn_local(async move {
                let b = body(0, i, 200);
                s.append(&[msg("T", (i % 4) as i32, &b, "")]).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap().status, PutStatus::PutOk);
        }
        let stats = store.stats();
        assert_eq!(stats.messages_appended, 64);
        assert!(stats.log_syncs >= 1);
        assert!(
            stats.log_syncs < 32,
            "64 concurrent appends took {} syncs",
            stats.log_syncs
        );
        store.shutdown().await.unwrap();
    });
}

#[test]
fn batch_is_placed_whole_or_refused() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        let big = vec![0u8; 5000];
        let r = store
            .append(&[msg("T", 0, b"ok", ""), msg("T", 0, &big, "")])
            .await;
        assert!(matches!(r, Err(AppendError::MessageIllegal(_))));
        assert_eq!(
            store.max_offset("T", 0),
            0,
            "nothing of a refused batch is stored"
        );
        let out = store
            .append(&[
                msg("T", 0, b"a", ""),
                msg("T", 0, b"b", ""),
                msg("T", 1, b"c", ""),
            ])
            .await
            .unwrap();
        let qos: Vec<i64> = out.placements.iter().map(|p| p.queue_offset).collect();
        assert_eq!(qos, vec![0, 1, 0]);
        store.shutdown().await.unwrap();
    });
}

fn crash_keeps_acked(mode: FlushMode, page_cache: bool, kind: CrashKind, seed: u64) {
    run(async move {
        let fs = FaultyStorage::new();
        let mut cfg = config(mode);
        cfg.async_flush_page_cache_writes = page_cache;
        let store = open(cfg.clone(), &fs).await;
        let acked = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..120u64 {
            let s = store.clone();
            let acked = acked.clone();
            tasks.push(glommio::spawn_local(async move {
                let b = body(0, i, 300 + (i as usize * 37) % 700);
                if let Ok(out) = s.append(&[msg("T", 0, &b, "")]).await {
                    acked.borrow_mut().push((out.placements[0].queue_offset, b));
                }
            }));
            if i % 10 == 0 {
                futures_lite::future::yield_now().await;
            }
        }
        // Crash while some appends are still in flight.
        for (n, t) in tasks.into_iter().enumerate() {
            if n < 100 {
                t.await;
            }
        }
        let after = fs.crash(kind, seed);
        store.abandon();
        let store = open(cfg, &after).await;
        let all: std::collections::BTreeMap<i64, Vec<u8>> =
            read_all(&store, "T", 0).await.into_iter().collect();
        for (qo, b) in acked.borrow().iter() {
            assert_eq!(
                all.get(qo),
                Some(b),
                "acked record at queue offset {qo} lost or altered"
            );
        }
        // Offsets stay dense after recovery, and appends continue from the recovered end.
        let max = store.max_offset("T", 0);
        assert_eq!(all.len() as i64, max);
        let out = store.append(&[msg("T", 0, b"next", "")]).await.unwrap();
        assert_eq!(out.placements[0].queue_offset, max);
        store.shutdown().await.unwrap();
    });
}

#[test]
fn async_flush_acked_messages_survive_process_kill() {
    for page_cache in [true, false] {
        for seed in 1..4 {
            crash_keeps_acked(FlushMode::Async, page_cache, CrashKind::ProcessKill, seed);
        }
    }
}

#[test]
fn sync_flush_acked_messages_survive_machine_crash() {
    for seed in 1..6 {
        crash_keeps_acked(FlushMode::Sync, true, CrashKind::MachineCrash, seed);
    }
}

#[test]
fn torn_tail_after_machine_crash_is_truncated_and_never_served() {
    run(async {
        // Async mode with a long sync interval: everything after the first sync is unsynced
        // and gets torn by the machine crash.
        let fs = FaultyStorage::new();
        let mut cfg = config(FlushMode::Async);
        cfg.flush_interval = std::time::Duration::from_secs(3600);
        let store = open(cfg.clone(), &fs).await;
        for i in 0..50u64 {
            let b = body(0, i, 700);
            store.append(&[msg("T", 0, &b, "")]).await.unwrap();
        }
        store.persist().await.unwrap();
        let (_, end_before) = store.log_offsets();
        let mut torn_seen = false;
        for seed in 1..8 {
            let after = fs.crash(CrashKind::MachineCrash, seed);
            let s2 = open(cfg.clone(), &after).await;
            let report = rmq_engine::recovery::last_report().unwrap();
            torn_seen |= report.torn_tail;
            let all = read_all(&s2, "T", 0).await;
            // Whatever survived is a dense prefix of what was written, byte-exact.
            for (i, (qo, b)) in all.iter().enumerate() {
                assert_eq!(*qo, i as i64);
                assert_eq!(*b, body(0, i as u64, 700));
            }
            assert!(s2.log_offsets().1 <= end_before);
            s2.abandon();
        }
        assert!(torn_seen, "some seed must tear the tail");
        store.abandon();
    });
}

#[test]
fn enospc_on_fsync_fails_the_appender_fences_and_keeps_serving_reads() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Sync), &fs).await;
        for i in 0..10u64 {
            let b = body(0, i, 100);
            store.append(&[msg("T", 0, &b, "")]).await.unwrap();
        }
        fs.faults(|f| f.sync_errno = Some(libc::ENOSPC));
        let r = store.append(&[msg("T", 0, b"doomed", "")]).await;
        match r {
            Err(AppendError::WriteFailed(reason)) => {
                assert!(reason.contains("No space"), "{reason}")
            }
            other => panic!("expected WriteFailed, got {other:?}"),
        }
        assert!(matches!(
            store.append(&[msg("T", 0, b"more", "")]).await,
            Err(AppendError::Fenced(_))
        ));
        let all = read_all(&store, "T", 0).await;
        assert_eq!(
            all.len(),
            10,
            "earlier records are still served, the failed one never"
        );
        assert!(store.fenced_reason().is_some());
        store.abandon();
    });
}

#[test]
fn eio_on_write_fails_waiters_and_short_writes_are_retried() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        fs.faults(|f| f.short_writes = 3);
        for i in 0..5u64 {
            let b = body(0, i, 100);
            store.append(&[msg("T", 0, &b, "")]).await.unwrap();
        }
        assert_eq!(read_all(&store, "T", 0).await.len(), 5);
        fs.faults(|f| f.write_errno = Some(libc::EIO));
        assert!(matches!(
            store.append(&[msg("T", 0, b"x", "")]).await,
            Err(AppendError::WriteFailed(_))
        ));
        assert!(matches!(
            store.append(&[msg("T", 0, b"y", "")]).await,
            Err(AppendError::Fenced(_))
        ));
        assert_eq!(read_all(&store, "T", 0).await.len(), 5);
        store.abandon();
    });
}

#[test]
fn query_by_key_finds_records_before_and_after_restart() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = config(FlushMode::Async);
        let store = open(cfg.clone(), &fs).await;
        // 100 records with 2 keys each roll the 32-entry index files several times.
        for i in 0..100u64 {
            let p = props("t", &format!("key{}", i % 7));
            let b = body(0, i, 50);
            store.append(&[msg("T", 0, &b, &p)]).await.unwrap();
        }
        store.persist().await.unwrap();
        let check = |store: rmq_engine::ShardStore<FaultyStorage>| async move {
            let r = store.query_by_key("T", "key3", 100, 0, i64::MAX).await;
            let bodies: Vec<Vec<u8>> = r
                .messages
                .iter()
                .map(|m| RecordView::parse(m).unwrap().body().to_vec())
                .collect();
            let mut expected: Vec<Vec<u8>> = (0..100u64)
                .filter(|i| i % 7 == 3)
                .map(|i| body(0, i, 50))
                .collect();
            expected.reverse();
            assert_eq!(bodies, expected, "newest first, all of them");
            let uniq = store.query_by_key("T", "Ukey3", 2, 0, i64::MAX).await;
            assert_eq!(uniq.messages.len(), 2);
            assert!(store
                .query_by_key("T", "nokey", 10, 0, i64::MAX)
                .await
                .messages
                .is_empty());
            assert!(store
                .query_by_key("T", "key3", 10, 0, 1)
                .await
                .messages
                .is_empty());
        };
        check(store.clone()).await;
        store.shutdown().await.unwrap();
        let store = open(cfg.clone(), &fs).await;
        check(store.clone()).await;
        // After a crash the newest index file is rebuilt from the log.
        let after = fs.crash(CrashKind::ProcessKill, 3);
        store.abandon();
        let store = open(cfg, &after).await;
        check(store.clone()).await;
        store.shutdown().await.unwrap();
    });
}

#[test]
fn timestamps_search_and_earliest_store_time() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        let mut ts = Vec::new();
        for i in 0..6u64 {
            let b = body(0, i, 10);
            let out = store.append(&[msg("T", 0, &b, "")]).await.unwrap();
            ts.push(out.placements[0].store_timestamp);
            glommio::timer::sleep(std::time::Duration::from_millis(3)).await;
        }
        assert_eq!(store.earliest_store_time("T", 0).await, Some(ts[0]));
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, ts[3], TimeBoundary::Lower)
                .await,
            3
        );
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, ts[3], TimeBoundary::Upper)
                .await,
            3
        );
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, ts[3] + 1, TimeBoundary::Lower)
                .await,
            4
        );
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, 0, TimeBoundary::Lower)
                .await,
            0
        );
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, i64::MAX, TimeBoundary::Lower)
                .await,
            6
        );
        assert_eq!(
            store
                .offset_by_timestamp("T", 0, i64::MAX, TimeBoundary::Upper)
                .await,
            5
        );
        store.shutdown().await.unwrap();
    });
}

#[test]
fn retention_deletes_old_segments_and_advances_min_offsets() {
    run(async {
        let fs = FaultyStorage::new();
        fs.set_clock_ms(0);
        let cfg = config(FlushMode::Async);
        let store = open(cfg.clone(), &fs).await;
        for i in 0..200u64 {
            let b = body((i % 2) as i32, i / 2, 1000);
            store
                .append(&[msg("T", (i % 2) as i32, &b, "")])
                .await
                .unwrap();
        }
        store.persist().await.unwrap();
        let (min_before, _) = store.log_offsets();
        // Not expired yet: nothing goes, except when the disk is over the forced ratio.
        let young = RetentionInput {
            now_ms: 1000,
            hour_of_day: 4,
            disk_used_ratio: 0.1,
        };
        assert_eq!(store.clean_expired(young).await.unwrap(), 0);
        let old = RetentionInput {
            now_ms: 73 * 3_600_000,
            hour_of_day: 4,
            disk_used_ratio: 0.1,
        };
        let deleted = store.clean_expired(old).await.unwrap();
        assert!(deleted >= 2, "deleted {deleted}");
        let (min_after, _) = store.log_offsets();
        assert!(min_after > min_before);
        for q in 0..2 {
            let min = store.min_offset("T", q);
            assert!(min > 0);
            let r = store.get_messages("T", q, 0, 32, 1 << 20, |_| true).await;
            assert_eq!(
                (r.status, r.next_begin_offset),
                (GetStatus::OffsetTooSmall, min)
            );
            let all = read_all(&store, "T", q).await;
            assert_eq!(all.first().map(|x| x.0), Some(min));
            assert_eq!(all.last().map(|x| x.0), Some(99));
        }
        store.shutdown().await.unwrap();
        let store = open(cfg, &fs).await;
        assert_eq!(store.log_offsets().0, min_after);
        assert_eq!(read_all(&store, "T", 0).await.last().map(|x| x.0), Some(99));
        store.shutdown().await.unwrap();
    });
}

#[test]
fn arrival_listener_fires_when_entries_become_visible() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        let seen = Rc::new(std::cell::RefCell::new(Vec::new()));
        let s2 = seen.clone();
        store.set_arrival_listener(Box::new(move |t, q, max| {
            s2.borrow_mut().push((t.to_owned(), q, max))
        }));
        store.append(&[msg("T", 2, b"a", "")]).await.unwrap();
        store.append(&[msg("T", 2, b"b", "")]).await.unwrap();
        assert_eq!(seen.borrow().last(), Some(&("T".to_owned(), 2, 2)));
        store.shutdown().await.unwrap();
    });
}

#[test]
fn delete_topic_removes_its_queues() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = config(FlushMode::Async);
        let store = open(cfg.clone(), &fs).await;
        store
            .append(&[msg("A", 0, b"a", ""), msg("B", 0, b"b", "")])
            .await
            .unwrap();
        store.persist().await.unwrap();
        store.delete_topic("A").await.unwrap();
        assert_eq!(store.queue_offsets("A", 0), None);
        store.shutdown().await.unwrap();
        let store = open(cfg, &fs).await;
        assert_eq!(store.queues(), vec![("B".to_owned(), 0)]);
        store.shutdown().await.unwrap();
    });
}

#[test]
fn a_store_directory_opens_once_until_shutdown_or_crash() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = config(FlushMode::Async);
        let store = open(cfg.clone(), &fs).await;
        let second = rmq_engine::ShardStore::open(cfg.clone(), fs.clone()).await;
        assert!(matches!(
            second.err(),
            Some(rmq_engine::EngineError::Unavailable(_))
        ));
        store.shutdown().await.unwrap();
        // Released by shutdown ...
        let store = open(cfg.clone(), &fs).await;
        // ... and by a crash (the dead process's lock goes with it).
        store.abandon();
        let store = open(cfg, &fs).await;
        store.shutdown().await.unwrap();
    });
}

#[test]
fn wait_false_in_sync_flush_acks_after_the_write_not_the_fsync() {
    run(async {
        let no_wait = "WAIT\u{1}false\u{2}";
        let b = body(0, 0, 100);
        // Every fdatasync fails: an append that waits for it fails, one with WAIT=false is
        // acknowledged once its write completed (and the store fences on the failed sync).
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Sync), &fs).await;
        fs.faults(|f| f.sync_errno = Some(libc::EIO));
        let out = store.append_one(&msg("T", 0, &b, no_wait)).await.unwrap();
        assert_eq!(out.status, PutStatus::PutOk);
        assert_eq!(out.placement.queue_offset, 0);
        // The write is on the "device": a kill -9 keeps it.
        let killed = fs.crash(CrashKind::ProcessKill, 1);
        store.abandon();
        let store = open(config(FlushMode::Sync), &killed).await;
        assert_eq!(read_all(&store, "T", 0).await, vec![(0, b.clone())]);
        store.shutdown().await.unwrap();

        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Sync), &fs).await;
        fs.faults(|f| f.sync_errno = Some(libc::EIO));
        let waited = store.append_one(&msg("T", 0, &b, "")).await;
        assert!(
            matches!(waited, Err(AppendError::WriteFailed(_))),
            "{waited:?}"
        );
        store.abandon();
    });
}

#[test]
fn zero_fill_runs_ahead_without_touching_records() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = config(FlushMode::Sync);
        let store = open(cfg.clone(), &fs).await;
        for i in 0..150u64 {
            let b = body(0, i, 900);
            store.append_one(&msg("T", 0, &b, "")).await.unwrap();
        }
        // Let the low-priority task catch up, bounded.
        for _ in 0..200 {
            if store.stats().zero_filled_bytes > 0 {
                break;
            }
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert!(store.stats().zero_filled_bytes > 0, "{:?}", store.stats());
        store.abandon();
        let store = open(cfg, &fs.crash(CrashKind::ProcessKill, 3)).await;
        let all = read_all(&store, "T", 0).await;
        assert_eq!(all.len(), 150);
        for (i, (_, b)) in all.iter().enumerate() {
            assert_eq!(*b, body(0, i as u64, 900));
        }
        store.shutdown().await.unwrap();
    });
}

#[test]
fn async_flush_pipelines_rounds_and_keeps_every_record_in_order() {
    for page_cache in [true, false] {
        pipelined_rounds_keep_every_record_in_order(page_cache);
    }
}

fn pipelined_rounds_keep_every_record_in_order(page_cache: bool) {
    run(async move {
        let fs = FaultyStorage::new();
        let mut cfg = config(FlushMode::Async);
        cfg.async_flush_page_cache_writes = page_cache;
        let store = open(cfg.clone(), &fs).await;
        // An open-loop producer: appends start while earlier rounds are still being written.
        let mut tasks = Vec::new();
        for i in 0..300u64 {
            let q = (i % 4) as i32;
            let store = store.clone();
            tasks.push(glommio::spawn_local(async move {
                let b = body(q, i, 900);
                let out = store.append_one(&msg("T", q, &b, "")).await.unwrap();
                (q, out.placement.queue_offset, b)
            }));
            if i % 3 == 0 {
                futures_lite::future::yield_now().await;
            }
        }
        let mut expected: Vec<Vec<(i64, Vec<u8>)>> = vec![Vec::new(); 4];
        for task in tasks {
            let (q, off, b) = task.await;
            expected[q as usize].push((off, b));
        }
        assert!(
            store.stats().rounds_in_flight_max > 1,
            "rounds were not pipelined: {:?}",
            store.stats()
        );
        // Whole-page rounds end inside records: the checkpoint must still name a record
        // boundary, or recovery would start scanning mid-record and cut acked records.
        store.persist().await.unwrap();
        store.abandon();
        let store = open(cfg, &fs.crash(CrashKind::ProcessKill, 9)).await;
        for (q, mut want) in expected.into_iter().enumerate() {
            want.sort();
            assert_eq!(read_all(&store, "T", q as i32).await, want, "queue {q}");
        }
        store.shutdown().await.unwrap();
    });
}

#[test]
fn the_commit_log_write_path_follows_the_flush_mode_and_the_switch() {
    for (mode, page_cache, expect_cached) in [
        (FlushMode::Async, true, true),
        (FlushMode::Async, false, false),
        // SYNC_FLUSH keeps O_DIRECT whatever the switch says.
        (FlushMode::Sync, true, false),
    ] {
        run(async move {
            let fs = FaultyStorage::new();
            let mut cfg = config(mode);
            cfg.async_flush_page_cache_writes = page_cache;
            let store = open(cfg.clone(), &fs).await;
            for i in 0..40u64 {
                let b = body(0, i, 333);
                store.append_one(&msg("T", 0, &b, "")).await.unwrap();
            }
            let counters = fs.counters();
            assert_eq!(
                counters.cached_writes > 0,
                expect_cached,
                "{mode:?} page_cache={page_cache}: {counters:?}"
            );
            store.shutdown().await.unwrap();
            // Whichever path wrote them, a restart reads every record back from the files.
            let store = open(cfg, &fs).await;
            let all = read_all(&store, "T", 0).await;
            assert_eq!(all.len(), 40);
            for (i, (qo, b)) in all.iter().enumerate() {
                assert_eq!(
                    (*qo, b.as_slice()),
                    (i as i64, body(0, i as u64, 333).as_slice())
                );
            }
            store.shutdown().await.unwrap();
        });
    }
}

#[test]
fn async_flush_acks_do_not_wait_for_the_periodic_sync() {
    for page_cache in [true, false] {
        run(async move {
            let fs = FaultyStorage::new();
            let mut cfg = config(FlushMode::Async);
            cfg.async_flush_page_cache_writes = page_cache;
            cfg.flush_interval = std::time::Duration::from_millis(1);
            let store = open(cfg.clone(), &fs).await;
            // Every sync now hangs until released: appends must still be acknowledged.
            fs.hold_syncs();
            let syncs_before = fs.counters().syncs;
            for i in 0..30u64 {
                let b = body(0, i, 500);
                let m = msg("T", 0, &b, "");
                let append = store.append_one(&m);
                let acked = glommio::timer::timeout(std::time::Duration::from_secs(10), async {
                    Ok(append.await)
                })
                .await;
                assert!(
                    matches!(acked, Ok(Ok(_))),
                    "append {i} (page_cache={page_cache}) waited for the held sync"
                );
                // Let the flusher start its periodic sync between appends.
                glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(fs.counters().syncs, syncs_before, "a held sync completed");
            fs.release_syncs();
            // Shutdown waits for the final sync; after it a machine crash keeps everything.
            store.shutdown().await.unwrap();
            assert!(fs.counters().syncs > syncs_before);
            let store = open(cfg, &fs.crash(CrashKind::MachineCrash, 5)).await;
            assert_eq!(read_all(&store, "T", 0).await.len(), 30);
            store.shutdown().await.unwrap();
        });
    }
}

#[test]
fn synced_pages_beyond_the_page_cache_window_are_dropped_and_still_read_back() {
    const KEEP: u64 = 16 * 1024;
    for (page_cache, keep, expect_drops) in [
        (true, KEEP, true),
        // Unbounded window: nothing dropped. O_DIRECT: there is no page cache to drop.
        (true, u64::MAX, false),
        (false, KEEP, false),
    ] {
        run(async move {
            let fs = FaultyStorage::new();
            let mut cfg = config(FlushMode::Async);
            cfg.async_flush_page_cache_writes = page_cache;
            cfg.page_cache_keep_bytes = keep;
            let store = open(cfg.clone(), &fs).await;
            // About 200 KB: several 64 KiB segments, so the drops cross segment rolls.
            for i in 0..200u64 {
                let b = body(0, i, 900);
                store.append_one(&msg("T", 0, &b, "")).await.unwrap();
            }
            // Let periodic syncs (every 5 ms) cover everything written.
            for _ in 0..200 {
                let syncs = fs.counters().syncs;
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
                if fs.counters().syncs > syncs + 1 {
                    break;
                }
            }
            let (min, max) = store.log_offsets();
            let written = (max - min) as u64;
            let dropped = fs.counters().cache_dropped_bytes;
            if expect_drops {
                // Everything synced except the newest KEEP bytes (rounded down to a page) is
                // dropped, each byte once; `FaultyFile::drop_cached` checks each range was
                // synced. A segment's unused tail past its last record counts as written.
                let upto = (written - KEEP) / 4096 * 4096;
                assert_eq!(dropped, upto, "written {written}");
            } else {
                assert_eq!(dropped, 0, "page_cache={page_cache} keep={keep}");
            }
            // Reads do not depend on what is cached.
            let all = read_all(&store, "T", 0).await;
            assert_eq!(all.len(), 200);
            for (i, (qo, b)) in all.iter().enumerate() {
                assert_eq!(
                    (*qo, b.as_slice()),
                    (i as i64, body(0, i as u64, 900).as_slice())
                );
            }
            store.shutdown().await.unwrap();
        });
    }
}

#[test]
fn a_long_stream_reuses_the_pending_buffer_slabs() {
    run(async {
        let fs = FaultyStorage::new();
        let mut cfg = config(FlushMode::Async);
        cfg.commit_log_segment_bytes = 16 * 1024 * 1024;
        cfg.tail_cache_bytes = 1024 * 1024;
        let store = open(cfg, &fs).await;
        // ~105 MiB of records: more than six 16 MiB slabs if none came back.
        let producers = 64u64;
        let per_producer = 400u64;
        let mut tasks = Vec::new();
        for p in 0..producers {
            let store = store.clone();
            tasks.push(glommio::spawn_local(async move {
                let mut placed = Vec::new();
                for i in 0..per_producer {
                    let seq = p * per_producer + i;
                    let b = body(0, seq, 4096);
                    let out = store.append_one(&msg("T", 0, &b, "")).await.unwrap();
                    placed.push((out.placement.queue_offset, b));
                }
                placed
            }));
        }
        let mut want = Vec::new();
        for t in tasks {
            want.extend(t.await);
        }
        want.sort();
        let slabs = store.stats().pending_slabs_allocated;
        assert!(
            (1..=3).contains(&slabs),
            "{slabs} pending slabs allocated for a 1 MiB memory tail"
        );
        assert_eq!(read_all(&store, "T", 0).await, want);
        store.shutdown().await.unwrap();
    });
}
