//! Consumer offsets: the next offset to consume per queue, held in memory and committed to
//! the broker (clustering: `UPDATE_CONSUMER_OFFSET`, read back with `QUERY_CONSUMER_OFFSET`).
//!
//! Broadcasting consumers keep offsets in this process only: upstream persists them to a local
//! file, which this client does not do (a restarted broadcasting consumer starts from its
//! `ConsumeFrom` setting again).
//!
//! Invariants: an offset only moves forward through [`OffsetStore::update`] unless the caller
//! asks otherwise (a rebalance or an `OFFSET_ILLEGAL` reset); an entry is committed only when
//! it changed since the last commit.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

use rmq_protocol::body::MessageQueue;
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{
    QueryConsumerOffsetRequestHeader, QueryConsumerOffsetResponseHeader,
    UpdateConsumerOffsetRequestHeader,
};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{broker_error, reply_header, ClientResult};
use crate::transport::Transport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    offset: i64,
    committed: bool,
}

/// Offsets of one consumer group.
#[derive(Debug, Default)]
pub struct OffsetStore {
    table: RefCell<BTreeMap<MessageQueue, Entry>>,
}

impl OffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set `queue`'s offset; with `increase_only`, a smaller value is ignored.
    pub fn update(&self, queue: &MessageQueue, offset: i64, increase_only: bool) {
        let mut table = self.table.borrow_mut();
        match table.get_mut(queue) {
            Some(e) if increase_only && offset <= e.offset => {}
            Some(e) => {
                e.offset = offset;
                e.committed = false;
            }
            None => {
                table.insert(
                    queue.clone(),
                    Entry {
                        offset,
                        committed: false,
                    },
                );
            }
        }
    }

    /// The offset held for `queue`.
    pub fn read(&self, queue: &MessageQueue) -> Option<i64> {
        self.table.borrow().get(queue).map(|e| e.offset)
    }

    /// Forget `queue` (it was re-balanced away).
    pub fn remove(&self, queue: &MessageQueue) {
        self.table.borrow_mut().remove(queue);
    }

    /// Offsets changed since their last commit.
    pub fn uncommitted(&self) -> Vec<(MessageQueue, i64)> {
        self.table
            .borrow()
            .iter()
            .filter(|(_, e)| !e.committed)
            .map(|(q, e)| (q.clone(), e.offset))
            .collect()
    }

    /// Mark `queue` committed at `offset` (if it has not moved since).
    pub fn mark_committed(&self, queue: &MessageQueue, offset: i64) {
        if let Some(e) = self.table.borrow_mut().get_mut(queue) {
            if e.offset == offset {
                e.committed = true;
            }
        }
    }

    /// Every held offset.
    pub fn all(&self) -> Vec<(MessageQueue, i64)> {
        self.table
            .borrow()
            .iter()
            .map(|(q, e)| (q.clone(), e.offset))
            .collect()
    }
}

/// The group's committed offset of `queue` on the broker; `None` if it has none.
pub async fn query_offset<T: Transport>(
    transport: &T,
    addr: &str,
    group: &str,
    queue: &MessageQueue,
    timeout: Duration,
) -> ClientResult<Option<i64>> {
    let request =
        RemotingCommand::new_request(request_code::QUERY_CONSUMER_OFFSET, ExtFields::new())
            .with_header(&QueryConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                set_zero_if_not_found: None,
            });
    let response = transport.invoke(addr, request, timeout).await?;
    match response.code {
        response_code::SUCCESS => {
            let h: QueryConsumerOffsetResponseHeader = reply_header(addr, &response)?;
            Ok((h.offset >= 0).then_some(h.offset))
        }
        response_code::QUERY_NOT_FOUND => Ok(None),
        _ => Err(broker_error(addr, &response)),
    }
}

/// Commit `offset` for `queue` (oneway, as upstream's periodic persist does).
pub async fn commit_offset<T: Transport>(
    transport: &T,
    addr: &str,
    group: &str,
    queue: &MessageQueue,
    offset: i64,
) -> ClientResult<()> {
    let request =
        RemotingCommand::new_request(request_code::UPDATE_CONSUMER_OFFSET, ExtFields::new())
            .with_header(&UpdateConsumerOffsetRequestHeader {
                consumer_group: group.to_string(),
                topic: queue.topic.clone(),
                queue_id: queue.queue_id,
                commit_offset: offset,
            });
    transport.invoke_oneway(addr, request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_move_forward_and_commits_are_tracked() {
        let s = OffsetStore::new();
        let q = MessageQueue::new("T", "b", 0);
        assert_eq!(s.read(&q), None);
        s.update(&q, 10, true);
        s.update(&q, 5, true);
        assert_eq!(s.read(&q), Some(10));
        assert_eq!(s.uncommitted(), vec![(q.clone(), 10)]);
        s.mark_committed(&q, 10);
        assert!(s.uncommitted().is_empty());
        // A stale commit acknowledgement does not hide a newer offset.
        s.update(&q, 12, true);
        s.mark_committed(&q, 10);
        assert_eq!(s.uncommitted(), vec![(q.clone(), 12)]);
        // A reset may go backwards.
        s.update(&q, 3, false);
        assert_eq!(s.read(&q), Some(3));
        s.remove(&q);
        assert!(s.all().is_empty());
    }
}
