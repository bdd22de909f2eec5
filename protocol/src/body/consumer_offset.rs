//! `ConsumerOffsetSerializeWrapper`: committed consumer offsets, the shape of
//! `consumerOffset.json` (protocol.md §6.5) and of `GET_ALL_CONSUMER_OFFSET` replies.
//!
//! `{"offsetTable":{"TopicTest@CG":{0:12,1:9}}}`: the outer key is `topic@group`, the inner
//! keys are queue ids written **bare** (fastjson's default for `Integer` keys), and in the
//! pretty file form they stay on the line of the `{` (`"T@G":{0:12,1:9\n\t\t}`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::fields::{cast_long, invalid, long_key, Fields};
use super::json_writer::JsonWriter;
use super::topic::DataVersion;
use super::JsonBody;
use crate::error::CodecResult;

/// The separator between topic and group in offset-table keys.
pub const TOPIC_GROUP_SEPARATOR: char = '@';

/// `ConsumerOffsetSerializeWrapper` (and `ConsumerOffsetManager` as persisted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerOffsetWrapper {
    /// `offsetTable`: `topic@group` to queue id to committed offset.
    pub offset_table: BTreeMap<String, BTreeMap<i32, i64>>,
    /// `dataVersion` (5.x); written only when set.
    pub data_version: Option<DataVersion>,
}

impl ConsumerOffsetWrapper {
    /// The offset-table key of a topic and group: `topic@group`.
    pub fn table_key(topic: &str, group: &str) -> String {
        let mut key = String::with_capacity(topic.len() + group.len() + 1);
        key.push_str(topic);
        key.push(TOPIC_GROUP_SEPARATOR);
        key.push_str(group);
        key
    }

    /// Split a `topic@group` key; `None` if it has no `@`. Topics cannot contain `@`, groups
    /// can't either, so the first `@` separates them.
    pub fn split_table_key(key: &str) -> Option<(&str, &str)> {
        key.split_once(TOPIC_GROUP_SEPARATOR)
    }
}

impl JsonBody for ConsumerOffsetWrapper {
    const WHAT: &'static str = "ConsumerOffsetSerializeWrapper";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(version) = &self.data_version {
            w.field("dataVersion");
            version.write_json(w);
        }
        w.field("offsetTable");
        w.begin_map();
        for (key, queues) in &self.offset_table {
            w.key(key);
            w.begin_map();
            for (queue_id, offset) in queues {
                w.int_key(i64::from(*queue_id));
                w.int(*offset);
            }
            w.end_map();
        }
        w.end_map();
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let offset_table = f.keyed("offsetTable", |queues| {
            let Value::Object(queues) = queues else {
                return Err(invalid(
                    Self::WHAT,
                    "offsetTable: expected an object of queues",
                ));
            };
            let mut out = BTreeMap::new();
            for (queue_id, offset) in queues {
                let queue_id = long_key(queue_id, Self::WHAT)?;
                let queue_id = i32::try_from(queue_id).map_err(|_| {
                    invalid(
                        Self::WHAT,
                        format!("queue id {queue_id} is out of int range"),
                    )
                })?;
                let offset = cast_long(offset)
                    .map_err(|r| invalid(Self::WHAT, format!("offsetTable: {r}")))?;
                if let Some(offset) = offset {
                    out.insert(queue_id, offset);
                }
            }
            Ok(out)
        })?;
        Ok(ConsumerOffsetWrapper {
            offset_table,
            data_version: f
                .get("dataVersion")
                .map(DataVersion::from_json)
                .transpose()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_keys() {
        let key = ConsumerOffsetWrapper::table_key("%RETRY%CG", "CG");
        assert_eq!(key, "%RETRY%CG@CG");
        assert_eq!(
            ConsumerOffsetWrapper::split_table_key(&key),
            Some(("%RETRY%CG", "CG"))
        );
        assert_eq!(ConsumerOffsetWrapper::split_table_key("nokey"), None);
    }

    #[test]
    fn bad_queue_keys_are_errors() {
        assert!(ConsumerOffsetWrapper::decode(br#"{"offsetTable":{"T@G":{x:1}}}"#).is_err());
        assert!(
            ConsumerOffsetWrapper::decode(br#"{"offsetTable":{"T@G":{9999999999:1}}}"#).is_err()
        );
        assert!(ConsumerOffsetWrapper::decode(br#"{"offsetTable":{"T@G":[1]}}"#).is_err());
        assert!(ConsumerOffsetWrapper::decode(br#"{"offsetTable":{"T@G":{0:"x"}}}"#).is_err());
    }
}
