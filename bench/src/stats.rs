//! Measurement for `rmq-bench`: counters and latency histograms shared by the load threads,
//! the live line printed every second, and the final report (HDR percentiles and one JSON line).
//!
//! Each load thread records into its own [`ThreadRecorder`] (its mutexes are only contended by
//! the once-a-second reporter), so recording costs a few nanoseconds and no allocation.
//! Latencies are microseconds, tracked from 1 us to 1 hour at 3 significant digits.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Largest latency the histograms track (1 hour, in us); larger values are clamped.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

fn new_histogram() -> Histogram<u64> {
    // Bounds are constants that hdrhistogram accepts; a failure is a programming error.
    Histogram::new_with_bounds(1, LATENCY_US_MAX, 3).expect("valid histogram bounds")
}

fn lock(m: &Mutex<Histogram<u64>>) -> MutexGuard<'_, Histogram<u64>> {
    // A panic in another thread while it held the lock leaves a usable histogram.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One load thread's counters.
pub struct ThreadRecorder {
    interval: Mutex<Histogram<u64>>,
    total: Mutex<Histogram<u64>>,
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    not_ok: AtomicU64,
}

impl ThreadRecorder {
    fn new() -> Self {
        ThreadRecorder {
            interval: Mutex::new(new_histogram()),
            total: Mutex::new(new_histogram()),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            not_ok: AtomicU64::new(0),
        }
    }

