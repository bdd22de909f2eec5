//! Queue selection for sends, with upstream's latency fault tolerance (seeds-digest §1.6 and
//! Appendix A, the 4.x table).
//!
//! - Without fault tolerance: round-robin over the write queues; on a retry, the next queue
//!   whose broker differs from the broker that just failed (if any).
//! - With it: after every send, the broker's latency (an error counts as 30 s) maps through
//!   [`LATENCY_STEPS_MS`] to an avoidance time; selection rotates to the first queue whose
//!   broker is not being avoided. If every broker is avoided, one of the better half (sorted by
//!   availability, then latency, then the end of avoidance) is used anyway.
//!
//! Invariants: selection never fails on a non-empty queue list and always returns a queue of
//! that list's brokers; the clock is passed in (`now_ms`), so tests control time.

use std::cell::Cell;
use std::collections::HashMap;

use rmq_protocol::body::MessageQueue;

/// Latency thresholds (ms) and the avoidance (ms) each one earns, upstream's 4.x table.
pub const LATENCY_STEPS_MS: [(i64, i64); 7] = [
    (50, 0),
    (100, 0),
    (550, 30_000),
    (1_000, 60_000),
    (2_000, 120_000),
    (3_000, 180_000),
    (15_000, 600_000),
];

/// The latency a failed send counts as.
pub const ISOLATION_LATENCY_MS: i64 = 30_000;

