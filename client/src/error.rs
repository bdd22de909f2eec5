//! The client's error type: every way a call can fail, typed, so callers (the producer's retry
//! loop, the consumer's pull loop, `rmq-bench`) decide by variant and never by message text.
//!
//! Invariant: a reply from a peer that we cannot use (bad frame, missing header field, bad
//! JSON body, unexpected code) becomes one of these errors; nothing in the client panics on
//! bytes from the network.

use rmq_protocol::header::{CommandHeader, HeaderError};
use rmq_protocol::{CodecError, RemotingCommand};
use thiserror::Error;

/// Everything that can go wrong in a client call.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClientError {
    /// The address is not `ip:port`.
    #[error("bad address {0:?}")]
    BadAddress(String),
    /// Connecting failed.
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// The connection broke (read or write error, peer closed) before the answer came.
    #[error("connection to {addr} closed: {reason}")]
    ConnectionClosed { addr: String, reason: String },
    /// No answer within the timeout.
    #[error("no answer from {addr} within {timeout_ms} ms")]
    Timeout { addr: String, timeout_ms: u64 },
    /// Too many requests already wait for answers on this connection.
    #[error("too many requests in flight to {addr} (limit {max})")]
    TooManyRequests { addr: String, max: usize },
    /// The peer sent bytes that are not a valid frame, or a request could not be encoded.
    #[error("codec error with {addr}: {source}")]
    Codec { addr: String, source: CodecError },
    /// A reply lacks a header field we need or carries a bad value.
    #[error("bad reply header from {addr}: {source}")]
    BadHeader { addr: String, source: HeaderError },
    /// A reply's body is missing or not what the code promises.
    #[error("bad reply body from {addr}: {reason}")]
    BadBody { addr: String, reason: String },
    /// The peer answered with an error code.
    #[error("{addr} answered code {code}: {remark}")]
    Broker {
        addr: String,
        code: i32,
        remark: String,
    },
    /// No NameServer address is configured.
    #[error("no NameServer address configured")]
    NoNameServer,
    /// The NameServer knows no route for the topic (or the route has no usable queue).
    #[error("no route for topic {0:?}")]
    NoRoute(String),
    /// The route names a broker with no master address.
    #[error("no master address for broker {0:?}")]
    NoBrokerAddress(String),
    /// The caller's message or arguments are invalid (checked before anything is sent).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The client was shut down.
    #[error("client is shut down")]
    Shutdown,
}

impl ClientError {
    /// Whether a failed send may be retried on another broker: transport failures and the
    /// response codes upstream's producer retries (protocol.md §2.18).
    pub fn is_retriable_for_send(&self) -> bool {
        use rmq_protocol::codes::response_code as rc;
        match self {
            ClientError::Connect { .. }
            | ClientError::ConnectionClosed { .. }
            | ClientError::Timeout { .. }
            | ClientError::TooManyRequests { .. }
            | ClientError::NoBrokerAddress(_) => true,
            ClientError::Broker { code, .. } => matches!(
                *code,
                rc::TOPIC_NOT_EXIST
                    | rc::SERVICE_NOT_AVAILABLE
                    | rc::SYSTEM_ERROR
                    | rc::SYSTEM_BUSY
                    | rc::NO_PERMISSION
                    | rc::NO_BUYER_ID
                    | rc::NOT_IN_CURRENT_UNIT
                    | rc::GO_AWAY
            ),
            _ => false,
        }
    }

    /// Whether this is a transport-level failure (the request may not have reached the peer).
    pub const fn is_transport(&self) -> bool {
        matches!(
            self,
            ClientError::Connect { .. }
                | ClientError::ConnectionClosed { .. }
                | ClientError::Timeout { .. }
                | ClientError::TooManyRequests { .. }
        )
    }
}

/// Short alias used across the crate.
pub type ClientResult<T> = Result<T, ClientError>;

/// `reply` from `addr` as the error it is: its code and remark.
pub fn broker_error(addr: &str, reply: &RemotingCommand) -> ClientError {
    ClientError::Broker {
        addr: addr.to_string(),
        code: reply.code,
        remark: reply.remark.clone().unwrap_or_default(),
    }
}

/// `reply` when its code is SUCCESS, otherwise the broker's error.
pub fn expect_success(addr: &str, reply: RemotingCommand) -> ClientResult<RemotingCommand> {
    if reply.code == rmq_protocol::codes::response_code::SUCCESS {
        Ok(reply)
    } else {
        Err(broker_error(addr, &reply))
    }
}

/// The typed header of `reply` from `addr`; a missing or bad field is `BadHeader`.
pub fn reply_header<H: CommandHeader>(addr: &str, reply: &RemotingCommand) -> ClientResult<H> {
    reply
        .decode_header()
        .map_err(|source| ClientError::BadHeader {
            addr: addr.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::codes::response_code as rc;

    fn broker(code: i32) -> ClientError {
        ClientError::Broker {
            addr: "a".into(),
            code,
            remark: String::new(),
        }
    }

    #[test]
    fn retriable_codes_are_upstream_s() {
        for code in [
            rc::TOPIC_NOT_EXIST,
            rc::SERVICE_NOT_AVAILABLE,
            rc::SYSTEM_ERROR,
            rc::SYSTEM_BUSY,
            rc::NO_PERMISSION,
            rc::GO_AWAY,
        ] {
            assert!(broker(code).is_retriable_for_send(), "{code}");
        }
        for code in [
            rc::MESSAGE_ILLEGAL,
            rc::INVALID_PARAMETER,
            rc::FLUSH_DISK_TIMEOUT,
        ] {
            assert!(!broker(code).is_retriable_for_send(), "{code}");
        }
        assert!(ClientError::Timeout {
            addr: "a".into(),
            timeout_ms: 1
        }
        .is_retriable_for_send());
        assert!(!ClientError::InvalidArgument("x".into()).is_retriable_for_send());
    }
}