    /// `messages` messages of `bytes` bytes done, the call having taken `latency`.
    pub fn record(&self, messages: u64, bytes: u64, latency: Option<Duration>) {
        self.messages.fetch_add(messages, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if let Some(latency) = latency {
            self.record_latency_us(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        }
    }

    /// Record a latency in microseconds without counting a message.
    pub fn record_latency_us(&self, us: u64) {
        let us = us.clamp(1, LATENCY_US_MAX);
        let _ = lock(&self.interval).record(us);
        let _ = lock(&self.total).record(us);
    }

    /// A failed call.
    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` failed calls counted elsewhere (e.g. a consumer's failed pulls).
    pub fn add_errors(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }

    /// An accepted send whose status was not SEND_OK (e.g. FLUSH_DISK_TIMEOUT).
    pub fn not_ok(&self) {
        self.not_ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Messages recorded so far.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }
}

/// All threads' recorders plus the run's clock and stop flag.
pub struct Stats {
    recorders: Vec<ThreadRecorder>,
    started: Mutex<Instant>,
    /// Wall-clock us of the start (or the end of warm-up), set after the counters were
    /// cleared: e2e counts a message as sent and as consumed only when its send stamp is at
    /// or after it, so both sides count exactly the same messages.
    since_us: AtomicI64,
    stop: AtomicBool,
}

/// Totals at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Messages.
    pub messages: u64,
    /// Body bytes.
    pub bytes: u64,
    /// Failed calls.
    pub errors: u64,
    /// Accepted with a status other than SEND_OK.
    pub not_ok: u64,
}

impl Stats {
    /// Stats for `threads` load threads.
    pub fn new(threads: usize) -> Arc<Self> {
        Arc::new(Stats {
            recorders: (0..threads.max(1)).map(|_| ThreadRecorder::new()).collect(),
            started: Mutex::new(Instant::now()),
            since_us: AtomicI64::new(crate::load::now_us()),
            stop: AtomicBool::new(false),
        })
    }

    /// Thread `i`'s recorder.
    pub fn recorder(&self, i: usize) -> &ThreadRecorder {
        &self.recorders[i % self.recorders.len()]
    }

    /// Ask every load thread to stop.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Whether the run should stop.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Forget everything recorded so far (end of warm-up) and restart the clock.
    pub fn reset(&self) {
        for r in &self.recorders {
            lock(&r.interval).reset();
            lock(&r.total).reset();
            r.messages.store(0, Ordering::Relaxed);
            r.bytes.store(0, Ordering::Relaxed);
            r.errors.store(0, Ordering::Relaxed);
            r.not_ok.store(0, Ordering::Relaxed);
        }
        *self
            .started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        // After the counters: a message stamped from here on is sent (and consumed) after
        // they were cleared, so it is counted.
        self.since_us.store(crate::load::now_us(), Ordering::SeqCst);
    }

    /// Whether a message with this e2e send stamp belongs to the measured run (stamped at or
    /// after the start or the end of warm-up).
    pub fn in_run(&self, stamp_us: i64) -> bool {
        stamp_us >= self.since_us.load(Ordering::SeqCst)
    }

    /// Time since the start (or the end of warm-up).
    pub fn elapsed(&self) -> Duration {
        self.started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
    }

    /// Current totals.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for r in &self.recorders {
            t.messages += r.messages.load(Ordering::Relaxed);
            t.bytes += r.bytes.load(Ordering::Relaxed);
            t.errors += r.errors.load(Ordering::Relaxed);
            t.not_ok += r.not_ok.load(Ordering::Relaxed);
        }
        t
    }

    /// Merge and clear the per-interval histograms.
    pub fn take_interval(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for r in &self.recorders {
            let mut i = lock(&r.interval);
            let _ = h.add(&*i);
            i.reset();
        }
        h
    }

    /// The merged whole-run histogram.
    pub fn total_histogram(&self) -> Histogram<u64> {
        let mut h = new_histogram();
        for r in &self.recorders {
            let _ = h.add(&*lock(&r.total));
        }
        h
    }
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// The live line for one interval.
pub fn live_line(
    label: &str,
    second: u64,
    interval: &Histogram<u64>,
    delta: Totals,
    secs: f64,
) -> String {
    let secs = secs.max(1e-9);
    let (avg, p99, max) = if interval.is_empty() {
        (0.0, 0, 0)
    } else {
        (
            interval.mean(),
            interval.value_at_quantile(0.99),
            interval.max(),
        )
    };
    format!(
        "[{second:>4}s] {label} tps={:.0} MB/s={:.1} avg={:.3}ms p99={:.3}ms max={:.3}ms errors={}",
        delta.messages as f64 / secs,
        delta.bytes as f64 / secs / 1_000_000.0,
        avg / 1000.0,
        ms(p99),
        ms(max),
        delta.errors
    )
}

/// The final report of one measured stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// produce / consume / e2e.
    pub mode: String,
    /// Message body bytes.
    pub msg_size: usize,
    /// Messages sent (or consumed).
    pub sent: u64,
    /// Failed calls.
    pub errors: u64,
    /// Accepted but not SEND_OK.
    pub not_ok: u64,
    /// Measured seconds.
    pub seconds: f64,
    /// Messages per second.
    pub tps: f64,
    /// Body MB (10^6) per second.
    pub mb_per_s: f64,
    /// Percentiles in us: p50, p90, p99, p99.9, p99.99, max.
    pub p50_us: u64,
    /// p90.
    pub p90_us: u64,
    /// p99.
    pub p99_us: u64,
    /// p99.9.
    pub p999_us: u64,
    /// p99.99.
    pub p9999_us: u64,
    /// max.
    pub max_us: u64,
    /// Extra `"key":value` pairs (already JSON) for the summary line.
    pub extra: Vec<(String, String)>,
}

impl Summary {
    /// Summarise `totals` and `hist` over `seconds`.
    pub fn new(
        mode: &str,
        msg_size: usize,
        totals: Totals,
        hist: &Histogram<u64>,
        seconds: f64,
    ) -> Self {
        let q = |x: f64| {
            if hist.is_empty() {
                0
            } else {
                hist.value_at_quantile(x)
            }
        };
        let secs = seconds.max(1e-9);
        Summary {
            mode: mode.to_string(),
            msg_size,
            sent: totals.messages,
            errors: totals.errors,
            not_ok: totals.not_ok,
            seconds,
            tps: totals.messages as f64 / secs,
            mb_per_s: totals.bytes as f64 / secs / 1_000_000.0,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            p9999_us: q(0.9999),
            max_us: if hist.is_empty() { 0 } else { hist.max() },
            extra: Vec::new(),
        }
    }

    /// The human-readable percentile block.
    pub fn percentiles_text(&self) -> String {
        format!(
            "{mode}: {sent} msgs in {secs:.2}s, {tps:.0} msg/s, {mb:.1} MB/s, errors {err}, not SEND_OK {nok}\n  \
             latency ms: p50 {p50:.3}  p90 {p90:.3}  p99 {p99:.3}  p99.9 {p999:.3}  p99.99 {p9999:.3}  max {max:.3}",
            mode = self.mode,
            sent = self.sent,
            secs = self.seconds,
            tps = self.tps,
            mb = self.mb_per_s,
            err = self.errors,
            nok = self.not_ok,
            p50 = ms(self.p50_us),
            p90 = ms(self.p90_us),
            p99 = ms(self.p99_us),
            p999 = ms(self.p999_us),
            p9999 = ms(self.p9999_us),
            max = ms(self.max_us),
        )
    }

    /// The one-line JSON summary.
    pub fn json_line(&self) -> String {
        let mut s = format!(
            "{{\"mode\":\"{}\",\"msg_size\":{},\"sent\":{},\"errors\":{},\"not_ok\":{},\"seconds\":{:.3},\"tps\":{:.1},\"mb_per_s\":{:.3},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{},\"p999_us\":{},\"p9999_us\":{},\"max_us\":{}",
            json_escape(&self.mode),
            self.msg_size,
            self.sent,
            self.errors,
            self.not_ok,
            self.seconds,
            self.tps,
            self.mb_per_s,
            self.p50_us,
            self.p90_us,
            self.p99_us,
            self.p999_us,
            self.p9999_us,
            self.max_us
        );
        for (k, v) in &self.extra {
            s.push_str(&format!(",\"{}\":{v}", json_escape(k)));
        }
        s.push('}');
        s
    }
}

/// Escape a string for a JSON string literal.
pub fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Print a live line every second until the run stops; returns when `stats.stopping()`.
pub fn report_live(stats: &Stats, label: &str) {
    let mut last = stats.totals();
    let mut last_at = Instant::now();
    let mut second = 0;
    while !stats.stopping() {
        std::thread::sleep(Duration::from_millis(100));
        if last_at.elapsed() < Duration::from_secs(1) {
            continue;
        }
        second += 1;
        let now = stats.totals();
        let delta = Totals {
            messages: now.messages.saturating_sub(last.messages),
            bytes: now.bytes.saturating_sub(last.bytes),
            errors: now.errors.saturating_sub(last.errors),
            not_ok: now.not_ok.saturating_sub(last.not_ok),
        };
        let secs = last_at.elapsed().as_secs_f64();
        last_at = Instant::now();
        last = now;
        let h = stats.take_interval();
        println!("{}", live_line(label, second, &h, delta, secs));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_messages_stamped_after_the_last_reset_are_in_the_run() {
        let before = crate::load::now_us() - 1;
        let stats = Stats::new(1);
        assert!(!stats.in_run(before));
        std::thread::sleep(Duration::from_millis(2));
        let during_warm_up = crate::load::now_us();
        assert!(stats.in_run(during_warm_up));
        std::thread::sleep(Duration::from_millis(2));
        stats.reset();
        assert!(
            !stats.in_run(during_warm_up),
            "warm-up traffic still counted"
        );
        assert!(stats.in_run(crate::load::now_us()));
    }

    #[test]
    fn summary_reports_counts_rates_and_percentiles() {
        let stats = Stats::new(2);
        for us in 1..=1000u64 {
            stats
                .recorder((us % 2) as usize)
                .record(1, 100, Some(Duration::from_micros(us)));
        }
        stats.recorder(0).error();
        stats.recorder(1).not_ok();
        let totals = stats.totals();
        assert_eq!(
            totals,
            Totals {
                messages: 1000,
                bytes: 100_000,
                errors: 1,
                not_ok: 1
            }
        );
        let s = Summary::new("produce", 100, totals, &stats.total_histogram(), 2.0);
        assert_eq!(s.tps, 500.0);
        assert_eq!(s.mb_per_s, 0.05);
        assert!((499..=501).contains(&s.p50_us), "{}", s.p50_us);
        assert!((989..=991).contains(&s.p99_us), "{}", s.p99_us);
        assert_eq!(s.max_us, 1000);
        let line = s.json_line();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for key in [
            "mode", "msg_size", "sent", "errors", "tps", "mb_per_s", "p50_us", "p99_us", "p999_us",
            "max_us",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {line}");
        }
        assert_eq!(v["sent"], 1000);
        assert_eq!(v["mode"], "produce");
        // The interval histogram empties when taken; the total keeps everything.
        assert_eq!(stats.take_interval().len(), 1000);
        assert_eq!(stats.take_interval().len(), 0);
        assert_eq!(stats.total_histogram().len(), 1000);
        stats.reset();
        assert_eq!(stats.totals(), Totals::default());
    }

    #[test]
    fn live_line_shows_rates() {
        let mut h = new_histogram();
        h.record(2000).unwrap();
        let line = live_line(
            "produce",
            3,
            &h,
            Totals {
                messages: 10,
                bytes: 2_000_000,
                errors: 2,
                not_ok: 0,
            },
            2.0,
        );
        assert!(line.contains("tps=5 "), "{line}");
        assert!(line.contains("MB/s=1.0"), "{line}");
        assert!(line.contains("errors=2"), "{line}");
        assert!(line.contains("p99=2.000ms"), "{line}");
    }

    #[test]
    fn json_escape_escapes() {
        assert_eq!(json_escape("a\"b\\c\n"), "a\\\"b\\\\c\\u000a");
    }
}
