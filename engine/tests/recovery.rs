//! Recovery rows one by one (the table in `src/recovery.rs`), with files planted on the
//! fault-injecting storage, plus a check that every row of the table names a test that exists.

mod common;

use common::*;
use rmq_engine::io::fault::{CrashKind, FaultyStorage};
use rmq_engine::io::Storage;
use rmq_engine::offsets::to_global;
use rmq_engine::recovery::{last_report, RecoveryCase};
use rmq_engine::{paths, EngineError, FlushMode, ShardStore, StoreConfig};

/// Which tests cover which row (test names in `tests/*.rs`).
const ROW_TESTS: &[(char, &str)] = &[
    ('A', "row_a_empty_store_starts_at_offset_zero"),
    ('B', "segments_roll_with_blank_filler_and_survive_restart"),
    ('C', "async_flush_acked_messages_survive_process_kill"),
    ('D', "row_d_missing_checkpoint_rebuilds_queues_and_index"),
    ('D', "row_d_torn_checkpoint_rebuilds_queues_and_index"),
    (
        'E',
        "torn_tail_after_machine_crash_is_truncated_and_never_served",
    ),
    (
        'E',
        "row_e_torn_tail_below_the_checkpoint_resets_the_checkpoint",
    ),
    ('F', "segments_roll_with_blank_filler_and_survive_restart"),
    (
        'G',
        "row_g_consume_queue_entries_past_the_log_are_dropped_on_disk_too",
    ),
    ('H', "async_flush_acked_messages_survive_process_kill"),
    ('I', "row_i_gap_between_segments_refuses_to_start"),
    ('I', "row_i_segment_of_another_shard_refuses_to_start"),
    ('J', "row_j_queue_offset_mismatch_refuses_to_start"),
];

/// A store with `n` messages of 300 bytes on T:0 (each keyed `k<i>`), shut down cleanly.
async fn filled(fs: &FaultyStorage, n: u64) -> StoreConfig {
    let cfg = config(FlushMode::Sync);
    let store = open(cfg.clone(), fs).await;
    for i in 0..n {
        let b = body(0, i, 300);
        let p = props("tag", &format!("k{i}"));
        store.append_one(&msg("T", 0, &b, &p)).await.unwrap();
    }
    store.shutdown().await.unwrap();
    cfg
}

async fn assert_all_readable(store: &ShardStore<FaultyStorage>, n: u64) {
    let all = read_all(store, "T", 0).await;
    assert_eq!(all.len() as u64, n);
    for (i, (qo, b)) in all.iter().enumerate() {
        assert_eq!(*qo, i as i64);
        assert_eq!(*b, body(0, i as u64, 300));
    }
}

fn segment_path(cfg: &StoreConfig, shard: u16, local: u64) -> std::path::PathBuf {
    paths::segment_file(&cfg.root_dir, to_global(shard, local) as u64)
}

async fn open_err(cfg: StoreConfig, fs: &FaultyStorage) -> EngineError {
    match ShardStore::open(cfg, fs.clone()).await {
        Ok(_) => panic!("recovery accepted a store it must refuse"),
        Err(e) => e,
    }
}

#[test]
fn row_a_empty_store_starts_at_offset_zero() {
    run(async {
        let fs = FaultyStorage::new();
        let store = open(config(FlushMode::Async), &fs).await;
        let r = last_report().unwrap();
        assert_eq!((r.case, r.log_end), (RecoveryCase::Empty, 0));
        assert_eq!(store.log_offsets(), (to_global(1, 0), to_global(1, 0)));
        store.shutdown().await.unwrap();
    });
}

async fn check_full_rebuild(fs: &FaultyStorage, cfg: StoreConfig, n: u64) {
    // Plant a wrong ConsumeQueue entry: a full rebuild must not trust it.
    let cq = paths::cq_queue_dir(&cfg.root_dir, "T", 0).join(rmq_engine::offsets::file_name(0));
    fs.corrupt(&cq, 20, &[0x7f; 8]);
    let store = open(cfg, fs).await;
    let r = last_report().unwrap();
    assert_eq!(r.case, RecoveryCase::NoCheckpoint);
    assert_eq!(r.scan_start, 0, "a full scan from the first segment");
    assert_eq!(r.records_scanned, n);
    assert_all_readable(&store, n).await;
    // The index was deleted and rebuilt from the log.
    let hit = store.query_by_key("T", "k3", 8, 0, i64::MAX).await;
    assert_eq!(hit.messages.len(), 1);
    store.shutdown().await.unwrap();
}

