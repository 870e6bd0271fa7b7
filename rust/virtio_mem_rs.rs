// SPDX-License-Identifier: GPL-2.0

//! Guest driver for virtio-mem devices, written in Rust.
//!
//! This version binds the device: it validates and logs the configuration, reserves the device
//! region, registers a memory group and unplugs whatever the device reports plugged at probe.
//! Plugging and unplugging toward the requested size (the work loop and Sub Block Mode) come
//! next; the decisions they need are in `core/`.

use kernel::c_str;
use kernel::prelude::*;
use kernel::virtio::{self, DeviceId};

mod bound;
mod config_io;

// The driver's decisions, shared with the host tests (`rust/core/Cargo.toml`).
#[path = "core/mod.rs"]
pub mod vmcore;

kernel::module_virtio_driver! {
    driver: VirtioMemDriver,
    ids: [DeviceId::new(VIRTIO_ID_MEM)],
    name: "virtio_mem_rs",
    author: "virtio-mem-rs developers",
    description: "Virtio-mem driver (Rust)",
    license: "GPL",
}

/// The virtio device type of memory devices.
const VIRTIO_ID_MEM: u32 = 24;

struct VirtioMemDriver;

#[vtable]
impl virtio::Driver for VirtioMemDriver {
    type Data = bound::VirtioMem;
    const NAME: &'static CStr = c_str!("virtio_mem_rs");
    const FEATURES: &'static [u32] = &[
        vmcore::wire::F_UNPLUGGED_INACCESSIBLE,
        #[cfg(CONFIG_NUMA)]
        vmcore::wire::F_ACPI_PXM,
    ];
    const VIRTQUEUES: &'static [&'static CStr] = &[c_str!("guest-request")];

    fn probe(dev: &virtio::Device, vqs: &[virtio::Virtqueue]) -> Result<Self::Data> {
        bound::VirtioMem::probe(dev, vqs)
    }

    fn remove(dev: &virtio::Device, data: &Self::Data) {
        data.remove(dev);
    }
}
