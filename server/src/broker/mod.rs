//! The broker: control plane (topics, subscription groups, client registry, consumer offsets,
//! admin codes, NameServer registration) on the shard-per-core reactor.
//!
//! Ownership (architecture.md "Threads and ownership"):
//! - the control-plane shard ([`CONTROL_PLANE_SHARD`]) owns [`OwnerState`]: the topic and group
//!   tables, the client registry, the consumer offsets, and the NameServer links. Every
//!   control-plane request is run there ([`dispatch::dispatch`]): requests arriving on other
//!   shards are forwarded over the bounded mesh (`Shard::call_owner`, full inbox => SYSTEM_BUSY). Control
//!   traffic is light (heartbeats every 30 s, offset commits every 5 s per queue), and one
//!   owner answering keeps a client's read-your-writes across shards;
//! - sends, pulls and queue reads run on the owner shard of their queue, which holds that
//!   shard's store ([`data`]); see [`dispatch`] for the routing;
//! - after each change the owner broadcasts a read-only [`BrokerSnapshot`] (topics, groups,
//!   consumer groups with their subscriptions) to every shard, for the data path, which must
//!   not cross cores to look a topic or subscription up.
//!
//! State files live under `${storePathRootDir}/config/` ([`persist`]): topics and groups are
//! written on every change, offsets every `flushConsumerOffsetInterval` and at shutdown.
//! Registration with every NameServer runs every `registerNameServerPeriod` and after each
//! topic change, over one persistent connection per NameServer ([`registration`]).

pub mod clients;
pub mod data;
pub mod dispatch;
pub mod groups;
pub mod offsets;
pub mod persist;
pub mod processor;
pub mod registration;
pub mod schedule;
pub mod topics;
pub mod traffic;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::header::NotifyConsumerIdsChangedRequestHeader;
use rmq_protocol::{ExtFields, RemotingCommand};

use self::clients::{ClientRegistry, ConsumerGroup};
use self::groups::GroupTable;
use self::offsets::OffsetTable;
use self::registration::NamesrvLink;
use self::topics::TopicTable;
use crate::config::{BrokerConfig, NamesrvConfig};
use crate::limits::{
    CLIENT_SCAN_INTERVAL, SNAPSHOT_ASK_AGAIN_AFTER, SNAPSHOT_POLL_INTERVAL, SNAPSHOT_WAIT_MAX,
};
use crate::shard::mesh::{MeshService, OwnerFuture, Snapshot};
use crate::shard::{
    ConnectionInfo, ServerError, ServiceKind, Shard, ShardMessage, CONTROL_PLANE_SHARD,
};
use crate::transport::{Connection, Reply, Service};
use crate::wire::SYSTEM_BUSY_OVERLOAD_REMARK;

/// The read-only copy of the control plane every shard holds.
#[derive(Debug, Default)]
pub struct BrokerSnapshot {
    /// Increases with every change; older copies arriving late are ignored.
    pub version: u64,
    /// Topic configs.
    pub topics: TopicTable,
    /// Subscription groups.
    pub groups: GroupTable,
    /// Online consumer groups with their subscriptions (for PULL_MESSAGE).
    pub consumers: BTreeMap<String, ConsumerGroup>,
}

/// Where the state files are.
#[derive(Debug, Clone)]
pub struct StatePaths {
    /// `config/topics.json`.
    pub topics: PathBuf,
    /// `config/subscriptionGroup.json`.
    pub groups: PathBuf,
    /// `config/consumerOffset.json`.
    pub offsets: PathBuf,
}

impl StatePaths {
    /// The files under `${storePathRootDir}/config/`.
    pub fn under(root: &std::path::Path) -> Self {
        let dir = root.join("config");
        StatePaths {
            topics: dir.join("topics.json"),
            groups: dir.join("subscriptionGroup.json"),
            offsets: dir.join("consumerOffset.json"),
        }
    }
}

/// The control-plane state (control-plane shard only).
pub struct OwnerState {
    /// Topics.
    pub topics: TopicTable,
    /// Subscription groups.
    pub groups: GroupTable,
    /// Committed consumer offsets.
    pub offsets: OffsetTable,
    /// Producer and consumer channels.
    pub clients: ClientRegistry,
    /// Version of the last snapshot broadcast.
    snapshot_version: u64,
}