/// How long a broker is avoided after a send that took `latency_ms`.
pub fn avoidance_ms(latency_ms: i64) -> i64 {
    LATENCY_STEPS_MS
        .iter()
        .rev()
        .find(|(threshold, _)| latency_ms >= *threshold)
        .map_or(0, |(_, avoid)| *avoid)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BrokerHealth {
    latency_ms: i64,
    available_from_ms: i64,
}

/// Per-broker latency record and the round-robin cursor of one producer.
#[derive(Debug, Default)]
pub struct QueueSelector {
    enabled: bool,
    health: HashMap<String, BrokerHealth>,
    cursor: Cell<u32>,
    worst_cursor: Cell<u32>,
}

impl QueueSelector {
    /// A selector; `latency_fault_enabled` is upstream's `sendLatencyFaultEnable`.
    pub fn new(latency_fault_enabled: bool) -> Self {
        QueueSelector {
            enabled: latency_fault_enabled,
            ..Self::default()
        }
    }

    /// Whether latency fault tolerance is on.
    pub const fn latency_fault_enabled(&self) -> bool {
        self.enabled
    }

    fn next_index(&self, len: usize) -> usize {
        let v = self.cursor.get();
        self.cursor.set(v.wrapping_add(1));
        v as usize % len
    }

    /// Record a send to `broker` that took `latency_ms` (or failed, `isolated`).
    pub fn record(&mut self, broker: &str, latency_ms: i64, isolated: bool, now_ms: i64) {
        if !self.enabled {
            return;
        }
        let latency_ms = if isolated {
            ISOLATION_LATENCY_MS
        } else {
            latency_ms
        };
        let health = BrokerHealth {
            latency_ms,
            available_from_ms: now_ms.saturating_add(avoidance_ms(latency_ms)),
        };
        match self.health.get_mut(broker) {
            Some(h) => *h = health,
            None => {
                self.health.insert(broker.to_string(), health);
            }
        }
    }

    /// Whether `broker` may be used at `now_ms`.
    pub fn is_available(&self, broker: &str, now_ms: i64) -> bool {
        self.health
            .get(broker)
            .is_none_or(|h| now_ms >= h.available_from_ms)
    }

    /// Choose a queue of `queues` for the next attempt. `last_failed` is the broker of the
    /// previous failed attempt of the same message, if any. `None` only for an empty list.
    pub fn select<'q>(
        &self,
        queues: &'q [MessageQueue],
        last_failed: Option<&str>,
        now_ms: i64,
    ) -> Option<&'q MessageQueue> {
        if queues.is_empty() {
            return None;
        }
        if self.enabled {
            for _ in 0..queues.len() {
                let q = &queues[self.next_index(queues.len())];
                if self.is_available(&q.broker_name, now_ms) {
                    return Some(q);
                }
            }
            // Everyone is avoided: take one of the better half anyway.
            if let Some(broker) = self.pick_least_bad(now_ms) {
                let of_broker: Vec<&MessageQueue> =
                    queues.iter().filter(|q| q.broker_name == broker).collect();
                if !of_broker.is_empty() {
                    return Some(of_broker[self.next_index(of_broker.len())]);
                }
            }
            return Some(&queues[self.next_index(queues.len())]);
        }
        if let Some(failed) = last_failed {
            for _ in 0..queues.len() {
                let q = &queues[self.next_index(queues.len())];
                if q.broker_name != failed {
                    return Some(q);
                }
            }
        }
        Some(&queues[self.next_index(queues.len())])
    }

    /// One broker of the better half of the health table.
    fn pick_least_bad(&self, now_ms: i64) -> Option<&str> {
        let mut items: Vec<(&String, &BrokerHealth)> = self.health.iter().collect();
        if items.is_empty() {
            return None;
        }
        items.sort_by(|(an, a), (bn, b)| {
            let a_avail = now_ms >= a.available_from_ms;
            let b_avail = now_ms >= b.available_from_ms;
            b_avail
                .cmp(&a_avail)
                .then(a.latency_ms.cmp(&b.latency_ms))
                .then(a.available_from_ms.cmp(&b.available_from_ms))
                .then(an.cmp(bn))
        });
        let half = items.len() / 2;
        if half == 0 {
            return Some(items[0].0);
        }
        let i = self.worst_cursor.get();
        self.worst_cursor.set(i.wrapping_add(1));
        Some(items[i as usize % half].0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(brokers: &[(&str, i32)]) -> Vec<MessageQueue> {
        brokers
            .iter()
            .flat_map(|&(b, n)| (0..n).map(move |i| MessageQueue::new("T", b, i)))
            .collect()
    }

    #[test]
    fn avoidance_table_is_upstream_s() {
        let cases = [
            (0, 0),
            (49, 0),
            (100, 0),
            (549, 0),
            (550, 30_000),
            (999, 30_000),
            (1_000, 60_000),
            (2_000, 120_000),
            (2_999, 120_000),
            (3_000, 180_000),
            (14_999, 180_000),
            (15_000, 600_000),
            (ISOLATION_LATENCY_MS, 600_000),
        ];
        for (latency, avoid) in cases {
            assert_eq!(avoidance_ms(latency), avoid, "latency {latency}");
        }
    }

    #[test]
    fn round_robin_visits_every_queue_in_turn() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let sel = QueueSelector::new(false);
        let picked: Vec<i32> = (0..8)
            .map(|_| {
                let q = sel.select(&qs, None, 0).unwrap();
                q.queue_id + if q.broker_name == "b" { 10 } else { 0 }
            })
            .collect();
        assert_eq!(picked, [0, 1, 10, 11, 0, 1, 10, 11]);
        assert!(sel.select(&[], None, 0).is_none());
    }

    #[test]
    fn retry_without_fault_tolerance_avoids_the_failed_broker() {
        let qs = queues(&[("a", 3), ("b", 1)]);
        let sel = QueueSelector::new(false);
        for _ in 0..20 {
            assert_eq!(sel.select(&qs, Some("a"), 0).unwrap().broker_name, "b");
        }
        // A single-broker route still yields a queue.
        let only_a = queues(&[("a", 2)]);
        assert_eq!(sel.select(&only_a, Some("a"), 0).unwrap().broker_name, "a");
    }

    #[test]
    fn slow_or_failed_brokers_are_avoided_until_their_time_is_up() {
        let qs = queues(&[("a", 2), ("b", 2)]);
        let mut sel = QueueSelector::new(true);
        sel.record("a", 10, false, 1_000);
        sel.record("b", 0, true, 1_000);
        for _ in 0..10 {
            assert_eq!(sel.select(&qs, None, 2_000).unwrap().broker_name, "a");
        }
        assert!(!sel.is_available("b", 1_000 + 599_999));
        assert!(sel.is_available("b", 1_000 + 600_000));
        // 700 ms latency: avoided for 30 s.
        sel.record("a", 700, false, 5_000);
        assert!(!sel.is_available("a", 34_999));
        assert!(sel.is_available("a", 35_000));
        // Disabled: nothing is recorded.
        let mut off = QueueSelector::new(false);
        off.record("a", 0, true, 0);
        assert!(off.is_available("a", 1));
    }

    #[test]
    fn when_every_broker_is_avoided_the_least_bad_is_used() {
        let qs = queues(&[("a", 2), ("b", 2), ("c", 2), ("d", 2)]);
        let mut sel = QueueSelector::new(true);
        sel.record("a", 600, false, 0); // 30 s
        sel.record("b", 20_000, false, 0); // 600 s
        sel.record("c", 0, true, 0); // 600 s
        sel.record("d", 1_500, false, 0); // 60 s
        for _ in 0..20 {
            let b = &sel.select(&qs, None, 10).unwrap().broker_name;
            // Better half by latency: a (600) and d (1500).
            assert!(b == "a" || b == "d", "{b}");
        }
    }
}
