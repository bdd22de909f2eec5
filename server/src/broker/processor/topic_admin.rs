//! UPDATE_AND_CREATE_TOPIC (17), DELETE_TOPIC_IN_BROKER (215), GET_ALL_TOPIC_CONFIG (21),
//! upstream `AdminBrokerProcessor` (protocol.md §2.17).
//!
//! A change is persisted to `topics.json` and registered with every NameServer at once.

use std::collections::BTreeMap;
use std::rc::Rc;

use rmq_protocol::body::{perm, JavaEnum, JsonBody, TopicConfig, TopicFilterType};
use rmq_protocol::header::{CreateTopicRequestHeader, DeleteTopicRequestHeader};
use rmq_protocol::RemotingCommand;

use crate::broker::topics::TopicError;
use crate::broker::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{error, header_error, response_code, success};

fn topic_error(cmd: &RemotingCommand, e: &TopicError) -> RemotingCommand {
    let code = match e {
        TopicError::Full => response_code::SYSTEM_ERROR,
        _ => response_code::INVALID_PARAMETER,
    };
    error(cmd, code, &e.to_string())
}

/// Parse 5.x topic attributes, `+key=value,+key2=value2` (a `-key` removes, which on a
/// create means nothing to store). `None` when malformed.
fn parse_attributes(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(kv) = item.strip_prefix('+') {
            let (k, v) = kv.split_once('=')?;
            if k.is_empty() {
                return None;
            }
            out.insert(k.to_string(), v.to_string());
        } else if item.strip_prefix('-').is_none_or(str::is_empty) {
            return None;
        }
    }
    Some(out)
}

/// UPDATE_AND_CREATE_TOPIC.
pub fn update_and_create_topic(
    broker: &Rc<Broker>,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<CreateTopicRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let Some(filter) = TopicFilterType::from_name(&h.topic_filter_type) else {
        return error(
            cmd,
            response_code::INVALID_PARAMETER,
            &format!("unknown topicFilterType {:?}", h.topic_filter_type),
        );
    };
    let attributes = match h.attributes.as_deref().map(parse_attributes) {
        None => None,
        Some(Some(a)) => Some(a),
        Some(None) => {
            return error(
                cmd,
                response_code::INVALID_PARAMETER,
                &format!(
                    "malformed attributes {:?}",
                    h.attributes.unwrap_or_default()
                ),
            )
        }
    };
    let cfg = TopicConfig {
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: filter,
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order,
        attributes,
    };
    match broker.mutate(|s| s.topics.upsert(cfg)) {
        Ok(changed) => {
            if changed {
                log_info!("topic created or updated", topic = h.topic);
                broker.persist_topics();
                broker.request_registration();
            }
            success(cmd)
        }
        Err(e) => topic_error(cmd, &e),
    }
}

/// DELETE_TOPIC_IN_BROKER: the config and every consumer offset of the topic.
pub fn delete_topic(
    broker: &Rc<Broker>,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<DeleteTopicRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let removed = broker.mutate(|s| {
        let removed = s.topics.remove(&h.topic)?;
        s.offsets.remove_topic(&h.topic);
        Ok::<bool, TopicError>(removed)
    });
    match removed {
        Ok(removed) => {
            if removed {
                log_info!("topic deleted", topic = h.topic);
                broker.persist_topics();
                broker.persist_offsets();
                broker.request_registration();
            }
            success(cmd)
        }
        Err(e) => topic_error(cmd, &e),
    }
}

/// Internal (mesh only): find a topic a producer sends to, creating it when upstream would:
/// `%RETRY%<group>` and `%DLQ%<group>` with 1 queue, others from their default topic
/// (`createTopicInSendMessageMethod`) when that has the inherit bit: `min(defaultTopicQueueNums,
/// default.writeQueueNums)` queues and the default's perm without inherit. SUCCESS with the
/// config as body, or TOPIC_NOT_EXIST.
pub fn ensure_topic(
    broker: &Rc<Broker>,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let (Some(topic), default_topic, default_queue_nums) = (
        cmd.ext_fields.get("topic"),
        cmd.ext_fields.get("defaultTopic").unwrap_or_default(),
        cmd.ext_fields
            .get("defaultTopicQueueNums")
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(4),
    ) else {
        return error(
            cmd,
            response_code::SYSTEM_ERROR,
            "malformed internal ensure-topic",
        );
    };
    let created = broker.mutate(|s| {
        if s.topics.get(topic).is_some() {
            return Ok(false);
        }
        let mut cfg = TopicConfig::new(topic);
        if topic.starts_with(crate::broker::topics::RETRY_TOPIC_PREFIX)
            || topic.starts_with(crate::broker::topics::DLQ_TOPIC_PREFIX)
        {
            cfg.read_queue_nums = 1;
            cfg.write_queue_nums = 1;
            cfg.perm = perm::PERM_READ | perm::PERM_WRITE;
        } else {
            let Some(default) = s.topics.get(default_topic) else {
                return Ok(false);
            };
            if !perm::is_inherited(default.perm) {
                return Ok(false);
            }
            let queues = default_queue_nums.min(default.write_queue_nums).max(1);
            cfg.read_queue_nums = queues;
            cfg.write_queue_nums = queues;
            cfg.perm = default.perm & !perm::PERM_INHERIT;
            cfg.topic_filter_type = default.topic_filter_type;
        }
        s.topics.upsert(cfg)
    });
    match created {
        Ok(true) => {
            log_info!("topic auto-created", topic = topic, default = default_topic);
            broker.persist_topics();
            broker.request_registration();
        }
        Ok(false) => {}
        Err(e) => return topic_error(cmd, &e),
    }
    match broker.with_state(|s| s.topics.get(topic).cloned()) {
        Some(cfg) => success(cmd).with_body(cfg.encode()),
        None => error(cmd, response_code::TOPIC_NOT_EXIST, "topic not exist"),
    }
}

/// GET_ALL_TOPIC_CONFIG: the `topics.json` shape.
pub fn get_all_topic_config(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let body = broker.with_state(|s| s.topics.wrapper().encode());
    success(cmd).with_body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_parse_additions_and_refuse_garbage() {
        let a = parse_attributes("+message.type=NORMAL,+x=1").unwrap();
        assert_eq!(a.get("message.type").map(String::as_str), Some("NORMAL"));
        assert_eq!(a.len(), 2);
        assert_eq!(parse_attributes("-x").unwrap().len(), 0);
        assert!(parse_attributes("x=1").is_none());
        assert!(parse_attributes("+=1").is_none());
        assert!(parse_attributes("+novalue").is_none());
        assert!(parse_attributes("-").is_none());
    }
}
