//! The broker's topic table (upstream `TopicConfigManager`): every topic this broker serves,
//! with its queue counts, permission and flags, persisted as `topics.json`.
//!
//! Owned by the control-plane shard. Invariants:
//! - the system topics of protocol.md §9.2 exist after [`TopicTable::load`] (recreated if a
//!   file lost them), `TBW102` with perm 7 only when `autoCreateTopicEnable`;
//! - every change bumps `dataVersion` (the NameServer only re-reads a registration whose
//!   version changed);
//! - read and write queue counts are within `1..=TOPIC_QUEUES_COUNT_MAX` for topics created
//!   here (loaded files are trusted as Java trusts them, but clamped to that range);
//! - at most [`TOPICS_COUNT_MAX`] topics.

use std::collections::BTreeMap;

use rmq_protocol::body::{perm, DataVersion, TopicConfig, TopicConfigSerializeWrapper};

use crate::config::BrokerConfig;
use crate::limits::{TOPICS_COUNT_MAX, TOPIC_QUEUES_COUNT_MAX};

/// The auto-create template topic (`TopicValidator.AUTO_CREATE_TOPIC_KEY_TOPIC`).
pub const AUTO_CREATE_TOPIC: &str = "TBW102";
/// Prefix of a consumer group's retry topic (`MixAll.RETRY_GROUP_TOPIC_PREFIX`).
pub const RETRY_TOPIC_PREFIX: &str = "%RETRY%";
/// Prefix of a consumer group's dead-letter topic (`MixAll.DLQ_GROUP_TOPIC_PREFIX`).
pub const DLQ_TOPIC_PREFIX: &str = "%DLQ%";
/// Longest topic name (`TopicValidator.TOPIC_MAX_LENGTH`).
pub const TOPIC_NAME_LENGTH_MAX: usize = 127;

/// Topics every broker creates at startup besides TBW102 and the cluster/broker-name topics.
const FIXED_SYSTEM_TOPICS: &[(&str, i32)] = &[
    ("SELF_TEST_TOPIC", 1),
    ("BenchmarkTest", 1024),
    ("OFFSET_MOVED_EVENT", 1),
    ("SCHEDULE_TOPIC_XXXX", 18),
];

/// Why a topic name or config is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Java's `TopicValidator` texts.
    #[error("The specified topic is blank.")]
    Blank,
    #[error(
        "The specified topic[{0}] contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$"
    )]
    IllegalCharacters(String),
    #[error("The specified topic is longer than topic max length {TOPIC_NAME_LENGTH_MAX}.")]
    TooLong,
    /// Creating or deleting a topic the broker owns.
    #[error("The topic[{0}] is conflict with system topic.")]
    SystemTopic(String),
    /// Queue counts out of range.
    #[error("the queue nums of topic[{topic}] must be 1..={TOPIC_QUEUES_COUNT_MAX}, got read {read} write {write}")]
    QueueCount {
        topic: String,
        read: i32,
        write: i32,
    },
    /// The table is full.
    #[error("too many topics (at most {TOPICS_COUNT_MAX})")]
    Full,
}

/// Check a topic name as Java's `TopicValidator.validateTopic` does.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    if topic.trim().is_empty() {
        return Err(TopicError::Blank);
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(TopicError::IllegalCharacters(topic.to_string()));
    }
    if topic.len() > TOPIC_NAME_LENGTH_MAX {
        return Err(TopicError::TooLong);
    }
    Ok(())
}

/// The retry topic of `group`.
pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_TOPIC_PREFIX}{group}")
}

/// The current time in ms, for `dataVersion` stamps.
pub fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

fn queue_count_ok(n: i32) -> bool {
    u32::try_from(n).is_ok_and(|n| (1..=TOPIC_QUEUES_COUNT_MAX).contains(&n))
}

/// The topic table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicTable {
    topics: BTreeMap<String, TopicConfig>,
    data_version: DataVersion,
    /// Names of the topics the broker itself owns (never deleted or overwritten by admins).
    system: std::collections::BTreeSet<String>,
}

impl TopicTable {
    /// The table from a loaded `topics.json` (or empty), with the system topics ensured.
    pub fn load(config: &BrokerConfig, loaded: Option<TopicConfigSerializeWrapper>) -> Self {
        let mut table = TopicTable::default();
        if let Some(w) = loaded {
            table.data_version = w.data_version;
            for (name, mut cfg) in w.topic_config_table {
                if table.topics.len() >= TOPICS_COUNT_MAX {
                    log_warn!("topics.json has more topics than the limit; rest ignored");
                    break;
                }
                cfg.topic_name.clone_from(&name);
                cfg.read_queue_nums = clamp_queues(cfg.read_queue_nums);
                cfg.write_queue_nums = clamp_queues(cfg.write_queue_nums);
                table.topics.insert(name, cfg);
            }
        }
        for cfg in system_topics(config) {
            table.system.insert(cfg.topic_name.clone());
            // Upstream puts system topics unconditionally at startup (config changes such as
            // clusterTopicEnable take effect on restart).
            table.topics.insert(cfg.topic_name.clone(), cfg);
        }
        if !config.auto_create_topic_enable {
            table.topics.remove(AUTO_CREATE_TOPIC);
        }
        table.data_version = table.data_version.next(now_ms());
        table
    }

