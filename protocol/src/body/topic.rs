//! Topic configuration bodies: `TopicConfig`, `DataVersion`, `TopicConfigSerializeWrapper`
//! (the `topics.json` file and the `GET_ALL_TOPIC_CONFIG` reply) and `RegisterBrokerBody`
//! (`REGISTER_BROKER` request), plus the `PermName` bits. protocol.md §2.15, §4.2, §4.3, §6.5.
//!
//! 5.x additions are handled as follows: `TopicConfig.attributes` is optional (written when
//! set); `DataVersion.stateVersion` is always written (4.x readers ignore it, 5.x readers
//! need it for `compare`); the static-topic mapping fields of
//! `TopicConfigAndMappingSerializeWrapper` are ignored when read and not written.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{invalid, java_enum, Fields};
use super::json_writer::JsonWriter;
use super::{write_bean_map, write_string_list, write_string_map, JsonBody};
use crate::error::{CodecError, CodecResult};

/// `PermName`: the permission bits of a topic or broker.
pub mod perm {
    /// Priority bit (unused by clients).
    pub const PERM_PRIORITY: i32 = 8;
    /// Consumers may read.
    pub const PERM_READ: i32 = 4;
    /// Producers may write.
    pub const PERM_WRITE: i32 = 2;
    /// Topics auto-created from this one inherit it (TBW102 has 7 = RW + inherit).
    pub const PERM_INHERIT: i32 = 1;

    /// Whether `perm` has the read bit.
    pub const fn is_readable(perm: i32) -> bool {
        perm & PERM_READ == PERM_READ
    }

    /// Whether `perm` has the write bit.
    pub const fn is_writeable(perm: i32) -> bool {
        perm & PERM_WRITE == PERM_WRITE
    }

    /// Whether `perm` has the inherit bit.
    pub const fn is_inherited(perm: i32) -> bool {
        perm & PERM_INHERIT == PERM_INHERIT
    }
}

java_enum! {
    /// `TopicFilterType`.
    #[derive(Default)]
    TopicFilterType ("TopicFilterType") {
        /// `SINGLE_TAG`: every message has at most one tag (the default).
        #[default]
        SingleTag = "SINGLE_TAG",
        /// `MULTI_TAG`.
        MultiTag = "MULTI_TAG",
    }
}

/// `DataVersion`: the version of a broker's topic (or group) table. The `NameServer` compares
/// it for equality; `compare` orders by stateVersion, counter, timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DataVersion {
    /// `counter`: bumped on every change.
    pub counter: i64,
    /// `stateVersion` (5.x, default 0).
    pub state_version: i64,
    /// `timestamp`: milliseconds of the last change.
    pub timestamp: i64,
}

impl DataVersion {
    /// The next version, as Java's `nextVersion()`: counter + 1, stamped `now_millis`.
    #[must_use]
    pub fn next(self, now_millis: i64) -> Self {
        DataVersion {
            counter: self.counter.wrapping_add(1),
            state_version: self.state_version,
            timestamp: now_millis,
        }
    }
}

impl JsonBody for DataVersion {
    const WHAT: &'static str = "DataVersion";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("counter");
        w.int(self.counter);
        w.field("stateVersion");
        w.int(self.state_version);
        w.field("timestamp");
        w.int(self.timestamp);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(DataVersion {
            counter: f.long_or("counter", 0)?,
            state_version: f.long_or("stateVersion", 0)?,
            timestamp: f.long_or("timestamp", 0)?,
        })
    }
}

/// `TopicConfig`: one topic's queues and permissions on a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `topicName`.
    pub topic_name: String,
    /// `readQueueNums` (Java default 16).
    pub read_queue_nums: i32,
    /// `writeQueueNums` (Java default 16).
    pub write_queue_nums: i32,
    /// `perm` (Java default 6 = read + write).
    pub perm: i32,
    /// `topicFilterType`.
    pub topic_filter_type: TopicFilterType,
    /// `topicSysFlag`.
    pub topic_sys_flag: i32,
    /// `order`.
    pub order: bool,
    /// `attributes` (5.x, e.g. `message.type=NORMAL`); written only when set.
    pub attributes: Option<BTreeMap<String, String>>,
}

/// `TopicConfig.defaultReadQueueNums` / `defaultWriteQueueNums`.
pub const TOPIC_QUEUE_NUMS_DEFAULT: i32 = 16;

impl TopicConfig {
    /// A topic with Java's defaults (16 read and write queues, perm RW, `SINGLE_TAG`).
    pub fn new(topic_name: impl Into<String>) -> Self {
        TopicConfig {
            topic_name: topic_name.into(),
            read_queue_nums: TOPIC_QUEUE_NUMS_DEFAULT,
            write_queue_nums: TOPIC_QUEUE_NUMS_DEFAULT,
            perm: perm::PERM_READ | perm::PERM_WRITE,
            topic_filter_type: TopicFilterType::SingleTag,
            topic_sys_flag: 0,
            order: false,
            attributes: None,
        }
    }
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig::new("")
    }
}

