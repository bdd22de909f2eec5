//! Committed consumer offsets (upstream `ConsumerOffsetManager`), keyed `topic@group` then
//! queue id, persisted as `consumerOffset.json` every `flushConsumerOffsetInterval` and at
//! shutdown.
//!
//! Owned by the control-plane shard. Invariants: at most [`OFFSET_ENTRIES_COUNT_MAX`] (topic,
//! group, queue) entries, so a client cannot make the broker grow the table without bound;
//! `dirty` is set by every change and cleared by a successful persist.

use std::collections::BTreeMap;

use rmq_protocol::body::ConsumerOffsetWrapper;

use crate::limits::OFFSET_ENTRIES_COUNT_MAX;

/// The table is full.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("too many consumer offsets (at most {OFFSET_ENTRIES_COUNT_MAX} queue entries)")]
pub struct OffsetTableFull;

/// The consumer-offset table.
#[derive(Debug, Clone, Default)]
pub struct OffsetTable {
    table: BTreeMap<String, BTreeMap<i32, i64>>,
    entries: usize,
    dirty: bool,
}

impl OffsetTable {
    /// The table from a loaded file (or empty).
    pub fn load(loaded: Option<ConsumerOffsetWrapper>) -> Self {
        let mut t = OffsetTable::default();
        for (key, queues) in loaded.map(|w| w.offset_table).unwrap_or_default() {
            if ConsumerOffsetWrapper::split_table_key(&key).is_none() {
                continue;
            }
            let n = queues.len();
            if t.entries.saturating_add(n) > OFFSET_ENTRIES_COUNT_MAX {
                log_warn!("consumerOffset.json has more entries than the limit; rest ignored");
                break;
            }
            t.entries += n;
            t.table.insert(key, queues);
        }
        t
    }

    /// The committed offset of a queue, if any.
    pub fn query(&self, topic: &str, group: &str, queue_id: i32) -> Option<i64> {
        self.table
            .get(&ConsumerOffsetWrapper::table_key(topic, group))
            .and_then(|q| q.get(&queue_id))
            .copied()
    }

    /// Commit an offset.
    pub fn commit(
        &mut self,
        topic: &str,
        group: &str,
        queue_id: i32,
        offset: i64,
    ) -> Result<(), OffsetTableFull> {
        let key = ConsumerOffsetWrapper::table_key(topic, group);
        let known = self
            .table
            .get(&key)
            .is_some_and(|q| q.contains_key(&queue_id));
        if !known {
            if self.entries >= OFFSET_ENTRIES_COUNT_MAX {
                return Err(OffsetTableFull);
            }
            self.entries += 1;
        }
        self.table.entry(key).or_default().insert(queue_id, offset);
        self.dirty = true;
        Ok(())
    }

    /// Every queue offset of a topic and group.
    pub fn queues(&self, topic: &str, group: &str) -> Option<&BTreeMap<i32, i64>> {
        self.table
            .get(&ConsumerOffsetWrapper::table_key(topic, group))
    }

    /// Topics a group has offsets for.
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        self.table
            .keys()
            .filter_map(|k| ConsumerOffsetWrapper::split_table_key(k))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_string())
            .collect()
    }

    /// Groups that have offsets for a topic.
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        self.table
            .keys()
            .filter_map(|k| ConsumerOffsetWrapper::split_table_key(k))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_string())
            .collect()
    }

    /// Drop every offset matching `keep == false` on its (topic, group).
    fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let before = self.entries;
        self.table.retain(|k, queues| {
            let keep_it = ConsumerOffsetWrapper::split_table_key(k).is_none_or(|(t, g)| keep(t, g));
            if !keep_it {
                self.entries -= queues.len();
            }
            keep_it
        });
        if self.entries != before {
            self.dirty = true;
        }
    }

    /// Drop the offsets of a topic (DELETE_TOPIC_IN_BROKER).
    pub fn remove_topic(&mut self, topic: &str) {
        self.retain(|t, _| t != topic);
    }

    /// Drop the offsets of a group (DELETE_SUBSCRIPTIONGROUP with cleanOffset).
    pub fn remove_group(&mut self, group: &str) {
        self.retain(|_, g| g != group);
    }

    /// The table as `consumerOffset.json` / GET_ALL_CONSUMER_OFFSET see it.
    pub fn wrapper(&self) -> ConsumerOffsetWrapper {
        ConsumerOffsetWrapper {
            offset_table: self.table.clone(),
            data_version: None,
        }
    }

    /// Whether there are changes not yet persisted.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Mark the current content as persisted.
    pub fn mark_clean(&mut self) {
        self.dirty = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_queried_removed_and_round_trip() {
        let mut t = OffsetTable::load(None);
        assert_eq!(t.query("T", "G", 0), None);
        t.commit("T", "G", 0, 12).unwrap();
        t.commit("T", "G", 1, 9).unwrap();
        t.commit("U", "G", 0, 1).unwrap();
        t.commit("T", "H", 3, 4).unwrap();
        assert!(t.is_dirty());
        assert_eq!(t.query("T", "G", 1), Some(9));
        let mut topics = t.topics_of_group("G");
        topics.sort();
        assert_eq!(topics, vec!["T".to_string(), "U".to_string()]);
        let reloaded = OffsetTable::load(Some(t.wrapper()));
        assert_eq!(reloaded.query("T", "H", 3), Some(4));
        t.mark_clean();
        t.remove_topic("T");
        assert!(t.is_dirty());
        assert_eq!(t.query("T", "G", 0), None);
        assert_eq!(t.query("U", "G", 0), Some(1));
        t.remove_group("G");
        assert_eq!(t.query("U", "G", 0), None);
        assert_eq!(t.entries, 0);
    }

    #[test]
    fn the_table_is_bounded() {
        let mut t = OffsetTable::load(None);
        t.entries = OFFSET_ENTRIES_COUNT_MAX;
        assert_eq!(t.commit("T", "G", 0, 1), Err(OffsetTableFull));
    }
}
