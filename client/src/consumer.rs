//! Consumers: the push consumer (pull-based "push", as upstream) and the lite pull consumer.
//!
//! # Push consumer
//! - Membership: `HEART_BEAT` (consumer data and subscriptions) to every broker of the
//!   subscribed topics at start and every 30 s.
//! - Rebalance (at start, every 20 s, and when a broker sends `NOTIFY_CONSUMER_IDS_CHANGED`):
//!   clustering asks one broker for the group's client ids and takes its share
//!   ([`crate::rebalance`]); broadcasting takes every queue. A queue taken gets its start offset
//!   (the committed one, else per [`ConsumeFrom`]) and a pull task; a queue lost is dropped and
//!   its offset committed.
//! - Pull task per queue: flow control ([`crate::process_queue`]), long-polling PULL with the
//!   commit offset piggy-backed (clustering), then hand-off to the listener.
//! - Concurrent listener: batches of `consume_batch_size` run as separate tasks; the offset
//!   committed is the smallest not yet consumed. `ReconsumeLater` in clustering sends the
//!   message back (`CONSUMER_SEND_MSG_BACK`, broker-side retry); if that fails it is consumed
//!   again locally after 5 s. In broadcasting failed messages are dropped (counted), as upstream.
//! - Orderly listener: one batch at a time per queue, in offset order; `Suspend` retries the
//!   same batch after 1 s. In clustering a queue is consumed only while this client holds its
//!   broker lock (`LOCK_BATCH_MQ`, renewed every 20 s).
//! - Offsets: committed every 5 s and at shutdown (`UPDATE_CONSUMER_OFFSET`).
//!
//! # Lite pull consumer
//! [`LitePullConsumer`]: the caller assigns queues (or subscribes and lets the same rebalance
//! assign them) and calls [`LitePullConsumer::poll`]; offsets advance as messages are returned
//! and are committed with [`LitePullConsumer::commit`].
//!
//! [`LitePullConsumer`]: crate::lite_pull::LitePullConsumer
//! [`LitePullConsumer::poll`]: crate::lite_pull::LitePullConsumer::poll
//! [`LitePullConsumer::commit`]: crate::lite_pull::LitePullConsumer::commit
//!
//! Invariants: a dropped queue's task stops at its next step and never commits after the drop;
//! no reply from a broker can panic the consumer — failures are counted and retried later.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use bytes::Bytes;
use rmq_protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerData, GetConsumerListByGroupResponseBody, HeartbeatData,
    JsonBody, LockBatchRequestBody, LockBatchResponseBody, MessageModel, MessageQueue,
    SubscriptionData,
};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{
    ConsumerSendMsgBackRequestHeader, GetConsumerListByGroupRequestHeader,
    GetMaxOffsetRequestHeader, GetMaxOffsetResponseHeader, SearchOffsetRequestHeader,
    SearchOffsetResponseHeader, UnregisterClientRequestHeader,
};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{expect_success, reply_header, ClientError, ClientResult};
use crate::limits::{
    BROKER_SUSPEND_MAX, CONSUME_CONCURRENTLY_MAX_SPAN_DEFAULT, GROUP_CONSUMERS_COUNT_MAX,
    HEARTBEAT_INTERVAL, OFFSET_PERSIST_INTERVAL, ORDERLY_LOCK_INTERVAL, ORDERLY_SUSPEND_DELAY,
    PULL_BATCH_SIZE_DEFAULT, PULL_DELAY_WHEN_EXCEPTION, PULL_DELAY_WHEN_FLOW_CONTROL,
    PULL_THRESHOLD_FOR_QUEUE_DEFAULT, PULL_THRESHOLD_SIZE_FOR_QUEUE_BYTES_DEFAULT,
    PULL_TIMEOUT_WHEN_SUSPENDED, REBALANCE_INTERVAL, REQUEST_TIMEOUT_DEFAULT,
    ROUTE_REFRESH_INTERVAL,
};
use crate::message::MessageExt;
use crate::offset_store::{commit_offset, query_offset, OffsetStore};
use crate::process_queue::{FlowLimits, ProcessQueue};
use crate::pull::{pull, PullParams, PullStatus};
use crate::rebalance::AllocateStrategy;
use crate::remoting::RequestHandler;
use crate::route::{NameServers, RouteTable};
use crate::sync::Notify;
use crate::transport::Transport;
use crate::util::{client_id, now_ms};

/// Where a group with no committed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsumeFrom {
    /// The queue's end (upstream's default).
    #[default]
    LastOffset,
    /// The queue's start.
    FirstOffset,
    /// The first message stored at or after this time (ms).
    Timestamp(i64),
}

impl ConsumeFrom {
    const fn wire(self) -> ConsumeFromWhere {
        match self {
            ConsumeFrom::LastOffset => ConsumeFromWhere::LastOffset,
            ConsumeFrom::FirstOffset => ConsumeFromWhere::FirstOffset,
            ConsumeFrom::Timestamp(_) => ConsumeFromWhere::Timestamp,
        }
    }
}

/// A concurrent listener's verdict on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConcurrentlyStatus {
    /// Consumed.
    Success,
    /// Deliver again later.
    ReconsumeLater,
}

/// An orderly listener's verdict on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderlyStatus {
    /// Consumed.
    Success,
    /// Retry the same batch after a pause.
    SuspendCurrentQueueAMoment,
}

/// A concurrent listener: called with each batch, returns its verdict.
pub type ConcurrentlyFn = Rc<dyn Fn(&[MessageExt]) -> ConcurrentlyStatus>;
/// An orderly listener.
pub type OrderlyFn = Rc<dyn Fn(&[MessageExt]) -> OrderlyStatus>;

