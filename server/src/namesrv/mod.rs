//! The NameServer: broker registration and liveness, topic routes, cluster info, KV config.
//!
//! Runs on the same reactor as the broker. One [`Namesrv`] per shard:
//! - on the control-plane shard it owns the [`route::RouteTable`] (with liveness) and the
//!   [`kv::KvConfig`]; mutating requests from any shard run there (forwarded over the mesh),
//!   and the expiry scan runs there every `scanNotActiveBrokerInterval`;
//! - every shard answers reads (routes, cluster info, topic lists, KV gets) from its
//!   read-only [`NamesrvSnapshot`], which the owner broadcasts after each change.
//!
//! Replies follow the Java NameServer (protocol.md §2.14-§2.16): route JSON in the fastjson or
//! standard dialect by client version, `TOPIC_NOT_EXIST` with Java's remark for an unknown
//! topic, `QUERY_NOT_FOUND` for a missing KV entry. Unknown codes get
//! `REQUEST_CODE_NOT_SUPPORTED` (a 4.9.8 NameServer stays silent instead; answering lets a
//! client fail fast rather than time out).

pub mod kv;
pub mod route;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rmq_protocol::body::{
    DataVersion, JsonBody, KVTable, RegisterBrokerBody, RouteJsonStyle,
    TopicConfigSerializeWrapper, TopicList,
};
use rmq_protocol::codes::{request_code, response_code};
use rmq_protocol::command::version;
use rmq_protocol::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    DeleteKvConfigRequestHeader, DeleteTopicFromNamesrvRequestHeader, GetKvConfigRequestHeader,
    GetKvConfigResponseHeader, GetKvListByNamespaceRequestHeader, GetRouteInfoRequestHeader,
    GetTopicsByClusterRequestHeader, PutKvConfigRequestHeader, QueryDataVersionRequestHeader,
    QueryDataVersionResponseHeader, RegisterBrokerRequestHeader, RegisterBrokerResponseHeader,
    UnregisterBrokerRequestHeader, WipeWritePermOfBrokerRequestHeader,
    WipeWritePermOfBrokerResponseHeader,
};
use rmq_protocol::RemotingCommand;

use self::kv::{KvConfig, KvTable};
use self::route::{Registration, RouteTable};
use crate::config::NamesrvConfig;
use crate::shard::mesh::{MeshService, OwnerFuture, Snapshot};
use crate::shard::{ConnectionInfo, ServiceKind, Shard, ShardMessage, CONTROL_PLANE_SHARD};
use crate::transport::{Connection, Reply, Service};
use crate::wire::{
    error, header_error, request_code_not_supported_remark, success, SYSTEM_BUSY_OVERLOAD_REMARK,
};

/// KV namespace of ordered-topic configs (`NamesrvUtil.NAMESPACE_ORDER_TOPIC_CONFIG`).
pub const NAMESPACE_ORDER_TOPIC_CONFIG: &str = "ORDER_TOPIC_CONFIG";

/// Java's suffix on "not found" remarks (`FAQUrl.suggestTodo`).
const FAQ_SUGGESTION: &str =
    "\nSee https://rocketmq.apache.org/docs/bestPractice/06FAQ for further details.";

/// The read-only copy of the NameServer state every shard answers reads from.
#[derive(Debug, Default)]
pub struct NamesrvSnapshot {
    /// Increases with every change; older copies arriving late are ignored.
    pub version: u64,
    /// Routes (no liveness).
    pub routes: RouteTable,
    /// KV config.
    pub kv: KvTable,
}

/// State only the control-plane shard has.
struct OwnerState {
    routes: RouteTable,
    kv: KvConfig,
    version: u64,
}

/// The NameServer service of one shard.
pub struct Namesrv {
    shard: Rc<Shard>,
    config: NamesrvConfig,
    started: Instant,
    owner: Option<RefCell<OwnerState>>,
    snapshot: RefCell<Arc<NamesrvSnapshot>>,
}

fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(u64::MAX)
}

