//! The JSON (fastjson) remoting header: lenient decoding, Java-identical encoding.
//!
//! Decoding accepts what Java's fastjson accepts from real clients (real-clients.md):
//! - `serializeTypeCurrentRPC` missing (ali-ons, C++), `extFields` missing or `null` (Go);
//! - extFields values that are numbers, booleans, or nested JSON (ali-ons, C++): stringified,
//!   as fastjson does when it fills a `HashMap<String,String>`; `null` values are dropped;
//! - integer header fields given as strings, floats or booleans (fastjson `castToInt`);
//! - `language` as a name or an ordinal, unknown names tolerated;
//! - whitespace, including the trailing `"\n"` the C++ client puts inside the header length;
//! - unknown keys (ignored).
//!
//! Encoding writes compact JSON with sorted field names and nulls omitted, exactly as
//! `JSON.toJSONString(cmd)` does.

use std::fmt::{self, Write as _};
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{ExtFields, LanguageCode, RemotingCommand};
use crate::error::{CodecError, CodecResult};
use crate::json_text::{write_i64, write_string};
use crate::limits::EXT_FIELDS_COUNT_MAX;

/// Decode a JSON header (without the frame preamble) into a command with no body.
///
/// The common shape takes a hand-written fast path (the private `json_fast` module), which
/// gives the same result; everything else (lenient cases, errors) goes through serde.
pub fn decode_header(bytes: &[u8]) -> CodecResult<RemotingCommand> {
    if let Some(cmd) = super::json_fast::try_decode(bytes) {
        return Ok(cmd);
    }
    decode_header_slow(bytes)
}

/// [`decode_header`] without the fast path: the reference the fast path is checked against.
pub fn decode_header_slow(bytes: &[u8]) -> CodecResult<RemotingCommand> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let cmd = HeaderSeed {
        header_len: bytes.len(),
    }
    .deserialize(&mut de)
    .and_then(|cmd| de.end().map(|()| cmd))
    .map_err(|e| CodecError::InvalidJsonHeader(e.to_string()))?;
    Ok(cmd)
}

/// Append the JSON header of `cmd` (without preamble or body).
pub fn encode_header(cmd: &RemotingCommand, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"code\":");
    write_i64(out, i64::from(cmd.code));
    if cmd.has_ext_fields || !cmd.ext_fields.is_empty() {
        out.extend_from_slice(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(out, k, false);
            out.push(b':');
            write_string(out, v, false);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"flag\":");
    write_i64(out, i64::from(cmd.flag));
    out.extend_from_slice(b",\"language\":\"");
    out.extend_from_slice(cmd.language.name().as_bytes());
    out.extend_from_slice(b"\",\"opaque\":");
    write_i64(out, i64::from(cmd.opaque));
    if let Some(remark) = &cmd.remark {
        out.extend_from_slice(b",\"remark\":");
        write_string(out, remark, false);
    }
    out.extend_from_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    write_i64(out, i64::from(cmd.version));
    out.push(b'}');
}

struct HeaderSeed {
    header_len: usize,
}

impl<'de> DeserializeSeed<'de> for HeaderSeed {
    type Value = RemotingCommand;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(HeaderVisitor {
            header_len: self.header_len,
        })
    }
}

struct HeaderVisitor {
    /// Bytes of the whole header: the extFields arena never needs more (see
    /// [`ExtFieldsSeed`]), and sizing it once saves regrowing it.
    header_len: usize,
}

