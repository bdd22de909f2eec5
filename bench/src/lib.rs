//! `rmq-bench`: shared code of the load generator (issue 6) and the micro-benchmarks.
//!
//! - [`stats`]: counters, HDR histograms, the live line and the final report.
//! - [`null_server`]: the store-nothing NameServer + broker that measures the client's ceiling.
//! - [`load`]: the produce, consume and end-to-end drivers the `rmq-bench` binary runs.
//! - [`fixtures`]: sample frames shared by the codec benchmarks and tests.

pub mod fixtures;
pub mod load;
pub mod null_server;
pub mod stats;
