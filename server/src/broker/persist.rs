//! The broker's JSON state files under `${storePathRootDir}/config/` (protocol.md §6.5):
//! `topics.json`, `subscriptionGroup.json`, `consumerOffset.json`.
//!
//! Rules, as Java's `ConfigManager`:
//! - files are written pretty (fastjson `prettyFormat`), the previous content kept as
//!   `<file>.bak`; the new content goes to `<file>.tmp` first and is renamed into place, so a
//!   crash mid-write leaves either the old or the new file, never a torn one;
//! - on load, a missing or unparsable file falls back to `<file>.bak`; neither present means a
//!   fresh broker (`Ok(None)`);
//! - a file larger than [`CONFIG_FILE_SIZE_BYTES_MAX`] is refused before it is read.
//!
//! These are blocking file operations. They run on the control-plane shard only, at startup, on
//! admin changes and every `flushConsumerOffsetInterval`, never on the data path.

use std::io::Write;
use std::path::{Path, PathBuf};

use rmq_protocol::body::JsonBody;
use thiserror::Error;

use crate::limits::CONFIG_FILE_SIZE_BYTES_MAX;

/// Why a state file could not be read or written.
#[derive(Debug, Error)]
pub enum PersistError {
    /// Reading, writing or renaming failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is larger than any state file we write.
    #[error("{path}: {size} bytes is over the {max}-byte limit for state files")]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// Neither the file nor its backup parses.
    #[error("{path}: cannot parse: {reason}")]
    Unparsable { path: PathBuf, reason: String },
}

/// The backup path of `path` (`<file>.bak`).
pub fn backup_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".bak");
    PathBuf::from(s)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

/// Read one file, `Ok(None)` when it does not exist.
fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, PersistError> {
    let io = |source| PersistError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    if meta.len() > CONFIG_FILE_SIZE_BYTES_MAX {
        return Err(PersistError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: CONFIG_FILE_SIZE_BYTES_MAX,
        });
    }
    std::fs::read(path).map(Some).map_err(io)
}

/// Load `T` from `path`, falling back to `<path>.bak`. `Ok(None)`: neither exists (or the
/// main file is empty and there is no backup), a fresh start.
pub fn load<T: JsonBody>(path: &Path) -> Result<Option<T>, PersistError> {
    let main_error = match read_bounded(path)? {
        Some(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => None,
        Some(bytes) => match T::decode(&bytes) {
            Ok(v) => return Ok(Some(v)),
            Err(e) => Some(e.to_string()),
        },
        None => None,
    };
    let bak = backup_path(path);
    match read_bounded(&bak)? {
        Some(bytes) => match T::decode(&bytes) {
            Ok(v) => {
                log_warn!(
                    "state file unusable, loaded its backup",
                    file = bak.display()
                );
                Ok(Some(v))
            }
            Err(e) => Err(PersistError::Unparsable {
                path: path.to_path_buf(),
                reason: format!("{} (backup: {e})", main_error.unwrap_or_default()),
            }),
        },
        None => match main_error {
            Some(reason) => Err(PersistError::Unparsable {
                path: path.to_path_buf(),
                reason,
            }),
            None => Ok(None),
        },
    }
}

/// Write `value` pretty to `path`: old content to `.bak`, new content via `.tmp` and a rename.
pub fn store<T: JsonBody>(path: &Path, value: &T) -> Result<(), PersistError> {
    store_bytes(path, &value.encode_pretty())
}

/// Write `bytes` to `path` with the backup and atomic-rename rules above.
pub fn store_bytes(path: &Path, bytes: &[u8]) -> Result<(), PersistError> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| PersistError::Io { path: p, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let tmp = temp_path(path);
    {
        let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(bytes).map_err(io(&tmp))?;
        // The rename below must not publish a file whose data is not on disk yet.
        f.sync_data().map_err(io(&tmp))?;
    }
    if path.exists() {
        let bak = backup_path(path);
        std::fs::copy(path, &bak).map_err(io(&bak))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmq_protocol::body::{TopicConfig, TopicConfigSerializeWrapper};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rmq-persist-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn wrapper(topic: &str) -> TopicConfigSerializeWrapper {
        let mut w = TopicConfigSerializeWrapper::default();
        w.topic_config_table
            .insert(topic.to_string(), TopicConfig::new(topic));
        w
    }

    #[test]
    fn store_keeps_a_backup_and_load_falls_back_to_it() {
        let d = dir("bak");
        let path = d.join("config").join("topics.json");
        assert!(load::<TopicConfigSerializeWrapper>(&path)
            .unwrap()
            .is_none());
        store(&path, &wrapper("A")).unwrap();
        store(&path, &wrapper("B")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\n\t"), "pretty with tabs: {text}");
        let loaded: TopicConfigSerializeWrapper = load(&path).unwrap().unwrap();
        assert!(loaded.topic_config_table.contains_key("B"));
        // A torn main file: the backup (previous content) is used.
        std::fs::write(&path, b"{\"topicConfigTable\":{").unwrap();
        let loaded: TopicConfigSerializeWrapper = load(&path).unwrap().unwrap();
        assert!(loaded.topic_config_table.contains_key("A"));
        // Both unusable: a typed error, not a panic and not silently empty.
        std::fs::write(backup_path(&path), b"[1,").unwrap();
        assert!(matches!(
            load::<TopicConfigSerializeWrapper>(&path),
            Err(PersistError::Unparsable { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn oversize_state_file_is_refused_before_reading() {
        let d = dir("big");
        std::fs::create_dir_all(&d).unwrap();
        let path = d.join("topics.json");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(CONFIG_FILE_SIZE_BYTES_MAX + 1).unwrap();
        assert!(matches!(
            load::<TopicConfigSerializeWrapper>(&path),
            Err(PersistError::TooLarge { .. })
        ));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
