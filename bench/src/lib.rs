//! `rmq-bench`: shared code of the load generator (issue 6) and the micro-benchmarks.
