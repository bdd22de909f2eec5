//! `rmq-engine`: the storage engine of one shard.
pub mod config;
pub mod consume_queue;
pub mod error;
pub mod io;
pub mod limits;
pub mod offsets;
pub mod sync;
