//! Typed custom headers: the `extFields` of a request or response read into a struct, and
//! written back with Java-identical names and value text.
//!
//! Each header is declared once (see [`macros`](self) for the syntax): field, wire name,
//! required / optional / defaulted, and type. The declaration yields the struct, its
//! [`CommandHeader`] impl and its [`HeaderField`] table.
//!
//! # Rules (Java's `RemotingCommand.decodeCommandCustomHeader` and `makeCustomHeaderToNet`)
//! - Fields are looked up by exact name; unknown keys are ignored (the C++ client's empty
//!   `AccessKey`/`OnsChannel`/`Signature`, the 5.x base fields `ns`, `bname`, `lo`, ... where a
//!   header does not declare them).
//! - Value text is parsed as in [`value`]: decimal ints and longs with `parseInt` rules,
//!   booleans with `parseBoolean` (`"1"` is false), strings as they are.
//! - Writing puts every present field as `toString()` text; optional fields that are `None` are
//!   left out.
//!
//! # Where we are stricter than Java, on purpose
//! Java logs and carries on when a `@CFNotNull` field is missing or a number does not parse:
//! the field stays null and the processor usually fails later with a `NullPointerException`,
//! answered as `SYSTEM_ERROR`. We fail at decode time with a typed [`HeaderError`] instead; the
//! server answers it the same way. Fields that Java initialises in their declaration (primitives,
//! `Boolean order = false`, ...) are never null in Java, so they are declared `defaulted` here
//! and an absent key reads as that value instead of failing.
//!
//! # Binary headers and empty strings
//! The ROCKETMQ binary header drops empty values (Java reads a zero length as null), so a
//! header that went through a binary frame sees an empty string as absent: an optional string
//! becomes `None` and a required one [`HeaderError::Missing`], exactly as in Java.

#[macro_use]
mod macros;

pub mod admin;
pub mod client;
pub mod message;
pub mod namesrv;
pub mod offset;
pub mod pull;
pub mod send;
pub mod transaction;
pub mod value;

use thiserror::Error;

pub use self::admin::*;
pub use self::client::*;
pub use self::message::*;
pub use self::namesrv::*;
pub use self::offset::*;
pub use self::pull::*;
pub use self::send::*;
pub use self::transaction::*;
pub use self::value::{BoundaryType, HeaderValue, ValueType, INVALID_VALUE_ECHO_BYTES_MAX};
use crate::command::{ExtFields, RemotingCommand};

/// Why `extFields` do not make a valid typed header.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// A required (`@CFNotNull`) field is absent. The text is Java's.
    #[error("the custom field <{field}> is null")]
    Missing {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A number field's text is not a number in range. The text follows Java's
    /// `NumberFormatException`.
    #[error("the custom field <{field}> is invalid: For input string: {value:?}")]
    Invalid {
        /// The wire name of the field.
        field: &'static str,
        /// The offending text, cut to [`INVALID_VALUE_ECHO_BYTES_MAX`] bytes.
        value: String,
    },
    /// A send header was asked for on a code that does not carry one.
    #[error("request code {code} does not carry a send-message header")]
    NotASendCode {
        /// The request code.
        code: i32,
    },
}

/// How a field behaves when its key is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldKind {
    /// `@CFNotNull`: absent is [`HeaderError::Missing`].
    Required,
    /// Nullable: absent is `None`, and `None` is not written.
    Optional,
    /// Initialised in Java: absent reads as the value whose wire text is `java_text`, and the
    /// field is always written.
    Defaulted {
        /// The wire text of the initial value.
        java_text: &'static str,
    },
}

/// One field of a header as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderField {
    /// The `extFields` key (Java's field name).
    pub name: &'static str,
    /// Required, optional or defaulted.
    pub kind: FieldKind,
    /// The Java type.
    pub value_type: ValueType,
}

/// A typed custom header.
pub trait CommandHeader: Sized {
    /// Every field, in declaration order.
    const FIELDS: &'static [HeaderField];

    /// Put every present field into `ext` under its Java name, as Java's text.
    fn write_to(&self, ext: &mut ExtFields);

    /// Read the header from `ext`, ignoring keys it does not declare.
    fn read_from(ext: &ExtFields) -> Result<Self, HeaderError>;
}

impl RemotingCommand {
    /// Read this command's custom header as `T`.
    pub fn decode_header<T: CommandHeader>(&self) -> Result<T, HeaderError> {
        T::read_from(&self.ext_fields)
    }

    /// Write `header` into this command's extFields (and mark them present, so even an empty
    /// header is sent as `"extFields":{}`, which Java clients read without a null check).
    #[must_use]
    pub fn with_header<T: CommandHeader>(mut self, header: &T) -> Self {
        header.write_to(&mut self.ext_fields);
        self.has_ext_fields = true;
        self
    }
}

