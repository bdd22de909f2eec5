//! A writer that produces JSON byte-for-byte as fastjson 1.x does for `RocketMQ`'s bodies.
//!
//! The caller drives it like a serializer: `begin_bean`/`field`/`end_bean` for Java objects
//! (the caller gives fields sorted by name and skips nulls, as fastjson's default `SortField`
//! and null-skipping do), `begin_map`/`key*`/`end_map` for `Map`s, `begin_list` or
//! `begin_set` with `element` for collections, and the scalar methods for values.
//!
//! Styles ([`JsonStyle`]):
//! - compact fastjson (the wire default): no whitespace, non-String map keys unquoted
//!   (`{0:"a"}`, `{{"brokerName":..}:{..}}`);
//! - standard (`BrowserCompatible` + `QuoteFieldNames`, the route reply for newer clients):
//!   non-String keys quoted (`{"0":"a"}`), non-ASCII escaped as `\uXXXX`;
//! - pretty (`prettyFormat=true`, the config files): tab indentation with fastjson's exact
//!   quirks, which differ by container:
//!   - a bean breaks the line after `{`, before every field and before `}`;
//!   - a map breaks the line before each *String* key and before `}` (only if non-empty), but
//!     not before non-String keys, so `consumerOffset.json` holds `"T@G":{0:12,1:9\n\t\t}`;
//!   - a `List` (`ListSerializer`) breaks before each element and before `]` (`[]` if empty);
//!   - a `Set` (`CollectionCodec`) never breaks lines.
//!
//! Strings are escaped by [`crate::json_text`]; doubles are written as fastjson's `RyuDouble`
//! writes them (Java `Double.toString` layout with shortest digits: `0.0`, `1.5`, `1.0E7`).
//!
//! # Invariants
//! Every `begin_*` is closed by its `end_*` in order; a map key is followed by exactly one
//! value; `element` comes before each collection item. These are programmer errors, checked
//! with `debug_assert!` (the writer never sees untrusted input, only our own values).

use serde_json::Value;

use crate::json_text::{write_i64, write_string};

/// How a body is laid out; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStyle {
    /// fastjson `PrettyFormat`: tab indentation, one field per line.
    pub pretty: bool,
    /// Write non-String map keys as JSON strings (`{"0":..}`) instead of bare (`{0:..}`).
    pub quote_non_string_keys: bool,
    /// Escape every non-ASCII character as `\uXXXX` (fastjson `BrowserCompatible`).
    pub ascii_only: bool,
}

impl JsonStyle {
    /// `JSON.toJSONString(obj)`: what every `RocketMQ` body on the wire uses by default.
    pub const FASTJSON: JsonStyle = JsonStyle {
        pretty: false,
        quote_non_string_keys: false,
        ascii_only: false,
    };
    /// `JSON.toJSONString(obj, true)`: the config files under `store/config/`.
    pub const FASTJSON_PRETTY: JsonStyle = JsonStyle {
        pretty: true,
        quote_non_string_keys: false,
        ascii_only: false,
    };
    /// `BrowserCompatible, QuoteFieldNames, SkipTransientField, MapSortField`: the route reply
    /// for clients at version >= 4.9.4 or asking for `acceptStandardJsonOnly`. Map keys come
    /// sorted because every map this crate writes is a `BTreeMap`.
    pub const STANDARD: JsonStyle = JsonStyle {
        pretty: false,
        quote_non_string_keys: true,
        ascii_only: true,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Bean,
    Map,
    List,
    Set,
}

#[derive(Debug)]
struct Frame {
    container: Container,
    entries: usize,
}

/// Builds one JSON document in a `Vec<u8>`.
#[derive(Debug)]
pub struct JsonWriter {
    out: Vec<u8>,
    style: JsonStyle,
    indent: usize,
    frames: Vec<Frame>,
}

impl JsonWriter {
    /// An empty writer in `style`.
    pub fn new(style: JsonStyle) -> Self {
        JsonWriter {
            out: Vec::with_capacity(256),
            style,
            indent: 0,
            frames: Vec::with_capacity(8),
        }
    }

    /// The style this writer was made with.
    pub fn style(&self) -> JsonStyle {
        self.style
    }

    /// The finished document.
    pub fn into_bytes(self) -> Vec<u8> {
        debug_assert!(self.frames.is_empty(), "unclosed JSON container");
        self.out
    }

