//! `TopicRouteData` (`GET_ROUTEINFO_BY_TOPIC` reply) with `QueueData` and `BrokerData`, and
//! `ClusterInfo` (`GET_BROKER_CLUSTER_INFO` reply). protocol.md §4.1, §4.4.
//!
//! - Routes come in two styles ([`RouteJsonStyle`]): fastjson's default with bare broker-id
//!   keys (`{0:"addr"}`) for clients older than 4.9.4 that did not ask for standard JSON, and
//!   standard JSON (quoted keys, sorted, non-ASCII escaped) otherwise. Both are compact: the
//!   Go client splits `brokerAddrs` on `,` and `:` and breaks on whitespace.
//! - `BrokerData.enableActingMaster` is **always** written (a 5.x field), because
//!   rocketmq-client-rust refuses a route without it (real-clients.md, Q1); 4.x readers ignore
//!   it. `zoneName` is written only when set.
//! - `ClusterInfo` is always fastjson style, whatever the client's version.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::fields::{cast_string_list, invalid, long_key, Fields};
use super::json_writer::{JsonStyle, JsonWriter};
use super::{write_bean_map, write_string_list, write_string_set, JsonBody};
use crate::command::version::V4_9_4;
use crate::error::CodecResult;

/// Which JSON a route reply is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteJsonStyle {
    /// fastjson default: bare integer keys. For requests with `version < 401` and no
    /// `acceptStandardJsonOnly=true`.
    Fastjson,
    /// Standard JSON: quoted keys, sorted maps, non-ASCII as `\uXXXX`.
    Standard,
}

impl RouteJsonStyle {
    /// The style the Java `NameServer` picks for a request (`ClientRequestProcessor`).
    pub fn for_request(request_version: i32, accept_standard_json_only: bool) -> Self {
        if request_version >= V4_9_4 || accept_standard_json_only {
            RouteJsonStyle::Standard
        } else {
            RouteJsonStyle::Fastjson
        }
    }

    /// The writer style for this route style.
    pub fn json_style(self) -> JsonStyle {
        match self {
            RouteJsonStyle::Fastjson => JsonStyle::FASTJSON,
            RouteJsonStyle::Standard => JsonStyle::STANDARD,
        }
    }
}

/// `QueueData`: one broker's queues of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueueData {
    /// `brokerName`.
    pub broker_name: String,
    /// `readQueueNums`.
    pub read_queue_nums: i32,
    /// `writeQueueNums`.
    pub write_queue_nums: i32,
    /// `perm` (see [`super::perm`]).
    pub perm: i32,
    /// `topicSysFlag`.
    pub topic_sys_flag: i32,
}

impl JsonBody for QueueData {
    const WHAT: &'static str = "QueueData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerName");
        w.string(&self.broker_name);
        w.field("perm");
        w.int(i64::from(self.perm));
        w.field("readQueueNums");
        w.int(i64::from(self.read_queue_nums));
        w.field("topicSysFlag");
        w.int(i64::from(self.topic_sys_flag));
        w.field("writeQueueNums");
        w.int(i64::from(self.write_queue_nums));
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        Ok(QueueData {
            broker_name: f.string_or_empty("brokerName"),
            read_queue_nums: f.int_or("readQueueNums", 0)?,
            write_queue_nums: f.int_or("writeQueueNums", 0)?,
            perm: f.int_or("perm", 0)?,
            topic_sys_flag: f.int_or("topicSysFlag", 0)?,
        })
    }
}

/// `BrokerData`: one broker group (master and slaves) and their addresses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BrokerData {
    /// `cluster`.
    pub cluster: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `brokerAddrs`: broker id (0 = master) to `ip:port`.
    pub broker_addrs: BTreeMap<i64, String>,
    /// `enableActingMaster` (5.x; always written, default false).
    pub enable_acting_master: bool,
    /// `zoneName` (5.x; written only when set).
    pub zone_name: Option<String>,
}

