//! The value types a custom header field can have, and their text forms on the wire.
//!
//! Reading follows Java's reflective header decoder (`RemotingCommand.decodeCommandCustomHeader`)
//! exactly where real clients can tell the difference:
//! - `Integer` / `Long`: `Integer.parseInt` / `Long.parseLong` — an optional `+` or `-`, then
//!   decimal digits, no spaces, range-checked. One divergence, on purpose: Java also accepts
//!   non-ASCII Unicode decimal digits (`Character.digit`); we accept ASCII digits only. No client
//!   writes other digits, and accepting them would need a Unicode table for nothing.
//! - `Boolean`: `Boolean.parseBoolean` — ASCII case-insensitive `"true"` is true and *anything
//!   else is false*, including `"1"` (the C++ clients send `"0"`/`"1"`; real-clients.md Q4) and
//!   `""`. It never fails. (Java's `equalsIgnoreCase` folds Unicode case, but no non-ASCII
//!   character folds to a letter of `true`, so ASCII folding gives the same answers.)
//! - `String`: as is; an empty string is a value (only the binary header drops empties, before
//!   we see them).
//! - `BoundaryType`: `BoundaryType.getType` — case-insensitive `"upper"` is `Upper`, anything
//!   else `Lower`.
//!
//! Writing is `value.toString()`, as `makeCustomHeaderToNet` does: decimal numbers,
//! `"true"`/`"false"`, enum names.

use super::HeaderError;

/// Most bytes of an offending value kept in [`HeaderError::Invalid`]: a valid number is at most
/// 20 characters, and the value is untrusted text that ends up in logs and remarks.
pub const INVALID_VALUE_ECHO_BYTES_MAX: usize = 64;

/// The Java type of a header field, as declared in its `*Header.java` class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// `String`.
    String,
    /// `Integer` / `int`: 32-bit signed decimal.
    Integer,
    /// `Long` / `long`: 64-bit signed decimal.
    Long,
    /// `Boolean` / `boolean`: `Boolean.parseBoolean`.
    Boolean,
    /// `org.apache.rocketmq.common.BoundaryType`.
    BoundaryType,
}

/// A Rust type that can be a header field's value.
pub trait HeaderValue: Sized {
    /// The Java type this maps.
    const VALUE_TYPE: ValueType;

    /// Parse the wire text of `field` as Java's header decoder does.
    fn parse(field: &'static str, text: &str) -> Result<Self, HeaderError>;

    /// The wire text Java writes for this value (`toString()`).
    fn to_text(&self) -> String;
}

/// The error for `text` that does not parse as `field`'s type; keeps at most
/// [`INVALID_VALUE_ECHO_BYTES_MAX`] bytes of it.
pub(crate) fn invalid(field: &'static str, text: &str) -> HeaderError {
    let mut end = text.len().min(INVALID_VALUE_ECHO_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    HeaderError::Invalid {
        field,
        value: text[..end].to_owned(),
    }
}

impl HeaderValue for String {
    const VALUE_TYPE: ValueType = ValueType::String;

    fn parse(_field: &'static str, text: &str) -> Result<Self, HeaderError> {
        Ok(text.to_owned())
    }

    fn to_text(&self) -> String {
        self.clone()
    }
}

// Rust's integer `FromStr` is `parseInt`'s grammar for ASCII: an optional sign, at least one
// digit, nothing else, overflow rejected.
impl HeaderValue for i32 {
    const VALUE_TYPE: ValueType = ValueType::Integer;

    fn parse(field: &'static str, text: &str) -> Result<Self, HeaderError> {
        text.parse().map_err(|_| invalid(field, text))
    }

    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl HeaderValue for i64 {
    const VALUE_TYPE: ValueType = ValueType::Long;

    fn parse(field: &'static str, text: &str) -> Result<Self, HeaderError> {
        text.parse().map_err(|_| invalid(field, text))
    }

    fn to_text(&self) -> String {
        self.to_string()
    }
}

impl HeaderValue for bool {
    const VALUE_TYPE: ValueType = ValueType::Boolean;

    fn parse(_field: &'static str, text: &str) -> Result<Self, HeaderError> {
        Ok(text.eq_ignore_ascii_case("true"))
    }

    fn to_text(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

/// Which side of a timestamp `SEARCH_OFFSET_BY_TIMESTAMP` answers (5.x; absent means
/// [`BoundaryType::Lower`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BoundaryType {
    /// The first message stored at or after the timestamp.
    #[default]
    Lower,
    /// The last message stored at or before the timestamp.
    Upper,
}

impl HeaderValue for BoundaryType {
    const VALUE_TYPE: ValueType = ValueType::BoundaryType;

    fn parse(_field: &'static str, text: &str) -> Result<Self, HeaderError> {
        Ok(if text.eq_ignore_ascii_case("upper") {
            BoundaryType::Upper
        } else {
            BoundaryType::Lower
        })
    }

    /// Java writes the enum's `toString()`, i.e. its constant name.
    fn to_text(&self) -> String {
        match self {
            BoundaryType::Lower => "LOWER",
            BoundaryType::Upper => "UPPER",
        }
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_parse_int() {
        assert_eq!(i32::parse("f", "42"), Ok(42));
        assert_eq!(i32::parse("f", "+42"), Ok(42));
        assert_eq!(i32::parse("f", "-2147483648"), Ok(i32::MIN));
        assert_eq!(i64::parse("f", "-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(i64::parse("f", "0009"), Ok(9));
        for bad in [
            "",
            "+",
            "-",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "2147483648",
            "1e3",
            "++1",
            "\u{0663}",
        ] {
            assert_eq!(
                i32::parse("queueId", bad),
                Err(HeaderError::Invalid {
                    field: "queueId",
                    value: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        assert!(i64::parse("f", "9223372036854775808").is_err());
    }

    #[test]
    fn booleans_follow_parse_boolean() {
        for t in ["true", "TRUE", "True", "tRuE"] {
            assert_eq!(bool::parse("f", t), Ok(true), "{t:?}");
        }
        for f in ["false", "1", "0", "", "yes", " true", "true ", "t"] {
            assert_eq!(bool::parse("f", f), Ok(false), "{f:?}");
        }
        assert_eq!(true.to_text(), "true");
        assert_eq!(false.to_text(), "false");
    }

    #[test]
    fn boundary_type_follows_get_type() {
        assert_eq!(BoundaryType::parse("b", "upper"), Ok(BoundaryType::Upper));
        assert_eq!(BoundaryType::parse("b", "UPPER"), Ok(BoundaryType::Upper));
        assert_eq!(BoundaryType::parse("b", "lower"), Ok(BoundaryType::Lower));
        assert_eq!(
            BoundaryType::parse("b", "sideways"),
            Ok(BoundaryType::Lower)
        );
        assert_eq!(BoundaryType::Upper.to_text(), "UPPER");
    }

    #[test]
    fn invalid_values_are_echoed_within_the_limit() {
        let long = "é".repeat(100);
        match i32::parse("queueId", &long) {
            Err(HeaderError::Invalid { value, .. }) => {
                assert!(value.len() <= INVALID_VALUE_ECHO_BYTES_MAX);
                assert!(long.starts_with(&value));
                assert_eq!(value.len(), INVALID_VALUE_ECHO_BYTES_MAX);
            }
            other => panic!("{other:?}"),
        }
    }
}
