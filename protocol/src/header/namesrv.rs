//! Name server headers: routes (105), broker registration (103/104, `QUERY_DATA_VERSION` 322),
//! topic deletion (216), KV config (100/101/102/219), topics by cluster (224) and write
//! permission (205/327). protocol.md §2.14-§2.16.

command_header! {
    /// `GetRouteInfoRequestHeader`.
    pub struct GetRouteInfoRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Answer in standard JSON (quoted map keys) even to clients older than `V4_9_4`.
        optional accept_standard_json_only: bool = "acceptStandardJsonOnly";
    }
}

command_header! {
    /// `RegisterBrokerRequestHeader`.
    pub struct RegisterBrokerRequestHeader {
        /// Broker name.
        required broker_name: String = "brokerName";
        /// `brokerIP1:listenPort`.
        required broker_addr: String = "brokerAddr";
        /// Cluster name.
        required cluster_name: String = "clusterName";
        /// `brokerIP2:haListenPort`.
        required ha_server_addr: String = "haServerAddr";
        /// 0 = master.
        required broker_id: i64 = "brokerId";
        /// 5.x: how long the name server keeps the broker without a new registration.
        optional heartbeat_timeout_millis: i64 = "heartbeatTimeoutMillis";
        /// 5.x: acting-master mode.
        optional enable_acting_master: bool = "enableActingMaster";
        /// Whether the body is the compressed form (Java `boolean compressed`).
        defaulted(false) compressed: bool = "compressed";
        /// `CRC32(body) & 0x7FFFFFFF`; 0 disables the check (Java `Integer bodyCrc32 = 0`).
        defaulted(0) body_crc32: i32 = "bodyCrc32";
    }
}

command_header! {
    /// `RegisterBrokerResponseHeader`: for a slave, its master's addresses.
    pub struct RegisterBrokerResponseHeader {
        /// The master's HA address.
        optional ha_server_addr: String = "haServerAddr";
        /// The master's broker address.
        optional master_addr: String = "masterAddr";
    }
}

command_header! {
    /// `UnRegisterBrokerRequestHeader`.
    pub struct UnregisterBrokerRequestHeader {
        /// Broker name.
        required broker_name: String = "brokerName";
        /// `brokerIP1:listenPort`.
        required broker_addr: String = "brokerAddr";
        /// Cluster name.
        required cluster_name: String = "clusterName";
        /// Broker id.
        required broker_id: i64 = "brokerId";
    }
}

command_header! {
    /// `QueryDataVersionRequestHeader` (the body is the broker's `DataVersion` JSON).
    pub struct QueryDataVersionRequestHeader {
        /// Broker name.
        required broker_name: String = "brokerName";
        /// `brokerIP1:listenPort`.
        required broker_addr: String = "brokerAddr";
        /// Cluster name.
        required cluster_name: String = "clusterName";
        /// Broker id.
        required broker_id: i64 = "brokerId";
    }
}

command_header! {
    /// `QueryDataVersionResponseHeader`.
    pub struct QueryDataVersionResponseHeader {
        /// Whether the name server's data version differs from the broker's.
        required changed: bool = "changed";
    }
}

command_header! {
    /// `DeleteTopicFromNamesrvRequestHeader` (`DELETE_TOPIC_IN_NAMESRV`).
    pub struct DeleteTopicFromNamesrvRequestHeader {
        /// Topic.
        required topic: String = "topic";
        /// Limit the deletion to one cluster.
        optional cluster_name: String = "clusterName";
    }
}

command_header! {
    /// `PutKVConfigRequestHeader`.
    pub struct PutKvConfigRequestHeader {
        /// Namespace.
        required namespace: String = "namespace";
        /// Key.
        required key: String = "key";
        /// Value.
        required value: String = "value";
    }
}

command_header! {
    /// `GetKVConfigRequestHeader`.
    pub struct GetKvConfigRequestHeader {
        /// Namespace.
        required namespace: String = "namespace";
        /// Key.
        required key: String = "key";
    }
}

command_header! {
    /// `GetKVConfigResponseHeader`.
    pub struct GetKvConfigResponseHeader {
        /// The value (a miss is `QUERY_NOT_FOUND`, not an absent value).
        optional value: String = "value";
    }
}

command_header! {
    /// `DeleteKVConfigRequestHeader`.
    pub struct DeleteKvConfigRequestHeader {
        /// Namespace.
        required namespace: String = "namespace";
        /// Key.
        required key: String = "key";
    }
}

command_header! {
    /// `GetKVListByNamespaceRequestHeader`.
    pub struct GetKvListByNamespaceRequestHeader {
        /// Namespace.
        required namespace: String = "namespace";
    }
}

command_header! {
    /// `GetTopicsByClusterRequestHeader`.
    pub struct GetTopicsByClusterRequestHeader {
        /// Cluster name.
        required cluster: String = "cluster";
    }
}

command_header! {
    /// `WipeWritePermOfBrokerRequestHeader`.
    pub struct WipeWritePermOfBrokerRequestHeader {
        /// Broker name.
        required broker_name: String = "brokerName";
    }
}

command_header! {
    /// `WipeWritePermOfBrokerResponseHeader`.
    pub struct WipeWritePermOfBrokerResponseHeader {
        /// Topics whose write permission was removed.
        required wipe_topic_count: i32 = "wipeTopicCount";
    }
}

command_header! {
    /// `AddWritePermOfBrokerRequestHeader`.
    pub struct AddWritePermOfBrokerRequestHeader {
        /// Broker name.
        required broker_name: String = "brokerName";
    }
}

command_header! {
    /// `AddWritePermOfBrokerResponseHeader`.
    pub struct AddWritePermOfBrokerResponseHeader {
        /// Topics whose write permission was restored.
        required add_topic_count: i32 = "addTopicCount";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::ExtFields;
    use crate::header::CommandHeader;

    #[test]
    fn register_broker_defaults_match_java() {
        let ext: ExtFields = [
            ("brokerName", "broker-a"),
            ("brokerAddr", "127.0.0.1:10911"),
            ("clusterName", "DefaultCluster"),
            ("haServerAddr", "127.0.0.1:10912"),
            ("brokerId", "0"),
        ]
        .into_iter()
        .collect();
        let h = RegisterBrokerRequestHeader::read_from(&ext).unwrap();
        assert!(!h.compressed);
        assert_eq!(h.body_crc32, 0);
        assert_eq!(h.heartbeat_timeout_millis, None);
        let mut out = ExtFields::new();
        h.write_to(&mut out);
        assert_eq!(out.get("compressed"), Some("false"));
        assert_eq!(out.get("bodyCrc32"), Some("0"));
    }
}
