//! `HeartbeatData` (`HEART_BEAT`, code 34) and the consumer/subscription types it carries, which
//! `ConsumerConnection` reuses.
//!
//! Decoding accepts all three client dialects (protocol.md §2.4, real-clients.md quirk 7):
//! - Java: enums by name, every field present.
//! - C++ (1.x and 2.1.0): enums as **ordinals**, `subVersion` as a **string**, no
//!   `expressionType`/`tagsSet`/`codeSet`/`classFilterMode` for `*`, and a trailing `"\n"`.
//! - ali-ons: no `expressionType`.
//!
//! Missing fields take Java's defaults: `expressionType` "TAG", empty tag and code sets,
//! `classFilterMode` false, `unitMode` false; a missing `subVersion` is 0 (Java would stamp
//! the decode time; see the `body` module docs).

use std::collections::BTreeSet;

use serde_json::Value;

use super::fields::{cast_long, invalid, java_enum, Fields};
use super::json_writer::JsonWriter;
use super::{write_string_set, JsonBody};
use crate::error::CodecResult;

java_enum! {
    /// `ConsumeType`: how a consumer group fetches.
    ConsumeType ("ConsumeType") {
        /// `CONSUME_ACTIVELY`: pull and lite-pull consumers.
        Actively = "CONSUME_ACTIVELY",
        /// `CONSUME_PASSIVELY`: push consumers.
        Passively = "CONSUME_PASSIVELY",
        /// `CONSUME_POP` (5.x).
        Pop = "CONSUME_POP",
    }
}

java_enum! {
    /// `MessageModel`: whether each message goes to one member of the group or to all.
    MessageModel ("MessageModel") {
        /// `BROADCASTING`: every consumer gets every message.
        Broadcasting = "BROADCASTING",
        /// `CLUSTERING`: queues are shared out among the group.
        Clustering = "CLUSTERING",
    }
}

java_enum! {
    /// `ConsumeFromWhere`: where a group with no stored offset starts. The order is Java's,
    /// deprecated constants included, because C++ clients send the ordinal.
    ConsumeFromWhere ("ConsumeFromWhere") {
        /// `CONSUME_FROM_LAST_OFFSET` (ordinal 0).
        LastOffset = "CONSUME_FROM_LAST_OFFSET",
        /// `CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST` (deprecated).
        LastOffsetAndFromMinWhenBootFirst = "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
        /// `CONSUME_FROM_MIN_OFFSET` (deprecated).
        MinOffset = "CONSUME_FROM_MIN_OFFSET",
        /// `CONSUME_FROM_MAX_OFFSET` (deprecated).
        MaxOffset = "CONSUME_FROM_MAX_OFFSET",
        /// `CONSUME_FROM_FIRST_OFFSET` (ordinal 4).
        FirstOffset = "CONSUME_FROM_FIRST_OFFSET",
        /// `CONSUME_FROM_TIMESTAMP` (ordinal 5).
        Timestamp = "CONSUME_FROM_TIMESTAMP",
    }
}

/// `SubscriptionData.SUB_ALL`: the expression that matches every message.
pub const SUB_ALL: &str = "*";

/// `ExpressionType.TAG`: the default expression type.
pub const EXPRESSION_TYPE_TAG: &str = "TAG";

/// Java `String.hashCode()`: `h = 31*h + c` over UTF-16 code units with int wrap-around, the
/// tag code stored in the consume queue and listed in `codeSet`.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `SubscriptionData`: one topic a consumer group subscribes to, with its filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionData {
    /// `topic`.
    pub topic: String,
    /// `subString`: the expression as the user wrote it, `*` for all.
    pub sub_string: String,
    /// `tagsSet`: the trimmed tags of a TAG expression; empty for `*`.
    pub tags_set: BTreeSet<String>,
    /// `codeSet`: `String.hashCode()` of each tag; the broker filters on these.
    pub code_set: BTreeSet<i32>,
    /// `subVersion`: the client's timestamp of this subscription; newer replaces older.
    pub sub_version: i64,
    /// `expressionType`: `TAG` or `SQL92`.
    pub expression_type: String,
    /// `classFilterMode` (filter servers, long gone; always false in practice).
    pub class_filter_mode: bool,
}

