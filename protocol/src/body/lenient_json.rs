//! A small, total parser for the JSON dialect fastjson writes and accepts, producing a
//! [`serde_json::Value`].
//!
//! Accepted beyond standard JSON (each seen from a real peer or written by Java itself):
//! - unquoted integer map keys, `{0:"10.0.0.1:10911",1:"..."}` (fastjson's default for
//!   `Map<Long,_>`, `Map<Integer,_>`): the key becomes its text, `"0"`;
//! - object (or array) map keys, `{{"brokerName":"b","queueId":0,"topic":"T"}:{...}}`
//!   (fastjson's default for `Map<MessageQueue,_>`): the key becomes the key's compact JSON text
//!   with object members sorted by name, so the caller can parse it again;
//! - unquoted identifier keys `{a:1}` (fastjson `AllowUnQuotedFieldNames`, on by default);
//! - single-quoted strings `'x'` and the escapes `\'`, `\v` and `\xHH` (fastjson
//!   `AllowSingleQuotes`, on by default);
//! - raw control characters inside strings (fastjson keeps them);
//! - leading zeros in numbers, and whitespace including `\f` and `\b` anywhere between tokens,
//!   in particular the trailing `"\n"` the C++ client appends to its bodies.
//!
//! Lone UTF-16 surrogates written as `\uD800` cannot live in a Rust `String`; they become
//! U+FFFD, as Java's UTF-8 encoder would write them.
//!
//! # Invariants
//! - Total: every input gives `Ok` or `Err`, never a panic; recursion is bounded by
//!   [`JSON_NESTING_DEPTH_MAX`], input size by [`JSON_BODY_SIZE_BYTES_MAX`].
//! - Memory: the parser charges an estimate of every allocation it makes (map nodes, array
//!   slots, string bytes) against a budget of [`JSON_PARSE_MEMORY_BYTES_PER_INPUT_BYTE_MAX`]
//!   bytes per input byte plus [`JSON_PARSE_MEMORY_BASE_BYTES`], and fails once it is spent.
//!   `serde_json`'s B-tree maps cost about 640 bytes per (up to 11-entry) object, so without
//!   the budget `[{0:0},{0:0},...]` would grow a 16 MiB body more than a hundredfold.
//! - Invalid UTF-8 is rejected up front (Java would silently substitute U+FFFD; a body that
//!   is not UTF-8 is never one a real client sent).

use serde_json::{Map, Number, Value};

use crate::error::{CodecError, CodecResult};
use crate::json_text::write_string;
use crate::limits::BODY_SIZE_BYTES_MAX;

/// Deepest nesting of objects and arrays (object keys count as one more level). Real bodies
/// nest at most 6 deep (heartbeat: body, consumer set, consumer, subscription set,
/// subscription, tag set).
pub const JSON_NESTING_DEPTH_MAX: usize = 64;

/// Largest JSON body accepted: whatever fits in a frame.
pub const JSON_BODY_SIZE_BYTES_MAX: usize = BODY_SIZE_BYTES_MAX;

/// Estimated bytes the parsed value may occupy per byte of input. Real bodies need at most
/// about 35 (a consumer-offset table of one-queue `%RETRY%` topics is the densest in small
/// maps); hostile runs of tiny objects need over 100 and are refused.
pub const JSON_PARSE_MEMORY_BYTES_PER_INPUT_BYTE_MAX: usize = 48;

/// Budget every parse gets regardless of input size, so small bodies never hit the limit.
pub const JSON_PARSE_MEMORY_BASE_BYTES: usize = 64 * 1024;

/// What one leaf of `serde_json`'s B-tree map costs: 11 key slots, 11 value slots, parent
/// link and lengths. Charged for an object's first member and every 11th after it.
const MAP_NODE_BYTES_ESTIMATE: usize =
    11 * (std::mem::size_of::<String>() + std::mem::size_of::<Value>()) + 16;

/// Members per B-tree leaf (`serde_json` uses `std::collections::BTreeMap`, B = 6).
const MAP_NODE_CAPACITY: usize = 11;

/// Array slots are charged twice their size: `Vec` growth doubles capacity.
const ARRAY_SLOT_BYTES_ESTIMATE: usize = 2 * std::mem::size_of::<Value>();

