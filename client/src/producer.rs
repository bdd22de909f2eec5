//! The producer: sync sends with retries on another broker, async sends under a bounded
//! in-flight window, oneway sends, batches, and sends to a caller-chosen queue (ordered
//! messages). Routes come from the NameServer and are refreshed every 30 s; heartbeats go to
//! every master every 30 s.
//!
//! Retry rules (upstream 4.x, protocol.md §2.18): a send is tried at most `1 + retries` times;
//! only transport failures and the retriable response codes
//! ([`ClientError::is_retriable_for_send`]) are retried, each time preferring another broker;
//! `FLUSH_DISK_TIMEOUT`, `FLUSH_SLAVE_TIMEOUT` and `SLAVE_NOT_AVAILABLE` mean "stored" and
//! return a [`SendResult`] with that status. Every attempt feeds the latency fault table
//! ([`crate::fault`]). Oneway and queue-selector sends make one attempt, as upstream.
//!
//! Invariants: at most `async_in_flight_max` async sends are in flight (callers of
//! [`Producer::send_async`] wait for a slot); nothing here panics on a bad reply.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rmq_protocol::body::{HeartbeatData, JsonBody, MessageQueue, ProducerData};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::{
    SendMessageRequestHeader, SendMessageResponseHeader, UnregisterClientRequestHeader,
};
use rmq_protocol::message::batch::{encode_batch, BatchEntry};
use rmq_protocol::message::id::UniqueIdGenerator;
use rmq_protocol::message::{keys, properties};
use rmq_protocol::{ExtFields, RemotingCommand};

use crate::error::{broker_error, reply_header, ClientError, ClientResult};
use crate::fault::QueueSelector;
use crate::limits::{
    AUTO_CREATE_TOPIC_KEY, DEFAULT_TOPIC_QUEUE_NUMS, HEARTBEAT_INTERVAL,
    MESSAGE_BODY_SIZE_BYTES_MAX, REQUEST_TIMEOUT_DEFAULT, ROUTE_REFRESH_INTERVAL,
    SEND_RETRIES_DEFAULT,
};
use crate::message::Message;
use crate::route::{fetch_route, NameServers, RouteTable, TopicRoute};
use crate::transport::Transport;
use crate::util::{client_id, local_ip, now_ms};

/// Producer settings (upstream names in the field docs).
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `producerGroup`.
    pub group: String,
    /// `namesrvAddr`: `;`-separated.
    pub name_servers: String,
    /// `instanceName`: part of the client id.
    pub instance_name: String,
    /// `sendMsgTimeout`.
    pub send_timeout: Duration,
    /// `retryTimesWhenSendFailed` (sync and batch sends).
    pub retries: u32,
    /// `retryTimesWhenSendAsyncFailed`.
    pub async_retries: u32,
    /// `sendLatencyFaultEnable`.
    pub latency_fault_enabled: bool,
    /// `maxMessageSize`.
    pub body_size_bytes_max: usize,
    /// Async sends in flight at most (upstream's async semaphore).
    pub async_in_flight_max: usize,
}

impl ProducerConfig {
    /// Upstream's defaults for `group` against `name_servers`.
    pub fn new(group: impl Into<String>, name_servers: impl Into<String>) -> Self {
        ProducerConfig {
            group: group.into(),
            name_servers: name_servers.into(),
            instance_name: std::process::id().to_string(),
            send_timeout: REQUEST_TIMEOUT_DEFAULT,
            retries: SEND_RETRIES_DEFAULT,
            async_retries: SEND_RETRIES_DEFAULT,
            latency_fault_enabled: false,
            body_size_bytes_max: MESSAGE_BODY_SIZE_BYTES_MAX,
            async_in_flight_max: 1024,
        }
    }
}

/// How the broker stored a message that it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStatus {
    /// Stored (and flushed / replicated as the broker's mode requires).
    SendOk,
    /// SYNC_FLUSH: stored, but the flush did not finish in time.
    FlushDiskTimeout,
    /// SYNC_MASTER: stored, but the slave did not catch up in time.
    FlushSlaveTimeout,
    /// SYNC_MASTER: stored, no slave available.
    SlaveNotAvailable,
}

