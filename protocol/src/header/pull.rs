//! `PULL_MESSAGE` (11) and `LITE_PULL_MESSAGE` (361) headers (protocol.md §2.3).
//!
//! The response header's four required fields must be present in every pull reply
//! (SUCCESS, `PULL_NOT_FOUND`, `PULL_RETRY_IMMEDIATELY`, `PULL_OFFSET_MOVED`): the Java client unboxes
//! them unconditionally.

use super::CommandHeader;

command_header! {
    /// `PullMessageRequestHeader`.
    pub struct PullMessageRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
        /// Topic.
        required topic: String = "topic";
        /// Queue.
        required queue_id: i32 = "queueId";
        /// Consume-queue index to read from.
        required queue_offset: i64 = "queueOffset";
        /// Most messages to return.
        required max_msg_nums: i32 = "maxMsgNums";
        /// `PullSysFlag` bits (commit offset, suspend, subscription, class filter, lite pull).
        required sys_flag: i32 = "sysFlag";
        /// The consumer's current offset, stored when the commit bit is set.
        required commit_offset: i64 = "commitOffset";
        /// Long-poll hold time, ms.
        required suspend_timeout_millis: i64 = "suspendTimeoutMillis";
        /// Subscription expression (only with the subscription bit).
        optional subscription: String = "subscription";
        /// The subscription's version (ms timestamp).
        required sub_version: i64 = "subVersion";
        /// `"TAG"` (default) or `"SQL92"`.
        optional expression_type: String = "expressionType";
        /// Most bytes to return.
        optional max_msg_bytes: i32 = "maxMsgBytes";
        /// Proxy only.
        optional request_source: i32 = "requestSource";
        /// Proxy only (Java's misspelling).
        optional proxy_froward_client_id: String = "proxyFrowardClientId";
    }
}

command_header! {
    /// `PullMessageResponseHeader`.
    pub struct PullMessageResponseHeader {
        /// Broker id to pull from next (0 = master).
        required suggest_which_broker_id: i64 = "suggestWhichBrokerId";
        /// Where the next pull starts.
        required next_begin_offset: i64 = "nextBeginOffset";
        /// Consume-queue min offset.
        required min_offset: i64 = "minOffset";
        /// Consume-queue max offset (entry count).
        required max_offset: i64 = "maxOffset";
        /// 5.x.
        optional offset_delta: i64 = "offsetDelta";
        /// 5.x.
        optional topic_sys_flag: i32 = "topicSysFlag";
        /// 5.x.
        optional group_sys_flag: i32 = "groupSysFlag";
        /// 5.x.
        optional forbidden_type: i32 = "forbiddenType";
    }
}

/// Fields by name, for callers that want to check a reply without building the struct.
impl PullMessageResponseHeader {
    /// The wire names of the fields every pull reply must carry.
    pub fn required_names() -> impl Iterator<Item = &'static str> {
        Self::FIELDS
            .iter()
            .filter(|f| f.kind == super::FieldKind::Required)
            .map(|f| f.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ExtFields;
    use crate::header::HeaderError;

    #[test]
    fn ali_ons_pull_request_with_js_numbers_decodes() {
        // ali-ons sends numbers as JSON numbers; the JSON decoder has stringified them.
        let ext: ExtFields = [
            ("consumerGroup", "CG"),
            ("topic", "T"),
            ("queueId", "2"),
            ("queueOffset", "100"),
            ("maxMsgNums", "32"),
            ("sysFlag", "3"),
            ("commitOffset", "99"),
            ("suspendTimeoutMillis", "15000"),
            ("subscription", "*"),
            ("subVersion", "1700000000000"),
        ]
        .into_iter()
        .collect();
        let h = PullMessageRequestHeader::read_from(&ext).unwrap();
        assert_eq!((h.queue_id, h.queue_offset, h.sys_flag), (2, 100, 3));
        assert_eq!(h.expression_type, None);
        assert_eq!(h.subscription.as_deref(), Some("*"));
    }

    #[test]
    fn response_requires_all_four_offsets() {
        assert_eq!(
            PullMessageResponseHeader::required_names().collect::<Vec<_>>(),
            [
                "suggestWhichBrokerId",
                "nextBeginOffset",
                "minOffset",
                "maxOffset"
            ]
        );
        let ext: ExtFields = [
            ("suggestWhichBrokerId", "0"),
            ("nextBeginOffset", "5"),
            ("minOffset", "0"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            PullMessageResponseHeader::read_from(&ext),
            Err(HeaderError::Missing { field: "maxOffset" })
        );
    }
}
