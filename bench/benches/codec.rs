//! Codec micro-benchmarks: encode and decode of a SEND_MESSAGE_V2 request (JSON and binary
//! headers, 1 KiB body) and of a PULL_MESSAGE response header, through the same calls the
//! server makes per request (`frame::check`, `RemotingCommand::decode`, typed header decode,
//! `encode_header`).
//!
//! Run: `cargo bench -p rmq-bench --bench codec`.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::frame::{self, FrameStatus};
use rmq_protocol::header::PullMessageResponseHeader;
use rmq_protocol::{ExtFields, RemotingCommand, SerializeType};

/// The shared sample request (no extra fields).
fn send_v2_request(serialize_type: SerializeType) -> Bytes {
    rmq_bench::fixtures::send_v2_frame(serialize_type, 0)
}

fn pull_response() -> RemotingCommand {
    let request = RemotingCommand::new_request(request_code::PULL_MESSAGE, ExtFields::new());
    let header = PullMessageResponseHeader {
        suggest_which_broker_id: 0,
        next_begin_offset: 1_234_567,
        min_offset: 0,
        max_offset: 1_234_999,
        offset_delta: None,
        topic_sys_flag: None,
        group_sys_flag: None,
        forbidden_type: None,
    };
    RemotingCommand::response_to(&request, response_code::SUCCESS, Some("FOUND".into()))
        .with_header(&header)
}

fn bench_send_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_v2_request_decode");
    group.throughput(Throughput::Elements(1));
    for (name, ser) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let frame_bytes = send_v2_request(ser);
        group.bench_function(name, |b| {
            b.iter(|| {
                let FrameStatus::Complete(h) = frame::check(black_box(&frame_bytes)).unwrap()
                else {
                    unreachable!()
                };
                let cmd = RemotingCommand::decode(frame_bytes.slice(..h.frame_len)).unwrap();
                let header = cmd.decode_send_header().unwrap();
                black_box((header.queue_id, cmd.body.map(|b| b.len())))
            });
        });
    }
    group.finish();
}

fn bench_send_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("send_v2_request_encode");
    group.throughput(Throughput::Elements(1));
    for (name, ser) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let cmd = RemotingCommand::decode(send_v2_request(ser)).unwrap();
        let mut out = BytesMut::with_capacity(4096);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                black_box(&cmd).encode(&mut out).unwrap();
                black_box(out.len())
            });
        });
    }
    group.finish();
}

fn bench_pull_response(c: &mut Criterion) {
    let mut group = c.benchmark_group("pull_response_header");
    group.throughput(Throughput::Elements(1));
    for (name, ser) in [
        ("json", SerializeType::Json),
        ("binary", SerializeType::RocketMq),
    ] {
        let mut response = pull_response();
        response.serialize_type = ser;
        let mut out = BytesMut::with_capacity(1024);
        // The body (records from the CommitLog) is sent separately, zero-copy.
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&response)
                    .encode_header(64 * 1024, &mut out)
                    .unwrap();
                black_box(out.len())
            });
        });
        let mut framed = BytesMut::new();
        response.encode(&mut framed).unwrap();
        let framed = framed.freeze();
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let cmd = RemotingCommand::decode(black_box(framed.clone())).unwrap();
                let header: PullMessageResponseHeader = cmd.decode_header().unwrap();
                black_box(header.next_begin_offset)
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_send_decode,
    bench_send_encode,
    bench_pull_response
);
criterion_main!(benches);