/// The code that consumes messages.
#[derive(Clone)]
pub enum Listener {
    /// Batches in any order, several at a time.
    Concurrently(ConcurrentlyFn),
    /// Batches of one queue in offset order, one at a time.
    Orderly(OrderlyFn),
}

impl Listener {
    const fn is_concurrent(&self) -> bool {
        matches!(self, Listener::Concurrently(_))
    }
}

/// Push consumer settings (upstream names in the docs).
#[derive(Debug, Clone)]
pub struct PushConsumerConfig {
    /// `consumerGroup`.
    pub group: String,
    /// `namesrvAddr`.
    pub name_servers: String,
    /// `instanceName`.
    pub instance_name: String,
    /// `messageModel`.
    pub model: MessageModel,
    /// `consumeFromWhere` (and `consumeTimestamp`).
    pub consume_from: ConsumeFrom,
    /// `allocateMessageQueueStrategy`.
    pub allocate: AllocateStrategy,
    /// `pullBatchSize`.
    pub pull_batch_size: i32,
    /// `consumeMessageBatchMaxSize`.
    pub consume_batch_size: usize,
    /// `pullThresholdForQueue`, `pullThresholdSizeForQueue`, `consumeConcurrentlyMaxSpan`.
    pub flow: FlowLimits,
    /// Timeout of ordinary requests.
    pub request_timeout: Duration,
    /// `brokerSuspendMaxTimeMillis`: how long a pull may wait at the broker.
    pub broker_suspend: Duration,
}

impl PushConsumerConfig {
    /// Upstream's defaults for `group` against `name_servers`.
    pub fn new(group: impl Into<String>, name_servers: impl Into<String>) -> Self {
        PushConsumerConfig {
            group: group.into(),
            name_servers: name_servers.into(),
            instance_name: std::process::id().to_string(),
            model: MessageModel::Clustering,
            consume_from: ConsumeFrom::LastOffset,
            allocate: AllocateStrategy::Averagely,
            pull_batch_size: PULL_BATCH_SIZE_DEFAULT,
            consume_batch_size: 1,
            flow: FlowLimits {
                count_max: PULL_THRESHOLD_FOR_QUEUE_DEFAULT,
                bytes_max: PULL_THRESHOLD_SIZE_FOR_QUEUE_BYTES_DEFAULT,
                span_max: CONSUME_CONCURRENTLY_MAX_SPAN_DEFAULT,
            },
            request_timeout: REQUEST_TIMEOUT_DEFAULT,
            broker_suspend: BROKER_SUSPEND_MAX,
        }
    }
}

/// Counters a consumer keeps (for `rmq-bench` and tests).
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Pull requests answered.
    pub pulls: Cell<u64>,
    /// Pull requests that failed.
    pub pull_errors: Cell<u64>,
    /// Messages handed to the listener and reported consumed.
    pub consumed: Cell<u64>,
    /// Messages the listener asked to reconsume.
    pub reconsume_later: Cell<u64>,
    /// Times pulling paused for flow control.
    pub flow_control_pauses: Cell<u64>,
    /// Rebalances run.
    pub rebalances: Cell<u64>,
}

fn bump(c: &Cell<u64>, n: u64) {
    c.set(c.get().wrapping_add(n));
}

struct QueueState {
    queue: MessageQueue,
    pq: RefCell<ProcessQueue>,
    next_offset: Cell<i64>,
    dropped: Cell<bool>,
    locked: Cell<bool>,
    orderly_running: Cell<bool>,
}

/// A push consumer on transport `T`.
pub struct PushConsumer<T: Transport + 'static> {
    config: PushConsumerConfig,
    client_id: String,
    transport: Rc<T>,
    name_servers: NameServers,
    routes: RouteTable,
    subscriptions: RefCell<BTreeMap<String, SubscriptionData>>,
    listener: Listener,
    queues: RefCell<BTreeMap<MessageQueue, Rc<QueueState>>>,
    offsets: OffsetStore,
    shut_down: Cell<bool>,
    rebalance_wanted: Notify,
    stats: ConsumerStats,
}

/// The retry topic of `group`.
pub fn retry_topic(group: &str) -> String {
    format!("%RETRY%{group}")
}

