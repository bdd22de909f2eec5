//! Running the real `rmq-broker` binary for fault tests: locate it, start it standalone on free
//! 127.0.0.1 ports with its stderr in a log file, wait until it answers, `kill -9` or SIGTERM
//! it, read its RSS, and scan its log for panics.
//!
//! Invariants: every wait is bounded in count and time; a [`BrokerProcess`] that is dropped
//! while running is killed and reaped (no stray processes); start-up is retried on a fresh port
//! pair when the broker exits early (another process took a port between our probe and its
//! bind).

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rmq_protocol::codes::{request_code, response_code};
use thiserror::Error;

use crate::remoting::{request, ClientError, RemotingClient};

/// How long a broker may take to answer its first request after being spawned (recovery of a
/// large store included).
pub const STARTUP_WAIT_MAX: Duration = Duration::from_secs(60);

/// How long a broker may take to exit after SIGTERM.
pub const SHUTDOWN_WAIT_MAX: Duration = Duration::from_secs(30);

/// Attempts to start on a fresh port pair when the ports were taken.
const START_ATTEMPTS_MAX: usize = 5;

/// Why a broker could not be run.
#[derive(Debug, Error)]
pub enum BrokerError {
    /// The binary is not where we looked.
    #[error("broker binary not found at {0} (build it: cargo build -p rmq-server --bin rmq-broker, or set RMQ_BROKER_BIN)")]
    BinaryMissing(PathBuf),
    /// Spawning, signalling or waiting failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The broker exited during start-up.
    #[error("broker exited during start-up with {status}; log {log}")]
    ExitedEarly { status: ExitStatus, log: PathBuf },
    /// The broker did not answer within [`STARTUP_WAIT_MAX`].
    #[error("broker did not answer within {0:?}")]
    NotReady(Duration),
    /// The broker did not exit within [`SHUTDOWN_WAIT_MAX`] of SIGTERM.
    #[error("broker did not exit within {0:?} of SIGTERM")]
    ShutdownHung(Duration),
    /// Talking to the broker failed.
    #[error("client: {0}")]
    Client(#[from] ClientError),
}

/// The broker binary: `$RMQ_BROKER_BIN`, else `rmq-broker` in the cargo profile directory this
/// executable was built into (`target/<profile>/` for binaries, its parent for tests in
/// `target/<profile>/deps/`).
pub fn locate_broker_binary() -> Result<PathBuf, BrokerError> {
    if let Some(p) = std::env::var_os("RMQ_BROKER_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(BrokerError::BinaryMissing(p))
        };
    }
    let exe = std::env::current_exe()?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.pop();
    }
    let candidate = dir.join("rmq-broker");
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(BrokerError::BinaryMissing(candidate))
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A port `p` with `p - 2` (the broker's VIP channel) also free a moment ago.
pub fn free_broker_port() -> std::io::Result<u16> {
    for _ in 0..200 {
        let p = free_port()?;
        if p > 3 && TcpListener::bind(("127.0.0.1", p - 2)).is_ok() {
            return Ok(p);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free broker port pair",
    ))
}

/// How to start a broker.
#[derive(Debug, Clone)]
pub struct BrokerSpec {
    /// The binary.
    pub binary: PathBuf,
    /// `storePathRootDir`.
    pub store_dir: PathBuf,
    /// Where stderr goes (appended across restarts).
    pub log_path: PathBuf,
    /// `--shards`.
    pub shards: usize,
    /// Further `--key=value` arguments (flush mode, segment sizes, ...).
    pub extra_args: Vec<String>,
    /// `(topic, queue)` pairs that must answer GET_MAX_OFFSET before the broker counts as up
    /// (empty: `TBW102` queue 0).
    pub ready_probes: Vec<(String, i32)>,
}

/// A running broker.
pub struct BrokerProcess {
    child: Option<Child>,
    /// The broker's port.
    pub port: u16,
    /// The embedded NameServer's port.
    pub namesrv_port: u16,
    spec: BrokerSpec,
}

impl BrokerProcess {
    /// Start on fresh ports and wait until it answers; returns it and how long that took.
    pub fn start(spec: &BrokerSpec) -> Result<(BrokerProcess, Duration), BrokerError> {
        let mut last = None;
        for _ in 0..START_ATTEMPTS_MAX {
            let port = free_broker_port()?;
            let namesrv_port = free_port()?;
            match Self::start_on(spec, port, namesrv_port) {
                Ok(started) => return Ok(started),
                Err(e @ BrokerError::ExitedEarly { .. }) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(BrokerError::NotReady(STARTUP_WAIT_MAX)))
    }

    /// Start on the given ports (a restart keeps its ports so clients find it again).
    pub fn start_on(
        spec: &BrokerSpec,
        port: u16,
        namesrv_port: u16,
    ) -> Result<(BrokerProcess, Duration), BrokerError> {
        if !spec.binary.is_file() {
            return Err(BrokerError::BinaryMissing(spec.binary.clone()));
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&spec.log_path)?;
        let mut args = vec![
            "--standalone".to_string(),
            format!("--namesrvAddr=127.0.0.1:{namesrv_port}"),
            format!("--listenPort={port}"),
            "--listenAddress=127.0.0.1".to_string(),
            "--brokerIP1=127.0.0.1".to_string(),
            "--brokerName=broker-faults".to_string(),
            format!("--storePathRootDir={}", spec.store_dir.display()),
            format!("--shards={}", spec.shards),
        ];
        args.extend(spec.extra_args.iter().cloned());
        let started = Instant::now();
        let child = Command::new(&spec.binary)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()?;
        let mut broker = BrokerProcess {
            child: Some(child),
            port,
            namesrv_port,
            spec: spec.clone(),
        };
        broker.wait_ready(started)?;
        Ok((broker, started.elapsed()))
    }

    /// Poll until GET_MAX_OFFSET answers SUCCESS for every `(topic, queue)` of
    /// [`BrokerSpec::ready_probes`]: that request waits for the owning shard's store, so success
    /// means recovery is over and the data path serves requests.
    fn wait_ready(&mut self, started: Instant) -> Result<(), BrokerError> {
        let probes = if self.spec.ready_probes.is_empty() {
            vec![("TBW102".to_string(), 0)]
        } else {
            self.spec.ready_probes.clone()
        };
        let port = self.port;
        let probe = || -> Result<(), ClientError> {
            let mut c = RemotingClient::connect_local(port, Duration::from_secs(5))?;
            for (topic, queue) in &probes {
                let q = queue.to_string();
                let resp = c.call(request(
                    request_code::GET_MAX_OFFSET,
                    &[("topic", topic), ("queueId", &q)],
                ))?;
                if resp.code != response_code::SUCCESS {
                    return Err(ClientError::Unexpected(format!(
                        "GET_MAX_OFFSET code {}",
                        resp.code
                    )));
                }
            }
            Ok(())
        };
        while started.elapsed() < STARTUP_WAIT_MAX {
            if let Some(status) = self.try_wait()? {
                return Err(BrokerError::ExitedEarly {
                    status,
                    log: self.spec.log_path.clone(),
                });
            }
            if probe().is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Err(BrokerError::NotReady(STARTUP_WAIT_MAX))
    }

    /// The process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has exited (and its status).
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, BrokerError> {
        match self.child.as_mut() {
            Some(c) => Ok(c.try_wait()?),
            None => Ok(None),
        }
    }

    /// `kill -9` and reap.
    pub fn kill9(mut self) -> Result<(), BrokerError> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(mut self) -> Result<ExitStatus, BrokerError> {
        let Some(mut child) = self.child.take() else {
            return Err(BrokerError::Io(std::io::Error::other("not running")));
        };
        let pid = libc::pid_t::try_from(child.id()).map_err(std::io::Error::other)?;
        // SAFETY: signalling our own, not yet reaped, child by its pid.
        if unsafe { libc::kill(pid, libc::SIGTERM) } != 0 {
            return Err(std::io::Error::last_os_error().into());
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT_MAX;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(BrokerError::ShutdownHung(SHUTDOWN_WAIT_MAX));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same ports and store after this one was stopped.
    pub fn restart_after(
        spec: &BrokerSpec,
        port: u16,
        namesrv_port: u16,
    ) -> Result<(BrokerProcess, Duration), BrokerError> {
        // The kernel may keep the listening port briefly after a kill; retry (bounded).
        let mut last = None;
        for _ in 0..START_ATTEMPTS_MAX {
            match Self::start_on(spec, port, namesrv_port) {
                Ok(started) => return Ok(started),
                Err(e @ BrokerError::ExitedEarly { .. }) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(BrokerError::NotReady(STARTUP_WAIT_MAX)))
    }

    /// Resident set size in KiB (`VmRSS` in /proc), if running.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib_of(self.pid()?)
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `VmRSS` of `pid` in KiB.
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss_kib(&status)
}

/// The `VmRSS:` value of a /proc status text, in KiB.
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Lines of a broker log that report a panic (a Rust panic message or an abort).
pub fn panic_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("panicked at") || l.contains("fatal runtime error"))
        .map(str::to_string)
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop unless `keep` is set.
pub struct ScratchDir {
    /// The directory.
    pub path: PathBuf,
    /// Keep it on drop (for post-mortems).
    pub keep: bool,
}

impl ScratchDir {
    /// Create `$TMPDIR/rmq-faults-<name>-<pid>`, emptying any leftover.
    pub fn new(name: &str) -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("rmq-faults-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir { path, keep: false })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_proc_status_text() {
        let text = "Name:\trmq-broker\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(text), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        assert!(rss_kib_of(std::process::id()).is_some_and(|k| k > 0));
    }

    #[test]
    fn panics_are_found_in_a_log() {
        let log = "INFO started\nthread 'shard-1' panicked at server/src/x.rs:1:2:\nboom\n";
        assert_eq!(panic_lines(log).len(), 1);
        assert!(panic_lines("INFO all fine\n").is_empty());
    }
}
