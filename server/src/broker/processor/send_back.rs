//! CONSUMER_SEND_MSG_BACK (36), upstream `AbstractSendMessageProcessor.consumerSendMsgBack`
//! (protocol.md §2.10): a consumer hands back a message it failed to consume.
//!
//! Runs on the receiving shard: reads the original record from the shard holding its
//! physical offset, then stores a copy (reconsumeTimes + 1, `RETRY_TOPIC`,
//! `ORIGIN_MESSAGE_ID`) in `%RETRY%<group>` on a random retry queue, or in `%DLQ%<group>`
//! once `maxReconsumeTimes` is reached or `delayLevel < 0`, via the retry queue's owner shard.
//!
//! Delay: the retry copy gets `DELAY` = the requested level, or 3 + its reconsume times when
//! none was asked for, and so waits in `SCHEDULE_TOPIC_XXXX` ([`crate::broker::schedule`])
//! before it reaches the retry topic, as upstream.

use std::rc::Rc;

use rmq_protocol::header::{ConsumerSendMsgBackRequestHeader, ViewMessageRequestHeader};
use rmq_protocol::message::record::RecordView;
use rmq_protocol::message::{id, properties};
use rmq_protocol::{ExtFields, RemotingCommand};

use super::send::{find_or_create_topic, random_queue, AppendRequest};
use crate::broker::schedule;
use crate::broker::topics::{retry_topic, DLQ_TOPIC_PREFIX};
use crate::broker::Broker;
use crate::shard::{queue_owner_shard, ConnectionInfo, ServiceKind, CONTROL_PLANE_SHARD};
use crate::wire::{error, header_error, request_code, response_code, success, system_busy};

/// CONSUMER_SEND_MSG_BACK.
pub async fn send_back(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<ConsumerSendMsgBackRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(&cmd, &e),
    };
    let group_cfg = match broker.snapshot().groups.get(&h.group) {
        Some(g) => g.clone(),
        None if broker.config.auto_create_subscription_group => {
            rmq_protocol::body::SubscriptionGroupConfig::new(h.group.clone())
        }
        None => {
            return error(
                &cmd,
                response_code::SUBSCRIPTION_GROUP_NOT_EXIST,
                &format!("subscription group not exist, {}", h.group),
            )
        }
    };
    if group_cfg.retry_queue_nums <= 0 {
        return success(&cmd);
    }
    // The original record, from the shard whose log holds it.
    let view = RemotingCommand::new_request(request_code::VIEW_MESSAGE_BY_ID, ExtFields::new())
        .with_header(&ViewMessageRequestHeader {
            topic: None,
            offset: h.offset,
        });
    let holder = rmq_engine::offsets::split_global(h.offset)
        .map(|(s, _)| usize::from(s))
        .filter(|s| *s < broker.shard.count)
        .unwrap_or(CONTROL_PLANE_SHARD);
    let Ok(Some(found)) = broker
        .shard
        .call_shard(holder, ServiceKind::Broker, conn.clone(), view)
        .await
    else {
        return system_busy(&cmd);
    };
    let Some(record) = found
        .body
        .as_deref()
        .filter(|_| found.code == response_code::SUCCESS)
        .and_then(|b| RecordView::parse(b).ok())
    else {
        return error(
            &cmd,
            response_code::SYSTEM_ERROR,
            &format!("look message by offset failed, {}", h.offset),
        );
    };
    let max = if cmd.version >= rmq_protocol::command::version::V3_4_9 {
        h.max_reconsume_times.unwrap_or(group_cfg.retry_max_times)
    } else {
        group_cfg.retry_max_times
    };
    let mut props: Vec<(String, String)> = properties::parse(record.properties());
    let has = |props: &[(String, String)], k: &str| props.iter().any(|(key, _)| key == k);
    if !has(&props, "RETRY_TOPIC") {
        props.push(("RETRY_TOPIC".into(), record.topic().to_string()));
    }
    if !has(&props, "ORIGIN_MESSAGE_ID") {
        props.push((
            "ORIGIN_MESSAGE_ID".into(),
            id::encode_offset_msg_id(record.store_host(), h.offset),
        ));
    }
    let to_dlq = record.reconsume_times() >= max || h.delay_level < 0;
    let (topic, queue_id) = if to_dlq {
        let dlq = format!("{DLQ_TOPIC_PREFIX}{}", h.group);
        let Ok(cfg) = find_or_create_topic(broker, conn, &dlq, "", 1).await else {
            return system_busy(&cmd);
        };
        if cfg.is_none() {
            return error(
                &cmd,
                response_code::SYSTEM_ERROR,
                &format!("topic[{dlq}] not exist"),
            );
        }
        (dlq, 0)
    } else {
        let retry = retry_topic(&h.group);
        let Ok(Some(cfg)) = find_or_create_topic(broker, conn, &retry, "", 1).await else {
            return system_busy(&cmd);
        };
        let delay = if h.delay_level == 0 {
            3 + record.reconsume_times()
        } else {
            h.delay_level
        };
        props.retain(|(k, _)| k != "DELAY");
        props.push(("DELAY".into(), delay.to_string()));
        (retry, random_queue(cfg.write_queue_nums))
    };
    let stored = properties::encode(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut template = cmd.clone();
    template.body = Some(bytes::Bytes::copy_from_slice(record.body()));
    let mut append = AppendRequest {
        topic,
        queue_id,
        sys_flag: record.sys_flag(),
        born_timestamp: record.born_timestamp(),
        flag: record.flag(),
        properties: stored,
        reconsume_times: record.reconsume_times().saturating_add(1),
        batch: false,
        born_host: record.born_host(),
    };
    // The retry copy waits out its delay level in the schedule queue (not the DLQ copy: it
    // has no level).
    schedule::redirect_delayed(&mut append, broker.config.message_delay_levels.len());
    let owner = queue_owner_shard(
        &append.topic,
        u32::try_from(append.queue_id).unwrap_or(0),
        broker.shard.count,
    );
    let req = append.into_command(&template);
    match broker
        .shard
        .call_shard(owner, ServiceKind::Broker, conn.clone(), req)
        .await
    {
        Ok(Some(r))
            if r.code == response_code::SUCCESS || r.code == response_code::FLUSH_DISK_TIMEOUT =>
        {
            success(&cmd)
        }
        Ok(Some(r)) => error(
            &cmd,
            response_code::SYSTEM_ERROR,
            r.remark.as_deref().unwrap_or("store failed"),
        ),
        Ok(None) | Err(()) => system_busy(&cmd),
    }
}
