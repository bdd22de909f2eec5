//! VIEW_MESSAGE_BY_ID (33), QUERY_MESSAGE (12), GET_TOPIC_STATS_INFO (202) and
//! GET_CONSUME_STATS (208) (protocol.md §2.9, §2.17, §4.6).
//!
//! QUERY_MESSAGE asks every shard's index (each shard indexes its own log) and merges.
//!
//! VIEW_MESSAGE_BY_ID runs on the shard whose log holds the physical offset (the shard id is
//! in the offset's top bits). The two stats codes run on the receiving shard and gather one
//! [`queue_stats`] answer per queue from the queues' owner shards (admin traffic: one mesh
//! call per queue is fine).

use std::collections::BTreeMap;
use std::rc::Rc;

use rmq_protocol::body::{
    ConsumeStats, ConsumerOffsetWrapper, JsonBody, MessageQueue, OffsetWrapper, TopicOffset,
    TopicStatsTable,
};
use rmq_protocol::header::{
    GetConsumeStatsRequestHeader, GetTopicStatsInfoRequestHeader, QueryMessageRequestHeader,
    QueryMessageResponseHeader, ViewMessageRequestHeader,
};
use rmq_protocol::message::record::RecordView;
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::broker::dispatch::internal;
use crate::broker::Broker;
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind, CONTROL_PLANE_SHARD};
use crate::wire::{error, header_error, request_code, response_code, success, system_busy};

/// The shard whose log holds `physical_offset` (engine offsets carry the shard id on top).
pub fn shard_of_offset(cmd: &RemotingCommand, shards: usize) -> usize {
    cmd.decode_header::<ViewMessageRequestHeader>()
        .ok()
        .and_then(|h| rmq_engine::offsets::split_global(h.offset))
        .map(|(shard, _)| usize::from(shard))
        .filter(|s| *s < shards)
        .unwrap_or(CONTROL_PLANE_SHARD)
}

/// VIEW_MESSAGE_BY_ID on the shard holding the offset: the one raw record.
pub async fn view_message(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let h = match cmd.decode_header::<ViewMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let found = match broker.data().await {
        Some(data)
            if rmq_engine::offsets::split_global(h.offset)
                .is_some_and(|(s, _)| usize::from(s) == broker.shard.id) =>
        {
            data.store.message_at(h.offset).await
        }
        _ => None,
    };
    match found {
        Some(record) => success(cmd).with_body(bytes::Bytes::copy_from_slice(&record)),
        None => error(
            cmd,
            response_code::SYSTEM_ERROR,
            &format!("can not find message by the offset, {}", h.offset),
        ),
    }
}

/// Internal (queue owner): min and max offsets of a queue, the store time of its last
/// message, and, when `at` is given, the store time of the message at `at`.
pub async fn queue_stats(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open");
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
            "malformed internal queue stats",
        );
    };
    let (min, max) = data.store.queue_offsets(topic, queue_id).unwrap_or((0, 0));
    let store_time = |offset: i64| {
        let store = data.store.clone();
        async move {
            if offset < 0 {
                return 0;
            }
            let got = store
                .get_messages(topic, queue_id, offset, 1, 1024 * 1024, |_| true)
                .await;
            got.messages
                .first()
                .and_then(|m| RecordView::parse(m).ok())
                .filter(|r| r.queue_offset() == offset)
                .map_or(0, |r| r.store_timestamp())
        }
    };
    let last = if max > min {
        store_time(max - 1).await
    } else {
        0
    };
    let mut resp = success(cmd);
    resp.ext_fields.insert("minOffset", min.to_string());
    resp.ext_fields.insert("maxOffset", max.to_string());
    resp.ext_fields.insert("lastTimestamp", last.to_string());
    if let Some(pulled) = cmd
        .ext_fields
        .get("group")
        .and_then(|g| data.pull_offset(g, topic, queue_id))
    {
        resp.ext_fields.insert("pullOffset", pulled.to_string());
    }
    if let Some(at) = cmd.ext_fields.get("at").and_then(|v| v.parse::<i64>().ok()) {
        resp.ext_fields
            .insert("atTimestamp", store_time(at).await.to_string());
    }
    resp
}

