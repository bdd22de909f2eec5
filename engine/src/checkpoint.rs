//! The checkpoint file: one 4 KiB page.
//!
//! Bytes 0..24 follow upstream (`physicMsgTimestamp`, `logicsMsgTimestamp`,
//! `indexMsgTimestamp`; we write the checkpoint time in all three). Our recovery state follows
//! at byte 40, protected by a CRC so a torn page is detected and recovery falls back to a full
//! scan:
//!
//! | at | size | field |
//! |---|---|---|
//! | 40 | 4 | magic `RMQE` |
//! | 44 | 2 | shard id |
//! | 48 | 8 | `log_synced`: the log is fdatasynced below this global offset |
//! | 56 | 8 | `cq_done`: ConsumeQueue entries of every record below it are synced |
//! | 64 | 8 | `index_done`: index entries of every record below it are synced |
//! | 72 | 4 | CRC32 of bytes 40..72 |
//!
//! Invariant: `cq_done <= log_synced` and both are record boundaries, so recovery can start
//! scanning there.

use crate::error::EngineError;
use crate::io::{Storage, StorageFile};
use crate::limits::CHECKPOINT_FILE_BYTES;
use crate::paths;
use std::path::Path;

const MAGIC: &[u8; 4] = b"RMQE";

/// Decoded checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// Shard the store belongs to.
    pub shard_id: u16,
    /// Global offset below which the log is synced.
    pub log_synced: i64,
    /// Global offset below which ConsumeQueue entries are synced.
    pub cq_done: i64,
    /// Global offset below which index entries are synced.
    pub index_done: i64,
    /// When it was written (ms).
    pub timestamp: i64,
}

impl Checkpoint {
    /// Encode into one page.
    pub fn encode(&self) -> [u8; CHECKPOINT_FILE_BYTES] {
        let mut b = [0u8; CHECKPOINT_FILE_BYTES];
        for at in [0, 8, 16] {
            b[at..at + 8].copy_from_slice(&self.timestamp.to_be_bytes());
        }
        b[40..44].copy_from_slice(MAGIC);
        b[44..46].copy_from_slice(&self.shard_id.to_be_bytes());
        b[48..56].copy_from_slice(&self.log_synced.to_be_bytes());
        b[56..64].copy_from_slice(&self.cq_done.to_be_bytes());
        b[64..72].copy_from_slice(&self.index_done.to_be_bytes());
        let crc = crc32fast::hash(&b[40..72]);
        b[72..76].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Decode; `None` if short, of another format, or torn (CRC mismatch).
    pub fn decode(b: &[u8]) -> Option<Checkpoint> {
        if b.len() < 76 || &b[40..44] != MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes([b[72], b[73], b[74], b[75]]);
        if crc != crc32fast::hash(&b[40..72]) {
            return None;
        }
        let i64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            i64::from_be_bytes(x)
        };
        Some(Checkpoint {
            shard_id: u16::from_be_bytes([b[44], b[45]]),
            log_synced: i64_at(48),
            cq_done: i64_at(56),
            index_done: i64_at(64),
            timestamp: i64_at(0),
        })
    }
}

/// Write and sync the checkpoint.
pub async fn write<S: Storage>(
    storage: &S,
    root: &Path,
    c: &Checkpoint,
) -> Result<(), EngineError> {
    let path = paths::checkpoint_file(root);
    let f = storage
        .open(&path, true)
        .await
        .map_err(EngineError::io("open checkpoint", &path))?;
    crate::io::write_all_aligned(&f, 0, &c.encode())
        .await
        .map_err(EngineError::io("write checkpoint", &path))?;
    f.fdatasync()
        .await
        .map_err(EngineError::io("sync checkpoint", &path))
}

/// Read the checkpoint; `Ok(None)` if missing or invalid.
pub async fn read<S: Storage>(storage: &S, root: &Path) -> Result<Option<Checkpoint>, EngineError> {
    let path = paths::checkpoint_file(root);
    if !storage.exists(&path) {
        return Ok(None);
    }
    let f = storage
        .open(&path, false)
        .await
        .map_err(EngineError::io("open checkpoint", &path))?;
    let b = f
        .read_at(0, CHECKPOINT_FILE_BYTES)
        .await
        .map_err(EngineError::io("read checkpoint", &path))?;
    Ok(Checkpoint::decode(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_torn_pages() {
        let c = Checkpoint {
            shard_id: 2,
            log_synced: 1000,
            cq_done: 900,
            index_done: 800,
            timestamp: 77,
        };
        let mut b = c.encode();
        assert_eq!(Checkpoint::decode(&b), Some(c));
        b[50] ^= 1;
        assert_eq!(Checkpoint::decode(&b), None);
        assert_eq!(Checkpoint::decode(&[0u8; 4096]), None);
    }
}