impl SubscriptionData {
    /// Build a TAG subscription as Java's `FilterAPI.buildSubscriptionData` does: an empty
    /// expression or `*` subscribes to everything with empty sets; otherwise the expression
    /// is split on `||`, each part trimmed, empty parts skipped, and every tag hashed.
    pub fn from_expression(topic: &str, expression: &str, sub_version: i64) -> Self {
        let sub_all = expression.is_empty() || expression == SUB_ALL;
        let mut data = SubscriptionData {
            topic: topic.to_owned(),
            sub_string: if sub_all { SUB_ALL } else { expression }.to_owned(),
            tags_set: BTreeSet::new(),
            code_set: BTreeSet::new(),
            sub_version,
            expression_type: EXPRESSION_TYPE_TAG.to_owned(),
            class_filter_mode: false,
        };
        if sub_all {
            return data;
        }
        for tag in expression
            .split("||")
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            data.tags_set.insert(tag.to_owned());
            data.code_set.insert(java_string_hash(tag));
        }
        data
    }

    /// Whether this subscription takes every message (`*` or empty).
    pub fn is_sub_all(&self) -> bool {
        self.sub_string.is_empty() || self.sub_string == SUB_ALL
    }
}

impl JsonBody for SubscriptionData {
    const WHAT: &'static str = "SubscriptionData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("classFilterMode");
        w.bool(self.class_filter_mode);
        w.field("codeSet");
        w.begin_set();
        for code in &self.code_set {
            w.element();
            w.int(i64::from(*code));
        }
        w.end_collection();
        w.field("expressionType");
        w.string(&self.expression_type);
        w.field("subString");
        w.string(&self.sub_string);
        w.field("subVersion");
        w.int(self.sub_version);
        w.field("tagsSet");
        write_string_set(w, &self.tags_set);
        w.field("topic");
        w.string(&self.topic);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let code_set = f.list("codeSet", |v| {
            let code = cast_long(v)
                .map_err(|r| invalid(Self::WHAT, format!("codeSet: {r}")))?
                .unwrap_or(0);
            i32::try_from(code)
                .map_err(|_| invalid(Self::WHAT, format!("codeSet: {code} is out of int range")))
        })?;
        let tags_set = f.strings("tagsSet")?;
        Ok(SubscriptionData {
            topic: f.string_or_empty("topic"),
            sub_string: f.string_or_empty("subString"),
            tags_set: tags_set.into_iter().collect(),
            code_set: code_set.into_iter().collect(),
            sub_version: f.long_or("subVersion", 0)?,
            expression_type: f
                .string("expressionType")
                .unwrap_or_else(|| EXPRESSION_TYPE_TAG.to_owned()),
            class_filter_mode: f.bool_or("classFilterMode", false)?,
        })
    }
}

/// `ConsumerData`: one consumer group registered by a client. The enums are `None` when the
/// client sent an unknown name (Java keeps null and carries on).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerData {
    /// `groupName`.
    pub group_name: String,
    /// `consumeType`.
    pub consume_type: Option<ConsumeType>,
    /// `messageModel`.
    pub message_model: Option<MessageModel>,
    /// `consumeFromWhere`.
    pub consume_from_where: Option<ConsumeFromWhere>,
    /// `subscriptionDataSet`: a Java `Set`, kept in the order received.
    pub subscription_data_set: Vec<SubscriptionData>,
    /// `unitMode`.
    pub unit_mode: bool,
}

impl JsonBody for ConsumerData {
    const WHAT: &'static str = "ConsumerData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(v) = self.consume_from_where {
            w.field("consumeFromWhere");
            w.string(v.java_name());
        }
        if let Some(v) = self.consume_type {
            w.field("consumeType");
            w.string(v.java_name());
        }
        w.field("groupName");
        w.string(&self.group_name);
        if let Some(v) = self.message_model {
            w.field("messageModel");
            w.string(v.java_name());
        }
        w.field("subscriptionDataSet");
        w.begin_set();
        for sub in &self.subscription_data_set {
            w.element();
            sub.write_json(w);
        }
        w.end_collection();
        w.field("unitMode");
        w.bool(self.unit_mode);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(ConsumerData {
            group_name: f.string_or_empty("groupName"),
            consume_type: f.java_enum("consumeType")?,
            message_model: f.java_enum("messageModel")?,
            consume_from_where: f.java_enum("consumeFromWhere")?,
            subscription_data_set: f.list("subscriptionDataSet", SubscriptionData::from_json)?,
            unit_mode: f.bool_or("unitMode", false)?,
        })
    }
}

/// `ProducerData`: one producer group registered by a client.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerData {
    /// `groupName`.
    pub group_name: String,
}

