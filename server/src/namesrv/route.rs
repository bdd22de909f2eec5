//! The NameServer's route table (upstream `RouteInfoManager`): which brokers exist, which
//! topics they serve, and which are alive.
//!
//! Owned by the control-plane shard; other shards read [`RouteTable`] clones broadcast after
//! every change. Liveness (`live`) is owner-only state and is not part of the copies' queries.
//!
//! Rules (protocol.md §2.15, seeds-digest §1.2 "Registration algorithm"):
//! - Registration adds the broker to its cluster, replaces any entry of the same address with a
//!   different broker id, and records liveness.
//! - Only the master (broker id 0) updates a topic's queue data, and only on its first
//!   registration or when its `dataVersion` changed.
//! - Unregistration, expiry (no registration for 120 s) and the broker's connection closing
//!   cascade: the address leaves its broker entry, an empty broker leaves its cluster, and its
//!   queue data leaves every topic; topics left without queues are removed.
//!
//! Invariants: every `QueueData` names a broker present in `brokers`; maps are bounded by
//! `TOPICS_COUNT_MAX` and `BROKERS_COUNT_MAX` (registrations beyond are refused).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rmq_protocol::body::{
    BrokerData, ClusterInfo, DataVersion, QueueData, TopicConfig, TopicRouteData,
};

use crate::limits::{BROKERS_COUNT_MAX, TOPICS_COUNT_MAX};
use crate::transport::ConnectionId;

/// `PermName.PERM_WRITE`.
pub const PERM_WRITE: i32 = 2;

/// What a registering broker says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `clusterName`.
    pub cluster: String,
    /// `brokerAddr`.
    pub broker_addr: String,
    /// `brokerName`.
    pub broker_name: String,
    /// `brokerId`.
    pub broker_id: i64,
    /// `haServerAddr`.
    pub ha_server_addr: String,
    /// The topic-config version.
    pub data_version: DataVersion,
    /// The broker's topics.
    pub topics: Vec<TopicConfig>,
    /// `filterServerList`.
    pub filter_servers: Vec<String>,
}

/// The answer to a registration (for slaves: where their master is).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterResult {
    /// The master's HA address.
    pub ha_server_addr: Option<String>,
    /// The master's address.
    pub master_addr: Option<String>,
}

/// Why a registration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// Too many brokers or topics.
    #[error("route table full: {0}")]
    Full(&'static str),
}

/// Liveness of one broker address (owner-only).
#[derive(Debug, Clone)]
struct BrokerLive {
    last_update_ms: u64,
    data_version: DataVersion,
    connection: Option<ConnectionId>,
    ha_server_addr: String,
}

/// The route table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// topic -> broker name -> queue data.
    topics: BTreeMap<String, BTreeMap<String, QueueData>>,
    /// broker name -> broker data.
    brokers: BTreeMap<String, BrokerData>,
    /// cluster -> broker names.
    clusters: BTreeMap<String, BTreeSet<String>>,
    /// broker address -> filter servers.
    filter_servers: BTreeMap<String, Vec<String>>,
    /// broker address -> liveness (meaningful on the owner only).
    live: HashMap<String, BrokerLive>,
}

impl RouteTable {
    /// An empty table.
    pub fn new() -> Self {
        RouteTable::default()
    }

    /// Apply a registration at `now_ms` from `connection`.
    pub fn register(
        &mut self,
        reg: &Registration,
        connection: Option<ConnectionId>,
        now_ms: u64,
    ) -> Result<RegisterResult, RouteError> {
        if !self.live.contains_key(&reg.broker_addr) && self.live.len() >= BROKERS_COUNT_MAX {
            return Err(RouteError::Full("brokers"));
        }
        self.clusters
            .entry(reg.cluster.clone())
            .or_default()
            .insert(reg.broker_name.clone());
        let broker = self
            .brokers
            .entry(reg.broker_name.clone())
            .or_insert_with(|| BrokerData {
                cluster: reg.cluster.clone(),
                broker_name: reg.broker_name.clone(),
                broker_addrs: BTreeMap::new(),
                enable_acting_master: false,
                zone_name: None,
            });
        let mut first = broker.broker_addrs.is_empty();
        // Same address under another id: the node changed role.
        broker
            .broker_addrs
            .retain(|id, addr| *id == reg.broker_id || *addr != reg.broker_addr);
        let previous = broker
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.clone());
        first |= previous.is_none();