impl<T: Transport + 'static> PushConsumer<T> {
    /// A consumer; subscribe, then [`PushConsumer::start`] inside a glommio executor.
    pub fn new(
        config: PushConsumerConfig,
        transport: Rc<T>,
        listener: Listener,
    ) -> ClientResult<Rc<Self>> {
        if config.group.is_empty() {
            return Err(ClientError::InvalidArgument("empty consumer group".into()));
        }
        if config.pull_batch_size <= 0 || config.consume_batch_size == 0 {
            return Err(ClientError::InvalidArgument(
                "pull and consume batch sizes must be positive".into(),
            ));
        }
        Ok(Rc::new(PushConsumer {
            name_servers: NameServers::parse(&config.name_servers)?,
            client_id: client_id(&config.instance_name),
            config,
            transport,
            routes: RouteTable::new(),
            subscriptions: RefCell::new(BTreeMap::new()),
            listener,
            queues: RefCell::new(BTreeMap::new()),
            offsets: OffsetStore::new(),
            shut_down: Cell::new(false),
            rebalance_wanted: Notify::new(),
            stats: ConsumerStats::default(),
        }))
    }

    /// Subscribe to `topic` with a tag expression (`"*"` or `"a || b"`).
    pub fn subscribe(&self, topic: &str, expression: &str) {
        self.subscriptions.borrow_mut().insert(
            topic.to_string(),
            SubscriptionData::from_expression(topic, expression, now_ms()),
        );
    }

    /// The settings.
    pub fn config(&self) -> &PushConsumerConfig {
        &self.config
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The counters.
    pub fn stats(&self) -> &ConsumerStats {
        &self.stats
    }

    /// The offsets held (next offset to consume, per queue).
    pub fn offsets(&self) -> &OffsetStore {
        &self.offsets
    }

    /// Queues currently assigned to this client.
    pub fn assigned_queues(&self) -> Vec<MessageQueue> {
        self.queues.borrow().keys().cloned().collect()
    }

    /// A handler for requests brokers send (set it on the connection pool before start):
    /// `NOTIFY_CONSUMER_IDS_CHANGED` triggers a rebalance.
    pub fn request_handler(self: &Rc<Self>) -> RequestHandler {
        let weak = Rc::downgrade(self);
        Rc::new(move |_addr: &str, cmd: RemotingCommand| {
            if cmd.code == request_code::NOTIFY_CONSUMER_IDS_CHANGED {
                if let Some(me) = weak.upgrade() {
                    me.rebalance_wanted.notify_all();
                }
            }
            None
        })
    }

    const fn is_clustering(&self) -> bool {
        matches!(self.config.model, MessageModel::Clustering)
    }

    /// Fetch routes, register with the brokers, take queues and start pulling. Fails if a
    /// subscribed topic (other than the retry topic) has no route.
    pub async fn start(self: &Rc<Self>) -> ClientResult<()> {
        if self.is_clustering() {
            let retry = retry_topic(&self.config.group);
            self.subscriptions
                .borrow_mut()
                .entry(retry.clone())
                .or_insert_with(|| SubscriptionData::from_expression(&retry, "*", now_ms()));
        }
        let topics: Vec<String> = self.subscriptions.borrow().keys().cloned().collect();
        let retry = retry_topic(&self.config.group);
        for topic in &topics {
            let fetched = self
                .routes
                .refresh(
                    &*self.transport,
                    &self.name_servers,
                    topic,
                    self.config.request_timeout,
                )
                .await;
            // The retry topic exists only once the broker created it; it is picked up by a
            // later refresh.
            if let Err(e) = fetched {
                if *topic != retry {
                    return Err(e);
                }
            }
        }
        self.send_heartbeat().await;
        self.rebalance().await;
        self.spawn_timers();
        Ok(())
    }

    fn spawn_timers(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        glommio::spawn_local(rebalance_loop(weak.clone())).detach();
        glommio::spawn_local(every(weak.clone(), HEARTBEAT_INTERVAL, |c| {
            Box::pin(async move {
                c.send_heartbeat().await;
            })
        }))
        .detach();
        glommio::spawn_local(every(weak.clone(), OFFSET_PERSIST_INTERVAL, |c| {
            Box::pin(async move {
                c.persist_offsets().await;
            })
        }))
        .detach();
        glommio::spawn_local(every(weak.clone(), ROUTE_REFRESH_INTERVAL, |c| {
            Box::pin(async move {
                c.routes
                    .refresh_all(&*c.transport, &c.name_servers, c.config.request_timeout)
                    .await;
                // Topics whose route failed at start (the retry topic) are fetched again.
                let topics: Vec<String> = c.subscriptions.borrow().keys().cloned().collect();
                for t in topics {
                    if c.routes.get(&t).is_none() {
                        let _ = c
                            .routes
                            .refresh(&*c.transport, &c.name_servers, &t, c.config.request_timeout)
                            .await;
                    }
                }
            })
        }))
        .detach();
        if !self.listener.is_concurrent() && self.is_clustering() {
            glommio::spawn_local(every(weak, ORDERLY_LOCK_INTERVAL, |c| {
                Box::pin(async move {
                    c.lock_all().await;
                })
            }))
            .detach();
        }
    }

    fn heartbeat_body(&self) -> Bytes {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            consumer_data_set: vec![ConsumerData {
                group_name: self.config.group.clone(),
                consume_type: Some(ConsumeType::Passively),
                message_model: Some(self.config.model),
                consume_from_where: Some(self.config.consume_from.wire()),
                subscription_data_set: self.subscriptions.borrow().values().cloned().collect(),
                unit_mode: false,
            }],
            ..HeartbeatData::default()
        };
        Bytes::from(data.encode())
    }

    /// Send `HEART_BEAT` to every broker of the subscribed topics; returns how many failed.
    pub async fn send_heartbeat(&self) -> usize {
        let body = self.heartbeat_body();
        crate::transport::send_heartbeats(
            &*self.transport,
            &self.routes.all_addrs(),
            &body,
            self.config.request_timeout,
        )
        .await
    }

    async fn consumer_ids(&self, topic: &str) -> ClientResult<Vec<String>> {
        let route = self
            .routes
            .get(topic)
            .ok_or_else(|| ClientError::NoRoute(topic.to_string()))?;
        let addrs = route.master_addrs();
        let addr = addrs
            .first()
            .ok_or_else(|| ClientError::NoRoute(topic.to_string()))?;
        let request = RemotingCommand::new_request(
            request_code::GET_CONSUMER_LIST_BY_GROUP,
            ExtFields::new(),
        )
        .with_header(&GetConsumerListByGroupRequestHeader {
            consumer_group: self.config.group.clone(),
        });
        let response = self
            .transport
            .invoke(addr, request, self.config.request_timeout)
            .await?;
        let response = expect_success(addr, response)?;
        let body = GetConsumerListByGroupResponseBody::decode(
            response.body.as_deref().unwrap_or_default(),
        )
        .map_err(|e| ClientError::BadBody {
            addr: addr.clone(),
            reason: e.to_string(),
        })?;
        if body.consumer_id_list.len() > GROUP_CONSUMERS_COUNT_MAX {
            return Err(ClientError::BadBody {
                addr: addr.clone(),
                reason: format!("more than {GROUP_CONSUMERS_COUNT_MAX} consumers"),
            });
        }
        let mut ids = body.consumer_id_list;
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Recompute this client's queues for every subscribed topic and start or stop pull
    /// tasks accordingly. A topic whose inputs cannot be fetched keeps its current queues.
    pub async fn rebalance(self: &Rc<Self>) {
        bump(&self.stats.rebalances, 1);
        let topics: Vec<String> = self.subscriptions.borrow().keys().cloned().collect();
        for topic in topics {
            let Some(route) = self.routes.get(&topic) else {
                continue;
            };
            let wanted: Vec<MessageQueue> = if self.is_clustering() {
                let Ok(ids) = self.consumer_ids(&topic).await else {
                    continue;
                };
                if !ids.contains(&self.client_id) {
                    // The broker has not seen our heartbeat yet; take nothing rather than
                    // guess (other members would compute a different split).
                    continue;
                }
                self.config
                    .allocate
                    .allocate(&self.client_id, &route.read_queues, &ids)
            } else {
                route.read_queues.clone()
            };
            self.apply_assignment(&topic, wanted).await;
        }
    }

    async fn apply_assignment(self: &Rc<Self>, topic: &str, wanted: Vec<MessageQueue>) {
        let current: Vec<MessageQueue> = self
            .queues
            .borrow()
            .keys()
            .filter(|q| q.topic == topic)
            .cloned()
            .collect();
        for q in current.iter().filter(|q| !wanted.contains(q)) {
            self.drop_queue(q).await;
        }
        for q in wanted.into_iter().filter(|q| !current.contains(q)) {
            let offset = match self.start_offset(&q).await {
                Ok(o) => o,
                // Try again at the next rebalance.
                Err(_) => continue,
            };
            self.offsets.update(&q, offset, false);
            let state = Rc::new(QueueState {
                queue: q.clone(),
                pq: RefCell::new(ProcessQueue::new()),
                next_offset: Cell::new(offset),
                dropped: Cell::new(false),
                locked: Cell::new(false),
                orderly_running: Cell::new(false),
            });
            self.queues.borrow_mut().insert(q, Rc::clone(&state));
            if !self.listener.is_concurrent() && self.is_clustering() {
                self.lock_queue(&state).await;
            }
            glommio::spawn_local(pull_loop(Rc::clone(self), state)).detach();
        }
    }

    async fn drop_queue(&self, q: &MessageQueue) {
        let Some(state) = self.queues.borrow_mut().remove(q) else {
            return;
        };
        state.dropped.set(true);
        state.pq.borrow_mut().clear();
        if let Some(offset) = self.offsets.read(q) {
            if self.is_clustering() {
                if let Some(addr) = self.routes.master_addr(&q.broker_name) {
                    let _ =
                        commit_offset(&*self.transport, &addr, &self.config.group, q, offset).await;
                }
            }
        }
        self.offsets.remove(q);
    }

    /// Where to start on a newly assigned queue.
    async fn start_offset(&self, q: &MessageQueue) -> ClientResult<i64> {
        let addr = self
            .routes
            .master_addr(&q.broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddress(q.broker_name.clone()))?;
        let timeout = self.config.request_timeout;
        if self.is_clustering() {
            if let Some(o) =
                query_offset(&*self.transport, &addr, &self.config.group, q, timeout).await?
            {
                return Ok(o);
            }
        }
        match self.config.consume_from {
            ConsumeFrom::FirstOffset => Ok(0),
            // Upstream starts a retry topic from 0 as well.
            ConsumeFrom::LastOffset if q.topic.starts_with("%RETRY%") => Ok(0),
            ConsumeFrom::LastOffset => max_offset(&*self.transport, &addr, q, timeout).await,
            ConsumeFrom::Timestamp(ts) => {
                search_offset(&*self.transport, &addr, q, ts, timeout).await
            }
        }
    }

    async fn lock_queue(&self, state: &QueueState) {
        let Some(addr) = self.routes.master_addr(&state.queue.broker_name) else {
            return;
        };
        let mut mq_set = std::collections::BTreeSet::new();
        mq_set.insert(state.queue.clone());
        let locked = self.lock_batch(&addr, mq_set).await;
        state.locked.set(locked.contains(&state.queue));
    }

    async fn lock_batch(
        &self,
        addr: &str,
        mq_set: std::collections::BTreeSet<MessageQueue>,
    ) -> std::collections::BTreeSet<MessageQueue> {
        let body = LockBatchRequestBody {
            consumer_group: self.config.group.clone(),
            client_id: self.client_id.clone(),
            only_this_broker: false,
            mq_set,
        };
        let request = RemotingCommand::new_request(request_code::LOCK_BATCH_MQ, ExtFields::new())
            .with_body(body.encode());
        match self
            .transport
            .invoke(addr, request, self.config.request_timeout)
            .await
        {
            Ok(r) if r.code == response_code::SUCCESS => {
                LockBatchResponseBody::decode(r.body.as_deref().unwrap_or_default())
                    .map(|b| b.lock_ok_mq_set)
                    .unwrap_or_default()
            }
            _ => std::collections::BTreeSet::new(),
        }
    }

    /// Renew the locks of every assigned queue (orderly clustering).
    async fn lock_all(&self) {
        let states: Vec<Rc<QueueState>> = self.queues.borrow().values().cloned().collect();
        let mut by_broker: BTreeMap<String, std::collections::BTreeSet<MessageQueue>> =
            BTreeMap::new();
        for s in &states {
            by_broker
                .entry(s.queue.broker_name.clone())
                .or_default()
                .insert(s.queue.clone());
        }
        for (broker, set) in by_broker {
            let Some(addr) = self.routes.master_addr(&broker) else {
                continue;
            };
            let locked = self.lock_batch(&addr, set).await;
            for s in states.iter().filter(|s| s.queue.broker_name == broker) {
                s.locked.set(locked.contains(&s.queue));
            }
        }
    }

    /// Commit every changed offset (clustering); returns how many commits failed.
    pub async fn persist_offsets(&self) -> usize {
        if !self.is_clustering() {
            return 0;
        }
        let mut failures = 0;
        for (q, offset) in self.offsets.uncommitted() {
            let Some(addr) = self.routes.master_addr(&q.broker_name) else {
                failures += 1;
                continue;
            };
            match commit_offset(&*self.transport, &addr, &self.config.group, &q, offset).await {
                Ok(()) => self.offsets.mark_committed(&q, offset),
                Err(_) => failures += 1,
            }
        }
        failures
    }

    /// Stop pulling, commit offsets and unregister from every broker.
    pub async fn shutdown(&self) {
        if self.shut_down.replace(true) {
            return;
        }
        let states: Vec<Rc<QueueState>> = self.queues.borrow().values().cloned().collect();
        for s in &states {
            s.dropped.set(true);
        }
        self.persist_offsets().await;
        self.queues.borrow_mut().clear();
        for addr in self.routes.all_addrs() {
            let request =
                RemotingCommand::new_request(request_code::UNREGISTER_CLIENT, ExtFields::new())
                    .with_header(&UnregisterClientRequestHeader {
                        client_id: self.client_id.clone(),
                        producer_group: None,
                        consumer_group: Some(self.config.group.clone()),
                    });
            let _ = self
                .transport
                .invoke(&addr, request, self.config.request_timeout)
                .await;
        }
    }

    /// Record consumed offsets of a concurrent batch; commit point moves forward only.
    fn finish_batch(&self, state: &QueueState, offsets: impl IntoIterator<Item = i64>) {
        if state.dropped.get() {
            return;
        }
        if let Some(offset) = state.pq.borrow_mut().remove(offsets) {
            if offset >= 0 {
                self.offsets.update(&state.queue, offset, true);
            }
        }
    }

    async fn send_back(&self, m: &MessageExt) -> ClientResult<()> {
        let addr = self
            .routes
            .master_addr(&m.broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddress(m.broker_name.clone()))?;
        let request =
            RemotingCommand::new_request(request_code::CONSUMER_SEND_MSG_BACK, ExtFields::new())
                .with_header(&ConsumerSendMsgBackRequestHeader {
                    offset: m.commit_log_offset,
                    group: self.config.group.clone(),
                    // 0: the broker picks 3 + reconsumeTimes, as upstream's default.
                    delay_level: 0,
                    origin_msg_id: m.uniq_key().map(str::to_string),
                    origin_topic: Some(m.topic.clone()),
                    unit_mode: false,
                    max_reconsume_times: None,
                });
        let response = self
            .transport
            .invoke(&addr, request, self.config.request_timeout)
            .await?;
        expect_success(&addr, response).map(drop)
    }
}

