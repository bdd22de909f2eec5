//! Helpers for the integration tests: start a real binary on free 127.0.0.1 ports, speak raw
//! remoting frames to it over blocking sockets, stop it with SIGTERM.
//!
//! Every wait is bounded in count and time; every process started is stopped on drop.
//!
//! Ports: a port found free can be taken by someone else before the server binds it. So
//! ports are never handed out twice by one test process ([`free_port`]), a server counts as
//! started only once it logged its boot line, still runs and accepts connections, and a start
//! that fails because an address is in use is retried on new ports ([`start_retrying`],
//! [`START_ATTEMPTS_MAX`] attempts). A server's stderr goes to a log file, printed when it
//! fails to start.

#![allow(dead_code)] // each test file uses its own subset

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rmq_protocol::{ExtFields, RemotingCommand};

/// Most attempts to start a server on fresh ports when its address turns out to be in use.
pub const START_ATTEMPTS_MAX: usize = 5;

/// Ports this test process handed out (never handed out again, so two tests running in
/// parallel threads cannot be given the same port).
static PORTS_HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Reserve `port` for this process; false if it was handed out before.
fn reserve_port(port: u16) -> bool {
    let mut guard = PORTS_HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.get_or_insert_with(HashSet::new).insert(port)
}

/// A port that was free a moment ago and that no other test of this process was given.
pub fn free_port() -> u16 {
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("an ephemeral port");
        if reserve_port(port) {
            return port;
        }
    }
    panic!("no fresh ephemeral port in 1000 tries");
}

/// Why a server did not start.
#[derive(Debug)]
pub enum StartFailure {
    /// It could not bind an address someone else holds (retry on other ports).
    AddressInUse,
    /// Anything else, with the log's tail.
    Failed(String),
}

/// The last `max` bytes of a log file, as text.
fn log_tail(path: &Path, max: usize) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let from = text.len().saturating_sub(max);
    String::from_utf8_lossy(&text[from..]).into_owned()
}

/// Start a server, retrying on fresh ports when an address is in use. `attempt(n)` returns the
/// arguments, the port to wait on and the log file for attempt `n` (pick new ports in it).
pub fn start_retrying(
    binary: &str,
    mut attempt: impl FnMut(usize) -> (Vec<String>, u16, PathBuf),
) -> Server {
    for n in 0..START_ATTEMPTS_MAX {
        let (args, port, log) = attempt(n);
        match Server::try_start(binary, &args, port, &log) {
            Ok(server) => return server,
            Err(StartFailure::AddressInUse) => {
                eprintln!("{binary}: address in use on attempt {n}, retrying on new ports");
            }
            Err(StartFailure::Failed(why)) => panic!("{binary} {args:?} did not start: {why}"),
        }
    }
    panic!("{binary}: addresses in use on {START_ATTEMPTS_MAX} attempts");
}

/// A fresh temporary directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rmq-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A running server process, stopped (SIGTERM, then SIGKILL) on drop.
pub struct Server {
    child: Option<Child>,
    /// The port tests talk to.
    pub port: u16,
}

/// The line `binary` logs once its listeners are bound (a standalone broker logs the
/// NameServer's first, so each binary has its own).
fn boot_line(binary: &str) -> &'static str {
    if binary.ends_with("rmq-broker") {
        "The broker boot success"
    } else {
        "The Name Server boot success"
    }
}

