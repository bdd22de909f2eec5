//! GET_CONSUMER_CONNECTION_LIST (203), GET_PRODUCER_CONNECTION_LIST (204) and
//! QUERY_TOPIC_CONSUME_BY_WHO (300), upstream `AdminBrokerProcessor` (protocol.md §2.17).

use std::collections::BTreeSet;

use rmq_protocol::body::{GroupList, JsonBody};
use rmq_protocol::header::{
    GetConsumerConnectionListRequestHeader, GetProducerConnectionListRequestHeader,
    QueryTopicConsumeByWhoRequestHeader,
};
use rmq_protocol::RemotingCommand;

use crate::broker::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{error, header_error, response_code, success};

/// GET_CONSUMER_CONNECTION_LIST: CONSUMER_NOT_ONLINE when the group has no channel.
pub fn consumer_connection_list(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<GetConsumerConnectionListRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    match broker.with_state(|s| s.clients.consumer_connection(&h.consumer_group)) {
        Some(c) => success(cmd).with_body(c.encode()),
        None => error(
            cmd,
            response_code::CONSUMER_NOT_ONLINE,
            &format!("the consumer group[{}] not online", h.consumer_group),
        ),
    }
}

/// GET_PRODUCER_CONNECTION_LIST: SYSTEM_ERROR when the group is unknown.
pub fn producer_connection_list(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<GetProducerConnectionListRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    match broker.with_state(|s| s.clients.producer_connection(&h.producer_group)) {
        Some(c) => success(cmd).with_body(c.encode()),
        None => error(
            cmd,
            response_code::SYSTEM_ERROR,
            &format!("the producer group[{}] not exist", h.producer_group),
        ),
    }
}

/// QUERY_TOPIC_CONSUME_BY_WHO: groups subscribed online plus groups with committed offsets.
pub fn query_topic_consume_by_who(
    broker: &Broker,
    _conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> RemotingCommand {
    let h = match cmd.decode_header::<QueryTopicConsumeByWhoRequestHeader>() {
        Ok(h) => h,
        Err(e) => return header_error(cmd, &e),
    };
    let group_list: BTreeSet<String> = broker.with_state(|s| {
        let mut g: BTreeSet<String> = s.clients.groups_subscribing(&h.topic).into_iter().collect();
        g.extend(s.offsets.groups_of_topic(&h.topic));
        g
    });
    success(cmd).with_body(GroupList { group_list }.encode())
}
