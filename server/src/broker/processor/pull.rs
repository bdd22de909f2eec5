//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), upstream `PullMessageProcessor` and
//! `PullRequestHoldService` (protocol.md §2.3).
//!
//! - [`front`] (receiving shard) validates in Java's order against the read-only control
//!   plane: broker readable, subscription group, consume enabled, topic, topic readable,
//!   queue id, then the subscription (from the request when sysFlag bit 2 is set, otherwise
//!   the one registered by heartbeat, which must be at least as new as the request's).
//!   The piggy-backed `commitOffset` goes to the control-plane shard. Then the pull is
//!   forwarded to the queue's owner shard with the resolved subscription.
//! - [`owner`] (queue owner) reads from the store with tag-hash filtering, maps the status to
//!   the response code and always writes all four response header fields. A PULL_NOT_FOUND
//!   with the suspend flag is held: it is answered as soon as new entries arrive on the queue,
//!   or with PULL_NOT_FOUND when `suspendTimeoutMillis` (or `shortPollingTimeMills` without
//!   long polling) elapses, or at shutdown.
//!
//! # The body: zero-copy
//! The body is the stored records, concatenated, exactly as in the CommitLog. By default it is
//! never copied: [`owner`] returns the records as the store hands them out ([`LogBytes`]:
//! slices of the in-memory CommitLog tail, or the DMA buffers of a cold segment read), as the
//! body parts of a [`Reply`]; the transport writes the encoded header and the parts in one
//! vectored `sendmsg` (`transport::writev`; consecutive records of one buffer become one
//! `iovec`). When the queue's owner is another shard, the in-memory slices cross the mesh as
//! reference-counted `Bytes` (no copy) and DMA buffers, which belong to the owner's executor,
//! are copied once there (`Reply::into_sendable`). `transferMsgByHeap=true` (upstream's name;
//! upstream defaults it to true, we default to false) copies the records into one contiguous
//! body on the owner instead, as upstream's heap mode does.
//!
//! Measured with `cargo bench -p rmq-server --bench pull_throughput` (release; two brokers of
//! one shard each, one per mode, measured in alternating rounds, median of 5; 32 x 1 KiB
//! records per reply, 16 pulls pipelined on one 127.0.0.1 connection; the 2-core machine was
//! shared with other builds, load average ~6, so wall-clock figures move by tens of percent
//! between runs; CPU time per byte is steadier):
//!
//! | mode                         | in-memory tail       | cold (DMA reads)       |
//! |------------------------------|----------------------|------------------------|
//! | zero-copy (default)          | 302 MB/s, 1706 CPU ms/GB | 27 MB/s, 17602 CPU ms/GB |
//! | `transferMsgByHeap=true`     | 251 MB/s, 1733 CPU ms/GB | 30 MB/s, 17331 CPU ms/GB |
//!
//! At this record size the copy that zero-copy removes (about 37 KB per reply, a few
//! microseconds) is a small share of the ~60 µs of broker CPU a reply costs (request decode,
//! queue lookups, header encode, the loopback TCP send), so the difference is within the
//! noise of this machine; it grows with reply size and matters most for memory bandwidth
//! under many concurrent consumers. Cold pulls are bound by the store's DMA reads.

use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use rmq_engine::{GetStatus, LogBytes};
use rmq_protocol::body::{perm, SubscriptionData};
use rmq_protocol::header::{PullMessageRequestHeader, PullMessageResponseHeader};
use rmq_protocol::RemotingCommand;

use crate::broker::dispatch::internal;
use crate::broker::Broker;
use crate::limits::PULL_SUSPEND_TIMEOUT_MAX;
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind};
use crate::transport::Reply;
use crate::wire::{error, header_error, request_code, response_code, system_busy};

/// `PullSysFlag` bits.
pub mod sys_flag {
    /// The broker should store `commitOffset`.
    pub const COMMIT_OFFSET: i32 = 0x1;
    /// Long polling is allowed.
    pub const SUSPEND: i32 = 0x2;
    /// The subscription is in the request.
    pub const SUBSCRIPTION: i32 = 0x4;
}

/// Default `maxMsgBytes` when the request has none (`pullBatchSizeInBytes`).
const PULL_BYTES_DEFAULT: i32 = 256 * 1024;

