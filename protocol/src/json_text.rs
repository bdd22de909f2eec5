//! Writing JSON text the way fastjson does: compact, strings escaped like
//! `SerializeWriter.writeStringWithDoubleQuote`.
//!
//! Shared by the remoting header encoder and the body encoders so every reply escapes the same
//! way. Parsing is never done here (see `command::json` and `body::lenient_json`).

/// Append `s` as a JSON string literal (with quotes).
///
/// Control characters below 0x20 other than the short escapes are written as `\u00XX`
/// (fastjson writes the message property separators 0x01 and 0x02 this way). With
/// `ascii_only` every non-ASCII character is written as `\uXXXX` (surrogate pairs for
/// characters outside the BMP), as fastjson's `BrowserCompatible` feature does.
pub fn write_string(out: &mut Vec<u8>, s: &str, ascii_only: bool) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most texts (ids, numbers, names) need no escape: one branch-free scan, one copy.
    let plain = if ascii_only {
        bytes
            .iter()
            .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
    } else {
        bytes.iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
    };
    if plain {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x08 => Some(b"\\b"),
            0x0C => Some(b"\\f"),
            _ => None,
        };
        if let Some(esc) = escape {
            out.extend_from_slice(&bytes[run_start..i]);
            out.extend_from_slice(esc);
            run_start = i + 1;
        } else if b < 0x20 {
            out.extend_from_slice(&bytes[run_start..i]);
            write_unicode_escape(out, u16::from(b));
            run_start = i + 1;
        } else if b >= 0x80 && ascii_only {
            // Handled per char below; flush the ASCII run first.
            out.extend_from_slice(&bytes[run_start..i]);
            run_start = i;
            break;
        }
    }
    if ascii_only && run_start < bytes.len() && !s[run_start..].is_ascii() {
        write_non_ascii_tail(out, &s[run_start..]);
    } else {
        out.extend_from_slice(&bytes[run_start..]);
    }
    out.push(b'"');
}

/// Slow path of [`write_string`] for `ascii_only` once a non-ASCII byte was seen.
fn write_non_ascii_tail(out: &mut Vec<u8>, s: &str) {
    let mut utf16 = [0u16; 2];
    for c in s.chars() {
        if c.is_ascii() {
            let mut tmp = [0u8; 4];
            let one: &str = c.encode_utf8(&mut tmp);
            // Reuse the ASCII escaping rules.
            let mut piece = Vec::with_capacity(8);
            write_string(&mut piece, one, false);
            out.extend_from_slice(&piece[1..piece.len() - 1]);
        } else {
            for unit in c.encode_utf16(&mut utf16) {
                write_unicode_escape(out, *unit);
            }
        }
    }
}

fn write_unicode_escape(out: &mut Vec<u8>, unit: u16) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.extend_from_slice(b"\\u");
    for shift in [12u16, 8, 4, 0] {
        out.push(HEX[usize::from((unit >> shift) & 0xF)]);
    }
}

/// Append a signed integer in decimal.
pub fn write_i64(out: &mut Vec<u8>, v: i64) {
    let mut buf = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(input: &str, ascii: bool) -> String {
        let mut out = Vec::new();
        write_string(&mut out, input, ascii);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_fastjson() {
        assert_eq!(s("KEYS\u{1}k1\u{2}", false), r#""KEYS\u0001k1\u0002""#);
        assert_eq!(
            s("a\"b\\c\nd\te\r\u{8}\u{c}", false),
            r#""a\"b\\c\nd\te\r\b\f""#
        );
        assert_eq!(s("héllo", false), "\"héllo\"");
        assert_eq!(s("héllo", true), r#""h\u00E9llo""#);
        assert_eq!(s("x\u{1F600}\u{1}", true), r#""x\uD83D\uDE00\u0001""#);
    }

    #[test]
    fn escaped_strings_parse_back() {
        for input in [
            "",
            "plain",
            "\u{0}\u{1f}\u{7f}é\u{1F600}\"\\/",
            "TAGS\u{1}TagA\u{2}",
        ] {
            for ascii in [false, true] {
                let text = s(input, ascii);
                let back: String = serde_json::from_str(&text).unwrap();
                assert_eq!(back, input);
            }
        }
    }

    #[test]
    fn integers() {
        for v in [0i64, 7, -7, 1_700_000_000_000, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }
}
