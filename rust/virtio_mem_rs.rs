// SPDX-License-Identifier: GPL-2.0

//! Guest driver for virtio-mem devices, written in Rust.
//!
//! It plugs and unplugs memory toward the size the device requests, in subblocks of memory
//! blocks (Sub Block Mode) or in big blocks of whole memory blocks (Big Block Mode), as
//! `drivers/virtio/virtio_mem.c` does. The decisions live in the pure core, `core/` (the
//! `policy` module here), which also builds and is tested on the host; the files here are the
//! glue that executes them with the kernel, through the safe abstractions of the patch series,
//! without `unsafe`, and without naming a mode.

// The series' names are `core::ffi::CStr`, as upstream's `CStr` is now: `c"name"` literals.
use core::ffi::CStr;
use kernel::debugfs::Dir;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::virtio::{self, DeviceId};

mod bound;
mod config_io;
mod controller;
mod device_files;
mod hotplug_callbacks;
#[cfg(CONFIG_PROC_VMCORE)]
mod kdump;
mod params;
#[cfg(CONFIG_PM_SLEEP)]
mod sleep;
mod work_loop;

// The driver's decisions, shared with the host tests (`rust/core/Cargo.toml`). Not `vmcore`:
// that is kdump's `/proc/vmcore` in this very driver.
#[path = "core/mod.rs"]
pub mod policy;

kernel::module_virtio_driver! {
    driver: VirtioMemDriver,
    ids: [DeviceId::new(VIRTIO_ID_MEM)],
    name: "virtio_mem_rs",
    author: "virtio-mem-rs developers",
    description: "Virtio-mem driver (Rust)",
    license: "GPL",
    // C's names, types, defaults, descriptions and permissions.
    params: {
        unplug_online: bool {
            default: true,
            description: "Try to unplug online memory",
            perm: 0o644,
        },
        force_bbm: bool {
            default: false,
            description: "Force Big Block Mode. Default is 0 (auto-selection)",
            perm: 0o444,
        },
        bbm_block_size: u64 {
            default: 0,
            description: "Big Block size in bytes. Default is 0 (auto-detection).",
            perm: 0o444,
        },
        unplug_least_used_first: bool {
            default: true,
            description: "Unplug the online memory with the fewest used pages first. Default is 1 (0: highest first, as virtio_mem)",
            perm: 0o644,
        },
    },
}

/// `s`, built at run time, as the `core::ffi::CStr` the series' APIs take names as (upstream's
/// `CString` derefs to one, so a forward port drops this). A `CString` ends in its only NUL, so
/// this does not fail.
pub(crate) fn core_cstr(s: &CString) -> Result<&CStr> {
    CStr::from_bytes_with_nul(s.as_bytes_with_nul()).map_err(|_| EINVAL)
}

/// The virtio device type of memory devices.
const VIRTIO_ID_MEM: u32 = 24;

struct VirtioMemDriver;

/// What every device of the driver shares.
pub(crate) struct Shared {
    /// `virtio_mem_rs/` in debugfs, which holds a directory per device.
    pub(crate) debugfs: Dir,
}

#[vtable]
impl virtio::Driver for VirtioMemDriver {
    type Data = bound::VirtioMem;
    type Shared = Shared;
    const NAME: &'static CStr = c"virtio_mem_rs";
    const FEATURES: &'static [u32] = &[
        policy::wire::F_UNPLUGGED_INACCESSIBLE,
        // Without ACPI NUMA there is no proximity domain to translate (as in C).
        #[cfg(all(CONFIG_NUMA, CONFIG_ACPI_NUMA))]
        policy::wire::F_ACPI_PXM,
        policy::wire::F_PERSISTENT_SUSPEND,
    ];
    const VIRTQUEUES: &'static [&'static CStr] = &[c"guest-request"];

    /// Refuses to load with bad parameters.
    fn init() -> Result<Shared> {
        params::check()?;
        Ok(Shared {
            debugfs: Dir::new(c"virtio_mem_rs"),
        })
    }

    fn probe(
        dev: &virtio::Device,
        vqs: &[virtio::Virtqueue],
        shared: &Shared,
    ) -> Result<Self::Data> {
        bound::VirtioMem::probe(dev, vqs, shared)
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
