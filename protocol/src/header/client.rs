//! Client membership headers: `UNREGISTER_CLIENT` (35), `GET_CONSUMER_LIST_BY_GROUP` (38) and
//! `NOTIFY_CONSUMER_IDS_CHANGED` (40, broker → client). protocol.md §2.5, §2.6, §2.13.

command_header! {
    /// `UnregisterClientRequestHeader` (the response header is empty).
    pub struct UnregisterClientRequestHeader {
        /// The client id (`ip@instance`); Java's field name is `clientID`.
        required client_id: String = "clientID";
        /// The producer group being unregistered, if any.
        optional producer_group: String = "producerGroup";
        /// The consumer group being unregistered, if any.
        optional consumer_group: String = "consumerGroup";
    }
}

command_header! {
    /// `GetConsumerListByGroupRequestHeader`.
    pub struct GetConsumerListByGroupRequestHeader {
        /// Consumer group.
        required consumer_group: String = "consumerGroup";
    }
}

command_header! {
    /// `NotifyConsumerIdsChangedRequestHeader` (broker → client, oneway).
    pub struct NotifyConsumerIdsChangedRequestHeader {
        /// The group whose membership changed.
        required consumer_group: String = "consumerGroup";
    }
}
