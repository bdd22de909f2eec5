//! `rmq-engine-bench`: append throughput and ack latency of the storage engine on the real
//! disk, next to the raw O_DIRECT sequential-write ceiling measured in the same run.
//!
//! Usage: `rmq-engine-bench [dir] [async_messages] [sync_messages_per_level] [sections]`
//! (defaults `/tmp/rmq-engine-bench`, 1,000,000, 20,000 and `raw,async,sync`). Messages are
//! 1 KiB bodies. Sections (comma-separated):
//! - `raw`: raw O_DIRECT sequential write, 1 MiB buffers, 4 in flight (the disk ceiling), and
//!   256 KiB buffers, 1 in flight (about what 256 closed-loop appenders of 1 KiB keep
//!   outstanding: the ceiling of that shape);
//! - `raw-shapes`: raw O_DIRECT sequential write at 64 KiB / 256 KiB / 1 MiB x 1 / 4 in flight;
//! - `async`: ASYNC_FLUSH, 256 closed-loop appenders, one message per append call, then 16
//!   per call (`async-1`: the first only);
//! - `async-1024`: ASYNC_FLUSH, 1024 appenders, one message per call (a busy broker's many
//!   connections: four times the bytes outstanding);
//! - `window`: ASYNC_FLUSH, open loop: 16 producers each keeping 256 `append_one` calls in
//!   flight (one 1 KiB message per call; about 4.5 MiB outstanding), as a broker sees async
//!   producers with many requests in flight per connection; `window-AxW`: A producers x W;
//! - any ASYNC_FLUSH section with `@direct` or `@cached`: the CommitLog written with
//!   O_DIRECT, or through the page cache (`StoreConfig::async_flush_page_cache_writes`);
//!   `@bounded`: through the page cache with a 256 MiB page-cache window
//!   (`StoreConfig::page_cache_keep_bytes`; the default keeps every page cached);
//!   these sections run in the order given, so configurations interleave in one run;
//!   `raw-again` re-measures the raw ceiling at that point of the order;
//! - `sync`: SYNC_FLUSH with 1, 16 and 256 appenders (zero-fill ahead on, the default);
//! - `sync-nozero`: the same with zero-fill off (segments only `fallocate`d)
//!   (zero-fill runs in SYNC_FLUSH only: with it in ASYNC_FLUSH too, 16-per-call appends
//!   measured 501-525 vs 716-865 MiB/s, see the engine's crate docs);
//! - `mmap`: the mmap alternative for ASYNC_FLUSH, raw: copy 1,152-byte records one by one
//!   into a shared mapping of a preallocated file (what a mmap CommitLog's ack waits for:
//!   the bytes are in the page cache, which survives `kill -9`), then `msync` the whole file
//!   (what its periodic flush pays), next to O_DIRECT 1 MiB writes of the same bytes.
//!
//! ASYNC_FLUSH lines also give the rate up to the end of shutdown (its final `fdatasync`
//! included: what the device sustained, which matters once acks come from the page cache),
//! the mean time a flush round's writes took and the share of the run with log writes
//! outstanding (the rest is appenders filling the next round).
//!
//! Prints one line per measurement and a final JSON line.

use glommio::io::{DmaStreamWriterBuilder, OpenOptions};
use hdrhistogram::Histogram;
use rmq_engine::io::glommio_fs::GlommioStorage;
use rmq_engine::{FlushMode, MessageInput, ShardStore, StoreConfig};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

const BODY_BYTES: usize = 1024;
const SEGMENT_BYTES: u64 = 1 << 30;
/// The page-cache window of `@bounded` sections.
const PAGE_CACHE_WINDOW_BYTES: u64 = 256 << 20;

fn message(body: &[u8]) -> MessageInput<'_> {
    MessageInput {
        topic: "BenchTopic",
        queue_id: 0,
        flag: 0,
        sys_flag: 0,
        born_timestamp: 1,
        born_host: "127.0.0.1:1234".parse().expect("literal address"),
        reconsume_times: 0,
        prepared_transaction_offset: 0,
        body,
        properties: "TAGS\u{1}bench\u{2}",
    }
}