/// What only the control-plane shard has.
struct Owner {
    state: RefCell<OwnerState>,
    paths: StatePaths,
    links: Vec<Rc<NamesrvLink>>,
    /// A registration is running.
    registering: Cell<bool>,
    /// Another registration was asked for while one was running.
    register_again: Cell<bool>,
}

/// The broker service of one shard.
pub struct Broker {
    /// This shard.
    pub shard: Rc<Shard>,
    /// Broker settings.
    pub config: BrokerConfig,
    /// When the broker started (ms since the epoch).
    pub boot_ms: i64,
    /// The NameServer address of the embedded NameServer (standalone), not unregistered from
    /// at shutdown because it stops with us.
    embedded_namesrv: Option<String>,
    owner: Option<Owner>,
    snapshot: RefCell<Arc<BrokerSnapshot>>,
    /// This shard's store and long-polling waiters (set once the store is open).
    data: RefCell<Option<Rc<data::DataPlane>>>,
    /// Closed once `data` is set: requests forwarded by shards that started serving first
    /// wait here while this shard still opens (recovers) its store.
    data_opened: glommio::sync::Semaphore,
    /// Closed once this shard holds a control-plane snapshot (see `wait_for_first_snapshot`).
    snapshot_ready: glommio::sync::Semaphore,
    next_push_opaque: Cell<i32>,
}

fn now_ms_u64() -> u64 {
    u64::try_from(topics::now_ms()).unwrap_or(0)
}

impl Broker {
    /// Create this shard's broker and register it for mesh messages. On the control-plane
    /// shard this loads the state files (creating the system topics) and starts the periodic
    /// tasks: offset flush, client expiry, NameServer registration.
    pub fn start(
        shard: &Rc<Shard>,
        config: BrokerConfig,
        embedded_namesrv: Option<String>,
    ) -> Result<Rc<Self>, ServerError> {
        let owner = if shard.id == CONTROL_PLANE_SHARD {
            let paths = StatePaths::under(&config.store_path_root_dir);
            let init = |e: persist::PersistError| ServerError::Init(e.to_string());
            let topics = TopicTable::load(&config, persist::load(&paths.topics).map_err(init)?);
            let groups = GroupTable::load(persist::load(&paths.groups).map_err(init)?);
            let offsets = OffsetTable::load(persist::load(&paths.offsets).map_err(init)?);
            persist::store(&paths.topics, &topics.wrapper()).map_err(init)?;
            persist::store(&paths.groups, &groups.wrapper()).map_err(init)?;
            let links = config
                .namesrv_addrs
                .iter()
                .map(|a| NamesrvLink::new(a.clone()))
                .collect();
            Some(Owner {
                state: RefCell::new(OwnerState {
                    topics,
                    groups,
                    offsets,
                    clients: ClientRegistry::new(),
                    snapshot_version: 0,
                }),
                paths,
                links,
                registering: Cell::new(false),
                register_again: Cell::new(false),
            })
        } else {
            None
        };
        let broker = Rc::new(Broker {
            shard: Rc::clone(shard),
            config,
            boot_ms: topics::now_ms(),
            embedded_namesrv,
            owner,
            snapshot: RefCell::new(Arc::new(BrokerSnapshot::default())),
            data: RefCell::new(None),
            data_opened: glommio::sync::Semaphore::new(0),
            snapshot_ready: glommio::sync::Semaphore::new(0),
            next_push_opaque: Cell::new(1),
        });
        shard.services.borrow_mut().broker = Some(Rc::clone(&broker) as Rc<dyn MeshService>);
        if broker.owner.is_some() {
            FINISH_HANDLE.with(|h| *h.borrow_mut() = Some(Rc::clone(&broker)));
            broker.publish();
            let me = Rc::clone(&broker);
            glommio::spawn_local(async move { me.offset_flush_loop().await }).detach();
            let me = Rc::clone(&broker);
            glommio::spawn_local(async move { me.client_scan_loop().await }).detach();
            let me = Rc::clone(&broker);
            glommio::spawn_local(async move { me.register_loop().await }).detach();
        }
        Ok(broker)
    }