impl<'de> Visitor<'de> for HeaderVisitor {
    type Value = RemotingCommand;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a remoting command header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut cmd = RemotingCommand::default();
        while let Some(key) = map.next_key::<HeaderKey>()? {
            match key {
                HeaderKey::Code => cmd.code = map.next_value::<LenientI32>()?.0,
                HeaderKey::Version => cmd.version = map.next_value::<LenientI32>()?.0,
                HeaderKey::Opaque => cmd.opaque = map.next_value::<LenientI32>()?.0,
                HeaderKey::Flag => cmd.flag = map.next_value::<LenientI32>()?.0,
                HeaderKey::Language => cmd.language = map.next_value::<LenientLanguage>()?.0,
                HeaderKey::Remark => cmd.remark = map.next_value::<LenientString>()?.0,
                HeaderKey::ExtFields => {
                    let seed = ExtFieldsSeed {
                        text_capacity: self.header_len,
                    };
                    if let Some(fields) = map.next_value_seed(seed)? {
                        cmd.ext_fields = fields;
                        cmd.has_ext_fields = true;
                    }
                }
                HeaderKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(cmd)
    }
}

/// A key of the header object. Matched without allocating (serde's `Cow<str>` always owns).
enum HeaderKey {
    Code,
    Version,
    Opaque,
    Flag,
    Language,
    Remark,
    ExtFields,
    Other,
}

impl<'de> de::Deserialize<'de> for HeaderKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = HeaderKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a header field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HeaderKey, E> {
                Ok(match v {
                    "code" => HeaderKey::Code,
                    "version" => HeaderKey::Version,
                    "opaque" => HeaderKey::Opaque,
                    "flag" => HeaderKey::Flag,
                    "language" => HeaderKey::Language,
                    "remark" => HeaderKey::Remark,
                    "extFields" => HeaderKey::ExtFields,
                    _ => HeaderKey::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// An int header field as fastjson's `castToInt` accepts it: a number (floats truncated), a
/// numeric string, a boolean (1/0), or null (0).
struct LenientI32(i32);

impl<'de> de::Deserialize<'de> for LenientI32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientI32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an int32")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientI32, E> {
                i32::try_from(v)
                    .map(LenientI32)
                    .map_err(|_| E::custom(format!("{v} is out of int32 range")))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientI32, E> {
                i32::try_from(v)
                    .map(LenientI32)
                    .map_err(|_| E::custom(format!("{v} is out of int32 range")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientI32, E> {
                if v.is_finite() && v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX) {
                    Ok(LenientI32(v.trunc() as i32))
                } else {
                    Err(E::custom(format!("{v} is out of int32 range")))
                }
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientI32, E> {
                Ok(LenientI32(i32::from(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientI32, E> {
                let t = v.trim();
                if t.is_empty() {
                    return Ok(LenientI32(0));
                }
                t.parse()
                    .map(LenientI32)
                    .map_err(|_| E::custom(format!("{v:?} is not an int32")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientI32, E> {
                Ok(LenientI32(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// `language`: the enum name, or its ordinal; unknown values become `OTHER`.
struct LenientLanguage(LanguageCode);

impl<'de> de::Deserialize<'de> for LenientLanguage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientLanguage;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a language name or ordinal")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::from_name(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(
                    u8::try_from(v).map_or(LanguageCode::Other, LanguageCode::from_code),
                ))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(
                    u8::try_from(v).map_or(LanguageCode::Other, LanguageCode::from_code),
                ))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::Other))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::Other))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientLanguage, E> {
                Ok(LenientLanguage(LanguageCode::Java))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field that fastjson would fill from any scalar; `null` means absent.
struct LenientString(Option<String>);

impl<'de> de::Deserialize<'de> for LenientString {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarToString).map(LenientString)
    }
}

/// Turns any JSON value into the string fastjson would store in a `String` slot: strings as
/// they are, numbers and booleans as their JSON text, objects and arrays as compact JSON, and
/// `null` as absent.
struct ScalarToString;

impl<'de> Visitor<'de> for ScalarToString {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(
            serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string()),
        ))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(if v { "true" } else { "false" }.to_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(value.to_string()))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let value: serde_json::Value =
            de::Deserialize::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Some(value.to_string()))
    }
}

/// `extFields`: an object whose values are stringified, or `null` (absent). Keys and values
/// are written straight into the map's arena: no string per field.
struct ExtFieldsSeed {
    /// Arena bytes to reserve: the header's length bounds the texts in all but odd cases
    /// (floats printed longer than written), where the arena simply grows.
    text_capacity: usize,
}

impl<'de> DeserializeSeed<'de> for ExtFieldsSeed {
    type Value = Option<ExtFields>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V {
            text_capacity: usize,
        }
        impl<'de> Visitor<'de> for V {
            type Value = Option<ExtFields>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an extFields object or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = ExtFields::with_capacities(
                    map.size_hint().unwrap_or(16).min(EXT_FIELDS_COUNT_MAX),
                    self.text_capacity,
                );
                loop {
                    let mark = fields.arena().len();
                    let Some(key) = map.next_key_seed(ArenaText(fields.arena()))? else {
                        break;
                    };
                    match map.next_value_seed(ArenaValue(fields.arena()))? {
                        Some(value) => {
                            fields.commit(key, value);
                            if fields.len() > EXT_FIELDS_COUNT_MAX {
                                return Err(de::Error::custom(format!(
                                    "more than {EXT_FIELDS_COUNT_MAX} extFields entries"
                                )));
                            }
                        }
                        // `null`: no entry, as fastjson's map fill skips it.
                        None => fields.truncate_arena(mark),
                    }
                }
                Ok(Some(fields))
            }
        }
        d.deserialize_any(V {
            text_capacity: self.text_capacity,
        })
    }
}

/// An extFields key, appended to the arena; yields its range.
struct ArenaText<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for ArenaText<'_> {
    type Value = Range<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for ArenaText<'_> {
    type Value = Range<usize>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(push(self.0, v))
    }
}

fn push(arena: &mut String, v: &str) -> Range<usize> {
    let start = arena.len();
    arena.push_str(v);
    start..arena.len()
}

/// An extFields value, stringified as fastjson does ([`ScalarToString`]) into the arena;
/// `None` for `null`.
struct ArenaValue<'a>(&'a mut String);

