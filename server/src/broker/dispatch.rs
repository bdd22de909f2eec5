//! The broker's dispatch table: request code -> processor, in one `match`.
//!
//! Runs on the control-plane shard (every broker request is forwarded there; see the
//! `broker` module docs). Unknown codes get REQUEST_CODE_NOT_SUPPORTED with Java's remark.

use std::rc::Rc;

use rmq_protocol::RemotingCommand;

use super::processor::{
    broker_info, client_admin, client_manage, consumer_manage, group_admin, topic_admin,
};
use super::Broker;
use crate::shard::ConnectionInfo;
use crate::wire::{not_supported, request_code};

/// Run `cmd` and return its reply (the transport drops it for oneway requests).
pub fn dispatch(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> Option<RemotingCommand> {
    let reply = match cmd.code {
        request_code::HEART_BEAT => client_manage::heartbeat(broker, conn, cmd),
        request_code::UNREGISTER_CLIENT => client_manage::unregister_client(broker, conn, cmd),
        request_code::GET_CONSUMER_LIST_BY_GROUP => {
            consumer_manage::get_consumer_list_by_group(broker, conn, cmd)
        }
        request_code::QUERY_CONSUMER_OFFSET => {
            consumer_manage::query_consumer_offset(broker, conn, cmd)
        }
        request_code::UPDATE_CONSUMER_OFFSET => {
            consumer_manage::update_consumer_offset(broker, conn, cmd)
        }
        request_code::UPDATE_AND_CREATE_TOPIC => {
            topic_admin::update_and_create_topic(broker, conn, cmd)
        }
        request_code::DELETE_TOPIC_IN_BROKER => topic_admin::delete_topic(broker, conn, cmd),
        request_code::GET_ALL_TOPIC_CONFIG => topic_admin::get_all_topic_config(broker, conn, cmd),
        request_code::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => {
            group_admin::update_and_create_group(broker, conn, cmd)
        }
        request_code::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => {
            group_admin::get_all_group_config(broker, conn, cmd)
        }
        request_code::DELETE_SUBSCRIPTIONGROUP => group_admin::delete_group(broker, conn, cmd),
        request_code::GET_ALL_CONSUMER_OFFSET => {
            group_admin::get_all_consumer_offset(broker, conn, cmd)
        }
        request_code::GET_CONSUMER_CONNECTION_LIST => {
            client_admin::consumer_connection_list(broker, conn, cmd)
        }
        request_code::GET_PRODUCER_CONNECTION_LIST => {
            client_admin::producer_connection_list(broker, conn, cmd)
        }
        request_code::QUERY_TOPIC_CONSUME_BY_WHO => {
            client_admin::query_topic_consume_by_who(broker, conn, cmd)
        }
        request_code::GET_BROKER_RUNTIME_INFO => broker_info::runtime_info(broker, conn, cmd),
        request_code::GET_BROKER_CONFIG => broker_info::broker_config(broker, conn, cmd),
        _ => not_supported(cmd),
    };
    Some(reply)
}
