//! `rmq-bench produce` then `consume` against our standalone broker (`rmq-broker
//! --standalone`, embedded NameServer) on free 127.0.0.1 ports: zero errors, and the consumer
//! counts exactly what the producer sent.
//!
//! The broker binary is the workspace's own `rmq-broker`, next to `rmq-bench` in the target
//! directory; if it is not built yet the test builds it with the same cargo. Every process is
//! killed when the test ends (also on failure) and every step is bounded in time.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bench, free_port, summary, Process, BENCH};

/// A port P with P - 2 free as well (the broker also listens on the VIP port P - 2).
fn free_broker_port() -> u16 {
    for _ in 0..100 {
        let p = free_port();
        if p > 2 && TcpListener::bind(("127.0.0.1", p - 2)).is_ok() {
            return p;
        }
    }
    panic!("no free port pair");
}

fn broker_binary() -> PathBuf {
    let path = PathBuf::from(BENCH).with_file_name("rmq-broker");
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let status = Command::new(cargo)
            .args([
                "build",
                "-p",
                "rmq-server",
                "--bin",
                "rmq-broker",
                "--manifest-path",
            ])
            .arg(manifest)
            .status()
            .expect("run cargo build for rmq-broker");
        assert!(status.success(), "building rmq-broker failed");
    }
    path
}

/// Wait until `port` accepts connections while `process` is alive; false if it exited.
fn wait_for_port(process: &mut Process, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "port {port} did not open");
        if process.0.try_wait().expect("wait").is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    process.0.try_wait().expect("wait").is_none()
}

