//! The per-queue cache of pulled, not yet consumed messages, and the flow control that reads
//! it (upstream's `ProcessQueue` and the checks before each pull).
//!
//! Invariants: `count` and `bytes` always equal the number and total store size of the cached
//! messages; [`ProcessQueue::remove`] returns the offset that is safe to commit — the smallest
//! offset still cached, or one past the largest offset ever cached when nothing is left — so a
//! commit never skips a message that has not been consumed.

use std::collections::BTreeMap;

use crate::message::MessageExt;

/// Limits checked before each pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowLimits {
    /// Cached messages at most (`pullThresholdForQueue`).
    pub count_max: usize,
    /// Cached bytes at most (`pullThresholdSizeForQueue`).
    pub bytes_max: usize,
    /// Offset span at most, concurrent consumers only (`consumeConcurrentlyMaxSpan`).
    pub span_max: i64,
}

/// Why pulling pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowControl {
    /// Too many cached messages.
    Count,
    /// Too many cached bytes.
    Bytes,
    /// The cached offsets span too far (one slow message holds back the commit).
    Span,
}

/// One cached entry: its stored size, and the message itself when the cache owns it
/// (orderly mode; a concurrent consumer's messages are owned by their consume task).
#[derive(Debug)]
struct Cached {
    size: usize,
    message: Option<MessageExt>,
}

/// Cached messages of one queue, by offset.
#[derive(Debug, Default)]
pub struct ProcessQueue {
    messages: BTreeMap<i64, Cached>,
    /// Messages taken by an orderly consumer and not yet committed.
    consuming: BTreeMap<i64, Cached>,
    bytes: usize,
    max_offset_seen: Option<i64>,
}

impl ProcessQueue {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cached messages (orderly: including those being consumed).
    pub fn count(&self) -> usize {
        self.messages.len() + self.consuming.len()
    }

    /// Cached bytes.
    pub const fn bytes(&self) -> usize {
        self.bytes
    }

    /// Largest minus smallest cached offset (0 when empty).
    pub fn span(&self) -> i64 {
        match (
            self.messages.first_key_value(),
            self.messages.last_key_value(),
        ) {
            (Some((lo, _)), Some((hi, _))) => hi - lo,
            _ => 0,
        }
    }

    /// Whether pulling must pause, and why.
    pub fn flow_control(&self, limits: &FlowLimits, concurrent: bool) -> Option<FlowControl> {
        if self.count() > limits.count_max {
            Some(FlowControl::Count)
        } else if self.bytes > limits.bytes_max {
            Some(FlowControl::Bytes)
        } else if concurrent && self.span() > limits.span_max {
            Some(FlowControl::Span)
        } else {
            None
        }
    }

    fn insert(&mut self, offset: i64, cached: Cached) {
        if self.consuming.contains_key(&offset) {
            return;
        }
        let size = cached.size;
        // A re-pulled offset replaces the same stored record: count its bytes once.
        if self.messages.insert(offset, cached).is_none() {
            self.bytes += size;
        }
        self.max_offset_seen = Some(self.max_offset_seen.map_or(offset, |m| m.max(offset)));
    }

    /// Concurrent mode: record pulled messages that a consume task owns.
    pub fn track(&mut self, messages: &[MessageExt]) {
        for m in messages {
            self.insert(
                m.queue_offset,
                Cached {
                    size: m.store_size,
                    message: None,
                },
            );
        }
    }

    /// Orderly mode: cache pulled messages for [`ProcessQueue::take`].
    pub fn put(&mut self, messages: impl IntoIterator<Item = MessageExt>) {
        for m in messages {
            self.insert(
                m.queue_offset,
                Cached {
                    size: m.store_size,
                    message: Some(m),
                },
            );
        }
    }

