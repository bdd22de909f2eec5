//! Message codecs: everything about a message's bytes that is not the remoting frame.
//!
//! - [`record`]: the stored `CommitLog` record (v1/v2, IPv4/IPv6 hosts), encode, in-place patches
//!   and a zero-copy, total (never panicking) reader; also the concatenated records of a PULL
//!   or `QUERY_MESSAGE` body.
//! - [`properties`]: the `name\u{1}value\u{2}` properties string, parsed with Java's rules.
//! - [`keys`]: the standard property names (`MessageConst`).
//! - [`tag`]: the tag hash code stored in the `ConsumeQueue` (Java `String.hashCode`).
//! - [`sysflag`]: message and pull sysFlag bits.
//! - [`id`]: offset message ids and client unique ids (`UNIQ_KEY`).
//! - [`batch`]: the `SEND_BATCH_MESSAGE` body.
//!
//! Facts: `../shared/docs/protocol.md` §2.2, §5 and §6.1.

pub mod batch;
pub mod id;
pub mod keys;
pub mod properties;
pub mod record;
pub mod sysflag;
pub mod tag;
