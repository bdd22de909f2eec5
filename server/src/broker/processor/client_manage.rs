//! HEART_BEAT (34) and UNREGISTER_CLIENT (35), upstream `ClientManageProcessor`
//! (protocol.md §2.4, §2.5).
//!
//! A heartbeat finds or auto-creates each consumer group's subscription-group config, creates
//! its `%RETRY%<group>` topic (retryQueueNums queues, perm RW) and registers that with the
//! NameServers, then registers the channel in every group it names. Any change of a consumer
//! group's members or subscriptions sends NOTIFY_CONSUMER_IDS_CHANGED to the group.

use rmq_protocol::body::{HeartbeatData, JsonBody};
use rmq_protocol::header::UnregisterClientRequestHeader;
use rmq_protocol::RemotingCommand;

use crate::broker::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{error, header_error, response_code, success};

/// HEART_BEAT.
pub fn heartbeat(
    broker: &std::rc::Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let Some(body) = cmd.body.as_deref() else {
        return error(cmd, response_code::SYSTEM_ERROR, "heartbeat without a body");
    };
    let data = match HeartbeatData::decode(body) {
        Ok(d) => d,
        Err(e) => return error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
    };
    let auto_create = broker.config.auto_create_subscription_group;
    let mut groups_created = false;
    let mut topics_created = false;
    for consumer in &data.consumer_data_set {
        if consumer.group_name.is_empty() {
            continue;
        }
        let outcome = broker.mutate(|s| {
            let found = s.groups.find_or_create(&consumer.group_name, auto_create);
            match found {
                Ok(Some((cfg, created))) => {
                    let retry = s
                        .topics
                        .ensure_retry_topic(&cfg.group_name, cfg.retry_queue_nums);
                    (created, retry)
                }
                Ok(None) => (false, Ok(false)),
                Err(e) => {
                    log_warn!(
                        "subscription group not created",
                        group = consumer.group_name,
                        error = e
                    );
                    (false, Ok(false))
                }
            }
        });
        groups_created |= outcome.0;
        match outcome.1 {
            Ok(created) => topics_created |= created,
            Err(e) => log_warn!(
                "retry topic not created",
                group = consumer.group_name,
                error = e
            ),
        }
    }
    if groups_created {
        broker.persist_groups();
    }
    if topics_created {
        broker.persist_topics();
        broker.request_registration();
    }
    let now = u64::try_from(crate::broker::topics::now_ms()).unwrap_or(0);
    let changed = broker.mutate(|s| {
        s.clients
            .heartbeat(conn, cmd.language, cmd.version, &data, now)
    });
    match changed {
        Some(changed) => {
            broker.notify_consumer_ids_changed(&changed);
            success(cmd)
        }
        None => error(
            cmd,
            response_code::SYSTEM_BUSY,
            "too many client connections registered on this broker",
        ),
    }
}

/// UNREGISTER_CLIENT.
pub fn unregister_client(
    broker: &std::rc::Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<UnregisterClientRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let changed = broker.mutate(|s| {
        s.clients.unregister(
            conn.id,
            h.producer_group.as_deref(),
            h.consumer_group.as_deref(),
        )
    });
    broker.notify_consumer_ids_changed(&changed);
    success(cmd)
}