    fn newline(&mut self) {
        self.out.push(b'\n');
        self.out.resize(self.out.len() + self.indent, b'\t');
    }

    fn push_frame(&mut self, container: Container) {
        self.frames.push(Frame {
            container,
            entries: 0,
        });
    }

    fn pop_frame(&mut self, container: Container) -> usize {
        let frame = self.frames.pop();
        debug_assert!(
            frame.as_ref().is_some_and(|f| f.container == container),
            "mismatched end of {container:?}"
        );
        frame.map_or(0, |f| f.entries)
    }

    /// Count one more entry in the innermost container; returns the count before it.
    fn next_entry(&mut self, container: Container) -> usize {
        let Some(frame) = self.frames.last_mut() else {
            debug_assert!(false, "entry outside any container");
            return 0;
        };
        debug_assert_eq!(frame.container, container, "entry in the wrong container");
        frame.entries += 1;
        frame.entries - 1
    }

    /// Open a Java object (`JavaBeanSerializer`).
    pub fn begin_bean(&mut self) {
        self.out.push(b'{');
        self.push_frame(Container::Bean);
        if self.style.pretty {
            self.indent += 1;
            self.newline();
        }
    }

    /// Start a bean field; the next call writes its value.
    pub fn field(&mut self, name: &str) {
        if self.next_entry(Container::Bean) > 0 {
            self.out.push(b',');
            if self.style.pretty {
                self.newline();
            }
        }
        write_string(&mut self.out, name, self.style.ascii_only);
        self.out.push(b':');
    }

    /// Close a Java object.
    pub fn end_bean(&mut self) {
        self.pop_frame(Container::Bean);
        if self.style.pretty {
            self.indent = self.indent.saturating_sub(1);
            self.newline();
        }
        self.out.push(b'}');
    }

    /// Open a `Map` (`MapSerializer`).
    pub fn begin_map(&mut self) {
        self.out.push(b'{');
        self.push_frame(Container::Map);
        self.indent += 1;
    }

    /// A `String` map key; the next call writes its value.
    pub fn key(&mut self, key: &str) {
        if self.next_entry(Container::Map) > 0 {
            self.out.push(b',');
        }
        if self.style.pretty {
            self.newline();
        }
        write_string(&mut self.out, key, self.style.ascii_only);
        self.out.push(b':');
    }

    /// An integer (`Long`/`Integer`) map key: bare in fastjson style, quoted in standard style.
    pub fn int_key(&mut self, key: i64) {
        if self.next_entry(Container::Map) > 0 {
            self.out.push(b',');
        }
        if self.style.quote_non_string_keys {
            self.out.push(b'"');
            write_i64(&mut self.out, key);
            self.out.push(b'"');
        } else {
            write_i64(&mut self.out, key);
        }
        self.out.push(b':');
    }

    /// An object map key (e.g. a `MessageQueue`), written by `write_key`. fastjson style
    /// writes the object itself as the key; standard style writes its compact fastjson text as
    /// a string (`JSON.toJSONString(key)`, then quoted).
    pub fn object_key(&mut self, write_key: impl FnOnce(&mut JsonWriter)) {
        if self.next_entry(Container::Map) > 0 {
            self.out.push(b',');
        }
        if self.style.quote_non_string_keys {
            let mut inner = JsonWriter::new(JsonStyle::FASTJSON);
            write_key(&mut inner);
            let text = inner.into_bytes();
            // The inner writer only emits UTF-8 (strings come from `&str`).
            let text = String::from_utf8_lossy(&text);
            write_string(&mut self.out, &text, self.style.ascii_only);
        } else {
            write_key(self);
        }
        self.out.push(b':');
    }

    /// Close a map.
    pub fn end_map(&mut self) {
        let entries = self.pop_frame(Container::Map);
        self.indent = self.indent.saturating_sub(1);
        if self.style.pretty && entries > 0 {
            self.newline();
        }
        self.out.push(b'}');
    }

    /// Open a `List` (`ListSerializer`: pretty output puts each element on its own line).
    pub fn begin_list(&mut self) {
        self.out.push(b'[');
        self.push_frame(Container::List);
        self.indent += 1;
    }

    /// Open a `Set` or other non-List collection (`CollectionCodec`: never pretty-printed).
    pub fn begin_set(&mut self) {
        self.out.push(b'[');
        self.push_frame(Container::Set);
    }

