//! Message lookup and retry headers: `QUERY_MESSAGE` (12), `VIEW_MESSAGE_BY_ID` (33),
//! `CONSUMER_SEND_MSG_BACK` (36). protocol.md §2.9, §2.10.

command_header! {
    /// `ViewMessageRequestHeader`: one record by commitlog offset.
    pub struct ViewMessageRequestHeader {
        /// 5.x: the topic, for permission checks.
        optional topic: String = "topic";
        /// Commitlog physical offset.
        required offset: i64 = "offset";
    }
}

command_header! {
    /// `QueryMessageRequestHeader`: messages by key through the `IndexFile`. The extra extField
    /// `_UNIQUE_KEY_QUERY` is not part of the Java class; read it from the command directly.
    pub struct QueryMessageRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Message key (or unique key).
        required key: String = "key";
        /// Most messages to return.
        required max_num: i32 = "maxNum";
        /// Earliest store time, ms.
        required begin_timestamp: i64 = "beginTimestamp";
        /// Latest store time, ms.
        required end_timestamp: i64 = "endTimestamp";
    }
}

command_header! {
    /// `QueryMessageResponseHeader`.
    pub struct QueryMessageResponseHeader {
        /// Last `IndexFile` update time, ms.
        required index_last_update_timestamp: i64 = "indexLastUpdateTimestamp";
        /// Commitlog offset of the last indexed record.
        required index_last_update_phyoffset: i64 = "indexLastUpdatePhyoffset";
    }
}

command_header! {
    /// `ConsumerSendMsgBackRequestHeader`: a consumer returns a failed message.
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Commitlog offset of the failed message.
        required offset: i64 = "offset";
        /// Consumer group.
        required group: String = "group";
        /// Delay level; 0 lets the broker choose, negative goes to the DLQ.
        required delay_level: i32 = "delayLevel";
        /// The original message id.
        optional origin_msg_id: String = "originMsgId";
        /// The original topic.
        optional origin_topic: String = "originTopic";
        /// Unit mode (Java `boolean unitMode = false`).
        defaulted(false) unit_mode: bool = "unitMode";
        /// Retry budget; honoured only from clients at `V3_4_9` or later.
        optional max_reconsume_times: i32 = "maxReconsumeTimes";
    }
}
