//! Shared helpers of the engine's integration tests.
#![allow(dead_code)]

use rmq_engine::io::fault::FaultyStorage;
use rmq_engine::{FlushMode, MessageInput, ShardStore, StoreConfig};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// Run `f` on a fresh glommio executor with a small I/O memory reservation.
pub fn run<T: 'static>(f: impl Future<Output = T> + 'static) -> T {
    glommio::LocalExecutorBuilder::default()
        .io_memory(1 << 20)
        .make()
        .expect("executor")
        .run(f)
}

/// A small-segment config for tests.
pub fn config(mode: FlushMode) -> StoreConfig {
    let mut c = StoreConfig::new("/store", 1);
    c.commit_log_segment_bytes = 64 * 1024;
    c.max_message_body_bytes = 4096;
    c.cq_entries_per_file = 16;
    c.flush_mode = mode;
    c.flush_interval = Duration::from_millis(5);
    c.cq_flush_interval = Duration::from_secs(3600);
    c.index_hash_slots = 64;
    c.index_entries = 32;
    c.retention.clean_interval = Duration::from_secs(3600);
    // Zero-fill a little ahead, so tests exercise it racing the flusher.
    c.zero_fill_ahead_bytes = 16 * 1024;
    c
}

pub fn born() -> SocketAddr {
    "10.0.0.1:5555".parse().unwrap()
}

/// Properties with a tag and keys.
pub fn props(tag: &str, key: &str) -> String {
    format!("TAGS\u{1}{tag}\u{2}KEYS\u{1}{key}\u{2}UNIQ_KEY\u{1}U{key}\u{2}")
}

pub fn msg<'a>(
    topic: &'a str,
    queue_id: i32,
    body: &'a [u8],
    properties: &'a str,
) -> MessageInput<'a> {
    MessageInput {
        topic,
        queue_id,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: born(),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        properties,
    }
}

/// A body that names its queue and sequence number, so reads can be checked exactly.
pub fn body(queue_id: i32, seq: u64, len: usize) -> Vec<u8> {
    let mut b = format!("q{queue_id}-n{seq}-").into_bytes();
    b.resize(len.max(b.len()), b'x');
    b
}

pub async fn open(cfg: StoreConfig, fs: &FaultyStorage) -> ShardStore<FaultyStorage> {
    ShardStore::open(cfg, fs.clone()).await.expect("open store")
}

/// Every record of a queue, read from offset 0 (or min) to max, as (queue offset, body).
pub async fn read_all(
    store: &ShardStore<FaultyStorage>,
    topic: &str,
    q: i32,
) -> Vec<(i64, Vec<u8>)> {
    use rmq_protocol::message::record::RecordView;
    let mut out = Vec::new();
    let mut offset = store.min_offset(topic, q);
    for _ in 0..10_000 {
        let r = store
            .get_messages(topic, q, offset, 32, 1 << 20, |_| true)
            .await;
        if r.messages.is_empty() {
            break;
        }
        for m in &r.messages {
            let v = RecordView::parse(m).expect("served records parse");
            assert!(v.crc_matches(), "served record has a bad CRC");
            out.push((v.queue_offset(), v.body().to_vec()));
        }
        offset = r.next_begin_offset;
    }
    out
}
