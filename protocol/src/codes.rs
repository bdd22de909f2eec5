//! Request and response codes, with their Java names for logs.
//!
//! Values come from `RequestCode.java`, `ResponseCode.java` and `RemotingSysResponseCode.java`
//! (5.x, with the 4.x differences noted); see `../shared/docs/protocol.md` §2.1 and §3.
//!
//! Each table is declared once through [`code_table!`], which emits the constants and a `name`
//! lookup. The lookup is a `match` over the constants, so two entries with the same value fail
//! the build (`unreachable_patterns` is denied below): a number can never have two names here.
//!
//! Codes whose number was reused between 4.x and 5.x carry their 5.x name in the table; the
//! 4.x meaning is documented on the constant and kept in a `v4` sub-module outside the lookup.

/// Declares `pub const NAME: i32 = value;` for each entry and `pub fn name(i32)` returning the
/// constant's name for a known value.
macro_rules! code_table {
    ($( $(#[$doc:meta])* $name:ident = $value:expr; )*) => {
        $( $(#[$doc])* pub const $name: i32 = $value; )*

        /// The Java constant name of `code`, for logs; `None` for a code not in this table.
        #[deny(unreachable_patterns)]
        pub const fn name(code: i32) -> Option<&'static str> {
            match code {
                $( $name => Some(stringify!($name)), )*
                _ => None,
            }
        }

        /// Every code in this table, in declaration order.
        pub const ALL: &[i32] = &[$($name),*];
    };
}

/// Request codes (`RequestCode`): what the broker and name server serve, and what they send to
/// clients (marked "broker → client").
pub mod request_code {
    code_table! {
        /// Send one message; V1 (full) header names.
        SEND_MESSAGE = 10;
        /// Pull messages from one queue.
        PULL_MESSAGE = 11;
        /// Query messages by key through the `IndexFile`.
        QUERY_MESSAGE = 12;
        /// Legacy, unused by stock clients.
        QUERY_BROKER_OFFSET = 13;
        /// Read a consumer group's committed offset.
        QUERY_CONSUMER_OFFSET = 14;
        /// Commit a consumer group's offset (usually oneway).
        UPDATE_CONSUMER_OFFSET = 15;
        /// Create or update a topic on a broker (mqadmin updateTopic).
        UPDATE_AND_CREATE_TOPIC = 17;
        /// 5.x: create or update several topics.
        UPDATE_AND_CREATE_TOPIC_LIST = 18;
        /// Every topic config of a broker (slave sync, admin).
        GET_ALL_TOPIC_CONFIG = 21;
        /// Legacy.
        GET_TOPIC_CONFIG_LIST = 22;
        /// Legacy.
        GET_TOPIC_NAME_LIST = 23;
        /// Admin: change broker config.
        UPDATE_BROKER_CONFIG = 25;
        /// Admin: read broker config.
        GET_BROKER_CONFIG = 26;
        /// Runtime statistics (mqadmin clusterList).
        GET_BROKER_RUNTIME_INFO = 28;
        /// Consume-queue offset for a store timestamp.
        SEARCH_OFFSET_BY_TIMESTAMP = 29;
        /// Consume-queue max offset (entry count).
        GET_MAX_OFFSET = 30;
        /// Consume-queue min offset.
        GET_MIN_OFFSET = 31;
        /// Store time of a queue's earliest message.
        GET_EARLIEST_MSG_STORETIME = 32;
        /// One message by commitlog offset.
        VIEW_MESSAGE_BY_ID = 33;
        /// Client heartbeat (producer and consumer registration).
        HEART_BEAT = 34;
        /// Client shutdown.
        UNREGISTER_CLIENT = 35;
        /// A consumer returns a failed message for retry or DLQ.
        CONSUMER_SEND_MSG_BACK = 36;
        /// Commit or roll back a half message (oneway).
        END_TRANSACTION = 37;
        /// Client ids of a consumer group (rebalance).
        GET_CONSUMER_LIST_BY_GROUP = 38;
        /// Broker → client (oneway): ask a producer for a transaction's state.
        CHECK_TRANSACTION_STATE = 39;
        /// Broker → client (oneway): a group's membership changed.
        NOTIFY_CONSUMER_IDS_CHANGED = 40;
        /// Lock queues for an orderly consumer.
        LOCK_BATCH_MQ = 41;
        /// Unlock queues of an orderly consumer.
        UNLOCK_BATCH_MQ = 42;
        /// Every consumer offset (slave sync).
        GET_ALL_CONSUMER_OFFSET = 43;
        /// Every delay-level offset (slave sync).
        GET_ALL_DELAY_OFFSET = 45;
        /// Validate a non-TAG subscription.
        CHECK_CLIENT_CONFIG = 46;
        /// 4.x only (removed in 5.x): create or update an ACL config.
        UPDATE_AND_CREATE_ACL_CONFIG = 50;
        /// 4.x only: delete an ACL config.
        DELETE_ACL_CONFIG = 51;
        /// 4.x only: broker ACL info.
        GET_BROKER_CLUSTER_ACL_INFO = 52;
        /// 4.x only: update the global white list.
        UPDATE_GLOBAL_WHITE_ADDRS_CONFIG = 53;
        /// 4.x only: broker ACL config.
        GET_BROKER_CLUSTER_ACL_CONFIG = 54;
        /// Name server: store a KV config entry.
        PUT_KV_CONFIG = 100;
        /// Name server: read a KV config entry.
        GET_KV_CONFIG = 101;
        /// Name server: delete a KV config entry.
        DELETE_KV_CONFIG = 102;
        /// Name server: a broker registers (every 30 s and on topic changes).
        REGISTER_BROKER = 103;
        /// Name server: a broker shuts down.
        UNREGISTER_BROKER = 104;
        /// Name server: a topic's route.
        GET_ROUTEINFO_BY_TOPIC = 105;
        /// Name server: cluster and broker tables.
        GET_BROKER_CLUSTER_INFO = 106;
        /// Create or update a subscription group.
        UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200;
        /// Every subscription group config.
        GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201;
        /// Per-queue offsets of a topic (mqadmin topicStatus).
        GET_TOPIC_STATS_INFO = 202;
        /// Connections of a consumer group.
        GET_CONSUMER_CONNECTION_LIST = 203;
        /// Connections of a producer group.
        GET_PRODUCER_CONNECTION_LIST = 204;
        /// Name server: remove write permission of a broker's topics.
        WIPE_WRITE_PERM_OF_BROKER = 205;
        /// Name server: every topic name (mqadmin topicList).
        GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206;
        /// Delete a subscription group.
        DELETE_SUBSCRIPTIONGROUP = 207;
        /// Consume progress of a group (mqadmin consumerProgress).
        GET_CONSUME_STATS = 208;
        /// Reset offsets inside consumers (legacy path).
        RESET_CONSUMER_OFFSET_IN_CONSUMER = 211;
        /// Reset offsets in the broker (legacy path).
        RESET_CONSUMER_OFFSET_IN_BROKER = 212;
        /// Delete a topic from a broker (mqadmin deleteTopic, step 1).
        DELETE_TOPIC_IN_BROKER = 215;
        /// Delete a topic from the name server (mqadmin deleteTopic, step 2).
        DELETE_TOPIC_IN_NAMESRV = 216;
        /// 5.x: name server single-topic register.
        REGISTER_TOPIC_IN_NAMESRV = 217;
        /// Name server: every KV entry of a namespace.
        GET_KVLIST_BY_NAMESPACE = 219;
        /// Broker → client: reset a consumer's offsets.
        RESET_CONSUMER_CLIENT_OFFSET = 220;
        /// Broker → client: a consumer's offset status.
        GET_CONSUMER_STATUS_FROM_CLIENT = 221;
        /// Admin asks the broker to reset a group's offsets (by timestamp).
        INVOKE_BROKER_TO_RESET_OFFSET = 222;
        /// Admin asks the broker for consumers' offset status.
        INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223;
        /// Name server: topics of a cluster.
        GET_TOPICS_BY_CLUSTER = 224;
        /// Groups that consume a topic (mqadmin topicList -c).
        QUERY_TOPIC_CONSUME_BY_WHO = 300;
        /// Time span of a group's consumption.
        QUERY_CONSUME_TIME_SPAN = 303;
        /// Name server: system topic names.
        GET_SYSTEM_TOPIC_LIST_FROM_NS = 304;
        /// System topic names of a broker.
        GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305;
        /// Broker ↔ client: a consumer's running info (the broker forwards to the client).
        GET_CONSUMER_RUNNING_INFO = 307;
        /// Offset correction for a group.
        QUERY_CORRECTION_OFFSET = 308;
        /// Broker ↔ client: consume one message directly.
        CONSUME_MESSAGE_DIRECTLY = 309;
        /// Send one message; V2 (abbreviated `a`..`n`) header names.
        SEND_MESSAGE_V2 = 310;
        /// Name server: change its config.
        UPDATE_NAMESRV_CONFIG = 318;
        /// Name server: read its config.
        GET_NAMESRV_CONFIG = 319;
        /// Send a batch; V2 header names.
        SEND_BATCH_MESSAGE = 320;
        /// Name server: has a broker's topic config changed?
        QUERY_DATA_VERSION = 322;
        /// Request-reply: send a reply (V1 names).
        SEND_REPLY_MESSAGE = 324;
        /// Request-reply: send a reply (V2 names).
        SEND_REPLY_MESSAGE_V2 = 325;
        /// Broker → client: push a reply to the requester.
        PUSH_REPLY_MESSAGE_TO_CLIENT = 326;
        /// Name server: restore write permission of a broker's topics.
        ADD_WRITE_PERM_OF_BROKER = 327;
        /// 5.x: one topic's config.
        GET_TOPIC_CONFIG = 351;
        /// Pull from `DefaultLitePullConsumer`; same handler as [`PULL_MESSAGE`].
        LITE_PULL_MESSAGE = 361;
        /// 5.x server-side rebalance: query the assignment.
        QUERY_ASSIGNMENT = 400;
        /// 5.x server-side rebalance: set the request mode.
        SET_MESSAGE_REQUEST_MODE = 401;
        /// 5.x: broker heartbeat to the name server (controller / acting-master modes).
        BROKER_HEARTBEAT = 904;
        /// 5.x pop consumption: pop messages.
        POP_MESSAGE = 200_050;
        /// 5.x pop consumption: acknowledge one message.
        ACK_MESSAGE = 200_051;
        /// 5.x pop consumption: peek messages.
        PEEK_MESSAGE = 200_052;
        /// 5.x pop consumption: change a message's invisible time.
        CHANGE_MESSAGE_INVISIBLETIME = 200_053;
        /// 5.x pop consumption: long-poll notification.
        NOTIFICATION = 200_054;
        /// 5.x pop consumption: polling info.
        POLLING_INFO = 200_055;
        /// 5.x pop consumption: roll back a pop.
        POP_ROLLBACK = 200_056;
        /// 5.x pop consumption: acknowledge a batch.
        BATCH_ACK_MESSAGE = 200_151;
    }
}

/// Response codes (`RemotingSysResponseCode` 0-4 and `ResponseCode`).
pub mod response_code {
    code_table! {
        /// Success.
        SUCCESS = 0;
        /// A processor failed; the remark carries the reason. Send: retried (sync).
        SYSTEM_ERROR = 1;
        /// Flow control; send: retried.
        SYSTEM_BUSY = 2;
        /// No processor for the request code.
        REQUEST_CODE_NOT_SUPPORTED = 3;
        /// Transaction failed.
        TRANSACTION_FAILED = 4;
        /// Stored, but the disk flush timed out.
        FLUSH_DISK_TIMEOUT = 10;
        /// Stored, but no slave is available (also `END_TRANSACTION` on a slave).
        SLAVE_NOT_AVAILABLE = 11;
        /// Stored, but the slave sync timed out.
        FLUSH_SLAVE_TIMEOUT = 12;
        /// The message is malformed or too large.
        MESSAGE_ILLEGAL = 13;
        /// The store is not writable.
        SERVICE_NOT_AVAILABLE = 14;
        /// Version not supported.
        VERSION_NOT_SUPPORTED = 15;
        /// Permission bits or forbidden topic.
        NO_PERMISSION = 16;
        /// Unknown topic (broker), or no route (name server).
        TOPIC_NOT_EXIST = 17;
        /// Topic already exists.
        TOPIC_EXIST_ALREADY = 18;
        /// Pull: no new message (`PullStatus.NO_NEW_MSG`).
        PULL_NOT_FOUND = 19;
        /// Pull: nothing matched the filter (`PullStatus.NO_MATCHED_MSG`).
        PULL_RETRY_IMMEDIATELY = 20;
        /// Pull: the offset is illegal; the client resets to `nextBeginOffset`.
        PULL_OFFSET_MOVED = 21;
        /// Offset, KV or message query miss.
        QUERY_NOT_FOUND = 22;
        /// The subscription expression does not parse.
        SUBSCRIPTION_PARSE_FAILED = 23;
        /// Pull before the heartbeat registered the subscription.
        SUBSCRIPTION_NOT_EXIST = 24;
        /// The registered subscription is older than the request's.
        SUBSCRIPTION_NOT_LATEST = 25;
        /// Unknown subscription group (with auto-create off).
        SUBSCRIPTION_GROUP_NOT_EXIST = 26;
        /// SQL92 filter data missing.
        FILTER_DATA_NOT_EXIST = 27;
        /// SQL92 filter data stale.
        FILTER_DATA_NOT_LATEST = 28;
        /// 5.x (absent from 4.9.x, which answers `SYSTEM_ERROR` instead): bad queueId or topic.
        INVALID_PARAMETER = 29;
        /// Legacy transaction state.
        TRANSACTION_SHOULD_COMMIT = 200;
        /// Legacy transaction state.
        TRANSACTION_SHOULD_ROLLBACK = 201;
        /// Legacy transaction state (Java's spelling).
        TRANSACTION_STATE_UNKNOW = 202;
        /// Legacy transaction state.
        TRANSACTION_STATE_GROUP_WRONG = 203;
        /// Send: retried.
        NO_BUYER_ID = 204;
        /// Send: retried.
        NOT_IN_CURRENT_UNIT = 205;
        /// No online consumer in the group.
        CONSUMER_NOT_ONLINE = 206;
        /// Direct consumption timed out.
        CONSUME_MSG_TIMEOUT = 207;
        /// No message.
        NO_MESSAGE = 208;
        /// 5.x meaning. In 4.x this number is `UPDATE_AND_CREATE_ACL_CONFIG_FAILED`
        /// ([`v4::UPDATE_AND_CREATE_ACL_CONFIG_FAILED`]); never emit it for another meaning.
        POLLING_FULL = 209;
        /// 5.x meaning. In 4.x this number is `DELETE_ACL_CONFIG_FAILED`
        /// ([`v4::DELETE_ACL_CONFIG_FAILED`]).
        POLLING_TIMEOUT = 210;
        /// 5.x meaning. In 4.x this number is `UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED`
        /// ([`v4::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED`]).
        BROKER_NOT_EXIST = 211;
        /// 5.x.
        BROKER_DISPATCH_NOT_COMPLETE = 212;
        /// 5.x.
        BROADCAST_CONSUMPTION = 213;
        /// 5.x (also in 4.9.8): pull retried after 20 ms.
        FLOW_CONTROL = 215;
        /// Static topics.
        NOT_LEADER_FOR_QUEUE = 501;
        /// 5.x `END_TRANSACTION` mismatch.
        ILLEGAL_OPERATION = 604;
        /// 5.x graceful shutdown; clients above `V5_3_1` reconnect elsewhere.
        GO_AWAY = 1500;
        /// Controller mode only.
        CONTROLLER_FENCED_MASTER_EPOCH = 2000;
        /// Controller mode only.
        CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH = 2001;
        /// Controller mode only.
        CONTROLLER_INVALID_MASTER = 2002;
        /// Controller mode only.
        CONTROLLER_INVALID_REPLICAS = 2003;
        /// Controller mode only.
        CONTROLLER_MASTER_NOT_AVAILABLE = 2004;
        /// Controller mode only.
        CONTROLLER_INVALID_REQUEST = 2005;
        /// Controller mode only.
        CONTROLLER_BROKER_NOT_ALIVE = 2006;
        /// Controller mode only.
        CONTROLLER_NOT_LEADER = 2007;
        /// Controller mode only.
        CONTROLLER_BROKER_METADATA_NOT_EXIST = 2008;
        /// Controller mode only.
        CONTROLLER_INVALID_CLEAN_BROKER_METADATA = 2009;
        /// Controller mode only.
        CONTROLLER_BROKER_NEED_TO_BE_REGISTERED = 2010;
        /// Controller mode only.
        CONTROLLER_MASTER_STILL_EXIST = 2011;
        /// Controller mode only.
        CONTROLLER_ELECT_MASTER_FAILED = 2012;
        /// Controller mode only.
        CONTROLLER_ALTER_SYNC_STATE_SET_FAILED = 2013;
        /// Controller mode only.
        CONTROLLER_BROKER_ID_INVALID = 2014;
        /// Controller mode only.
        CONTROLLER_JRAFT_INTERNAL_ERROR = 2015;
        /// Controller mode only.
        CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS = 2016;
        /// 5.x auth.
        USER_NOT_EXIST = 3001;
        /// 5.x auth.
        POLICY_NOT_EXIST = 3002;
        /// Client-local only, never on the wire.
        RPC_UNKNOWN = -1000;
        /// Client-local only, never on the wire.
        RPC_ADDR_IS_NULL = -1002;
        /// Client-local only, never on the wire.
        RPC_SEND_TO_CHANNEL_FAILED = -1004;
        /// Client-local only, never on the wire.
        RPC_TIME_OUT = -1006;
    }

    /// The 4.x meanings of numbers that 5.x reuses. Not part of [`name`]: a number has one name
    /// in logs, the 5.x one. Only useful to read replies of a 4.x broker's ACL commands.
    pub mod v4 {
        /// 4.x meaning of 209 (5.x [`super::POLLING_FULL`]).
        pub const UPDATE_AND_CREATE_ACL_CONFIG_FAILED: i32 = 209;
        /// 4.x meaning of 210 (5.x [`super::POLLING_TIMEOUT`]).
        pub const DELETE_ACL_CONFIG_FAILED: i32 = 210;
        /// 4.x meaning of 211 (5.x [`super::BROKER_NOT_EXIST`]).
        pub const UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED: i32 = 211;
    }
}

#[cfg(test)]
mod tests {
    use super::{request_code, response_code};

    #[test]
    fn names_match_java_for_the_codes_clients_use() {
        assert_eq!(request_code::name(10), Some("SEND_MESSAGE"));
        assert_eq!(request_code::name(310), Some("SEND_MESSAGE_V2"));
        assert_eq!(request_code::name(320), Some("SEND_BATCH_MESSAGE"));
        assert_eq!(request_code::name(105), Some("GET_ROUTEINFO_BY_TOPIC"));
        assert_eq!(request_code::name(200_151), Some("BATCH_ACK_MESSAGE"));
        assert_eq!(request_code::name(9999), None);
        assert_eq!(response_code::name(0), Some("SUCCESS"));
        assert_eq!(response_code::name(21), Some("PULL_OFFSET_MOVED"));
        assert_eq!(response_code::name(209), Some("POLLING_FULL"));
        assert_eq!(response_code::name(-1006), Some("RPC_TIME_OUT"));
        assert_eq!(response_code::name(14_000), None);
    }

    #[test]
    fn every_constant_names_itself() {
        for table in [
            (
                request_code::ALL,
                request_code::name as fn(i32) -> Option<&'static str>,
            ),
            (response_code::ALL, response_code::name),
        ] {
            let (all, name) = table;
            let mut seen = std::collections::BTreeSet::new();
            for &code in all {
                assert!(seen.insert(code), "code {code} declared twice");
                assert!(name(code).is_some(), "code {code} has no name");
            }
        }
        assert_eq!(
            response_code::v4::UPDATE_AND_CREATE_ACL_CONFIG_FAILED,
            response_code::POLLING_FULL
        );
    }

    #[test]
    fn on_wire_codes_fit_the_binary_header() {
        // The ROCKETMQ header carries `code` as int16; every response a server emits must fit.
        for &code in response_code::ALL {
            assert!(i16::try_from(code).is_ok(), "{code}");
        }
    }
}