/// The receiving shard's half.
pub async fn front(broker: &Rc<Broker>, conn: &ConnectionInfo, cmd: RemotingCommand) -> Reply {
    front_checked(broker, conn, cmd)
        .await
        .unwrap_or_else(Reply::from)
}

/// [`front`]; `Err` is an error reply (no body).
async fn front_checked(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> Result<Reply, RemotingCommand> {
    let h = match cmd.decode_header::<PullMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return Err(header_error(&cmd, &e)),
    };
    let config = &broker.config;
    if !perm::is_readable(i32::try_from(config.broker_permission).unwrap_or(0)) {
        return Err(error(
            &cmd,
            response_code::NO_PERMISSION,
            &format!(
                "the broker[{}] pulling message is forbidden",
                config.broker_ip1
            ),
        ));
    }
    let snapshot = broker.snapshot();
    match snapshot.groups.get(&h.consumer_group) {
        Some(g) if !g.consume_enable => {
            return Err(error(
                &cmd,
                response_code::NO_PERMISSION,
                &format!("subscription group no permission, {}", h.consumer_group),
            ))
        }
        Some(_) => {}
        // Upstream auto-creates the group here; its first heartbeat does that for us, and a
        // new group has consumption enabled.
        None if config.auto_create_subscription_group => {}
        None => {
            return Err(error(
                &cmd,
                response_code::SUBSCRIPTION_GROUP_NOT_EXIST,
                &format!("subscription group [{}] does not exist", h.consumer_group),
            ))
        }
    }
    let Some(topic_cfg) = snapshot.topics.get(&h.topic) else {
        return Err(error(
            &cmd,
            response_code::TOPIC_NOT_EXIST,
            &format!("topic[{}] not exist, apply first please!", h.topic),
        ));
    };
    if !perm::is_readable(topic_cfg.perm) {
        return Err(error(
            &cmd,
            response_code::NO_PERMISSION,
            &format!("the topic[{}] pulling message is forbidden", h.topic),
        ));
    }
    if h.queue_id < 0 || h.queue_id >= topic_cfg.read_queue_nums {
        return Err(error(
            &cmd,
            response_code::INVALID_PARAMETER,
            &format!(
                "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
                h.queue_id, h.topic, topic_cfg.read_queue_nums, conn.peer
            ),
        ));
    }
    let subscription = if h.sys_flag & sys_flag::SUBSCRIPTION != 0 {
        if h.expression_type.as_deref().is_some_and(|t| t != "TAG") {
            return Err(error(
                &cmd,
                response_code::SUBSCRIPTION_PARSE_FAILED,
                "The broker does not support consumer to filter message by SQL92",
            ));
        }
        SubscriptionData::from_expression(
            &h.topic,
            h.subscription.as_deref().unwrap_or("*"),
            h.sub_version,
        )
    } else {
        let Some(group) = snapshot.consumers.get(&h.consumer_group) else {
            return Err(error(
                &cmd,
                response_code::SUBSCRIPTION_NOT_EXIST,
                &format!("the consumer's group info not exist{}", faq()),
            ));
        };
        let Some(sub) = group.subscriptions.get(&h.topic) else {
            return Err(error(
                &cmd,
                response_code::SUBSCRIPTION_NOT_EXIST,
                &format!("the consumer's subscription not exist{}", faq()),
            ));
        };
        if sub.sub_version < h.sub_version {
            return Err(error(
                &cmd,
                response_code::SUBSCRIPTION_NOT_LATEST,
                "the consumer's subscription not latest",
            ));
        }
        sub.clone()
    };
    if h.sys_flag & sys_flag::COMMIT_OFFSET != 0 && h.commit_offset >= 0 {
        // Fire and forget, as upstream stores it on the side of the pull.
        let mut commit = RemotingCommand::new_request(
            request_code::UPDATE_CONSUMER_OFFSET,
            rmq_protocol::ExtFields::new(),
        );
        commit
            .ext_fields
            .insert("consumerGroup", h.consumer_group.clone());
        commit.ext_fields.insert("topic", h.topic.clone());
        commit.ext_fields.insert("queueId", h.queue_id.to_string());
        commit
            .ext_fields
            .insert("commitOffset", h.commit_offset.to_string());
        let shard = Rc::clone(&broker.shard);
        let info = conn.clone();
        glommio::spawn_local(async move {
            let _ = shard.call_owner(ServiceKind::Broker, info, commit).await;
        })
        .detach();
    }
    let mut req = cmd.clone();
    req.code = internal::PULL;
    req.ext_fields
        .insert("subscription", subscription.sub_string.clone());
    let owner = queue_owner_shard(
        &h.topic,
        u32::try_from(h.queue_id).unwrap_or(0),
        broker.shard.count,
    );
    match broker
        .shard
        .call_shard_reply(owner, ServiceKind::Broker, conn.clone(), req)
        .await
    {
        Ok(Some(mut resp)) => {
            resp.cmd.opaque = cmd.opaque;
            Ok(resp)
        }
        Ok(None) | Err(()) => Err(system_busy(&cmd)),
    }
}

