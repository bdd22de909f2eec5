//! `ConsumerOffsetSerializeWrapper`: committed consumer offsets, the shape of
//! `consumerOffset.json` (protocol.md §6.5) and of `GET_ALL_CONSUMER_OFFSET` replies; and
//! `DelayOffsetSerializeWrapper`, the shape of `delayOffset.json` and of
//! `GET_ALL_DELAY_OFFSET` replies (`{"offsetTable":{1:0,2:17}}`, delay level to the offset in
//! `SCHEDULE_TOPIC_XXXX` queue `level - 1`).
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
            write_int_long_map(w, queues);
        }
        w.end_map();
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let offset_table = f.keyed("offsetTable", |queues| {
            read_int_long_map(queues, Self::WHAT)
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

/// Read an `Integer`-keyed, `Long`-valued map (`{0:12,1:9}`); null values are skipped.
fn read_int_long_map(value: &Value, what: &'static str) -> CodecResult<BTreeMap<i32, i64>> {
    let Value::Object(entries) = value else {
        return Err(invalid(what, "offsetTable: expected an object"));
    };
    let mut out = BTreeMap::new();
    for (key, offset) in entries {
        let key = long_key(key, what)?;
        let key = i32::try_from(key)
            .map_err(|_| invalid(what, format!("map key {key} is out of int range")))?;
        let offset = cast_long(offset).map_err(|r| invalid(what, format!("offsetTable: {r}")))?;
        if let Some(offset) = offset {
            out.insert(key, offset);
        }
    }
    Ok(out)
}

fn write_int_long_map(w: &mut JsonWriter, map: &BTreeMap<i32, i64>) {
    w.begin_map();
    for (key, value) in map {
        w.int_key(i64::from(*key));
        w.int(*value);
    }
    w.end_map();
}

/// `DelayOffsetSerializeWrapper` (and `ScheduleMessageService` as persisted).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DelayOffsetWrapper {
    /// `offsetTable`: delay level (1-based) to the consume offset of its schedule queue.
    pub offset_table: BTreeMap<i32, i64>,
    /// `dataVersion` (5.x); written only when set.
    pub data_version: Option<DataVersion>,
}

impl JsonBody for DelayOffsetWrapper {
    const WHAT: &'static str = "DelayOffsetSerializeWrapper";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(version) = &self.data_version {
            w.field("dataVersion");
            version.write_json(w);
        }
        w.field("offsetTable");
        write_int_long_map(w, &self.offset_table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(DelayOffsetWrapper {
            offset_table: match f.get("offsetTable") {
                Some(table) => read_int_long_map(table, Self::WHAT)?,
                None => BTreeMap::new(),
            },
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
    fn delay_offset_json() {
        let delay = DelayOffsetWrapper {
            offset_table: BTreeMap::from([(1, 0), (2, 0), (3, 17)]),
            data_version: None,
        };
        let compact = r#"{"offsetTable":{1:0,2:0,3:17}}"#;
        assert_eq!(delay.encode(), compact.as_bytes());
        let pretty = "{\n\t\"offsetTable\":{1:0,2:0,3:17\n\t}\n}";
        assert_eq!(delay.encode_pretty(), pretty.as_bytes());
        assert_eq!(
            DelayOffsetWrapper::decode(compact.as_bytes()).unwrap(),
            delay
        );
        assert_eq!(
            DelayOffsetWrapper::decode(pretty.as_bytes()).unwrap(),
            delay
        );
        assert!(DelayOffsetWrapper::decode(br#"{"offsetTable":[]}"#).is_err());
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
