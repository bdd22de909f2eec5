//! `rmq-client`: a thin RocketMQ client on the glommio reactor, used by `rmq-bench` and the
//! admin tools. It speaks the standard remoting protocol through `rmq-protocol`, so it works
//! against any RocketMQ broker, not only ours.
//!
//! # Layout
//! - [`transport`]: the [`Transport`] seam (request in, response out), so logic is tested
//!   without sockets; [`remoting`]: its TCP implementation (connection pool per broker,
//!   correlation by opaque, timeouts, coalesced writes).
//! - [`route`]: NameServer lookups and the route cache; [`fault`]: queue selection with the
//!   latency fault table.
//! - [`producer`]: sync / async / oneway / batch / selected-queue sends with retries.
//! - [`consumer`]: the push consumer (clustering and broadcasting, rebalance, concurrent and
//!   orderly listeners, flow control, offset commits); [`lite_pull`]: the lite pull consumer;
//!   [`rebalance`]: queue allocation; [`process_queue`]: per-queue cache and flow control;
//!   [`offset_store`]: committed offsets; [`pull`]: PULL requests and results.
//! - [`admin`]: create topic, cluster info, route, consume stats.
//! - [`message`]: messages sent and received; [`error`]: [`ClientError`].
//!
//! Threading: every object lives on one executor (one thread); nothing is `Send`. Load
//! generators that want several cores run one client per executor.

pub mod admin;
pub mod consumer;
pub mod error;
pub mod fault;
pub mod limits;
pub mod lite_pull;
pub mod message;
pub mod offset_store;
pub mod process_queue;
pub mod producer;
pub mod pull;
pub mod rebalance;
pub mod remoting;
pub mod route;
pub mod sync;
pub mod transport;
pub mod util;

#[cfg(test)]
pub(crate) mod fake;

pub use error::{ClientError, ClientResult};
pub use message::{Message, MessageExt};
pub use producer::{Producer, ProducerConfig, SendResult, SendStatus};
pub use remoting::ConnectionPool;
pub use transport::Transport;