impl JsonBody for TopicConfig {
    const WHAT: &'static str = "TopicConfig";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(attributes) = &self.attributes {
            w.field("attributes");
            write_string_map(w, attributes);
        }
        w.field("order");
        w.bool(self.order);
        w.field("perm");
        w.int(i64::from(self.perm));
        w.field("readQueueNums");
        w.int(i64::from(self.read_queue_nums));
        w.field("topicFilterType");
        w.string(self.topic_filter_type.java_name());
        w.field("topicName");
        w.string(&self.topic_name);
        w.field("topicSysFlag");
        w.int(i64::from(self.topic_sys_flag));
        w.field("writeQueueNums");
        w.int(i64::from(self.write_queue_nums));
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(TopicConfig {
            topic_name: f.string_or_empty("topicName"),
            read_queue_nums: f.int_or("readQueueNums", TOPIC_QUEUE_NUMS_DEFAULT)?,
            write_queue_nums: f.int_or("writeQueueNums", TOPIC_QUEUE_NUMS_DEFAULT)?,
            perm: f.int_or("perm", perm::PERM_READ | perm::PERM_WRITE)?,
            topic_filter_type: f.java_enum("topicFilterType")?.unwrap_or_default(),
            topic_sys_flag: f.int_or("topicSysFlag", 0)?,
            order: f.bool_or("order", false)?,
            attributes: f.string_map("attributes")?,
        })
    }
}

/// `TopicConfigSerializeWrapper`: a broker's whole topic table with its version; the shape of
/// `topics.json` (write it with `encode_pretty`) and of `GET_ALL_TOPIC_CONFIG` replies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicConfigSerializeWrapper {
    /// `topicConfigTable`: topic name to config.
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    /// `dataVersion`.
    pub data_version: DataVersion,
}

impl JsonBody for TopicConfigSerializeWrapper {
    const WHAT: &'static str = "TopicConfigSerializeWrapper";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("dataVersion");
        self.data_version.write_json(w);
        w.field("topicConfigTable");
        write_bean_map(w, &self.topic_config_table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(TopicConfigSerializeWrapper {
            topic_config_table: f.keyed("topicConfigTable", TopicConfig::from_json)?,
            data_version: f
                .get("dataVersion")
                .map(DataVersion::from_json)
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// `RegisterBrokerBody`: what a broker sends the `NameServer` with `REGISTER_BROKER`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterBrokerBody {
    /// `topicConfigSerializeWrapper`.
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
    /// `filterServerList` (always empty in practice).
    pub filter_server_list: Vec<String>,
}

impl RegisterBrokerBody {
    /// Decode a `REGISTER_BROKER` body given the request header's `compressed` flag.
    ///
    /// Compressed bodies (a zlib stream of length-prefixed parts, protocol.md §2.15) are not
    /// supported: 5.x brokers hard-code `compressed=false` and 4.x brokers default to it
    /// (`compressedRegister=false`), so this crate carries no zlib dependency for them.
    pub fn decode_register(body: &[u8], compressed: bool) -> CodecResult<Self> {
        if compressed {
            return Err(CodecError::InvalidBody {
                what: Self::WHAT,
                reason: "compressed REGISTER_BROKER bodies are not supported; \
                         set compressedRegister=false on the broker"
                    .to_owned(),
            });
        }
        Self::decode(body)
    }
}

impl JsonBody for RegisterBrokerBody {
    const WHAT: &'static str = "RegisterBrokerBody";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("filterServerList");
        write_string_list(w, &self.filter_server_list);
        w.field("topicConfigSerializeWrapper");
        self.topic_config_serialize_wrapper.write_json(w);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let wrapper = match f.get("topicConfigSerializeWrapper") {
            Some(v) => TopicConfigSerializeWrapper::from_json(v)
                .map_err(|e| invalid(Self::WHAT, format!("topicConfigSerializeWrapper: {e}")))?,
            None => TopicConfigSerializeWrapper::default(),
        };
        Ok(RegisterBrokerBody {
            topic_config_serialize_wrapper: wrapper,
            filter_server_list: f.strings("filterServerList")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_bits() {
        assert!(perm::is_readable(6) && perm::is_writeable(6) && !perm::is_inherited(6));
        assert!(perm::is_inherited(7));
        assert!(!perm::is_readable(2) && perm::is_writeable(2));
        assert!(perm::is_readable(4) && !perm::is_writeable(4));
        assert_eq!(perm::PERM_PRIORITY, 8);
    }

    #[test]
    fn data_version_next() {
        let v = DataVersion {
            counter: 3,
            state_version: 1,
            timestamp: 10,
        };
        assert_eq!(
            v.next(20),
            DataVersion {
                counter: 4,
                state_version: 1,
                timestamp: 20
            }
        );
    }

    #[test]
    fn compressed_register_body_is_a_clear_error() {
        let err = RegisterBrokerBody::decode_register(b"x\x9c", true).unwrap_err();
        assert!(err.to_string().contains("compressed"), "{err}");
        let plain = RegisterBrokerBody::default().encode();
        assert_eq!(
            RegisterBrokerBody::decode_register(&plain, false).unwrap(),
            RegisterBrokerBody::default()
        );
    }

    #[test]
    fn topic_config_defaults_like_java() {
        let t = TopicConfig::decode(br#"{"topicName":"T"}"#).unwrap();
        assert_eq!(t, TopicConfig::new("T"));
        assert_eq!((t.read_queue_nums, t.perm), (16, 6));
        let unknown_filter = TopicConfig::decode(br#"{"topicFilterType":"X"}"#).unwrap();
        assert_eq!(unknown_filter.topic_filter_type, TopicFilterType::SingleTag);
    }
}
