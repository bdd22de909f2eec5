//! Admin replies read by mqadmin: `ConsumeStats` (`GET_CONSUME_STATS`), `TopicStatsTable`
//! (`GET_TOPIC_STATS_INFO`), `ConsumerConnection` (`GET_CONSUMER_CONNECTION_LIST`) and
//! `ProducerConnection`. protocol.md §4.5, §4.6.
//!
//! The stats tables are `Map<MessageQueue, _>`, which fastjson writes with the queue object
//! itself as the key — `{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}` — and mqadmin
//! reads only that form, so it is what we write.

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{invalid, Fields};
use super::heartbeat::{ConsumeFromWhere, ConsumeType, MessageModel, SubscriptionData};
use super::json_writer::JsonWriter;
use super::queue::MessageQueue;
use super::{write_bean_map, JsonBody};
use crate::command::LanguageCode;
use crate::error::CodecResult;

/// Write a `Map<MessageQueue, T>` with object keys.
fn write_queue_map<T: JsonBody>(w: &mut JsonWriter, table: &BTreeMap<MessageQueue, T>) {
    w.begin_map();
    for (queue, value) in table {
        w.object_key(|w| queue.write_json(w));
        value.write_json(w);
    }
    w.end_map();
}

/// Read a `Map<MessageQueue, T>` whose keys arrive as the text of the queue object.
fn read_queue_map<T: JsonBody>(
    f: &Fields<'_>,
    key: &str,
    what: &'static str,
) -> CodecResult<BTreeMap<MessageQueue, T>> {
    let mut out = BTreeMap::new();
    if let Some(map) = f.map(key)? {
        for (queue_text, value) in map.iter().filter(|(_, v)| !v.is_null()) {
            let queue = MessageQueue::from_key_text(queue_text)
                .map_err(|e| invalid(what, format!("{key} key: {e}")))?;
            out.insert(queue, T::from_json(value)?);
        }
    }
    Ok(out)
}

/// `OffsetWrapper`: one queue's offsets in `ConsumeStats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffsetWrapper {
    /// `brokerOffset`: the queue's max offset.
    pub broker_offset: i64,
    /// `consumerOffset`: the committed offset.
    pub consumer_offset: i64,
    /// `pullOffset`: how far the group has pulled.
    pub pull_offset: i64,
    /// `lastTimestamp`: store time of the last consumed message.
    pub last_timestamp: i64,
}

impl JsonBody for OffsetWrapper {
    const WHAT: &'static str = "OffsetWrapper";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerOffset");
        w.int(self.broker_offset);
        w.field("consumerOffset");
        w.int(self.consumer_offset);
        w.field("lastTimestamp");
        w.int(self.last_timestamp);
        w.field("pullOffset");
        w.int(self.pull_offset);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(OffsetWrapper {
            broker_offset: f.long_or("brokerOffset", 0)?,
            consumer_offset: f.long_or("consumerOffset", 0)?,
            pull_offset: f.long_or("pullOffset", 0)?,
            last_timestamp: f.long_or("lastTimestamp", 0)?,
        })
    }
}

/// `ConsumeStats`: a group's progress on each queue.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsumeStats {
    /// `offsetTable`.
    pub offset_table: BTreeMap<MessageQueue, OffsetWrapper>,
    /// `consumeTps`, written as Java writes a double (`0.0`).
    pub consume_tps: f64,
}

impl JsonBody for ConsumeStats {
    const WHAT: &'static str = "ConsumeStats";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("consumeTps");
        w.double(self.consume_tps);
        w.field("offsetTable");
        write_queue_map(w, &self.offset_table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(ConsumeStats {
            offset_table: read_queue_map(&f, "offsetTable", Self::WHAT)?,
            consume_tps: f.double_or("consumeTps", 0.0)?,
        })
    }
}

/// `TopicOffset`: one queue's range in `TopicStatsTable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopicOffset {
    /// `minOffset`.
    pub min_offset: i64,
    /// `maxOffset`.
    pub max_offset: i64,
    /// `lastUpdateTimestamp`: store time of the last message.
    pub last_update_timestamp: i64,
}

impl JsonBody for TopicOffset {
    const WHAT: &'static str = "TopicOffset";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("lastUpdateTimestamp");
        w.int(self.last_update_timestamp);
        w.field("maxOffset");
        w.int(self.max_offset);
        w.field("minOffset");
        w.int(self.min_offset);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(TopicOffset {
            min_offset: f.long_or("minOffset", 0)?,
            max_offset: f.long_or("maxOffset", 0)?,
            last_update_timestamp: f.long_or("lastUpdateTimestamp", 0)?,
        })
    }
}

/// `TopicStatsTable`: every queue's offset range of a topic.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicStatsTable {
    /// `offsetTable`.
    pub offset_table: BTreeMap<MessageQueue, TopicOffset>,
    /// `topicPutTps` (5.x); written only when set.
    pub topic_put_tps: Option<f64>,
}