    /// This shard's data plane; waits while the store is still being opened. `None` once
    /// the store is closed at shutdown.
    pub async fn data(&self) -> Option<Rc<data::DataPlane>> {
        // The semaphore has no permits: `acquire` returns only once it is closed.
        let _ = self.data_opened.acquire(1).await;
        self.data.borrow().clone()
    }

    fn set_data(&self, data: Rc<data::DataPlane>) {
        *self.data.borrow_mut() = Some(data);
        self.data_opened.close();
    }

    /// Close this shard's store (after every shard drained).
    pub async fn close_store(&self) {
        let Some(dp) = self.data.borrow_mut().take() else {
            return;
        };
        match Rc::try_unwrap(dp) {
            Ok(dp) => {
                if let Err(e) = dp.store.shutdown().await {
                    log_error!("store shutdown failed", error = e);
                }
            }
            Err(_) => log_warn!("store still in use at shutdown; recovery will run on restart"),
        }
    }

    fn owner(&self) -> &Owner {
        self.owner
            .as_ref()
            .expect("control-plane requests run on the control-plane shard")
    }

    /// Read the owner state (control-plane shard only).
    pub fn with_state<T>(&self, f: impl FnOnce(&OwnerState) -> T) -> T {
        f(&self.owner().state.borrow())
    }

    /// Change the owner state and broadcast a new snapshot when the shared part changed
    /// (control-plane shard only).
    pub fn mutate<T>(&self, f: impl FnOnce(&mut OwnerState) -> T) -> T {
        let (result, changed) = {
            let mut s = self.owner().state.borrow_mut();
            let before = (
                s.topics.data_version(),
                s.groups.data_version(),
                s.clients.consumers_generation(),
            );
            let result = f(&mut s);
            let changed = before
                != (
                    s.topics.data_version(),
                    s.groups.data_version(),
                    s.clients.consumers_generation(),
                );
            (result, changed)
        };
        if changed {
            self.publish();
        }
        result
    }

    /// Broadcast the current shared state to every shard.
    fn publish(&self) {
        let snapshot = {
            let mut s = self.owner().state.borrow_mut();
            s.snapshot_version += 1;
            Arc::new(BrokerSnapshot {
                version: s.snapshot_version,
                topics: s.topics.clone(),
                groups: s.groups.clone(),
                consumers: s.clients.consumer_groups().clone(),
            })
        };
        *self.snapshot.borrow_mut() = Arc::clone(&snapshot);
        self.snapshot_ready.close();
        self.shard.broadcast(|| ShardMessage::Snapshot {
            kind: ServiceKind::Broker,
            snapshot: Arc::clone(&snapshot) as Snapshot,
        });
    }

    /// Broadcast the current snapshot again (control-plane shard only).
    pub fn republish(&self) {
        let snapshot = Arc::clone(&self.snapshot.borrow());
        self.shard.broadcast(|| ShardMessage::Snapshot {
            kind: ServiceKind::Broker,
            snapshot: Arc::clone(&snapshot) as Snapshot,
        });
    }