/// Raw O_DIRECT sequential write of `bytes` with 1 MiB buffers, 4 in flight.
async fn raw_write(dir: &Path, bytes: u64) -> f64 {
    raw_write_shaped(dir, bytes, 1 << 20, 4).await
}

/// Raw O_DIRECT sequential write of `bytes` with `buffer`-byte buffers, `in_flight` at once.
async fn raw_write_shaped(dir: &Path, bytes: u64, buffer: usize, in_flight: usize) -> f64 {
    let path = dir.join("raw-seq-write");
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .dma_open(&path)
        .await
        .expect("open raw file");
    file.pre_allocate(bytes, false).await.expect("preallocate");
    let mut w = DmaStreamWriterBuilder::new(file)
        .with_buffer_size(buffer)
        .with_write_behind(in_flight)
        .build();
    let chunk = vec![0x5a_u8; buffer];
    let start = Instant::now();
    let mut written = 0;
    while written < bytes {
        futures_lite::AsyncWriteExt::write_all(&mut w, &chunk)
            .await
            .expect("write");
        written += chunk.len() as u64;
    }
    futures_lite::AsyncWriteExt::close(&mut w)
        .await
        .expect("close");
    let secs = start.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&path);
    bytes as f64 / secs / (1 << 20) as f64
}

/// Raw mmap append of `records` records of `record_bytes` each: returns (MiB/s of the copies
/// alone, MiB/s including the final `msync`).
fn raw_mmap(dir: &Path, records: usize, record_bytes: usize) -> (f64, f64) {
    use std::os::fd::AsRawFd;
    let path = dir.join("raw-mmap");
    let len = records * record_bytes;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(&path)
        .expect("open mmap file");
    // SAFETY: valid descriptor; fallocate only reserves blocks.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    assert_eq!(rc, 0, "posix_fallocate");
    // SAFETY: a fresh shared mapping of `len` bytes of a file at least that long; nothing
    // else maps or truncates it while it is used, and it is unmapped below.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED, "mmap");
    // SAFETY: the mapping is `len` bytes, readable and writable, and lives until munmap.
    let map = unsafe { std::slice::from_raw_parts_mut(base.cast::<u8>(), len) };
    let record = vec![0x61_u8; record_bytes];
    let start = Instant::now();
    for chunk in map.chunks_exact_mut(record_bytes) {
        chunk.copy_from_slice(&record);
    }
    let copied = start.elapsed().as_secs_f64();
    // SAFETY: the mapping established above.
    let rc = unsafe { libc::msync(base, len, libc::MS_SYNC) };
    assert_eq!(rc, 0, "msync");
    let synced = start.elapsed().as_secs_f64();
    // SAFETY: unmapping the mapping established above; `map` is not used after this.
    unsafe { libc::munmap(base, len) };
    drop(file);
    let _ = std::fs::remove_file(&path);
    let mib = len as f64 / (1 << 20) as f64;
    (mib / copied, mib / synced)
}

fn store_config(dir: &Path, mode: FlushMode, zero_fill: Option<bool>) -> StoreConfig {
    let _ = std::fs::remove_dir_all(dir);
    let mut c = StoreConfig::new(dir, 0);
    c.commit_log_segment_bytes = SEGMENT_BYTES;
    c.flush_mode = mode;
    c.index_enabled = false;
    match zero_fill {
        Some(true) => c.zero_fill_ahead_bytes = 4 << 20,
        Some(false) => c.zero_fill_ahead_bytes = 0,
        None => {}
    }
    c
}

struct Run {
    msgs_per_sec: f64,
    mib_per_sec: f64,
    /// MiB/s up to the end of shutdown (its final `fdatasync` included).
    drained_mib_per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    msgs_per_sync: f64,
    sync_avg_us: f64,
    kib_per_round: f64,
    /// Mean time from launching a round's writes to seeing them complete (us).
    round_write_us: f64,
    /// Share of the run with log writes outstanding (sum of round write times / wall time;
    /// above 100% when rounds overlap).
    writing_share: f64,
    /// Pending-buffer slabs the store allocated (a steady stream reuses a few).
    pending_slabs: u64,
}