fn faq() -> &'static str {
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details."
}

/// Java's `GetMessageStatus` name, sent as the remark of a pull reply.
fn status_name(s: GetStatus) -> &'static str {
    match s {
        GetStatus::Found => "FOUND",
        GetStatus::NoMatchedMessage => "NO_MATCHED_MESSAGE",
        GetStatus::MessageWasRemoving => "MESSAGE_WAS_REMOVING",
        GetStatus::OffsetFoundNull => "OFFSET_FOUND_NULL",
        GetStatus::OffsetOverflowOne => "OFFSET_OVERFLOW_ONE",
        GetStatus::OffsetOverflowBadly => "OFFSET_OVERFLOW_BADLY",
        GetStatus::OffsetTooSmall => "OFFSET_TOO_SMALL",
        GetStatus::NoMessageInQueue => "NO_MESSAGE_IN_QUEUE",
        GetStatus::NoMatchedLogicQueue => "NO_MATCHED_LOGIC_QUEUE",
    }
}

/// The status -> response code table of `composeResponseHeader`.
pub fn response_code_of(status: GetStatus, requested_offset: i64) -> i32 {
    match status {
        GetStatus::Found => response_code::SUCCESS,
        GetStatus::NoMatchedMessage | GetStatus::MessageWasRemoving => {
            response_code::PULL_RETRY_IMMEDIATELY
        }
        GetStatus::NoMatchedLogicQueue | GetStatus::NoMessageInQueue => {
            if requested_offset != 0 {
                response_code::PULL_OFFSET_MOVED
            } else {
                response_code::PULL_NOT_FOUND
            }
        }
        GetStatus::OffsetFoundNull | GetStatus::OffsetOverflowOne => response_code::PULL_NOT_FOUND,
        GetStatus::OffsetOverflowBadly | GetStatus::OffsetTooSmall => {
            response_code::PULL_OFFSET_MOVED
        }
    }
}

/// The tag-hash filter of a subscription expression (`*` passes everything).
fn tag_filter(expression: &str) -> impl Fn(i64) -> bool {
    let sub = SubscriptionData::from_expression("", expression, 0);
    let all = sub.is_sub_all();
    let codes = sub.code_set;
    move |tags_code: i64| all || i32::try_from(tags_code).is_ok_and(|c| codes.contains(&c))
}

