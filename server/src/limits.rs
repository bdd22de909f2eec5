//! Named limits of the server: everything a peer can make a shard hold, queue or allocate.
//!
//! Protocol-level limits (frame, header, body sizes) live in `rmq_protocol::limits`; these are
//! the reactor's own. Names put the unit and qualifier last (style-anchors practice 4).

use std::time::Duration;

/// Most shards (executors) one process runs.
pub const SHARDS_COUNT_MAX: usize = 256;

/// Largest config or JSON state file read at startup (topics.json and friends can be large on
/// a broker with many topics; anything bigger is not ours).
pub const CONFIG_FILE_SIZE_BYTES_MAX: u64 = 256 * 1024 * 1024;

/// Requests one connection may have in flight by default before SYSTEM_BUSY. Java clients cap
/// themselves at 64 async + 256 oneway permits per client instance; long-polling pulls from one
/// push consumer can hold one per queue, so leave generous room above that.
pub const CONNECTION_IN_FLIGHT_REQUESTS_DEFAULT_MAX: usize = 4096;

/// Bytes of request frames one shard holds at once by default before SYSTEM_BUSY.
pub const SHARD_MEMORY_BUDGET_BYTES_DEFAULT: usize = 512 * 1024 * 1024;

/// Capacity of each cross-shard channel (one per ordered pair of shards).
pub const MESH_CHANNEL_CAPACITY: usize = 1024;

/// Room in a connection's outbound queue, beyond one slot per in-flight request, for
/// broker-initiated requests (NOTIFY_CONSUMER_IDS_CHANGED). Pushes that find the queue full are
/// dropped (they are hints; clients re-balance on their own every 20 s).
pub const CONNECTION_PUSH_QUEUE_CAPACITY: usize = 256;

/// Bytes read from a socket per read call (the buffer grows only to the announced, already
/// checked frame size).
pub const SOCKET_READ_CHUNK_BYTES: usize = 64 * 1024;

/// How often each shard checks for a termination signal.
pub const SIGNAL_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// How long shutdown waits for in-flight requests to finish.
pub const SHUTDOWN_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Most read or write queues of one topic (upstream has no hard cap; this keeps a bad admin
/// request from making us allocate per-queue state without bound).
pub const TOPIC_QUEUES_COUNT_MAX: u32 = 1024;

/// Most topics one NameServer or broker tracks.
pub const TOPICS_COUNT_MAX: usize = 1_000_000;

/// Most brokers (addresses) one NameServer tracks.
pub const BROKERS_COUNT_MAX: usize = 10_000;

/// Most KV entries one NameServer keeps across all namespaces.
pub const KV_ENTRIES_COUNT_MAX: usize = 100_000;

/// Timeout of one outbound request (REGISTER_BROKER, UNREGISTER_BROKER), as upstream's
/// `registerBrokerTimeoutMills` (24 s) bounded to keep shutdown prompt.
pub const OUTBOUND_REQUEST_TIMEOUT: Duration = Duration::from_secs(6);

const _: () =
    assert!(SHARD_MEMORY_BUDGET_BYTES_DEFAULT >= rmq_protocol::limits::FRAME_SIZE_BYTES_MAX);

/// Most subscription groups one broker keeps (configured or auto-created).
pub const GROUPS_COUNT_MAX: usize = 100_000;

/// Most (topic, group, queue) consumer-offset entries one broker keeps.
pub const OFFSET_ENTRIES_COUNT_MAX: usize = 10_000_000;

/// Most client channels (connections that sent a heartbeat) one broker tracks.
pub const CLIENT_CHANNELS_COUNT_MAX: usize = 100_000;

/// Most producer plus consumer groups in one heartbeat that the broker registers; a client
/// with more is registered for the first ones only.
pub const HEARTBEAT_GROUPS_COUNT_MAX: usize = 1024;

/// Most subscriptions one consumer group keeps.
pub const GROUP_SUBSCRIPTIONS_COUNT_MAX: usize = 4096;

/// How often the client registry drops channels silent for `channelExpiredTimeout`
/// (upstream `ClientHousekeepingService`).
pub const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);

/// Longest a pull is held for long polling, whatever `suspendTimeoutMillis` asks (clients send
/// 15 s for push and 20 s for lite pull; their own timeout is 30 s).
pub const PULL_SUSPEND_TIMEOUT_MAX: Duration = Duration::from_secs(60);

/// Share of physical memory behind the newest CommitLog byte within which a message counts as
/// still in memory (upstream `accessMessageInMemoryMaxRatio`, 40 %).
pub const MESSAGE_IN_MEMORY_RATIO_PERCENT: u64 = 40;

/// Most delay levels `messageDelayLevel` may name (upstream has 18; each is one queue of
/// `SCHEDULE_TOPIC_XXXX` and one delivery task).
pub const DELAY_LEVELS_COUNT_MAX: usize = 64;

/// Longest delay one level may have (upstream allows any; a year is far past any real use and
/// keeps the deadline arithmetic far from overflow).
pub const DELAY_LEVEL_DURATION_MAX: Duration = Duration::from_secs(366 * 24 * 3600);