impl JsonBody for TopicStatsTable {
    const WHAT: &'static str = "TopicStatsTable";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("offsetTable");
        write_queue_map(w, &self.offset_table);
        if let Some(tps) = self.topic_put_tps {
            w.field("topicPutTps");
            w.double(tps);
        }
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let topic_put_tps = match f.get("topicPutTps") {
            Some(_) => Some(f.double_or("topicPutTps", 0.0)?),
            None => None,
        };
        Ok(TopicStatsTable {
            offset_table: read_queue_map(&f, "offsetTable", Self::WHAT)?,
            topic_put_tps,
        })
    }
}

/// `Connection`: one client channel of a group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connection {
    /// `clientId`.
    pub client_id: String,
    /// `clientAddr`: the peer's `ip:port`.
    pub client_addr: String,
    /// `language`: written by name.
    pub language: LanguageCode,
    /// `version`: the client's `MQVersion` ordinal.
    pub version: i32,
}

impl JsonBody for Connection {
    const WHAT: &'static str = "Connection";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("clientAddr");
        w.string(&self.client_addr);
        w.field("clientId");
        w.string(&self.client_id);
        w.field("language");
        w.string(self.language.name());
        w.field("version");
        w.int(i64::from(self.version));
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let language = match f.get("language") {
            None => LanguageCode::default(),
            Some(Value::String(name)) => LanguageCode::from_name(name),
            Some(_) => match f.long("language")? {
                Some(code) => {
                    u8::try_from(code).map_or(LanguageCode::Other, LanguageCode::from_code)
                }
                None => LanguageCode::default(),
            },
        };
        Ok(Connection {
            client_id: f.string_or_empty("clientId"),
            client_addr: f.string_or_empty("clientAddr"),
            language,
            version: f.int_or("version", 0)?,
        })
    }
}

fn write_connections(w: &mut JsonWriter, connections: &[Connection]) {
    w.begin_set();
    for connection in connections {
        w.element();
        connection.write_json(w);
    }
    w.end_collection();
}

/// `ConsumerConnection`: a group's clients and subscriptions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerConnection {
    /// `connectionSet`.
    pub connection_set: Vec<Connection>,
    /// `subscriptionTable`: topic to subscription.
    pub subscription_table: BTreeMap<String, SubscriptionData>,
    /// `consumeType`.
    pub consume_type: Option<ConsumeType>,
    /// `messageModel`.
    pub message_model: Option<MessageModel>,
    /// `consumeFromWhere`.
    pub consume_from_where: Option<ConsumeFromWhere>,
}

impl JsonBody for ConsumerConnection {
    const WHAT: &'static str = "ConsumerConnection";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("connectionSet");
        write_connections(w, &self.connection_set);
        if let Some(v) = self.consume_from_where {
            w.field("consumeFromWhere");
            w.string(v.java_name());
        }
        if let Some(v) = self.consume_type {
            w.field("consumeType");
            w.string(v.java_name());
        }
        if let Some(v) = self.message_model {
            w.field("messageModel");
            w.string(v.java_name());
        }
        w.field("subscriptionTable");
        write_bean_map(w, &self.subscription_table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(ConsumerConnection {
            connection_set: f.list("connectionSet", Connection::from_json)?,
            subscription_table: f.keyed("subscriptionTable", SubscriptionData::from_json)?,
            consume_type: f.java_enum("consumeType")?,
            message_model: f.java_enum("messageModel")?,
            consume_from_where: f.java_enum("consumeFromWhere")?,
        })
    }
}

/// `ProducerConnection`: a producer group's clients.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerConnection {
    /// `connectionSet`.
    pub connection_set: Vec<Connection>,
}

impl JsonBody for ProducerConnection {
    const WHAT: &'static str = "ProducerConnection";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("connectionSet");
        write_connections(w, &self.connection_set);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(ProducerConnection {
            connection_set: f.list("connectionSet", Connection::from_json)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_language_by_name_or_code() {
        let c = Connection::decode(br#"{"clientId":"c","language":"CPP","version":63}"#).unwrap();
        assert_eq!((c.language, c.version), (LanguageCode::Cpp, 63));
        let c = Connection::decode(br#"{"language":12}"#).unwrap();
        assert_eq!(c.language, LanguageCode::Rust);
        let c = Connection::decode(br#"{"language":"KLINGON"}"#).unwrap();
        assert_eq!(c.language, LanguageCode::Other);
    }

    #[test]
    fn queue_map_keys_must_be_queues() {
        assert!(ConsumeStats::decode(br#"{"offsetTable":{"notjson":{}}}"#).is_err());
        assert!(ConsumeStats::decode(br#"{"offsetTable":{[1]:{}}}"#).is_err());
        // A quoted key holding the queue's JSON text is read too (fastjson-generated text
        // passed through a standard-JSON tool).
        let quoted = ConsumeStats::decode(
            br#"{"offsetTable":{"{\"brokerName\":\"b\",\"queueId\":1,\"topic\":\"T\"}":{"brokerOffset":5}}}"#,
        )
        .unwrap();
        assert_eq!(
            quoted.offset_table[&MessageQueue::new("T", "b", 1)].broker_offset,
            5
        );
    }
}
