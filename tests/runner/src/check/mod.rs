//! `vmrs-runner check` and `run`: the VM test cases, one boot per case and driver, and the
//! demo's report.

pub mod cases;
pub mod report;
pub mod suite;
