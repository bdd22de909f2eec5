//! Outbound requests from the server (broker -> NameServer: REGISTER_BROKER,
//! UNREGISTER_BROKER): one connection per call, one request, the matching response.
//!
//! Registration happens every 30 s, so a connection per call costs nothing measurable and
//! leaves no connection state to repair when a NameServer restarts. Every call is bounded by a
//! timeout, and the response frame is checked against the protocol limits like any input.

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use rmq_protocol::{CodecError, RemotingCommand};
use thiserror::Error;

use crate::limits::SOCKET_READ_CHUNK_BYTES;

/// Why an outbound call failed.
#[derive(Debug, Error)]
pub enum CallError {
    /// The address is not `host:port` with a numeric IP.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// Connecting, writing or reading failed.
    #[error("i/o error talking to {addr}: {source}")]
    Io {
        addr: String,
        source: std::io::Error,
    },
    /// No answer within the timeout.
    #[error("no answer from {0} in time")]
    Timeout(String),
    /// The peer closed before answering.
    #[error("{0} closed the connection before answering")]
    Closed(String),
    /// The answer was not a valid frame.
    #[error("bad answer from {addr}: {source}")]
    Codec { addr: String, source: CodecError },
}

thread_local! {
    /// Opaque ids of this shard's outbound requests.
    static NEXT_OPAQUE: Cell<i32> = const { Cell::new(1) };
}

fn next_opaque() -> i32 {
    NEXT_OPAQUE.with(|c| {
        let v = c.get();
        c.set(v.wrapping_add(1).max(1));
        v
    })
}

/// Send `request` to `addr` and wait (at most `timeout`) for its response.
pub async fn call(
    addr: &str,
    mut request: RemotingCommand,
    timeout: Duration,
) -> Result<RemotingCommand, CallError> {
    let sock: SocketAddr = addr
        .parse()
        .map_err(|_| CallError::BadAddress(addr.to_string()))?;
    request.opaque = next_opaque();
    let opaque = request.opaque;
    let frame = request
        .encode_to_bytes()
        .map_err(|source| CallError::Codec {
            addr: addr.to_string(),
            source,
        })?;
    let io = |source| CallError::Io {
        addr: addr.to_string(),
        source,
    };
    let exchange = async {
        let mut stream = TcpStream::connect_timeout(sock, timeout)
            .await
            .map_err(|e| io(std::io::Error::other(e.to_string())))?;
        stream.write_all(&frame).await.map_err(io)?;
        stream.flush().await.map_err(io)?;
        let mut buf = BytesMut::with_capacity(SOCKET_READ_CHUNK_BYTES);
        loop {
            while let Some(cmd) =
                RemotingCommand::decode_from(&mut buf).map_err(|source| CallError::Codec {
                    addr: addr.to_string(),
                    source,
                })?
            {
                if cmd.is_response() && cmd.opaque == opaque {
                    return Ok(cmd);
                }
            }
            let start = buf.len();
            buf.resize(start + SOCKET_READ_CHUNK_BYTES, 0);
            let n = stream.read(&mut buf[start..]).await.map_err(io)?;
            buf.truncate(start + n);
            if n == 0 {
                return Err(CallError::Closed(addr.to_string()));
            }
        }
    };
    match glommio::timer::timeout(timeout, async { Ok(exchange.await) }).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Timeout(addr.to_string())),
    }
}
