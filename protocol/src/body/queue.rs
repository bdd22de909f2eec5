//! `MessageQueue` and the orderly-consumer lock bodies `LOCK_BATCH_MQ` / `UNLOCK_BATCH_MQ`
//! (protocol.md §2.12). `MessageQueue` is also the object key of `ConsumeStats` and
//! `TopicStatsTable` (see [`super::admin`]).

use std::collections::BTreeSet;

use serde_json::Value;

use super::fields::Fields;
use super::json_writer::JsonWriter;
use super::lenient_json;
use super::JsonBody;
use crate::error::CodecResult;

/// `MessageQueue`: one queue of a topic on one broker. Ordered as Java's `compareTo`: topic,
/// then broker name, then queue id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageQueue {
    /// `topic`.
    pub topic: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `queueId`.
    pub queue_id: i32,
}

impl MessageQueue {
    /// A queue.
    pub fn new(topic: impl Into<String>, broker_name: impl Into<String>, queue_id: i32) -> Self {
        MessageQueue {
            topic: topic.into(),
            broker_name: broker_name.into(),
            queue_id,
        }
    }

    /// Read a queue from the text of an object map key (`{"brokerName":..}` as fastjson
    /// writes it); see [`lenient_json`] for how object keys become text.
    pub(crate) fn from_key_text(key: &str) -> CodecResult<Self> {
        Self::from_json(&lenient_json::parse(key.as_bytes())?)
    }
}

impl JsonBody for MessageQueue {
    const WHAT: &'static str = "MessageQueue";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerName");
        w.string(&self.broker_name);
        w.field("queueId");
        w.int(i64::from(self.queue_id));
        w.field("topic");
        w.string(&self.topic);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(MessageQueue {
            topic: f.string_or_empty("topic"),
            broker_name: f.string_or_empty("brokerName"),
            queue_id: f.int_or("queueId", 0)?,
        })
    }
}

fn write_queue_set(w: &mut JsonWriter, queues: &BTreeSet<MessageQueue>) {
    w.begin_set();
    for queue in queues {
        w.element();
        queue.write_json(w);
    }
    w.end_collection();
}

fn read_queue_set(f: &Fields<'_>, key: &str) -> CodecResult<BTreeSet<MessageQueue>> {
    Ok(f.list(key, MessageQueue::from_json)?.into_iter().collect())
}

/// `LockBatchRequestBody`: `LOCK_BATCH_MQ` request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockBatchRequestBody {
    /// `consumerGroup`.
    pub consumer_group: String,
    /// `clientId`.
    pub client_id: String,
    /// `onlyThisBroker`.
    pub only_this_broker: bool,
    /// `mqSet`.
    pub mq_set: BTreeSet<MessageQueue>,
}

/// `UnlockBatchRequestBody`: `UNLOCK_BATCH_MQ` request; the same fields as the lock request.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnlockBatchRequestBody {
    /// `consumerGroup`.
    pub consumer_group: String,
    /// `clientId`.
    pub client_id: String,
    /// `onlyThisBroker`.
    pub only_this_broker: bool,
    /// `mqSet`.
    pub mq_set: BTreeSet<MessageQueue>,
}

/// Both batch requests share their layout: `clientId`, `consumerGroup`, `mqSet`,
/// `onlyThisBroker`.
macro_rules! batch_request_body {
    ($ty:ident, $what:literal) => {
        impl JsonBody for $ty {
            const WHAT: &'static str = $what;

            fn write_json(&self, w: &mut JsonWriter) {
                w.begin_bean();
                w.field("clientId");
                w.string(&self.client_id);
                w.field("consumerGroup");
                w.string(&self.consumer_group);
                w.field("mqSet");
                write_queue_set(w, &self.mq_set);
                w.field("onlyThisBroker");
                w.bool(self.only_this_broker);
                w.end_bean();
            }

            fn from_json(value: &Value) -> CodecResult<Self> {
                let f = Fields::new(value, Self::WHAT)?;
                Ok($ty {
                    consumer_group: f.string_or_empty("consumerGroup"),
                    client_id: f.string_or_empty("clientId"),
                    only_this_broker: f.bool_or("onlyThisBroker", false)?,
                    mq_set: read_queue_set(&f, "mqSet")?,
                })
            }
        }
    };
}

batch_request_body!(LockBatchRequestBody, "LockBatchRequestBody");
batch_request_body!(UnlockBatchRequestBody, "UnlockBatchRequestBody");

/// `LockBatchResponseBody`: the queues the `LOCK_BATCH_MQ` request got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockBatchResponseBody {
    /// `lockOKMQSet`.
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

impl JsonBody for LockBatchResponseBody {
    const WHAT: &'static str = "LockBatchResponseBody";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("lockOKMQSet");
        write_queue_set(w, &self.lock_ok_mq_set);
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(LockBatchResponseBody {
            lock_ok_mq_set: read_queue_set(&f, "lockOKMQSet")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_request_fixture() {
        let text = r#"{"clientId":"c1","consumerGroup":"CG","mqSet":[{"brokerName":"broker-a","queueId":0,"topic":"T"}],"onlyThisBroker":false}"#;
        let body = LockBatchRequestBody::decode(text.as_bytes()).unwrap();
        assert_eq!(body.mq_set.len(), 1);
        assert!(body.mq_set.contains(&MessageQueue::new("T", "broker-a", 0)));
        assert_eq!(String::from_utf8(body.encode()).unwrap(), text);
        let unlock = UnlockBatchRequestBody::decode(text.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(unlock.encode()).unwrap(), text);
    }

    #[test]
    fn queues_order_like_java_compare_to() {
        let mut queues = vec![
            MessageQueue::new("B", "a", 0),
            MessageQueue::new("A", "b", 0),
            MessageQueue::new("A", "a", 2),
            MessageQueue::new("A", "a", 1),
        ];
        queues.sort();
        assert_eq!(
            queues,
            vec![
                MessageQueue::new("A", "a", 1),
                MessageQueue::new("A", "a", 2),
                MessageQueue::new("A", "b", 0),
                MessageQueue::new("B", "a", 0),
            ]
        );
    }
}
