//! The seam between client logic and the network: [`Transport`] sends one request to an
//! address and yields its response. [`crate::remoting::ConnectionPool`] implements it over TCP;
//! tests implement it in memory, so producer retries, rebalance, offset handling and pull
//! handling are tested without sockets.
//!
//! Contract: a response returned by `invoke` carries the request's opaque; a call never waits
//! longer than its timeout; every failure is a typed [`ClientError`].
//!
//! [`ClientError`]: crate::error::ClientError

use std::time::Duration;

use rmq_protocol::RemotingCommand;

use crate::error::ClientResult;

/// Something that carries requests to brokers and NameServers.
// Futures are deliberately not `Send`: the client runs on one glommio executor per thread.
#[allow(async_fn_in_trait)]
pub trait Transport {
    /// Send `request` to `addr` and wait at most `timeout` for its response.
    async fn invoke(
        &self,
        addr: &str,
        request: RemotingCommand,
        timeout: Duration,
    ) -> ClientResult<RemotingCommand>;

    /// Send `request` to `addr` with the oneway flag; no response is awaited.
    async fn invoke_oneway(&self, addr: &str, request: RemotingCommand) -> ClientResult<()>;
}

/// Send the encoded `HEART_BEAT` body to every address in `addrs`; returns how many did not
/// answer SUCCESS (producer and consumers heartbeat the same way, with their own bodies).
pub async fn send_heartbeats<T: Transport>(
    transport: &T,
    addrs: &[String],
    body: &bytes::Bytes,
    timeout: Duration,
) -> usize {
    let mut failures = 0;
    for addr in addrs {
        let request = RemotingCommand::new_request(
            rmq_protocol::codes::request_code::HEART_BEAT,
            rmq_protocol::command::ExtFields::new(),
        )
        .with_body(body.clone());
        match transport.invoke(addr, request, timeout).await {
            Ok(r) if r.code == rmq_protocol::codes::response_code::SUCCESS => {}
            _ => failures += 1,
        }
    }
    failures
}
