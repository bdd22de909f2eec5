//! Reading typed fields out of a parsed body with the casts fastjson applies when it fills a
//! Java object: a `String` slot takes any scalar, a number slot takes a numeric string, a
//! `boolean` slot takes `"true"`/`"1"`, `null` means "leave the default", and an enum takes
//! its name or its ordinal.
//!
//! Everything here only reads an already bounded [`Value`]; errors name the body and field.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{CodecError, CodecResult};

/// The error for a body whose content does not fit its Java type.
pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> CodecError {
    CodecError::InvalidBody {
        what,
        reason: reason.into(),
    }
}

/// A Java enum that fastjson reads from its name or its ordinal and writes by name.
pub trait JavaEnum: Sized + Copy + 'static {
    /// Every constant in Java declaration order: the index is the ordinal.
    const ALL: &'static [Self];
    /// The Java class name, for error messages.
    const JAVA_CLASS: &'static str;
    /// The constant's Java name.
    fn name(self) -> &'static str;

    /// From the Java name (exact, as `Enum.valueOf`).
    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// From the ordinal.
    fn from_ordinal(ordinal: i64) -> Option<Self> {
        usize::try_from(ordinal)
            .ok()
            .and_then(|i| Self::ALL.get(i))
            .copied()
    }
}

/// Declare a `JavaEnum` whose variants are listed in Java declaration order.
macro_rules! java_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($java_class:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $java:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $crate::body::fields::JavaEnum for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            const JAVA_CLASS: &'static str = $java_class;
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $java),+
                }
            }
        }

        impl $name {
            /// The constant's Java name, as fastjson writes it.
            pub fn java_name(self) -> &'static str {
                $crate::body::fields::JavaEnum::name(self)
            }
        }
    };
}
pub(crate) use java_enum;

/// The members of one JSON object, read as the fields of a Java class named `what`.
#[derive(Clone, Copy)]
pub(crate) struct Fields<'a> {
    map: &'a Map<String, Value>,
    what: &'static str,
}

impl<'a> Fields<'a> {
    /// `value` must be an object (fastjson cannot fill a class from anything else).
    pub(crate) fn new(value: &'a Value, what: &'static str) -> CodecResult<Self> {
        match value {
            Value::Object(map) => Ok(Fields { map, what }),
            other => Err(invalid(
                what,
                format!("expected an object, found {}", kind(other)),
            )),
        }
    }