/// Parse one JSON body in fastjson's dialect. Surrounding whitespace is allowed; anything
/// else after the value is an error (fastjson: "not close json text").
pub fn parse(input: &[u8]) -> CodecResult<Value> {
    if input.len() > JSON_BODY_SIZE_BYTES_MAX {
        return Err(error(format!(
            "{} bytes exceed the limit of {JSON_BODY_SIZE_BYTES_MAX}",
            input.len()
        )));
    }
    let text = std::str::from_utf8(input)
        .map_err(|e| error(format!("invalid UTF-8 at byte {}", e.valid_up_to())))?;
    let budget = input
        .len()
        .checked_mul(JSON_PARSE_MEMORY_BYTES_PER_INPUT_BYTE_MAX)
        .and_then(|b| b.checked_add(JSON_PARSE_MEMORY_BASE_BYTES))
        .unwrap_or(usize::MAX);
    let mut parser = Parser {
        text,
        bytes: input,
        pos: 0,
        depth: 0,
        budget_left: budget,
    };
    parser.skip_whitespace();
    if parser.pos == parser.bytes.len() {
        return Err(error("empty input".to_owned()));
    }
    let value = parser.value()?;
    parser.skip_whitespace();
    if parser.pos != parser.bytes.len() {
        return Err(parser.error_here("unexpected text after the value"));
    }
    Ok(value)
}

/// Append `value` as compact JSON with object members sorted by name: the text this parser
/// gives an object used as a map key. Sorted explicitly so the text does not depend on
/// whether `serde_json` was built with `preserve_order`.
pub fn write_compact_sorted(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_string(out, s, false),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_compact_sorted(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, k, false);
                out.push(b':');
                write_compact_sorted(v, out);
            }
            out.push(b'}');
        }
    }
}

fn error(reason: String) -> CodecError {
    CodecError::InvalidBody {
        what: "JSON body",
        reason,
    }
}

struct Parser<'a> {
    /// The whole input, already checked to be UTF-8.
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
    budget_left: usize,
}

