//! Subscription groups (upstream `SubscriptionGroupManager`), persisted as
//! `subscriptionGroup.json`.
//!
//! Owned by the control-plane shard. Groups are created on first heartbeat when
//! `autoCreateSubscriptionGroup` (the default) and by UPDATE_AND_CREATE_SUBSCRIPTIONGROUP.
//! Invariants: every change bumps `dataVersion`; at most [`GROUPS_COUNT_MAX`] groups; the
//! upstream system groups exist after [`GroupTable::load`].

use std::collections::BTreeMap;

use rmq_protocol::body::{DataVersion, SubscriptionGroupConfig, SubscriptionGroupWrapper};

use super::topics::now_ms;
use crate::limits::GROUPS_COUNT_MAX;

/// Groups upstream creates at startup (`SubscriptionGroupManager.init`).
const SYSTEM_GROUPS: &[&str] = &[
    "TOOLS_CONSUMER",
    "FILTERSRV_CONSUMER",
    "SELF_TEST_C_GROUP",
    "CID_ONS-HTTP-PROXY",
    "CID_ONSAPI_PULL",
    "CID_ONSAPI_PERMISSION",
    "CID_ONSAPI_OWNER",
    "CID_RMQ_SYS_TRANS",
];

/// Why a group change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// Blank name.
    #[error("the subscription group name is blank")]
    Blank,
    /// The table is full.
    #[error("too many subscription groups (at most {GROUPS_COUNT_MAX})")]
    Full,
}

/// The subscription-group table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupTable {
    groups: BTreeMap<String, SubscriptionGroupConfig>,
    data_version: DataVersion,
}

impl GroupTable {
    /// The table from a loaded file (or empty), with the system groups ensured.
    pub fn load(loaded: Option<SubscriptionGroupWrapper>) -> Self {
        let mut table = GroupTable::default();
        if let Some(w) = loaded {
            table.data_version = w.data_version;
            for (name, mut cfg) in w.subscription_group_table {
                if table.groups.len() >= GROUPS_COUNT_MAX {
                    log_warn!(
                        "subscriptionGroup.json has more groups than the limit; rest ignored"
                    );
                    break;
                }
                cfg.group_name.clone_from(&name);
                table.groups.insert(name, cfg);
            }
        }
        for name in SYSTEM_GROUPS {
            table
                .groups
                .entry((*name).to_string())
                .or_insert_with(|| system_group(name));
        }
        table
    }

    /// One group.
    pub fn get(&self, group: &str) -> Option<&SubscriptionGroupConfig> {
        self.groups.get(group)
    }

    /// Find `group`, creating it with Java's defaults when `auto_create`; `Ok(None)` when it
    /// does not exist and may not be created. The flag says whether it was created.
    pub fn find_or_create(
        &mut self,
        group: &str,
        auto_create: bool,
    ) -> Result<Option<(SubscriptionGroupConfig, bool)>, GroupError> {
        if let Some(cfg) = self.groups.get(group) {
            return Ok(Some((cfg.clone(), false)));
        }
        if !auto_create {
            return Ok(None);
        }
        let cfg = SubscriptionGroupConfig::new(group);
        self.upsert(cfg.clone())?;
        Ok(Some((cfg, true)))
    }

    /// Create or replace a group. Returns whether anything changed.
    pub fn upsert(&mut self, cfg: SubscriptionGroupConfig) -> Result<bool, GroupError> {
        if cfg.group_name.trim().is_empty() {
            return Err(GroupError::Blank);
        }
        if self.groups.get(&cfg.group_name) == Some(&cfg) {
            return Ok(false);
        }
        if !self.groups.contains_key(&cfg.group_name) && self.groups.len() >= GROUPS_COUNT_MAX {
            return Err(GroupError::Full);
        }
        self.groups.insert(cfg.group_name.clone(), cfg);
        self.data_version = self.data_version.next(now_ms());
        Ok(true)
    }

    /// Remove a group. Returns whether it existed.
    pub fn remove(&mut self, group: &str) -> bool {
        let existed = self.groups.remove(group).is_some();
        if existed {
            self.data_version = self.data_version.next(now_ms());
        }
        existed
    }

    /// The version of the table.
    pub fn data_version(&self) -> DataVersion {
        self.data_version
    }

    /// How many groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are no groups (never true after `load`).
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The table as `subscriptionGroup.json` / GET_ALL_SUBSCRIPTIONGROUP_CONFIG see it.
    pub fn wrapper(&self) -> SubscriptionGroupWrapper {
        SubscriptionGroupWrapper {
            subscription_group_table: self.groups.clone(),
            data_version: self.data_version,
        }
    }
}

fn system_group(name: &str) -> SubscriptionGroupConfig {
    let mut cfg = SubscriptionGroupConfig::new(name);
    if name == "TOOLS_CONSUMER" || name == "FILTERSRV_CONSUMER" || name == "SELF_TEST_C_GROUP" {
        // Upstream turns broadcast consumption off for these.
        cfg.consume_broadcast_enable = false;
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_auto_create_only_when_allowed_and_survive_a_reload() {
        let mut t = GroupTable::load(None);
        assert!(t.get("TOOLS_CONSUMER").is_some());
        assert_eq!(t.find_or_create("CG", false), Ok(None));
        let (cfg, created) = t.find_or_create("CG", true).unwrap().unwrap();
        assert!(created);
        assert_eq!((cfg.retry_queue_nums, cfg.retry_max_times), (1, 16));
        assert!(!t.find_or_create("CG", true).unwrap().unwrap().1);
        let t2 = GroupTable::load(Some(t.wrapper()));
        assert_eq!(t2, t);
        assert_eq!(
            t.upsert(SubscriptionGroupConfig::new(" ")),
            Err(GroupError::Blank)
        );
        let v = t.wrapper().data_version;
        assert!(t.remove("CG"));
        assert!(!t.remove("CG"));
        assert_eq!(t.wrapper().data_version.counter, v.counter + 1);
    }
}