    /// A present, non-null member.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn err(&self, key: &str, reason: &str) -> CodecError {
        invalid(self.what, format!("field {key}: {reason}"))
    }

    /// A `String` slot: any scalar is taken as its text (never fails).
    pub(crate) fn string(&self, key: &str) -> Option<String> {
        self.get(key).map(cast_string)
    }

    pub(crate) fn string_or_empty(&self, key: &str) -> String {
        self.string(key).unwrap_or_default()
    }

    pub(crate) fn long(&self, key: &str) -> CodecResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => cast_long(v).map_err(|r| self.err(key, &r)),
        }
    }

    pub(crate) fn long_or(&self, key: &str, default: i64) -> CodecResult<i64> {
        Ok(self.long(key)?.unwrap_or(default))
    }

    pub(crate) fn int(&self, key: &str) -> CodecResult<Option<i32>> {
        match self.long(key)? {
            None => Ok(None),
            Some(v) => i32::try_from(v)
                .map(Some)
                .map_err(|_| self.err(key, &format!("{v} is out of int range"))),
        }
    }

    pub(crate) fn int_or(&self, key: &str, default: i32) -> CodecResult<i32> {
        Ok(self.int(key)?.unwrap_or(default))
    }

    pub(crate) fn bool(&self, key: &str) -> CodecResult<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => cast_bool(v).map_err(|r| self.err(key, &r)),
        }
    }

    pub(crate) fn bool_or(&self, key: &str, default: bool) -> CodecResult<bool> {
        Ok(self.bool(key)?.unwrap_or(default))
    }

    pub(crate) fn double_or(&self, key: &str, default: f64) -> CodecResult<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => Ok(cast_double(v)
                .map_err(|r| self.err(key, &r))?
                .unwrap_or(default)),
        }
    }

    /// An enum from its name or ordinal. Like fastjson's `EnumDeserializer`: an unknown or
    /// empty name gives `None` (Java null), an ordinal out of range is an error.
    pub(crate) fn java_enum<E: JavaEnum>(&self, key: &str) -> CodecResult<Option<E>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => cast_enum(v).map_err(|r| self.err(key, &r)),
        }
    }

    /// The elements of an array member; absent or null gives none.
    pub(crate) fn array(&self, key: &str) -> CodecResult<&'a [Value]> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.err(key, &format!("expected an array, found {}", kind(other)))),
        }
    }

    /// The members of an object member (a Java `Map`); absent or null gives none.
    pub(crate) fn map(&self, key: &str) -> CodecResult<Option<&'a Map<String, Value>>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(map)),
            Some(other) => {
                Err(self.err(key, &format!("expected an object, found {}", kind(other))))
            }
        }
    }

    /// Each element of an array member converted by `convert`, nulls skipped.
    pub(crate) fn list<T>(
        &self,
        key: &str,
        mut convert: impl FnMut(&'a Value) -> CodecResult<T>,
    ) -> CodecResult<Vec<T>> {
        let items = self.array(key)?;
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter().filter(|v| !v.is_null()) {
            out.push(convert(item)?);
        }
        Ok(out)
    }

    /// An array of strings (any scalar is stringified, nulls skipped).
    pub(crate) fn strings(&self, key: &str) -> CodecResult<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(v) => cast_string_list(v).map_err(|r| self.err(key, &r)),
        }
    }

    /// A `Map<String, String>` member.
    pub(crate) fn string_map(&self, key: &str) -> CodecResult<Option<BTreeMap<String, String>>> {
        let Some(map) = self.map(key)? else {
            return Ok(None);
        };
        let mut out = BTreeMap::new();
        for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
            out.insert(k.clone(), cast_string(v));
        }
        Ok(Some(out))
    }

    /// A `Map<String, T>` member; null values skipped.
    pub(crate) fn keyed<T>(
        &self,
        key: &str,
        mut convert: impl FnMut(&'a Value) -> CodecResult<T>,
    ) -> CodecResult<BTreeMap<String, T>> {
        let mut out = BTreeMap::new();
        if let Some(map) = self.map(key)? {
            for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                out.insert(k.clone(), convert(v)?);
            }
        }
        Ok(out)
    }
}

/// A map key that Java declared as `Long`/`Integer`: fastjson casts the key text.
pub(crate) fn long_key(key: &str, what: &'static str) -> CodecResult<i64> {
    key.trim()
        .parse()
        .map_err(|_| invalid(what, format!("map key {key:.40?} is not an integer")))
}

/// The JSON kind of `v`, for messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// What fastjson puts in a `String` slot: strings as they are, other values as their JSON text.
pub(crate) fn cast_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => {
            let mut out = Vec::new();
            super::lenient_json::write_compact_sorted(v, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
    }
}

/// A JSON array read as a Java `Collection<String>` (nulls skipped, scalars stringified).
pub(crate) fn cast_string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => Ok(items
            .iter()
            .filter(|item| !item.is_null())
            .map(cast_string)
            .collect()),
        other => Err(format!("expected an array, found {}", kind(other))),
    }
}

/// `TypeUtils.castToLong`: integers, floats (truncated), numeric strings; an empty string or
/// null is no value.
pub(crate) fn cast_long(v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else {
                float_to_long(n.as_f64().unwrap_or(f64::NAN)).map(Some)
            }
        }
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t == "null" {
                return Ok(None);
            }
            if let Ok(i) = t.parse::<i64>() {
                return Ok(Some(i));
            }
            match t.parse::<f64>() {
                Ok(f) => float_to_long(f).map(Some),
                Err(_) => Err(format!("{t:.40?} is not a number")),
            }
        }
        Value::Bool(b) => Ok(Some(i64::from(*b))),
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

