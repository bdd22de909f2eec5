//! Configuration: the broker.conf / namesrv properties file, the command line, and the typed
//! configs both binaries run with.
//!
//! Keys and defaults are upstream's (`BrokerConfig`, `MessageStoreConfig`, `NettyServerConfig`,
//! `NamesrvConfig`; protocol.md §9.2), so an existing `broker.conf` works unchanged, including the
//! misspelt 4.0–4.4 names `mapedFileSizeCommitLog` / `mapedFileSizeConsumeQueue`.
//!
//! Precedence, lowest first: built-in defaults, the `-c FILE` properties, then the command line
//! (`-n ADDR` and any `--key=value`). Unknown keys are kept and reported (Java ignores them too),
//! so a typo shows up in the startup log instead of failing silently.
//!
//! Invariants: a config file larger than [`CONFIG_FILE_SIZE_BYTES_MAX`] is refused before it is
//! read; every numeric value is parsed with range checks; nothing here panics on input.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::limits::{CONFIG_FILE_SIZE_BYTES_MAX, SHARDS_COUNT_MAX};

/// What can be wrong with a configuration.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The properties file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The properties file is larger than any sane config.
    #[error("config file {path} is {size} bytes, over the limit of {max}")]
    FileTooLarge { path: PathBuf, size: u64, max: u64 },
    /// A value does not parse as the key's type or is out of range.
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    /// A command-line argument is not understood.
    #[error("invalid argument {0:?} (expected -c FILE, -n ADDR, --standalone, --shards=N or --key=value)")]
    InvalidArgument(String),
    /// An option that needs a value was last on the command line.
    #[error("option {0} needs a value")]
    MissingValue(String),
}

/// A flat key/value map in Java `Properties` syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: BTreeMap<String, String>,
}

impl Properties {
    /// An empty map.
    pub fn new() -> Self {
        Properties::default()
    }

    /// Parse Java properties text: `key=value`, `key: value` or `key value`; `#` and `!`
    /// comments; a trailing backslash continues the line; `\t`, `\n`, `\\`, `\=`, `\:` and
    /// `\uXXXX` escapes. Java never rejects a properties file, so neither do we.
    pub fn parse(text: &str) -> Self {
        let mut props = Properties::new();
        let mut logical = String::new();
        for raw in text.lines() {
            let line = raw.trim_start();
            if logical.is_empty()
                && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
            {
                continue;
            }
            // An odd number of trailing backslashes continues the logical line.
            let trailing = line.chars().rev().take_while(|&c| c == '\\').count();
            if trailing % 2 == 1 {
                logical.push_str(&line[..line.len() - 1]);
                continue;
            }
            logical.push_str(line);
            let (key, value) = split_property(&logical);
            props.insert(unescape(&key), unescape(&value));
            logical.clear();
        }
        if !logical.is_empty() {
            let (key, value) = split_property(&logical);
            props.insert(unescape(&key), unescape(&value));
        }
        props
    }

    /// Read and parse a properties file, refusing one over the size limit.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if meta.len() > CONFIG_FILE_SIZE_BYTES_MAX {
            return Err(ConfigError::FileTooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
                max: CONFIG_FILE_SIZE_BYTES_MAX,
            });
        }
        let bytes = std::fs::read(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // Java reads properties as ISO-8859-1; lossy UTF-8 keeps ASCII configs exact.
        Ok(Properties::parse(&String::from_utf8_lossy(&bytes)))
    }

    /// Insert or replace a key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.entries.insert(key.into(), value.into());
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// All entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Overlay `other` on top of `self` (its values win).
    pub fn merge(&mut self, other: &Properties) {
        for (k, v) in other.iter() {
            self.insert(k, v);
        }
    }

    /// Parse `key` as `T`, or return `default` when absent. Values are trimmed, as Java's
    /// `MixAll.properties2Object` does.
    fn parse_or<T>(&self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::InvalidValue {
                    key: key.to_string(),
                    value: v.to_string(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Java's `Boolean.parseBoolean`: only "true" (any case) is true.
    fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key)
            .map_or(default, |v| v.trim().eq_ignore_ascii_case("true"))
    }

    fn string_or(&self, key: &str, default: &str) -> String {
        self.get(key)
            .map_or_else(|| default.to_string(), |v| v.trim().to_string())
    }
}

