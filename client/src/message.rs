//! Messages as the client sees them: [`Message`] to send, [`MessageExt`] received from a pull.
//!
//! Invariants: a [`MessageExt`] body is a zero-copy slice of the pull response; decoding a pull
//! body is total (a malformed record is an error, never a panic). Bodies that the producer
//! compressed (sysFlag bit 0) are handed over as stored, with [`MessageExt::is_compressed`]
//! set: this client has no zlib dependency.

use bytes::Bytes;
use rmq_protocol::message::{keys, properties, record, sysflag::message as msgflag};

use crate::error::{ClientError, ClientResult};

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Topic.
    pub topic: String,
    /// Body bytes (shared, so cloning a message does not copy its body).
    pub body: Bytes,
    /// The tag (`TAGS`), if any.
    pub tags: Option<String>,
    /// Space-separated keys (`KEYS`), if any.
    pub keys: Option<String>,
    /// The user flag.
    pub flag: i32,
    /// Further properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// `WAIT`: whether the broker answers only after the store (and flush, per its mode).
    pub wait_store_msg_ok: bool,
}

impl Message {
    /// A message with a body and nothing else (`WAIT=true`, as Java's default).
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            wait_store_msg_ok: true,
            ..Message::default()
        }
    }

    /// Set the tag.
    #[must_use]
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Set the keys.
    #[must_use]
    pub fn with_keys(mut self, keys: impl Into<String>) -> Self {
        self.keys = Some(keys.into());
        self
    }

    /// Add a user property.
    #[must_use]
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }

    /// The properties string sent with the message, with `uniq_key` as `UNIQ_KEY`.
    pub fn properties_string(&self, uniq_key: Option<&str>) -> String {
        let mut entries: Vec<(&str, &str)> = Vec::with_capacity(4 + self.user_properties.len());
        if let Some(k) = &self.keys {
            entries.push((keys::KEYS, k));
        }
        if let Some(t) = &self.tags {
            entries.push((keys::TAGS, t));
        }
        entries.push((
            keys::WAIT,
            if self.wait_store_msg_ok {
                "true"
            } else {
                "false"
            },
        ));
        if let Some(u) = uniq_key {
            entries.push((keys::UNIQ_KEY, u));
        }
        entries.extend(
            self.user_properties
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        properties::encode(entries)
    }

    /// Check the message against what a broker accepts, before sending.
    pub fn validate(&self, body_max: usize) -> ClientResult<()> {
        if self.topic.is_empty() {
            return Err(ClientError::InvalidArgument("empty topic".into()));
        }
        if self.topic.len() > rmq_protocol::limits::TOPIC_NAME_BYTES_MAX {
            return Err(ClientError::InvalidArgument("topic name too long".into()));
        }
        if self.body.is_empty() {
            return Err(ClientError::InvalidArgument("empty message body".into()));
        }
        if self.body.len() > body_max {
            return Err(ClientError::InvalidArgument(format!(
                "message body of {} bytes exceeds {body_max}",
                self.body.len()
            )));
        }
        Ok(())
    }
}

/// A message received from a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    /// Topic.
    pub topic: String,
    /// The broker it was pulled from.
    pub broker_name: String,
    /// Queue id.
    pub queue_id: i32,
    /// Offset in the consume queue.
    pub queue_offset: i64,
    /// Offset in the broker's commit log.
    pub commit_log_offset: i64,
    /// Message sysFlag.
    pub sys_flag: i32,
    /// User flag.
    pub flag: i32,
    /// When the producer created it (ms).
    pub born_timestamp: i64,
    /// When the broker stored it (ms).
    pub store_timestamp: i64,
    /// Delivery attempts so far.
    pub reconsume_times: i32,
    /// The properties string.
    pub properties: String,
    /// The body (a slice of the pull response).
    pub body: Bytes,
    /// Stored record size in bytes (what flow control by bytes counts).
    pub store_size: usize,
}

impl MessageExt {
    /// A property's value.
    pub fn property(&self, name: &str) -> Option<&str> {
        properties::get(&self.properties, name)
    }

    /// The tag.
    pub fn tags(&self) -> Option<&str> {
        self.property(keys::TAGS)
    }

