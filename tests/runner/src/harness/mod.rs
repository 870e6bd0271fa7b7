//! What runs one guest: QEMU and its monitor, the command channel, the guest's TAP and the
//! kernel log's reports.

pub mod channel;
pub mod logscan;
pub mod qemu;
pub mod qmp;
pub mod tap;
