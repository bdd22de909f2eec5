//! The client registry (upstream `ProducerManager` + `ConsumerManager`): which connections
//! (channels) belong to which producer and consumer groups, built from HEART_BEAT.
//!
//! Owned by the control-plane shard. A channel is a connection anywhere in the process,
//! identified by its [`ConnectionInfo`]. Rules (protocol.md §2.4-§2.6, §2.13):
//! - a heartbeat registers its channel in every producer and consumer group it names and
//!   refreshes the channel's last-seen time; a consumer group keeps the consume type, message
//!   model, where-to-start and subscriptions of its latest heartbeat;
//! - a channel leaves its groups on UNREGISTER_CLIENT, on connection close and when silent for
//!   `channelExpiredTimeout` (120 s);
//! - every operation reports the consumer groups whose member set or subscriptions changed, so
//!   the caller can send NOTIFY_CONSUMER_IDS_CHANGED to their channels.
//!
//! Invariants: every channel id in a group is in `channels`; a channel in `channels` belongs
//! to at least one group; bounded by [`CLIENT_CHANNELS_COUNT_MAX`],
//! [`HEARTBEAT_GROUPS_COUNT_MAX`] and [`GROUP_SUBSCRIPTIONS_COUNT_MAX`].

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rmq_protocol::body::{
    ConsumeFromWhere, ConsumeType, ConsumerConnection, ConsumerData, HeartbeatData, MessageModel,
    ProducerConnection, SubscriptionData,
};
use rmq_protocol::command::LanguageCode;

use crate::limits::{
    CLIENT_CHANNELS_COUNT_MAX, GROUP_SUBSCRIPTIONS_COUNT_MAX, HEARTBEAT_GROUPS_COUNT_MAX,
};
use crate::shard::ConnectionInfo;
use crate::transport::ConnectionId;

/// One client connection as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Where the connection lives.
    pub conn: ConnectionInfo,
    /// `clientID` of its latest heartbeat.
    pub client_id: String,
    /// The client's language.
    pub language: LanguageCode,
    /// The client's `MQVersion` ordinal.
    pub version: i32,
    /// When its last heartbeat arrived (ms).
    pub last_update_ms: u64,
}

/// One consumer group's members and settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerGroup {
    /// Member channels.
    pub channels: BTreeSet<ConnectionId>,
    /// From the latest heartbeat.
    pub consume_type: Option<ConsumeType>,
    /// From the latest heartbeat.
    pub message_model: Option<MessageModel>,
    /// From the latest heartbeat.
    pub consume_from_where: Option<ConsumeFromWhere>,
    /// Topic to subscription, from the latest heartbeat.
    pub subscriptions: BTreeMap<String, SubscriptionData>,
}

/// The registry.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    channels: HashMap<ConnectionId, Channel>,
    producers: BTreeMap<String, BTreeSet<ConnectionId>>,
    consumers: BTreeMap<String, ConsumerGroup>,
    /// Bumped whenever `consumers` changes (what the shards' read-only copies hold), so the
    /// owner knows when to broadcast without comparing the maps.
    consumers_generation: u64,
}

