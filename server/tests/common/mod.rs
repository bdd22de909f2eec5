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
