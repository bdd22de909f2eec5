//! `rmq-bench` against its own null-server, as processes on 127.0.0.1: routing, every send
//! mode, batches, keys and tags go through the real TCP client, and the report is what the
//! issue asks for (a live line, percentiles, one JSON line with the agreed keys).
//!
//! Every process started here is killed at the end of its test (also on failure), and every
//! run is bounded by a message count and by `timeout`.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, summary, Process, BENCH};

/// Run rmq-bench with `args`, at most 60 s.
fn bench(args: &[&str]) -> (bool, String) {
    common::bench(args, Duration::from_secs(60))
}

/// Start the null-server on a free port. A port found free can be taken by another process
/// before the server binds it (tests run concurrently), so a server that exits at start-up, or
/// a port that answers while our server is not alive, means: pick another port and retry.
fn start_null_server() -> (Process, String) {
    for _attempt in 0..8 {
        let port = free_port();
        let mut child = Process(
            Command::new(BENCH)
                .args(["null-server", "--port", &port.to_string(), "--queues", "4"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start null-server"),
        );
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut listening = false;
        while Instant::now() < deadline {
            if child.0.try_wait().expect("wait").is_some() {
                break;
            }
            if std::net::TcpStream::connect(&addr).is_ok() {
                listening = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        if listening && child.0.try_wait().expect("wait").is_none() {
            return (child, addr);
        }
    }
    panic!("null-server did not start on any of 8 ports");
}

#[test]
fn every_send_mode_against_the_null_server() {
    let (_server, addr) = start_null_server();
    for (mode, batch, serialize, expect_latency) in [
        ("async", "1", "json", true),
        ("async", "1", "rocketmq", true),
        ("sync", "1", "json", true),
        ("sync", "7", "rocketmq", true),
        ("async", "5", "json", true),
        ("oneway", "1", "json", false),
    ] {
        let (ok, out) = bench(&[
            "produce",
            "-n",
            &addr,
            "-t",
            "NullTopic",
            "-s",
            "256",
            "-m",
            "3000",
            "-b",
            batch,
            "-c",
            "2",
            "-i",
            "8",
            "--mode",
            mode,
            "--tags",
            "TagA",
            "--keys",
            "k",
            "--serialize",
            serialize,
        ]);
        assert!(ok, "{mode} x{batch} failed:\n{out}");
        let s = summary(&out);
        assert_eq!(s["mode"], "produce");
        assert_eq!(s["sent"], 3000, "{out}");
        assert_eq!(s["errors"], 0, "{out}");
        assert_eq!(s["msg_size"], 256);
        assert_eq!(s["send_mode"], mode);
        assert_eq!(s["serialize"], serialize.to_uppercase());
        for key in ["tps", "mb_per_s", "p50_us", "p99_us", "p999_us", "max_us"] {
            assert!(s.get(key).is_some(), "{key} missing: {out}");
        }
        if expect_latency {
            assert!(s["max_us"].as_u64().unwrap() > 0, "{out}");
        }
        assert!(out.contains("latency ms: p50"), "{out}");
    }
}

#[test]
fn timed_run_prints_live_lines_and_an_unreachable_name_server_fails_cleanly() {
    let (_server, addr) = start_null_server();
    let (ok, out) = bench(&[
        "produce", "-n", &addr, "-t", "T", "-d", "2", "-s", "64", "--rate", "2000",
    ]);
    assert!(ok, "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("[   1s] produce tps=")),
        "{out}"
    );
    let s = summary(&out);
    // Rate-limited to 2000/s for about 2 s.
    let sent = s["sent"].as_u64().unwrap();
    assert!(sent > 0 && sent <= 2000 * 3, "{out}");

    let dead = format!("127.0.0.1:{}", free_port());
    let (ok, out) = bench(&["produce", "-n", &dead, "-t", "T", "-m", "10"]);
    assert!(!ok, "{out}");
    assert!(out.contains("route of T"), "{out}");
}