    /// A connection identity for requests the broker sends itself to other shards (no socket
    /// behind it: pushes addressed to it are dropped).
    pub fn internal_connection(&self) -> ConnectionInfo {
        ConnectionInfo {
            id: self.shard.next_connection_id(),
            shard: self.shard.id,
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }

    /// Wait until this shard holds a snapshot of the control plane, so that it never answers
    /// a client from the empty one it starts with (a send or pull would get TOPIC_NOT_EXIST
    /// for a topic that exists). A snapshot broadcast before this shard registered its broker
    /// is lost, so after a while it asks the control-plane shard to broadcast again. Bounded:
    /// past [`SNAPSHOT_WAIT_MAX`] it logs and goes on (the next change brings one).
    pub async fn wait_for_first_snapshot(self: &Rc<Self>) {
        let started = std::time::Instant::now();
        let mut asked_at = started;
        loop {
            let ready = futures_lite::future::or(
                async {
                    let _ = self.snapshot_ready.acquire(1).await;
                    true
                },
                async {
                    glommio::timer::sleep(SNAPSHOT_POLL_INTERVAL).await;
                    false
                },
            )
            .await;
            if ready || self.shard.is_stopping() {
                return;
            }
            if started.elapsed() >= SNAPSHOT_WAIT_MAX {
                log_warn!("no control-plane snapshot yet; serving with an empty one");
                return;
            }
            if asked_at.elapsed() >= SNAPSHOT_ASK_AGAIN_AFTER {
                asked_at = std::time::Instant::now();
                let ask =
                    RemotingCommand::new_request(dispatch::internal::REPUBLISH, ExtFields::new());
                let conn = self.internal_connection();
                let _ = self.shard.call_owner(ServiceKind::Broker, conn, ask).await;
            }
        }
    }

    /// This shard's read-only copy of the control plane.
    pub fn snapshot(&self) -> Arc<BrokerSnapshot> {
        Arc::clone(&self.snapshot.borrow())
    }

    /// Write `topics.json` (control-plane shard only); failures are logged, the in-memory
    /// state stays authoritative and the next change retries.
    pub fn persist_topics(&self) {
        let wrapper = self.with_state(|s| s.topics.wrapper());
        if let Err(e) = persist::store(&self.owner().paths.topics, &wrapper) {
            log_error!("cannot persist topics", error = e);
        }
    }

    /// Write `subscriptionGroup.json` (control-plane shard only).
    pub fn persist_groups(&self) {
        let wrapper = self.with_state(|s| s.groups.wrapper());
        if let Err(e) = persist::store(&self.owner().paths.groups, &wrapper) {
            log_error!("cannot persist subscription groups", error = e);
        }
    }

    /// Write `consumerOffset.json` if it changed (control-plane shard only).
    pub fn persist_offsets(&self) {
        let Some(wrapper) = self.with_state(|s| s.offsets.is_dirty().then(|| s.offsets.wrapper()))
        else {
            return;
        };
        match persist::store(&self.owner().paths.offsets, &wrapper) {
            // The store is synchronous on this shard: no commit can run between taking the
            // copy and here, so the table is exactly what was written.
            Ok(()) => self.owner().state.borrow_mut().offsets.mark_clean(),
            Err(e) => log_error!("cannot persist consumer offsets", error = e),
        }
    }

    /// Send NOTIFY_CONSUMER_IDS_CHANGED (oneway) to every channel of each group.
    pub fn notify_consumer_ids_changed(&self, groups: &[String]) {
        // Membership changes are rare and are what operators (and re-balance bugs) need to see.
        for group in groups {
            let ids = self.with_state(|s| s.clients.consumer_ids(group).join(","));
            log_info!("consumer group changed", group = group, consumers = ids);
        }
        if !self.config.notify_consumer_ids_changed_enable {
            return;
        }
        for group in groups {
            let targets: Vec<ConnectionInfo> = self.with_state(|s| {
                s.clients
                    .consumer_channels(group)
                    .into_iter()
                    .map(|c| c.conn.clone())
                    .collect()
            });
            for conn in targets {
                let mut cmd = RemotingCommand::new_request(
                    request_code::NOTIFY_CONSUMER_IDS_CHANGED,
                    ExtFields::new(),
                )
                .with_header(&NotifyConsumerIdsChangedRequestHeader {
                    consumer_group: group.clone(),
                });
                cmd.flag |= rmq_protocol::command::FLAG_ONEWAY;
                let opaque = self.next_push_opaque.get();
                self.next_push_opaque.set(opaque.wrapping_add(1).max(1));
                cmd.opaque = opaque;
                // Pushes are hints (clients re-balance every 20 s anyway): a full queue or
                // mesh channel drops them.
                if conn.shard == self.shard.id {
                    if let Some(c) = self.shard.connection(conn.id) {
                        c.try_push(cmd);
                    }
                } else {
                    let _ = self
                        .shard
                        .try_send_to(conn.shard, ShardMessage::Push { conn: conn.id, cmd });
                }
            }
        }
    }

    /// Register with every NameServer now (or right after the running registration).
    pub fn request_registration(self: &Rc<Self>) {
        let owner = self.owner();
        if owner.registering.get() {
            owner.register_again.set(true);
            return;
        }
        owner.registering.set(true);
        let me = Rc::clone(self);
        glommio::spawn_local(async move {
            loop {
                me.owner().register_again.set(false);
                me.register_once().await;
                if !me.owner().register_again.get() || me.shard.is_stopping() {
                    break;
                }
            }
            me.owner().registering.set(false);
        })
        .detach();
    }

    async fn register_once(&self) {
        let owner = self.owner();
        if owner.links.is_empty() {
            return;
        }
        let request =
            registration::register_request(&self.config, self.with_state(|s| s.topics.wrapper()));
        registration::call_all(&owner.links, &request, "REGISTER_BROKER").await;
    }

    async fn register_loop(self: Rc<Self>) {
        let period = Duration::from_millis(self.config.register_name_server_period_ms);
        let work = async {
            loop {
                self.request_registration();
                glommio::timer::sleep(period).await;
            }
        };
        futures_lite::future::or(work, self.shard.stopping()).await;
    }

    async fn offset_flush_loop(self: Rc<Self>) {
        let period = Duration::from_millis(self.config.flush_consumer_offset_interval_ms.max(100));
        let work = async {
            loop {
                glommio::timer::sleep(period).await;
                self.persist_offsets();
            }
        };
        futures_lite::future::or(work, self.shard.stopping()).await;
    }

    async fn client_scan_loop(self: Rc<Self>) {
        let work = async {
            loop {
                glommio::timer::sleep(CLIENT_SCAN_INTERVAL).await;
                let timeout = self.config.channel_expired_timeout_ms;
                let (peers, changed) = self.mutate(|s| s.clients.expire(now_ms_u64(), timeout));
                for peer in peers {
                    log_warn!("client channel expired", client = peer);
                }
                self.notify_consumer_ids_changed(&changed);
            }
        };
        futures_lite::future::or(work, self.shard.stopping()).await;
    }

    /// Shutdown (control-plane shard, after every shard drained): persist everything and
    /// unregister from every NameServer except an embedded one, which stops with us.
    pub async fn finish(&self) {
        let Some(owner) = &self.owner else {
            return;
        };
        self.persist_offsets();
        self.persist_topics();
        self.persist_groups();
        let links: Vec<Rc<NamesrvLink>> = owner
            .links
            .iter()
            .filter(|l| Some(&l.addr) != self.embedded_namesrv.as_ref())
            .cloned()
            .collect();
        if !links.is_empty() {
            let request = registration::unregister_request(&self.config);
            let ok = registration::call_all(&links, &request, "UNREGISTER_BROKER").await;
            log_info!("unregistered from name servers", count = ok);
        }
        for l in &owner.links {
            l.close();
        }
    }
}

impl Service for Broker {
    async fn handle(self: Rc<Self>, conn: Rc<Connection>, cmd: RemotingCommand) -> Option<Reply> {
        let info = ConnectionInfo::from(&*conn);
        match dispatch::route(&cmd, self.shard.count) {
            dispatch::Route::Front => Some(dispatch::front(&self, &info, cmd).await),
            dispatch::Route::Shard(to) => {
                let busy = RemotingCommand::response_to(
                    &cmd,
                    response_code::SYSTEM_BUSY,
                    Some(SYSTEM_BUSY_OVERLOAD_REMARK.to_string()),
                );
                match self
                    .shard
                    .call_shard_reply(to, ServiceKind::Broker, info, cmd)
                    .await
                {
                    Ok(resp) => resp,
                    Err(()) => Some(busy.into()),
                }
            }
            dispatch::Route::NotSupported => Some(crate::wire::not_supported(&cmd).into()),
        }
    }