impl Server {
    /// Start `binary` with `args`, its stderr appended to `log`, and wait (at most 20 s) until
    /// it logged its boot line, is still running and `port` accepts connections.
    pub fn try_start(
        binary: &str,
        args: &[String],
        port: u16,
        log: &Path,
    ) -> Result<Server, StartFailure> {
        // Restarts append to the same log; only lines after this offset belong to this start.
        let log_start = std::fs::metadata(log).map_or(0, |m| m.len());
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the server log");
        let child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn server binary");
        let mut server = Server {
            child: Some(child),
            port,
        };
        let this_start = || {
            let text = std::fs::read(log).unwrap_or_default();
            let from = usize::try_from(log_start).unwrap_or(0).min(text.len());
            String::from_utf8_lossy(&text[from..]).into_owned()
        };
        for _ in 0..800 {
            let exited = server
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("wait"));
            if let Some(status) = exited {
                let text = this_start();
                server.child = None;
                if text.contains("in use") {
                    return Err(StartFailure::AddressInUse);
                }
                return Err(StartFailure::Failed(format!(
                    "exited with {status:?}; log:\n{}",
                    log_tail(log, 4000)
                )));
            }
            if this_start().contains(boot_line(binary))
                && TcpStream::connect(("127.0.0.1", port)).is_ok()
            {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(StartFailure::Failed(format!(
            "not up on port {port} within 20 s; log:\n{}",
            log_tail(log, 4000)
        )))
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// [`Server::try_start`], panicking on failure (for restarts on the same ports).
    pub fn start(binary: &str, args: &[String], port: u16, log: &Path) -> Server {
        match Self::try_start(binary, args, port, log) {
            Ok(s) => s,
            Err(e) => panic!("{binary} {args:?} did not start: {e:?}"),
        }
    }

    /// A new client connection.
    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        // SAFETY: sending a signal to our own child process by its pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A blocking remoting client.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
    next_opaque: i32,
}

impl Client {
    /// Connect to 127.0.0.1:`port` with a 10 s read timeout.
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Client {
            stream,
            buf: BytesMut::new(),
            next_opaque: 1,
        }
    }

    /// Write raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Send `cmd` (its opaque is assigned here) and return the opaque.
    pub fn send(&mut self, mut cmd: RemotingCommand) -> i32 {
        cmd.opaque = self.next_opaque;
        self.next_opaque += 1;
        let bytes = cmd.encode_to_bytes().expect("encode");
        self.send_raw(&bytes);
        cmd.opaque
    }

    /// Read the next frame; `None` when the server closed the connection.
    pub fn recv(&mut self) -> Option<RemotingCommand> {
        loop {
            if let Some(cmd) = RemotingCommand::decode_from(&mut self.buf).expect("valid frame") {
                return Some(cmd);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed: {e}"),
            }
        }
    }

    /// Send a request and return its response (which must echo the opaque).
    pub fn call(&mut self, cmd: RemotingCommand) -> RemotingCommand {
        let opaque = self.send(cmd);
        let resp = self.recv().expect("a response");
        assert!(resp.is_response(), "got a request instead of a response");
        assert_eq!(resp.opaque, opaque, "response opaque");
        resp
    }
}

/// A request with the given code and extFields.
pub fn request(code: i32, fields: &[(&str, &str)]) -> RemotingCommand {
    RemotingCommand::new_request(code, fields.iter().copied().collect::<ExtFields>())
}

/// The body as text.
pub fn body_text(cmd: &RemotingCommand) -> String {
    String::from_utf8_lossy(cmd.body.as_deref().unwrap_or_default()).into_owned()
}

/// A port `p` such that both `p` and `p - 2` (the broker's VIP port) were free a moment ago
/// (both reserved for this test).
pub fn free_broker_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p > 3 && TcpListener::bind(("127.0.0.1", p - 2)).is_ok() && reserve_port(p - 2) {
            return p;
        }
    }
    panic!("no free broker port pair found");
}

/// A standalone broker (embedded NameServer) on free ports.
pub struct Broker {
    /// The broker process.
    pub server: Server,
    /// The broker's port.
    pub port: u16,
    /// The embedded NameServer's port.
    pub namesrv_port: u16,
    /// The store root.
    pub store: PathBuf,
    /// The arguments it was started with (to restart it on the same ports and store).
    pub args: Vec<String>,
    /// Whether dropping this handle removes the store (not when it was handed to a restart).
    remove_store: bool,
}

impl Drop for Broker {
    fn drop(&mut self) {
        if self.remove_store {
            // The process is stopped first (the server's own drop runs after this one, so
            // stop it here) so that it cannot write into a removed directory.
            if let Some(mut child) = self.server.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            let _ = std::fs::remove_dir_all(&self.store);
        }
    }
}

