//! `rmq-engine`: the storage engine of one shard (CommitLog, ConsumeQueue, IndexFile,
//! checkpoint, recovery, flush, retention). Being built under issue 3.