    fn connection_closed(self: Rc<Self>, conn: &Rc<Connection>) {
        let info = ConnectionInfo::from(&**conn);
        if self.owner.is_some() {
            self.connection_closed_elsewhere(info);
        } else {
            self.shard
                .report_connection_closed(ServiceKind::Broker, info);
        }
    }
}

impl MeshService for Broker {
    fn handle_on_owner(self: Rc<Self>, conn: ConnectionInfo, cmd: RemotingCommand) -> OwnerFuture {
        Box::pin(async move { dispatch::dispatch(&self, &conn, &cmd).await })
    }

    fn install_snapshot(&self, snapshot: Snapshot) {
        let Ok(snapshot) = snapshot.downcast::<BrokerSnapshot>() else {
            return;
        };
        let newer = snapshot.version > self.snapshot.borrow().version;
        if newer {
            *self.snapshot.borrow_mut() = snapshot;
            self.snapshot_ready.close();
        }
    }

    fn connection_closed_elsewhere(&self, conn: ConnectionInfo) {
        if self.owner.is_none() {
            return;
        }
        let changed = self.mutate(|s| s.clients.remove_channel(conn.id));
        self.notify_consumer_ids_changed(&changed);
    }
}

/// What `rmq-broker` runs on every shard: the broker on `listenPort` and `listenPort - 2`,
/// and, in standalone mode, the NameServer too.
#[derive(Debug, Clone)]
pub struct BrokerServices {
    /// Broker settings.
    pub config: BrokerConfig,
    /// The embedded NameServer's settings (standalone mode).
    pub namesrv: Option<NamesrvConfig>,
    /// What the message stores are kept on: `AnyStorage::Disk` (the default) in production;
    /// in-process fault tests pass one shared `AnyStorage::Faulty` file system.
    pub storage: rmq_engine::io::any::AnyStorage,
}

impl crate::shard::ShardServices for BrokerServices {
    async fn start(&self, shard: &Rc<Shard>) -> Result<(), ServerError> {
        let embedded = self
            .namesrv
            .as_ref()
            .map(|n| format!("{}:{}", n.listen_address, n.listen_port));
        if let Some(n) = &self.namesrv {
            crate::namesrv::start_on_shard(shard, n)?;
        }
        let broker = Broker::start(shard, self.config.clone(), embedded.clone())?;
        match data::DataPlane::open(shard, &self.config, self.storage.clone()).await {
            Ok(data) => {
                broker.set_data(data);
                schedule::start(&broker);
            }
            Err(e) => {
                // Requests forwarded here meanwhile get "store not open" instead of waiting.
                broker.data_opened.close();
                return Err(ServerError::Init(e));
            }
        }
        broker.wait_for_first_snapshot().await;
        SHARD_BROKER.with(|b| *b.borrow_mut() = Some(Rc::clone(&broker)));
        let main_port = self.config.listen_port;
        // listenPort >= 3 is checked by the config.
        let vip_port = main_port - 2;
        for port in [main_port, vip_port] {
            let listener =
                crate::transport::bind(&self.config.listen_address, port).map_err(|source| {
                    ServerError::Bind {
                        addr: format!("{}:{port}", self.config.listen_address),
                        source,
                    }
                })?;
            glommio::spawn_local(crate::transport::serve(
                Rc::clone(shard),
                listener,
                Rc::clone(&broker),
            ))
            .detach();
        }
        if shard.id == CONTROL_PLANE_SHARD {
            for key in self.config.ignored_keys() {
                log_warn!("config key not used by this broker", key = key);
            }
            log_info!(
                "The broker boot success. serializeType=JSON",
                broker = self.config.broker_name,
                addr = self.config.broker_addr(),
                listen = format!("{}:{main_port}", self.config.listen_address),
                vip = format!("{}:{vip_port}", self.config.listen_address),
                namesrv = embedded.unwrap_or_else(|| self.config.namesrv_addrs.join(";")),
                shards = shard.count,
                store = self.config.store_path_root_dir.display(),
                flush = format!("{:?}", self.config.flush_disk_type)
            );
        }
        Ok(())
    }

    async fn finish_shard(&self, _shard: &Rc<Shard>) {
        if let Some(b) = SHARD_BROKER.with(|b| b.borrow_mut().take()) {
            b.close_store().await;
        }
    }

    async fn finish(&self, _shard: &Rc<Shard>) {
        // The mesh registry holds the service as a trait object; the final hooks need the
        // broker itself, kept here by `Broker::start` on the control-plane shard.
        if let Some(b) = FINISH_HANDLE.with(|h| h.borrow_mut().take()) {
            b.finish().await;
        }
    }
}

thread_local! {
    /// The control-plane shard's broker, for [`BrokerServices::finish`].
    static FINISH_HANDLE: RefCell<Option<Rc<Broker>>> = const { RefCell::new(None) };
    /// This shard's broker, for [`BrokerServices::finish_shard`].
    static SHARD_BROKER: RefCell<Option<Rc<Broker>>> = const { RefCell::new(None) };
}
