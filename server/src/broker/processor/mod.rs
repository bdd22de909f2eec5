//! Request processors of the broker's control plane, one module per upstream processor
//! family. Each function takes the owner-shard [`Broker`](super::Broker), the requesting
//! connection and the request, and returns the reply Java would send (the transport drops it
//! for oneway requests). They run on the control-plane shard only (see `broker::dispatch`).
//!
//! - [`client_manage`]: HEART_BEAT, UNREGISTER_CLIENT (`ClientManageProcessor`);
//! - [`consumer_manage`]: GET_CONSUMER_LIST_BY_GROUP, QUERY/UPDATE_CONSUMER_OFFSET
//!   (`ConsumerManageProcessor`);
//! - [`topic_admin`]: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG;
//! - [`group_admin`]: subscription-group create, list, delete; GET_ALL_CONSUMER_OFFSET;
//! - [`client_admin`]: consumer and producer connection lists, QUERY_TOPIC_CONSUME_BY_WHO;
//! - [`broker_info`]: GET_BROKER_RUNTIME_INFO, GET_BROKER_CONFIG.

pub mod broker_info;
pub mod client_admin;
pub mod client_manage;
pub mod consumer_manage;
pub mod group_admin;
pub mod topic_admin;
