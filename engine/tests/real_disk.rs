//! The engine on real files (glommio DMA), beyond what the in-memory tail holds: cold reads
//! must come from the segment files, byte-identical, after a segment roll and after a restart.

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
    let dir = std::env::temp_dir().join(format!("rmq-engine-real-disk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let count = 600usize;
    let body = |i: usize| format!("{i:06}-").repeat(150).into_bytes();
    let cfg = real_config(&dir);
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
        store.shutdown().await.expect("shutdown");
        let reopened = ShardStore::open(cfg, GlommioStorage).await.expect("reopen");
        let reopened = check(reopened).await;
        reopened.shutdown().await.expect("shutdown");
    });
    let _ = std::fs::remove_dir_all(&dir);
}