impl Parser<'_> {
    fn error_here(&self, what: &str) -> CodecError {
        error(format!("{what} at byte {}", self.pos))
    }

    fn charge(&mut self, bytes: usize) -> CodecResult<()> {
        match self.budget_left.checked_sub(bytes) {
            Some(left) => {
                self.budget_left = left;
                Ok(())
            }
            None => Err(self.error_here("parsed value exceeds the memory budget")),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0C | 0x08) = self.peek() {
            self.pos += 1;
        }
    }

    fn enter(&mut self) -> CodecResult<()> {
        if self.depth >= JSON_NESTING_DEPTH_MAX {
            return Err(self.error_here(&format!("nesting deeper than {JSON_NESTING_DEPTH_MAX}")));
        }
        self.depth += 1;
        Ok(())
    }

    fn value(&mut self) -> CodecResult<Value> {
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(q @ (b'"' | b'\'')) => {
                let s = self.string(q)?;
                Ok(Value::String(s))
            }
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(_) => Err(self.error_here("unexpected character")),
            None => Err(self.error_here("unexpected end of input")),
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> CodecResult<Value> {
        if self.bytes[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error_here("invalid literal"))
        }
    }

    fn object(&mut self) -> CodecResult<Value> {
        self.enter()?;
        self.pos += 1; // '{'
        let mut map = Map::new();
        let mut members = 0usize;
        self.skip_whitespace();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_whitespace();
            let key = self.key()?;
            self.skip_whitespace();
            if self.peek() != Some(b':') {
                return Err(self.error_here("expected ':' after an object key"));
            }
            self.pos += 1;
            self.skip_whitespace();
            let value = self.value()?;
            if members % MAP_NODE_CAPACITY == 0 {
                self.charge(MAP_NODE_BYTES_ESTIMATE)?;
            }
            members += 1;
            // Duplicate keys: the last one wins, as in fastjson's HashMap.put.
            map.insert(key, value);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Object(map));
                }
                Some(_) => return Err(self.error_here("expected ',' or '}' in an object")),
                None => return Err(self.error_here("unterminated object")),
            }
        }
    }

    /// An object key: a string, an integer or identifier written bare, or a whole JSON value
    /// (fastjson's object-as-key maps), returned as its compact text.
    fn key(&mut self) -> CodecResult<String> {
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => self.string(q),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                let text = self.text[start..self.pos].to_owned();
                self.charge(text.len())?;
                Ok(text)
            }
            Some(b'{' | b'[') => {
                let key_value = self.value()?;
                let mut text = Vec::new();
                write_compact_sorted(&key_value, &mut text);
                self.charge(text.len())?;
                // Written from a `Value` whose strings are valid UTF-8 by construction.
                String::from_utf8(text).map_err(|_| self.error_here("invalid object key"))
            }
            Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b'$' => {
                let start = self.pos;
                while let Some(b) = self.peek() {
                    if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                let text = self.text[start..self.pos].to_owned();
                self.charge(text.len())?;
                Ok(text)
            }
            Some(_) => Err(self.error_here("expected an object key")),
            None => Err(self.error_here("unterminated object")),
        }
    }

    fn array(&mut self) -> CodecResult<Value> {
        self.enter()?;
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_whitespace();
            let item = self.value()?;
            self.charge(ARRAY_SLOT_BYTES_ESTIMATE)?;
            items.push(item);
            self.skip_whitespace();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(Value::Array(items));
                }
                Some(_) => return Err(self.error_here("expected ',' or ']' in an array")),
                None => return Err(self.error_here("unterminated array")),
            }
        }
    }

    /// A number: `-?digits(.digits)?([eE][+-]?digits)?`, leading zeros allowed. Integers
    /// become `i64` or `u64` when they fit and `f64` otherwise; a value outside `f64`'s range
    /// is an error (JSON cannot carry infinity).
    fn number(&mut self) -> CodecResult<Number> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.skip_digits();
        if digits == 0 {
            return Err(self.error_here("expected a digit"));
        }
        let mut is_integer = true;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.skip_digits() == 0 {
                return Err(self.error_here("expected a digit after '.'"));
            }
            is_integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.skip_digits() == 0 {
                return Err(self.error_here("expected a digit in the exponent"));
            }
            is_integer = false;
        }
        let text = &self.text[start..self.pos];
        if is_integer {
            if let Ok(v) = text.parse::<i64>() {
                return Ok(Number::from(v));
            }
            if let Ok(v) = text.parse::<u64>() {
                return Ok(Number::from(v));
            }
        }
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| error(format!("number {text:.40} is out of range at byte {start}")))
    }

    fn skip_digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    /// A string quoted with `quote` (`"` or `'`), positioned on the opening quote.
    fn string(&mut self, quote: u8) -> CodecResult<String> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes before the closing quote.
        while let Some(b) = self.peek() {
            if b == quote {
                let s = self.text[start..self.pos].to_owned();
                self.pos += 1;
                self.charge(s.len())?;
                return Ok(s);
            }
            if b == b'\\' {
                break;
            }
            self.pos += 1;
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            // Copy the run up to the next quote or backslash in one go.
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == quote || b == b'\\' {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                None => return Err(self.error_here("unterminated string")),
                Some(b) if b == quote => {
                    self.pos += 1;
                    self.charge(out.len())?;
                    return Ok(out);
                }
                Some(_) => self.escape(&mut out)?,
            }
        }
    }

    /// One escape sequence, positioned on the backslash.
    fn escape(&mut self, out: &mut String) -> CodecResult<()> {
        let Some(&code) = self.bytes.get(self.pos + 1) else {
            return Err(self.error_here("unterminated escape"));
        };
        self.pos += 2;
        let c = match code {
            b'"' => '"',
            b'\'' => '\'',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'v' => '\u{b}',
            b'x' => {
                let v = self.hex_digits(2)?;
                char::from(v as u8)
            }
            b'u' => {
                let unit = self.hex_digits(4)?;
                self.utf16_unit(unit)?
            }
            _ => {
                self.pos -= 1;
                return Err(self.error_here("invalid escape"));
            }
        };
        out.push(c);
        Ok(())
    }

    /// Finish a `\uXXXX` escape: pair a high surrogate with a following `\uDC00`-`\uDFFF`.
    fn utf16_unit(&mut self, unit: u32) -> CodecResult<char> {
        if (0xD800..0xDC00).contains(&unit) {
            let rest = &self.bytes[self.pos..];
            if rest.len() >= 6 && rest[0] == b'\\' && rest[1] == b'u' {
                let save = self.pos;
                self.pos += 2;
                let low = self.hex_digits(4)?;
                if (0xDC00..0xE000).contains(&low) {
                    let combined = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    return Ok(char::from_u32(combined).unwrap_or('\u{FFFD}'));
                }
                // Not a low surrogate: leave it to be decoded on its own.
                self.pos = save;
            }
            return Ok('\u{FFFD}');
        }
        Ok(char::from_u32(unit).unwrap_or('\u{FFFD}'))
    }

    fn hex_digits(&mut self, count: usize) -> CodecResult<u32> {
        let mut v = 0u32;
        for _ in 0..count {
            let Some(b) = self.peek() else {
                return Err(self.error_here("unterminated escape"));
            };
            let digit = char::from(b)
                .to_digit(16)
                .ok_or_else(|| self.error_here("invalid hex digit in an escape"))?;
            v = v * 16 + digit;
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fmt::Write as _;

    fn ok(s: &str) -> Value {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn standard_json() {
        assert_eq!(
            ok(
                r#"{"a":[1,-2,3.5,1e3,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"],"b":{}}"#
            ),
            json!({"a":[1,-2,3.5,1000.0,true,false,null,"x\"\\/\u{8}\u{c}\n\r\té\u{1F600}"],"b":{}})
        );
        assert_eq!(ok(" [ ] "), json!([]));
        assert_eq!(ok("\"s\"\n"), json!("s"));
        assert_eq!(ok("18446744073709551615"), json!(u64::MAX));
        assert_eq!(ok("-9223372036854775808"), json!(i64::MIN));
    }

    #[test]
    fn fastjson_dialect() {
        assert_eq!(
            ok(r#"{0:"10.0.0.1:10911",1:"10.0.0.2:10911"}"#),
            json!({"0":"10.0.0.1:10911","1":"10.0.0.2:10911"})
        );
        assert_eq!(
            ok(r#"{{"topic":"T","brokerName":"b","queueId":0}:{"brokerOffset":1}}"#),
            json!({r#"{"brokerName":"b","queueId":0,"topic":"T"}"#: {"brokerOffset":1}})
        );
        assert_eq!(
            ok("{'a':'it\\'s',b_1:\"\\x41\\v\",-1:2}"),
            json!({"a":"it's","b_1":"A\u{b}","-1":2})
        );
        assert_eq!(ok("{\"raw\":\"a\u{1}\tb\"}\n"), json!({"raw":"a\u{1}\tb"}));
        assert_eq!(ok("{\"a\":1,\"a\":2}"), json!({"a":2}));
        assert_eq!(ok("007"), json!(7));
        assert_eq!(ok("\"\\uD800x\""), json!("\u{FFFD}x"));
        assert_eq!(ok("\"\\uD800\\u0041\""), json!("\u{FFFD}A"));
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            "",
            "  ",
            "{",
            "[",
            "[1,",
            "{\"a\"",
            "{\"a\":",
            "{\"a\":1",
            "{\"a\" 1}",
            "[1 2]",
            "\"abc",
            "'abc",
            "\"\\",
            "\"\\u12\"",
            "\"\\q\"",
            "tru",
            "nul",
            "-",
            "1.",
            "1e",
            "1e999",
            "-1e999",
            "{} x",
            "[]]",
            "{,}",
            "[,]",
            "{\"a\":1,}",
            "+1",
            "{:1}",
            "@",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad:?} should be rejected");
        }
        assert!(parse(b"{\"a\":\"\xff\"}").is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let ok_depth = "[".repeat(JSON_NESTING_DEPTH_MAX) + &"]".repeat(JSON_NESTING_DEPTH_MAX);
        assert!(parse(ok_depth.as_bytes()).is_ok());
        let too_deep =
            "[".repeat(JSON_NESTING_DEPTH_MAX + 1) + &"]".repeat(JSON_NESTING_DEPTH_MAX + 1);
        assert!(parse(too_deep.as_bytes()).is_err());
        // Object keys nest too.
        let mut key_nest = String::new();
        for _ in 0..=JSON_NESTING_DEPTH_MAX {
            key_nest.push('{');
        }
        assert!(parse(key_nest.as_bytes()).is_err());
        // Unclosed deep input fails on depth or end, never overflows the stack.
        assert!(parse("[".repeat(1_000_000).as_bytes()).is_err());
    }

    #[test]
    fn memory_budget_refuses_runs_of_tiny_objects() {
        let count = 200_000;
        let mut hostile = String::from("[");
        for i in 0..count {
            if i > 0 {
                hostile.push(',');
            }
            hostile.push_str("{0:0}");
        }
        hostile.push(']');
        let err = parse(hostile.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("memory budget"), "{err}");
    }

    #[test]
    fn memory_budget_admits_dense_real_bodies() {
        // consumerOffset.json with many one-queue retry topics: the densest real shape.
        let mut offsets = String::from("{\"offsetTable\":{");
        for i in 0..50_000 {
            if i > 0 {
                offsets.push(',');
            }
            write!(offsets, "\"%RETRY%G{i}@G{i}\":{{0:0}}").unwrap();
        }
        offsets.push_str("}}");
        let v = ok(&offsets);
        assert_eq!(v["offsetTable"].as_object().unwrap().len(), 50_000);
    }

    #[test]
    fn compact_sorted_text() {
        let mut out = Vec::new();
        write_compact_sorted(&json!({"b":[1,"x"],"a":{"d":null,"c":false}}), &mut out);
        assert_eq!(out, br#"{"a":{"c":false,"d":null},"b":[1,"x"]}"#);
    }
}