impl Namesrv {
    /// Create this shard's NameServer and register it for mesh messages. On the control-plane
    /// shard this loads the KV config and starts the expiry scan.
    pub fn start(shard: &Rc<Shard>, config: NamesrvConfig) -> Result<Rc<Self>, kv::KvError> {
        let owner = if shard.id == CONTROL_PLANE_SHARD {
            let kv = KvConfig::load(&config.kv_config_path)?;
            Some(RefCell::new(OwnerState {
                routes: RouteTable::new(),
                kv,
                version: 0,
            }))
        } else {
            None
        };
        let initial = owner.as_ref().map_or_else(NamesrvSnapshot::default, |o| {
            let o = o.borrow();
            NamesrvSnapshot {
                version: 0,
                routes: RouteTable::new(),
                kv: o.kv.table().clone(),
            }
        });
        let namesrv = Rc::new(Namesrv {
            shard: Rc::clone(shard),
            config,
            started: Instant::now(),
            owner,
            snapshot: RefCell::new(Arc::new(initial)),
        });
        shard.services.borrow_mut().namesrv = Some(Rc::clone(&namesrv) as Rc<dyn MeshService>);
        if namesrv.owner.is_some() {
            let me = Rc::clone(&namesrv);
            glommio::spawn_local(async move { me.scan_loop().await }).detach();
        }
        Ok(namesrv)
    }

    /// Every `scanNotActiveBrokerInterval`: drop brokers silent for 120 s.
    async fn scan_loop(self: Rc<Self>) {
        let interval =
            Duration::from_millis(self.config.scan_not_active_broker_interval_ms.max(100));
        let scan = async {
            loop {
                glommio::timer::sleep(interval).await;
                let expired = self.mutate(|o| {
                    o.routes
                        .expire(now_ms(), self.config.broker_channel_expired_time_ms)
                });
                for addr in expired {
                    log_warn!("broker expired", broker = addr);
                }
            }
        };
        futures_lite::future::or(scan, self.shard.stopping()).await;
    }

    /// Apply `f` to the owner state; publish a new snapshot. Owner shard only.
    fn mutate<T>(&self, f: impl FnOnce(&mut OwnerState) -> T) -> T {
        let owner = self
            .owner
            .as_ref()
            .expect("mutations run on the control-plane shard");
        let (result, snapshot) = {
            let mut o = owner.borrow_mut();
            let routes_before = o.routes.read_only_copy();
            let kv_before = o.kv.table().clone();
            let result = f(&mut o);
            if o.routes.same_routes(&routes_before) && *o.kv.table() == kv_before {
                return result;
            }
            o.version += 1;
            let snapshot = Arc::new(NamesrvSnapshot {
                version: o.version,
                routes: o.routes.read_only_copy(),
                kv: o.kv.table().clone(),
            });
            (result, snapshot)
        };
        *self.snapshot.borrow_mut() = Arc::clone(&snapshot);
        self.shard.broadcast(|| ShardMessage::Snapshot {
            kind: ServiceKind::Namesrv,
            snapshot: Arc::clone(&snapshot) as Snapshot,
        });
        result
    }

    fn snapshot(&self) -> Arc<NamesrvSnapshot> {
        Arc::clone(&self.snapshot.borrow())
    }

    /// Answer a read from the local snapshot, or `None` when `cmd` is not a read.
    fn handle_read(&self, cmd: &RemotingCommand) -> Option<RemotingCommand> {
        let snap = self.snapshot();
        let resp = match cmd.code {
            request_code::GET_ROUTEINFO_BY_TOPIC => self.get_route(&snap, cmd),
            request_code::GET_BROKER_CLUSTER_INFO => {
                success(cmd).with_body(snap.routes.cluster_info().encode())
            }
            request_code::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                if self.config.enable_all_topic_list {
                    success(cmd).with_body(topic_list(snap.routes.topic_names()))
                } else {
                    error(cmd, response_code::SYSTEM_ERROR, "disable")
                }
            }
            request_code::GET_TOPICS_BY_CLUSTER => {
                match cmd.decode_header::<GetTopicsByClusterRequestHeader>() {
                    Ok(h) => success(cmd)
                        .with_body(topic_list(snap.routes.topics_of_cluster(&h.cluster))),
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                // Upstream lists cluster and broker names (each is a system topic).
                let mut names: Vec<String> = snap.routes.clusters().keys().cloned().collect();
                names.extend(snap.routes.brokers().keys().cloned());
                success(cmd).with_body(topic_list(names))
            }
            request_code::GET_KV_CONFIG => match cmd.decode_header::<GetKvConfigRequestHeader>() {
                Ok(h) => match snap.kv.get(&h.namespace).and_then(|ns| ns.get(&h.key)) {
                    Some(v) => success(cmd).with_header(&GetKvConfigResponseHeader {
                        value: Some(v.clone()),
                    }),
                    None => error(
                        cmd,
                        response_code::QUERY_NOT_FOUND,
                        &format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
                    ),
                },
                Err(e) => header_error(cmd, &e),
            },
            request_code::GET_KVLIST_BY_NAMESPACE => {
                match cmd.decode_header::<GetKvListByNamespaceRequestHeader>() {
                    Ok(h) => match snap.kv.get(&h.namespace) {
                        Some(ns) => success(cmd).with_body(KVTable { table: ns.clone() }.encode()),
                        None => error(
                            cmd,
                            response_code::QUERY_NOT_FOUND,
                            &format!("No config item, Namespace: {}", h.namespace),
                        ),
                    },
                    Err(e) => header_error(cmd, &e),
                }
            }
            _ => return None,
        };
        Some(resp)
    }