/// Split one logical line at the first unescaped `=`, `:` or whitespace.
fn split_property(line: &str) -> (String, String) {
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '=' | ':' | ' ' | '\t' => {
                let key = line[..i].to_string();
                let mut rest = line[i..].trim_start_matches([' ', '\t']);
                if c == ' ' || c == '\t' {
                    if let Some(r) = rest.strip_prefix(['=', ':']) {
                        rest = r;
                    }
                } else {
                    rest = &rest[1..];
                }
                return (key, rest.trim_start_matches([' ', '\t']).to_string());
            }
            _ => {}
        }
    }
    (line.to_string(), String::new())
}

/// Resolve Java properties escapes; a malformed `\u` keeps its text (Java would throw, but a
/// config typo should surface as an invalid value, not a crash).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == 4 => {
                        out.push(ch);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    _ => out.push_str("\\u"),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// The parsed command line of either binary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommandLine {
    /// `-c FILE`: the properties file.
    pub config_file: Option<PathBuf>,
    /// `--standalone`: run the embedded NameServer in the broker process.
    pub standalone: bool,
    /// `-p`: print the effective configuration and exit (as upstream's `-p`).
    pub print_config: bool,
    /// `-n ADDR` and every `--key=value`, already in properties form (`-n` becomes
    /// `namesrvAddr`, `--shards N` becomes `shards`).
    pub overrides: Properties,
}

impl CommandLine {
    /// Parse the arguments after the program name.
    pub fn parse<I, S>(args: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut cl = CommandLine::default();
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let mut value_of = |name: &str| {
                args.next()
                    .ok_or_else(|| ConfigError::MissingValue(name.to_string()))
            };
            match arg.as_str() {
                "-c" | "--configFile" => cl.config_file = Some(PathBuf::from(value_of(&arg)?)),
                "-n" | "--namesrvAddr" => {
                    let v = value_of(&arg)?;
                    cl.overrides.insert("namesrvAddr", v);
                }
                "--shards" => {
                    let v = value_of(&arg)?;
                    cl.overrides.insert("shards", v);
                }
                "--standalone" => cl.standalone = true,
                "-p" | "--printConfigItem" => cl.print_config = true,
                _ => {
                    let Some(kv) = arg.strip_prefix("--") else {
                        return Err(ConfigError::InvalidArgument(arg));
                    };
                    let Some((k, v)) = kv.split_once('=') else {
                        return Err(ConfigError::InvalidArgument(arg));
                    };
                    if k.is_empty() {
                        return Err(ConfigError::InvalidArgument(arg));
                    }
                    if k == "standalone" {
                        cl.standalone = v.trim().eq_ignore_ascii_case("true");
                    } else {
                        cl.overrides.insert(k, v);
                    }
                }
            }
        }
        Ok(cl)
    }

    /// The effective properties: the file (if any) with the command line on top.
    pub fn properties(&self) -> Result<Properties, ConfigError> {
        let mut props = match &self.config_file {
            Some(path) => Properties::load(path)?,
            None => Properties::new(),
        };
        props.merge(&self.overrides);
        Ok(props)
    }
}

/// `flushDiskType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// Acknowledge once written; flushed every `flushIntervalCommitLog`.
    AsyncFlush,
    /// Acknowledge after fdatasync (group commit).
    SyncFlush,
}

impl FlushDiskType {
    /// The upstream name.
    pub const fn name(self) -> &'static str {
        match self {
            FlushDiskType::AsyncFlush => "ASYNC_FLUSH",
            FlushDiskType::SyncFlush => "SYNC_FLUSH",
        }
    }
}

impl FromStr for FlushDiskType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ASYNC_FLUSH" => Ok(FlushDiskType::AsyncFlush),
            "SYNC_FLUSH" => Ok(FlushDiskType::SyncFlush),
            _ => Err("expected ASYNC_FLUSH or SYNC_FLUSH".to_string()),
        }
    }
}

/// `brokerRole`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Master, replication acknowledged asynchronously.
    AsyncMaster,
    /// Master, replication acknowledged synchronously.
    SyncMaster,
    /// Read-only replica.
    Slave,
}

impl BrokerRole {
    /// The upstream name.
    pub const fn name(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }
}

impl FromStr for BrokerRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ASYNC_MASTER" => Ok(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Ok(BrokerRole::SyncMaster),
            "SLAVE" => Ok(BrokerRole::Slave),
            _ => Err("expected ASYNC_MASTER, SYNC_MASTER or SLAVE".to_string()),
        }
    }
}

