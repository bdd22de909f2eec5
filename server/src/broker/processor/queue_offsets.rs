//! Queue offsets: GET_MAX_OFFSET (30), GET_MIN_OFFSET (31), SEARCH_OFFSET_BY_TIMESTAMP (29),
//! GET_EARLIEST_MSG_STORETIME (32) on the queue's owner shard, and the store half of
//! QUERY_CONSUMER_OFFSET (14): the committed offset lives on the control-plane shard, the
//! queue head (min offset, whether message 0 is still in memory) on the queue's owner
//! (protocol.md §2.7, §2.8).

use std::rc::Rc;

use rmq_engine::TimeBoundary;
use rmq_protocol::header::{
    BoundaryType, GetEarliestMsgStoretimeRequestHeader, GetEarliestMsgStoretimeResponseHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, GetMinOffsetRequestHeader,
    GetMinOffsetResponseHeader, QueryConsumerOffsetRequestHeader,
    QueryConsumerOffsetResponseHeader, SearchOffsetRequestHeader, SearchOffsetResponseHeader,
};
use rmq_protocol::message::record::RecordView;
use rmq_protocol::RemotingCommand;

use super::consumer_manage::{decide_query_offset, QueueHead};
use crate::broker::dispatch::internal;
use crate::broker::Broker;
use crate::limits::MESSAGE_IN_MEMORY_RATIO_PERCENT;
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind};
use crate::wire::{error, header_error, response_code, success, system_busy};

fn no_store(cmd: &RemotingCommand) -> RemotingCommand {
    error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open")
}

/// The owner shard of the queue named by the `topic` and `queueId` fields, if present.
pub fn owner_of(cmd: &RemotingCommand, shards: usize) -> Option<usize> {
    let topic = cmd.ext_fields.get("topic")?;
    let queue_id: u32 = cmd.ext_fields.get("queueId")?.parse().ok()?;
    Some(queue_owner_shard(topic, queue_id, shards))
}

/// GET_MAX_OFFSET.
pub async fn max_offset(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return no_store(cmd);
    };
    match cmd.decode_header::<GetMaxOffsetRequestHeader>() {
        Ok(h) => success(cmd).with_header(&GetMaxOffsetResponseHeader {
            offset: data.store.max_offset(&h.topic, h.queue_id),
        }),
        Err(e) => header_error(cmd, &e),
    }
}

/// GET_MIN_OFFSET.
pub async fn min_offset(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return no_store(cmd);
    };
    match cmd.decode_header::<GetMinOffsetRequestHeader>() {
        Ok(h) => success(cmd).with_header(&GetMinOffsetResponseHeader {
            offset: data.store.min_offset(&h.topic, h.queue_id),
        }),
        Err(e) => header_error(cmd, &e),
    }
}

/// SEARCH_OFFSET_BY_TIMESTAMP.
pub async fn search_offset(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return no_store(cmd);
    };
    let h = match cmd.decode_header::<SearchOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let boundary = match h.boundary_type {
        Some(BoundaryType::Upper) => TimeBoundary::Upper,
        _ => TimeBoundary::Lower,
    };
    let offset = data
        .store
        .offset_by_timestamp(&h.topic, h.queue_id, h.timestamp, boundary)
        .await;
    success(cmd).with_header(&SearchOffsetResponseHeader { offset })
}

/// GET_EARLIEST_MSG_STORETIME (-1 when the queue is empty, as Java).
pub async fn earliest_store_time(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return no_store(cmd);
    };
    let h = match cmd.decode_header::<GetEarliestMsgStoretimeRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let timestamp = data
        .store
        .earliest_store_time(&h.topic, h.queue_id)
        .await
        .unwrap_or(-1);
    success(cmd).with_header(&GetEarliestMsgStoretimeResponseHeader { timestamp })
}

/// Bytes of physical memory.
fn physical_memory_bytes() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    u64::try_from(pages)
        .unwrap_or(0)
        .saturating_mul(u64::try_from(page).unwrap_or(0))
}

/// INTERNAL queue head (owner shard): min offset and whether message 0 has left memory
/// (upstream `checkInDiskByConsumeOffset`: more than 40 % of RAM behind the log's end).
pub async fn queue_head(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return no_store(cmd);
    };
    let (Some(topic), Some(queue_id)) = (
        cmd.ext_fields.get("topic"),
        cmd.ext_fields
            .get("queueId")
            .and_then(|v| v.parse::<i32>().ok()),
    ) else {
        return error(
            cmd,
            response_code::SYSTEM_ERROR,
            "malformed internal queue head",
        );
    };
    let min = data.store.min_offset(topic, queue_id);
    let mut on_disk = false;
    if min <= 0 && data.store.max_offset(topic, queue_id) > 0 {
        let first = data
            .store
            .get_messages(topic, queue_id, 0, 1, 1024 * 1024, |_| true)
            .await;
        if let Some(phys) = first
            .messages
            .first()
            .and_then(|m| RecordView::parse(m).ok())
            .map(|r| r.physical_offset())
        {
            let (_, log_end) = data.store.log_offsets();
            let behind = u64::try_from(log_end.saturating_sub(phys)).unwrap_or(0);
            let memory = physical_memory_bytes() / 100 * MESSAGE_IN_MEMORY_RATIO_PERCENT;
            on_disk = behind > memory;
        }
    }
    let mut resp = success(cmd);
    resp.ext_fields.insert("minOffset", min.to_string());
    resp.ext_fields.insert("onDisk", on_disk.to_string());
    resp
}

/// QUERY_CONSUMER_OFFSET on the receiving shard: the committed offset from the control
/// plane, then, if there is none, the queue head from the queue's owner.
pub async fn query_consumer_offset(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<QueryConsumerOffsetRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    let mut ask = cmd.clone();
    ask.code = internal::COMMITTED_OFFSET;
    let Ok(Some(committed)) = broker
        .shard
        .call_owner(ServiceKind::Broker, conn.clone(), ask)
        .await
    else {
        return system_busy(&cmd);
    };
    let committed = (committed.code == response_code::SUCCESS)
        .then(|| {
            committed
                .ext_fields
                .get("offset")
                .and_then(|v| v.parse::<i64>().ok())
        })
        .flatten();
    let head = if committed.is_none_or(|o| o < 0) && h.set_zero_if_not_found != Some(false) {
        let mut ask = cmd.clone();
        ask.code = internal::QUEUE_HEAD;
        let owner = owner_of(&cmd, broker.shard.count).unwrap_or(0);
        let Ok(Some(r)) = broker
            .shard
            .call_shard(owner, ServiceKind::Broker, conn.clone(), ask)
            .await
        else {
            return system_busy(&cmd);
        };
        if r.code != response_code::SUCCESS {
            return RemotingCommand::response_to(&cmd, r.code, r.remark);
        }
        QueueHead {
            min_offset: r
                .ext_fields
                .get("minOffset")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            first_message_on_disk: r.ext_fields.get("onDisk") == Some("true"),
        }
    } else {
        QueueHead {
            min_offset: 0,
            first_message_on_disk: false,
        }
    };
    match decide_query_offset(committed, h.set_zero_if_not_found, head) {
        Ok(offset) => success(&cmd).with_header(&QueryConsumerOffsetResponseHeader { offset }),
        Err(remark) => error(&cmd, response_code::QUERY_NOT_FOUND, remark),
    }
}
