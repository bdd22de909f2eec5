//! Messages between shards, and where each kind is handled.
//!
//! Every message travels over the bounded shared channel of its (sender, receiver) pair and is
//! handled on the receiving shard by its mesh task (`on_message`). Services plug in through
//! [`MeshService`]; snapshots travel as `Arc<dyn Any + Send + Sync>` so this module does not
//! depend on any service's state types.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use rmq_protocol::RemotingCommand;

use super::{Shard, ShardId};
use crate::transport::{Connection, ConnectionId, Reply, SendableReply};

/// Which service a forwarded request or snapshot belongs to (a standalone broker runs both).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// The NameServer.
    Namesrv,
    /// The broker.
    Broker,
}

/// The `Send` description of a connection, for state kept on another shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// Process-unique connection id.
    pub id: ConnectionId,
    /// The shard that owns the socket (pushes are routed there).
    pub shard: ShardId,
    /// The peer's address.
    pub peer: SocketAddr,
}

impl From<&Connection> for ConnectionInfo {
    fn from(c: &Connection) -> Self {
        ConnectionInfo {
            id: c.id,
            shard: c.shard,
            peer: c.peer,
        }
    }
}

/// A read-only copy of some control-plane state.
pub type Snapshot = Arc<dyn Any + Send + Sync>;

/// One message between shards.
pub enum ShardMessage {
    /// Run `cmd` on this (the owner) shard and send a [`ShardMessage::Reply`] back to `from`.
    Forward {
        request_id: u64,
        from: ShardId,
        kind: ServiceKind,
        conn: ConnectionInfo,
        cmd: RemotingCommand,
    },
    /// The owner's answer to a forward (DMA body parts were copied once on the owner; shared
    /// ones travel as they are, see [`Reply::into_sendable`]).
    Reply {
        request_id: u64,
        response: Option<SendableReply>,
    },
    /// A new read-only copy of a service's control-plane state.
    Snapshot {
        kind: ServiceKind,
        snapshot: Snapshot,
    },
    /// Send `cmd` (a broker-initiated request) on connection `conn` of this shard.
    Push {
        conn: ConnectionId,
        cmd: RemotingCommand,
    },
    /// A connection on shard `conn.shard` closed; the owner drops state tied to it.
    ConnectionClosed {
        kind: ServiceKind,
        conn: ConnectionInfo,
    },
}

/// A boxed future of a forwarded request's answer.
pub type OwnerFuture = Pin<Box<dyn Future<Output = Option<Reply>>>>;

/// What a service does with mesh messages addressed to it.
pub trait MeshService {
    /// Run a forwarded request on the owner shard.
    fn handle_on_owner(self: Rc<Self>, conn: ConnectionInfo, cmd: RemotingCommand) -> OwnerFuture;
    /// Install a snapshot from the owner (on a non-owner shard).
    fn install_snapshot(&self, snapshot: Snapshot);
    /// A connection closed on another shard (called on the owner).
    fn connection_closed_elsewhere(&self, conn: ConnectionInfo);
}

/// The services running on a shard.
#[derive(Default)]
pub struct Services {
    /// The NameServer, if this process runs one.
    pub namesrv: Option<Rc<dyn MeshService>>,
    /// The broker, if this process runs one.
    pub broker: Option<Rc<dyn MeshService>>,
}

impl Services {
    fn get(&self, kind: ServiceKind) -> Option<Rc<dyn MeshService>> {
        match kind {
            ServiceKind::Namesrv => self.namesrv.clone(),
            ServiceKind::Broker => self.broker.clone(),
        }
    }
}

/// Run a request on this (the owner) shard.
pub(super) async fn handle_on_owner(
    shard: &Rc<Shard>,
    kind: ServiceKind,
    conn: ConnectionInfo,
    cmd: RemotingCommand,
) -> Option<Reply> {
    let service = shard.services.borrow().get(kind)?;
    service.handle_on_owner(conn, cmd).await
}

/// Handle one message that arrived from shard `from`.
pub(super) fn on_message(shard: &Rc<Shard>, from: ShardId, msg: ShardMessage) {
    match msg {
        ShardMessage::Forward {
            request_id,
            from: reply_to,
            kind,
            conn,
            cmd,
        } => {
            debug_assert_eq!(from, reply_to);
            let shard = Rc::clone(shard);
            glommio::spawn_local(async move {
                let response = handle_on_owner(&shard, kind, conn, cmd)
                    .await
                    .map(Reply::into_sendable);
                shard
                    .send_to(
                        reply_to,
                        ShardMessage::Reply {
                            request_id,
                            response,
                        },
                    )
                    .await;
            })
            .detach();
        }
        ShardMessage::Reply {
            request_id,
            response,
        } => shard.complete(request_id, response),
        ShardMessage::Snapshot { kind, snapshot } => {
            let service = shard.services.borrow().get(kind);
            if let Some(service) = service {
                service.install_snapshot(snapshot);
            }
        }
        ShardMessage::Push { conn, cmd } => {
            if let Some(c) = shard.connection(conn) {
                c.try_push(cmd);
            }
        }
        ShardMessage::ConnectionClosed { kind, conn } => {
            let service = shard.services.borrow().get(kind);
            if let Some(service) = service {
                service.connection_closed_elsewhere(conn);
            }
        }
    }
}
