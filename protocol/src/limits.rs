//! Named limits on everything a peer can make us allocate.
//!
//! Every length read from the wire is compared with one of these *before* a buffer is reserved.
//! Names put the unit and qualifier last so related limits sort together (see
//! `../shared/docs/style-anchors.md`, practice 4).

/// Largest whole frame, the 4-byte length prefix included. Java's `NettyDecoder` uses
/// `LengthFieldBasedFrameDecoder(16777216, 0, 4, 0, 4)`, whose frame length counts the prefix,
/// so the largest length *field* it accepts is `FRAME_SIZE_BYTES_MAX - 4`.
pub const FRAME_SIZE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Bytes of the length prefix at the start of every frame.
pub const FRAME_LENGTH_PREFIX_BYTES: usize = 4;

/// Bytes of the fixed frame preamble: the length prefix and the (serialize type, header length)
/// word.
pub const FRAME_PREAMBLE_BYTES: usize = 8;

/// Smallest legal value of the length field: it must at least hold the header-length word.
pub const FRAME_LENGTH_FIELD_MIN: usize = 4;

/// Largest header (JSON or binary). Java has no separate cap below the frame limit; real headers
/// are under 2 KiB, but a SEND header may carry a properties string of up to 32 KiB that JSON
/// escaping can grow six-fold (`\u0001`), so 1 MiB leaves room for every legal header.
pub const HEADER_SIZE_BYTES_MAX: usize = 1024 * 1024;

/// Largest body: whatever the frame limit leaves after the preamble.
pub const BODY_SIZE_BYTES_MAX: usize = FRAME_SIZE_BYTES_MAX - FRAME_PREAMBLE_BYTES;

/// Most extFields entries accepted in one header. Real requests carry at most about 20.
pub const EXT_FIELDS_COUNT_MAX: usize = 1024;

/// Largest message properties string (its length is an int16 in the stored record).
pub const PROPERTIES_SIZE_BYTES_MAX: usize = i16::MAX as usize;

/// Largest message body the broker stores by default (`maxMessageSize`, 4 MiB).
pub const MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX: usize = 4 * 1024 * 1024;

/// Largest topic name (v2 stored records use an int16 topic length; Java's
/// `TopicValidator` caps names at 127 for 4.x and `Short.MAX_VALUE` for 5.x).
pub const TOPIC_NAME_BYTES_MAX: usize = i16::MAX as usize;

/// Most messages in one SEND_BATCH_MESSAGE body. The smallest inner record is 22 bytes, so a
/// frame cannot hold more than this anyway; the constant makes the bound explicit.
pub const BATCH_MESSAGES_COUNT_MAX: usize = FRAME_SIZE_BYTES_MAX / 22;

const _: () = assert!(HEADER_SIZE_BYTES_MAX < FRAME_SIZE_BYTES_MAX);
const _: () = assert!(FRAME_PREAMBLE_BYTES == FRAME_LENGTH_PREFIX_BYTES + FRAME_LENGTH_FIELD_MIN);
const _: () = assert!(MESSAGE_BODY_SIZE_BYTES_DEFAULT_MAX < BODY_SIZE_BYTES_MAX);
