//! `rmq-bench`: the load generator users run against any RocketMQ broker.
//!
//! ```text
//! rmq-bench produce -n 127.0.0.1:9876 -t BenchTopic -s 1024 -c 4 --in-flight 64 --mode async -d 30
//! rmq-bench consume -n 127.0.0.1:9876 -t BenchTopic -g bench_group --from-first --idle-exit 3
//! rmq-bench e2e     -n 127.0.0.1:9876 -t BenchTopic -s 1024 --rate 20000 -d 20
//! rmq-bench null-server --port 9876
//! ```
//! Every run prints its parameters, a live line each second, HDR percentiles at the end and
//! one JSON summary line. Exit status: 0 on success, 1 when the run could not start, 2 when
//! any call failed.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rmq_bench::load::{run_consume, run_e2e, run_produce, LoadOptions, SendMode};
use rmq_bench::null_server::{serve, NullServerConfig, NULL_QUEUES_DEFAULT};
use rmq_protocol::SerializeType;

#[derive(Parser)]
#[command(name = "rmq-bench", about = "RocketMQ load generator", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send messages as fast as allowed.
    Produce(Common),
    /// Consume messages (e.g. a backlog) and count them.
    Consume(Common),
    /// Produce and consume together; latency from the send time stamped in each body.
    E2e(Common),
    /// A NameServer and broker on one port that answer at once and store nothing.
    NullServer(NullArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Serialize {
    Json,
    Rocketmq,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Sync,
    Async,
    Oneway,
}

#[derive(Args, Clone)]
struct Common {
    /// NameServer address(es), `;`-separated.
    #[arg(short = 'n', long = "namesrv", default_value = "127.0.0.1:9876")]
    name_server: String,
    /// Topic.
    #[arg(short = 't', long, default_value = "BenchmarkTest")]
    topic: String,
    /// Message body size in bytes.
    #[arg(short = 's', long = "size", default_value_t = 1024)]
    msg_size: usize,
    /// Messages per send call (SEND_BATCH_MESSAGE when above 1).
    #[arg(short = 'b', long, default_value_t = 1)]
    batch: usize,
    /// Connections (total over all threads).
    #[arg(short = 'c', long, default_value_t = 2)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(short = 'i', long = "in-flight", default_value_t = 32)]
    in_flight: usize,
    /// Send mode.
    #[arg(long, value_enum, default_value = "async")]
    mode: Mode,
    /// The broker's flush mode, as a label for the report (ASYNC_FLUSH or SYNC_FLUSH).
    #[arg(long, default_value = "ASYNC_FLUSH")]
    flush: String,
    /// Measured seconds (after warm-up).
    #[arg(short = 'd', long)]
    duration: Option<u64>,
    /// Messages to send (produce, e2e) or to consume before stopping.
    #[arg(short = 'm', long)]
    messages: Option<u64>,
    /// Seconds of warm-up, not measured.
    #[arg(short = 'w', long, default_value_t = 0)]
    warmup: u64,
    /// Tag of each message (consume: the subscription expression).
    #[arg(long)]
    tags: Option<String>,
    /// Give each message a key: this prefix and a sequence number.
    #[arg(long)]
    keys: Option<String>,
    /// Load threads (one glommio executor each).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Producer or consumer group.
    #[arg(short = 'g', long, default_value = "rmq_bench_group")]
    group: String,
    /// Total send rate limit, messages per second.
    #[arg(long)]
    rate: Option<u64>,
    /// Consume from the first offset when the group has none (default: from the last).
    #[arg(long)]
    from_first: bool,
    /// Messages per pull.
    #[arg(long, default_value_t = 32)]
    pull_batch: i32,
    /// Stamp bodies with the send time (produce).
    #[arg(long)]
    e2e: bool,
    /// Consume: stop after this many seconds without a message (once one arrived).
    #[arg(long)]
    idle_exit: Option<u64>,
    /// Create the topic on every master with this many queues before starting.
    #[arg(long)]
    create_topic: Option<i32>,
    /// Request header serialization: json (Java's default) or rocketmq (binary).
    #[arg(long, value_enum, default_value = "json")]
    serialize: Serialize,
}

#[derive(Args)]
struct NullArgs {
    /// Port to listen on.
    #[arg(short = 'p', long, default_value_t = 9876)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Executors (threads) serving the port.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Queues per topic.
    #[arg(long, default_value_t = NULL_QUEUES_DEFAULT)]
    queues: i32,
}

impl Common {
    fn into_options(self, default_duration: bool) -> LoadOptions {
        let duration = match (self.duration, self.messages, default_duration) {
            (Some(d), _, _) => Some(Duration::from_secs(d)),
            (None, None, true) => Some(Duration::from_secs(10)),
            _ => None,
        };
        LoadOptions {
            name_server: self.name_server,
            topic: self.topic,
            msg_size: self.msg_size,
            batch: self.batch.max(1),
            connections: self.connections.max(1),
            in_flight: self.in_flight.max(1),
            mode: match self.mode {
                Mode::Sync => SendMode::Sync,
                Mode::Async => SendMode::Async,
                Mode::Oneway => SendMode::Oneway,
            },
            flush: self.flush,
            duration,
            messages: self.messages,
            warmup: Duration::from_secs(self.warmup),
            tags: self.tags,
            keys: self.keys,
            threads: self.threads.max(1),
            group: self.group,
            rate: self.rate,
            from_first: self.from_first,
            pull_batch: self.pull_batch.max(1),
            e2e: self.e2e,
            idle_exit: self.idle_exit.map(Duration::from_secs),
            create_topic_queues: self.create_topic,
            serialize_type: match self.serialize {
                Serialize::Json => SerializeType::Json,
                Serialize::Rocketmq => SerializeType::RocketMq,
            },
        }
    }
}

fn run_null_server(args: &NullArgs) -> ExitCode {
    let listen: SocketAddr = match format!("{}:{}", args.host, args.port).parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bad listen address: {e}");
            return ExitCode::from(1);
        }
    };
    let config = NullServerConfig {
        listen,
        advertised: listen.to_string(),
        queues: args.queues.max(1),
    };
    println!(
        "null-server listening on {listen} ({} threads)",
        args.threads.max(1)
    );
    let handles: Vec<_> = (0..args.threads.max(1))
        .map(|i| {
            let config = config.clone();
            std::thread::spawn(move || {
                let result = glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                    .io_memory(1024 * 1024)
                    .make()
                    .map_err(|e| e.to_string())
                    .and_then(|ex| {
                        ex.run(async move { serve(config).await.map_err(|e| e.to_string()) })
                    });
                if let Err(e) = result {
                    eprintln!("null-server thread {i}: {e}");
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    ExitCode::from(1)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Produce(c) => run_produce(c.into_options(true)),
        Command::Consume(c) => run_consume(c.into_options(false)),
        Command::E2e(c) => run_e2e(c.into_options(true)),
        Command::NullServer(args) => return run_null_server(&args),
    };
    match result {
        Ok(summary) if summary.errors == 0 => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(2),
        Err(e) => {
            eprintln!("rmq-bench: {e}");
            ExitCode::from(1)
        }
    }
}
