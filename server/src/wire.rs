//! The Java remarks the server sends verbatim (clients and tools match on some of them), next
//! to the request and response codes of `rmq_protocol::codes`.

pub use rmq_protocol::codes::{request_code, response_code};

/// Remark of SYSTEM_BUSY when a limit (in-flight, memory budget, shard inbox) is hit; the same
/// text as Java's thread-pool overload answer.
pub const SYSTEM_BUSY_OVERLOAD_REMARK: &str =
    "[OVERLOAD]system busy, start flow control for a while";

/// Remark of REQUEST_CODE_NOT_SUPPORTED, exactly as Java builds it.
pub fn request_code_not_supported_remark(code: i32) -> String {
    format!(" request type {code} not supported")
}
