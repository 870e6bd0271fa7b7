// SPDX-License-Identifier: GPL-2.0

//! A virtio-mem device bound to the driver: what probe sets up and remove takes down.

use crate::config_io;
use crate::vmcore::config::{self, DeviceConfig, Limits};
use crate::vmcore::geometry::Geometry;
use crate::vmcore::wire::{self, Request, Response};
use kernel::contig::{memory_block_size_bytes, PAGEBLOCK_NR_PAGES};
use kernel::fmt;
use kernel::memory_hotplug::{DeviceRegion, MemoryGroup};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;
use kernel::virtio;

/// One bound device.
pub(crate) struct VirtioMem {
    vq: virtio::Virtqueue,
    geometry: Geometry,
    // Dropped in this order: the group before the region it lives in.
    _group: MemoryGroup,
    _region: Arc<DeviceRegion>,
}

fn limits() -> Limits {
    Limits {
        page_size: PAGE_SIZE as u64,
        pageblock_size: (PAGEBLOCK_NR_PAGES * PAGE_SIZE) as u64,
        memory_block_size: memory_block_size_bytes() as u64,
        // TODO(driver issue): mhp_get_pluggable_range() is not wrapped by the series yet; until
        // it is, the reservation is what refuses a region where nothing can be added.
        pluggable_start: 0,
        pluggable_end: u64::MAX,
    }
}

impl VirtioMem {
    /// Validates the device, logs its configuration, reserves its region, registers its memory
    /// group and unplugs whatever the device has plugged.
    pub(crate) fn probe(dev: &virtio::Device, vqs: &[virtio::Virtqueue]) -> Result<Self> {
        let vq = vqs.first().ok_or(EINVAL)?.clone();
        let cfg = config_io::read(dev)?;
        let geometry = config::validate(&cfg, &limits()).map_err(|e| {
            dev.err(fmt!("refusing the device: {e}"));
            EINVAL
        })?;
        let nid = if dev.has_feature(wire::F_ACPI_PXM) {
            i32::from(cfg.node_id)
        } else {
            0
        };
        log_config(dev, &cfg, &geometry, nid);

        let name = CString::try_from_fmt(fmt!("virtio{}", dev.index()))?;
        let region = DeviceRegion::reserve(cfg.addr, cfg.region_size, &name).inspect_err(|e| {
            if *e == EBUSY {
                dev.warn(fmt!("could not reserve the device region: it is taken"));
            }
        })?;
        let unit_pages = usize::try_from(geometry.mb_size)? / PAGE_SIZE;
        let group = MemoryGroup::register_dynamic(nid, unit_pages)?;
        dev.ready();
        let this = Self {
            vq,
            geometry,
            _group: group,
            _region: region,
        };
        // Start from a clean device, as the state starts with every block unused: memory
        // plugged before we came (an earlier driver, kexec) is not ours to trust. With nothing
        // plugged the device acknowledges at once, which also proves the virtqueue before any
        // memory depends on it; a device that never answers fails the probe after a minute.
        match this.request(Request::UnplugAll)? {
            Response::Ack if cfg.plugged_size > 0 => dev.info(fmt!(
                "unplugged {:#x} plugged before probe",
                cfg.plugged_size
            )),
            Response::Ack => {}
            // BUSY or NACK: the work loop retries (until it exists, the device keeps it).
            other => dev.warn(fmt!("unplugging all memory at probe: {other:?}")),
        }
        Ok(this)
    }

    /// Sends one request and reads the response type.
    fn request(&self, request: Request) -> Result<Response> {
        let mut response = [0u8; wire::RESPONSE_SIZE];
        let len = self.vq.exchange(&request.encode(), &mut response)?;
        wire::decode_response(&response[..len.min(response.len())]).map_err(|_| EIO)
    }

    /// The device is being removed: nothing is plugged yet that would need handling.
    pub(crate) fn remove(&self, dev: &virtio::Device) {
        dev.info(fmt!(
            "removing: {} memory blocks managed",
            self.geometry.nb_mb
        ));
    }
}

/// Logs the configuration the driver works with, in one place, like the C driver.
fn log_config(dev: &virtio::Device, cfg: &DeviceConfig, geometry: &Geometry, nid: i32) {
    dev.info(fmt!("start address: {:#x}", cfg.addr));
    dev.info(fmt!("region size: {:#x}", cfg.region_size));
    dev.info(fmt!("device block size: {:#x}", cfg.block_size));
    dev.info(fmt!("nid: {nid}"));
    dev.info(fmt!("memory block size: {:#x}", geometry.mb_size));
    dev.info(fmt!("subblock size: {:#x}", geometry.sb_size));
    dev.info(fmt!("plugged size: {:#x}", cfg.plugged_size));
    dev.info(fmt!("requested size: {:#x}", cfg.requested_size));
}