    fn commit_point(&self) -> i64 {
        let first_cached = self.messages.first_key_value().map(|(o, _)| *o);
        let first_consuming = self.consuming.first_key_value().map(|(o, _)| *o);
        match (first_cached, first_consuming) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => self.max_offset_seen.map_or(-1, |m| m + 1),
        }
    }

    /// Concurrent mode: remove consumed messages. Returns the offset safe to commit, or
    /// `None` if the cache was empty before the call.
    pub fn remove(&mut self, offsets: impl IntoIterator<Item = i64>) -> Option<i64> {
        if self.messages.is_empty() {
            return None;
        }
        for offset in offsets {
            if let Some(c) = self.messages.remove(&offset) {
                self.bytes -= c.size;
            }
        }
        Some(self.commit_point())
    }

    /// Orderly mode: take up to `n` cached messages in offset order for consumption.
    pub fn take(&mut self, n: usize) -> Vec<MessageExt> {
        let mut out = Vec::with_capacity(n.min(self.messages.len()));
        while out.len() < n {
            let Some((offset, mut cached)) = self.messages.pop_first() else {
                break;
            };
            if let Some(m) = cached.message.take() {
                out.push(m);
            }
            self.consuming.insert(offset, cached);
        }
        out
    }

    /// Orderly mode: the taken messages were consumed; returns the offset safe to commit.
    pub fn commit(&mut self) -> i64 {
        for (_, c) in std::mem::take(&mut self.consuming) {
            self.bytes -= c.size;
        }
        self.commit_point()
    }

    /// Orderly mode: the taken messages must be consumed again; put them back.
    pub fn rollback(&mut self, taken: Vec<MessageExt>) {
        for m in taken {
            if let Some(c) = self.consuming.remove(&m.queue_offset) {
                self.messages.insert(
                    m.queue_offset,
                    Cached {
                        size: c.size,
                        message: Some(m),
                    },
                );
            }
        }
    }

    /// The offset that would be safe to commit now.
    pub fn commit_preview(&self) -> i64 {
        self.commit_point()
    }

    /// Drop everything (the queue was re-balanced away).
    pub fn clear(&mut self) {
        self.messages.clear();
        self.consuming.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(offset: i64, size: usize) -> MessageExt {
        MessageExt {
            topic: "T".into(),
            broker_name: "b".into(),
            queue_id: 0,
            queue_offset: offset,
            commit_log_offset: 0,
            sys_flag: 0,
            flag: 0,
            born_timestamp: 0,
            store_timestamp: 0,
            reconsume_times: 0,
            properties: String::new(),
            body: Bytes::new(),
            store_size: size,
        }
    }

    const LIMITS: FlowLimits = FlowLimits {
        count_max: 3,
        bytes_max: 1000,
        span_max: 10,
    };

    #[test]
    fn commit_point_never_passes_an_unconsumed_message() {
        let mut pq = ProcessQueue::new();
        assert_eq!(pq.remove([1]), None);
        let pulled: Vec<MessageExt> = (10..15).map(|o| msg(o, 100)).collect();
        pq.track(&pulled);
        assert_eq!((pq.count(), pq.bytes(), pq.span()), (5, 500, 4));
        // Out-of-order completion: 11 and 12 done, 10 still pending.
        assert_eq!(pq.remove([11, 12]), Some(10));
        assert_eq!(pq.remove([10]), Some(13));
        assert_eq!(pq.remove([13, 14]), Some(15));
        assert_eq!((pq.count(), pq.bytes()), (0, 0));
        // Unknown offsets change nothing.
        pq.track(&[msg(20, 1)]);
        assert_eq!(pq.remove([99]), Some(20));
    }

    #[test]
    fn flow_control_trips_on_count_bytes_and_span() {
        let mut pq = ProcessQueue::new();
        pq.put((0..4).map(|o| msg(o, 1)));
        assert_eq!(pq.flow_control(&LIMITS, true), Some(FlowControl::Count));
        let mut pq = ProcessQueue::new();
        pq.put([msg(0, 2000)]);
        assert_eq!(pq.flow_control(&LIMITS, true), Some(FlowControl::Bytes));
        let mut pq = ProcessQueue::new();
        pq.put([msg(0, 1), msg(50, 1)]);
        assert_eq!(pq.flow_control(&LIMITS, true), Some(FlowControl::Span));
        // Orderly consumers do not use the span check.
        assert_eq!(pq.flow_control(&LIMITS, false), None);
        // Putting the same offset twice counts it once.
        let mut pq = ProcessQueue::new();
        pq.put([msg(0, 5)]);
        pq.put([msg(0, 5)]);
        assert_eq!((pq.count(), pq.bytes()), (1, 5));
    }

    #[test]
    fn orderly_take_commit_and_rollback() {
        let mut pq = ProcessQueue::new();
        pq.put((0..5).map(|o| msg(o, 10)));
        let taken_msgs = pq.take(2);
        let taken: Vec<i64> = taken_msgs.iter().map(|m| m.queue_offset).collect();
        assert_eq!(taken, [0, 1]);
        assert_eq!(pq.count(), 5);
        let back = pq.take(0);
        assert!(back.is_empty());
        let first_two = pq.commit_preview();
        assert_eq!(first_two, 0);
        pq.rollback(taken_msgs);
        let again: Vec<i64> = pq.take(3).iter().map(|m| m.queue_offset).collect();
        assert_eq!(again, [0, 1, 2]);
        assert_eq!(pq.commit(), 3);
        assert_eq!((pq.count(), pq.bytes()), (2, 20));
        pq.take(10);
        assert_eq!(pq.commit(), 5);
        pq.clear();
        assert_eq!(pq.count(), 0);
    }
}
