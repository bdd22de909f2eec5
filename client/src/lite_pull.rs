//! The lite pull consumer: the caller drives. Queues are assigned explicitly
//! ([`LitePullConsumer::assign`]) or by subscription ([`LitePullConsumer::subscribe`], which
//! joins the group with heartbeats and takes an average share of the topic's queues, refreshed
//! on [`LitePullConsumer::rebalance`]). [`LitePullConsumer::poll`] pulls the next queue in turn
//! (no long polling), returns its messages and advances that queue's offset;
//! [`LitePullConsumer::commit`] commits the offsets to the brokers.
//!
//! Invariants: offsets advance only past messages `poll` returned; `poll` never waits longer
//! than its request timeout and never panics on a broker's reply.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use rmq_protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData,
    JsonBody, MessageModel, MessageQueue, SubscriptionData,
};
use rmq_protocol::codes::request_code;
use rmq_protocol::header::GetConsumerListByGroupRequestHeader;
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::consumer::{max_offset, ConsumeFrom};
use crate::error::{expect_success, ClientError, ClientResult};
use crate::limits::{PULL_BATCH_SIZE_DEFAULT, REQUEST_TIMEOUT_DEFAULT};
use crate::message::MessageExt;
use crate::offset_store::{commit_offset, query_offset, OffsetStore};
use crate::pull::{pull, PullParams, PullStatus};
use crate::rebalance::allocate_averagely;
use crate::route::{NameServers, RouteTable};
use crate::transport::Transport;
use crate::util::{client_id, now_ms};

