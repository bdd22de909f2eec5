//! Property tests for whole frames: any `RemotingCommand` encodes (JSON or binary header) into
//! a frame that `frame::check` accepts as exactly one complete frame and that decodes back to the
//! same command — also when the frame arrives split at any point in a stream.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rmq_protocol::frame::{self, FrameStatus};
use rmq_protocol::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// Strings that survive both header serializations: the binary header turns "" into absent
/// (as Java does), so generated strings are non-empty.
fn wire_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_%@#.:-]{1,24}",
        any::<String>().prop_filter("non-empty", |s| !s.is_empty()),
        // Message properties use \u0001 and \u0002 separators.
        "([A-Z_]{1,8}\u{1}[a-z0-9 ]{1,8}\u{2}){1,4}",
    ]
}

fn language() -> impl Strategy<Value = LanguageCode> {
    (0u8..14).prop_map(LanguageCode::from_code)
}

prop_compose! {
    fn command(serialize_type: SerializeType)(
        // Binary headers carry code and version as int16.
        code in if serialize_type == SerializeType::Json { any::<i32>().boxed() } else { any::<i16>().prop_map(i32::from).boxed() },
        version in any::<i16>().prop_map(i32::from),
        opaque in any::<i32>(),
        flag in 0i32..4,
        language in language(),
        remark in proptest::option::of(wire_string()),
        ext in proptest::collection::vec((wire_string(), wire_string()), 0..12),
        body in proptest::option::of(proptest::collection::vec(any::<u8>(), 1..2048)),
    ) -> RemotingCommand {
        let ext_fields: ExtFields = ext.into_iter().collect();
        RemotingCommand {
            code,
            language,
            version,
            opaque,
            flag,
            remark,
            has_ext_fields: !ext_fields.is_empty(),
            ext_fields,
            serialize_type,
            body: body.map(Bytes::from),
        }
    }
}

fn any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![
        command(SerializeType::Json),
        command(SerializeType::RocketMq)
    ]
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity(cmd in any_command()) {
        let bytes = cmd.encode_to_bytes().unwrap();
        let FrameStatus::Complete(h) = frame::check(&bytes).unwrap() else { panic!("incomplete") };
        prop_assert_eq!(h.frame_len, bytes.len());
        prop_assert_eq!(h.serialize_type, cmd.serialize_type);
        prop_assert_eq!(h.body_len(), cmd.body.as_ref().map_or(0, Bytes::len));
        prop_assert_eq!(RemotingCommand::decode(bytes).unwrap(), cmd);
    }

    #[test]
    fn frames_split_anywhere_in_a_stream_decode_in_order(
        cmds in proptest::collection::vec(any_command(), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut wire = BytesMut::new();
        for c in &cmds {
            c.encode(&mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cut_points.push(wire.len());
        cut_points.sort_unstable();
        let mut stream = BytesMut::new();
        let mut decoded = Vec::new();
        let mut from = 0;
        for to in cut_points {
            stream.extend_from_slice(&wire[from..to]);
            from = to;
            while let Some(c) = RemotingCommand::decode_from(&mut stream).unwrap() {
                decoded.push(c);
            }
        }
        prop_assert!(stream.is_empty());
        prop_assert_eq!(decoded, cmds);
    }

    #[test]
    fn header_only_encoding_plus_body_equals_full_encoding(cmd in any_command()) {
        let mut full = BytesMut::new();
        cmd.encode(&mut full).unwrap();
        let body = cmd.body.clone().unwrap_or_default();
        let mut split = BytesMut::new();
        cmd.encode_header(body.len(), &mut split).unwrap();
        split.extend_from_slice(&body);
        prop_assert_eq!(full, split);
    }
}