impl Broker {
    /// Start `rmq-broker --standalone` with `shards` shards and `extra` arguments, on fresh
    /// ports (retried on new ports and a new store when an address is in use).
    pub fn start(name: &str, shards: usize, extra: &[&str]) -> Broker {
        let mut chosen: Option<(PathBuf, u16, u16, Vec<String>)> = None;
        let server = start_retrying(env!("CARGO_BIN_EXE_rmq-broker"), |attempt| {
            if let Some((store, ..)) = chosen.take() {
                let _ = std::fs::remove_dir_all(store);
            }
            let store = temp_dir(&format!("{name}-{attempt}"));
            let port = free_broker_port();
            let namesrv_port = free_port();
            let mut args = vec![
                "--standalone".to_string(),
                format!("--namesrvAddr=127.0.0.1:{namesrv_port}"),
                format!("--listenPort={port}"),
                "--listenAddress=127.0.0.1".to_string(),
                "--brokerIP1=127.0.0.1".to_string(),
                "--brokerName=broker-it".to_string(),
                format!("--storePathRootDir={}", store.display()),
                format!("--shards={shards}"),
                // Small CommitLog segments: each shard preallocates one.
                "--mappedFileSizeCommitLog=67108864".to_string(),
            ];
            args.extend(extra.iter().map(|s| (*s).to_string()));
            let log = broker_log(&store);
            chosen = Some((store, port, namesrv_port, args.clone()));
            (args, port, log)
        });
        let (store, port, namesrv_port, args) = chosen.expect("a started broker's settings");
        Broker {
            server,
            port,
            namesrv_port,
            store,
            args,
            remove_store: true,
        }
    }

    fn start_with(store: PathBuf, port: u16, namesrv_port: u16, args: Vec<String>) -> Broker {
        let server = Server::start(
            env!("CARGO_BIN_EXE_rmq-broker"),
            &args,
            port,
            &broker_log(&store),
        );
        Broker {
            server,
            port,
            namesrv_port,
            store,
            args,
            remove_store: true,
        }
    }

    /// SIGTERM, assert a clean exit, and start again on the same ports and store.
    pub fn restart(mut self) -> Broker {
        self.remove_store = false;
        let server = std::mem::replace(
            &mut self.server,
            Server {
                child: None,
                port: self.port,
            },
        );
        let status = server.terminate();
        assert!(status.success(), "broker exit status {status:?}");
        Self::start_with(
            self.store.clone(),
            self.port,
            self.namesrv_port,
            self.args.clone(),
        )
    }

    /// SIGTERM, wait (bounded) for the exit status, and remove the store.
    pub fn terminate(mut self) -> ExitStatus {
        let server = std::mem::replace(
            &mut self.server,
            Server {
                child: None,
                port: self.port,
            },
        );
        server.terminate()
    }

    /// A connection to the broker.
    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// A connection to the embedded NameServer.
    pub fn namesrv(&self) -> Client {
        Client::connect(self.namesrv_port)
    }
}

/// The log file of a test broker (inside its store, removed with it).
pub fn broker_log(store: &Path) -> PathBuf {
    store.join("stderr.log")
}

/// Poll `f` every 20 ms for at most `limit`; whether it became true.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Client {
    /// Set the read timeout (None blocks).
    pub fn set_read_timeout(&self, t: Duration) {
        self.stream.set_read_timeout(Some(t)).expect("timeout");
    }

    /// Read the next frame, or `None` if nothing arrives within `t` (or the peer closed).
    pub fn recv_within(&mut self, t: Duration) -> Option<RemotingCommand> {
        self.set_read_timeout(t);
        let result = loop {
            if let Some(cmd) = RemotingCommand::decode_from(&mut self.buf).expect("valid frame") {
                break Some(cmd);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => break None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break None
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break None,
                Err(e) => panic!("read failed: {e}"),
            }
        };
        self.set_read_timeout(Duration::from_secs(10));
        result
    }

    /// Send a request and return its response, skipping broker-initiated requests (such as
    /// NOTIFY_CONSUMER_IDS_CHANGED) that arrive in between; those are returned too.
    pub fn call_collecting(
        &mut self,
        cmd: RemotingCommand,
    ) -> (RemotingCommand, Vec<RemotingCommand>) {
        let opaque = self.send(cmd);
        let mut pushed = Vec::new();
        for _ in 0..1000 {
            let got = self.recv().expect("a response");
            if got.is_response() {
                assert_eq!(got.opaque, opaque, "response opaque");
                return (got, pushed);
            }
            pushed.push(got);
        }
        panic!("no response among 1000 frames");
    }
}