    /// Start the next collection element; the next call writes it.
    pub fn element(&mut self) {
        let Some(frame) = self.frames.last_mut() else {
            debug_assert!(false, "element outside any collection");
            return;
        };
        debug_assert!(
            matches!(frame.container, Container::List | Container::Set),
            "element outside a collection"
        );
        let is_list = frame.container == Container::List;
        frame.entries += 1;
        if frame.entries > 1 {
            self.out.push(b',');
        }
        if is_list && self.style.pretty {
            self.newline();
        }
    }

    /// Close a list or set.
    pub fn end_collection(&mut self) {
        let Some(frame) = self.frames.pop() else {
            debug_assert!(false, "end_collection without a collection");
            return;
        };
        debug_assert!(matches!(frame.container, Container::List | Container::Set));
        if frame.container == Container::List {
            self.indent = self.indent.saturating_sub(1);
            if self.style.pretty && frame.entries > 0 {
                self.newline();
            }
        }
        self.out.push(b']');
    }

    /// A string value.
    pub fn string(&mut self, s: &str) {
        write_string(&mut self.out, s, self.style.ascii_only);
    }

    /// An integer value (`int`, `long`, `AtomicLong`).
    pub fn int(&mut self, v: i64) {
        write_i64(&mut self.out, v);
    }

    /// A boolean value.
    pub fn bool(&mut self, v: bool) {
        self.out
            .extend_from_slice(if v { b"true" as &[u8] } else { b"false" });
    }

    /// A `double` value as fastjson writes it (NaN and infinities as `null`).
    pub fn double(&mut self, v: f64) {
        write_java_double(&mut self.out, v);
    }

    /// `null`.
    pub fn null(&mut self) {
        self.out.extend_from_slice(b"null");
    }

    /// A whole [`Value`]: objects as `String`-keyed maps, arrays as lists.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.null(),
            Value::Bool(b) => self.bool(*b),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    self.int(i);
                } else if let Some(u) = n.as_u64() {
                    self.out.extend_from_slice(u.to_string().as_bytes());
                } else {
                    self.double(n.as_f64().unwrap_or(f64::NAN));
                }
            }
            Value::String(s) => self.string(s),
            Value::Array(items) => {
                self.begin_list();
                for item in items {
                    self.element();
                    self.value(item);
                }
                self.end_collection();
            }
            Value::Object(map) => {
                let mut members: Vec<(&String, &Value)> = map.iter().collect();
                members.sort_by(|a, b| a.0.cmp(b.0));
                self.begin_map();
                for (k, item) in members {
                    self.key(k);
                    self.value(item);
                }
                self.end_map();
            }
        }
    }
}

/// Append `v` as fastjson's `SerializeWriter.writeDouble` does: the shortest digits that
/// round-trip (Ryu), laid out like Java's `Double.toString` — plain decimal with at least one
/// fraction digit for 1e-3 <= |v| < 1e7, otherwise `d.dddE[-]n`; NaN and infinities as `null`.
pub fn write_java_double(out: &mut Vec<u8>, v: f64) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if v.is_sign_negative() {
        out.push(b'-');
    }
    if v == 0.0 {
        out.extend_from_slice(b"0.0");
        return;
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-5", "1e7".
    let mut scientific = format!("{:e}", v.abs());
    let (mut digits, exponent) = split_scientific(&scientific);
    if digits.len() == 1 && !(-3..7).contains(&exponent) {
        // Java (and RyuDouble) print at least two significant digits in scientific form.
        // For normal doubles the second is 0; subnormals such as 4.9E-324 (shortest "5e-324")
        // need the correctly rounded two-digit value.
        scientific = format!("{:.1e}", v.abs());
        digits = split_scientific(&scientific).0;
    }
    let Some((&first, rest)) = digits.split_first() else {
        out.extend_from_slice(b"0.0");
        return;
    };
    if !(-3..7).contains(&exponent) {
        out.push(first);
        out.push(b'.');
        if rest.is_empty() {
            out.push(b'0');
        } else {
            out.extend_from_slice(rest);
        }
        out.push(b'E');
        write_i64(out, i64::from(exponent));
    } else if exponent < 0 {
        out.extend_from_slice(b"0.");
        for _ in 0..(-exponent - 1) {
            out.push(b'0');
        }
        out.extend_from_slice(&digits);
    } else {
        let integer_digits = exponent as usize + 1;
        if digits.len() <= integer_digits {
            out.extend_from_slice(&digits);
            out.resize(out.len() + integer_digits - digits.len(), b'0');
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..integer_digits]);
            out.push(b'.');
            out.extend_from_slice(&digits[integer_digits..]);
        }
    }
}

