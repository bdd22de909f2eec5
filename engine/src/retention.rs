//! Retention: which CommitLog segments to delete (`fileReservedTime`, `deleteWhen`,
//! `diskMaxUsedSpaceRatio`, `diskSpaceCleanForciblyRatio`), as a pure function of the
//! segments' last-modified times, the clock and the disk usage.
//!
//! Rules (upstream `CleanCommitLogService`):
//! - a segment is *expired* when `modified + fileReservedTime <= now`;
//! - expired segments are deleted when the local hour is one of `deleteWhen`, or when disk use
//!   is at least `diskMaxUsedSpaceRatio`;
//! - when disk use is at least `diskSpaceCleanForciblyRatio`, the oldest segments are deleted
//!   even if not expired;
//! - deletion goes oldest first and stops at the first segment that must be kept (the log stays
//!   contiguous), at most `segments_deleted_per_pass_max` per pass; the active segment and any
//!   segment not wholly visible are never candidates (the store filters them).
//!
//! After deletion the store advances the CommitLog min offset and every ConsumeQueue's min
//! offset to the first surviving record, and deletes unreachable ConsumeQueue and index files.

use crate::config::{RetentionConfig, StoreConfig};
use crate::io::Storage;

/// The environment of one retention pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetentionInput {
    /// Now, in ms since the epoch.
    pub now_ms: i64,
    /// The local hour of day (0..=23).
    pub hour_of_day: u8,
    /// Used fraction of the store's file system (0.0..=1.0).
    pub disk_used_ratio: f64,
}

impl RetentionInput {
    /// The real clock, local hour and disk usage.
    pub fn now<S: Storage>(storage: &S, config: &StoreConfig) -> Self {
        let now_ms = crate::store::now_ms();
        let secs = now_ms.div_euclid(1000) as libc::time_t;
        // SAFETY: `tm` is plain data; localtime_r writes only into it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers for the duration of the call.
        let ok = unsafe { !libc::localtime_r(&secs, &mut tm).is_null() };
        let hour_of_day = if ok { tm.tm_hour.clamp(0, 23) as u8 } else { 0 };
        RetentionInput {
            now_ms,
            hour_of_day,
            disk_used_ratio: storage.disk_used_ratio(&config.root_dir).unwrap_or(0.0),
        }
    }
}

/// Segments (by local base) to delete, oldest first. `segments` are the candidates with their
/// last-modified time, in ascending base order.
pub fn segments_to_delete(
    config: &RetentionConfig,
    input: &RetentionInput,
    segments: &[(u64, i64)],
) -> Vec<u64> {
    let ratio = |p: u8| f64::from(p) / 100.0;
    let forced = input.disk_used_ratio >= ratio(config.disk_clean_forcibly_ratio_percent);
    let disk_full = input.disk_used_ratio >= ratio(config.disk_max_used_ratio_percent);
    let time_ok = config.delete_when_hours.contains(&input.hour_of_day);
    let reserved_ms = i64::from(config.file_reserved_hours) * 3_600_000;
    let mut out = Vec::new();
    for &(base, modified) in segments {
        if out.len() >= config.segments_deleted_per_pass_max {
            break;
        }
        let expired = modified.saturating_add(reserved_ms) <= input.now_ms;
        let delete = forced || (expired && (time_ok || disk_full));
        if !delete {
            break;
        }
        out.push(base);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn input(now_ms: i64, hour: u8, disk: f64) -> RetentionInput {
        RetentionInput {
            now_ms,
            hour_of_day: hour,
            disk_used_ratio: disk,
        }
    }

    #[test]
    fn expired_segments_go_only_at_delete_when_hour() {
        let c = RetentionConfig::default();
        let segs = [(0, 0), (100, 10 * H), (200, 100 * H)];
        assert_eq!(
            segments_to_delete(&c, &input(90 * H, 4, 0.1), &segs),
            vec![0, 100]
        );
        assert!(segments_to_delete(&c, &input(90 * H, 5, 0.1), &segs).is_empty());
    }

    #[test]
    fn disk_above_max_ratio_deletes_expired_at_any_hour() {
        let c = RetentionConfig::default();
        let segs = [(0, 0), (100, 80 * H)];
        assert_eq!(
            segments_to_delete(&c, &input(90 * H, 13, 0.80), &segs),
            vec![0]
        );
    }

    #[test]
    fn forced_ratio_deletes_unexpired_oldest_first_bounded_per_pass() {
        let c = RetentionConfig {
            segments_deleted_per_pass_max: 2,
            ..RetentionConfig::default()
        };
        let segs = [(0, 89 * H), (100, 89 * H), (200, 89 * H)];
        assert_eq!(
            segments_to_delete(&c, &input(90 * H, 13, 0.9), &segs),
            vec![0, 100]
        );
    }

    #[test]
    fn deletion_stops_at_the_first_kept_segment() {
        let c = RetentionConfig::default();
        let segs = [(0, 80 * H), (100, 0)];
        assert!(segments_to_delete(&c, &input(90 * H, 4, 0.1), &segs).is_empty());
    }
}