impl SendStatus {
    fn from_code(code: i32) -> Option<Self> {
        match code {
            response_code::SUCCESS => Some(SendStatus::SendOk),
            response_code::FLUSH_DISK_TIMEOUT => Some(SendStatus::FlushDiskTimeout),
            response_code::FLUSH_SLAVE_TIMEOUT => Some(SendStatus::FlushSlaveTimeout),
            response_code::SLAVE_NOT_AVAILABLE => Some(SendStatus::SlaveNotAvailable),
            _ => None,
        }
    }
}

/// The outcome of an accepted send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendResult {
    /// How it was stored.
    pub status: SendStatus,
    /// The client-side unique id(s) (`UNIQ_KEY`; comma-joined for a batch).
    pub msg_id: String,
    /// The broker's offset message id(s).
    pub offset_msg_id: String,
    /// The queue it went to.
    pub queue: MessageQueue,
    /// Its consume-queue offset (the first message's, for a batch).
    pub queue_offset: i64,
}

/// What one attempt sends: a single message or a batch body.
enum Payload<'a> {
    Single {
        message: &'a Message,
        properties: &'a str,
    },
    Batch {
        body: &'a Bytes,
        properties: &'a str,
        flag: i32,
    },
}

/// A producer on transport `T` (a [`crate::remoting::ConnectionPool`] in production).
pub struct Producer<T: Transport + 'static> {
    config: ProducerConfig,
    client_id: String,
    transport: Rc<T>,
    name_servers: NameServers,
    routes: RouteTable,
    selector: RefCell<QueueSelector>,
    ids: RefCell<UniqueIdGenerator>,
    window: Rc<glommio::sync::Semaphore>,
    in_flight: Cell<usize>,
    shut_down: Cell<bool>,
}