/// How one measurement runs.
#[derive(Clone, Copy)]
struct Shape {
    mode: FlushMode,
    /// Producers.
    appenders: usize,
    /// Calls each producer keeps in flight (1: closed loop).
    window: usize,
    /// Messages per call.
    batch: usize,
    zero_fill: Option<bool>,
    /// Override of the CommitLog write path (`None`: the defaults).
    page_cache: Option<WritePath>,
}

/// `appenders` producers append `total` messages in all, `batch` per call; each producer
/// keeps `window` calls in flight (one task per in-flight call, all drawing on the
/// producer's share of messages), so `window == 1` is the closed loop (each producer awaits
/// its ack before the next call) and a larger window is an open-loop producer with many
/// requests outstanding, as a broker connection of an async producer. Latency is per call.
async fn append_run(dir: &Path, shape: Shape, total: usize) -> Run {
    let Shape {
        mode,
        appenders,
        window,
        batch,
        zero_fill,
        page_cache,
    } = shape;
    let mut config = store_config(dir, mode, zero_fill);
    match page_cache {
        None => {}
        Some(WritePath::Direct) => config.async_flush_page_cache_writes = false,
        Some(WritePath::Cached) => config.async_flush_page_cache_writes = true,
        Some(WritePath::CachedWindow) => {
            config.async_flush_page_cache_writes = true;
            config.page_cache_keep_bytes = PAGE_CACHE_WINDOW_BYTES;
        }
    }
    let store = ShardStore::open(config, GlommioStorage)
        .await
        .expect("open store");
    let hist = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
    ));
    let calls_per_producer = total / appenders / batch;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..appenders {
        // The producer's calls not yet started, shared by its `window` in-flight slots.
        let calls_left = Rc::new(std::cell::Cell::new(calls_per_producer));
        for _ in 0..window {
            let store = store.clone();
            let hist = hist.clone();
            let calls_left = calls_left.clone();
            tasks.push(glommio::spawn_local(async move {
                let body = vec![0x61_u8; BODY_BYTES];
                let messages = vec![message(&body); batch];
                while calls_left.get() > 0 {
                    calls_left.set(calls_left.get() - 1);
                    let t = Instant::now();
                    if batch == 1 {
                        store.append_one(&messages[0]).await.expect("append");
                    } else {
                        store.append(&messages).await.expect("append");
                    }
                    let us = u64::try_from(t.elapsed().as_micros())
                        .unwrap_or(u64::MAX)
                        .max(1);
                    let _ = hist.borrow_mut().record(us);
                }
            }));
        }
    }
    for t in tasks {
        t.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let stats = store.stats();
    let n = (calls_per_producer * appenders * batch) as f64;
    let record_bytes = store.log_offsets().1 as f64;
    // Shutdown syncs everything: with page-cache writes this is where the device catches up
    // with what was acknowledged, so the rate to here is the sustained one.
    store.shutdown().await.expect("shutdown");
    let drained_secs = start.elapsed().as_secs_f64();
    let h = hist.borrow();
    Run {
        msgs_per_sec: n / secs,
        mib_per_sec: record_bytes / secs / (1 << 20) as f64,
        drained_mib_per_sec: record_bytes / drained_secs / (1 << 20) as f64,
        p50_us: h.value_at_quantile(0.5),
        p99_us: h.value_at_quantile(0.99),
        msgs_per_sync: n / stats.log_syncs.max(1) as f64,
        sync_avg_us: stats.log_sync_micros as f64 / stats.log_syncs.max(1) as f64,
        kib_per_round: record_bytes / 1024.0 / stats.flush_rounds.max(1) as f64,
        round_write_us: stats.round_write_micros as f64 / stats.flush_rounds.max(1) as f64,
        writing_share: stats.round_write_micros as f64 / 1e6 / secs,
        pending_slabs: stats.pending_slabs_allocated,
    }
}

/// One ASYNC_FLUSH run: (producers, in flight per producer, messages per call, page-cache
/// override).
type AsyncRun = (usize, usize, usize, Option<WritePath>);

/// A section's `@` suffix: how the ASYNC_FLUSH CommitLog is written.
#[derive(Debug, Clone, Copy)]
enum WritePath {
    /// `@direct`: O_DIRECT.
    Direct,
    /// `@cached`: page cache, every page kept (the default).
    Cached,
    /// `@bounded`: page cache, synced pages beyond [`PAGE_CACHE_WINDOW_BYTES`] dropped.
    CachedWindow,
}

