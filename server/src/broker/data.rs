//! The data plane of one shard: its message store (one `rmq_engine::ShardStore` per shard,
//! under `${storePathRootDir}/shard<N>/`) and the long-polling waiters of the queues this shard
//! owns.
//!
//! Lives on its shard only. Every message queue `(topic, queueId)` is owned by
//! `shard::queue_owner_shard`; sends, pulls and queue-offset reads for it run here, forwarded
//! by the shard that received them. Long polling: a pull that finds nothing registers a
//! waiter for its queue; the store's arrival listener wakes every waiter of a queue as soon as
//! new entries become readable, and the pull runs again. Waiters are removed when they wake or
//! time out, so the table holds at most one entry per suspended request (each of which counts
//! against its connection's in-flight limit).
//!
//! Statistics of the queues this shard owns live here too: the message counters
//! ([`Traffic`], sampled once a second) and the pull offset of each (group, topic, queue) —
//! the `nextBeginOffset` of the group's latest pull, as upstream's `commitPullOffset` — for
//! GET_CONSUME_STATS. That table is bounded by `OFFSET_ENTRIES_COUNT_MAX`; beyond it, new
//! entries are not tracked (their pull offset reads as the committed offset).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use rmq_engine::io::any::AnyStorage;
use rmq_engine::{FlushMode, ShardStore, StoreConfig};

use super::traffic::{local_day, Traffic};
use crate::config::{BrokerConfig, FlushDiskType};
use crate::limits::OFFSET_ENTRIES_COUNT_MAX;
use crate::shard::Shard;

/// The store type the broker runs on: the real disk in production
/// (`AnyStorage::Disk`), the fault-injecting file system in in-process fault tests; an enum,
/// so the request path is the same code for both with no virtual call per I/O.
pub type Store = ShardStore<AnyStorage>;

type WaiterMap = HashMap<(String, i32), Vec<(u64, LocalSender<()>)>>;

/// (group, topic, queue id).
type PullKey = (String, String, i32);

/// One shard's store and long-polling waiters.
pub struct DataPlane {
    /// The shard's message store.
    pub store: Store,
    /// The address written into every record (`brokerIP1:listenPort`).
    pub store_host: SocketAddr,
    waiters: Rc<RefCell<WaiterMap>>,
    next_waiter_id: Cell<u64>,
    /// Messages stored and transferred by this shard.
    pub traffic: Traffic,
    /// `nextBeginOffset` of each group's latest pull of a queue this shard owns.
    pull_offsets: RefCell<HashMap<PullKey, i64>>,
}

/// The store directory of a shard.
pub fn shard_store_dir(config: &BrokerConfig, shard_id: usize) -> std::path::PathBuf {
    config.store_path_root_dir.join(format!("shard{shard_id}"))
}

