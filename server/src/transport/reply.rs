//! Replies whose body is a list of store buffers, sent without copying them (zero-copy pulls).
//!
//! A [`Reply`] is a command plus body parts ([`LogBytes`]: shared in-memory slices of the
//! CommitLog tail, or glommio DMA read buffers of cold segments). The transport writes the
//! encoded preamble and header followed by the parts with one vectored `sendmsg`
//! (see [`super::writev`]), so the record bytes go from the store's buffers to the socket
//! without passing through an intermediate user-space buffer.
//!
//! Crossing shards: DMA buffers are tied to the executor that read them (not `Send`), so a
//! reply forwarded over the mesh becomes a [`SendableReply`]: shared slices travel as they are
//! (a `Bytes` is a reference count, not a copy), and runs of DMA parts are copied once, on the
//! owner shard, into one buffer each. A pull answered on the shard that owns the queue never
//! copies.
//!
//! Invariants: when `parts` is not empty, `cmd.body` is `None` (the parts are the body);
//! [`Reply::into_command`] turns parts back into a contiguous body for callers that need one.

use bytes::{Bytes, BytesMut};
use rmq_engine::LogBytes;
use rmq_protocol::RemotingCommand;

/// A command and the body parts sent after its header (local to one shard).
#[derive(Debug, Clone)]
pub struct Reply {
    /// The command; its `body` is `None` when `parts` is not empty.
    pub cmd: RemotingCommand,
    /// Body parts, sent in order after the header.
    pub parts: Vec<LogBytes>,
}

impl Reply {
    /// A reply whose body parts are `parts` (`cmd.body` is dropped in favour of them when
    /// `parts` is not empty).
    pub fn with_parts(mut cmd: RemotingCommand, parts: Vec<LogBytes>) -> Self {
        if !parts.is_empty() {
            cmd.body = None;
        }
        Reply { cmd, parts }
    }

    /// Bytes of the body (the command's own body or the parts).
    pub fn body_len(&self) -> usize {
        if self.parts.is_empty() {
            self.cmd.body.as_ref().map_or(0, Bytes::len)
        } else {
            self.parts.iter().map(|p| p.len()).sum()
        }
    }

    /// The command with the parts concatenated into its body (one copy; for callers that
    /// inspect the body, never on the pull path).
    pub fn into_command(self) -> RemotingCommand {
        let Reply { mut cmd, parts } = self;
        if !parts.is_empty() {
            cmd.body = Some(concat(&parts));
        }
        cmd
    }

    /// The form that can cross shards: shared parts as they are, each run of adjacent DMA
    /// parts copied once into its own buffer.
    pub fn into_sendable(self) -> SendableReply {
        let Reply { cmd, parts } = self;
        let mut out: Vec<Bytes> = Vec::with_capacity(parts.len());
        let mut dma_run: Vec<LogBytes> = Vec::new();
        for part in parts {
            match part {
                LogBytes::Shared(b) => {
                    if !dma_run.is_empty() {
                        out.push(concat(&dma_run));
                        dma_run.clear();
                    }
                    out.push(b);
                }
                dma @ LogBytes::Dma(_) => dma_run.push(dma),
            }
        }
        if !dma_run.is_empty() {
            out.push(concat(&dma_run));
        }
        SendableReply { cmd, parts: out }
    }
}

impl From<RemotingCommand> for Reply {
    fn from(cmd: RemotingCommand) -> Self {
        Reply {
            cmd,
            parts: Vec::new(),
        }
    }
}

/// A [`Reply`] that can travel between shards (every part is a shared buffer).
#[derive(Debug, Clone)]
pub struct SendableReply {
    /// The command.
    pub cmd: RemotingCommand,
    /// Body parts.
    pub parts: Vec<Bytes>,
}

impl From<SendableReply> for Reply {
    fn from(r: SendableReply) -> Self {
        Reply {
            cmd: r.cmd,
            parts: r.parts.into_iter().map(LogBytes::Shared).collect(),
        }
    }
}

/// The parts, concatenated into one new buffer.
fn concat(parts: &[LogBytes]) -> Bytes {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut body = BytesMut::with_capacity(total);
    for p in parts {
        body.extend_from_slice(p);
    }
    body.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::ExtFields;

    fn shared(s: &'static [u8]) -> LogBytes {
        LogBytes::Shared(Bytes::from_static(s))
    }

    #[test]
    fn parts_replace_the_command_body_and_concatenate_on_demand() {
        let cmd = RemotingCommand::new_request(11, ExtFields::new()).with_body(&b"old"[..]);
        let reply = Reply::with_parts(cmd, vec![shared(b"ab"), shared(b"cde")]);
        assert!(reply.cmd.body.is_none());
        assert_eq!(reply.body_len(), 5);
        assert_eq!(reply.into_command().body.as_deref(), Some(&b"abcde"[..]));
    }

    #[test]
    fn a_reply_without_parts_keeps_its_body() {
        let cmd = RemotingCommand::new_request(11, ExtFields::new()).with_body(&b"xyz"[..]);
        let reply = Reply::with_parts(cmd, Vec::new());
        assert_eq!(reply.body_len(), 3);
        assert_eq!(reply.into_command().body.as_deref(), Some(&b"xyz"[..]));
    }

    #[test]
    fn shared_parts_cross_shards_without_copying() {
        let buf = Bytes::from_static(b"0123456789");
        let reply = Reply::with_parts(
            RemotingCommand::default(),
            vec![
                LogBytes::Shared(buf.slice(0..4)),
                LogBytes::Shared(buf.slice(4..10)),
            ],
        );
        let sendable = reply.into_sendable();
        assert_eq!(sendable.parts.len(), 2);
        // Same memory as the source buffer: no copy was made.
        assert_eq!(sendable.parts[0].as_ptr(), buf.as_ptr());
        let back = Reply::from(sendable);
        assert_eq!(
            back.into_command().body.as_deref(),
            Some(&b"0123456789"[..])
        );
    }
}
