//! Per-shard message counters for GET_BROKER_RUNTIME_INFO (upstream `StoreStatsService`).
//!
//! Each shard counts the messages it stores and the messages its pulls transfer in plain
//! `Cell`s (no shared atomics on the data path), and once a second records a sample of both
//! totals in a ring of [`TRAFFIC_SAMPLES_COUNT_MAX`] entries, from which the 10 s, 60 s and
//! 600 s rates are computed. It also keeps the totals at the start of today and of yesterday
//! (local time), for mqadmin's `clusterList -m`. The control-plane shard gathers every shard's
//! [`TrafficReport`] on request and adds them up.
//!
//! Invariants: totals only grow; the ring never holds more than its limit; samples are in time
//! order.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

/// Samples kept: one a second for the longest window (600 s) plus the current one.
pub const TRAFFIC_SAMPLES_COUNT_MAX: usize = 601;

/// The windows, in seconds, of the space-separated TPS figures (`putTps`).
pub const TPS_WINDOWS_SECONDS: [i64; 3] = [10, 60, 600];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sample {
    at_ms: i64,
    put: u64,
    get: u64,
}

/// One shard's counters.
#[derive(Debug, Default)]
pub struct Traffic {
    put_total: Cell<u64>,
    get_total: Cell<u64>,
    samples: RefCell<VecDeque<Sample>>,
    /// The local day of the last sample (days since the epoch), and the totals (put, get) at
    /// the start of that day and of the day before.
    day: Cell<Option<i64>>,
    today_morning: Cell<(u64, u64)>,
    yesterday_morning: Cell<(u64, u64)>,
}

/// What one shard (or, summed, the broker) reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrafficReport {
    /// Messages stored so far.
    pub put_total: u64,
    /// Messages transferred by pulls so far.
    pub get_total: u64,
    /// Stores per second over [`TPS_WINDOWS_SECONDS`].
    pub put_tps: [f64; 3],
    /// Messages transferred per second over [`TPS_WINDOWS_SECONDS`].
    pub get_tps: [f64; 3],
    /// Totals (put, get) at the start of today.
    pub today_morning: (u64, u64),
    /// Totals (put, get) at the start of yesterday.
    pub yesterday_morning: (u64, u64),
}

impl Traffic {
    /// `n` messages were stored.
    pub fn record_put(&self, n: u64) {
        self.put_total.set(self.put_total.get().saturating_add(n));
    }

    /// A pull transferred `n` messages.
    pub fn record_get(&self, n: u64) {
        self.get_total.set(self.get_total.get().saturating_add(n));
    }

    /// Record a sample at `now_ms` on local day `day` (called once a second).
    pub fn sample(&self, now_ms: i64, day: i64) {
        let current = (self.put_total.get(), self.get_total.get());
        match self.day.get() {
            None => {
                self.today_morning.set(current);
                self.yesterday_morning.set(current);
            }
            Some(d) if d == day => {}
            Some(d) => {
                // The day turned: yesterday's morning is the old today's morning, unless more
                // than a day passed without samples.
                let old_today = self.today_morning.get();
                self.yesterday_morning
                    .set(if day - d == 1 { old_today } else { current });
                self.today_morning.set(current);
            }
        }
        self.day.set(Some(day));
        let mut samples = self.samples.borrow_mut();
        if samples.len() == TRAFFIC_SAMPLES_COUNT_MAX {
            samples.pop_front();
        }
        samples.push_back(Sample {
            at_ms: now_ms,
            put: current.0,
            get: current.1,
        });
    }

    /// The counters and rates as of `now_ms`.
    pub fn report(&self, now_ms: i64) -> TrafficReport {
        let (put, get) = (self.put_total.get(), self.get_total.get());
        let samples = self.samples.borrow();
        let mut put_tps = [0.0; 3];
        let mut get_tps = [0.0; 3];
        for (i, window) in TPS_WINDOWS_SECONDS.iter().enumerate() {
            // The oldest sample inside the window (or the oldest there is).
            let since = now_ms - window * 1000;
            let first = samples
                .iter()
                .find(|s| s.at_ms >= since)
                .or_else(|| samples.front());
            if let Some(s) = first {
                let elapsed_ms = now_ms - s.at_ms;
                if elapsed_ms > 0 {
                    // Rates for people: f64 precision is plenty.
                    #[allow(clippy::cast_precision_loss)]
                    let rate = |now: u64, then: u64| {
                        now.saturating_sub(then) as f64 * 1000.0 / elapsed_ms as f64
                    };
                    put_tps[i] = rate(put, s.put);
                    get_tps[i] = rate(get, s.get);
                }
            }
        }
        TrafficReport {
            put_total: put,
            get_total: get,
            put_tps,
            get_tps,
            today_morning: self.today_morning.get(),
            yesterday_morning: self.yesterday_morning.get(),
        }
    }
}