/// Rebalance every 20 s, or at once when a broker says the group changed.
async fn rebalance_loop<T: Transport + 'static>(weak: Weak<PushConsumer<T>>) {
    loop {
        let wake = {
            let Some(c) = weak.upgrade() else { return };
            if c.shut_down.get() {
                return;
            }
            // Hold only a weak reference while waiting.
            let notified = async {
                c.rebalance_wanted.notified().await;
            };
            futures_lite::future::or(notified, glommio::timer::sleep(REBALANCE_INTERVAL)).await;
            c
        };
        if wake.shut_down.get() {
            return;
        }
        wake.rebalance().await;
    }
}

async fn every<T: Transport + 'static>(
    weak: Weak<PushConsumer<T>>,
    interval: Duration,
    tick: impl Fn(Rc<PushConsumer<T>>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    loop {
        glommio::timer::sleep(interval).await;
        let Some(c) = weak.upgrade() else { return };
        if c.shut_down.get() {
            return;
        }
        tick(c).await;
    }
}

/// Pull one queue until it is dropped.
async fn pull_loop<T: Transport + 'static>(consumer: Rc<PushConsumer<T>>, state: Rc<QueueState>) {
    let concurrent = consumer.listener.is_concurrent();
    let orderly_clustering = !concurrent && consumer.is_clustering();
    loop {
        if state.dropped.get() || consumer.shut_down.get() {
            return;
        }
        if state
            .pq
            .borrow()
            .flow_control(&consumer.config.flow, concurrent)
            .is_some()
        {
            bump(&consumer.stats.flow_control_pauses, 1);
            glommio::timer::sleep(PULL_DELAY_WHEN_FLOW_CONTROL).await;
            continue;
        }
        if orderly_clustering && !state.locked.get() {
            glommio::timer::sleep(ORDERLY_SUSPEND_DELAY).await;
            consumer.lock_queue(&state).await;
            continue;
        }
        let Some(addr) = consumer.routes.master_addr(&state.queue.broker_name) else {
            glommio::timer::sleep(PULL_DELAY_WHEN_EXCEPTION).await;
            continue;
        };
        let Some(subscription) = consumer
            .subscriptions
            .borrow()
            .get(&state.queue.topic)
            .cloned()
        else {
            return;
        };
        let commit = if consumer.is_clustering() {
            consumer.offsets.read(&state.queue).filter(|o| *o > 0)
        } else {
            None
        };
        let params = PullParams {
            group: &consumer.config.group,
            queue: &state.queue,
            offset: state.next_offset.get(),
            max_msg_nums: consumer.config.pull_batch_size,
            commit_offset: commit,
            suspend: Some(consumer.config.broker_suspend),
            subscription: &subscription,
        };
        let timeout = consumer
            .config
            .broker_suspend
            .max(PULL_TIMEOUT_WHEN_SUSPENDED);
        let result = pull(&*consumer.transport, &addr, &params, timeout).await;
        if state.dropped.get() {
            return;
        }
        let result = match result {
            Ok(r) => r,
            Err(_) => {
                bump(&consumer.stats.pull_errors, 1);
                glommio::timer::sleep(PULL_DELAY_WHEN_EXCEPTION).await;
                continue;
            }
        };
        bump(&consumer.stats.pulls, 1);
        match result.status {
            PullStatus::Found => {
                state.next_offset.set(result.next_begin_offset);
                if result.messages.is_empty() {
                    continue;
                }
                dispatch(&consumer, &state, result.messages);
            }
            PullStatus::NoNewMsg | PullStatus::NoMatchedMsg => {
                state.next_offset.set(result.next_begin_offset);
                // Nothing cached: the queue is consumed up to here.
                if state.pq.borrow().count() == 0 {
                    consumer
                        .offsets
                        .update(&state.queue, result.next_begin_offset, true);
                }
            }
            PullStatus::OffsetIllegal => {
                state.next_offset.set(result.next_begin_offset);
                state.pq.borrow_mut().clear();
                consumer
                    .offsets
                    .update(&state.queue, result.next_begin_offset, false);
            }
        }
    }
}

