//! JSON bodies (heartbeat, route, cluster info, topic configs, offsets, admin replies) with
//! fastjson's quirks, and the config files the broker persists in the same format.
//!
//! # Layout
//! - [`lenient_json`]: parses fastjson's dialect (unquoted integer keys, object keys, single
//!   quotes) into a [`serde_json::Value`], bounded in depth, size and memory.
//! - [`json_writer`]: writes compact, standard or pretty (tab) JSON exactly as fastjson does.
//! - `fields` (private): fastjson's casts when it fills a Java field from JSON.
//! - One module per family of bodies: [`heartbeat`], [`route`], [`topic`],
//!   [`subscription_group`], [`consumer_offset`], [`queue`] (`MessageQueue` and the lock
//!   bodies), [`admin`] (stats and connections), [`lists`] (`KVTable` and the list bodies).
//!
//! # Contract of every body type ([`JsonBody`])
//! - `encode()` gives the exact bytes Java's `RemotingSerializable.encode()` gives: compact,
//!   fields sorted by name, null fields omitted, enums by name, non-String map keys bare.
//!   Java iterates a `HashMap` in hash order; we write maps and sets sorted (`BTreeMap`,
//!   `BTreeSet`), which every reader accepts and which matches Java for small integer keys.
//! - `encode_pretty()` gives `toJson(true)`, the format of the files under `store/config/`.
//! - `decode()` is lenient as fastjson is: unknown fields are ignored, missing fields take
//!   Java's defaults, scalars are cast (`"1"` into an int, `1` into a String), enums are read
//!   by name or ordinal. Malformed input is a [`CodecError::InvalidBody`], never a panic.
//! - Java defaults that read the clock (`SubscriptionData.subVersion`,
//!   `DataVersion.timestamp`) decode as 0 when missing: this crate does no I/O and has no
//!   clock; callers that care substitute the current time.

use serde_json::Value;

use crate::error::{CodecError, CodecResult};

mod fields;

pub mod admin;
pub mod consumer_offset;
pub mod heartbeat;
pub mod json_writer;
pub mod lenient_json;
pub mod lists;
pub mod queue;
pub mod route;
pub mod subscription_group;
pub mod topic;

pub use admin::{
    Connection, ConsumeStats, ConsumerConnection, OffsetWrapper, ProducerConnection, TopicOffset,
    TopicStatsTable,
};
pub use consumer_offset::{ConsumerOffsetWrapper, DelayOffsetWrapper};
pub use fields::JavaEnum;
pub use heartbeat::{
    ConsumeFromWhere, ConsumeType, ConsumerData, HeartbeatData, MessageModel, ProducerData,
    SubscriptionData,
};
pub use json_writer::{JsonStyle, JsonWriter};
pub use lists::{GetConsumerListByGroupResponseBody, GroupList, KVTable, TopicList};
pub use queue::{
    LockBatchRequestBody, LockBatchResponseBody, MessageQueue, UnlockBatchRequestBody,
};
pub use route::{BrokerData, ClusterInfo, QueueData, RouteJsonStyle, TopicRouteData};
pub use subscription_group::{SubscriptionGroupConfig, SubscriptionGroupWrapper};
pub use topic::{
    perm, DataVersion, RegisterBrokerBody, TopicConfig, TopicConfigSerializeWrapper,
    TopicFilterType,
};

/// A Java class that `RocketMQ` sends or stores as JSON.
pub trait JsonBody: Sized {
    /// The Java class name, used in error messages.
    const WHAT: &'static str;

    /// Write `self` as one JSON value (fields sorted, nulls omitted).
    fn write_json(&self, w: &mut JsonWriter);

    /// Read `Self` from a parsed JSON value, with fastjson's leniency.
    fn from_json(value: &Value) -> CodecResult<Self>;

    /// The compact bytes Java's `encode()` produces.
    fn encode(&self) -> Vec<u8> {
        self.encode_with_style(JsonStyle::FASTJSON)
    }

    /// The pretty (tab-indented) bytes Java writes to config files (`toJson(true)`).
    fn encode_pretty(&self) -> Vec<u8> {
        self.encode_with_style(JsonStyle::FASTJSON_PRETTY)
    }

    /// The bytes in any [`JsonStyle`].
    fn encode_with_style(&self, style: JsonStyle) -> Vec<u8> {
        let mut w = JsonWriter::new(style);
        self.write_json(&mut w);
        w.into_bytes()
    }

    /// Parse a body (compact or pretty, fastjson dialect).
    fn decode(bytes: &[u8]) -> CodecResult<Self> {
        let value = lenient_json::parse(bytes).map_err(|e| rename(e, Self::WHAT))?;
        Self::from_json(&value)
    }
}

/// Attribute a parse error to the body being decoded.
fn rename(e: CodecError, what: &'static str) -> CodecError {
    match e {
        CodecError::InvalidBody { reason, .. } => CodecError::InvalidBody { what, reason },
        other => other,
    }
}

/// Write `items` as a Java `Set` (`CollectionCodec`) of strings.
fn write_string_set<'a>(w: &mut JsonWriter, items: impl IntoIterator<Item = &'a String>) {
    w.begin_set();
    for item in items {
        w.element();
        w.string(item);
    }
    w.end_collection();
}

/// Write `items` as a Java `List` (`ListSerializer`) of strings.
fn write_string_list<'a>(w: &mut JsonWriter, items: impl IntoIterator<Item = &'a String>) {
    w.begin_list();
    for item in items {
        w.element();
        w.string(item);
    }
    w.end_collection();
}

/// Write a `Map<String, Bean>`: string keys, each value a body of its own.
fn write_bean_map<'a, T: JsonBody + 'a>(
    w: &mut JsonWriter,
    entries: impl IntoIterator<Item = (&'a String, &'a T)>,
) {
    w.begin_map();
    for (k, v) in entries {
        w.key(k);
        v.write_json(w);
    }
    w.end_map();
}

/// Write a `Map<String, String>`.
fn write_string_map<'a>(
    w: &mut JsonWriter,
    entries: impl IntoIterator<Item = (&'a String, &'a String)>,
) {
    w.begin_map();
    for (k, v) in entries {
        w.key(k);
        w.string(v);
    }
    w.end_map();
}
