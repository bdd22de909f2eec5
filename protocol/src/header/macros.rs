//! The declarative macros that turn one header declaration into its struct, its field table and
//! its reader and writer, so each header states its fields exactly once.
//!
//! A field line is `<kind> <rust_name>: <type> = "<wire name>";` where `<kind>` is
//! - `required`: Java `@CFNotNull`; the struct field is `<type>`, and a missing key is
//!   [`HeaderError::Missing`](super::HeaderError::Missing);
//! - `optional`: nullable in Java; the struct field is `Option<type>`, written only when `Some`;
//! - `defaulted(<literal>)`: a Java field with an initial value (a primitive, or a boxed field
//!   initialised in its declaration): absent on read means that value, and it is always written,
//!   as Java never sees it null.

/// `required`/`optional`/`defaulted` → the Rust type of the struct field.
macro_rules! header_field_type {
    (required $ty:ty) => { $ty };
    (optional $ty:ty) => { Option<$ty> };
    (defaulted $ty:ty) => { $ty };
}

/// The [`HeaderField`](super::HeaderField) entry of one field.
macro_rules! header_field_spec {
    (required $wire:literal, $ty:ty) => {
        $crate::header::HeaderField {
            name: $wire,
            kind: $crate::header::FieldKind::Required,
            value_type: <$ty as $crate::header::HeaderValue>::VALUE_TYPE,
        }
    };
    (optional $wire:literal, $ty:ty) => {
        $crate::header::HeaderField {
            name: $wire,
            kind: $crate::header::FieldKind::Optional,
            value_type: <$ty as $crate::header::HeaderValue>::VALUE_TYPE,
        }
    };
    (defaulted ($default:literal) $wire:literal, $ty:ty) => {
        $crate::header::HeaderField {
            name: $wire,
            kind: $crate::header::FieldKind::Defaulted {
                java_text: stringify!($default),
            },
            value_type: <$ty as $crate::header::HeaderValue>::VALUE_TYPE,
        }
    };
}

/// Read one field from `ext` (an `&ExtFields`), returning early on error.
macro_rules! header_field_read {
    (required $ext:ident, $wire:literal, $ty:ty) => {
        $crate::header::read_required::<$ty>($ext, $wire)?
    };
    (optional $ext:ident, $wire:literal, $ty:ty) => {
        $crate::header::read_optional::<$ty>($ext, $wire)?
    };
    (defaulted ($default:literal) $ext:ident, $wire:literal, $ty:ty) => {
        $crate::header::read_optional::<$ty>($ext, $wire)?.unwrap_or_else(|| <$ty>::from($default))
    };
}

/// Parse one field from its text (`Option<&str>`, found beforehand), returning early on
/// error: the same results and errors as [`header_field_read`] for `required` and `optional`.
macro_rules! header_field_parse {
    (required $text:ident, $wire:literal, $ty:ty) => {
        match $text {
            Some(text) => <$ty as $crate::header::HeaderValue>::parse($wire, text)?,
            None => return Err($crate::header::HeaderError::Missing { field: $wire }),
        }
    };
    (optional $text:ident, $wire:literal, $ty:ty) => {
        $text
            .map(|text| <$ty as $crate::header::HeaderValue>::parse($wire, text))
            .transpose()?
    };
}

/// Write one field into `ext` (an `&mut ExtFields`).
macro_rules! header_field_write {
    (required $ext:ident, $wire:literal, $value:expr) => {
        $crate::header::write_value($ext, $wire, &$value)
    };
    (optional $ext:ident, $wire:literal, $value:expr) => {
        if let Some(value) = &$value {
            $crate::header::write_value($ext, $wire, value);
        }
    };
    (defaulted $ext:ident, $wire:literal, $value:expr) => {
        $crate::header::write_value($ext, $wire, &$value)
    };
}

/// Declare a header with one set of wire names and implement
/// [`CommandHeader`](super::CommandHeader) for it.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $(($default:literal))? $field:ident : $ty:ty = $wire:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[doc = concat!("\n\nWire name `", $wire, "`.")]
                pub $field: header_field_type!($kind $ty),
            )*
        }

        impl $crate::header::CommandHeader for $name {
            const FIELDS: &'static [$crate::header::HeaderField] = &[
                $( header_field_spec!($kind $(($default))? $wire, $ty), )*
            ];

            #[allow(unused_variables)]
            fn write_to(&self, ext: &mut $crate::command::ExtFields) {
                $( header_field_write!($kind ext, $wire, self.$field); )*
            }

            #[allow(unused_variables)]
            fn read_from(
                ext: &$crate::command::ExtFields,
            ) -> ::core::result::Result<Self, $crate::header::HeaderError> {
                Ok($name {
                    $( $field: header_field_read!($kind $(($default))? ext, $wire, $ty), )*
                })
            }
        }
    };
}

/// Declare a header with two sets of wire names (`"v1" / "v2"` per field; the send header's
/// full names and its `a`..`n` abbreviations) and generate `FIELDS_V1`, `FIELDS_V2`,
/// `read_v1`, `read_v2`, `write_v1` and `write_v2`. Only `required` and `optional` fields.
macro_rules! dual_named_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $(#[$field_meta:meta])*
                $kind:ident $field:ident : $ty:ty = $v1:literal / $v2:literal;
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[doc = concat!("\n\nWire names `", $v1, "` (V1) and `", $v2, "` (V2).")]
                pub $field: header_field_type!($kind $ty),
            )*
        }

        impl $name {
            /// The fields under their V1 (full) names.
            pub const FIELDS_V1: &'static [$crate::header::HeaderField] = &[
                $( header_field_spec!($kind $v1, $ty), )*
            ];

            /// The fields under their V2 (abbreviated) names.
            pub const FIELDS_V2: &'static [$crate::header::HeaderField] = &[
                $( header_field_spec!($kind $v2, $ty), )*
            ];

            /// Read the V1 (full) names.
            pub fn read_v1(
                ext: &$crate::command::ExtFields,
            ) -> ::core::result::Result<Self, $crate::header::HeaderError> {
                Ok($name {
                    $( $field: header_field_read!($kind ext, $v1, $ty), )*
                })
            }

            /// Read the V2 (abbreviated) names.
            ///
            /// One pass over the entries collects every field's text (the send header is
            /// read once per message; a search per field cost more than the rest of the
            /// read), then the fields are parsed in declaration order, so the first error is
            /// the one a search per field would report.
            pub fn read_v2(
                ext: &$crate::command::ExtFields,
            ) -> ::core::result::Result<Self, $crate::header::HeaderError> {
                $( let mut $field: Option<&str> = None; )*
                for (key, text) in ext.iter() {
                    match key {
                        $( $v2 => $field = Some(text), )*
                        _ => {}
                    }
                }
                Ok($name {
                    $( $field: header_field_parse!($kind $field, $v2, $ty), )*
                })
            }

            /// Write the V1 (full) names, as Java's `SendMessageRequestHeader` does.
            pub fn write_v1(&self, ext: &mut $crate::command::ExtFields) {
                $( header_field_write!($kind ext, $v1, self.$field); )*
            }

            /// Write the V2 (abbreviated) names, as Java's `SendMessageRequestHeaderV2` does.
            pub fn write_v2(&self, ext: &mut $crate::command::ExtFields) {
                $( header_field_write!($kind ext, $v2, self.$field); )*
            }
        }
    };
}
