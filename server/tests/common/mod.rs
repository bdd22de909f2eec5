//! Helpers for the integration tests: start a real binary on free 127.0.0.1 ports, speak raw
//! remoting frames to it over blocking sockets, stop it with SIGTERM.
//!
//! Every wait is bounded in count and time; every process started is stopped on drop.

#![allow(dead_code)] // each test file uses its own subset

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rmq_protocol::{ExtFields, RemotingCommand};

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port")
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

impl Server {
    /// Start `binary` with `args` and wait until `port` accepts connections.
    pub fn start(binary: &str, args: &[String], port: u16) -> Server {
        let child = Command::new(binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn server binary");
        let server = Server {
            child: Some(child),
            port,
        };
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("server on port {port} did not come up within 10 s");
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

/// A port `p` such that both `p` and `p - 2` (the broker's VIP port) were free a moment ago.
pub fn free_broker_port() -> u16 {
    for _ in 0..200 {
        let p = free_port();
        if p > 3 && TcpListener::bind(("127.0.0.1", p - 2)).is_ok() {
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
    /// Start `rmq-broker --standalone` with `shards` shards and `extra` arguments.
    pub fn start(name: &str, shards: usize, extra: &[&str]) -> Broker {
        let store = temp_dir(name);
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
        Self::start_with(store, port, namesrv_port, args)
    }

    fn start_with(store: PathBuf, port: u16, namesrv_port: u16, args: Vec<String>) -> Broker {
        let server = Server::start(env!("CARGO_BIN_EXE_rmq-broker"), &args, port);
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