    /// One topic's config.
    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.topics.get(topic)
    }

    /// Every topic.
    pub fn iter(&self) -> impl Iterator<Item = &TopicConfig> {
        self.topics.values()
    }

    /// How many topics.
    pub fn len(&self) -> usize {
        self.topics.len()
    }

    /// Whether there are no topics (never true after `load`).
    pub fn is_empty(&self) -> bool {
        self.topics.is_empty()
    }

    /// Whether `topic` is one the broker created itself.
    pub fn is_system(&self, topic: &str) -> bool {
        self.system.contains(topic)
    }

    /// The version of the table.
    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// Create or replace a topic (UPDATE_AND_CREATE_TOPIC). Returns whether anything changed.
    pub fn upsert(&mut self, cfg: TopicConfig) -> Result<bool, TopicError> {
        validate_topic_name(&cfg.topic_name)?;
        if self.is_system(&cfg.topic_name) {
            return Err(TopicError::SystemTopic(cfg.topic_name));
        }
        if !queue_count_ok(cfg.read_queue_nums) || !queue_count_ok(cfg.write_queue_nums) {
            return Err(TopicError::QueueCount {
                topic: cfg.topic_name,
                read: cfg.read_queue_nums,
                write: cfg.write_queue_nums,
            });
        }
        if self.topics.get(&cfg.topic_name) == Some(&cfg) {
            return Ok(false);
        }
        if !self.topics.contains_key(&cfg.topic_name) && self.topics.len() >= TOPICS_COUNT_MAX {
            return Err(TopicError::Full);
        }
        self.topics.insert(cfg.topic_name.clone(), cfg);
        self.data_version = self.data_version.next(now_ms());
        Ok(true)
    }

    /// Create `%RETRY%<group>` if absent (`createTopicInSendMessageBackMethod` as used by the
    /// heartbeat): `queues` queues, perm RW. Returns whether it was created.
    pub fn ensure_retry_topic(&mut self, group: &str, queues: i32) -> Result<bool, TopicError> {
        let name = retry_topic(group);
        if self.topics.contains_key(&name) {
            return Ok(false);
        }
        let mut cfg = TopicConfig::new(name);
        let queues = clamp_queues(queues);
        cfg.read_queue_nums = queues;
        cfg.write_queue_nums = queues;
        cfg.perm = perm::PERM_READ | perm::PERM_WRITE;
        self.upsert(cfg)
    }

    /// Remove a topic (DELETE_TOPIC_IN_BROKER). Returns whether it existed.
    pub fn remove(&mut self, topic: &str) -> Result<bool, TopicError> {
        if self.is_system(topic) {
            return Err(TopicError::SystemTopic(topic.to_string()));
        }
        if self.topics.remove(topic).is_none() {
            return Ok(false);
        }
        self.data_version = self.data_version.next(now_ms());
        Ok(true)
    }

    /// The table as `topics.json` / GET_ALL_TOPIC_CONFIG / the registration body see it.
    pub fn wrapper(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            topic_config_table: self.topics.clone(),
            data_version: self.data_version,
        }
    }
}

fn clamp_queues(n: i32) -> i32 {
    n.clamp(1, i32::try_from(TOPIC_QUEUES_COUNT_MAX).unwrap_or(i32::MAX))
}