/// A standalone broker on free ports: (process, NameServer address, broker address, store).
/// Ports found free can be taken by another process before the broker binds them (tests run
/// concurrently), so a broker that exits at start-up means: pick other ports and retry.
fn start_broker(name: &str) -> (Process, String, String, PathBuf) {
    let store = std::env::temp_dir().join(format!("rmq-bench-it-{name}-{}", std::process::id()));
    for _attempt in 0..8 {
        let _ = std::fs::remove_dir_all(&store);
        std::fs::create_dir_all(&store).expect("store dir");
        let port = free_broker_port();
        let ns_port = free_port();
        let ns = format!("127.0.0.1:{ns_port}");
        let mut broker = Process(
            Command::new(broker_binary())
                .args([
                    "--standalone".to_string(),
                    format!("--namesrvAddr={ns}"),
                    format!("--listenPort={port}"),
                    "--listenAddress=127.0.0.1".to_string(),
                    "--brokerIP1=127.0.0.1".to_string(),
                    format!("--storePathRootDir={}", store.display()),
                    "--mappedFileSizeCommitLog=67108864".to_string(),
                    "--flushDiskType=ASYNC_FLUSH".to_string(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start rmq-broker"),
        );
        if !(wait_for_port(&mut broker, ns_port) && wait_for_port(&mut broker, port)) {
            continue;
        }
        // Registration reaches the embedded NameServer shortly after start.
        std::thread::sleep(Duration::from_secs(1));
        if broker.0.try_wait().expect("wait").is_none() {
            return (broker, ns, format!("127.0.0.1:{port}"), store);
        }
    }
    panic!("rmq-broker did not start on any of 8 port choices");
}

#[test]
fn produce_then_consume_counts_match_with_zero_errors() {
    let (broker, ns, _addr, store) = start_broker("bench");

    let (ok, out) = bench(
        &[
            "produce",
            "-n",
            &ns,
            "-t",
            "BenchIT",
            "--create-topic",
            "4",
            "-d",
            "3",
            "-s",
            "512",
            "-c",
            "2",
            "-i",
            "16",
            "--mode",
            "async",
            "--tags",
            "T",
            "--keys",
            "k",
        ],
        Duration::from_secs(60),
    );
    assert!(ok, "produce failed:\n{out}");
    let produced = summary(&out);
    assert_eq!(produced["errors"], 0, "{out}");
    let sent = produced["sent"].as_u64().expect("sent");
    assert!(sent > 0, "{out}");

    let (ok, out) = bench(
        &[
            "consume",
            "-n",
            &ns,
            "-t",
            "BenchIT",
            "-g",
            "bench_it_group",
            "--from-first",
            "-m",
            &sent.to_string(),
            "--idle-exit",
            "10",
        ],
        Duration::from_secs(120),
    );
    assert!(ok, "consume failed:\n{out}");
    let consumed = summary(&out);
    assert_eq!(consumed["errors"], 0, "{out}");
    assert_eq!(consumed["sent"].as_u64(), Some(sent), "{out}");
    // Stop the broker first: it writes its config files until it exits.
    drop(broker);
    let _ = std::fs::remove_dir_all(&store);
}

/// The client library's own calls against the broker: admin (create topic, cluster info,
/// route, consume stats), sync / batch / ordered / oneway sends, and a lite pull consumer that
/// reads back exactly what was sent and commits its offsets.
#[test]
fn client_calls_against_the_broker() {
    use rmq_client::admin::Admin;
    use rmq_client::lite_pull::LitePullConsumer;
    use rmq_client::{ConnectionPool, Message, Producer, ProducerConfig, SendStatus};
    use std::rc::Rc;

    let (broker, ns, addr, store) = start_broker("client");
    let result = std::thread::spawn(move || {
        glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
            .io_memory(1024 * 1024)
            .make()
            .expect("executor")
            .run(async move {
                let pool = Rc::new(ConnectionPool::new(1));
                let admin = Admin::new(&ns, Rc::clone(&pool)).expect("admin");
                let created = admin
                    .create_topic_in_cluster("ClientIT", 4, false)
                    .await
                    .expect("create topic");
                assert_eq!(created, vec![addr.clone()]);
                let info = admin.cluster_info().await.expect("cluster info");
                assert!(!info.broker_addr_table.is_empty());
                let mut route = None;
                for _ in 0..100 {
                    if let Ok(r) = admin.route("ClientIT").await {
                        route = Some(r);
                        break;
                    }
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
                let route = route.expect("route of the created topic");
                assert_eq!(route.queue_datas[0].write_queue_nums, 4);

                let producer = Producer::new(
                    ProducerConfig::new("client_it_producer", ns.clone()),
                    Rc::clone(&pool),
                )
                .expect("producer");
                let mut sent = 0u64;
                for i in 0..20 {
                    let r = producer
                        .send(&Message::new("ClientIT", format!("sync-{i}")).with_tags("A"))
                        .await
                        .expect("sync send");
                    assert_eq!(r.status, SendStatus::SendOk);
                    assert_eq!(r.offset_msg_id.len(), 32);
                    sent += 1;
                }
                let batch: Vec<Message> = (0..10)
                    .map(|i| {
                        Message::new("ClientIT", format!("batch-{i}")).with_keys(format!("k{i}"))
                    })
                    .collect();
                let r = producer.send_batch(&batch).await.expect("batch send");
                assert_eq!(r.offset_msg_id.split(',').count(), 10);
                sent += 10;
                let mut first_ordered_offset = None;
                for i in 0..5 {
                    let r = producer
                        .send_to_selected_queue(
                            &Message::new("ClientIT", format!("ordered-{i}")),
                            |_| 2,
                        )
                        .await
                        .expect("ordered send");
                    assert_eq!(r.queue.queue_id, 2);
                    // Consecutive offsets on the chosen queue.
                    let first = *first_ordered_offset.get_or_insert(r.queue_offset);
                    assert_eq!(r.queue_offset, first + i);
                    sent += 1;
                }
                producer
                    .send_oneway(&Message::new("ClientIT", "oneway"))
                    .await
                    .expect("oneway send");
                sent += 1;
                producer.shutdown().await;

                let consumer = LitePullConsumer::new("client_it_group", &ns, Rc::clone(&pool))
                    .expect("consumer");
                let queues = consumer.fetch_queues("ClientIT").await.expect("queues");
                assert_eq!(queues.len(), 4);
                consumer.assign(queues.clone()).await.expect("assign");
                let mut bodies = Vec::new();
                for _ in 0..200 {
                    let msgs = consumer.poll().await.expect("poll");
                    bodies.extend(
                        msgs.iter()
                            .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                    );
                    if bodies.len() as u64 >= sent {
                        break;
                    }
                    if msgs.is_empty() {
                        glommio::timer::sleep(Duration::from_millis(20)).await;
                    }
                }
                bodies.sort();
                assert_eq!(bodies.len() as u64, sent, "{bodies:?}");
                assert!(bodies.contains(&"batch-9".to_string()));
                assert!(bodies.contains(&"oneway".to_string()));
                assert_eq!(consumer.commit().await, 0);
                let stats = admin
                    .consume_stats(&addr, "client_it_group", Some("ClientIT"))
                    .await
                    .expect("consume stats");
                let committed: i64 = stats.offset_table.values().map(|o| o.consumer_offset).sum();
                assert_eq!(committed as u64, sent);
            });
    })
    .join();
    drop(broker);
    let _ = std::fs::remove_dir_all(&store);
    result.expect("client test body");
}
