// SPDX-License-Identifier: GPL-2.0

//! Guest driver for virtio-mem devices, written in Rust.
//!
//! This first version only loads, logs and unloads: it is what the test
//! harness proves itself with until the driver proper lands.

use kernel::prelude::*;

// The driver's decisions, shared with the host tests (`rust/core/Cargo.toml`).
#[path = "core/mod.rs"]
pub mod vmcore;

module! {
    type: VirtioMemRs,
    name: "virtio_mem_rs",
    author: "virtio-mem-rs developers",
    description: "Virtio-mem driver (Rust)",
    license: "GPL",
}

struct VirtioMemRs;

impl kernel::Module for VirtioMemRs {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        pr_info!("loaded (no device handling yet)\n");
        Ok(VirtioMemRs)
    }
}

impl Drop for VirtioMemRs {
    fn drop(&mut self) {
        pr_info!("unloaded\n");
    }
}