        if reg.broker_id == 0 {
            let changed = self
                .live
                .get(&reg.broker_addr)
                .is_none_or(|l| l.data_version != reg.data_version);
            if first || changed {
                for t in &reg.topics {
                    if !self.topics.contains_key(&t.topic_name)
                        && self.topics.len() >= TOPICS_COUNT_MAX
                    {
                        return Err(RouteError::Full("topics"));
                    }
                    self.topics.entry(t.topic_name.clone()).or_default().insert(
                        reg.broker_name.clone(),
                        QueueData {
                            broker_name: reg.broker_name.clone(),
                            read_queue_nums: t.read_queue_nums,
                            write_queue_nums: t.write_queue_nums,
                            perm: t.perm,
                            topic_sys_flag: t.topic_sys_flag,
                        },
                    );
                }
            }
        }
        self.live.insert(
            reg.broker_addr.clone(),
            BrokerLive {
                last_update_ms: now_ms,
                data_version: reg.data_version,
                connection,
                ha_server_addr: reg.ha_server_addr.clone(),
            },
        );
        if reg.filter_servers.is_empty() {
            self.filter_servers.remove(&reg.broker_addr);
        } else {
            self.filter_servers
                .insert(reg.broker_addr.clone(), reg.filter_servers.clone());
        }
        let mut result = RegisterResult::default();
        if reg.broker_id != 0 {
            if let Some(master) = self
                .brokers
                .get(&reg.broker_name)
                .and_then(|b| b.broker_addrs.get(&0))
            {
                if let Some(live) = self.live.get(master) {
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                    result.master_addr = Some(master.clone());
                }
            }
        }
        Ok(result)
    }

    /// `UNREGISTER_BROKER`. Returns whether anything was removed.
    pub fn unregister(&mut self, broker_addr: &str, broker_name: &str, broker_id: i64) -> bool {
        let matches = self
            .brokers
            .get(broker_name)
            .and_then(|b| b.broker_addrs.get(&broker_id))
            .is_some_and(|a| a == broker_addr);
        if !matches {
            let had = self.live.remove(broker_addr).is_some();
            self.filter_servers.remove(broker_addr);
            return had;
        }
        self.remove_address(broker_name, broker_addr);
        true
    }

    /// Remove brokers silent for longer than `expiry_ms`. Returns the removed addresses.
    pub fn expire(&mut self, now_ms: u64, expiry_ms: u64) -> Vec<String> {
        let expired: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| now_ms.saturating_sub(l.last_update_ms) > expiry_ms)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &expired {
            self.remove_address_anywhere(addr);
        }
        expired
    }

    /// The broker connection `connection` closed: drop the brokers that registered on it.
    pub fn connection_closed(&mut self, connection: ConnectionId) -> Vec<String> {
        let gone: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.connection == Some(connection))
            .map(|(a, _)| a.clone())
            .collect();
        for addr in &gone {
            self.remove_address_anywhere(addr);
        }
        gone
    }

    fn remove_address_anywhere(&mut self, addr: &str) {
        let name = self
            .brokers
            .values()
            .find(|b| b.broker_addrs.values().any(|a| a == addr))
            .map(|b| b.broker_name.clone());
        match name {
            Some(name) => self.remove_address(&name, addr),
            None => {
                self.live.remove(addr);
                self.filter_servers.remove(addr);
            }
        }
    }

    /// The unregistration cascade for `addr` of broker group `broker_name`.
    fn remove_address(&mut self, broker_name: &str, addr: &str) {
        self.live.remove(addr);
        self.filter_servers.remove(addr);
        let Some(broker) = self.brokers.get_mut(broker_name) else {
            return;
        };
        let removed_ids: Vec<i64> = broker
            .broker_addrs
            .iter()
            .filter(|(_, a)| a.as_str() == addr)
            .map(|(id, _)| *id)
            .collect();
        for id in &removed_ids {
            broker.broker_addrs.remove(id);
        }
        if !broker.broker_addrs.is_empty() {
            return;
        }
        let cluster = broker.cluster.clone();
        self.brokers.remove(broker_name);
        if let Some(names) = self.clusters.get_mut(&cluster) {
            names.remove(broker_name);
            if names.is_empty() {
                self.clusters.remove(&cluster);
            }
        }
        self.topics.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// `QUERY_DATA_VERSION`: whether the broker's version differs from ours, refreshing its
    /// liveness as upstream does.
    pub fn query_data_version(
        &mut self,
        broker_addr: &str,
        version: DataVersion,
        now_ms: u64,
    ) -> bool {
        match self.live.get_mut(broker_addr) {
            Some(live) => {
                live.last_update_ms = now_ms;
                live.data_version != version
            }
            None => true,
        }
    }

    /// The route of `topic`, if any live broker serves it.
    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topics.get(topic)?;
        let queue_datas: Vec<QueueData> = queues.values().cloned().collect();
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        let filter_server_table = broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values())
            .filter_map(|a| self.filter_servers.get(a).map(|f| (a.clone(), f.clone())))
            .collect();
        Some(TopicRouteData {
            order_topic_conf: None,
            queue_datas,
            broker_datas,
            filter_server_table,
        })
    }

    /// Every topic name, sorted.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    /// Topics served by brokers of `cluster`.
    pub fn topics_of_cluster(&self, cluster: &str) -> Vec<String> {
        let Some(names) = self.clusters.get(cluster) else {
            return Vec::new();
        };
        self.topics
            .iter()
            .filter(|(_, q)| q.keys().any(|b| names.contains(b)))
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// `DELETE_TOPIC_IN_NAMESRV`: drop the topic, or only its queues on `cluster`'s brokers.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) -> bool {
        match cluster.and_then(|c| self.clusters.get(c)) {
            Some(names) => {
                let Some(queues) = self.topics.get_mut(topic) else {
                    return false;
                };
                let before = queues.len();
                queues.retain(|b, _| !names.contains(b));
                let changed = queues.len() != before;
                if queues.is_empty() {
                    self.topics.remove(topic);
                }
                changed
            }
            None if cluster.is_some() => false,
            None => self.topics.remove(topic).is_some(),
        }
    }

    /// Clear (`wipe = true`) or set the write permission of every topic on `broker_name`.
    /// Returns how many topics changed.
    pub fn set_write_perm(&mut self, broker_name: &str, wipe: bool) -> usize {
        let mut count = 0;
        for queues in self.topics.values_mut() {
            if let Some(q) = queues.get_mut(broker_name) {
                q.perm = if wipe {
                    q.perm & !PERM_WRITE
                } else {
                    q.perm | PERM_WRITE
                };
                count += 1;
            }
        }
        count
    }

    /// Broker groups by name.
    pub fn brokers(&self) -> &BTreeMap<String, BrokerData> {
        &self.brokers
    }

    /// `GET_BROKER_CLUSTER_INFO`'s body.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    /// Broker names by cluster.
    pub fn clusters(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.clusters
    }

    /// Whether the client-visible parts (everything but liveness) equal `other`'s.
    pub fn same_routes(&self, other: &RouteTable) -> bool {
        self.topics == other.topics
            && self.brokers == other.brokers
            && self.clusters == other.clusters
            && self.filter_servers == other.filter_servers
    }

    /// A copy for other shards (liveness stripped: only the owner uses it).
    pub fn read_only_copy(&self) -> RouteTable {
        RouteTable {
            topics: self.topics.clone(),
            brokers: self.brokers.clone(),
            clusters: self.clusters.clone(),
            filter_servers: self.filter_servers.clone(),
            live: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(addr: &str, name: &str, id: i64, topics: &[&str], counter: i64) -> Registration {
        Registration {
            cluster: "DefaultCluster".into(),
            broker_addr: addr.into(),
            broker_name: name.into(),
            broker_id: id,
            ha_server_addr: format!("{addr}-ha"),
            data_version: DataVersion {
                timestamp: 1,
                counter,
                state_version: 0,
            },
            topics: topics
                .iter()
                .map(|t| {
                    let mut c = TopicConfig::new(*t);
                    c.read_queue_nums = 4;
                    c.write_queue_nums = 4;
                    c.perm = 6;
                    c
                })
                .collect(),
            filter_servers: vec![],
        }
    }

    #[test]
    fn master_registration_creates_routes_and_slaves_learn_their_master() {
        let mut t = RouteTable::new();
        t.register(&reg("a:1", "b", 0, &["T"], 1), None, 0).unwrap();
        let r = t
            .register(&reg("a:2", "b", 1, &["T", "X"], 1), None, 0)
            .unwrap();
        assert_eq!(r.master_addr.as_deref(), Some("a:1"));
        assert_eq!(r.ha_server_addr.as_deref(), Some("a:1-ha"));
        // Only the master's topics make routes.
        assert!(t.route("X").is_none());
        let route = t.route("T").unwrap();
        assert_eq!(route.queue_datas.len(), 1);
        assert_eq!(route.broker_datas[0].broker_addrs.len(), 2);
    }

    #[test]
    fn unchanged_data_version_does_not_touch_queue_data() {
        let mut t = RouteTable::new();
        t.register(&reg("a:1", "b", 0, &["T"], 1), None, 0).unwrap();
        t.set_write_perm("b", true);
        // Same version: the wiped perm stays.
        t.register(&reg("a:1", "b", 0, &["T"], 1), None, 1).unwrap();
        assert_eq!(t.route("T").unwrap().queue_datas[0].perm, 4);
        // New version: the broker's config wins again.
        t.register(&reg("a:1", "b", 0, &["T"], 2), None, 2).unwrap();
        assert_eq!(t.route("T").unwrap().queue_datas[0].perm, 6);
    }

    #[test]
    fn expiry_and_connection_close_cascade() {
        let mut t = RouteTable::new();
        t.register(&reg("a:1", "b", 0, &["T"], 1), Some(7), 0)
            .unwrap();
        t.register(&reg("c:1", "d", 0, &["T", "U"], 1), Some(8), 100_000)
            .unwrap();
        assert_eq!(t.expire(130_000, 120_000), vec!["a:1".to_string()]);
        assert_eq!(t.route("T").unwrap().queue_datas.len(), 1);
        assert!(t.brokers().get("b").is_none());
        assert_eq!(t.connection_closed(8), vec!["c:1".to_string()]);
        assert!(t.route("T").is_none());
        assert!(t.topic_names().is_empty());
        assert!(t.clusters().is_empty());
    }

    #[test]
    fn same_address_new_id_replaces_old_entry() {
        let mut t = RouteTable::new();
        t.register(&reg("a:1", "b", 1, &[], 1), None, 0).unwrap();
        t.register(&reg("a:1", "b", 0, &[], 1), None, 0).unwrap();
        let addrs = &t.brokers()["b"].broker_addrs;
        assert_eq!(addrs.len(), 1);
        assert_eq!(addrs.get(&0).map(String::as_str), Some("a:1"));
    }

    #[test]
    fn unregister_and_delete_topic() {
        let mut t = RouteTable::new();
        t.register(&reg("a:1", "b", 0, &["T", "U"], 1), None, 0)
            .unwrap();
        assert!(t.delete_topic("U", None));
        assert!(!t.delete_topic("U", None));
        assert!(!t.delete_topic("T", Some("NoSuchCluster")));
        assert_eq!(t.topics_of_cluster("DefaultCluster"), vec!["T".to_string()]);
        assert!(t.unregister("a:1", "b", 0));
        assert!(t.route("T").is_none());
    }
}