/// The owner shard's half: read, hold when nothing is there yet, answer.
pub async fn owner(broker: &Broker, cmd: &RemotingCommand) -> Reply {
    let Some(data) = broker.data().await else {
        return error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open").into();
    };
    let h = match cmd.decode_header::<PullMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e).into(),
    };
    let filter = tag_filter(cmd.ext_fields.get("subscription").unwrap_or("*"));
    let max_count = usize::try_from(h.max_msg_nums.max(1)).unwrap_or(1);
    let max_bytes =
        usize::try_from(h.max_msg_bytes.unwrap_or(PULL_BYTES_DEFAULT).max(100)).unwrap_or(100);
    let mut result = data
        .store
        .get_messages(
            &h.topic,
            h.queue_id,
            h.queue_offset,
            max_count,
            max_bytes,
            &filter,
        )
        .await;
    let mut code = response_code_of(result.status, h.queue_offset);
    if code == response_code::PULL_NOT_FOUND && h.sys_flag & sys_flag::SUSPEND != 0 {
        let hold_ms = if broker.config.long_polling_enable {
            u64::try_from(h.suspend_timeout_millis).unwrap_or(0)
        } else {
            broker.config.short_polling_time_ms
        };
        let hold = Duration::from_millis(hold_ms).min(PULL_SUSPEND_TIMEOUT_MAX);
        // Hold until a matching message is readable, the hold time passes, or shutdown.
        // Registering before each read means an arrival during the read still wakes us;
        // entries that do not pass the filter keep the pull held (upstream checks the tag
        // hash before waking a held pull).
        let deadline = std::time::Instant::now() + hold;
        loop {
            let waiter = data.wait_for_arrival(&h.topic, h.queue_id);
            result = data
                .store
                .get_messages(
                    &h.topic,
                    h.queue_id,
                    h.queue_offset,
                    max_count,
                    max_bytes,
                    &filter,
                )
                .await;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if result.status == GetStatus::Found || left.is_zero() || broker.shard.is_stopping() {
                break;
            }
            let woke = futures_lite::future::or(
                async {
                    waiter.arrived().await;
                    true
                },
                futures_lite::future::or(
                    async {
                        glommio::timer::sleep(left).await;
                        false
                    },
                    async {
                        broker.shard.stopping().await;
                        false
                    },
                ),
            )
            .await;
            if !woke {
                break;
            }
        }
        code = response_code_of(result.status, h.queue_offset);
    }
    data.record_pull_offset(
        &h.consumer_group,
        &h.topic,
        h.queue_id,
        result.next_begin_offset,
    );
    if code == response_code::SUCCESS {
        data.traffic
            .record_get(u64::try_from(result.messages.len()).unwrap_or(0));
    }
    let remark = (code != response_code::SUCCESS).then(|| status_name(result.status).to_string());
    let resp =
        RemotingCommand::response_to(cmd, code, remark).with_header(&PullMessageResponseHeader {
            suggest_which_broker_id: 0,
            next_begin_offset: result.next_begin_offset,
            min_offset: result.min_offset,
            max_offset: result.max_offset,
            offset_delta: None,
            topic_sys_flag: None,
            group_sys_flag: None,
            forbidden_type: None,
        });
    if code != response_code::SUCCESS {
        return resp.into();
    }
    if broker.config.transfer_msg_by_heap {
        resp.with_body(concat_records(&result.messages)).into()
    } else {
        Reply::with_parts(resp, result.messages)
    }
}

/// The records copied into one buffer (`transferMsgByHeap=true`).
fn concat_records(records: &[LogBytes]) -> bytes::Bytes {
    let total: usize = records.iter().map(|m| m.len()).sum();
    let mut body = BytesMut::with_capacity(total);
    for m in records {
        body.extend_from_slice(m);
    }
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table_matches_compose_response_header() {
        // (store status, requested offset, Java's answer) from `PullMessageProcessor`.
        let table = [
            (GetStatus::Found, 5, response_code::SUCCESS),
            (
                GetStatus::NoMatchedMessage,
                5,
                response_code::PULL_RETRY_IMMEDIATELY,
            ),
            (
                GetStatus::NoMessageInQueue,
                0,
                response_code::PULL_NOT_FOUND,
            ),
            (
                GetStatus::NoMessageInQueue,
                3,
                response_code::PULL_OFFSET_MOVED,
            ),
            (
                GetStatus::NoMatchedLogicQueue,
                3,
                response_code::PULL_OFFSET_MOVED,
            ),
            (
                GetStatus::OffsetOverflowOne,
                3,
                response_code::PULL_NOT_FOUND,
            ),
            (GetStatus::OffsetFoundNull, 3, response_code::PULL_NOT_FOUND),
            (
                GetStatus::OffsetOverflowBadly,
                3,
                response_code::PULL_OFFSET_MOVED,
            ),
            (
                GetStatus::OffsetTooSmall,
                3,
                response_code::PULL_OFFSET_MOVED,
            ),
        ];
        for (status, offset, want) in table {
            assert_eq!(
                response_code_of(status, offset),
                want,
                "{status:?} at offset {offset}"
            );
        }
    }

    #[test]
    fn tag_filter_matches_hashes_of_the_expression() {
        let all = tag_filter("*");
        assert!(all(12345));
        let a = tag_filter("TagA || TagB");
        let hash = |s: &str| i64::from(rmq_protocol::message::tag::java_string_hash(s));
        assert!(a(hash("TagA")) && a(hash("TagB")));
        assert!(!a(hash("TagC")));
        assert!(!a(i64::MAX));
    }
}