impl ClientRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a heartbeat. Returns the consumer groups whose members or subscriptions
    /// changed, or `None` when the registry is full and the channel is new (refused).
    pub fn heartbeat(
        &mut self,
        conn: &ConnectionInfo,
        language: LanguageCode,
        version: i32,
        data: &HeartbeatData,
        now_ms: u64,
    ) -> Option<Vec<String>> {
        if !self.channels.contains_key(&conn.id) && self.channels.len() >= CLIENT_CHANNELS_COUNT_MAX
        {
            return None;
        }
        let groups = data.producer_data_set.len() + data.consumer_data_set.len();
        if groups > HEARTBEAT_GROUPS_COUNT_MAX {
            log_warn!(
                "heartbeat names too many groups; only the first are registered",
                client = data.client_id,
                groups = groups
            );
        }
        let mut budget = HEARTBEAT_GROUPS_COUNT_MAX;
        let mut changed = Vec::new();
        for consumer in data.consumer_data_set.iter().take(budget) {
            if consumer.group_name.is_empty() {
                continue;
            }
            if self.register_consumer(conn.id, consumer) {
                changed.push(consumer.group_name.clone());
            }
        }
        budget = budget.saturating_sub(data.consumer_data_set.len());
        for producer in data.producer_data_set.iter().take(budget) {
            if producer.group_name.is_empty() {
                continue;
            }
            self.producers
                .entry(producer.group_name.clone())
                .or_default()
                .insert(conn.id);
        }
        let member = self.producers.values().any(|c| c.contains(&conn.id))
            || self
                .consumers
                .values()
                .any(|g| g.channels.contains(&conn.id));
        if member {
            self.channels.insert(
                conn.id,
                Channel {
                    conn: conn.clone(),
                    client_id: data.client_id.clone(),
                    language,
                    version,
                    last_update_ms: now_ms,
                },
            );
        }
        Some(changed)
    }

    /// Add `id` to a consumer group and take its settings; whether members or subscriptions
    /// changed (upstream `ConsumerGroupInfo.updateChannel || updateSubscription`).
    fn register_consumer(&mut self, id: ConnectionId, data: &ConsumerData) -> bool {
        let group = self.consumers.entry(data.group_name.clone()).or_default();
        let before = group.clone();
        let joined = group.channels.insert(id);
        group.consume_type = data.consume_type;
        group.message_model = data.message_model;
        group.consume_from_where = data.consume_from_where;
        let subscriptions: BTreeMap<String, SubscriptionData> = data
            .subscription_data_set
            .iter()
            .take(GROUP_SUBSCRIPTIONS_COUNT_MAX)
            .map(|s| (s.topic.clone(), s.clone()))
            .collect();
        // A subscription changed when a topic appeared or disappeared or its expression
        // changed; a re-sent identical subscription (new subVersion only) is no change.
        let same = subscriptions.len() == group.subscriptions.len()
            && subscriptions.iter().all(|(t, s)| {
                group.subscriptions.get(t).is_some_and(|old| {
                    old.sub_string == s.sub_string && old.expression_type == s.expression_type
                })
            });
        group.subscriptions = subscriptions;
        if *group != before {
            self.consumers_generation += 1;
        }
        joined || !same
    }

    /// UNREGISTER_CLIENT: remove `conn` from the named groups. Returns the consumer group if
    /// its member set changed.
    pub fn unregister(
        &mut self,
        conn: ConnectionId,
        producer_group: Option<&str>,
        consumer_group: Option<&str>,
    ) -> Vec<String> {
        let mut changed = Vec::new();
        if let Some(g) = producer_group {
            if let Some(set) = self.producers.get_mut(g) {
                set.remove(&conn);
                if set.is_empty() {
                    self.producers.remove(g);
                }
            }
        }
        if let Some(g) = consumer_group {
            if let Some(group) = self.consumers.get_mut(g) {
                if group.channels.remove(&conn) {
                    changed.push(g.to_string());
                    self.consumers_generation += 1;
                }
                if group.channels.is_empty() {
                    self.consumers.remove(g);
                }
            }
        }
        self.forget_if_orphan(conn);
        changed
    }

    /// A connection closed: drop it everywhere. Returns the consumer groups it left.
    pub fn remove_channel(&mut self, conn: ConnectionId) -> Vec<String> {
        if self.channels.remove(&conn).is_none() {
            return Vec::new();
        }
        self.producers.retain(|_, set| {
            set.remove(&conn);
            !set.is_empty()
        });
        let mut changed = Vec::new();
        self.consumers.retain(|name, group| {
            if group.channels.remove(&conn) {
                changed.push(name.clone());
            }
            !group.channels.is_empty()
        });
        if !changed.is_empty() {
            self.consumers_generation += 1;
        }
        changed
    }

    /// Drop channels without a heartbeat for `timeout_ms`. Returns the expired channels'
    /// peers and the consumer groups that changed.
    pub fn expire(&mut self, now_ms: u64, timeout_ms: u64) -> (Vec<String>, Vec<String>) {
        let expired: Vec<ConnectionId> = self
            .channels
            .iter()
            .filter(|(_, c)| now_ms.saturating_sub(c.last_update_ms) > timeout_ms)
            .map(|(id, _)| *id)
            .collect();
        let mut peers = Vec::new();
        let mut changed = BTreeSet::new();
        for id in expired {
            if let Some(c) = self.channels.get(&id) {
                peers.push(format!("{}({})", c.conn.peer, c.client_id));
            }
            changed.extend(self.remove_channel(id));
        }
        (peers, changed.into_iter().collect())
    }

    fn forget_if_orphan(&mut self, conn: ConnectionId) {
        let member = self.producers.values().any(|c| c.contains(&conn))
            || self.consumers.values().any(|g| g.channels.contains(&conn));
        if !member {
            self.channels.remove(&conn);
        }
    }

    /// A consumer group.
    pub fn consumer_group(&self, group: &str) -> Option<&ConsumerGroup> {
        self.consumers.get(group)
    }

    /// The channels of a consumer group.
    pub fn consumer_channels(&self, group: &str) -> Vec<&Channel> {
        self.consumers
            .get(group)
            .map(|g| {
                g.channels
                    .iter()
                    .filter_map(|id| self.channels.get(id))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The client ids of a consumer group (one per channel, as Java lists them).
    pub fn consumer_ids(&self, group: &str) -> Vec<String> {
        self.consumer_channels(group)
            .into_iter()
            .map(|c| c.client_id.clone())
            .collect()
    }

    /// GET_CONSUMER_CONNECTION_LIST's body, `None` when no consumer is online.
    pub fn consumer_connection(&self, group: &str) -> Option<ConsumerConnection> {
        let g = self.consumers.get(group)?;
        let connection_set = self
            .consumer_channels(group)
            .into_iter()
            .map(connection_of)
            .collect::<Vec<_>>();
        if connection_set.is_empty() {
            return None;
        }
        Some(ConsumerConnection {
            connection_set,
            subscription_table: g.subscriptions.clone(),
            consume_type: g.consume_type,
            message_model: g.message_model,
            consume_from_where: g.consume_from_where,
        })
    }

    /// GET_PRODUCER_CONNECTION_LIST's body, `None` when the group is unknown.
    pub fn producer_connection(&self, group: &str) -> Option<ProducerConnection> {
        let set = self.producers.get(group)?;
        Some(ProducerConnection {
            connection_set: set
                .iter()
                .filter_map(|id| self.channels.get(id))
                .map(connection_of)
                .collect(),
        })
    }

    /// Consumer groups with a subscription to `topic`.
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        self.consumers
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// Every consumer group with its members and subscriptions, for the shards' read-only
    /// copies (the data path looks subscriptions up there).
    pub fn consumer_groups(&self) -> &BTreeMap<String, ConsumerGroup> {
        &self.consumers
    }

    /// Changes whenever [`Self::consumer_groups`] changes.
    pub fn consumers_generation(&self) -> u64 {
        self.consumers_generation
    }

    /// How many channels are registered.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

fn connection_of(c: &Channel) -> rmq_protocol::body::Connection {
    rmq_protocol::body::Connection {
        client_id: c.client_id.clone(),
        client_addr: c.conn.peer.to_string(),
        language: c.language,
        version: c.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::body::ProducerData;

    fn conn(id: u64) -> ConnectionInfo {
        ConnectionInfo {
            id,
            shard: 0,
            peer: format!("127.0.0.1:{}", 40000 + id).parse().unwrap(),
        }
    }

    fn heartbeat(
        client: &str,
        consumer_group: Option<(&str, &str)>,
        producer: Option<&str>,
    ) -> HeartbeatData {
        let mut hb = HeartbeatData {
            client_id: client.to_string(),
            ..HeartbeatData::default()
        };
        if let Some((g, tags)) = consumer_group {
            hb.consumer_data_set.push(ConsumerData {
                group_name: g.to_string(),
                consume_type: Some(ConsumeType::Passively),
                message_model: Some(MessageModel::Clustering),
                consume_from_where: Some(ConsumeFromWhere::LastOffset),
                subscription_data_set: vec![SubscriptionData::from_expression("T", tags, 1)],
                unit_mode: false,
            });
        }
        if let Some(p) = producer {
            hb.producer_data_set.push(ProducerData {
                group_name: p.to_string(),
            });
        }
        hb
    }

    #[test]
    fn membership_changes_are_reported_and_repeats_are_not() {
        let mut r = ClientRegistry::new();
        let hb = heartbeat("c1", Some(("CG", "*")), Some("PG"));
        assert_eq!(
            r.heartbeat(&conn(1), LanguageCode::Java, 409, &hb, 0),
            Some(vec!["CG".to_string()])
        );
        assert_eq!(
            r.heartbeat(&conn(1), LanguageCode::Java, 409, &hb, 10),
            Some(vec![])
        );
        // Only real changes move the generation the owner broadcasts on.
        let generation = r.consumers_generation();
        r.heartbeat(&conn(1), LanguageCode::Java, 409, &hb, 15)
            .unwrap();
        assert_eq!(r.consumers_generation(), generation);
        let hb2 = heartbeat("c2", Some(("CG", "*")), None);
        assert_eq!(
            r.heartbeat(&conn(2), LanguageCode::Cpp, 409, &hb2, 10),
            Some(vec!["CG".to_string()])
        );
        let mut ids = r.consumer_ids("CG");
        ids.sort();
        assert_eq!(ids, vec!["c1".to_string(), "c2".to_string()]);
        // A subscription change is a change too.
        let hb3 = heartbeat("c2", Some(("CG", "TagA")), None);
        assert_eq!(
            r.heartbeat(&conn(2), LanguageCode::Cpp, 409, &hb3, 20),
            Some(vec!["CG".to_string()])
        );
        assert_eq!(r.producer_connection("PG").unwrap().connection_set.len(), 1);
        let cc = r.consumer_connection("CG").unwrap();
        assert_eq!(cc.connection_set.len(), 2);
        assert_eq!(cc.subscription_table["T"].sub_string, "TagA");
        assert_eq!(r.groups_subscribing("T"), vec!["CG".to_string()]);
        // Unregister, close and expiry each leave the group.
        let generation = r.consumers_generation();
        assert_eq!(r.unregister(2, None, Some("CG")), vec!["CG".to_string()]);
        assert!(r.consumers_generation() > generation);
        assert_eq!(r.consumer_ids("CG"), vec!["c1".to_string()]);
        assert_eq!(r.channel_count(), 1);
        assert_eq!(r.remove_channel(1), vec!["CG".to_string()]);
        assert!(r.consumer_connection("CG").is_none());
        assert!(r.producer_connection("PG").is_none());
        assert_eq!(r.channel_count(), 0);
        r.heartbeat(&conn(3), LanguageCode::Java, 409, &hb, 1000)
            .unwrap();
        let (peers, changed) = r.expire(1000 + 120_000, 120_000);
        assert!(peers.is_empty() && changed.is_empty());
        let (peers, changed) = r.expire(1001 + 120_000, 120_000);
        assert_eq!((peers.len(), changed), (1, vec!["CG".to_string()]));
        assert_eq!(r.channel_count(), 0);
    }

    #[test]
    fn a_heartbeat_without_groups_registers_nothing() {
        let mut r = ClientRegistry::new();
        let hb = heartbeat("c1", None, None);
        assert_eq!(
            r.heartbeat(&conn(1), LanguageCode::Java, 409, &hb, 0),
            Some(vec![])
        );
        assert_eq!(r.channel_count(), 0);
    }
}