/// Hand pulled messages to the listener.
fn dispatch<T: Transport + 'static>(
    consumer: &Rc<PushConsumer<T>>,
    state: &Rc<QueueState>,
    messages: Vec<MessageExt>,
) {
    match &consumer.listener {
        Listener::Concurrently(_) => {
            state.pq.borrow_mut().track(&messages);
            let batch = consumer.config.consume_batch_size;
            if messages.len() <= batch {
                glommio::spawn_local(consume_concurrently(
                    Rc::clone(consumer),
                    Rc::clone(state),
                    messages,
                ))
                .detach();
            } else {
                let mut rest = messages;
                while !rest.is_empty() {
                    let tail = rest.split_off(batch.min(rest.len()));
                    glommio::spawn_local(consume_concurrently(
                        Rc::clone(consumer),
                        Rc::clone(state),
                        rest,
                    ))
                    .detach();
                    rest = tail;
                }
            }
        }
        Listener::Orderly(_) => {
            state.pq.borrow_mut().put(messages);
            if !state.orderly_running.replace(true) {
                glommio::spawn_local(consume_orderly(Rc::clone(consumer), Rc::clone(state)))
                    .detach();
            }
        }
    }
}

async fn consume_concurrently<T: Transport + 'static>(
    consumer: Rc<PushConsumer<T>>,
    state: Rc<QueueState>,
    messages: Vec<MessageExt>,
) {
    let Listener::Concurrently(listener) = &consumer.listener else {
        return;
    };
    if state.dropped.get() {
        return;
    }
    let status = listener(&messages);
    let count = messages.len() as u64;
    match status {
        ConcurrentlyStatus::Success => {
            bump(&consumer.stats.consumed, count);
            consumer.finish_batch(&state, messages.iter().map(|m| m.queue_offset));
        }
        ConcurrentlyStatus::ReconsumeLater => {
            bump(&consumer.stats.reconsume_later, count);
            if !consumer.is_clustering() {
                // Broadcasting: dropped, as upstream.
                consumer.finish_batch(&state, messages.iter().map(|m| m.queue_offset));
                return;
            }
            let mut failed = Vec::new();
            for m in messages {
                if consumer.send_back(&m).await.is_err() {
                    failed.push(m);
                } else {
                    consumer.finish_batch(&state, [m.queue_offset]);
                }
            }
            if !failed.is_empty() {
                // The broker did not take them back: consume again here later. They stay in
                // the cache, so the commit point cannot pass them meanwhile.
                glommio::timer::sleep(Duration::from_secs(5)).await;
                for m in &mut failed {
                    m.reconsume_times = m.reconsume_times.saturating_add(1);
                }
                glommio::spawn_local(consume_concurrently(consumer, state, failed)).detach();
            }
        }
    }
}

