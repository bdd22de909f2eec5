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

use rmq_protocol::header::HeaderError;
use rmq_protocol::RemotingCommand;

/// A SUCCESS reply with an (empty) extFields map, as Java sends.
pub fn success(cmd: &RemotingCommand) -> RemotingCommand {
    let mut r = RemotingCommand::response_to(cmd, response_code::SUCCESS, None);
    r.has_ext_fields = true;
    r
}

/// An error reply with Java's remark.
pub fn error(cmd: &RemotingCommand, code: i32, remark: &str) -> RemotingCommand {
    RemotingCommand::response_to(cmd, code, Some(remark.to_string()))
}

/// A custom header that does not decode: SYSTEM_ERROR with the reason, in JSON (Java builds
/// this answer on its exception path, without the request's serialize type).
pub fn header_error(cmd: &RemotingCommand, e: &HeaderError) -> RemotingCommand {
    let mut r = error(cmd, response_code::SYSTEM_ERROR, &e.to_string());
    r.serialize_type = rmq_protocol::SerializeType::Json;
    r
}

/// SYSTEM_BUSY with Java's overload remark: a limit was hit or another shard did not answer.
pub fn system_busy(cmd: &RemotingCommand) -> RemotingCommand {
    error(cmd, response_code::SYSTEM_BUSY, SYSTEM_BUSY_OVERLOAD_REMARK)
}

/// REQUEST_CODE_NOT_SUPPORTED for `cmd`.
pub fn not_supported(cmd: &RemotingCommand) -> RemotingCommand {
    error(
        cmd,
        response_code::REQUEST_CODE_NOT_SUPPORTED,
        &request_code_not_supported_remark(cmd.code),
    )
}
