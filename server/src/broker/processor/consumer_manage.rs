//! GET_CONSUMER_LIST_BY_GROUP (38), QUERY_CONSUMER_OFFSET (14, its control-plane half and its
//! decision rule) and UPDATE_CONSUMER_OFFSET (15), upstream `ConsumerManageProcessor`
//! (protocol.md §2.6, §2.7).

use rmq_protocol::body::{GetConsumerListByGroupResponseBody, JsonBody};
use rmq_protocol::header::{
    GetConsumerListByGroupRequestHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, UpdateConsumerOffsetRequestHeader,
};
use rmq_protocol::RemotingCommand;

use crate::broker::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{error, header_error, response_code, success};

/// GET_CONSUMER_LIST_BY_GROUP: SUCCESS always carries the body (the Java client treats a
/// bodiless SUCCESS as an error); no consumer online is SYSTEM_ERROR.
pub fn get_consumer_list_by_group(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<GetConsumerListByGroupRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let ids = broker.with_state(|s| s.clients.consumer_ids(&h.consumer_group));
    if ids.is_empty() {
        return error(
            cmd,
            response_code::SYSTEM_ERROR,
            &format!("no consumer for this group, {}", h.consumer_group),
        );
    }
    success(cmd).with_body(
        GetConsumerListByGroupResponseBody {
            consumer_id_list: ids,
        }
        .encode(),
    )
}

/// What QUERY_CONSUMER_OFFSET needs to know about a queue when no offset is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueHead {
    /// The queue's min offset.
    pub min_offset: i64,
    /// Whether message `0` has left memory (Java's `checkInDiskByConsumeOffset(0)`).
    pub first_message_on_disk: bool,
}

/// The QUERY_CONSUMER_OFFSET decision, as 4.9.8 plus 5.x's `setZeroIfNotFound`: a committed
/// offset wins; otherwise an explicit `setZeroIfNotFound=false` is "not found"; otherwise a
/// queue whose first message is still in memory starts at 0 (C++ clients rely on this to see
/// messages sent before they started); otherwise "not found" (the client applies its
/// consumeFromWhere).
pub fn decide_query_offset(
    committed: Option<i64>,
    set_zero_if_not_found: Option<bool>,
    head: QueueHead,
) -> Result<i64, &'static str> {
    if let Some(offset) = committed.filter(|o| *o >= 0) {
        return Ok(offset);
    }
    if set_zero_if_not_found == Some(false) {
        return Err("Not found, do not set to zero, maybe this group boot first");
    }
    if head.min_offset <= 0 && !head.first_message_on_disk {
        return Ok(0);
    }
    Err("Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first")
}

/// The committed offset of a queue (control-plane half of QUERY_CONSUMER_OFFSET, whose
/// store half is in `queue_offsets`): SUCCESS with it, or QUERY_NOT_FOUND.
pub fn committed_offset(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<QueryConsumerOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    match broker.with_state(|s| s.offsets.query(&h.topic, &h.consumer_group, h.queue_id)) {
        Some(offset) => success(cmd).with_header(&QueryConsumerOffsetResponseHeader { offset }),
        None => error(cmd, response_code::QUERY_NOT_FOUND, "no committed offset"),
    }
}

/// UPDATE_CONSUMER_OFFSET (oneway from the periodic commit, sync at shutdown).
pub fn update_consumer_offset(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<UpdateConsumerOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    match broker.mutate(|s| {
        s.offsets
            .commit(&h.topic, &h.consumer_group, h.queue_id, h.commit_offset)
    }) {
        Ok(()) => success(cmd),
        Err(e) => error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: QueueHead = QueueHead {
        min_offset: 0,
        first_message_on_disk: false,
    };

    #[test]
    fn query_offset_follows_4_9_8_and_set_zero_if_not_found() {
        assert_eq!(decide_query_offset(Some(12), None, EMPTY), Ok(12));
        assert_eq!(decide_query_offset(Some(12), Some(false), EMPTY), Ok(12));
        // A new group on a queue whose message 0 is in memory: SUCCESS 0 (C++ clients).
        assert_eq!(decide_query_offset(None, None, EMPTY), Ok(0));
        assert_eq!(decide_query_offset(Some(-1), Some(true), EMPTY), Ok(0));
        assert!(decide_query_offset(None, Some(false), EMPTY).is_err());
        let moved = QueueHead {
            min_offset: 100,
            first_message_on_disk: false,
        };
        assert!(decide_query_offset(None, None, moved).is_err());
        let on_disk = QueueHead {
            min_offset: 0,
            first_message_on_disk: true,
        };
        assert!(decide_query_offset(None, None, on_disk).is_err());
    }
}
