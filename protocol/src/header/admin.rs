//! Broker admin headers used by mqadmin and ali-ons: topic create/delete (17/215), consume
//! stats (208), connection lists (203/204), topic stats (202), who consumes a topic (300) and
//! the `GET_ALL_TOPIC_CONFIG` (21) reply. protocol.md §2.17.

command_header! {
    /// `CreateTopicRequestHeader` (`UPDATE_AND_CREATE_TOPIC`).
    pub struct CreateTopicRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Template topic (`"TBW102"`).
        required default_topic: String = "defaultTopic";
        /// Read queue count.
        required read_queue_nums: i32 = "readQueueNums";
        /// Write queue count.
        required write_queue_nums: i32 = "writeQueueNums";
        /// Permission bits.
        required perm: i32 = "perm";
        /// `"SINGLE_TAG"` or `"MULTI_TAG"`.
        required topic_filter_type: String = "topicFilterType";
        /// Topic sysFlag.
        optional topic_sys_flag: i32 = "topicSysFlag";
        /// Ordered topic (`@CFNotNull Boolean order = false`: Java senders always write it).
        required order: bool = "order";
        /// 5.x attributes, e.g. `"+message.type=NORMAL"`.
        optional attributes: String = "attributes";
        /// 5.x: override attribute checks (Java `Boolean force = false`).
        defaulted(false) force: bool = "force";
    }
}

command_header! {
    /// `DeleteTopicRequestHeader` (`DELETE_TOPIC_IN_BROKER`).
    pub struct DeleteTopicRequestHeader {
        /// Topic.
        required topic: String = "topic";
    }
}

command_header! {
    /// `GetConsumeStatsRequestHeader`.
    pub struct GetConsumeStatsRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
        /// One topic; absent or empty means every topic the group has offsets for.
        optional topic: String = "topic";
        /// 5.x: `;`-separated topics.
        optional topic_list: String = "topicList";
    }
}

command_header! {
    /// `GetConsumerConnectionListRequestHeader`.
    pub struct GetConsumerConnectionListRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
    }
}

command_header! {
    /// `GetProducerConnectionListRequestHeader`.
    pub struct GetProducerConnectionListRequestHeader {
        /// Producer group.
        required producer_group: String = "producerGroup";
    }
}

command_header! {
    /// `GetTopicStatsInfoRequestHeader`.
    pub struct GetTopicStatsInfoRequestHeader {
        /// Topic.
        required topic: String = "topic";
    }
}

command_header! {
    /// `QueryTopicConsumeByWhoRequestHeader`.
    pub struct QueryTopicConsumeByWhoRequestHeader {
        /// Topic.
        required topic: String = "topic";
    }
}

command_header! {
    /// `GetAllTopicConfigResponseHeader`. 5.x declares `totalTopicNum` `@CFNotNull`, but 4.x has
    /// no such header and stock clients do not read it, so it is optional here.
    pub struct GetAllTopicConfigResponseHeader {
        /// Total topics on the broker.
        optional total_topic_num: i32 = "totalTopicNum";
    }
}
