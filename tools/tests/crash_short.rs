//! The short crash test CI runs: `RMQ_CRASH_CYCLES` (default 10) `kill -9` cycles of the real
//! broker per flush mode, and the same with a consumer committing offsets. Every acknowledged
//! message must be present, unaltered, in order, at its acked offset with its acked msgId after
//! every restart (see `rmq_tools::crash`). The long run is `rmq-crash-test --cycles 200`.

use std::time::Duration;

use rmq_tools::broker_process::locate_broker_binary;
use rmq_tools::crash::{self, CrashConfig, FlushMode};

fn cycles() -> usize {
    std::env::var("RMQ_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn run(flush_mode: FlushMode, with_consumers: bool, seed: u64) {
    let config = CrashConfig {
        cycles: cycles(),
        flush_mode,
        producers: 4,
        queues: 4,
        shards: 2,
        seed,
        broker_bin: locate_broker_binary().expect("the broker binary"),
        with_consumers,
        keep_dir: false,
        kill_after_min: Duration::from_millis(20),
        kill_after_max: Duration::from_millis(700),
    };
    let mut out = Vec::new();
    let summary = crash::run(&config, &mut out);
    let text = String::from_utf8_lossy(&out);
    println!("{text}");
    let summary = summary.unwrap_or_else(|e| panic!("crash test could not run: {e}\n{text}"));
    assert!(summary.acked > 0, "nothing was acknowledged:\n{text}");
    assert_eq!(
        summary.recovery_ms.len(),
        config.cycles,
        "one restart per kill"
    );
    assert!(
        summary.passed(),
        "faults: {:?}",
        &summary.faults[..summary.faults.len().min(20)]
    );
}

#[test]
fn sync_flush_survives_kill_9() {
    run(FlushMode::Sync, false, 0x5151);
}

#[test]
fn async_flush_survives_kill_9() {
    run(FlushMode::Async, false, 0xa5a5);
}

#[test]
fn committed_offsets_survive_kill_9_with_consumers_running() {
    run(FlushMode::Async, true, 0xc0c0);
}
