//! `rmq-tools`: operator and test tooling. This crate holds the fault tooling of issue 7:
//! - [`remoting`]: a small blocking remoting client and the requests the tools send;
//! - [`broker_process`]: running the real `rmq-broker` (start, `kill -9`, SIGTERM, RSS, logs);
//! - [`crash`]: the crash test behind `rmq-crash-test` (acknowledged messages survive `kill -9`);
//! - [`hostile`]: hostile inputs for the live server and the reaction each must get.

pub mod broker_process;
pub mod crash;
pub mod hostile;
pub mod remoting;