impl<'de> DeserializeSeed<'de> for ArenaValue<'_> {
    type Value = Option<Range<usize>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ArenaValue<'_> {
    type Value = Option<Range<usize>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(push(self.0, v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let start = self.0.len();
        // Writing into a String cannot fail.
        let _ = write!(self.0, "{v}");
        Ok(Some(start..self.0.len()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let start = self.0.len();
        let _ = write!(self.0, "{v}");
        Ok(Some(start..self.0.len()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let text = ScalarToString.visit_f64::<E>(v)?.unwrap_or_default();
        Ok(Some(push(self.0, &text)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(push(self.0, if v { "true" } else { "false" })))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let text = ScalarToString.visit_map(map)?.unwrap_or_default();
        Ok(Some(push(self.0, &text)))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let text = ScalarToString.visit_seq(seq)?.unwrap_or_default();
        Ok(Some(push(self.0, &text)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> RemotingCommand {
        decode_header(s.as_bytes()).unwrap()
    }

    #[test]
    fn java_producer_header() {
        let cmd = decode(
            r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k1\u0002TAGS\u0001TagA\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":479}"#,
        );
        assert_eq!(
            (cmd.code, cmd.opaque, cmd.version, cmd.flag),
            (310, 17, 479, 0)
        );
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.ext_fields.get("b"), Some("TopicTest"));
        assert_eq!(
            cmd.ext_fields.get("i"),
            Some("KEYS\u{1}k1\u{2}TAGS\u{1}TagA\u{2}")
        );
        assert!(cmd.has_ext_fields);
    }

    #[test]
    fn quirks_of_cpp_and_ali_ons_are_accepted() {
        // C++ 1.x: numbers and "0"/"1" booleans in extFields, signing fields, no
        // serializeTypeCurrentRPC, trailing newline inside the header.
        let cmd = decode(
            "{\"code\":10,\"extFields\":{\"AccessKey\":\"\",\"OnsChannel\":\"ALIYUN\",\"Signature\":\"x\",\"defaultTopicQueueNums\":4,\"flag\":0,\"queueId\":0,\"sysFlag\":0,\"unitMode\":\"0\",\"batch\":\"0\",\"rate\":1.5,\"ok\":true,\"nothing\":null},\"flag\":0,\"language\":\"CPP\",\"opaque\":3,\"remark\":\"\",\"version\":63}\n",
        );
        assert_eq!(cmd.language, LanguageCode::Cpp);
        assert_eq!(cmd.ext_fields.get("defaultTopicQueueNums"), Some("4"));
        assert_eq!(cmd.ext_fields.get("unitMode"), Some("0"));
        assert_eq!(cmd.ext_fields.get("rate"), Some("1.5"));
        assert_eq!(cmd.ext_fields.get("ok"), Some("true"));
        assert_eq!(cmd.ext_fields.get("nothing"), None);
        assert_eq!(cmd.ext_fields.get("AccessKey"), Some(""));
        assert_eq!(cmd.remark.as_deref(), Some(""));
        // Go: no extFields at all; language the Go client cannot name; code as a string.
        let go = decode(r#"{"code":"34","flag":0,"language":"GO","opaque":1,"version":317}"#);
        assert_eq!(go.code, 34);
        assert!(!go.has_ext_fields && go.ext_fields.is_empty());
        // Ordinal language, null extFields, unknown keys, nested values.
        let odd =
            decode(r#"{"code":1.0,"language":13,"extFields":null,"x":[1,{"y":2}],"remark":null}"#);
        assert_eq!(
            (odd.code, odd.language, odd.remark),
            (1, LanguageCode::NodeJs, None)
        );
        let nested = decode(r#"{"code":1,"extFields":{"o":{"b":1,"a":[true]}}}"#);
        assert_eq!(nested.ext_fields.get("o"), Some(r#"{"a":[true],"b":1}"#));
    }

    #[test]
    fn rejects_what_fastjson_rejects() {
        for bad in [
            "",
            "[]",
            "{\"code\":}",
            "{\"code\":99999999999}",
            "{\"code\":\"ten\"}",
            "{\"code\":1} trailing",
            "{\"extFields\":[1]}",
        ] {
            assert!(
                decode_header(bad.as_bytes()).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn encodes_like_fastjson() {
        let mut cmd = RemotingCommand::response_to(&RemotingCommand::default(), 0, None);
        cmd.opaque = 17;
        cmd.set_ext("queueId", "1").set_ext("msgId", "7F0000010000");
        let mut out = Vec::new();
        encode_header(&cmd, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"code":0,"extFields":{"msgId":"7F0000010000","queueId":"1"},"flag":1,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":409}"#
        );
        let mut bare = RemotingCommand {
            code: 3,
            remark: Some(" request type 9999 not supported".into()),
            ..Default::default()
        };
        bare.flag = 1;
        let mut out = Vec::new();
        encode_header(&bare, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"code":3,"flag":1,"language":"JAVA","opaque":0,"remark":" request type 9999 not supported","serializeTypeCurrentRPC":"JSON","version":0}"#
        );
    }

    #[test]
    fn too_many_ext_fields_is_an_error() {
        use std::fmt::Write as _;
        let mut s = String::from("{\"code\":1,\"extFields\":{");
        for i in 0..=EXT_FIELDS_COUNT_MAX {
            if i > 0 {
                s.push(',');
            }
            write!(s, "\"k{i}\":\"v\"").unwrap();
        }
        s.push_str("}}");
        assert!(decode_header(s.as_bytes()).is_err());
    }
}