async fn consume_orderly<T: Transport + 'static>(
    consumer: Rc<PushConsumer<T>>,
    state: Rc<QueueState>,
) {
    let Listener::Orderly(listener) = &consumer.listener else {
        return;
    };
    let orderly_clustering = consumer.is_clustering();
    loop {
        if state.dropped.get() || consumer.shut_down.get() {
            break;
        }
        if orderly_clustering && !state.locked.get() {
            glommio::timer::sleep(ORDERLY_SUSPEND_DELAY).await;
            continue;
        }
        let batch = state
            .pq
            .borrow_mut()
            .take(consumer.config.consume_batch_size);
        if batch.is_empty() {
            break;
        }
        match listener(&batch) {
            OrderlyStatus::Success => {
                bump(&consumer.stats.consumed, batch.len() as u64);
                let offset = state.pq.borrow_mut().commit();
                if offset >= 0 && !state.dropped.get() {
                    consumer.offsets.update(&state.queue, offset, true);
                }
            }
            OrderlyStatus::SuspendCurrentQueueAMoment => {
                bump(&consumer.stats.reconsume_later, batch.len() as u64);
                state.pq.borrow_mut().rollback(batch);
                glommio::timer::sleep(ORDERLY_SUSPEND_DELAY).await;
            }
        }
        // Let pulls and other queues run between batches.
        glommio::yield_if_needed().await;
    }
    state.orderly_running.set(false);
}