#[test]
fn row_d_missing_checkpoint_rebuilds_queues_and_index() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 12).await;
        fs.remove(&paths::checkpoint_file(&cfg.root_dir))
            .await
            .unwrap();
        check_full_rebuild(&fs, cfg, 12).await;
    });
}

#[test]
fn row_d_torn_checkpoint_rebuilds_queues_and_index() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 12).await;
        // One flipped byte inside the CRC-protected part.
        fs.corrupt(&paths::checkpoint_file(&cfg.root_dir), 50, &[0xee]);
        check_full_rebuild(&fs, cfg, 12).await;
    });
}

#[test]
fn row_e_torn_tail_below_the_checkpoint_resets_the_checkpoint() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 5).await;
        // The first record's body goes bad (its CRC no longer matches) and the store is
        // marked crashed: the scan starts at the newest index file's first record (0) and
        // the log ends there, below the checkpoint.
        let seg = segment_path(&cfg, 1, 0);
        let body_at = fs.file_content(&seg).unwrap()[..400]
            .windows(6)
            .position(|w| w == b"q0-n0-")
            .unwrap();
        fs.corrupt(&seg, body_at, b"XXXXXX");
        fs.open(&paths::abort_file(&cfg.root_dir), true)
            .await
            .unwrap();
        let store = open(cfg.clone(), &fs).await;
        let r = last_report().unwrap();
        assert_eq!(
            (r.case, r.log_end, r.torn_tail),
            (RecoveryCase::Crashed, 0, true)
        );
        assert_eq!(store.max_offset("T", 0), 0);
        // Crash again before any persist pass: the next recovery must not start past the
        // recovered end (the old checkpoint pointed past it).
        store.abandon();
        let fs = fs.crash(CrashKind::ProcessKill, 1);
        let store = open(cfg.clone(), &fs).await;
        assert_eq!(last_report().unwrap().log_end, 0);
        assert_eq!(
            store.max_offset("T", 0),
            0,
            "stale entries must not come back"
        );
        let b = body(0, 0, 300);
        let out = store.append_one(&msg("T", 0, &b, "")).await.unwrap();
        assert_eq!(out.placement.queue_offset, 0);
        store.shutdown().await.unwrap();
        let store = open(cfg, &fs).await;
        assert_all_readable(&store, 1).await;
        store.shutdown().await.unwrap();
    });
}

#[test]
fn row_g_consume_queue_entries_past_the_log_are_dropped_on_disk_too() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 6).await;
        let cq = paths::cq_queue_dir(&cfg.root_dir, "T", 0).join(rmq_engine::offsets::file_name(0));
        assert_eq!(fs.file_content(&cq).unwrap()[..6 * 20].len(), 120);
        // Cut the log after record 2 (zeros from there): entries 3..6 point past the end.
        let seg = segment_path(&cfg, 1, 0);
        let content = fs.file_content(&seg).unwrap();
        let third_end = {
            let mut pos = 0usize;
            for _ in 0..3 {
                let size = i32::from_be_bytes(content[pos..pos + 4].try_into().unwrap());
                pos += size as usize;
            }
            pos
        };
        fs.corrupt(&seg, third_end, &vec![0u8; content.len() - third_end]);
        fs.remove(&paths::checkpoint_file(&cfg.root_dir))
            .await
            .unwrap();
        let store = open(cfg.clone(), &fs).await;
        assert_eq!(store.queue_offsets("T", 0), Some((0, 3)));
        // On disk too: nothing past entry 3 is left to be loaded by a later recovery.
        let on_disk = fs.file_content(&cq).unwrap_or_default();
        assert!(
            on_disk.len() <= 3 * 20,
            "stale entries left on disk: {}",
            on_disk.len()
        );
        store.abandon();
        let store = open(cfg, &fs.crash(CrashKind::ProcessKill, 2)).await;
        assert_eq!(store.queue_offsets("T", 0), Some((0, 3)));
        assert_all_readable(&store, 3).await;
        store.abandon();
    });
}