/// What [`queue_stats`] answered.
struct QueueStats {
    min: i64,
    max: i64,
    last_timestamp: i64,
    at_timestamp: i64,
    /// Where the asked group's latest pull ended, if the owner tracks it.
    pull_offset: Option<i64>,
}

async fn ask_queue_stats(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    topic: &str,
    queue_id: i32,
    at: Option<i64>,
    group: Option<&str>,
) -> Option<QueueStats> {
    let mut ext = ExtFields::new();
    ext.insert("topic", topic);
    ext.insert("queueId", queue_id.to_string());
    if let Some(g) = group {
        ext.insert("group", g);
    }
    if let Some(at) = at {
        ext.insert("at", at.to_string());
    }
    let req = RemotingCommand::new_request(internal::QUEUE_STATS, ext);
    let owner = queue_owner_shard(topic, u32::try_from(queue_id).ok()?, broker.shard.count);
    let resp = broker
        .shard
        .call_shard(owner, ServiceKind::Broker, conn.clone(), req)
        .await
        .ok()??;
    let num = |k: &str| {
        resp.ext_fields
            .get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    (resp.code == response_code::SUCCESS).then(|| QueueStats {
        min: num("minOffset"),
        max: num("maxOffset"),
        last_timestamp: num("lastTimestamp"),
        at_timestamp: num("atTimestamp"),
        pull_offset: resp
            .ext_fields
            .get("pullOffset")
            .and_then(|v| v.parse::<i64>().ok()),
    })
}

/// GET_TOPIC_STATS_INFO: min/max offset and last update time of every queue of a topic.
pub async fn topic_stats(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<GetTopicStatsInfoRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    let Some(cfg) = broker.snapshot().topics.get(&h.topic).cloned() else {
        return error(
            &cmd,
            response_code::TOPIC_NOT_EXIST,
            &format!("topic[{}] not exist", h.topic),
        );
    };
    let mut table = TopicStatsTable::default();
    for queue_id in 0..cfg.write_queue_nums {
        let Some(s) = ask_queue_stats(broker, conn, &h.topic, queue_id, None, None).await else {
            return system_busy(&cmd);
        };
        table.offset_table.insert(
            MessageQueue {
                topic: h.topic.clone(),
                broker_name: broker.config.broker_name.clone(),
                queue_id,
            },
            TopicOffset {
                min_offset: s.min,
                max_offset: s.max,
                last_update_timestamp: s.last_timestamp,
            },
        );
    }
    success(&cmd).with_body(table.encode())
}

/// GET_CONSUME_STATS: per queue of the group's topics (or the one asked for), the broker's
/// max offset, the committed offset (negative as 0), the pull offset (the larger of the
/// committed offset and where the group's latest pull of the queue ended, tracked by the
/// queue's owner shard) and the store time of the last consumed message. `consumeTps` is 0
/// (no per-group rates are kept).
pub async fn consume_stats(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<GetConsumeStatsRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    let ask = RemotingCommand::new_request(request_code::GET_ALL_CONSUMER_OFFSET, ExtFields::new());
    let Ok(Some(all)) = broker
        .shard
        .call_owner(ServiceKind::Broker, conn.clone(), ask)
        .await
    else {
        return system_busy(&cmd);
    };
    let offsets = all
        .body
        .as_deref()
        .and_then(|b| ConsumerOffsetWrapper::decode(b).ok())
        .unwrap_or_default();
    let mut by_topic: BTreeMap<String, BTreeMap<i32, i64>> = BTreeMap::new();
    for (key, queues) in offsets.offset_table {
        if let Some((topic, group)) = ConsumerOffsetWrapper::split_table_key(&key) {
            if group == h.consumer_group
                && h.topic
                    .as_deref()
                    .is_none_or(|t| t.is_empty() || t == topic)
            {
                by_topic.insert(topic.to_string(), queues);
            }
        }
    }
    if let Some(t) = h.topic.as_deref().filter(|t| !t.is_empty()) {
        by_topic.entry(t.to_string()).or_default();
    }
    let snapshot = broker.snapshot();
    let mut stats = ConsumeStats::default();
    for (topic, committed) in by_topic {
        let Some(cfg) = snapshot.topics.get(&topic) else {
            continue;
        };
        for queue_id in 0..cfg.write_queue_nums {
            let consumer_offset = committed.get(&queue_id).copied().unwrap_or(0).max(0);
            let at = (consumer_offset > 0).then_some(consumer_offset - 1);
            let Some(s) =
                ask_queue_stats(broker, conn, &topic, queue_id, at, Some(&h.consumer_group)).await
            else {
                return system_busy(&cmd);
            };
            stats.offset_table.insert(
                MessageQueue {
                    topic: topic.clone(),
                    broker_name: broker.config.broker_name.clone(),
                    queue_id,
                },
                OffsetWrapper {
                    broker_offset: s.max,
                    consumer_offset,
                    pull_offset: s
                        .pull_offset
                        .map_or(consumer_offset, |p| p.max(consumer_offset)),
                    last_timestamp: if at.is_some() { s.at_timestamp } else { 0 },
                },
            );
        }
    }
    success(&cmd).with_body(stats.encode())
}

/// Internal (every shard): this shard's records indexed under `topic#key`.
pub async fn query_shard(broker: &Broker, cmd: &RemotingCommand) -> RemotingCommand {
    let Some(data) = broker.data().await else {
        return error(cmd, response_code::SERVICE_NOT_AVAILABLE, "store not open");
    };
    let h = match cmd.decode_header::<QueryMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let max = usize::try_from(h.max_num.max(1)).unwrap_or(1);
    let result = data
        .store
        .query_by_key(&h.topic, &h.key, max, h.begin_timestamp, h.end_timestamp)
        .await;
    let mut body = bytes::BytesMut::new();
    for m in &result.messages {
        body.extend_from_slice(m);
    }
    success(cmd)
        .with_header(&QueryMessageResponseHeader {
            index_last_update_timestamp: result.index_last_update_timestamp,
            index_last_update_phyoffset: result.index_last_update_phy_offset,
        })
        .with_body(body.freeze())
}

/// QUERY_MESSAGE: the records indexed under `topic#key` on every shard, at most `maxNum`
/// (`defaultQueryMaxNum` for a unique-key query); QUERY_NOT_FOUND when none.
pub async fn query_message(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let mut h = match cmd.decode_header::<QueryMessageRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    if cmd.ext_fields.get("_UNIQUE_KEY_QUERY") == Some("true") {
        h.max_num = i32::try_from(broker.config.default_query_max_num).unwrap_or(32);
    }
    let max = usize::try_from(h.max_num.max(1)).unwrap_or(1);
    let mut ask =
        RemotingCommand::new_request(internal::QUERY_SHARD, ExtFields::new()).with_header(&h);
    ask.opaque = cmd.opaque;
    let mut body = bytes::BytesMut::new();
    let (mut count, mut last_ts, mut last_phy) = (0usize, 0i64, 0i64);
    for shard in 0..broker.shard.count {
        let Ok(Some(r)) = broker
            .shard
            .call_shard(shard, ServiceKind::Broker, conn.clone(), ask.clone())
            .await
        else {
            return system_busy(&cmd);
        };
        if r.code != response_code::SUCCESS {
            return RemotingCommand::response_to(&cmd, r.code, r.remark);
        }
        if let Ok(rh) = r.decode_header::<QueryMessageResponseHeader>() {
            last_ts = last_ts.max(rh.index_last_update_timestamp);
            last_phy = last_phy.max(rh.index_last_update_phyoffset);
        }
        let mut records = r.body.as_deref().unwrap_or_default();
        while count < max && !records.is_empty() {
            let Ok(view) = RecordView::parse(records) else {
                break;
            };
            body.extend_from_slice(&records[..view.total_size()]);
            records = &records[view.total_size()..];
            count += 1;
        }
    }
    if count == 0 {
        return error(
            &cmd,
            response_code::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        );
    }
    success(&cmd)
        .with_header(&QueryMessageResponseHeader {
            index_last_update_timestamp: last_ts,
            index_last_update_phyoffset: last_phy,
        })
        .with_body(body.freeze())
}