/// A caller-driven consumer on transport `T`.
pub struct LitePullConsumer<T: Transport> {
    group: String,
    client_id: String,
    transport: Rc<T>,
    name_servers: NameServers,
    routes: RouteTable,
    subscription: RefCell<Option<SubscriptionData>>,
    assigned: RefCell<Vec<MessageQueue>>,
    offsets: OffsetStore,
    cursor: Cell<usize>,
    /// Where a queue with no committed offset starts.
    pub consume_from: ConsumeFrom,
    /// Messages per pull.
    pub pull_batch_size: i32,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl<T: Transport> LitePullConsumer<T> {
    /// A consumer of `group`.
    pub fn new(group: &str, name_servers: &str, transport: Rc<T>) -> ClientResult<Self> {
        Ok(LitePullConsumer {
            group: group.to_string(),
            client_id: client_id(&std::process::id().to_string()),
            transport,
            name_servers: NameServers::parse(name_servers)?,
            routes: RouteTable::new(),
            subscription: RefCell::new(None),
            assigned: RefCell::new(Vec::new()),
            offsets: OffsetStore::new(),
            cursor: Cell::new(0),
            consume_from: ConsumeFrom::FirstOffset,
            pull_batch_size: PULL_BATCH_SIZE_DEFAULT,
            timeout: REQUEST_TIMEOUT_DEFAULT,
        })
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The queues of `topic` a consumer can read.
    pub async fn fetch_queues(&self, topic: &str) -> ClientResult<Vec<MessageQueue>> {
        let route = self
            .routes
            .refresh(&*self.transport, &self.name_servers, topic, self.timeout)
            .await?;
        Ok(route.read_queues.clone())
    }

    /// Read exactly these queues (all of `topic`'s messages, tag `*`).
    pub async fn assign(&self, queues: Vec<MessageQueue>) -> ClientResult<()> {
        if let Some(first) = queues.first() {
            if self.routes.get(&first.topic).is_none() {
                self.fetch_queues(&first.topic).await?;
            }
            let mut sub = self.subscription.borrow_mut();
            if sub.is_none() {
                *sub = Some(SubscriptionData::from_expression(
                    &first.topic,
                    "*",
                    now_ms(),
                ));
            }
        }
        *self.assigned.borrow_mut() = queues;
        Ok(())
    }

    /// Join the group on `topic` with a tag expression and take a share of its queues.
    pub async fn subscribe(&self, topic: &str, expression: &str) -> ClientResult<()> {
        *self.subscription.borrow_mut() = Some(SubscriptionData::from_expression(
            topic,
            expression,
            now_ms(),
        ));
        self.fetch_queues(topic).await?;
        self.rebalance().await
    }

    /// Heartbeat and recompute the share of the subscribed topic.
    pub async fn rebalance(&self) -> ClientResult<()> {
        let Some(sub) = self.subscription.borrow().clone() else {
            return Ok(());
        };
        let route = self
            .routes
            .get(&sub.topic)
            .ok_or_else(|| ClientError::NoRoute(sub.topic.clone()))?;
        let hb = HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                group_name: self.group.clone(),
                consume_type: Some(ConsumeType::Actively),
                message_model: Some(MessageModel::Clustering),
                consume_from_where: Some(ConsumeFromWhere::FirstOffset),
                subscription_data_set: vec![sub.clone()],
                unit_mode: false,
            }],
            ..HeartbeatData::default()
        };
        let body = Bytes::from(hb.encode());
        for addr in route.all_addrs() {
            let request = RemotingCommand::new_request(request_code::HEART_BEAT, ExtFields::new())
                .with_body(body.clone());
            self.transport.invoke(&addr, request, self.timeout).await?;
        }
        let addrs = route.master_addrs();
        let addr = addrs
            .first()
            .ok_or_else(|| ClientError::NoRoute(sub.topic.clone()))?;
        let request = RemotingCommand::new_request(
            request_code::GET_CONSUMER_LIST_BY_GROUP,
            ExtFields::new(),
        )
        .with_header(&GetConsumerListByGroupRequestHeader {
            consumer_group: self.group.clone(),
        });
        let response = self.transport.invoke(addr, request, self.timeout).await?;
        let response = expect_success(addr, response)?;
        let mut ids = GetConsumerListByGroupResponseBody::decode(
            response.body.as_deref().unwrap_or_default(),
        )
        .map_err(|e| ClientError::BadBody {
            addr: addr.clone(),
            reason: e.to_string(),
        })?
        .consumer_id_list;
        ids.sort();
        ids.dedup();
        let mine = allocate_averagely(&self.client_id, &route.read_queues, &ids);
        *self.assigned.borrow_mut() = mine;
        Ok(())
    }

    /// Queues currently read.
    pub fn assignment(&self) -> Vec<MessageQueue> {
        self.assigned.borrow().clone()
    }

    /// Start `queue` at `offset` on the next poll.
    pub fn seek(&self, queue: &MessageQueue, offset: i64) {
        self.offsets.update(queue, offset, false);
    }

    /// The next offset to read on `queue`, if known.
    pub fn position(&self, queue: &MessageQueue) -> Option<i64> {
        self.offsets.read(queue)
    }

    async fn start_offset(&self, addr: &str, q: &MessageQueue) -> ClientResult<i64> {
        if let Some(o) = query_offset(&*self.transport, addr, &self.group, q, self.timeout).await? {
            return Ok(o);
        }
        match self.consume_from {
            ConsumeFrom::LastOffset => max_offset(&*self.transport, addr, q, self.timeout).await,
            ConsumeFrom::FirstOffset | ConsumeFrom::Timestamp(_) => Ok(0),
        }
    }

    /// Pull the next assigned queue that has messages (each queue at most once per call).
    /// Returns an empty list when none has.
    pub async fn poll(&self) -> ClientResult<Vec<MessageExt>> {
        let queues = self.assigned.borrow().clone();
        let Some(sub) = self.subscription.borrow().clone() else {
            return Ok(Vec::new());
        };
        for _ in 0..queues.len() {
            let i = self.cursor.get() % queues.len();
            self.cursor.set(i + 1);
            let q = &queues[i];
            let addr = self
                .routes
                .master_addr(&q.broker_name)
                .ok_or_else(|| ClientError::NoBrokerAddress(q.broker_name.clone()))?;
            let offset = match self.offsets.read(q) {
                Some(o) => o,
                None => {
                    let o = self.start_offset(&addr, q).await?;
                    self.offsets.update(q, o, false);
                    o
                }
            };
            let params = PullParams {
                group: &self.group,
                queue: q,
                offset,
                max_msg_nums: self.pull_batch_size,
                commit_offset: None,
                suspend: None,
                subscription: &sub,
            };
            let result = pull(&*self.transport, &addr, &params, self.timeout).await?;
            let reset = result.status == PullStatus::OffsetIllegal;
            self.offsets.update(q, result.next_begin_offset, reset);
            if !result.messages.is_empty() {
                return Ok(result.messages);
            }
        }
        Ok(Vec::new())
    }

    /// Commit every changed offset to its broker; returns how many commits failed.
    pub async fn commit(&self) -> usize {
        let mut failures = 0;
        for (q, offset) in self.offsets.uncommitted() {
            let Some(addr) = self.routes.master_addr(&q.broker_name) else {
                failures += 1;
                continue;
            };
            match commit_offset(&*self.transport, &addr, &self.group, &q, offset).await {
                Ok(()) => self.offsets.mark_committed(&q, offset),
                Err(_) => failures += 1,
            }
        }
        failures
    }

    /// Offsets held, by queue.
    pub fn offsets(&self) -> BTreeMap<MessageQueue, i64> {
        self.offsets.all().into_iter().collect()
    }
}