impl TrafficReport {
    /// Add another shard's report.
    pub fn add(&mut self, o: &TrafficReport) {
        self.put_total = self.put_total.saturating_add(o.put_total);
        self.get_total = self.get_total.saturating_add(o.get_total);
        for i in 0..3 {
            self.put_tps[i] += o.put_tps[i];
            self.get_tps[i] += o.get_tps[i];
        }
        let add = |a: (u64, u64), b: (u64, u64)| (a.0.saturating_add(b.0), a.1.saturating_add(b.1));
        self.today_morning = add(self.today_morning, o.today_morning);
        self.yesterday_morning = add(self.yesterday_morning, o.yesterday_morning);
    }

    /// As extFields (shard to shard).
    pub fn to_fields(&self, out: &mut rmq_protocol::ExtFields) {
        out.insert("putTotal", self.put_total.to_string());
        out.insert("getTotal", self.get_total.to_string());
        out.insert("putTps", tps_text(&self.put_tps));
        out.insert("getTps", tps_text(&self.get_tps));
        out.insert("putTodayMorning", self.today_morning.0.to_string());
        out.insert("getTodayMorning", self.today_morning.1.to_string());
        out.insert("putYesterdayMorning", self.yesterday_morning.0.to_string());
        out.insert("getYesterdayMorning", self.yesterday_morning.1.to_string());
    }

    /// Read what [`TrafficReport::to_fields`] wrote (missing or bad fields read as 0).
    pub fn from_fields(f: &rmq_protocol::ExtFields) -> Self {
        let n = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let tps = |k: &str| {
            let mut out = [0.0; 3];
            for (slot, v) in out.iter_mut().zip(f.get(k).unwrap_or("").split(' ')) {
                *slot = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .unwrap_or(0.0);
            }
            out
        };
        TrafficReport {
            put_total: n("putTotal"),
            get_total: n("getTotal"),
            put_tps: tps("putTps"),
            get_tps: tps("getTps"),
            today_morning: (n("putTodayMorning"), n("getTodayMorning")),
            yesterday_morning: (n("putYesterdayMorning"), n("getYesterdayMorning")),
        }
    }
}

/// Rates as upstream prints them: space-separated, 2 decimals.
pub fn tps_text(tps: &[f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", tps[0], tps[1], tps[2])
}

/// Days since the epoch in local time (the day boundary of the `*Morning` totals).
pub fn local_day(now_ms: i64) -> i64 {
    let secs = now_ms.div_euclid(1000);
    let t: libc::time_t = secs;
    // SAFETY: localtime_r only writes the `tm` we pass and reads `t`; both are valid.
    let offset = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff
        }
    };
    (secs + offset).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_the_samples_inside_each_window() {
        let t = Traffic::default();
        t.sample(0, 0);
        t.record_put(100);
        t.sample(50_000, 0);
        t.record_put(100);
        t.record_get(30);
        let r = t.report(60_000);
        assert_eq!((r.put_total, r.get_total), (200, 30));
        // 10 s window: since the 50 s sample, 100 puts in 10 s.
        assert!((r.put_tps[0] - 10.0).abs() < 1e-9);
        assert!((r.get_tps[0] - 3.0).abs() < 1e-9);
        // 60 s and 600 s windows: since the first sample, 200 puts in 60 s.
        assert!((r.put_tps[1] - 200.0 / 60.0).abs() < 1e-9);
        assert!((r.put_tps[2] - 200.0 / 60.0).abs() < 1e-9);
    }

    #[test]
    fn the_ring_is_bounded_and_day_turns_move_the_morning_totals() {
        let t = Traffic::default();
        for i in 0..2000 {
            t.record_put(1);
            t.sample(i * 1000, 0);
        }
        assert_eq!(t.samples.borrow().len(), TRAFFIC_SAMPLES_COUNT_MAX);
        assert_eq!(t.report(2_000_000).today_morning, (1, 0));
        t.record_get(5);
        t.sample(2_001_000, 1);
        let r = t.report(2_001_000);
        assert_eq!(r.today_morning, (2000, 5));
        assert_eq!(r.yesterday_morning, (1, 0));
        t.sample(2_002_000, 5);
        assert_eq!(t.report(2_002_000).yesterday_morning, (2000, 5));
    }

    #[test]
    fn reports_travel_as_fields_and_add_up() {
        let a = TrafficReport {
            put_total: 7,
            get_total: 3,
            put_tps: [1.5, 2.0, 0.25],
            get_tps: [0.0, 1.0, 2.0],
            today_morning: (2, 1),
            yesterday_morning: (1, 0),
        };
        let mut f = rmq_protocol::ExtFields::new();
        a.to_fields(&mut f);
        let back = TrafficReport::from_fields(&f);
        assert_eq!(back, a);
        let mut sum = back.clone();
        sum.add(&a);
        assert_eq!(sum.put_total, 14);
        assert_eq!(tps_text(&sum.put_tps), "3.00 4.00 0.50");
        assert_eq!(sum.today_morning, (4, 2));
    }
}
