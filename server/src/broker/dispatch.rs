//! The broker's dispatch tables: where a request runs ([`route`]) and which processor runs it
//! there ([`front`] on the receiving shard, [`dispatch`] on the shard it was routed to).
//!
//! - Control-plane codes run on the control-plane shard (forwarded over the mesh).
//! - Queue reads (GET_MAX_OFFSET, ...) run on the owner shard of their queue,
//!   VIEW_MESSAGE_BY_ID on the shard whose log holds the offset.
//! - Sends, pulls, QUERY_CONSUMER_OFFSET and the stats codes start on the receiving shard ([`front`]), which
//!   validates against its read-only copy of the control plane and then sends an internal
//!   request to the queue's owner (and, when needed, to the control-plane shard).
//! - Internal codes ([`internal`]) are negative: no RocketMQ code is, and a client sending one
//!   gets REQUEST_CODE_NOT_SUPPORTED like any unknown code (they are only accepted from the
//!   mesh).

use std::rc::Rc;

use rmq_protocol::RemotingCommand;

use super::processor::{
    broker_info, client_admin, client_manage, consumer_manage, group_admin, pull, queue_offsets,
    send, send_back, stats, topic_admin,
};
use super::Broker;
use crate::shard::{ConnectionInfo, ShardId, CONTROL_PLANE_SHARD};
use crate::transport::Reply;
use crate::wire::{not_supported, request_code};

/// Internal request codes (shard to shard only).
pub mod internal {
    use rmq_protocol::{ExtFields, RemotingCommand};

    /// Find or create a topic a producer sends to (control-plane shard).
    pub const ENSURE_TOPIC: i32 = -1001;
    /// Store validated message(s) (queue owner).
    pub const APPEND: i32 = -1002;
    /// Read (and possibly hold) a validated pull (queue owner).
    pub const PULL: i32 = -1003;
    /// Min offset of a queue and whether message 0 has left memory (queue owner).
    pub const QUEUE_HEAD: i32 = -1004;
    /// The committed consumer offset of a queue (control-plane shard).
    pub const COMMITTED_OFFSET: i32 = -1005;
    /// Min/max offsets and store times of a queue (queue owner).
    pub const QUEUE_STATS: i32 = -1006;
    /// Records indexed under a key in this shard's index (every shard).
    pub const QUERY_SHARD: i32 = -1007;
    /// This shard's message counters (every shard).
    pub const TRAFFIC: i32 = -1008;
    /// Broadcast the control-plane snapshot again (control-plane shard), for a shard that
    /// started after the last broadcast and so never got one.
    pub const REPUBLISH: i32 = -1009;
    /// The next offsets of the delay levels this shard owns (every shard).
    pub const DELAY_OFFSETS: i32 = -1010;

    /// An ENSURE_TOPIC request.
    pub fn ensure_topic_request(
        topic: &str,
        default_topic: &str,
        default_queue_nums: i32,
    ) -> RemotingCommand {
        let mut ext = ExtFields::new();
        ext.insert("topic", topic);
        ext.insert("defaultTopic", default_topic);
        ext.insert("defaultTopicQueueNums", default_queue_nums.to_string());
        RemotingCommand::new_request(ENSURE_TOPIC, ext)
    }
}

/// Where a request from a client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// On the receiving shard ([`front`]).
    Front,
    /// On this shard ([`dispatch`]).
    Shard(ShardId),
    /// Nowhere: REQUEST_CODE_NOT_SUPPORTED.
    NotSupported,
}

/// Classify a client request.
pub fn route(cmd: &RemotingCommand, shards: usize) -> Route {
    match cmd.code {
        request_code::SEND_MESSAGE
        | request_code::SEND_MESSAGE_V2
        | request_code::SEND_BATCH_MESSAGE
        | request_code::PULL_MESSAGE
        | request_code::LITE_PULL_MESSAGE
        | request_code::QUERY_CONSUMER_OFFSET
        | request_code::GET_TOPIC_STATS_INFO
        | request_code::GET_CONSUME_STATS
        | request_code::QUERY_MESSAGE
        | request_code::CONSUMER_SEND_MSG_BACK => Route::Front,
        request_code::VIEW_MESSAGE_BY_ID => Route::Shard(stats::shard_of_offset(cmd, shards)),
        request_code::GET_MAX_OFFSET
        | request_code::GET_MIN_OFFSET
        | request_code::SEARCH_OFFSET_BY_TIMESTAMP
        | request_code::GET_EARLIEST_MSG_STORETIME => {
            // Without a valid topic/queueId the header error is answered anywhere.
            Route::Shard(queue_offsets::owner_of(cmd, shards).unwrap_or(CONTROL_PLANE_SHARD))
        }
        code if code < 0 => Route::NotSupported,
        _ => Route::Shard(CONTROL_PLANE_SHARD),
    }
}

