//! `rmq-tools`: operator and test tooling (mqadmin-style CLI, suites). Grows with issues 4-7.