    /// The keys.
    pub fn keys(&self) -> Option<&str> {
        self.property(keys::KEYS)
    }

    /// The client-side unique id (`UNIQ_KEY`).
    pub fn uniq_key(&self) -> Option<&str> {
        self.property(keys::UNIQ_KEY)
    }

    /// Whether the body is zlib-compressed (sysFlag bit 0).
    pub const fn is_compressed(&self) -> bool {
        msgflag::is_compressed(self.sys_flag)
    }
}

/// Decode the records of a PULL response body. `body` is the whole body; each message's body
/// is a slice of it.
pub fn decode_pull_body(body: &Bytes, broker_name: &str) -> ClientResult<Vec<MessageExt>> {
    let mut out = Vec::new();
    for view in record::records(body) {
        let view = view.map_err(|e| ClientError::BadBody {
            addr: broker_name.to_string(),
            reason: e.to_string(),
        })?;
        out.push(MessageExt {
            topic: view.topic().to_string(),
            broker_name: broker_name.to_string(),
            queue_id: view.queue_id(),
            queue_offset: view.queue_offset(),
            commit_log_offset: view.physical_offset(),
            sys_flag: view.sys_flag(),
            flag: view.flag(),
            born_timestamp: view.born_timestamp(),
            store_timestamp: view.store_timestamp(),
            reconsume_times: view.reconsume_times(),
            properties: view.properties().to_string(),
            body: body.slice_ref(view.body()),
            store_size: view.total_size(),
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rmq_protocol::message::record::RecordFields;
    use std::net::SocketAddr;

    /// A stored record as a broker would return it in a pull body.
    pub(crate) fn stored_record(topic: &str, queue_id: i32, offset: i64, body: &[u8]) -> Vec<u8> {
        let props = properties::encode([(keys::TAGS, "TagA"), (keys::UNIQ_KEY, "U1")]);
        RecordFields {
            queue_id,
            flag: 0,
            queue_offset: offset,
            physical_offset: offset * 1000,
            sys_flag: 0,
            born_timestamp: 1,
            born_host: SocketAddr::from(([127, 0, 0, 1], 1)),
            store_timestamp: 2,
            store_host: SocketAddr::from(([127, 0, 0, 1], 10911)),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
            body,
            topic,
            properties: &props,
        }
        .encode_to_vec()
        .unwrap()
    }

    #[test]
    fn properties_string_carries_tags_keys_wait_and_uniq_key() {
        let m = Message::new("T", &b"x"[..])
            .with_tags("A")
            .with_keys("k1 k2")
            .with_property("p", "v");
        let s = m.properties_string(Some("U"));
        assert_eq!(properties::get(&s, keys::TAGS), Some("A"));
        assert_eq!(properties::get(&s, keys::KEYS), Some("k1 k2"));
        assert_eq!(properties::get(&s, keys::WAIT), Some("true"));
        assert_eq!(properties::get(&s, keys::UNIQ_KEY), Some("U"));
        assert_eq!(properties::get(&s, "p"), Some("v"));
    }

    #[test]
    fn validation_rejects_what_a_broker_would() {
        assert!(Message::new("", &b"x"[..]).validate(10).is_err());
        assert!(Message::new("T", Bytes::new()).validate(10).is_err());
        assert!(Message::new("T", vec![0u8; 11]).validate(10).is_err());
        assert!(Message::new("T", vec![0u8; 10]).validate(10).is_ok());
    }

    #[test]
    fn pull_body_decodes_and_a_torn_one_is_an_error() {
        let mut body = stored_record("T", 1, 5, b"hello");
        body.extend(stored_record("T", 1, 6, b"world"));
        let body = Bytes::from(body);
        let msgs = decode_pull_body(&body, "b").unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].body, &b"hello"[..]);
        assert_eq!(msgs[1].queue_offset, 6);
        assert_eq!(msgs[1].tags(), Some("TagA"));
        assert_eq!(msgs[1].broker_name, "b");
        let torn = body.slice(..body.len() - 3);
        assert!(decode_pull_body(&torn, "b").is_err());
        assert!(decode_pull_body(&Bytes::from_static(&[0xff; 7]), "b").is_err());
    }
}