impl<T: Transport + 'static> Producer<T> {
    /// A producer; call [`Producer::start`] inside a glommio executor to run its timers.
    pub fn new(config: ProducerConfig, transport: Rc<T>) -> ClientResult<Rc<Self>> {
        let name_servers = NameServers::parse(&config.name_servers)?;
        if config.group.is_empty() {
            return Err(ClientError::InvalidArgument("empty producer group".into()));
        }
        let window = Rc::new(glommio::sync::Semaphore::new(
            config.async_in_flight_max.max(1) as u64,
        ));
        Ok(Rc::new(Producer {
            client_id: client_id(&config.instance_name),
            selector: RefCell::new(QueueSelector::new(config.latency_fault_enabled)),
            ids: RefCell::new(UniqueIdGenerator::for_this_process(local_ip())),
            config,
            transport,
            name_servers,
            routes: RouteTable::new(),
            window,
            in_flight: Cell::new(0),
            shut_down: Cell::new(false),
        }))
    }

    /// The settings.
    pub fn config(&self) -> &ProducerConfig {
        &self.config
    }

    /// This client's id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The transport.
    pub fn transport(&self) -> &Rc<T> {
        &self.transport
    }

    /// Start the route-refresh (30 s) and heartbeat (30 s) timers. They stop at
    /// [`Producer::shutdown`] or when the producer is dropped.
    pub fn start(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        glommio::spawn_local(periodic(weak.clone(), ROUTE_REFRESH_INTERVAL, |p| {
            Box::pin(async move {
                p.routes
                    .refresh_all(&*p.transport, &p.name_servers, p.config.send_timeout)
                    .await;
            })
        }))
        .detach();
        glommio::spawn_local(periodic(weak, HEARTBEAT_INTERVAL, |p| {
            Box::pin(async move {
                p.send_heartbeat().await;
            })
        }))
        .detach();
    }

    /// Send `HEART_BEAT` (producer data) to every known master; returns how many failed.
    pub async fn send_heartbeat(&self) -> usize {
        let data = HeartbeatData {
            client_id: self.client_id.clone(),
            producer_data_set: vec![ProducerData {
                group_name: self.config.group.clone(),
            }],
            ..HeartbeatData::default()
        };
        let body = Bytes::from(data.encode());
        crate::transport::send_heartbeats(
            &*self.transport,
            &self.routes.master_addrs(),
            &body,
            self.config.send_timeout,
        )
        .await
    }

    /// Stop the timers and unregister from every broker. Waits for async sends in flight.
    pub async fn shutdown(&self) {
        self.wait_for_async_sends().await;
        if self.shut_down.replace(true) {
            return;
        }
        for addr in self.routes.master_addrs() {
            let request =
                RemotingCommand::new_request(request_code::UNREGISTER_CLIENT, ExtFields::new())
                    .with_header(&UnregisterClientRequestHeader {
                        client_id: self.client_id.clone(),
                        producer_group: Some(self.config.group.clone()),
                        consumer_group: None,
                    });
            // Best effort, as upstream: the broker also expires clients on its own.
            let _ = self
                .transport
                .invoke(&addr, request, self.config.send_timeout)
                .await;
        }
    }

    /// The route of `topic`, fetched if not cached. An unknown topic falls back to the
    /// auto-create template (`TBW102`), so the broker creates it on the first send.
    pub async fn route(&self, topic: &str) -> ClientResult<Rc<TopicRoute>> {
        if self.shut_down.get() {
            return Err(ClientError::Shutdown);
        }
        if let Some(r) = self.routes.get(topic) {
            return Ok(r);
        }
        let timeout = self.config.send_timeout;
        match fetch_route(&*self.transport, &self.name_servers, topic, timeout).await {
            Ok(data) => Ok(self.routes.put(TopicRoute::new(topic, data)?)),
            Err(ClientError::NoRoute(_)) => {
                let mut data = fetch_route(
                    &*self.transport,
                    &self.name_servers,
                    AUTO_CREATE_TOPIC_KEY,
                    timeout,
                )
                .await
                .map_err(|_| ClientError::NoRoute(topic.to_string()))?;
                for qd in &mut data.queue_datas {
                    let n = qd.write_queue_nums.min(DEFAULT_TOPIC_QUEUE_NUMS);
                    qd.write_queue_nums = n;
                    qd.read_queue_nums = n;
                }
                let route = TopicRoute::new(topic, data)?;
                if route.write_queues.is_empty() {
                    return Err(ClientError::NoRoute(topic.to_string()));
                }
                Ok(self.routes.put(route))
            }
            Err(e) => Err(e),
        }
    }

    fn next_uniq_id(&self) -> String {
        self.ids.borrow_mut().next_id(now_ms())
    }

    /// Send one message and wait for the broker, retrying as the module doc says.
    pub async fn send(&self, message: &Message) -> ClientResult<SendResult> {
        self.send_with_attempts(message, self.config.retries.saturating_add(1))
            .await
    }

    async fn send_with_attempts(
        &self,
        message: &Message,
        attempts: u32,
    ) -> ClientResult<SendResult> {
        message.validate(self.config.body_size_bytes_max)?;
        let route = self.route(&message.topic).await?;
        let uniq = self.next_uniq_id();
        let properties = message.properties_string(Some(&uniq));
        let payload = Payload::Single {
            message,
            properties: &properties,
        };
        self.send_with_retries(&route, &payload, &uniq, attempts)
            .await
    }

    async fn send_with_retries(
        &self,
        route: &TopicRoute,
        payload: &Payload<'_>,
        uniq: &str,
        attempts: u32,
    ) -> ClientResult<SendResult> {
        let mut last_failed: Option<String> = None;
        let mut last_error = ClientError::NoRoute(route.topic.clone());
        for _ in 0..attempts.max(1) {
            let queue = self
                .selector
                .borrow()
                .select(&route.write_queues, last_failed.as_deref(), now_ms())
                .cloned()
                .ok_or_else(|| ClientError::NoRoute(route.topic.clone()))?;
            let started = Instant::now();
            let result = self.send_once(route, &queue, payload, uniq).await;
            let latency = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
            self.selector.borrow_mut().record(
                &queue.broker_name,
                latency,
                result.is_err(),
                now_ms(),
            );
            match result {
                Ok(r) => return Ok(r),
                Err(e) if e.is_retriable_for_send() => {
                    last_failed = Some(queue.broker_name.clone());
                    last_error = e;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error)
    }

    fn build_request(
        &self,
        queue: &MessageQueue,
        payload: &Payload<'_>,
    ) -> ClientResult<RemotingCommand> {
        let (code, properties, flag, body, batch) = match payload {
            Payload::Single {
                message,
                properties,
            } => (
                request_code::SEND_MESSAGE_V2,
                *properties,
                message.flag,
                message.body.clone(),
                false,
            ),
            Payload::Batch {
                body,
                properties,
                flag,
            } => (
                request_code::SEND_BATCH_MESSAGE,
                *properties,
                *flag,
                Bytes::clone(body),
                true,
            ),
        };
        let header = SendMessageRequestHeader {
            producer_group: self.config.group.clone(),
            topic: queue.topic.clone(),
            default_topic: AUTO_CREATE_TOPIC_KEY.to_string(),
            default_topic_queue_nums: DEFAULT_TOPIC_QUEUE_NUMS,
            queue_id: queue.queue_id,
            sys_flag: 0,
            born_timestamp: now_ms(),
            flag,
            properties: Some(properties.to_string()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(batch),
            broker_name: Some(queue.broker_name.clone()),
        };
        RemotingCommand::new_request(code, ExtFields::with_capacity(16))
            .with_send_header(&header)
            .map(|cmd| cmd.with_body(body))
            .map_err(|source| ClientError::BadHeader {
                addr: String::new(),
                source,
            })
    }

    async fn send_once(
        &self,
        route: &TopicRoute,
        queue: &MessageQueue,
        payload: &Payload<'_>,
        uniq: &str,
    ) -> ClientResult<SendResult> {
        let addr = route
            .master_addr(&queue.broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddress(queue.broker_name.clone()))?;
        let request = self.build_request(queue, payload)?;
        let response = self
            .transport
            .invoke(addr, request, self.config.send_timeout)
            .await?;
        parse_send_response(addr, queue, uniq, &response)
    }

    /// Send one message to the queue `choose` picks among the topic's write queues (ordered
    /// messages: the same key must always pick the same queue). One attempt, no retry.
    pub async fn send_to_selected_queue(
        &self,
        message: &Message,
        choose: impl FnOnce(&[MessageQueue]) -> usize,
    ) -> ClientResult<SendResult> {
        message.validate(self.config.body_size_bytes_max)?;
        let route = self.route(&message.topic).await?;
        if route.write_queues.is_empty() {
            return Err(ClientError::NoRoute(message.topic.clone()));
        }
        let index = choose(&route.write_queues) % route.write_queues.len();
        let queue = route.write_queues[index].clone();
        let uniq = self.next_uniq_id();
        let properties = message.properties_string(Some(&uniq));
        let payload = Payload::Single {
            message,
            properties: &properties,
        };
        self.send_once(&route, &queue, &payload, &uniq).await
    }

    /// Send with the oneway flag: no answer, no retry, no result.
    pub async fn send_oneway(&self, message: &Message) -> ClientResult<()> {
        message.validate(self.config.body_size_bytes_max)?;
        let route = self.route(&message.topic).await?;
        let queue = self
            .selector
            .borrow()
            .select(&route.write_queues, None, now_ms())
            .cloned()
            .ok_or_else(|| ClientError::NoRoute(message.topic.clone()))?;
        let addr = route
            .master_addr(&queue.broker_name)
            .ok_or_else(|| ClientError::NoBrokerAddress(queue.broker_name.clone()))?;
        let uniq = self.next_uniq_id();
        let properties = message.properties_string(Some(&uniq));
        let request = self.build_request(
            &queue,
            &Payload::Single {
                message,
                properties: &properties,
            },
        )?;
        self.transport.invoke_oneway(addr, request).await
    }

    /// Send several messages of one topic as one `SEND_BATCH_MESSAGE`, with sync retries.
    pub async fn send_batch(&self, messages: &[Message]) -> ClientResult<SendResult> {
        let Some(first) = messages.first() else {
            return Err(ClientError::InvalidArgument("empty batch".into()));
        };
        let mut uniq_ids = Vec::with_capacity(messages.len());
        let mut entry_properties = Vec::with_capacity(messages.len());
        for m in messages {
            m.validate(self.config.body_size_bytes_max)?;
            if m.topic != first.topic {
                return Err(ClientError::InvalidArgument(
                    "a batch must have one topic".into(),
                ));
            }
            if m.topic.starts_with("%RETRY%") {
                return Err(ClientError::InvalidArgument(
                    "a batch cannot go to a retry topic".into(),
                ));
            }
            let uniq = self.next_uniq_id();
            entry_properties.push(m.properties_string(Some(&uniq)));
            uniq_ids.push(uniq);
        }
        let mut body = Vec::new();
        encode_batch(
            messages
                .iter()
                .zip(&entry_properties)
                .map(|(m, p)| BatchEntry {
                    flag: m.flag,
                    body: &m.body,
                    properties: p,
                }),
            &mut body,
        )
        .map_err(|e| ClientError::InvalidArgument(e.to_string()))?;
        if body.len() > self.config.body_size_bytes_max {
            return Err(ClientError::InvalidArgument(format!(
                "batch of {} bytes exceeds {}",
                body.len(),
                self.config.body_size_bytes_max
            )));
        }
        let body = Bytes::from(body);
        let batch_properties = properties::encode([(
            keys::WAIT,
            if first.wait_store_msg_ok {
                "true"
            } else {
                "false"
            },
        )]);
        let route = self.route(&first.topic).await?;
        let uniq = uniq_ids.join(",");
        let payload = Payload::Batch {
            body: &body,
            properties: &batch_properties,
            flag: 0,
        };
        self.send_with_retries(
            &route,
            &payload,
            &uniq,
            self.config.retries.saturating_add(1),
        )
        .await
    }

    /// Send without waiting for the answer: waits only for a slot in the in-flight window,
    /// then `callback` gets the result later. Retries `async_retries` times.
    pub async fn send_async(
        self: &Rc<Self>,
        message: Message,
        callback: impl FnOnce(ClientResult<SendResult>) + 'static,
    ) {
        let permit = match self.window.acquire_static_permit(1).await {
            Ok(p) => p,
            Err(_) => {
                callback(Err(ClientError::Shutdown));
                return;
            }
        };
        self.in_flight.set(self.in_flight.get() + 1);
        let me = Rc::clone(self);
        glommio::spawn_local(async move {
            let attempts = me.config.async_retries.saturating_add(1);
            let result = me.send_with_attempts(&message, attempts).await;
            me.in_flight.set(me.in_flight.get() - 1);
            drop(permit);
            callback(result);
        })
        .detach();
    }

    /// Async sends currently in flight.
    pub fn async_in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Wait until every async send has completed.
    pub async fn wait_for_async_sends(&self) {
        let all = self.config.async_in_flight_max.max(1) as u64;
        // Taking every slot means no send holds one; give them straight back.
        if self.window.acquire(all).await.is_ok() {
            self.window.signal(all);
        }
    }
}

/// Read a SEND response: the stored statuses give a result, every other code an error.
fn parse_send_response(
    addr: &str,
    queue: &MessageQueue,
    uniq: &str,
    response: &RemotingCommand,
) -> ClientResult<SendResult> {
    let Some(status) = SendStatus::from_code(response.code) else {
        return Err(broker_error(addr, response));
    };
    let header: SendMessageResponseHeader = reply_header(addr, response)?;
    Ok(SendResult {
        status,
        msg_id: uniq.to_string(),
        offset_msg_id: header.msg_id,
        queue: MessageQueue::new(&queue.topic, &queue.broker_name, header.queue_id),
        queue_offset: header.queue_offset,
    })
}

/// Run `tick` every `interval` while the owner lives and is not shut down.
pub(crate) async fn periodic<P: ShutdownFlag + 'static>(
    owner: Weak<P>,
    interval: Duration,
    tick: impl Fn(Rc<P>) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) {
    loop {
        glommio::timer::sleep(interval).await;
        let Some(p) = owner.upgrade() else { return };
        if p.is_shut_down() {
            return;
        }
        tick(p).await;
    }
}

/// Lets [`periodic`] stop with its owner.
pub(crate) trait ShutdownFlag {
    fn is_shut_down(&self) -> bool;
}

impl<T: Transport + 'static> ShutdownFlag for Producer<T> {
    fn is_shut_down(&self) -> bool {
        self.shut_down.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{run_local, FakeCluster, FakeTransport, SendBehaviour};
    use crate::route::tests::route_data;
    use rmq_protocol::message::batch::decode_batch;

    const A: &str = "10.0.0.1:10911";
    const B: &str = "10.0.0.2:10911";

    fn cluster() -> Rc<FakeCluster> {
        let c = FakeCluster::new();
        c.routes
            .borrow_mut()
            .insert("T".into(), route_data(&[("a", A, 2, 6), ("b", B, 2, 6)]));
        c
    }

    fn producer(c: &Rc<FakeCluster>, fault: bool) -> Rc<Producer<FakeTransport>> {
        let mut config = ProducerConfig::new("PG", "ns:9876");
        config.latency_fault_enabled = fault;
        config.async_in_flight_max = 4;
        Producer::new(config, Rc::new(FakeTransport(Rc::clone(c)))).unwrap()
    }

    fn sends_to(c: &FakeCluster, addr: &str) -> usize {
        c.seen(request_code::SEND_MESSAGE_V2)
            .iter()
            .filter(|(a, _)| a == addr)
            .count()
    }

    #[test]
    fn retriable_failures_move_to_another_broker() {
        run_local(|| async {
            let c = cluster();
            c.send_behaviour
                .borrow_mut()
                .insert(A.into(), SendBehaviour::Reply(response_code::SYSTEM_BUSY));
            let p = producer(&c, false);
            for _ in 0..10 {
                let r = p.send(&Message::new("T", &b"x"[..])).await.unwrap();
                assert_eq!(r.queue.broker_name, "b");
                assert_eq!(r.status, SendStatus::SendOk);
                assert_eq!(r.offset_msg_id.len(), 32);
            }
            // Every attempt on A was followed by one on B; never two on A for one message.
            let log: Vec<String> = c
                .seen(request_code::SEND_MESSAGE_V2)
                .into_iter()
                .map(|(a, _)| a)
                .collect();
            for pair in log.windows(2) {
                assert!(!(pair[0] == A && pair[1] == A), "{log:?}");
            }
            assert_eq!(sends_to(&c, B), 10);
        });
    }

    #[test]
    fn non_retriable_codes_fail_at_once_and_retries_are_bounded() {
        run_local(|| async {
            let c = cluster();
            for addr in [A, B] {
                c.send_behaviour.borrow_mut().insert(
                    addr.into(),
                    SendBehaviour::Reply(response_code::MESSAGE_ILLEGAL),
                );
            }
            let p = producer(&c, false);
            let e = p.send(&Message::new("T", &b"x"[..])).await.unwrap_err();
            assert!(matches!(e, ClientError::Broker { code: 13, .. }), "{e}");
            assert_eq!(c.seen(request_code::SEND_MESSAGE_V2).len(), 1);

            for addr in [A, B] {
                c.send_behaviour
                    .borrow_mut()
                    .insert(addr.into(), SendBehaviour::Timeout);
            }
            let e = p.send(&Message::new("T", &b"x"[..])).await.unwrap_err();
            assert!(matches!(e, ClientError::Timeout { .. }), "{e}");
            // 1 + retries (2) attempts.
            assert_eq!(c.seen(request_code::SEND_MESSAGE_V2).len(), 1 + 3);
        });
    }

    #[test]
    fn stored_but_not_flushed_is_a_result_not_an_error() {
        run_local(|| async {
            let c = cluster();
            c.routes
                .borrow_mut()
                .insert("T".into(), route_data(&[("a", A, 1, 6)]));
            c.send_behaviour.borrow_mut().insert(
                A.into(),
                SendBehaviour::Stored(response_code::FLUSH_DISK_TIMEOUT),
            );
            let p = producer(&c, false);
            let r = p.send(&Message::new("T", &b"x"[..])).await.unwrap();
            assert_eq!(r.status, SendStatus::FlushDiskTimeout);
            // Not retried: the message is stored.
            assert_eq!(c.seen(request_code::SEND_MESSAGE_V2).len(), 1);
            // A stored status without the header fields is malformed: an error, not a panic.
            c.send_behaviour.borrow_mut().insert(
                A.into(),
                SendBehaviour::Reply(response_code::FLUSH_DISK_TIMEOUT),
            );
            let e = p.send(&Message::new("T", &b"x"[..])).await.unwrap_err();
            assert!(matches!(e, ClientError::BadHeader { .. }), "{e}");
        });
    }

    #[test]
    fn latency_fault_tolerance_avoids_a_failed_broker_afterwards() {
        run_local(|| async {
            let c = cluster();
            c.send_behaviour
                .borrow_mut()
                .insert(A.into(), SendBehaviour::Timeout);
            let p = producer(&c, true);
            for _ in 0..20 {
                p.send(&Message::new("T", &b"x"[..])).await.unwrap();
            }
            // One failed attempt isolates A for 10 minutes: at most one send reached it.
            assert_eq!(sends_to(&c, A), 1);
            assert_eq!(sends_to(&c, B), 20);
        });
    }

    #[test]
    fn unknown_topic_uses_the_auto_create_route() {
        run_local(|| async {
            let c = cluster();
            c.routes
                .borrow_mut()
                .insert(AUTO_CREATE_TOPIC_KEY.into(), route_data(&[("a", A, 8, 7)]));
            let p = producer(&c, false);
            let r = p.send(&Message::new("NewTopic", &b"x"[..])).await.unwrap();
            assert_eq!(r.queue.topic, "NewTopic");
            let route = p.route("NewTopic").await.unwrap();
            // min(defaultTopicQueueNums 4, template's 8).
            assert_eq!(route.write_queues.len(), 4);
            c.routes.borrow_mut().clear();
            let p = producer(&c, false);
            assert!(matches!(
                p.send(&Message::new("Nope", &b"x"[..])).await,
                Err(ClientError::NoRoute(_))
            ));
        });
    }

    #[test]
    fn batch_selector_oneway_and_async_sends() {
        run_local(|| async {
            let c = cluster();
            let p = producer(&c, false);
            let batch: Vec<Message> = (0..5)
                .map(|i| Message::new("T", format!("m{i}")).with_keys(format!("k{i}")))
                .collect();
            let r = p.send_batch(&batch).await.unwrap();
            assert_eq!(r.msg_id.split(',').count(), 5);
            let stored = c
                .queues
                .borrow()
                .values()
                .flatten()
                .cloned()
                .collect::<Vec<_>>();
            assert_eq!(stored.len(), 1);
            let entries = decode_batch(&stored[0]).unwrap();
            assert_eq!(entries.len(), 5);
            assert_eq!(entries[3].body, b"m3");
            assert_eq!(
                properties::get(entries[3].properties, keys::KEYS),
                Some("k3")
            );
            assert!(properties::get(entries[3].properties, keys::UNIQ_KEY).is_some());
            assert!(p
                .send_batch(&[Message::new("T", &b"x"[..]), Message::new("U", &b"y"[..])])
                .await
                .is_err());

            // Ordered: the selector's choice is the queue used.
            for _ in 0..3 {
                let r = p
                    .send_to_selected_queue(&Message::new("T", &b"o"[..]), |qs| {
                        qs.iter()
                            .position(|q| q.broker_name == "b" && q.queue_id == 1)
                            .unwrap()
                    })
                    .await
                    .unwrap();
                assert_eq!((r.queue.broker_name.as_str(), r.queue.queue_id), ("b", 1));
            }

            p.send_oneway(&Message::new("T", &b"w"[..])).await.unwrap();
            assert_eq!(c.oneway_count.get(), 1);

            let done = Rc::new(Cell::new(0));
            let max_in_flight = Rc::new(Cell::new(0));
            for _ in 0..50 {
                let done = Rc::clone(&done);
                p.send_async(Message::new("T", &b"a"[..]), move |r| {
                    assert!(r.is_ok());
                    done.set(done.get() + 1);
                })
                .await;
                max_in_flight.set(max_in_flight.get().max(p.async_in_flight()));
            }
            p.wait_for_async_sends().await;
            assert_eq!(done.get(), 50);
            assert!(max_in_flight.get() <= 4, "{}", max_in_flight.get());
            assert!(p.send(&Message::new("T", Bytes::new())).await.is_err());
            p.shutdown().await;
            assert!(matches!(
                p.send(&Message::new("T", &b"x"[..])).await,
                Err(ClientError::Shutdown)
            ));
        });
    }
}
