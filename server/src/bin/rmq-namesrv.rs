//! `rmq-namesrv`: the NameServer.
//!
//! `rmq-namesrv [-c FILE] [--shards N] [--key=value ...] [-p]`: keys as upstream's
//! `NamesrvConfig` (`listenPort` 9876, `kvConfigPath`, `orderMessageEnable`, ...). SIGTERM or
//! SIGINT stops it gracefully (exit 0). Exit codes: 1 bad command line or config, 2 startup or
//! runtime failure.

use rmq_server::config::{CommandLine, NamesrvConfig, RuntimeConfig};
use rmq_server::namesrv::NamesrvServices;
use rmq_server::{log_error, shard};

fn main() {
    let cl = match CommandLine::parse(std::env::args().skip(1)) {
        Ok(cl) => cl,
        Err(e) => {
            eprintln!("rmq-namesrv: {e}");
            std::process::exit(1);
        }
    };
    let configs = cl.properties().and_then(|props| {
        Ok((
            NamesrvConfig::from_properties(&props)?,
            RuntimeConfig::from_properties(&props)?,
            props,
        ))
    });
    let (config, runtime, props) = match configs {
        Ok(c) => c,
        Err(e) => {
            eprintln!("rmq-namesrv: {e}");
            std::process::exit(1);
        }
    };
    if cl.print_config {
        println!("{config:#?}\n{runtime:#?}");
        for (k, v) in props.iter() {
            println!("{k}={v}");
        }
        return;
    }
    shard::install_signal_handlers();
    if let Err(e) = shard::run(&runtime, &NamesrvServices { config }) {
        log_error!("name server failed", error = e);
        std::process::exit(2);
    }
}
