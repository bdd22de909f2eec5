//! `rmq-crash-test`: start the real broker, drive checkable synchronous sends, `kill -9` it at
//! random moments, restart it and verify every acknowledged message (see `rmq_tools::crash`).
//! Prints one line per cycle and a summary with a JSON line; exits 1 on any loss or fault,
//! 2 if the test could not run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use rmq_tools::broker_process::locate_broker_binary;
use rmq_tools::crash::{self, CrashConfig, FlushMode};

/// Crash test of rmq-broker: acknowledged messages must survive kill -9.
#[derive(Debug, Parser)]
#[command(name = "rmq-crash-test")]
struct Args {
    /// Kill/restart cycles.
    #[arg(long, default_value_t = 10)]
    cycles: usize,
    /// SYNC_FLUSH or ASYNC_FLUSH.
    #[arg(long, default_value = "SYNC_FLUSH")]
    flush_mode: FlushMode,
    /// Producer connections (one synchronous send in flight each).
    #[arg(long, default_value_t = 4)]
    producers: usize,
    /// Queues of the test topic.
    #[arg(long, default_value_t = 4)]
    queues: i32,
    /// Broker shards.
    #[arg(long, default_value_t = 2)]
    shards: usize,
    /// Seed of the kill moments and message bodies (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// The rmq-broker binary (default: $RMQ_BROKER_BIN, else next to this binary).
    #[arg(long)]
    broker_bin: Option<PathBuf>,
    /// Also run a consumer that commits offsets, and check the offsets across crashes.
    #[arg(long)]
    with_consumers: bool,
    /// Keep the store directory and broker log.
    #[arg(long)]
    keep_dir: bool,
    /// Earliest kill, in ms after the producers start.
    #[arg(long, default_value_t = 50)]
    kill_after_min_ms: u64,
    /// Latest kill, in ms after the producers start.
    #[arg(long, default_value_t = 1500)]
    kill_after_max_ms: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let broker_bin = match args.broker_bin.map_or_else(locate_broker_binary, Ok) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("rmq-crash-test: {e}");
            return ExitCode::from(2);
        }
    };
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let config = CrashConfig {
        cycles: args.cycles,
        flush_mode: args.flush_mode,
        producers: args.producers.max(1),
        queues: args.queues.max(1),
        shards: args.shards.max(1),
        seed,
        broker_bin,
        with_consumers: args.with_consumers,
        keep_dir: args.keep_dir,
        kill_after_min: Duration::from_millis(args.kill_after_min_ms),
        kill_after_max: Duration::from_millis(args.kill_after_max_ms.max(args.kill_after_min_ms)),
    };
    let mut out = std::io::stdout();
    match crash::run(&config, &mut out) {
        Ok(summary) if summary.passed() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rmq-crash-test: could not run: {e}");
            ExitCode::from(2)
        }
    }
}
