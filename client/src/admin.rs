//! Admin calls used by `rmq-bench` and the admin tools: create a topic on a broker, cluster
//! info and routes from the NameServer, consume stats of a group.
//!
//! Every reply is checked: an error code is [`ClientError::Broker`], a missing or malformed
//! body is [`ClientError::BadBody`].

use std::rc::Rc;
use std::time::Duration;

use rmq_protocol::body::perm::{PERM_READ, PERM_WRITE};
use rmq_protocol::body::{ClusterInfo, ConsumeStats, JsonBody, TopicRouteData};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{CreateTopicRequestHeader, GetConsumeStatsRequestHeader};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{broker_error, ClientError, ClientResult};
use crate::limits::{AUTO_CREATE_TOPIC_KEY, REQUEST_TIMEOUT_DEFAULT};
use crate::route::{fetch_route, NameServers};
use crate::transport::Transport;

/// Admin client on transport `T`.
pub struct Admin<T: Transport> {
    transport: Rc<T>,
    name_servers: NameServers,
    timeout: Duration,
}

fn check_success(addr: &str, response: &RemotingCommand) -> ClientResult<()> {
    if response.code == response_code::SUCCESS {
        Ok(())
    } else {
        Err(broker_error(addr, response))
    }
}

fn decode_body<B: JsonBody>(addr: &str, response: &RemotingCommand) -> ClientResult<B> {
    let body = response
        .body
        .as_deref()
        .ok_or_else(|| ClientError::BadBody {
            addr: addr.to_string(),
            reason: format!("{} reply without a body", B::WHAT),
        })?;
    B::decode(body).map_err(|e| ClientError::BadBody {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

impl<T: Transport> Admin<T> {
    /// An admin client for the NameServers `name_servers` (`;`-separated).
    pub fn new(name_servers: &str, transport: Rc<T>) -> ClientResult<Self> {
        Ok(Admin {
            transport,
            name_servers: NameServers::parse(name_servers)?,
            timeout: REQUEST_TIMEOUT_DEFAULT,
        })
    }

    /// Create (or update) `topic` on the broker at `broker_addr` with `queues` read and write
    /// queues, readable and writable.
    pub async fn create_topic(
        &self,
        broker_addr: &str,
        topic: &str,
        queues: i32,
        order: bool,
    ) -> ClientResult<()> {
        if queues <= 0 {
            return Err(ClientError::InvalidArgument(
                "queue count must be positive".into(),
            ));
        }
        let request =
            RemotingCommand::new_request(request_code::UPDATE_AND_CREATE_TOPIC, ExtFields::new())
                .with_header(&CreateTopicRequestHeader {
                    topic: topic.to_string(),
                    default_topic: AUTO_CREATE_TOPIC_KEY.to_string(),
                    read_queue_nums: queues,
                    write_queue_nums: queues,
                    perm: PERM_READ | PERM_WRITE,
                    topic_filter_type: "SINGLE_TAG".to_string(),
                    topic_sys_flag: Some(0),
                    order,
                    attributes: None,
                    force: false,
                });
        let response = self
            .transport
            .invoke(broker_addr, request, self.timeout)
            .await?;
        check_success(broker_addr, &response)
    }

    /// Create `topic` on every master of every broker in the cluster (as `mqadmin updateTopic
    /// -c`). Returns the addresses it was created on.
    pub async fn create_topic_in_cluster(
        &self,
        topic: &str,
        queues: i32,
        order: bool,
    ) -> ClientResult<Vec<String>> {
        let info = self.cluster_info().await?;
        let mut addrs: Vec<String> = info
            .broker_addr_table
            .values()
            .filter_map(|b| b.broker_addrs.get(&crate::route::MASTER_ID).cloned())
            .collect();
        addrs.sort();
        addrs.dedup();
        if addrs.is_empty() {
            return Err(ClientError::NoRoute(topic.to_string()));
        }
        for addr in &addrs {
            self.create_topic(addr, topic, queues, order).await?;
        }
        Ok(addrs)
    }

    /// `GET_BROKER_CLUSTER_INFO` from the NameServer.
    pub async fn cluster_info(&self) -> ClientResult<ClusterInfo> {
        let request =
            RemotingCommand::new_request(request_code::GET_BROKER_CLUSTER_INFO, ExtFields::new());
        let response = self
            .name_servers
            .call(&*self.transport, &request, self.timeout)
            .await?;
        check_success("NameServer", &response)?;
        decode_body("NameServer", &response)
    }

    /// `topic`'s route from the NameServer.
    pub async fn route(&self, topic: &str) -> ClientResult<TopicRouteData> {
        fetch_route(&*self.transport, &self.name_servers, topic, self.timeout).await
    }

    /// `GET_CONSUME_STATS` of `group` (optionally for one topic) from the broker at `addr`.
    pub async fn consume_stats(
        &self,
        addr: &str,
        group: &str,
        topic: Option<&str>,
    ) -> ClientResult<ConsumeStats> {
        let request =
            RemotingCommand::new_request(request_code::GET_CONSUME_STATS, ExtFields::new())
                .with_header(&GetConsumeStatsRequestHeader {
                    consumer_group: group.to_string(),
                    topic: topic.map(str::to_string),
                    topic_list: None,
                });
        let response = self.transport.invoke(addr, request, self.timeout).await?;
        check_success(addr, &response)?;
        decode_body(addr, &response)
    }
}