impl JsonBody for BrokerData {
    const WHAT: &'static str = "BrokerData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerAddrs");
        w.begin_map();
        for (id, addr) in &self.broker_addrs {
            w.int_key(*id);
            w.string(addr);
        }
        w.end_map();
        w.field("brokerName");
        w.string(&self.broker_name);
        w.field("cluster");
        w.string(&self.cluster);
        w.field("enableActingMaster");
        w.bool(self.enable_acting_master);
        if let Some(zone) = &self.zone_name {
            w.field("zoneName");
            w.string(zone);
        }
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let mut broker_addrs = BTreeMap::new();
        for (id, addr) in f.string_map("brokerAddrs")?.unwrap_or_default() {
            broker_addrs.insert(long_key(&id, Self::WHAT)?, addr);
        }
        Ok(BrokerData {
            cluster: f.string_or_empty("cluster"),
            broker_name: f.string_or_empty("brokerName"),
            broker_addrs,
            enable_acting_master: f.bool_or("enableActingMaster", false)?,
            zone_name: f.string("zoneName"),
        })
    }
}

/// `TopicRouteData`: the route of one topic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicRouteData {
    /// `orderTopicConf`, e.g. `broker-a:4;broker-b:4`; only for ordered topics.
    pub order_topic_conf: Option<String>,
    /// `queueDatas`.
    pub queue_datas: Vec<QueueData>,
    /// `brokerDatas`.
    pub broker_datas: Vec<BrokerData>,
    /// `filterServerTable`: broker address to filter servers (always empty in practice).
    pub filter_server_table: BTreeMap<String, Vec<String>>,
}

impl TopicRouteData {
    /// The reply body in the given style.
    pub fn encode_route(&self, style: RouteJsonStyle) -> Vec<u8> {
        self.encode_with_style(style.json_style())
    }
}

impl JsonBody for TopicRouteData {
    const WHAT: &'static str = "TopicRouteData";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerDatas");
        w.begin_list();
        for broker in &self.broker_datas {
            w.element();
            broker.write_json(w);
        }
        w.end_collection();
        w.field("filterServerTable");
        w.begin_map();
        for (addr, servers) in &self.filter_server_table {
            w.key(addr);
            write_string_list(w, servers);
        }
        w.end_map();
        if let Some(conf) = &self.order_topic_conf {
            w.field("orderTopicConf");
            w.string(conf);
        }
        w.field("queueDatas");
        w.begin_list();
        for queue in &self.queue_datas {
            w.element();
            queue.write_json(w);
        }
        w.end_collection();
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let filter_server_table = f.keyed("filterServerTable", |v| {
            cast_string_list(v).map_err(|r| invalid(Self::WHAT, format!("filterServerTable: {r}")))
        })?;
        Ok(TopicRouteData {
            order_topic_conf: f.string("orderTopicConf"),
            queue_datas: f.list("queueDatas", QueueData::from_json)?,
            broker_datas: f.list("brokerDatas", BrokerData::from_json)?,
            filter_server_table,
        })
    }
}

/// `ClusterInfo`: every broker group and which cluster each belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterInfo {
    /// `brokerAddrTable`: broker name to its `BrokerData`.
    pub broker_addr_table: BTreeMap<String, BrokerData>,
    /// `clusterAddrTable`: cluster name to its broker names.
    pub cluster_addr_table: BTreeMap<String, BTreeSet<String>>,
}

impl JsonBody for ClusterInfo {
    const WHAT: &'static str = "ClusterInfo";

    fn write_json(&self, w: &mut JsonWriter) {
        w.begin_bean();
        w.field("brokerAddrTable");
        write_bean_map(w, &self.broker_addr_table);
        w.field("clusterAddrTable");
        w.begin_map();
        for (cluster, names) in &self.cluster_addr_table {
            w.key(cluster);
            write_string_set(w, names);
        }
        w.end_map();
        w.end_bean();
    }

    fn from_json(value: &Value) -> CodecResult<Self> {
        let f = Fields::new(value, Self::WHAT)?;
        let broker_addr_table = f.keyed("brokerAddrTable", BrokerData::from_json)?;
        let cluster_addr_table = f.keyed("clusterAddrTable", |v| {
            cast_string_list(v)
                .map(|names| names.into_iter().collect())
                .map_err(|r| invalid(Self::WHAT, format!("clusterAddrTable: {r}")))
        })?;
        Ok(ClusterInfo {
            broker_addr_table,
            cluster_addr_table,
        })
    }
}