/// Settings of the reactor itself (not upstream keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Executors to run, one per core (`--shards`, default: every core available).
    pub shards: usize,
    /// Bytes of request frames a shard holds at once before answering SYSTEM_BUSY
    /// (`shardMemoryBudgetBytes`).
    pub shard_memory_budget_bytes: usize,
    /// Requests one connection may have in flight before SYSTEM_BUSY
    /// (`connectionInFlightRequestsMax`).
    pub connection_in_flight_requests_max: usize,
    /// Idle seconds before a connection is closed (`serverChannelMaxIdleTimeSeconds`).
    pub idle_timeout_seconds: u64,
}

impl RuntimeConfig {
    /// Read from properties, with defaults.
    pub fn from_properties(props: &Properties) -> Result<Self, ConfigError> {
        let available = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let shards: usize = props.parse_or("shards", available)?;
        if shards == 0 || shards > SHARDS_COUNT_MAX {
            return Err(ConfigError::InvalidValue {
                key: "shards".into(),
                value: shards.to_string(),
                reason: format!("must be 1..={SHARDS_COUNT_MAX}"),
            });
        }
        let in_flight = props.parse_or(
            "connectionInFlightRequestsMax",
            crate::limits::CONNECTION_IN_FLIGHT_REQUESTS_DEFAULT_MAX,
        )?;
        if in_flight == 0 {
            return Err(ConfigError::InvalidValue {
                key: "connectionInFlightRequestsMax".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        let budget = props.parse_or(
            "shardMemoryBudgetBytes",
            crate::limits::SHARD_MEMORY_BUDGET_BYTES_DEFAULT,
        )?;
        if budget < rmq_protocol::limits::FRAME_SIZE_BYTES_MAX {
            return Err(ConfigError::InvalidValue {
                key: "shardMemoryBudgetBytes".into(),
                value: budget.to_string(),
                reason: "must hold at least one maximal frame (16 MiB)".into(),
            });
        }
        let idle: u64 = props.parse_or("serverChannelMaxIdleTimeSeconds", 120)?;
        if idle == 0 {
            return Err(ConfigError::InvalidValue {
                key: "serverChannelMaxIdleTimeSeconds".into(),
                value: "0".into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(RuntimeConfig {
            shards,
            shard_memory_budget_bytes: budget,
            connection_in_flight_requests_max: in_flight,
            idle_timeout_seconds: idle,
        })
    }
}

/// The NameServer's settings (`NamesrvConfig` + `NettyServerConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamesrvConfig {
    /// Address to listen on (`listenAddress`, ours; default all interfaces).
    pub listen_address: String,
    /// `listenPort` (9876).
    pub listen_port: u16,
    /// `kvConfigPath` (`~/namesrv/kvConfig.json`).
    pub kv_config_path: PathBuf,
    /// `orderMessageEnable`: fill `orderTopicConf` in routes.
    pub order_message_enable: bool,
    /// `scanNotActiveBrokerInterval` in ms (protocol.md §9.2: 5000).
    pub scan_not_active_broker_interval_ms: u64,
    /// Milliseconds of silence after which a broker is dropped (upstream's fixed 120 s).
    pub broker_channel_expired_time_ms: u64,
    /// `enableAllTopicList`.
    pub enable_all_topic_list: bool,
    /// `needWaitForService`.
    pub need_wait_for_service: bool,
    /// `waitSecondsForService`.
    pub wait_seconds_for_service: u64,
}

impl NamesrvConfig {
    /// Read from properties, with upstream defaults.
    pub fn from_properties(props: &Properties) -> Result<Self, ConfigError> {
        let home = home_dir();
        Ok(NamesrvConfig {
            listen_address: props.string_or("listenAddress", "0.0.0.0"),
            listen_port: props.parse_or("listenPort", 9876)?,
            kv_config_path: props.get("kvConfigPath").map_or_else(
                || home.join("namesrv").join("kvConfig.json"),
                |p| PathBuf::from(p.trim()),
            ),
            order_message_enable: props.bool_or("orderMessageEnable", false),
            scan_not_active_broker_interval_ms: props
                .parse_or("scanNotActiveBrokerInterval", 5000)?,
            broker_channel_expired_time_ms: props.parse_or("brokerChannelExpiredTime", 120_000)?,
            enable_all_topic_list: props.bool_or("enableAllTopicList", true),
            need_wait_for_service: props.bool_or("needWaitForService", false),
            wait_seconds_for_service: props.parse_or("waitSecondsForService", 45)?,
        })
    }
}

/// The broker's settings (`BrokerConfig` + `MessageStoreConfig` + `NettyServerConfig`), the
/// subset this broker acts on. Other upstream keys are accepted and kept in `properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools)] // mirrors upstream's flat boolean switches
pub struct BrokerConfig {
    /// `brokerClusterName`.
    pub broker_cluster_name: String,
    /// `brokerName` (default: the host name).
    pub broker_name: String,
    /// `brokerId` (forced to 0 for masters).
    pub broker_id: u64,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// `namesrvAddr`, split on `;`.
    pub namesrv_addrs: Vec<String>,
    /// `brokerIP1`: the address published to NameServers and clients.
    pub broker_ip1: String,
    /// `brokerIP2`: the HA address.
    pub broker_ip2: String,
    /// Address to bind (`listenAddress`, ours; default all interfaces).
    pub listen_address: String,
    /// `listenPort`.
    pub listen_port: u16,
    /// `haListenPort`.
    pub ha_listen_port: u16,
    /// `storePathRootDir`.
    pub store_path_root_dir: PathBuf,
    /// `storePathCommitLog`.
    pub store_path_commit_log: PathBuf,
    /// `mappedFileSizeCommitLog` (or the 4.0–4.4 spelling `mapedFileSizeCommitLog`).
    pub mapped_file_size_commit_log: u64,
    /// `mappedFileSizeConsumeQueue` (or `mapedFileSizeConsumeQueue`).
    pub mapped_file_size_consume_queue: u64,
    /// `flushDiskType`.
    pub flush_disk_type: FlushDiskType,
    /// `flushIntervalCommitLog` (ms).
    pub flush_interval_commit_log_ms: u64,
    /// `pageCacheKeepBytes` (ours; -1 = unbounded, the default): in ASYNC_FLUSH, the newest
    /// synced CommitLog bytes per shard kept in the page cache; older synced pages are dropped
    /// after each periodic sync. For VMs whose free memory goes back to the hypervisor; see
    /// `rmq_engine::StoreConfig::page_cache_keep_bytes`.
    pub page_cache_keep_bytes: u64,
    /// `syncFlushTimeout` (ms).
    pub sync_flush_timeout_ms: u64,
    /// `fileReservedTime` (hours).
    pub file_reserved_time_hours: u64,
    /// `deleteWhen`.
    pub delete_when: String,
    /// `maxMessageSize`.
    pub max_message_size: usize,
    /// `autoCreateTopicEnable`.
    pub auto_create_topic_enable: bool,
    /// `defaultTopicQueueNums`.
    pub default_topic_queue_nums: u32,
    /// `autoCreateSubscriptionGroup`.
    pub auto_create_subscription_group: bool,
    /// `clusterTopicEnable`.
    pub cluster_topic_enable: bool,
    /// `brokerTopicEnable`.
    pub broker_topic_enable: bool,
    /// `traceTopicEnable`.
    pub trace_topic_enable: bool,
    /// `msgTraceTopicName`.
    pub msg_trace_topic_name: String,
    /// `brokerPermission`.
    pub broker_permission: u32,
    /// `notifyConsumerIdsChangedEnable`.
    pub notify_consumer_ids_changed_enable: bool,
    /// `registerNameServerPeriod` (ms), clamped to 10–60 s as upstream does.
    pub register_name_server_period_ms: u64,
    /// `channelExpiredTimeout` (ms): clients silent this long are dropped.
    pub channel_expired_timeout_ms: u64,
    /// `flushConsumerOffsetInterval` (ms).
    pub flush_consumer_offset_interval_ms: u64,
    /// `longPollingEnable`.
    pub long_polling_enable: bool,
    /// `shortPollingTimeMills`.
    pub short_polling_time_ms: u64,
    /// `transferMsgByHeap`: copy pulled records into one reply buffer instead of sending the
    /// store's buffers as they are. Upstream defaults to true; we default to false (zero-copy).
    pub transfer_msg_by_heap: bool,
    /// `defaultQueryMaxNum`.
    pub default_query_max_num: u32,
    /// `messageIndexEnable`.
    pub message_index_enable: bool,
    /// `regionId`.
    pub region_id: String,
    /// `traceOn`.
    pub trace_on: bool,
    /// `messageDelayLevel`: the delay of level 1, 2, ... (default "1s 5s 10s 30s 1m 2m 3m 4m
    /// 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h").
    pub message_delay_levels: Vec<Duration>,
    /// `flushDelayOffsetInterval` (ms): how often delivery progress of delay levels is saved.
    pub flush_delay_offset_interval_ms: u64,
    /// Every key given, for `-p` and the startup log.
    pub properties: Properties,
}

/// Keys this broker understands; others are reported at startup as ignored.
pub const BROKER_KEYS_KNOWN: &[&str] = &[
    "brokerClusterName",
    "brokerName",
    "brokerId",
    "brokerRole",
    "namesrvAddr",
    "brokerIP1",
    "brokerIP2",
    "listenAddress",
    "listenPort",
    "haListenPort",
    "storePathRootDir",
    "storePathCommitLog",
    "mappedFileSizeCommitLog",
    "mapedFileSizeCommitLog",
    "mappedFileSizeConsumeQueue",
    "mapedFileSizeConsumeQueue",
    "flushDiskType",
    "flushIntervalCommitLog",
    "pageCacheKeepBytes",
    "syncFlushTimeout",
    "fileReservedTime",
    "deleteWhen",
    "maxMessageSize",
    "autoCreateTopicEnable",
    "defaultTopicQueueNums",
    "autoCreateSubscriptionGroup",
    "clusterTopicEnable",
    "brokerTopicEnable",
    "traceTopicEnable",
    "msgTraceTopicName",
    "brokerPermission",
    "notifyConsumerIdsChangedEnable",
    "registerNameServerPeriod",
    "channelExpiredTimeout",
    "flushConsumerOffsetInterval",
    "longPollingEnable",
    "shortPollingTimeMills",
    "transferMsgByHeap",
    "defaultQueryMaxNum",
    "messageIndexEnable",
    "regionId",
    "traceOn",
    "messageDelayLevel",
    "flushDelayOffsetInterval",
    "shards",
    "shardMemoryBudgetBytes",
    "connectionInFlightRequestsMax",
    "serverChannelMaxIdleTimeSeconds",
];

impl BrokerConfig {
    /// Read from properties, with upstream defaults.
    pub fn from_properties(props: &Properties) -> Result<Self, ConfigError> {
        let broker_role: BrokerRole = props.parse_or("brokerRole", BrokerRole::AsyncMaster)?;
        let mut broker_id: u64 = props.parse_or("brokerId", 0)?;
        if broker_role != BrokerRole::Slave {
            // Upstream BrokerStartup forces masters to id 0.
            broker_id = 0;
        } else if broker_id == 0 {
            return Err(ConfigError::InvalidValue {
                key: "brokerId".into(),
                value: "0".into(),
                reason: "a SLAVE needs a brokerId above 0".into(),
            });
        }
        let listen_port: u16 = props.parse_or("listenPort", 10911)?;
        if listen_port < 3 {
            // The VIP channel listens on listenPort - 2.
            return Err(ConfigError::InvalidValue {
                key: "listenPort".into(),
                value: listen_port.to_string(),
                reason: "must be at least 3 (the VIP port is listenPort - 2)".into(),
            });
        }
        let ha_default = listen_port.checked_add(1).unwrap_or(listen_port);
        let root = props
            .get("storePathRootDir")
            .map_or_else(|| home_dir().join("store"), |p| PathBuf::from(p.trim()));
        let commit_log = props
            .get("storePathCommitLog")
            .map_or_else(|| root.join("commitlog"), |p| PathBuf::from(p.trim()));
        // The current spelling wins over the 4.0–4.4 one when both are given.
        let cl_size_key = if props.get("mappedFileSizeCommitLog").is_some() {
            "mappedFileSizeCommitLog"
        } else {
            "mapedFileSizeCommitLog"
        };
        let cq_size_key = if props.get("mappedFileSizeConsumeQueue").is_some() {
            "mappedFileSizeConsumeQueue"
        } else {
            "mapedFileSizeConsumeQueue"
        };
        let local_ip = "127.0.0.1".to_string();
        let broker_ip1 = props.string_or("brokerIP1", &local_ip);
        let register_period: u64 = props.parse_or("registerNameServerPeriod", 30_000)?;
        let max_message_size: usize = props.parse_or("maxMessageSize", 4 * 1024 * 1024)?;
        if max_message_size == 0 || max_message_size > rmq_protocol::limits::BODY_SIZE_BYTES_MAX {
            return Err(ConfigError::InvalidValue {
                key: "maxMessageSize".into(),
                value: max_message_size.to_string(),
                reason: format!("must be 1..={}", rmq_protocol::limits::BODY_SIZE_BYTES_MAX),
            });
        }
        let default_topic_queue_nums: u32 = props.parse_or("defaultTopicQueueNums", 8)?;
        if default_topic_queue_nums == 0
            || default_topic_queue_nums > crate::limits::TOPIC_QUEUES_COUNT_MAX
        {
            return Err(ConfigError::InvalidValue {
                key: "defaultTopicQueueNums".into(),
                value: default_topic_queue_nums.to_string(),
                reason: format!("must be 1..={}", crate::limits::TOPIC_QUEUES_COUNT_MAX),
            });
        }
        let cluster: String = props.string_or("brokerClusterName", "DefaultCluster");
        Ok(BrokerConfig {
            broker_name: props.string_or("brokerName", &host_name()),
            broker_id,
            broker_role,
            namesrv_addrs: props
                .get("namesrvAddr")
                .map(|v| {
                    v.split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            broker_ip2: props.string_or("brokerIP2", &broker_ip1),
            broker_ip1,
            listen_address: props.string_or("listenAddress", "0.0.0.0"),
            listen_port,
            ha_listen_port: props.parse_or("haListenPort", ha_default)?,
            store_path_root_dir: root,
            store_path_commit_log: commit_log,
            mapped_file_size_commit_log: props.parse_or(cl_size_key, 1_073_741_824)?,
            mapped_file_size_consume_queue: props.parse_or(cq_size_key, 6_000_000)?,
            flush_disk_type: props.parse_or("flushDiskType", FlushDiskType::AsyncFlush)?,
            flush_interval_commit_log_ms: props.parse_or("flushIntervalCommitLog", 500)?,
            // Negative (the default -1): unbounded.
            page_cache_keep_bytes: u64::try_from(props.parse_or::<i64>("pageCacheKeepBytes", -1)?)
                .unwrap_or(u64::MAX),
            sync_flush_timeout_ms: props.parse_or("syncFlushTimeout", 5000)?,
            file_reserved_time_hours: props.parse_or("fileReservedTime", 72)?,
            delete_when: props.string_or("deleteWhen", "04"),
            max_message_size,
            auto_create_topic_enable: props.bool_or("autoCreateTopicEnable", true),
            default_topic_queue_nums,
            auto_create_subscription_group: props.bool_or("autoCreateSubscriptionGroup", true),
            cluster_topic_enable: props.bool_or("clusterTopicEnable", true),
            broker_topic_enable: props.bool_or("brokerTopicEnable", true),
            trace_topic_enable: props.bool_or("traceTopicEnable", false),
            msg_trace_topic_name: props.string_or("msgTraceTopicName", "RMQ_SYS_TRACE_TOPIC"),
            broker_permission: props.parse_or("brokerPermission", 6)?,
            notify_consumer_ids_changed_enable: props
                .bool_or("notifyConsumerIdsChangedEnable", true),
            register_name_server_period_ms: register_period.clamp(10_000, 60_000),
            channel_expired_timeout_ms: props.parse_or("channelExpiredTimeout", 120_000)?,
            flush_consumer_offset_interval_ms: props
                .parse_or("flushConsumerOffsetInterval", 5000)?,
            long_polling_enable: props.bool_or("longPollingEnable", true),
            short_polling_time_ms: props.parse_or("shortPollingTimeMills", 1000)?,
            transfer_msg_by_heap: props.bool_or("transferMsgByHeap", false),
            default_query_max_num: props.parse_or("defaultQueryMaxNum", 32)?,
            message_index_enable: props.bool_or("messageIndexEnable", true),
            region_id: props.string_or("regionId", "DefaultRegion"),
            trace_on: props.bool_or("traceOn", true),
            message_delay_levels: {
                let text = props.string_or("messageDelayLevel", MESSAGE_DELAY_LEVEL_DEFAULT);
                parse_delay_levels(&text).map_err(|reason| ConfigError::InvalidValue {
                    key: "messageDelayLevel".into(),
                    value: text.clone(),
                    reason,
                })?
            },
            flush_delay_offset_interval_ms: props.parse_or("flushDelayOffsetInterval", 10_000)?,
            broker_cluster_name: cluster,
            properties: props.clone(),
        })
    }

    /// `brokerIP1:listenPort`, the address NameServers hand to clients.
    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    /// `brokerIP2:haListenPort`.
    pub fn ha_server_addr(&self) -> String {
        format!("{}:{}", self.broker_ip2, self.ha_listen_port)
    }

    /// Keys given that this broker does not act on.
    pub fn ignored_keys(&self) -> Vec<&str> {
        self.properties
            .iter()
            .map(|(k, _)| k)
            .filter(|k| !BROKER_KEYS_KNOWN.contains(k))
            .collect()
    }
}

/// Upstream's `messageDelayLevel` default: 18 levels.
pub const MESSAGE_DELAY_LEVEL_DEFAULT: &str =
    "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Parse `messageDelayLevel` as upstream's `parseDelayLevel`: levels separated by single
/// spaces, each a whole number followed by one unit of `s`, `m`, `h` or `d`. Anything else is
/// an error (upstream then refuses to start).
pub fn parse_delay_levels(text: &str) -> Result<Vec<Duration>, String> {
    let mut levels = Vec::new();
    for word in text.split(' ') {
        if levels.len() == crate::limits::DELAY_LEVELS_COUNT_MAX {
            return Err(format!(
                "more than {} levels",
                crate::limits::DELAY_LEVELS_COUNT_MAX
            ));
        }
        let unit_secs: u64 = match word.chars().last() {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86_400,
            _ => return Err(format!("level {word:?} does not end in s, m, h or d")),
        };
        let count: u64 = word[..word.len() - 1]
            .parse()
            .map_err(|_| format!("level {word:?} is not a whole number of its unit"))?;
        let delay = count
            .checked_mul(unit_secs)
            .map(Duration::from_secs)
            .filter(|d| *d <= crate::limits::DELAY_LEVEL_DURATION_MAX)
            .ok_or_else(|| format!("level {word:?} is longer than a year"))?;
        levels.push(delay);
    }
    Ok(levels)
}

/// `$HOME`, or the current directory when unset (Java's `user.home`).
fn home_dir() -> PathBuf {
    std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from)
}

/// The host name, upstream's default `brokerName`.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is a valid, writable buffer of the length passed; gethostname writes at most
    // that many bytes and we only read up to the first NUL inside it.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() {
        "localhost".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_syntax_matches_java() {
        let p = Properties::parse(
            "# comment\n! also comment\nbrokerName = broker-a\nlistenPort:10921\n\
             deleteWhen 04\nnamesrvAddr=a:9876;\\\n   b:9876\nesc=a\\=b\\u0041\n  \nempty=\n",
        );
        assert_eq!(p.get("brokerName"), Some("broker-a"));
        assert_eq!(p.get("listenPort"), Some("10921"));
        assert_eq!(p.get("deleteWhen"), Some("04"));
        assert_eq!(p.get("namesrvAddr"), Some("a:9876;b:9876"));
        assert_eq!(p.get("esc"), Some("a=bA"));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("comment"), None);
    }

    #[test]
    fn command_line_overrides_and_flags() {
        let cl = CommandLine::parse([
            "-n",
            "127.0.0.1:9876",
            "--listenPort=20911",
            "--shards",
            "2",
            "--standalone",
            "--flushDiskType=SYNC_FLUSH",
        ])
        .unwrap();
        assert!(cl.standalone);
        let props = cl.properties().unwrap();
        let broker = BrokerConfig::from_properties(&props).unwrap();
        assert_eq!(broker.listen_port, 20911);
        assert_eq!(broker.ha_listen_port, 20912);
        assert_eq!(broker.namesrv_addrs, vec!["127.0.0.1:9876".to_string()]);
        assert_eq!(broker.flush_disk_type, FlushDiskType::SyncFlush);
        assert_eq!(RuntimeConfig::from_properties(&props).unwrap().shards, 2);
        assert!(CommandLine::parse(["stray"]).is_err());
        assert!(CommandLine::parse(["--novalue"]).is_err());
        assert!(matches!(
            CommandLine::parse(["-c"]),
            Err(ConfigError::MissingValue(_))
        ));
    }

    #[test]
    fn broker_defaults_are_upstream() {
        let b = BrokerConfig::from_properties(&Properties::new()).unwrap();
        assert_eq!(b.broker_cluster_name, "DefaultCluster");
        assert_eq!(b.listen_port, 10911);
        assert_eq!(b.flush_disk_type, FlushDiskType::AsyncFlush);
        assert_eq!(b.mapped_file_size_commit_log, 1_073_741_824);
        assert_eq!(b.default_topic_queue_nums, 8);
        assert!(b.auto_create_topic_enable);
        assert_eq!(b.register_name_server_period_ms, 30_000);
        assert_eq!(b.broker_permission, 6);
    }

    #[test]
    fn page_cache_keep_bytes_is_unbounded_by_default_and_when_negative() {
        let keep = |v: Option<&str>| {
            let mut p = Properties::new();
            if let Some(v) = v {
                p.insert("pageCacheKeepBytes", v);
            }
            BrokerConfig::from_properties(&p)
                .unwrap()
                .page_cache_keep_bytes
        };
        assert_eq!(
            keep(None),
            rmq_engine::limits::PAGE_CACHE_KEEP_BYTES_DEFAULT
        );
        assert_eq!(keep(None), u64::MAX);
        assert_eq!(keep(Some("1048576")), 1_048_576);
        assert_eq!(keep(Some("-1")), u64::MAX);
        let mut p = Properties::new();
        p.insert("pageCacheKeepBytes", "lots");
        assert!(BrokerConfig::from_properties(&p).is_err());
    }

    #[test]
    fn misspelt_mapped_file_size_is_honoured_and_new_spelling_wins() {
        let mut p = Properties::new();
        p.insert("mapedFileSizeCommitLog", "1048576");
        assert_eq!(
            BrokerConfig::from_properties(&p)
                .unwrap()
                .mapped_file_size_commit_log,
            1_048_576
        );
        p.insert("mappedFileSizeCommitLog", "2097152");
        assert_eq!(
            BrokerConfig::from_properties(&p)
                .unwrap()
                .mapped_file_size_commit_log,
            2_097_152
        );
    }

    #[test]
    fn bad_values_are_typed_errors() {
        for (k, v) in [
            ("listenPort", "70000"),
            ("listenPort", "abc"),
            ("flushDiskType", "SOMETIMES"),
            ("maxMessageSize", "0"),
            ("defaultTopicQueueNums", "0"),
        ] {
            let mut p = Properties::new();
            p.insert(k, v);
            assert!(
                matches!(
                    BrokerConfig::from_properties(&p),
                    Err(ConfigError::InvalidValue { .. })
                ),
                "{k}={v}"
            );
        }
        let mut p = Properties::new();
        p.insert("shards", "0");
        assert!(RuntimeConfig::from_properties(&p).is_err());
        let mut p = Properties::new();
        p.insert("brokerRole", "SLAVE");
        assert!(BrokerConfig::from_properties(&p).is_err());
        p.insert("brokerId", "1");
        assert_eq!(BrokerConfig::from_properties(&p).unwrap().broker_id, 1);
    }

    #[test]
    fn oversize_config_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("rmq-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.conf");
        let size = usize::try_from(CONFIG_FILE_SIZE_BYTES_MAX).unwrap() + 1;
        std::fs::write(&path, vec![b'#'; size]).unwrap();
        assert!(matches!(
            Properties::load(&path),
            Err(ConfigError::FileTooLarge { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn delay_levels_parse_like_upstream() {
        let levels = parse_delay_levels(MESSAGE_DELAY_LEVEL_DEFAULT).unwrap();
        assert_eq!(levels.len(), 18);
        assert_eq!(levels[0], Duration::from_secs(1));
        assert_eq!(levels[2], Duration::from_secs(10));
        assert_eq!(levels[17], Duration::from_secs(7200));
        assert_eq!(
            parse_delay_levels("2d 0s").unwrap(),
            vec![Duration::from_secs(172_800), Duration::ZERO]
        );
        for bad in [
            "",
            "1s  5s",
            "1x",
            "s",
            "-1s",
            "1.5m",
            "1é",
            "999999999999d",
        ] {
            assert!(parse_delay_levels(bad).is_err(), "{bad:?}");
        }
        let many = vec!["1s"; crate::limits::DELAY_LEVELS_COUNT_MAX + 1].join(" ");
        assert!(parse_delay_levels(&many).is_err());
    }
}
