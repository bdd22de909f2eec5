//! `rmq-broker`: the broker.
//!
//! `rmq-broker [-c FILE] [-n ADDR;ADDR] [--standalone] [--shards N] [--key=value ...] [-p]`:
//! keys as upstream's `broker.conf` (`brokerName`, `listenPort` 10911, `storePathRootDir`,
//! `flushDiskType`, ...). `--standalone` also runs the NameServer in this process, listening
//! on the port of the first `namesrvAddr` (default `127.0.0.1:9876`), and registers the broker
//! with it. SIGTERM or SIGINT stops it gracefully (exit 0). Exit codes: 1 bad command line or
//! config, 2 startup or runtime failure.

use rmq_server::broker::BrokerServices;
use rmq_server::config::{BrokerConfig, CommandLine, NamesrvConfig, Properties, RuntimeConfig};
use rmq_server::{log_error, shard};

// mimalloc instead of glibc malloc: every request allocates a few small objects (task, frame,
// reply) and frees them on the same thread, where glibc's bin consolidation showed up in the
// profile (malloc_consolidate, unlink_chunk) and mimalloc's thread-local free lists do not.
#[global_allocator]
static GLOBAL_ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the embedded NameServer listens when no `namesrvAddr` is given.
const STANDALONE_NAMESRV_DEFAULT: &str = "127.0.0.1:9876";

/// The embedded NameServer's config: its own defaults, listening on `addr`, its KV file under
/// the broker's store (a standalone broker keeps all its state in one place).
fn embedded_namesrv(
    addr: &str,
    broker: &BrokerConfig,
    props: &Properties,
) -> Result<NamesrvConfig, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("namesrvAddr {addr:?} is not host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("namesrvAddr {addr:?} has a bad port"))?;
    let mut np = Properties::new();
    np.insert("listenAddress", host);
    np.insert("listenPort", port.to_string());
    let kv = props.get("kvConfigPath").map_or_else(
        || {
            broker
                .store_path_root_dir
                .join("namesrv")
                .join("kvConfig.json")
                .display()
                .to_string()
        },
        str::to_string,
    );
    np.insert("kvConfigPath", kv);
    NamesrvConfig::from_properties(&np).map_err(|e| e.to_string())
}

fn main() {
    let cl = match CommandLine::parse(std::env::args().skip(1)) {
        Ok(cl) => cl,
        Err(e) => {
            eprintln!("rmq-broker: {e}");
            std::process::exit(1);
        }
    };
    let configs = cl.properties().and_then(|mut props| {
        if cl.standalone && props.get("namesrvAddr").is_none_or(|v| v.trim().is_empty()) {
            props.insert("namesrvAddr", STANDALONE_NAMESRV_DEFAULT);
        }
        Ok((
            BrokerConfig::from_properties(&props)?,
            RuntimeConfig::from_properties(&props)?,
            props,
        ))
    });
    let (config, runtime, props) = match configs {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rmq-broker: {e}");
            std::process::exit(1);
        }
    };
    let namesrv = if cl.standalone {
        // `namesrvAddr` was defaulted above, so there is a first address.
        let addr = config
            .namesrv_addrs
            .first()
            .map_or(STANDALONE_NAMESRV_DEFAULT, String::as_str);
        match embedded_namesrv(addr, &config, &props) {
            Ok(n) => Some(n),
            Err(e) => {
                eprintln!("rmq-broker: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    if cl.print_config {
        println!("{config:#?}\n{runtime:#?}\n{namesrv:#?}");
        return;
    }
    shard::install_signal_handlers();
    if let Err(e) = shard::run(
        &runtime,
        &BrokerServices {
            config,
            namesrv,
            storage: Default::default(),
        },
    ) {
        log_error!("broker failed", error = e);
        std::process::exit(2);
    }
}