/// Read a required field.
pub(crate) fn read_required<T: HeaderValue>(
    ext: &ExtFields,
    field: &'static str,
) -> Result<T, HeaderError> {
    match ext.get(field) {
        Some(text) => T::parse(field, text),
        None => Err(HeaderError::Missing { field }),
    }
}

/// Read an optional field.
pub(crate) fn read_optional<T: HeaderValue>(
    ext: &ExtFields,
    field: &'static str,
) -> Result<Option<T>, HeaderError> {
    ext.get(field).map(|text| T::parse(field, text)).transpose()
}

/// Write one value as its Java text.
pub(crate) fn write_value<T: HeaderValue>(ext: &mut ExtFields, field: &'static str, value: &T) {
    ext.insert(field, value.to_text());
}

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        /// A header exercising every field kind.
        pub struct Sample {
            /// A required string.
            required topic: String = "topic";
            /// A required int.
            required queue_id: i32 = "queueId";
            /// An optional long.
            optional offset: i64 = "offset";
            /// An optional boolean.
            optional unit_mode: bool = "unitMode";
            /// A defaulted boolean.
            defaulted(true) committed: bool = "committed";
            /// A defaulted negative int.
            defaulted(-1) fallback: i32 = "fallback";
        }
    }

    fn ext(pairs: &[(&str, &str)]) -> ExtFields {
        pairs.iter().copied().collect()
    }

    #[test]
    fn reads_and_writes_every_kind() {
        let read = Sample::read_from(&ext(&[
            ("topic", "T"),
            ("queueId", "3"),
            ("offset", "-7"),
            ("unitMode", "TRUE"),
            ("AccessKey", ""),
        ]))
        .unwrap();
        assert_eq!(
            read,
            Sample {
                topic: "T".into(),
                queue_id: 3,
                offset: Some(-7),
                unit_mode: Some(true),
                committed: true,
                fallback: -1,
            }
        );
        let mut out = ExtFields::new();
        read.write_to(&mut out);
        assert_eq!(
            out,
            ext(&[
                ("topic", "T"),
                ("queueId", "3"),
                ("offset", "-7"),
                ("unitMode", "true"),
                ("committed", "true"),
                ("fallback", "-1"),
            ])
        );
    }

    #[test]
    fn field_table_describes_the_declaration() {
        assert_eq!(
            Sample::FIELDS.iter().map(|f| f.name).collect::<Vec<_>>(),
            [
                "topic",
                "queueId",
                "offset",
                "unitMode",
                "committed",
                "fallback"
            ]
        );
        assert_eq!(Sample::FIELDS[1].kind, FieldKind::Required);
        assert_eq!(Sample::FIELDS[1].value_type, ValueType::Integer);
        assert_eq!(Sample::FIELDS[2].kind, FieldKind::Optional);
        assert_eq!(
            Sample::FIELDS[4].kind,
            FieldKind::Defaulted { java_text: "true" }
        );
        assert_eq!(
            Sample::FIELDS[5].kind,
            FieldKind::Defaulted { java_text: "-1" }
        );
    }

    #[test]
    fn errors_name_the_java_field() {
        let missing = Sample::read_from(&ext(&[("queueId", "1")])).unwrap_err();
        assert_eq!(missing, HeaderError::Missing { field: "topic" });
        assert_eq!(missing.to_string(), "the custom field <topic> is null");
        let bad = Sample::read_from(&ext(&[("topic", "T"), ("queueId", "x1")])).unwrap_err();
        assert_eq!(
            bad,
            HeaderError::Invalid {
                field: "queueId",
                value: "x1".into()
            }
        );
        assert_eq!(
            bad.to_string(),
            "the custom field <queueId> is invalid: For input string: \"x1\""
        );
        let bad_optional =
            Sample::read_from(&ext(&[("topic", "T"), ("queueId", "1"), ("offset", "")]));
        assert_eq!(
            bad_optional,
            Err(HeaderError::Invalid {
                field: "offset",
                value: String::new()
            })
        );
    }

    #[test]
    fn with_header_marks_ext_fields_present() {
        let cmd = RemotingCommand::default().with_header(&Sample {
            topic: "T".into(),
            queue_id: 0,
            offset: None,
            unit_mode: None,
            committed: false,
            fallback: 5,
        });
        assert!(cmd.has_ext_fields);
        assert_eq!(cmd.ext_fields.get("committed"), Some("false"));
        assert!(!cmd.ext_fields.contains_key("offset"));
        let back: Sample = cmd.decode_header().unwrap();
        assert_eq!(back.fallback, 5);
        assert!(!back.committed);
    }
}