#[test]
fn row_i_gap_between_segments_refuses_to_start() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 2).await;
        let seg = cfg.commit_log_segment_bytes;
        fs.open(&segment_path(&cfg, 1, 3 * seg), true)
            .await
            .unwrap();
        let e = open_err(cfg.clone(), &fs).await;
        assert!(
            matches!(e, EngineError::Corrupt(ref m) if m.contains("gap")),
            "{e}"
        );
        // A file name that is not a segment boundary is refused as well.
        fs.remove(&segment_path(&cfg, 1, 3 * seg)).await.unwrap();
        fs.open(&segment_path(&cfg, 1, seg + 4096), true)
            .await
            .unwrap();
        let e = open_err(cfg.clone(), &fs).await;
        assert!(matches!(e, EngineError::Corrupt(_)), "{e}");
        // A file whose name is not an offset is not a segment and is left alone.
        fs.remove(&segment_path(&cfg, 1, seg + 4096)).await.unwrap();
        fs.open(
            &paths::commit_log_dir(&cfg.root_dir).join("notes.txt"),
            true,
        )
        .await
        .unwrap();
        let store = open(cfg, &fs).await;
        assert_all_readable(&store, 2).await;
        store.shutdown().await.unwrap();
    });
}

#[test]
fn row_i_segment_of_another_shard_refuses_to_start() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 2).await;
        fs.open(&segment_path(&cfg, 2, 0), true).await.unwrap();
        let e = open_err(cfg, &fs).await;
        assert!(
            matches!(e, EngineError::Corrupt(ref m) if m.contains("shard")),
            "{e}"
        );
    });
}

#[test]
fn row_j_queue_offset_mismatch_refuses_to_start() {
    run(async {
        let fs = FaultyStorage::new();
        let cfg = filled(&fs, 4).await;
        // QUEUEOFFSET (bytes 20..28 of a record) is outside the body CRC: rewrite record 2's.
        let seg = segment_path(&cfg, 1, 0);
        let content = fs.file_content(&seg).unwrap();
        let mut pos = 0usize;
        for _ in 0..2 {
            pos += i32::from_be_bytes(content[pos..pos + 4].try_into().unwrap()) as usize;
        }
        fs.corrupt(&seg, pos + 20, &7i64.to_be_bytes());
        // Force a full scan, so recovery re-dispatches record 2.
        fs.remove(&paths::checkpoint_file(&cfg.root_dir))
            .await
            .unwrap();
        let e = open_err(cfg, &fs).await;
        assert!(
            matches!(e, EngineError::Corrupt(ref m) if m.contains("queue offset 7")),
            "{e}"
        );
    });
}

/// Every row of the recovery table has at least one test here, and every named test exists.
#[test]
fn recovery_table_rows_all_have_tests() {
    let doc = include_str!("../src/recovery.rs");
    let rows: Vec<char> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter_map(|l| {
            let mut cs = l.chars();
            let row = cs.next()?;
            (row.is_ascii_uppercase() && cs.next() == Some(' ')).then_some(row)
        })
        .collect();
    assert_eq!(rows, ('A'..='J').collect::<Vec<_>>(), "the table's rows");
    let sources = [
        include_str!("store.rs"),
        include_str!("recovery.rs"),
        include_str!("property.rs"),
    ];
    for row in rows {
        let tests: Vec<&str> = ROW_TESTS
            .iter()
            .filter(|(r, _)| *r == row)
            .map(|(_, t)| *t)
            .collect();
        assert!(!tests.is_empty(), "row {row} has no test");
        for t in tests {
            let decl = format!("fn {t}()");
            assert!(
                sources.iter().any(|s| s.contains(&decl)),
                "row {row}: test {t} does not exist"
            );
        }
    }
}
