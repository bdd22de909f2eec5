//! The engine on real files (glommio), beyond what the in-memory tail holds: cold reads must
//! come from the segment files, byte-identical, after a segment roll, after a restart and
//! after a crash of the store (`abandon`: nothing flushed, as `kill -9`), with the CommitLog
//! written through the page cache (the ASYNC_FLUSH default, here with every synced page
//! dropped from the cache) and with O_DIRECT.

mod common;

use common::{msg, props, run};
use rmq_engine::io::glommio_fs::GlommioStorage;
use rmq_engine::{FlushMode, GetStatus, ShardStore, StoreConfig};

fn real_config(dir: &std::path::Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir, 0);
    c.commit_log_segment_bytes = 256 * 1024;
    c.tail_cache_bytes = 16 * 1024;
    c.max_message_body_bytes = 4096;
    c.flush_mode = FlushMode::Async;
    c.index_hash_slots = 1024;
    c.index_entries = 4096;
    c
}

#[test]
fn cold_reads_come_from_the_files() {
    for page_cache in [true, false] {
        cold_reads_come_from_the_files_written(page_cache);
    }
}

fn cold_reads_come_from_the_files_written(page_cache: bool) {
    let dir = std::env::temp_dir().join(format!(
        "rmq-engine-real-disk-{}-{page_cache}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let count = 600usize;
    let body = |i: usize| format!("{i:06}-").repeat(150).into_bytes();
    let mut cfg = real_config(&dir);
    cfg.async_flush_page_cache_writes = page_cache;
    // Frequent syncs and no page-cache window: synced pages are dropped (`posix_fadvise` on
    // glommio's blocking pool) while the test appends and reads.
    cfg.flush_interval = std::time::Duration::from_millis(1);
    cfg.page_cache_keep_bytes = 0;
    run(async move {
        let store = ShardStore::open(cfg.clone(), GlommioStorage)
            .await
            .expect("open");
        for i in 0..count {
            let b = body(i);
            let p = props("TagA", &format!("k{i}"));
            store
                .append(&[msg("Cold", 0, &b, &p)])
                .await
                .expect("append");
        }
        let check = |store: ShardStore<GlommioStorage>| async move {
            let mut offset = 0i64;
            let mut seen = 0usize;
            while (offset as usize) < count {
                let got = store
                    .get_messages("Cold", 0, offset, 32, 1 << 20, |_| true)
                    .await;
                assert_eq!(
                    got.status,
                    GetStatus::Found,
                    "offset {offset}: {:?}",
                    got.status
                );
                for m in &got.messages {
                    let view =
                        rmq_protocol::message::record::RecordView::parse(m).expect("record parses");
                    assert_eq!(view.queue_offset() as usize, seen);
                    assert_eq!(view.body(), body(seen).as_slice());
                    seen += 1;
                }
                offset = got.next_begin_offset;
            }
            assert_eq!(seen, count);
            store
        };
        let store = check(store).await;
        assert_eq!(
            store.stats().cache_dropped_bytes > 0,
            page_cache,
            "{:?}",
            store.stats()
        );
        // A crash right after the appends (nothing flushed or synced by the store, as
        // `kill -9`): recovery finds every record in the files.
        store.abandon();
        let recovered = ShardStore::open(cfg.clone(), GlommioStorage)
            .await
            .expect("recover");
        let recovered = check(recovered).await;
        recovered.shutdown().await.expect("shutdown");
        let reopened = ShardStore::open(cfg, GlommioStorage).await.expect("reopen");
        let reopened = check(reopened).await;
        reopened.shutdown().await.expect("shutdown");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