/// The queue's next free offset (`GET_MAX_OFFSET`).
pub async fn max_offset<T: Transport>(
    transport: &T,
    addr: &str,
    q: &MessageQueue,
    timeout: Duration,
) -> ClientResult<i64> {
    let request = RemotingCommand::new_request(request_code::GET_MAX_OFFSET, ExtFields::new())
        .with_header(&GetMaxOffsetRequestHeader {
            topic: q.topic.clone(),
            queue_id: q.queue_id,
            committed: true,
        });
    let response = transport.invoke(addr, request, timeout).await?;
    let response = expect_success(addr, response)?;
    let h: GetMaxOffsetResponseHeader = reply_header(addr, &response)?;
    Ok(h.offset)
}

/// The first offset stored at or after `timestamp_ms` (`SEARCH_OFFSET_BY_TIMESTAMP`).
pub async fn search_offset<T: Transport>(
    transport: &T,
    addr: &str,
    q: &MessageQueue,
    timestamp_ms: i64,
    timeout: Duration,
) -> ClientResult<i64> {
    let request =
        RemotingCommand::new_request(request_code::SEARCH_OFFSET_BY_TIMESTAMP, ExtFields::new())
            .with_header(&SearchOffsetRequestHeader {
                topic: q.topic.clone(),
                queue_id: q.queue_id,
                timestamp: timestamp_ms,
                boundary_type: None,
            });
    let response = transport.invoke(addr, request, timeout).await?;
    let response = expect_success(addr, response)?;
    let h: SearchOffsetResponseHeader = reply_header(addr, &response)?;
    Ok(h.offset)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{run_local, FakeCluster, FakeTransport};
    use crate::route::tests::route_data;

    const A: &str = "10.0.0.1:10911";
    const B: &str = "10.0.0.2:10911";

    fn cluster() -> Rc<FakeCluster> {
        let c = FakeCluster::new();
        c.routes
            .borrow_mut()
            .insert("T".into(), route_data(&[("a", A, 4, 6), ("b", B, 4, 6)]));
        c
    }

    fn store(c: &FakeCluster, addr: &str, queue_id: i32, bodies: impl IntoIterator<Item = String>) {
        let mut queues = c.queues.borrow_mut();
        let q = queues
            .entry((addr.to_string(), "T".to_string(), queue_id))
            .or_default();
        q.extend(bodies.into_iter().map(String::into_bytes));
    }

    fn config(instance: &str) -> PushConsumerConfig {
        let mut cfg = PushConsumerConfig::new("G", "ns:9876");
        cfg.instance_name = instance.into();
        cfg.consume_from = ConsumeFrom::FirstOffset;
        cfg
    }

    async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
        for _ in 0..400 {
            if done() {
                return true;
            }
            glommio::timer::sleep(Duration::from_millis(5)).await;
        }
        done()
    }

    type Seen = Rc<RefCell<Vec<(String, i32, i64)>>>;

    fn recording_listener(seen: &Seen) -> Listener {
        let seen = Rc::clone(seen);
        Listener::Concurrently(Rc::new(move |msgs| {
            for m in msgs {
                seen.borrow_mut()
                    .push((m.broker_name.clone(), m.queue_id, m.queue_offset));
            }
            ConcurrentlyStatus::Success
        }))
    }

    #[test]
    fn two_clustering_consumers_split_the_queues_and_consume_everything_once() {
        run_local(|| async {
            let c = cluster();
            let t = Rc::new(FakeTransport(Rc::clone(&c)));
            let seen: Seen = Rc::default();
            let one =
                PushConsumer::new(config("one"), Rc::clone(&t), recording_listener(&seen)).unwrap();
            let two =
                PushConsumer::new(config("two"), Rc::clone(&t), recording_listener(&seen)).unwrap();
            one.subscribe("T", "*");
            two.subscribe("T", "*");
            one.start().await.unwrap();
            two.start().await.unwrap();
            // The broker would notify `one` that the group changed.
            one.rebalance().await;
            let (q1, q2) = (one.assigned_queues(), two.assigned_queues());
            assert_eq!((q1.len(), q2.len()), (4, 4), "{q1:?} {q2:?}");
            assert!(q1.iter().all(|q| !q2.contains(q)));

            for (addr, qid) in [(A, 0), (A, 3), (B, 1), (B, 2)] {
                store(&c, addr, qid, (0..25).map(|i| format!("m{i}")));
            }
            assert!(wait_until(|| seen.borrow().len() >= 100).await);
            let mut all = seen.borrow().clone();
            all.sort();
            all.dedup();
            assert_eq!(all.len(), 100, "every message exactly once");
            assert_eq!(one.stats().consumed.get() + two.stats().consumed.get(), 100);

            one.persist_offsets().await;
            two.persist_offsets().await;
            let offsets = c.offsets.borrow().clone();
            assert_eq!(
                offsets.get(&(A.into(), "G".into(), "T".into(), 0)),
                Some(&25)
            );
            assert_eq!(
                offsets.get(&(A.into(), "G".into(), "T".into(), 3)),
                Some(&25)
            );
            one.shutdown().await;
            two.shutdown().await;
            assert!(!c.seen(request_code::UNREGISTER_CLIENT).is_empty());
        });
    }

    #[test]
    fn a_restarted_consumer_resumes_from_the_committed_offset() {
        run_local(|| async {
            let c = cluster();
            c.routes
                .borrow_mut()
                .insert("T".into(), route_data(&[("a", A, 1, 6)]));
            store(&c, A, 0, (0..10).map(|i| format!("m{i}")));
            c.offsets
                .borrow_mut()
                .insert((A.into(), "G".into(), "T".into(), 0), 6);
            let t = Rc::new(FakeTransport(Rc::clone(&c)));
            let seen: Seen = Rc::default();
            let consumer = PushConsumer::new(config("x"), t, recording_listener(&seen)).unwrap();
            consumer.subscribe("T", "*");
            consumer.start().await.unwrap();
            assert!(wait_until(|| seen.borrow().len() >= 4).await);
            let offsets: Vec<i64> = seen.borrow().iter().map(|s| s.2).collect();
            assert_eq!(offsets, [6, 7, 8, 9]);
            consumer.shutdown().await;
            assert_eq!(
                c.offsets
                    .borrow()
                    .get(&(A.into(), "G".into(), "T".into(), 0)),
                Some(&10)
            );
        });
    }

    #[test]
    fn broadcasting_takes_every_queue_and_orderly_keeps_offset_order() {
        run_local(|| async {
            let c = cluster();
            for q in 0..4 {
                store(&c, A, q, (0..10).map(|i| format!("m{i}")));
            }
            let t = Rc::new(FakeTransport(Rc::clone(&c)));
            let seen: Seen = Rc::default();
            let suspended_once = Rc::new(Cell::new(false));
            let listener = {
                let seen = Rc::clone(&seen);
                let suspended_once = Rc::clone(&suspended_once);
                Listener::Orderly(Rc::new(move |msgs: &[MessageExt]| {
                    // Ask for one retry of the first batch of queue 2 at offset 5.
                    if msgs[0].queue_id == 2 && msgs[0].queue_offset == 5 && !suspended_once.get() {
                        suspended_once.set(true);
                        return OrderlyStatus::SuspendCurrentQueueAMoment;
                    }
                    for m in msgs {
                        seen.borrow_mut()
                            .push((m.broker_name.clone(), m.queue_id, m.queue_offset));
                    }
                    OrderlyStatus::Success
                }))
            };
            let mut cfg = config("b");
            cfg.model = MessageModel::Broadcasting;
            let consumer = PushConsumer::new(cfg, t, listener).unwrap();
            consumer.subscribe("T", "*");
            consumer.start().await.unwrap();
            assert_eq!(consumer.assigned_queues().len(), 8);
            assert!(wait_until(|| seen.borrow().len() >= 40).await);
            assert!(suspended_once.get());
            for q in 0..4 {
                let offsets: Vec<i64> = seen
                    .borrow()
                    .iter()
                    .filter(|s| s.1 == q)
                    .map(|s| s.2)
                    .collect();
                assert_eq!(offsets, (0..10).collect::<Vec<_>>(), "queue {q}");
            }
            // Broadcasting never commits to the broker.
            consumer.shutdown().await;
            assert!(c.offsets.borrow().is_empty());
        });
    }

    #[test]
    fn orderly_clustering_locks_queues_and_reconsume_later_sends_back() {
        run_local(|| async {
            let c = cluster();
            store(&c, A, 1, (0..3).map(|i| format!("m{i}")));
            let t = Rc::new(FakeTransport(Rc::clone(&c)));
            let listener = Listener::Concurrently(Rc::new(|_: &[MessageExt]| {
                ConcurrentlyStatus::ReconsumeLater
            }));
            let consumer = PushConsumer::new(config("r"), Rc::clone(&t), listener).unwrap();
            consumer.subscribe("T", "*");
            consumer.start().await.unwrap();
            assert!(wait_until(|| c.seen(request_code::CONSUMER_SEND_MSG_BACK).len() >= 3).await);
            // Sent back, so the queue's offset moves past them.
            assert!(
                wait_until(|| consumer.offsets().read(&MessageQueue::new("T", "a", 1)) == Some(3))
                    .await
            );
            consumer.shutdown().await;

            let seen: Seen = Rc::default();
            let orderly = {
                let seen = Rc::clone(&seen);
                Listener::Orderly(Rc::new(move |msgs: &[MessageExt]| {
                    seen.borrow_mut().extend(
                        msgs.iter()
                            .map(|m| (m.broker_name.clone(), m.queue_id, m.queue_offset)),
                    );
                    OrderlyStatus::Success
                }))
            };
            let c2 = cluster();
            store(&c2, B, 0, (0..5).map(|i| format!("m{i}")));
            let consumer =
                PushConsumer::new(config("o"), Rc::new(FakeTransport(Rc::clone(&c2))), orderly)
                    .unwrap();
            consumer.subscribe("T", "*");
            consumer.start().await.unwrap();
            assert!(wait_until(|| seen.borrow().len() >= 5).await);
            assert!(!c2.seen(request_code::LOCK_BATCH_MQ).is_empty());
            consumer.shutdown().await;
        });
    }

    #[test]
    fn a_subscribed_topic_without_route_fails_start() {
        run_local(|| async {
            let c = FakeCluster::new();
            let consumer = PushConsumer::new(
                config("n"),
                Rc::new(FakeTransport(c)),
                Listener::Concurrently(Rc::new(|_: &[MessageExt]| ConcurrentlyStatus::Success)),
            )
            .unwrap();
            consumer.subscribe("Missing", "*");
            assert!(matches!(
                consumer.start().await,
                Err(ClientError::NoRoute(_))
            ));
        });
    }
}