/// The engine settings for `shard` from the broker config.
pub fn store_config(config: &BrokerConfig, shard_id: usize) -> Result<StoreConfig, String> {
    let id = u16::try_from(shard_id).map_err(|_| format!("shard id {shard_id} too large"))?;
    let mut c = StoreConfig::new(shard_store_dir(config, shard_id), id);
    c.commit_log_segment_bytes = config.mapped_file_size_commit_log;
    // `mappedFileSizeConsumeQueue` is in bytes of 20-byte entries.
    c.cq_entries_per_file = (config.mapped_file_size_consume_queue / 20).max(1);
    c.flush_mode = match config.flush_disk_type {
        FlushDiskType::SyncFlush => FlushMode::Sync,
        FlushDiskType::AsyncFlush => FlushMode::Async,
    };
    c.flush_interval = Duration::from_millis(config.flush_interval_commit_log_ms.max(1));
    c.page_cache_keep_bytes = config.page_cache_keep_bytes;
    c.sync_flush_timeout = Duration::from_millis(config.sync_flush_timeout_ms.max(1));
    c.max_message_body_bytes = config.max_message_size;
    c.index_enabled = config.message_index_enable;
    c.store_host = store_host(config)?;
    c.retention.file_reserved_hours =
        u32::try_from(config.file_reserved_time_hours).unwrap_or(u32::MAX);
    c.retention.delete_when_hours =
        rmq_engine::config::parse_delete_when(&config.delete_when).map_err(|e| e.to_string())?;
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// `brokerIP1:listenPort` as a socket address.
pub fn store_host(config: &BrokerConfig) -> Result<SocketAddr, String> {
    config
        .broker_addr()
        .parse()
        .map_err(|_| format!("brokerIP1 {:?} is not an IP address", config.broker_ip1))
}

impl DataPlane {
    /// Open (and recover) this shard's store on `storage` and hook long polling to its
    /// arrivals.
    pub async fn open(
        shard: &Shard,
        config: &BrokerConfig,
        storage: AnyStorage,
    ) -> Result<Rc<Self>, String> {
        let store_config = store_config(config, shard.id)?;
        let store_host = store_config.store_host;
        let store = ShardStore::open(store_config, storage)
            .await
            .map_err(|e| format!("cannot open the store of shard {}: {e}", shard.id))?;
        let waiters: Rc<RefCell<WaiterMap>> = Rc::new(RefCell::new(HashMap::new()));
        let hook = Rc::clone(&waiters);
        store.set_arrival_listener(Box::new(move |topic: &str, queue_id: i32, _max: i64| {
            let mut waiters = hook.borrow_mut();
            // Every append reports an arrival; with nobody waiting, skip building the key.
            if waiters.is_empty() {
                return;
            }
            let woken = waiters.remove(&(topic.to_string(), queue_id));
            drop(waiters);
            for (_, tx) in woken.into_iter().flatten() {
                // A full or closed channel means the waiter already woke or gave up.
                let _ = tx.try_send(());
            }
        }));
        let plane = Rc::new(DataPlane {
            store,
            store_host,
            waiters,
            next_waiter_id: Cell::new(1),
            traffic: Traffic::default(),
            pull_offsets: RefCell::new(HashMap::new()),
        });
        // Sample the counters once a second while the plane lives.
        let weak = Rc::downgrade(&plane);
        glommio::spawn_local(async move {
            loop {
                let Some(plane) = weak.upgrade() else {
                    return;
                };
                let now = super::topics::now_ms();
                plane.traffic.sample(now, local_day(now));
                drop(plane);
                glommio::timer::sleep(Duration::from_secs(1)).await;
            }
        })
        .detach();
        Ok(plane)
    }

    /// Remember where `group`'s latest pull of a queue ends.
    pub fn record_pull_offset(&self, group: &str, topic: &str, queue_id: i32, next: i64) {
        let mut table = self.pull_offsets.borrow_mut();
        let key = (group.to_string(), topic.to_string(), queue_id);
        if let Some(v) = table.get_mut(&key) {
            *v = next;
        } else if table.len() < OFFSET_ENTRIES_COUNT_MAX {
            table.insert(key, next);
        }
    }

    /// Where `group`'s latest pull of a queue ended, if tracked.
    pub fn pull_offset(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.pull_offsets
            .borrow()
            .get(&(group.to_string(), topic.to_string(), queue_id))
            .copied()
    }

    /// Register interest in new entries of a queue. The returned receiver gets one message
    /// when entries arrive; drop the [`Waiter`] to unregister.
    pub fn wait_for_arrival(&self, topic: &str, queue_id: i32) -> Waiter {
        let id = self.next_waiter_id.get();
        self.next_waiter_id.set(id + 1);
        let (tx, rx) = local_channel::new_bounded(1);
        self.waiters
            .borrow_mut()
            .entry((topic.to_string(), queue_id))
            .or_default()
            .push((id, tx));
        Waiter {
            id,
            key: (topic.to_string(), queue_id),
            rx,
            waiters: Rc::clone(&self.waiters),
        }
    }

    /// Suspended pulls on this shard.
    pub fn waiter_count(&self) -> usize {
        self.waiters.borrow().values().map(Vec::len).sum()
    }
}

/// A registered long-polling waiter; unregisters itself on drop.
pub struct Waiter {
    id: u64,
    key: (String, i32),
    rx: LocalReceiver<()>,
    waiters: Rc<RefCell<WaiterMap>>,
}

impl Waiter {
    /// Wait until new entries arrive on the queue.
    pub async fn arrived(&self) {
        let _ = self.rx.recv().await;
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.waiters.borrow_mut();
        if let Some(list) = map.get_mut(&self.key) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                map.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Properties;

    #[test]
    fn store_config_carries_the_broker_flush_and_page_cache_settings() {
        let mut p = Properties::new();
        p.insert("flushIntervalCommitLog", "200");
        p.insert("pageCacheKeepBytes", "1048576");
        let broker = BrokerConfig::from_properties(&p).unwrap();
        let c = store_config(&broker, 1).unwrap();
        assert_eq!(c.flush_interval, Duration::from_millis(200));
        assert_eq!(c.page_cache_keep_bytes, 1_048_576);
        // Unset: every page stays cached (the engine's default).
        let c = store_config(
            &BrokerConfig::from_properties(&Properties::new()).unwrap(),
            0,
        )
        .unwrap();
        assert_eq!(c.page_cache_keep_bytes, u64::MAX);
    }
}