fn float_to_long(f: f64) -> Result<i64, String> {
    // The range check keeps the cast exact: both bounds are powers of two.
    if f.is_finite() && (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        Ok(f.trunc() as i64)
    } else {
        Err(format!("{f} is out of long range"))
    }
}

/// A `boolean` slot: JSON booleans, `"true"`/`"false"` in any case, and fastjson's
/// `castToBoolean` spellings `1`/`0`, `"Y"`/`"N"`, `"T"`/`"F"`.
pub(crate) fn cast_bool(v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) => Ok(Some(n.as_i64() == Some(1))),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t == "null" {
                Ok(None)
            } else if t.eq_ignore_ascii_case("true") || t == "1" || t == "Y" || t == "T" {
                Ok(Some(true))
            } else if t.eq_ignore_ascii_case("false") || t == "0" || t == "N" || t == "F" {
                Ok(Some(false))
            } else {
                Err(format!("{t:.40?} is not a boolean"))
            }
        }
        other => Err(format!("expected a boolean, found {}", kind(other))),
    }
}

/// A `double` slot: numbers and numeric strings.
pub(crate) fn cast_double(v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t == "null" {
                return Ok(None);
            }
            t.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| format!("{t:.40?} is not a number"))
        }
        other => Err(format!("expected a number, found {}", kind(other))),
    }
}

/// An enum slot: the name (unknown or empty names are Java null) or the ordinal.
pub(crate) fn cast_enum<E: JavaEnum>(v: &Value) -> Result<Option<E>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(E::from_name(s)),
        Value::Number(n) => match n.as_i64().and_then(E::from_ordinal) {
            Some(e) => Ok(Some(e)),
            None => Err(format!("{n} is not an ordinal of {}", E::JAVA_CLASS)),
        },
        other => Err(format!(
            "expected a {} name or ordinal, found {}",
            E::JAVA_CLASS,
            kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    java_enum! {
        /// Test enum.
        Colour ("Colour") { Red = "RED", Green = "GREEN" }
    }

    #[test]
    fn casts_follow_fastjson() {
        let v = json!({"s":"12","f":3.9,"b":"1","n":null,"e":"","t":true,"big":"1e30",
                       "o":{"b":1,"a":2},"neg":"-5","ws":" 7 "});
        let f = Fields::new(&v, "test").unwrap();
        assert_eq!(f.long("s").unwrap(), Some(12));
        assert_eq!(f.long("f").unwrap(), Some(3));
        assert_eq!(f.long("neg").unwrap(), Some(-5));
        assert_eq!(f.long("ws").unwrap(), Some(7));
        assert_eq!(f.long("n").unwrap(), None);
        assert_eq!(f.long("e").unwrap(), None);
        assert_eq!(f.long("t").unwrap(), Some(1));
        assert!(f.long("big").is_err());
        assert!(f.long("o").is_err());
        assert_eq!(f.bool("b").unwrap(), Some(true));
        assert_eq!(f.bool("t").unwrap(), Some(true));
        assert!(f.bool("neg").is_err());
        assert_eq!(f.string("f").as_deref(), Some("3.9"));
        assert_eq!(f.string("o").as_deref(), Some(r#"{"a":2,"b":1}"#));
        assert_eq!(f.string("missing"), None);
        assert_eq!(f.int("s").unwrap(), Some(12));
        assert!(Fields::new(&json!([]), "test").is_err());
    }

    #[test]
    fn enums_by_name_or_ordinal() {
        let v = json!({"a":"GREEN","b":0,"c":"PURPLE","d":7,"e":"","f":true});
        let f = Fields::new(&v, "test").unwrap();
        assert_eq!(f.java_enum::<Colour>("a").unwrap(), Some(Colour::Green));
        assert_eq!(f.java_enum::<Colour>("b").unwrap(), Some(Colour::Red));
        assert_eq!(f.java_enum::<Colour>("c").unwrap(), None);
        assert!(f.java_enum::<Colour>("d").is_err());
        assert_eq!(f.java_enum::<Colour>("e").unwrap(), None);
        assert!(f.java_enum::<Colour>("f").is_err());
        assert_eq!(Colour::Green.java_name(), "GREEN");
    }
}