/// The ASYNC_FLUSH runs of a section name: `(producers, in flight per producer, messages per
/// call, page-cache override)`. `async`: 256 x 1 x 1 and 256 x 1 x 16 (closed loop);
/// `async-1024`: 1024 x 1 x 1; `window`: 16 x 256 x 1 (open loop); `window-AxW`: A x W x 1.
/// A suffix `@direct`, `@cached` or `@bounded` forces the CommitLog write path ([`WritePath`]).
/// `None`: not an ASYNC_FLUSH section.
fn async_section(section: &str) -> Option<Vec<AsyncRun>> {
    let (name, page_cache) = match section.split_once('@') {
        None => (section, None),
        Some((name, "direct")) => (name, Some(WritePath::Direct)),
        Some((name, "cached")) => (name, Some(WritePath::Cached)),
        Some((name, "bounded")) => (name, Some(WritePath::CachedWindow)),
        Some(_) => return None,
    };
    let with = |runs: &[(usize, usize, usize)]| {
        Some(
            runs.iter()
                .map(|&(a, w, b)| (a, w, b, page_cache))
                .collect(),
        )
    };
    match name {
        "async" => with(&[(256, 1, 1), (256, 1, 16)]),
        "async-1" => with(&[(256, 1, 1)]),
        "async-1024" => with(&[(1024, 1, 1)]),
        "window" => with(&[(16, 256, 1)]),
        _ => {
            let (a, w) = name.strip_prefix("window-")?.split_once('x')?;
            let (a, w) = (a.parse().ok()?, w.parse().ok()?);
            (a > 0 && w > 0).then(|| vec![(a, w, 1, page_cache)])
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map_or("/tmp/rmq-engine-bench", String::as_str));
    let async_total: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let sync_total: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let sections: Vec<String> = args
        .get(4)
        .map_or("raw,async,sync", String::as_str)
        .split(',')
        .map(str::to_owned)
        .collect();
    std::fs::create_dir_all(&dir).expect("bench dir");
    let ex = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
        .io_memory(64 << 20)
        .spin_before_park(Duration::from_millis(0))
        .make()
        .expect("executor");
    ex.run(async move {
        let has = |s: &str| sections.iter().any(|x| x == s);
        let mut json = String::from("{");
        let mut raw = f64::NAN;
        let mut raw_closed_loop = f64::NAN;
        if has("raw") {
            let raw_bytes = (async_total * (BODY_BYTES + 128)) as u64;
            raw = raw_write(&dir, raw_bytes).await;
            println!("raw O_DIRECT sequential write, 1 MiB x4 in flight: {raw:.0} MiB/s");
            // What 256 closed-loop appenders of 1 KiB can keep outstanding: one write of
            // about 256 KiB at a time (the ceiling of the `async` 1-per-call shape).
            raw_closed_loop = raw_write_shaped(&dir, raw_bytes / 4, 256 << 10, 1).await;
            println!("raw O_DIRECT sequential write, 256 KiB x1 in flight: {raw_closed_loop:.0} MiB/s");
            json.push_str(&format!(
                "\"raw_mib_s\":{raw:.0},\"raw_256k_x1_mib_s\":{raw_closed_loop:.0}"
            ));
        }
        if has("raw-shapes") {
            let raw_bytes = (async_total * (BODY_BYTES + 128)) as u64;
            for (buffer, in_flight) in [
                (64usize << 10, 1usize),
                (64 << 10, 4),
                (256 << 10, 1),
                (256 << 10, 4),
                (1 << 20, 1),
                (1 << 20, 4),
            ] {
                let r = raw_write_shaped(&dir, raw_bytes, buffer, in_flight).await;
                println!("raw {} KiB x{in_flight}: {r:.0} MiB/s", buffer >> 10);
            }
        }
        if has("mmap") {
            let record_bytes = BODY_BYTES + 128;
            let (copy, synced) = raw_mmap(&dir, async_total, record_bytes);
            let direct = raw_write(&dir, (async_total * record_bytes) as u64).await;
            println!(
                "mmap {record_bytes}-byte records: copies {copy:.0} MiB/s (the ack level), with msync {synced:.0} MiB/s; O_DIRECT 1 MiB x4 same bytes {direct:.0} MiB/s"
            );
            json.push_str(&format!(
                ",\"mmap\":{{\"copy_mib_s\":{copy:.0},\"with_msync_mib_s\":{synced:.0},\"direct_mib_s\":{direct:.0}}}"
            ));
        }
        // ASYNC_FLUSH sections run in the order given, so configurations can be interleaved
        // (`raw` is measured once, first; `raw-again` measures it again at that point).
        for section in &sections {
            if section == "raw-again" {
                let raw_bytes = (async_total * (BODY_BYTES + 128)) as u64;
                raw = raw_write(&dir, raw_bytes).await;
                println!("raw O_DIRECT sequential write, 1 MiB x4 in flight: {raw:.0} MiB/s");
                json.push_str(&format!(",\"raw_again_mib_s\":{raw:.0}"));
                continue;
            }
            let Some(runs) = async_section(section) else {
                continue;
            };
            for (appenders, window, batch, page_cache) in runs {
                let shape = Shape {
                    mode: FlushMode::Async,
                    appenders,
                    window,
                    batch,
                    zero_fill: None,
                    page_cache,
                };
                let a = append_run(&dir.join("async"), shape, async_total).await;
                println!(
                    "{section} 1 KiB, {appenders} producers x {window} in flight x {batch} per call: {:.0} msgs/s, {:.0} MiB/s ({:.0}% of raw, {:.0}% of raw at 256 KiB x1; {:.0} MiB/s = {:.0}% of raw up to the final sync), call p50 {} us p99 {} us, {:.0} KiB per flush round, round write {:.0} us, writes outstanding {:.0}% of the time, {} pending slabs allocated",
                    a.msgs_per_sec,
                    a.mib_per_sec,
                    100.0 * a.mib_per_sec / raw,
                    100.0 * a.mib_per_sec / raw_closed_loop,
                    a.drained_mib_per_sec,
                    100.0 * a.drained_mib_per_sec / raw,
                    a.p50_us,
                    a.p99_us,
                    a.kib_per_round,
                    a.round_write_us,
                    100.0 * a.writing_share,
                    a.pending_slabs
                );
                json.push_str(&format!(
                    ",\"{section}_a{appenders}_w{window}_b{batch}\":{{\"msgs_s\":{:.0},\"mib_s\":{:.0},\"drained_mib_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"round_write_us\":{:.0},\"writing_share\":{:.2}}}",
                    a.msgs_per_sec, a.mib_per_sec, a.drained_mib_per_sec, a.p50_us, a.p99_us, a.round_write_us, a.writing_share
                ));
            }
        }
        for (section, zero_fill) in [("sync", None), ("sync-nozero", Some(false))] {
            if !has(section) {
                continue;
            }
            for appenders in [1usize, 16, 256] {
                let total = if appenders == 1 { sync_total / 4 } else { sync_total };
                let shape = Shape {
                    mode: FlushMode::Sync,
                    appenders,
                    window: 1,
                    batch: 1,
                    zero_fill,
                    page_cache: None,
                };
                let s = append_run(&dir.join("sync"), shape, total).await;
                println!(
                    "{section} 1 KiB, {appenders} appenders: {:.0} msgs/s, ack p50 {} us p99 {} us, {:.1} msgs per fdatasync, fdatasync avg {:.0} us",
                    s.msgs_per_sec, s.p50_us, s.p99_us, s.msgs_per_sync, s.sync_avg_us
                );
                json.push_str(&format!(
                    ",\"{section}_{appenders}\":{{\"msgs_s\":{:.0},\"p50_us\":{},\"p99_us\":{},\"msgs_per_sync\":{:.1},\"sync_avg_us\":{:.0}}}",
                    s.msgs_per_sec, s.p50_us, s.p99_us, s.msgs_per_sync, s.sync_avg_us
                ));
            }
        }
        json.push('}');
        println!("{}", json.replacen("{,", "{", 1));
        let _ = std::fs::remove_dir_all(&dir);
    });
}
