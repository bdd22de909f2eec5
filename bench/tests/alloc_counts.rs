//! Allocation counts of the codec's per-request work, measured with a counting global
//! allocator: decoding a SEND_MESSAGE_V2 frame allocates a fixed, small number of times, not
//! one or two per extFields entry (the extFields arena and its index — sized for 16 entries;
//! a JSON header outside the fast path's shape goes through serde_json, whose escape scratch
//! doubles its way up to the length of the `\u0001`/`\u0002`-escaped properties value);
//! encoding a response header into a reused buffer allocates nothing.
//!
//! Counts are per thread (tests run in parallel), and only while a probe is active.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use rmq_bench::fixtures::send_v2_frame;
use rmq_protocol::frame::SerializeType;
use rmq_protocol::{ExtFields, RemotingCommand};

struct CountingAllocator;

thread_local! {
    /// `Some(n)`: counting on this thread, `n` allocations so far.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note_allocation() {
    // `try_with`: the slot may be gone while the thread exits.
    let _ = COUNT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches only a
// thread-local `Cell` that needs no allocation.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded; `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations (and reallocations) `f` makes on this thread.
fn allocations_of<T>(f: impl FnOnce() -> T) -> (usize, T) {
    COUNT.with(|c| c.set(Some(0)));
    let out = f();
    let n = COUNT.with(|c| c.replace(None)).unwrap_or(0);
    (n, out)
}

#[test]
fn decoding_a_send_allocates_a_fixed_handful_not_per_field() {
    // JSON: arena, index, and at most 6 steps of serde_json's scratch (8 to 256 bytes).
    for (ser, bound) in [(SerializeType::Json, 8), (SerializeType::RocketMq, 2)] {
        let mut counts = Vec::new();
        // 13 and 16 entries: both fit the index's initial room, so only per-field costs could
        // make the counts differ.
        for extra in [0, 3] {
            let frame = send_v2_frame(ser, extra);
            let (n, cmd) = allocations_of(|| RemotingCommand::decode(frame.clone()));
            let cmd = cmd.expect("decodes");
            assert_eq!(cmd.ext_fields.len(), 13 + extra);
            assert_eq!(cmd.ext_fields.get("b"), Some("BenchTopic"));
            assert_eq!(cmd.body.as_ref().map(Bytes::len), Some(1024));
            counts.push(n);
        }
        assert!(
            counts.iter().all(|&n| n <= bound),
            "{ser:?}: {counts:?} allocations, expected at most {bound}"
        );
        assert_eq!(counts[0], counts[1], "{ser:?}: grows with the field count");
    }
}

#[test]
fn a_java_json_send_header_takes_the_fast_path_arena_and_index_only() {
    // The header's string-valued keys the broker ignores (`serializeTypeCurrentRPC`) are
    // skipped in place, not copied out.
    let frame = send_v2_frame(SerializeType::Json, 0);
    let (n, cmd) = allocations_of(|| RemotingCommand::decode(frame.clone()));
    assert_eq!(cmd.expect("decodes").ext_fields.len(), 13);
    assert_eq!(n, 2);
}

#[test]
fn encoding_a_send_response_into_a_reused_buffer_allocates_nothing() {
    let request = RemotingCommand::decode(send_v2_frame(SerializeType::Json, 0)).expect("decodes");
    let mut resp = RemotingCommand::response_to(&request, 0, None);
    resp.set_ext("msgId", "7F00000100002A9F0000000000001234")
        .set_ext("queueId", "3")
        .set_ext("queueOffset", "1234567")
        .set_ext("MSG_REGION", "DefaultRegion")
        .set_ext("TRACE_ON", "true");
    let mut out = Vec::with_capacity(64 * 1024);
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        resp.serialize_type = ser;
        out.clear();
        let (n, encoded) = allocations_of(|| resp.encode_header_to_vec(0, &mut out));
        encoded.expect("encodes");
        assert_eq!(n, 0, "{ser:?}");
        let back = RemotingCommand::decode(Bytes::from(out.clone())).expect("decodes");
        assert_eq!(back.ext_fields, resp.ext_fields);
    }
}

#[test]
fn filling_a_reply_with_numbers_allocates_only_the_arena_and_index() {
    let (n, fields) = allocations_of(|| {
        let mut ext = ExtFields::with_capacities(6, 160);
        ext.insert("msgId", "7F00000100002A9F0000000000001234");
        ext.insert_display("queueId", 3);
        ext.insert_display("queueOffset", 1_234_567_i64);
        ext.insert_display("TRACE_ON", true);
        ext
    });
    assert_eq!(n, 2);
    assert_eq!(fields.get("queueOffset"), Some("1234567"));
}
