//! UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (200), GET_ALL_SUBSCRIPTIONGROUP_CONFIG (201),
//! DELETE_SUBSCRIPTIONGROUP (207) and GET_ALL_CONSUMER_OFFSET (43), upstream
//! `AdminBrokerProcessor` (protocol.md §2.17).

use rmq_protocol::body::{JsonBody, SubscriptionGroupConfig};
use rmq_protocol::header::{HeaderError, HeaderValue};
use rmq_protocol::RemotingCommand;

use crate::broker::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{error, header_error, response_code, success};

/// `DeleteSubscriptionGroupRequestHeader` (not in the protocol crate yet): `groupName`
/// (required), `cleanOffset` (5.x, default false).
struct DeleteGroupHeader {
    group_name: String,
    clean_offset: bool,
}

fn read_delete_header(cmd: &RemotingCommand) -> Result<DeleteGroupHeader, HeaderError> {
    let group_name = cmd
        .ext_fields
        .get("groupName")
        .ok_or(HeaderError::Missing { field: "groupName" })
        .and_then(|v| String::parse("groupName", v))?;
    let clean_offset = match cmd.ext_fields.get("cleanOffset") {
        Some(v) => bool::parse("cleanOffset", v)?,
        None => false,
    };
    Ok(DeleteGroupHeader {
        group_name,
        clean_offset,
    })
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: body = `SubscriptionGroupConfig` JSON.
pub fn update_and_create_group(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let Some(body) = cmd.body.as_deref() else {
        return error(
            cmd,
            response_code::SYSTEM_ERROR,
            "subscription group config body missing",
        );
    };
    let cfg = match SubscriptionGroupConfig::decode(body) {
        Ok(c) => c,
        Err(e) => return error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
    };
    let name = cfg.group_name.clone();
    match broker.mutate(|s| s.groups.upsert(cfg)) {
        Ok(changed) => {
            if changed {
                log_info!("subscription group created or updated", group = name);
                broker.persist_groups();
            }
            success(cmd)
        }
        Err(e) => error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
    }
}

/// GET_ALL_SUBSCRIPTIONGROUP_CONFIG: the `subscriptionGroup.json` shape.
pub fn get_all_group_config(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let body = broker.with_state(|s| s.groups.wrapper().encode());
    success(cmd).with_body(body)
}

/// DELETE_SUBSCRIPTIONGROUP, and the group's offsets when `cleanOffset`.
pub fn delete_group(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match read_delete_header(cmd) {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let removed = broker.mutate(|s| {
        if h.clean_offset {
            s.offsets.remove_group(&h.group_name);
        }
        s.groups.remove(&h.group_name)
    });
    if removed {
        log_info!("subscription group deleted", group = h.group_name);
        broker.persist_groups();
    }
    if h.clean_offset {
        broker.persist_offsets();
    }
    success(cmd)
}

/// GET_ALL_CONSUMER_OFFSET: the `consumerOffset.json` shape (compact).
pub fn get_all_consumer_offset(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let body = broker.with_state(|s| s.offsets.wrapper().encode());
    success(cmd).with_body(body)
}
