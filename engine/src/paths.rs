//! Where each file of a shard's store lives (upstream layout under the shard's root).

use std::path::{Path, PathBuf};

/// `<root>/commitlog`.
pub fn commit_log_dir(root: &Path) -> PathBuf {
    root.join("commitlog")
}

/// `<root>/commitlog/<20-digit global start offset>`.
pub fn segment_file(root: &Path, global_start: u64) -> PathBuf {
    commit_log_dir(root).join(crate::offsets::file_name(global_start))
}

/// `<root>/consumequeue`.
pub fn cq_dir(root: &Path) -> PathBuf {
    root.join("consumequeue")
}

/// `<root>/consumequeue/<topic>`.
pub fn cq_topic_dir(root: &Path, topic: &str) -> PathBuf {
    cq_dir(root).join(topic)
}

/// `<root>/consumequeue/<topic>/<queueId>`.
pub fn cq_queue_dir(root: &Path, topic: &str, queue_id: i32) -> PathBuf {
    cq_topic_dir(root, topic).join(queue_id.to_string())
}

/// `<root>/index`.
pub fn index_dir(root: &Path) -> PathBuf {
    root.join("index")
}

/// `<root>/checkpoint`.
pub fn checkpoint_file(root: &Path) -> PathBuf {
    root.join("checkpoint")
}

/// `<root>/lock`: held (flock) by the process that has the store open.
pub fn lock_file(root: &Path) -> PathBuf {
    root.join("lock")
}

/// `<root>/abort`: present while the store runs; left behind by a crash.
pub fn abort_file(root: &Path) -> PathBuf {
    root.join("abort")
}
