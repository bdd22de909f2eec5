//! Small bodies made of one list or map: `KVTable`, `TopicList`, `GroupList` and
//! `GetConsumerListByGroupResponseBody`. protocol.md §2.6, §2.16, §4.7.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::Fields;
use super::json_writer::JsonWriter;
use super::{write_string_list, write_string_map, write_string_set, JsonBody};
use crate::error::CodecResult;

/// `KVTable`: `{"table":{"k":"v"}}` (`GET_KVLIST_BY_NAMESPACE`, `GET_BROKER_RUNTIME_INFO`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KVTable {
    /// `table`.
    pub table: BTreeMap<String, String>,
}

impl JsonBody for KVTable {
    const WHAT: &'static str = "KVTable";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("table");
        write_string_map(w, &self.table);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(KVTable {
            table: f.string_map("table")?.unwrap_or_default(),
        })
    }
}

/// `TopicList`: `{"brokerAddr":"..","topicList":["a","b"]}`, `brokerAddr` only when set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicList {
    /// `topicList`.
    pub topic_list: BTreeSet<String>,
    /// `brokerAddr`.
    pub broker_addr: Option<String>,
}

impl JsonBody for TopicList {
    const WHAT: &'static str = "TopicList";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        if let Some(addr) = &self.broker_addr {
            w.field("brokerAddr");
            w.string(addr);
        }
        w.field("topicList");
        write_string_set(w, &self.topic_list);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(TopicList {
            topic_list: f.strings("topicList")?.into_iter().collect(),
            broker_addr: f.string("brokerAddr"),
        })
    }
}

/// `GroupList`: `{"groupList":["g"]}` (`QUERY_TOPIC_CONSUME_BY_WHO`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupList {
    /// `groupList`.
    pub group_list: BTreeSet<String>,
}

impl JsonBody for GroupList {
    const WHAT: &'static str = "GroupList";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("groupList");
        write_string_set(w, &self.group_list);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(GroupList {
            group_list: f.strings("groupList")?.into_iter().collect(),
        })
    }
}

/// `GetConsumerListByGroupResponseBody`: `{"consumerIdList":[..]}`. The Java client treats a
/// reply without this body as an error, so the broker always sends it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetConsumerListByGroupResponseBody {
    /// `consumerIdList`, in the order given.
    pub consumer_id_list: Vec<String>,
}

impl JsonBody for GetConsumerListByGroupResponseBody {
    const WHAT: &'static str = "GetConsumerListByGroupResponseBody";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("consumerIdList");
        write_string_list(w, &self.consumer_id_list);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(GetConsumerListByGroupResponseBody {
            consumer_id_list: f.strings("consumerIdList")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures() {
        let topics = TopicList {
            topic_list: ["B".to_owned(), "A".to_owned()].into(),
            broker_addr: None,
        };
        assert_eq!(topics.encode(), br#"{"topicList":["A","B"]}"#);
        let with_addr = TopicList {
            broker_addr: Some("10.0.0.1:10911".into()),
            ..topics
        };
        assert_eq!(
            with_addr.encode(),
            br#"{"brokerAddr":"10.0.0.1:10911","topicList":["A","B"]}"#
        );
        let kv = KVTable {
            table: [("k".to_owned(), "v".to_owned())].into(),
        };
        assert_eq!(kv.encode(), br#"{"table":{"k":"v"}}"#);
        let groups = GroupList::decode(br#"{"groupList":["g"]}"#).unwrap();
        assert_eq!(groups.encode(), br#"{"groupList":["g"]}"#);
        let ids =
            GetConsumerListByGroupResponseBody::decode(br#"{"consumerIdList":["b","a"]}"#).unwrap();
        assert_eq!(ids.consumer_id_list, ["b", "a"]);
        assert_eq!(ids.encode(), br#"{"consumerIdList":["b","a"]}"#);
    }
}
