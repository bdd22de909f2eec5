//! Process helpers shared by the rmq-bench integration tests: a child killed on drop, free
//! ports, running `rmq-bench` bounded in time, and its JSON summary line.

#![allow(dead_code)] // each test file uses its own subset

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `rmq-bench` binary under test.
pub const BENCH: &str = env!("CARGO_BIN_EXE_rmq-bench");

/// Kills the child when dropped (also when a test fails).
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Run rmq-bench with `args`, at most `limit`; (exit success, stdout + stderr).
pub fn bench(args: &[&str], limit: Duration) -> (bool, String) {
    let mut child = Command::new(BENCH)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start rmq-bench");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            return (status.success(), text);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rmq-bench {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The JSON summary line (the last line starting with `{`) of an rmq-bench run.
pub fn summary(out: &str) -> serde_json::Value {
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in:\n{out}"));
    serde_json::from_str(line).expect("summary is JSON")
}
