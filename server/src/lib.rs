//! `rmq-server`: the glommio shard-per-core runtime, the broker and the NameServer.
//!
//! # Layout
//! - [`config`]: properties file and command line, typed configs with upstream defaults.
//! - [`log`]: structured one-line logs.
//! - [`shard`]: executors (one per core, pinned), the cross-shard mesh, lifecycle and SIGTERM.
//! - [`transport`]: accept loops, the connection loop, admission limits, outbound calls.
//! - [`broker`]: the broker (control plane: topics, groups, clients, offsets, admin codes,
//!   NameServer registration).
//! - [`namesrv`]: the NameServer (route table, KV config, processors).
//! - [`wire`]: request/response codes and the Java remarks.
//! - [`limits`]: the server's named limits.
//!
//! Design: `../shared/docs/architecture.md`; wire facts: `../shared/docs/protocol.md`.

#[macro_use]
pub mod log;
pub mod broker;
pub mod config;
pub mod limits;
pub mod namesrv;
pub mod shard;
pub mod transport;
pub mod wire;
