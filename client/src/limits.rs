//! Named limits and defaults of the client. Limits bound what a peer (or a caller) can make
//! the client hold in memory; defaults are upstream's 4.x client values (seeds-digest
//! Appendix A) unless a comment says otherwise.

use std::time::Duration;

/// Bytes read from a socket per read call (and the initial read buffer).
pub const SOCKET_READ_CHUNK_BYTES: usize = 64 * 1024;

/// Requests waiting for an answer on one connection. Java's async semaphore defaults to 65535;
/// a bench run never needs more than its in-flight window, so a lower cap bounds the pending
/// table and turns a runaway caller into [`crate::ClientError::TooManyRequests`].
pub const CONNECTION_PENDING_REQUESTS_MAX: usize = 65_536;

/// Bytes buffered for writing on one connection before senders wait for the writer to drain.
pub const CONNECTION_WRITE_BUFFER_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Connections opened per broker address by default.
pub const CONNECTIONS_PER_ADDR_DEFAULT: usize = 1;

/// Default timeout of a request/response call (`sendMsgTimeout`).
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_millis(3000);

/// Timeout of a TCP connect.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(3000);

/// How often routes are refreshed from the NameServer (`pollNameServerInterval`).
pub const ROUTE_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// How often heartbeats go to brokers (`heartbeatBrokerInterval`).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// How often consumer offsets are committed (`persistConsumerOffsetInterval`).
pub const OFFSET_PERSIST_INTERVAL: Duration = Duration::from_secs(5);

/// How often the consumer re-balances without being told (upstream `RebalanceService`).
pub const REBALANCE_INTERVAL: Duration = Duration::from_secs(20);

/// Queues in a topic route we accept (sum over brokers); a route asking for more is refused.
pub const ROUTE_QUEUES_COUNT_MAX: usize = 65_536;

/// The auto-create template topic (`TBW102`).
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";

/// Queues a producer asks the broker to auto-create (`defaultTopicQueueNums`).
pub const DEFAULT_TOPIC_QUEUE_NUMS: i32 = 4;

/// Largest message body a producer sends (`maxMessageSize`).
pub const MESSAGE_BODY_SIZE_BYTES_MAX: usize =
    rmq_protocol::limits::MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX;

/// Retries of a failed synchronous send (`retryTimesWhenSendFailed`).
pub const SEND_RETRIES_DEFAULT: u32 = 2;

/// Messages a push consumer asks for per pull (`pullBatchSize`).
pub const PULL_BATCH_SIZE_DEFAULT: i32 = 32;

/// Cached messages per queue before pulling pauses (`pullThresholdForQueue`).
pub const PULL_THRESHOLD_FOR_QUEUE_DEFAULT: usize = 1000;

/// Cached body bytes per queue before pulling pauses (`pullThresholdSizeForQueue`, 100 MiB).
pub const PULL_THRESHOLD_SIZE_FOR_QUEUE_BYTES_DEFAULT: usize = 100 * 1024 * 1024;

/// Offset span of cached messages before a concurrent consumer pauses pulling
/// (`consumeConcurrentlyMaxSpan`).
pub const CONSUME_CONCURRENTLY_MAX_SPAN_DEFAULT: i64 = 2000;

/// Pause after flow control trips (`PULL_TIME_DELAY_MILLS_WHEN_FLOW_CONTROL`).
pub const PULL_DELAY_WHEN_FLOW_CONTROL: Duration = Duration::from_millis(50);

/// Pause after a failed pull (`PULL_TIME_DELAY_MILLS_WHEN_EXCEPTION`).
pub const PULL_DELAY_WHEN_EXCEPTION: Duration = Duration::from_millis(3000);

/// How long the broker may hold a pull with no new message (`brokerSuspendMaxTimeMillis`).
pub const BROKER_SUSPEND_MAX: Duration = Duration::from_millis(15_000);

/// Client-side timeout of a suspended pull (`CONSUMER_TIMEOUT_MILLIS_WHEN_SUSPEND`).
pub const PULL_TIMEOUT_WHEN_SUSPENDED: Duration = Duration::from_millis(30_000);

/// Pause before an orderly consumer retries a batch it asked to suspend
/// (`suspendCurrentQueueTimeMillis`).
pub const ORDERLY_SUSPEND_DELAY: Duration = Duration::from_millis(1000);

/// How often an orderly consumer renews its queue locks (upstream 20 s).
pub const ORDERLY_LOCK_INTERVAL: Duration = Duration::from_secs(20);

/// Largest consumer group list we accept from a broker (consumers in one group).
pub const GROUP_CONSUMERS_COUNT_MAX: usize = 65_536;