impl JsonBody for ProducerData {
    const WHAT: &'static str = "ProducerData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("groupName");
        w.string(&self.group_name);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(ProducerData {
            group_name: f.string_or_empty("groupName"),
        })
    }
}

/// `HeartbeatData`: the `HEART_BEAT` request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeartbeatData {
    /// `clientID`: `ip@instanceName[@unitName]`.
    pub client_id: String,
    /// `producerDataSet`.
    pub producer_data_set: Vec<ProducerData>,
    /// `consumerDataSet`.
    pub consumer_data_set: Vec<ConsumerData>,
    /// `heartbeatFingerprint` (5.x; non-zero selects the heartbeat-V2 path).
    pub heartbeat_fingerprint: Option<i32>,
    /// `withoutSub` (5.x heartbeat V2: subscriptions left out because unchanged).
    pub without_sub: Option<bool>,
}

impl JsonBody for HeartbeatData {
    const WHAT: &'static str = "HeartbeatData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("clientID");
        w.string(&self.client_id);
        w.field("consumerDataSet");
        w.begin_set();
        for consumer in &self.consumer_data_set {
            w.element();
            consumer.write_json(w);
        }
        w.end_collection();
        if let Some(fingerprint) = self.heartbeat_fingerprint {
            w.field("heartbeatFingerprint");
            w.int(i64::from(fingerprint));
        }
        w.field("producerDataSet");
        w.begin_set();
        for producer in &self.producer_data_set {
            w.element();
            producer.write_json(w);
        }
        w.end_collection();
        if let Some(without_sub) = self.without_sub {
            w.field("withoutSub");
            w.bool(without_sub);
        }
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(HeartbeatData {
            client_id: f.string_or_empty("clientID"),
            producer_data_set: f.list("producerDataSet", ProducerData::from_json)?,
            consumer_data_set: f.list("consumerDataSet", ConsumerData::from_json)?,
            heartbeat_fingerprint: f.int("heartbeatFingerprint")?,
            without_sub: f.bool("withoutSub")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::JavaEnum;

    #[test]
    fn ordinals_follow_java_declaration_order() {
        assert_eq!(ConsumeType::from_ordinal(1), Some(ConsumeType::Passively));
        assert_eq!(
            MessageModel::from_ordinal(1),
            Some(MessageModel::Clustering)
        );
        assert_eq!(
            MessageModel::from_ordinal(0),
            Some(MessageModel::Broadcasting)
        );
        assert_eq!(
            ConsumeFromWhere::from_ordinal(0),
            Some(ConsumeFromWhere::LastOffset)
        );
        assert_eq!(
            ConsumeFromWhere::from_ordinal(4),
            Some(ConsumeFromWhere::FirstOffset)
        );
        assert_eq!(
            ConsumeFromWhere::from_ordinal(5),
            Some(ConsumeFromWhere::Timestamp)
        );
        assert_eq!(ConsumeFromWhere::from_ordinal(6), None);
        assert_eq!(ConsumeType::from_ordinal(-1), None);
    }

    #[test]
    fn java_string_hash_matches_java() {
        assert_eq!(java_string_hash("TagA"), 2_598_919);
        assert_eq!(java_string_hash(""), 0);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, a classic Java fact.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters hash as two UTF-16 units: "😀" is \uD83D\uDE00.
        assert_eq!(
            java_string_hash("\u{1F600}"),
            0xD83D_i32.wrapping_mul(31).wrapping_add(0xDE00)
        );
    }

    #[test]
    fn from_expression_like_filter_api() {
        let all = SubscriptionData::from_expression("T", "", 5);
        assert_eq!(all.sub_string, "*");
        assert!(all.tags_set.is_empty() && all.code_set.is_empty());
        assert!(all.is_sub_all());
        let star = SubscriptionData::from_expression("T", "*", 5);
        assert_eq!((star.sub_string.as_str(), star.sub_version), ("*", 5));
        let tags = SubscriptionData::from_expression("T", " TagA || TagB||||TagA ", 7);
        assert_eq!(tags.sub_string, " TagA || TagB||||TagA ");
        assert_eq!(
            tags.tags_set.iter().map(String::as_str).collect::<Vec<_>>(),
            ["TagA", "TagB"]
        );
        assert_eq!(
            tags.code_set,
            [java_string_hash("TagA"), java_string_hash("TagB")].into()
        );
        assert_eq!(tags.expression_type, "TAG");
        assert!(!tags.is_sub_all());
    }
}