/// The topics a broker creates at startup (protocol.md §9.2).
fn system_topics(config: &BrokerConfig) -> Vec<TopicConfig> {
    let topic = |name: &str, queues: i32, perm: i32| {
        let mut cfg = TopicConfig::new(name);
        cfg.read_queue_nums = queues;
        cfg.write_queue_nums = queues;
        cfg.perm = perm;
        cfg
    };
    let rw = perm::PERM_READ | perm::PERM_WRITE;
    let rwi = rw | perm::PERM_INHERIT;
    let mut out: Vec<TopicConfig> = FIXED_SYSTEM_TOPICS
        .iter()
        .map(|&(name, queues)| topic(name, queues, rw))
        .collect();
    if config.auto_create_topic_enable {
        let queues = i32::try_from(config.default_topic_queue_nums).unwrap_or(8);
        out.push(topic(AUTO_CREATE_TOPIC, queues, rwi));
    }
    let cluster_perm = if config.cluster_topic_enable {
        rwi
    } else {
        perm::PERM_INHERIT
    };
    out.push(topic(&config.broker_cluster_name, 16, cluster_perm));
    let broker_perm = if config.broker_topic_enable {
        rwi
    } else {
        perm::PERM_INHERIT
    };
    out.push(topic(&config.broker_name, 1, broker_perm));
    if config.trace_topic_enable {
        out.push(topic(&config.msg_trace_topic_name, 1, rw));
    }
    out.push(topic(
        &format!("{}_REPLY_TOPIC", config.broker_cluster_name),
        1,
        rw,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Properties;

    fn config(auto_create: bool) -> BrokerConfig {
        let mut p = Properties::new();
        p.insert("brokerName", "broker-a");
        p.insert(
            "autoCreateTopicEnable",
            if auto_create { "true" } else { "false" },
        );
        BrokerConfig::from_properties(&p).unwrap()
    }

    #[test]
    fn system_topics_are_created_with_upstream_queues_and_perms() {
        let t = TopicTable::load(&config(true), None);
        let tbw = t.get(AUTO_CREATE_TOPIC).unwrap();
        assert_eq!(
            (tbw.perm, tbw.read_queue_nums, tbw.write_queue_nums),
            (7, 8, 8)
        );
        assert_eq!(t.get("SCHEDULE_TOPIC_XXXX").unwrap().read_queue_nums, 18);
        assert_eq!(t.get("BenchmarkTest").unwrap().write_queue_nums, 1024);
        assert_eq!(t.get("DefaultCluster").unwrap().perm, 7);
        assert_eq!(t.get("broker-a").unwrap().read_queue_nums, 1);
        assert!(t.get("DefaultCluster_REPLY_TOPIC").is_some());
        assert!(t.get("RMQ_SYS_TRACE_TOPIC").is_none());
        let t = TopicTable::load(&config(false), None);
        assert!(t.get(AUTO_CREATE_TOPIC).is_none());
    }

    #[test]
    fn upsert_validates_and_bumps_the_version_only_on_change() {
        let mut t = TopicTable::load(&config(true), None);
        let v0 = t.data_version();
        let mut cfg = TopicConfig::new("TopicTest");
        cfg.read_queue_nums = 4;
        cfg.write_queue_nums = 4;
        assert_eq!(t.upsert(cfg.clone()), Ok(true));
        let v1 = t.data_version();
        assert_eq!(v1.counter, v0.counter + 1);
        assert_eq!(t.upsert(cfg.clone()), Ok(false));
        assert_eq!(t.data_version(), v1);
        assert_eq!(
            t.upsert(TopicConfig::new("bad topic")),
            Err(TopicError::IllegalCharacters("bad topic".into()))
        );
        assert_eq!(t.upsert(TopicConfig::new("")), Err(TopicError::Blank));
        assert_eq!(
            t.upsert(TopicConfig::new("x".repeat(128))),
            Err(TopicError::TooLong)
        );
        assert!(matches!(
            t.upsert(TopicConfig::new(AUTO_CREATE_TOPIC)),
            Err(TopicError::SystemTopic(_))
        ));
        let mut zero = TopicConfig::new("Z");
        zero.read_queue_nums = 0;
        assert!(matches!(t.upsert(zero), Err(TopicError::QueueCount { .. })));
        assert_eq!(t.remove("TopicTest"), Ok(true));
        assert_eq!(t.remove("TopicTest"), Ok(false));
        assert!(t.remove("SELF_TEST_TOPIC").is_err());
    }

    #[test]
    fn retry_topic_has_the_group_queue_count_and_rw() {
        let mut t = TopicTable::load(&config(true), None);
        assert_eq!(t.ensure_retry_topic("CG", 1), Ok(true));
        assert_eq!(t.ensure_retry_topic("CG", 1), Ok(false));
        let r = t.get("%RETRY%CG").unwrap();
        assert_eq!((r.perm, r.read_queue_nums, r.write_queue_nums), (6, 1, 1));
    }

    #[test]
    fn loaded_topics_survive_and_system_topics_are_restored() {
        let mut t = TopicTable::load(&config(true), None);
        t.upsert(TopicConfig::new("Kept")).unwrap();
        let mut w = t.wrapper();
        w.topic_config_table.remove("SELF_TEST_TOPIC");
        let t2 = TopicTable::load(&config(true), Some(w.clone()));
        assert!(t2.get("Kept").is_some());
        assert!(t2.get("SELF_TEST_TOPIC").is_some());
        assert!(t2.data_version().counter > w.data_version.counter);
    }
}
