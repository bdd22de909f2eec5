//! Request processors of the broker, one module per upstream processor family. Each function
//! takes the [`Broker`](super::Broker) of the shard it runs on, the requesting
//! connection and the request, and returns the reply Java would send (the transport drops it
//! for oneway requests). Control-plane processors run on the control-plane shard only.
//!
//! - [`client_manage`]: HEART_BEAT, UNREGISTER_CLIENT (`ClientManageProcessor`);
//! - [`consumer_manage`]: GET_CONSUMER_LIST_BY_GROUP, QUERY/UPDATE_CONSUMER_OFFSET
//!   (`ConsumerManageProcessor`);
//! - [`topic_admin`]: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG;
//! - [`group_admin`]: subscription-group create, list, delete; GET_ALL_CONSUMER_OFFSET;
//! - [`client_admin`]: consumer and producer connection lists, QUERY_TOPIC_CONSUME_BY_WHO;
//! - [`broker_info`]: GET_BROKER_RUNTIME_INFO, GET_BROKER_CONFIG;
//! - [`send`]: SEND_MESSAGE, SEND_MESSAGE_V2, SEND_BATCH_MESSAGE (receiving and owner halves);
//! - [`pull`]: PULL_MESSAGE, LITE_PULL_MESSAGE with long polling;
//! - [`queue_offsets`]: GET_MAX/MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP,
//!   GET_EARLIEST_MSG_STORETIME and QUERY_CONSUMER_OFFSET's store half;
//! - [`stats`]: VIEW_MESSAGE_BY_ID, QUERY_MESSAGE, GET_TOPIC_STATS_INFO, GET_CONSUME_STATS;
//! - [`send_back`]: CONSUMER_SEND_MSG_BACK (the retry copy waits out its delay level).
//!
//! Data-path processors have a receiving-shard half and a queue-owner half; see
//! `broker::dispatch`.

pub mod broker_info;
pub mod client_admin;
pub mod client_manage;
pub mod consumer_manage;
pub mod group_admin;
pub mod pull;
pub mod queue_offsets;
pub mod send;
pub mod send_back;
pub mod stats;
pub mod topic_admin;
