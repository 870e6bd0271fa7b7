// SPDX-License-Identifier: GPL-2.0

//! Guest driver for virtio-mem devices, written in Rust.
//!
//! It plugs and unplugs memory in subblocks (Sub Block Mode) toward the size the device
//! requests, as `drivers/virtio/virtio_mem.c` does. The decisions live in `core/`, which also
//! builds and is tested on the host; the files here connect them to the kernel through the
//! safe abstractions of the patch series, without `unsafe`.

use kernel::c_str;
use kernel::prelude::*;
use kernel::virtio::{self, DeviceId};

mod bound;
mod config_io;
mod hotplug_callbacks;
#[cfg(CONFIG_PROC_VMCORE)]
mod kdump;
#[cfg(CONFIG_PM_SLEEP)]
mod sleep;
mod vm;
mod work_loop;

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
        // Without ACPI NUMA there is no proximity domain to translate (as in C).
        #[cfg(all(CONFIG_NUMA, CONFIG_ACPI_NUMA))]
        vmcore::wire::F_ACPI_PXM,
        vmcore::wire::F_PERSISTENT_SUSPEND,
    ];
    const VIRTQUEUES: &'static [&'static CStr] = &[c_str!("guest-request")];

    fn probe(dev: &virtio::Device, vqs: &[virtio::Virtqueue]) -> Result<Self::Data> {
        bound::VirtioMem::probe(dev, vqs)
    }

    fn remove(dev: &virtio::Device, data: &Self::Data) {
        data.remove(dev);
    }

    fn config_changed(_dev: &virtio::Device, data: &Self::Data) {
        data.config_changed();
    }

    #[cfg(CONFIG_PM_SLEEP)]
    fn freeze(dev: &virtio::Device, data: &Self::Data) -> Result {
        data.freeze(dev)
    }

    #[cfg(CONFIG_PM_SLEEP)]
    fn restore(_dev: &virtio::Device, data: &Self::Data) -> Result {
        data.restore();
        Ok(())
    }
}
