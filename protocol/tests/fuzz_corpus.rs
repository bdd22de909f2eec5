//! Replays the committed fuzz corpus (`protocol/fuzz/corpus/<target>/*`) through the same entry
//! points the fuzz targets use, so every CI run checks that no input found so far panics, and
//! that no input makes the codec allocate more than the frame limit in one piece.

#![allow(unsafe_code)] // the counting global allocator below; the library itself has no unsafe code.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmq_protocol::fuzzing;
use rmq_protocol::limits::FRAME_SIZE_BYTES_MAX;

/// Records the largest single allocation made by this test binary.
struct PeakAllocation;

static LARGEST_ALLOCATION_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to the system allocator; only records sizes.
unsafe impl GlobalAlloc for PeakAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST_ALLOCATION_BYTES.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST_ALLOCATION_BYTES.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocation = PeakAllocation;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join("corpus")
        .join(target)
}

#[test]
fn every_target_has_a_corpus() {
    for target in fuzzing::TARGETS {
        let dir = corpus_dir(target);
        let count = std::fs::read_dir(&dir).map_or(0, Iterator::count);
        assert!(
            count > 0,
            "fuzz target {target} has no corpus in {}",
            dir.display()
        );
    }
}

#[test]
fn corpus_replays_without_panic_or_oversized_allocation() {
    let mut inputs = 0usize;
    for target in fuzzing::TARGETS {
        let Ok(entries) = std::fs::read_dir(corpus_dir(target)) else {
            continue;
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("corpus file is readable");
            // The input itself may be large; only allocations made while decoding count.
            LARGEST_ALLOCATION_BYTES.store(0, Ordering::Relaxed);
            let ran = std::panic::catch_unwind(|| fuzzing::run(target, &data));
            assert!(
                matches!(ran, Ok(true)),
                "{target}: {} panicked",
                path.display()
            );
            let peak = LARGEST_ALLOCATION_BYTES.load(Ordering::Relaxed);
            assert!(
                peak <= FRAME_SIZE_BYTES_MAX.max(2 * data.len()),
                "{target}: {} made a {peak}-byte allocation",
                path.display()
            );
            inputs += 1;
        }
    }
    assert!(inputs > 0);
    println!("replayed {inputs} corpus inputs");
}

#[test]
fn unknown_target_is_reported() {
    assert!(!fuzzing::run("no-such-target", b""));
}
