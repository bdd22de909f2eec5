//! The NameServer's KV config (`KVConfigManager`): namespace -> key -> value, persisted to
//! `kvConfigPath` as `{"configTable":{"<namespace>":{"k":"v"}}}`.
//!
//! Owned by the control-plane shard. Writes go to a temporary file that is renamed over the
//! old one (after keeping it as `.bak`, as Java does), so a crash leaves either the old or the
//! new file. On load, a missing or unparsable main file falls back to `.bak`.
//! The file is small and written only on admin requests, so it is written synchronously.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rmq_protocol::body::lenient_json;
use serde_json::Value;

use crate::limits::{CONFIG_FILE_SIZE_BYTES_MAX, KV_ENTRIES_COUNT_MAX};

/// namespace -> key -> value.
pub type KvTable = BTreeMap<String, BTreeMap<String, String>>;

/// Why the KV config could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum KvError {
    /// Reading or writing the file failed.
    #[error("kv config {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not a KV config.
    #[error("kv config {path} is invalid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    /// Too many entries.
    #[error("kv config is full ({KV_ENTRIES_COUNT_MAX} entries)")]
    Full,
}

/// The KV config and where it lives.
#[derive(Debug)]
pub struct KvConfig {
    path: PathBuf,
    table: KvTable,
}

impl KvConfig {
    /// Load from `path` (or its `.bak`); a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Self, KvError> {
        let table = match read_table(path) {
            Ok(Some(t)) => t,
            Ok(None) | Err(_) => match read_table(&bak_path(path)) {
                Ok(Some(t)) => t,
                Ok(None) => match read_table(path) {
                    // Main missing and no backup: empty. Main broken and no backup: report.
                    Ok(_) => KvTable::new(),
                    Err(e) => return Err(e),
                },
                Err(e) => return Err(e),
            },
        };
        Ok(KvConfig {
            path: path.to_path_buf(),
            table,
        })
    }

    /// The table.
    pub fn table(&self) -> &KvTable {
        &self.table
    }

    /// Put a value and persist.
    pub fn put(&mut self, namespace: &str, key: &str, value: &str) -> Result<(), KvError> {
        let entries: usize = self.table.values().map(BTreeMap::len).sum();
        let exists = self
            .table
            .get(namespace)
            .is_some_and(|ns| ns.contains_key(key));
        if !exists && entries >= KV_ENTRIES_COUNT_MAX {
            return Err(KvError::Full);
        }
        self.table
            .entry(namespace.to_string())
            .or_default()
            .insert(key.to_string(), value.to_string());
        self.persist()
    }

    /// Delete a value (persisting when something was removed).
    pub fn delete(&mut self, namespace: &str, key: &str) -> Result<(), KvError> {
        let Some(ns) = self.table.get_mut(namespace) else {
            return Ok(());
        };
        if ns.remove(key).is_none() {
            return Ok(());
        }
        if ns.is_empty() {
            self.table.remove(namespace);
        }
        self.persist()
    }

    /// Write the file: temp file, keep the old one as `.bak`, rename.
    fn persist(&self) -> Result<(), KvError> {
        let io = |source| KvError::Io {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::json!({ "configTable": self.table });
        let text = serde_json::to_vec_pretty(&json).map_err(|e| io(std::io::Error::other(e)))?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, &text).map_err(io)?;
        if self.path.exists() {
            std::fs::copy(&self.path, bak_path(&self.path)).map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn bak_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".bak");
    PathBuf::from(s)
}

/// Read one file: `Ok(None)` when it does not exist.
fn read_table(path: &Path) -> Result<Option<KvTable>, KvError> {
    let invalid = |reason: String| KvError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KvError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if meta.len() > CONFIG_FILE_SIZE_BYTES_MAX {
        return Err(invalid(format!("{} bytes is over the limit", meta.len())));
    }
    let bytes = std::fs::read(path).map_err(|source| KvError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let value = lenient_json::parse(&bytes).map_err(|e| invalid(e.to_string()))?;
    let mut table = KvTable::new();
    if let Some(Value::Object(namespaces)) = value.get("configTable") {
        for (ns, entries) in namespaces {
            let Value::Object(entries) = entries else {
                return Err(invalid(format!("namespace {ns} is not an object")));
            };
            let map = table.entry(ns.clone()).or_default();
            for (k, v) in entries {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                map.insert(k.clone(), v);
            }
        }
    }
    Ok(Some(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_delete_persist_and_reload() {
        let dir = std::env::temp_dir().join(format!("rmq-kv-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("kvConfig.json");
        let mut kv = KvConfig::load(&path).unwrap();
        assert!(kv.table().is_empty());
        kv.put("ORDER_TOPIC_CONFIG", "T", "broker-a:4").unwrap();
        kv.put("ns", "k", "v").unwrap();
        kv.delete("ns", "k").unwrap();
        let again = KvConfig::load(&path).unwrap();
        assert_eq!(again.table()["ORDER_TOPIC_CONFIG"]["T"], "broker-a:4");
        assert!(!again.table().contains_key("ns"));
        // A corrupt main file falls back to the backup.
        std::fs::write(&path, b"{not json").unwrap();
        let recovered = KvConfig::load(&path).unwrap();
        assert!(recovered.table().contains_key("ORDER_TOPIC_CONFIG"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
