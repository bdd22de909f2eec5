//! The fast path of JSON header decoding: a hand-written parser for the headers real clients
//! send on the hot path (standard JSON, string extFields values, integer header fields).
//!
//! Why: the serde path ([`super::json`]) costs about 15% of the broker's CPU per SEND (a
//! visitor per value, a binary-search insert per extFields entry). This parser reads the
//! common shape in one pass, writes keys and values straight into the extFields arena and
//! sorts the entries once at the end.
//!
//! Contract: [`try_decode`] returns either exactly what [`super::json::decode_header`] returns
//! for the same bytes, or `None` — for anything outside the common shape (numbers or nested
//! values in extFields, non-integer header fields, escaped keys, surrogate escapes, raw
//! control characters, syntax errors...) and the caller falls back to the serde path, which
//! owns every lenient and error case. So the fast path can only be *incomplete*, never
//! different; `tests::agrees_with_the_serde_path` and the fuzz target check that.

use std::ops::Range;

use super::{ExtFields, LanguageCode, RemotingCommand};
use crate::limits::EXT_FIELDS_COUNT_MAX;

/// Decode `bytes` if it has the common shape; `None` sends the caller to the serde path.
pub(super) fn try_decode(bytes: &[u8]) -> Option<RemotingCommand> {
    // Valid UTF-8 up front: afterwards every run between ASCII delimiters is a `str` slice.
    let text = std::str::from_utf8(bytes).ok()?;
    let mut p = Parser { text, at: 0 };
    let cmd = p.header()?;
    p.skip_whitespace();
    (p.at == text.len()).then_some(cmd)
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// JSON whitespace, as serde_json skips it.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Whether the next token is `word` (consumed if so).
    fn eat_word(&mut self, word: &str) -> bool {
        let hit = self.text.as_bytes()[self.at..].starts_with(word.as_bytes());
        if hit {
            self.at += word.len();
        }
        hit
    }

    /// The top-level object.
    fn header(&mut self) -> Option<RemotingCommand> {
        let mut cmd = RemotingCommand::default();
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(cmd);
        }
        loop {
            self.skip_whitespace();
            let key = self.plain_string()?;
            self.expect(b':')?;
            self.skip_whitespace();
            match key {
                "code" => cmd.code = self.int()?,
                "version" => cmd.version = self.int()?,
                "opaque" => cmd.opaque = self.int()?,
                "flag" => cmd.flag = self.int()?,
                "language" => {
                    cmd.language = if self.eat_word("null") {
                        LanguageCode::Java
                    } else {
                        LanguageCode::from_name(self.plain_string()?)
                    };
                }
                "remark" => {
                    cmd.remark = if self.eat_word("null") {
                        None
                    } else {
                        let mut remark = String::new();
                        self.string_into(&mut remark)?;
                        Some(remark)
                    };
                }
                "extFields" => {
                    // `null` leaves whatever an earlier `extFields` key set, as the serde path.
                    if !self.eat_word("null") {
                        cmd.ext_fields = self.ext_fields()?;
                        cmd.has_ext_fields = true;
                    }
                }
                _ => self.skip_scalar()?,
            }
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(cmd);
                }
                _ => return None,
            }
        }
    }

    /// An `extFields` object of string (or null) values.
    fn ext_fields(&mut self) -> Option<ExtFields> {
        self.expect(b'{')?;
        // The header's length bounds the texts (escapes only shrink them).
        // No entry capacity: `commit_all` takes over the vector built below.
        let mut fields = ExtFields::with_capacities(0, self.text.len() - self.at);
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(fields);
        }
        let mut entries: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(16);
        loop {
            self.skip_whitespace();
            let mark = fields.arena().len();
            let key = self.string_into(fields.arena())?;
            self.expect(b':')?;
            self.skip_whitespace();
            if self.eat_word("null") {
                // fastjson's map fill skips null values.
                fields.truncate_arena(mark);
            } else {
                let value = self.string_into(fields.arena())?;
                if entries.len() == EXT_FIELDS_COUNT_MAX {
                    // Over the limit unless duplicates: the serde path decides.
                    return None;
                }
                entries.push((key, value));
            }
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        fields.commit_all(entries);
        Some(fields)
    }

    /// A string without escapes (keys, language names), borrowed from the input.
    fn plain_string(&mut self) -> Option<&'a str> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.at + 1;
        let bytes = self.text.as_bytes();
        let mut i = start;
        loop {
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => return None,
                b if b < 0x20 => return None,
                _ => i += 1,
            }
        }
        self.at = i + 1;
        Some(&self.text[start..i])
    }

    /// A string literal, unescaped and appended to `out`; returns where it is in `out`.
    fn string_into(&mut self, out: &mut String) -> Option<Range<usize>> {
        if self.peek()? != b'"' {
            return None;
        }
        let begin = out.len();
        let bytes = self.text.as_bytes();
        let mut i = self.at + 1;
        let mut run = i;
        loop {
            match *bytes.get(i)? {
                b'"' => {
                    out.push_str(&self.text[run..i]);
                    self.at = i + 1;
                    return Some(begin..out.len());
                }
                b'\\' => {
                    out.push_str(&self.text[run..i]);
                    let (unescaped, escape_len) = match *bytes.get(i + 1)? {
                        b'"' => ('"', 2),
                        b'\\' => ('\\', 2),
                        b'/' => ('/', 2),
                        b'b' => ('\u{8}', 2),
                        b'f' => ('\u{c}', 2),
                        b'n' => ('\n', 2),
                        b'r' => ('\r', 2),
                        b't' => ('\t', 2),
                        b'u' => {
                            let hex = self.text.get(i + 2..i + 6)?;
                            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                                return None;
                            }
                            // Surrogates (pairs or lone) are the serde path's business.
                            (char::from_u32(u32::from_str_radix(hex, 16).ok()?)?, 6)
                        }
                        _ => return None,
                    };
                    out.push(unescaped);
                    i += escape_len;
                    run = i;
                }
                b if b < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    /// A JSON integer that fits an `i32` (no fraction, exponent or leading zero).
    fn int(&mut self) -> Option<i32> {
        let bytes = self.text.as_bytes();
        let start = self.at;
        let mut i = start;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let digits_start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let digits = i - digits_start;
        if digits == 0 || digits > 10 || (digits > 1 && bytes[digits_start] == b'0') {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = bytes.get(i) {
            return None;
        }
        let value = self.text[start..i].parse().ok()?;
        self.at = i;
        Some(value)
    }

    /// The value of a key the header does not use: a string, an integer, `true`, `false` or
    /// `null`. Anything else (floats, objects, arrays) goes to the serde path.
    fn skip_scalar(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                // Usually plain (`"serializeTypeCurrentRPC":"JSON"` in every header): checked
                // in place; only an escaped one is unescaped, into a throwaway string.
                if self.plain_string().is_some() {
                    return Some(());
                }
                let mut scratch = String::new();
                self.string_into(&mut scratch).map(|_| ())
            }
            b'-' | b'0'..=b'9' => {
                // Wider than i32 is fine for an ignored value, but keep to what `int` reads.
                self.int().map(|_| ())
            }
            _ => (self.eat_word("true") || self.eat_word("false") || self.eat_word("null"))
                .then_some(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::json;
    use super::*;
    use proptest::prelude::*;

    /// The fast path agrees with the serde path whenever it answers.
    fn check(s: &str) -> Option<RemotingCommand> {
        let fast = try_decode(s.as_bytes());
        if let Some(fast) = &fast {
            let slow = json::decode_header_slow(s.as_bytes())
                .unwrap_or_else(|e| panic!("fast path accepted {s:?}, serde path: {e}"));
            assert_eq!(fast, &slow, "fast and serde paths differ on {s:?}");
            assert_eq!(fast.has_ext_fields, slow.has_ext_fields, "{s:?}");
        }
        fast
    }

    #[test]
    fn reads_a_java_send_header() {
        let s = r#"{"code":310,"extFields":{"a":"PG","b":"TopicTest","c":"TBW102","d":"4","e":"1","f":"0","g":"1700000000000","h":"0","i":"KEYS\u0001k1\u0002TAGS\u0001TagA\u0002","j":"0","k":"false","m":"false","n":"broker-a"},"flag":0,"language":"JAVA","opaque":17,"serializeTypeCurrentRPC":"JSON","version":479}"#;
        let cmd = check(s).expect("the common shape takes the fast path");
        assert_eq!((cmd.code, cmd.opaque, cmd.version), (310, 17, 479));
        assert_eq!(
            cmd.ext_fields.get("i"),
            Some("KEYS\u{1}k1\u{2}TAGS\u{1}TagA\u{2}")
        );
        assert_eq!(cmd.ext_fields.len(), 13);
    }

    #[test]
    fn common_variants_take_the_fast_path() {
        for s in [
            "{}",
            " { \"code\" : 1 , \"extFields\" : { } } \n",
            r#"{"code":-5,"extFields":{"k":"v","k":"w","z":null},"remark":"a\"b\\c\/\n\u00e9"}"#,
            r#"{"code":1,"language":null,"remark":null,"extFields":null,"x":"y","t":true,"n":7}"#,
            r#"{"code":1,"extFields":{"b":"1"},"extFields":null}"#,
            r#"{"code":1,"language":"CPP","flag":2,"version":0,"opaque":2147483647}"#,
            "{\"code\":1,\"extFields\":{\"é\":\"ü\"}}",
        ] {
            assert!(check(s).is_some(), "{s:?} should take the fast path");
        }
    }

    #[test]
    fn uncommon_shapes_fall_back() {
        for s in [
            r#"{"code":"34"}"#,
            r#"{"code":1.0}"#,
            r#"{"code":01}"#,
            r#"{"code":2147483648}"#,
            r#"{"code":1,"extFields":{"n":4}}"#,
            r#"{"code":1,"extFields":{"o":{"a":1}}}"#,
            r#"{"code":1,"language":13}"#,
            r#"{"co\u0064e":1}"#,
            r#"{"code":1,"remark":"\ud83d\ude00"}"#,
            "{\"code\":1,\"remark\":\"a\tb\"}",
            r#"{"code":1,"x":[1]}"#,
            r#"{"code":1,}"#,
            r#"{"code":1} x"#,
            "",
            "[]",
        ] {
            assert!(check(s).is_none(), "{s:?} should fall back");
        }
    }

    /// Pieces that real and hostile headers are made of.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{".to_owned()),
            Just("}".to_owned()),
            Just(",".to_owned()),
            Just(":".to_owned()),
            Just(" ".to_owned()),
            Just("\"code\"".to_owned()),
            Just("\"opaque\"".to_owned()),
            Just("\"language\"".to_owned()),
            Just("\"remark\"".to_owned()),
            Just("\"extFields\"".to_owned()),
            Just("\"JAVA\"".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("-0".to_owned()),
            Just("\"\\u0001\\n\\\"\"".to_owned()),
            Just("\"\\ud800\"".to_owned()),
            "-?[0-9]{1,11}".prop_map(|s| s),
            "\"[a-zA-Z0-9 é]{0,6}\"".prop_map(|s| s),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn agrees_with_the_serde_path(pieces in proptest::collection::vec(piece(), 0..40)) {
            check(&pieces.concat());
        }

        #[test]
        fn agrees_on_well_formed_headers(
            code in any::<i32>(),
            fields in proptest::collection::vec(("[a-z]{1,3}", "\\PC{0,8}"), 0..12),
        ) {
            let mut s = format!("{{\"code\":{code},\"extFields\":{{");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 { s.push(','); }
                s.push_str(&serde_json::to_string(k).unwrap());
                s.push(':');
                s.push_str(&serde_json::to_string(v).unwrap());
            }
            s.push_str("},\"language\":\"JAVA\"}");
            let cmd = check(&s);
            prop_assert!(cmd.is_some(), "{} should take the fast path", s);
        }
    }
}