/// Digits (without the dot) and exponent of Rust's `{:e}` text, e.g. `"1.25e-3"`.
fn split_scientific(text: &str) -> (Vec<u8>, i32) {
    let (mantissa, exponent) = text.split_once('e').unwrap_or((text, "0"));
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(w: JsonWriter) -> String {
        String::from_utf8(w.into_bytes()).unwrap()
    }

    fn double(v: f64) -> String {
        let mut out = Vec::new();
        write_java_double(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn doubles_match_java() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (-2.25, "-2.25"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1_234_567.0, "1234567.0"),
            (9_999_999.0, "9999999.0"),
            (1e7, "1.0E7"),
            (12_345_678.9, "1.23456789E7"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.0 / 3.0, "0.3333333333333333"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (5e-324, "4.9E-324"),
            (f64::NAN, "null"),
            (f64::INFINITY, "null"),
        ];
        for (v, want) in cases {
            assert_eq!(double(v), want, "{v:e}");
        }
    }

    #[test]
    fn compact_bean_map_and_keys() {
        let mut w = JsonWriter::new(JsonStyle::FASTJSON);
        w.begin_bean();
        w.field("a");
        w.begin_map();
        w.int_key(0);
        w.string("x");
        w.int_key(1);
        w.string("y");
        w.end_map();
        w.field("b");
        w.begin_map();
        w.object_key(|w| {
            w.begin_bean();
            w.field("q");
            w.int(1);
            w.end_bean();
        });
        w.double(0.0);
        w.end_map();
        w.field("c");
        w.begin_list();
        w.end_collection();
        w.end_bean();
        assert_eq!(text(w), r#"{"a":{0:"x",1:"y"},"b":{{"q":1}:0.0},"c":[]}"#);
    }

    #[test]
    fn standard_style_quotes_keys_and_escapes() {
        let mut w = JsonWriter::new(JsonStyle::STANDARD);
        w.begin_map();
        w.int_key(0);
        w.string("é");
        w.object_key(|w| {
            w.begin_bean();
            w.field("q");
            w.string("T");
            w.end_bean();
        });
        w.int(1);
        w.end_map();
        assert_eq!(text(w), r#"{"0":"\u00E9","{\"q\":\"T\"}":1}"#);
    }

    #[test]
    fn pretty_follows_fastjson_per_container() {
        let mut w = JsonWriter::new(JsonStyle::FASTJSON_PRETTY);
        w.begin_bean();
        w.field("empty");
        w.begin_map();
        w.end_map();
        w.field("ints");
        w.begin_map();
        w.int_key(0);
        w.int(12);
        w.int_key(1);
        w.int(9);
        w.end_map();
        w.field("list");
        w.begin_list();
        w.element();
        w.string("a");
        w.element();
        w.string("b");
        w.end_collection();
        w.field("set");
        w.begin_set();
        w.element();
        w.int(1);
        w.element();
        w.int(2);
        w.end_collection();
        w.field("strs");
        w.begin_map();
        w.key("k");
        w.begin_bean();
        w.field("x");
        w.bool(true);
        w.end_bean();
        w.end_map();
        w.end_bean();
        assert_eq!(
            text(w),
            "{\n\t\"empty\":{},\n\t\"ints\":{0:12,1:9\n\t},\n\t\"list\":[\n\t\t\"a\",\n\t\t\"b\"\n\t],\n\t\"set\":[1,2],\n\t\"strs\":{\n\t\t\"k\":{\n\t\t\t\"x\":true\n\t\t}\n\t}\n}"
        );
    }

    #[test]
    fn generic_values() {
        let mut w = JsonWriter::new(JsonStyle::FASTJSON);
        w.value(&json!({"b":[1,2.5,null],"a":{"c":"d"},"u":u64::MAX}));
        assert_eq!(
            text(w),
            r#"{"a":{"c":"d"},"b":[1,2.5,null],"u":18446744073709551615}"#
        );
    }
}
