//! Structured logging: one line per event on stderr, `key=value` pairs after a timestamp, the
//! level, the shard and a message.
//!
//! ```text
//! 2025-01-01T12:00:00.123Z INFO shard=0 msg="broker started" listen=0.0.0.0:10911 shards=2
//! ```
//! Values containing spaces, quotes or `=` are quoted with Rust's `{:?}` escaping, so a line
//! always splits back into its fields. Kept dependency-free and synchronous: logging happens on
//! control-plane events, never per message.

use std::cell::Cell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// The shard this thread runs, for the `shard=` field (`None` outside executors).
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Tag this thread's log lines with `shard`.
pub fn set_shard(shard: usize) {
    SHARD.with(|s| s.set(Some(shard)));
}

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something is wrong and needs attention.
    Error,
    /// Unusual but handled.
    Warn,
    /// Lifecycle events.
    Info,
}

impl Level {
    const fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
        }
    }
}

/// Quote a value when it would not survive a split on spaces and `=`.
fn push_value(line: &mut String, value: &str) {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '"' && c != '=' && !c.is_control())
    {
        line.push_str(value);
    } else {
        let _ = write!(line, "{value:?}");
    }
}

/// Format one line (without the trailing newline).
pub fn format_line(
    level: Level,
    now: SystemTime,
    msg: &str,
    fields: &[(&str, &dyn std::fmt::Display)],
) -> String {
    let mut line = String::with_capacity(128);
    line.push_str(&utc_timestamp(now));
    line.push(' ');
    line.push_str(level.name());
    if let Some(shard) = SHARD.with(Cell::get) {
        let _ = write!(line, " shard={shard}");
    }
    line.push_str(" msg=");
    push_value(&mut line, msg);
    for (k, v) in fields {
        line.push(' ');
        line.push_str(k);
        line.push('=');
        push_value(&mut line, &v.to_string());
    }
    line
}

/// Write one line to stderr.
pub fn emit(level: Level, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
    let mut line = format_line(level, SystemTime::now(), msg, fields);
    line.push('\n');
    // A closed stderr must not take the server down.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for `t` (UTC), without a date crate.
pub fn utc_timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let millis = since.subsec_millis();
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's well-known algorithm, restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `log_info!("message", key = value, ...)`.
#[macro_export]
macro_rules! log_info {
    ($msg:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Info, $msg, &[$((stringify!($k), &$v as &dyn ::std::fmt::Display)),*])
    };
}

/// `log_warn!("message", key = value, ...)`.
#[macro_export]
macro_rules! log_warn {
    ($msg:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Warn, $msg, &[$((stringify!($k), &$v as &dyn ::std::fmt::Display)),*])
    };
}

/// `log_error!("message", key = value, ...)`.
#[macro_export]
macro_rules! log_error {
    ($msg:expr $(, $k:ident = $v:expr)* $(,)?) => {
        $crate::log::emit($crate::log::Level::Error, $msg, &[$((stringify!($k), &$v as &dyn ::std::fmt::Display)),*])
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_iso8601() {
        assert_eq!(utc_timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(utc_timestamp(t), "2023-11-14T22:13:20.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(utc_timestamp(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn values_that_would_split_are_quoted() {
        let line = format_line(
            Level::Info,
            UNIX_EPOCH,
            "broker started",
            &[("addr", &"0.0.0.0:10911"), ("path", &"/a b"), ("n", &3)],
        );
        assert_eq!(
            line,
            "1970-01-01T00:00:00.000Z INFO msg=\"broker started\" addr=0.0.0.0:10911 path=\"/a b\" n=3"
        );
    }
}