/// Run a [`Route::Front`] request on the receiving shard.
pub async fn front(broker: &Rc<Broker>, conn: &ConnectionInfo, cmd: RemotingCommand) -> Reply {
    let reply = match cmd.code {
        request_code::SEND_MESSAGE
        | request_code::SEND_MESSAGE_V2
        | request_code::SEND_BATCH_MESSAGE => send::front(broker, conn, cmd).await,
        request_code::PULL_MESSAGE | request_code::LITE_PULL_MESSAGE => {
            // The only reply with body parts (store buffers written without copying).
            return pull::front(broker, conn, cmd).await;
        }
        request_code::QUERY_CONSUMER_OFFSET => {
            queue_offsets::query_consumer_offset(broker, conn, cmd).await
        }
        request_code::GET_TOPIC_STATS_INFO => stats::topic_stats(broker, conn, cmd).await,
        request_code::GET_CONSUME_STATS => stats::consume_stats(broker, conn, cmd).await,
        request_code::QUERY_MESSAGE => stats::query_message(broker, conn, cmd).await,
        request_code::CONSUMER_SEND_MSG_BACK => send_back::send_back(broker, conn, cmd).await,
        _ => not_supported(&cmd),
    };
    reply.into()
}

/// Run `cmd` on the shard it was routed to and return its reply (the transport drops it for
/// oneway requests).
pub async fn dispatch(
    broker: &Rc<Broker>,
    conn: &ConnectionInfo,
    cmd: &RemotingCommand,
) -> Option<Reply> {
    let reply = match cmd.code {
        request_code::HEART_BEAT => client_manage::heartbeat(broker, conn, cmd),
        request_code::UNREGISTER_CLIENT => client_manage::unregister_client(broker, conn, cmd),
        request_code::GET_CONSUMER_LIST_BY_GROUP => {
            consumer_manage::get_consumer_list_by_group(broker, conn, cmd)
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
        request_code::GET_BROKER_RUNTIME_INFO => broker_info::runtime_info(broker, conn, cmd).await,
        request_code::GET_BROKER_CONFIG => broker_info::broker_config(broker, conn, cmd),
        request_code::GET_MAX_OFFSET => queue_offsets::max_offset(broker, cmd).await,
        request_code::GET_MIN_OFFSET => queue_offsets::min_offset(broker, cmd).await,
        request_code::SEARCH_OFFSET_BY_TIMESTAMP => queue_offsets::search_offset(broker, cmd).await,
        request_code::GET_EARLIEST_MSG_STORETIME => {
            queue_offsets::earliest_store_time(broker, cmd).await
        }
        internal::ENSURE_TOPIC => topic_admin::ensure_topic(broker, conn, cmd),
        request_code::GET_ALL_DELAY_OFFSET => {
            super::schedule::all_delay_offsets(broker, conn, cmd).await
        }
        internal::DELAY_OFFSETS => super::schedule::shard_delay_offsets(cmd),
        internal::REPUBLISH => {
            broker.republish();
            crate::wire::success(cmd)
        }
        internal::COMMITTED_OFFSET => consumer_manage::committed_offset(broker, conn, cmd),
        internal::APPEND => send::append(broker, cmd).await,
        internal::PULL => return Some(pull::owner(broker, cmd).await),
        request_code::VIEW_MESSAGE_BY_ID => stats::view_message(broker, cmd).await,
        internal::QUEUE_HEAD => queue_offsets::queue_head(broker, cmd).await,
        internal::QUEUE_STATS => stats::queue_stats(broker, cmd).await,
        internal::QUERY_SHARD => stats::query_shard(broker, cmd).await,
        internal::TRAFFIC => broker_info::shard_traffic(broker, cmd).await,
        _ => not_supported(cmd),
    };
    Some(reply.into())
}