    fn get_route(&self, snap: &NamesrvSnapshot, cmd: &RemotingCommand) -> RemotingCommand {
        let h = match cmd.decode_header::<GetRouteInfoRequestHeader>() {
            Ok(h) => h,
            Err(e) => return header_error(cmd, &e),
        };
        if self.config.need_wait_for_service
            && self.started.elapsed() < Duration::from_secs(self.config.wait_seconds_for_service)
        {
            return error(cmd, response_code::SYSTEM_ERROR, "name server not ready");
        }
        let Some(mut route) = snap.routes.route(&h.topic) else {
            return error(
                cmd,
                response_code::TOPIC_NOT_EXIST,
                &format!(
                    "No topic route info in name server for the topic: {}{FAQ_SUGGESTION}",
                    h.topic
                ),
            );
        };
        if self.config.order_message_enable {
            route.order_topic_conf = snap
                .kv
                .get(NAMESPACE_ORDER_TOPIC_CONFIG)
                .and_then(|ns| ns.get(&h.topic))
                .cloned();
        }
        let style =
            RouteJsonStyle::for_request(cmd.version, h.accept_standard_json_only.unwrap_or(false));
        success(cmd).with_body(route.encode_route(style))
    }

    /// Run a mutating request (owner shard only).
    fn handle_write(&self, conn: &ConnectionInfo, cmd: &RemotingCommand) -> RemotingCommand {
        match cmd.code {
            request_code::REGISTER_BROKER => self.register_broker(conn, cmd),
            request_code::UNREGISTER_BROKER => {
                match cmd.decode_header::<UnregisterBrokerRequestHeader>() {
                    Ok(h) => {
                        let removed = self.mutate(|o| {
                            o.routes
                                .unregister(&h.broker_addr, &h.broker_name, h.broker_id)
                        });
                        if removed {
                            log_info!(
                                "broker unregistered",
                                broker = h.broker_addr,
                                name = h.broker_name
                            );
                        }
                        success(cmd)
                    }
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::QUERY_DATA_VERSION => {
                match cmd.decode_header::<QueryDataVersionRequestHeader>() {
                    Ok(h) => {
                        let version = match cmd.body.as_deref().map(DataVersion::decode) {
                            Some(Ok(v)) => v,
                            Some(Err(e)) => {
                                return error(cmd, response_code::SYSTEM_ERROR, &e.to_string())
                            }
                            None => DataVersion::default(),
                        };
                        let changed = self.mutate(|o| {
                            o.routes
                                .query_data_version(&h.broker_addr, version, now_ms())
                        });
                        success(cmd).with_header(&QueryDataVersionResponseHeader { changed })
                    }
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::DELETE_TOPIC_IN_NAMESRV => {
                match cmd.decode_header::<DeleteTopicFromNamesrvRequestHeader>() {
                    Ok(h) => {
                        self.mutate(|o| o.routes.delete_topic(&h.topic, h.cluster_name.as_deref()));
                        success(cmd)
                    }
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::WIPE_WRITE_PERM_OF_BROKER => {
                match cmd.decode_header::<WipeWritePermOfBrokerRequestHeader>() {
                    Ok(h) => {
                        let n = self.mutate(|o| o.routes.set_write_perm(&h.broker_name, true));
                        success(cmd).with_header(&WipeWritePermOfBrokerResponseHeader {
                            wipe_topic_count: i32::try_from(n).unwrap_or(i32::MAX),
                        })
                    }
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::ADD_WRITE_PERM_OF_BROKER => {
                match cmd.decode_header::<AddWritePermOfBrokerRequestHeader>() {
                    Ok(h) => {
                        let n = self.mutate(|o| o.routes.set_write_perm(&h.broker_name, false));
                        success(cmd).with_header(&AddWritePermOfBrokerResponseHeader {
                            add_topic_count: i32::try_from(n).unwrap_or(i32::MAX),
                        })
                    }
                    Err(e) => header_error(cmd, &e),
                }
            }
            request_code::PUT_KV_CONFIG => match cmd.decode_header::<PutKvConfigRequestHeader>() {
                Ok(h) => match self.mutate(|o| o.kv.put(&h.namespace, &h.key, &h.value)) {
                    Ok(()) => success(cmd),
                    Err(e) => error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
                },
                Err(e) => header_error(cmd, &e),
            },
            request_code::DELETE_KV_CONFIG => {
                match cmd.decode_header::<DeleteKvConfigRequestHeader>() {
                    Ok(h) => match self.mutate(|o| o.kv.delete(&h.namespace, &h.key)) {
                        Ok(()) => success(cmd),
                        Err(e) => error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
                    },
                    Err(e) => header_error(cmd, &e),
                }
            }
            other => error(
                cmd,
                response_code::REQUEST_CODE_NOT_SUPPORTED,
                &request_code_not_supported_remark(other),
            ),
        }
    }

    fn register_broker(&self, conn: &ConnectionInfo, cmd: &RemotingCommand) -> RemotingCommand {
        let h = match cmd.decode_header::<RegisterBrokerRequestHeader>() {
            Ok(h) => h,
            Err(e) => return header_error(cmd, &e),
        };
        let body = cmd.body.as_deref().unwrap_or_default();
        if h.body_crc32 != 0 {
            let crc = (crc32fast::hash(body) & 0x7FFF_FFFF) as i32;
            if crc != h.body_crc32 {
                log_warn!("register body crc mismatch", broker = h.broker_addr);
                return error(cmd, response_code::SYSTEM_ERROR, "crc32 not match");
            }
        }
        let (wrapper, filter_servers) = if body.is_empty() {
            (TopicConfigSerializeWrapper::default(), Vec::new())
        } else if cmd.version >= version::V3_0_11 {
            match RegisterBrokerBody::decode_register(body, h.compressed) {
                Ok(b) => (b.topic_config_serialize_wrapper, b.filter_server_list),
                Err(e) => return error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
            }
        } else {
            match TopicConfigSerializeWrapper::decode(body) {
                Ok(w) => (w, Vec::new()),
                Err(e) => return error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
            }
        };
        let reg = Registration {
            cluster: h.cluster_name,
            broker_addr: h.broker_addr,
            broker_name: h.broker_name,
            broker_id: h.broker_id,
            ha_server_addr: h.ha_server_addr,
            data_version: wrapper.data_version,
            topics: wrapper.topic_config_table.into_values().collect(),
            filter_servers,
        };
        let first = self
            .snapshot()
            .routes
            .brokers()
            .get(&reg.broker_name)
            .is_none_or(|b| !b.broker_addrs.values().any(|a| *a == reg.broker_addr));
        match self.mutate(|o| o.routes.register(&reg, Some(conn.id), now_ms())) {
            Ok(result) => {
                if first {
                    log_info!(
                        "broker registered",
                        broker = reg.broker_addr,
                        name = reg.broker_name,
                        id = reg.broker_id,
                        cluster = reg.cluster,
                        topics = reg.topics.len()
                    );
                }
                let mut resp = success(cmd).with_header(&RegisterBrokerResponseHeader {
                    ha_server_addr: result.ha_server_addr,
                    master_addr: result.master_addr,
                });
                if self.config.order_message_enable {
                    let table = self
                        .snapshot()
                        .kv
                        .get(NAMESPACE_ORDER_TOPIC_CONFIG)
                        .cloned()
                        .unwrap_or_default();
                    resp = resp.with_body(KVTable { table }.encode());
                }
                resp
            }
            Err(e) => error(cmd, response_code::SYSTEM_ERROR, &e.to_string()),
        }
    }
}

fn topic_list(names: Vec<String>) -> Vec<u8> {
    TopicList {
        topic_list: names.into_iter().collect::<BTreeSet<_>>(),
        broker_addr: None,
    }
    .encode()
}

impl Service for Namesrv {
    async fn handle(self: Rc<Self>, conn: Rc<Connection>, cmd: RemotingCommand) -> Option<Reply> {
        if let Some(resp) = self.handle_read(&cmd) {
            return Some(resp.into());
        }
        let info = ConnectionInfo::from(&*conn);
        let busy = RemotingCommand::response_to(
            &cmd,
            response_code::SYSTEM_BUSY,
            Some(SYSTEM_BUSY_OVERLOAD_REMARK.to_string()),
        );
        match self.shard.call_owner(ServiceKind::Namesrv, info, cmd).await {
            Ok(resp) => resp.map(Reply::from),
            Err(()) => Some(busy.into()),
        }
    }

    fn connection_closed(self: Rc<Self>, conn: &Rc<Connection>) {
        let info = ConnectionInfo::from(&**conn);
        if self.owner.is_some() {
            self.connection_closed_elsewhere(info);
        } else {
            self.shard
                .report_connection_closed(ServiceKind::Namesrv, info);
        }
    }
}

impl MeshService for Namesrv {
    fn handle_on_owner(self: Rc<Self>, conn: ConnectionInfo, cmd: RemotingCommand) -> OwnerFuture {
        Box::pin(async move { Some(self.handle_write(&conn, &cmd).into()) })
    }

    fn install_snapshot(&self, snapshot: Snapshot) {
        let Ok(snapshot) = snapshot.downcast::<NamesrvSnapshot>() else {
            return;
        };
        let newer = snapshot.version > self.snapshot.borrow().version;
        if newer {
            *self.snapshot.borrow_mut() = snapshot;
        }
    }

    fn connection_closed_elsewhere(&self, conn: ConnectionInfo) {
        if self.owner.is_none() {
            return;
        }
        let gone = self.mutate(|o| o.routes.connection_closed(conn.id));
        for addr in gone {
            log_info!("broker connection closed, routes removed", broker = addr);
        }
    }
}

/// Runs the NameServer on every shard: the service plus a listener on `listenPort`.
#[derive(Debug, Clone)]
pub struct NamesrvServices {
    /// NameServer settings.
    pub config: NamesrvConfig,
}

/// Start the NameServer on `shard`: create the service and serve `listenPort`.
pub fn start_on_shard(
    shard: &Rc<Shard>,
    config: &NamesrvConfig,
) -> Result<(), crate::shard::ServerError> {
    let namesrv = Namesrv::start(shard, config.clone())
        .map_err(|e| crate::shard::ServerError::Init(e.to_string()))?;
    let listener =
        crate::transport::bind(&config.listen_address, config.listen_port).map_err(|source| {
            crate::shard::ServerError::Bind {
                addr: format!("{}:{}", config.listen_address, config.listen_port),
                source,
            }
        })?;
    glommio::spawn_local(crate::transport::serve(Rc::clone(shard), listener, namesrv)).detach();
    Ok(())
}

impl crate::shard::ShardServices for NamesrvServices {
    async fn start(&self, shard: &Rc<Shard>) -> Result<(), crate::shard::ServerError> {
        start_on_shard(shard, &self.config)?;
        if shard.id == CONTROL_PLANE_SHARD {
            log_info!(
                "The Name Server boot success. serializeType=JSON",
                listen = format!("{}:{}", self.config.listen_address, self.config.listen_port),
                shards = shard.count,
                kv_config = self.config.kv_config_path.display()
            );
        }
        Ok(())
    }

    async fn finish(&self, _shard: &Rc<Shard>) {
        // Route state is never persisted (upstream neither); the KV config is written on
        // every change, so nothing is left to flush.
    }
}
