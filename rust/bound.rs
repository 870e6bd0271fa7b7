// SPDX-License-Identifier: GPL-2.0

//! A virtio-mem device bound to the driver: what probe sets up and remove takes down.

use crate::config_io;
use crate::hotplug_callbacks::{Notifier, OnlineHandler};
use crate::vm::{State, Vm, VmWork};
use crate::vmcore::config::{self, DeviceConfig, Limits};
use crate::vmcore::geometry::Geometry;
use crate::vmcore::sbm::{MbState, Sbm};
use crate::vmcore::wire::{self, Request};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::c_str;
use kernel::contig::{memory_block_size_bytes, PAGEBLOCK_NR_PAGES};
use kernel::fmt;
use kernel::memory_hotplug::{
    pluggable_range, DeviceRegion, MemoryGroup, MemoryNotifierRegistration, OnlinePageRegistration,
};
use kernel::new_mutex;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;
use kernel::virtio;
use kernel::workqueue;

/// One bound device. Dropped in field order: the callbacks first, then the work and the state
/// they reach.
pub(crate) struct VirtioMem {
    _notifier: Pin<KBox<MemoryNotifierRegistration<Notifier>>>,
    _online: OnlinePageRegistration<OnlineHandler>,
    work: Arc<VmWork>,
}

fn limits() -> Limits {
    let pluggable = pluggable_range(true);
    Limits {
        page_size: PAGE_SIZE as u64,
        pageblock_size: (PAGEBLOCK_NR_PAGES * PAGE_SIZE) as u64,
        memory_block_size: memory_block_size_bytes() as u64,
        pluggable_start: pluggable.start,
        pluggable_end: pluggable.end,
    }
}

/// Zeroed Sub Block Mode storage for `geo`: every block unused.
fn new_sbm(geo: Geometry) -> Result<crate::vm::SbmState> {
    let nb = usize::try_from(geo.nb_mb)?;
    let states = KVec::from_elem(MbState::Unused, nb, GFP_KERNEL)?;
    let words = nb.checked_mul(geo.words_per_mb()).ok_or(EINVAL)?;
    let bitmap = KVec::from_elem(0u64, words, GFP_KERNEL)?;
    Sbm::new(geo, states, bitmap).ok_or(EINVAL)
}

impl VirtioMem {
    /// Validates the device, logs its configuration, reserves its region, registers its memory
    /// group and callbacks, and starts the work loop.
    pub(crate) fn probe(dev: &virtio::Device, vqs: &[virtio::Virtqueue]) -> Result<Self> {
        let vq = vqs.first().ok_or(EINVAL)?.clone();
        let cfg = config_io::read(dev)?;
        let geo = config::validate(&cfg, &limits()).map_err(|e| {
            dev.err(fmt!("refusing the device: {e}"));
            EINVAL
        })?;
        let nid = if dev.has_feature(wire::F_ACPI_PXM) {
            i32::from(cfg.node_id)
        } else {
            0
        };
        log_config(dev, &cfg, &geo, nid);

        let name = CString::try_from_fmt(fmt!("virtio-mem (virtio{})", dev.index()))?;
        // "System RAM (virtio_mem)", the name kexec-tools and kdump know added memory by.
        let region = DeviceRegion::reserve(cfg.addr, cfg.region_size, &name, c_str!("virtio_mem"))
            .inspect_err(|e| {
                if *e == EBUSY {
                    dev.err(fmt!(
                        "could not reserve the device region: it is taken (memory left by an \
                         earlier driver?)"
                    ));
                }
            })?;
        let unit_pages = usize::try_from(geo.mb_size)? / PAGE_SIZE;
        let group = MemoryGroup::register_dynamic(nid, unit_pages)?;
        let state = State::new(new_sbm(geo)?, geo.mb_size, &cfg);
        if state.unplug_all_required {
            dev.info(fmt!("unplugging all memory is required"));
        }
        let handle = dev.handle()?;
        let vm = try_pin_init!(Vm {
            handle,
            vq,
            geo,
            group,
            region,
            state <- new_mutex!(state, "virtio_mem_rs::state"),
            config_changed: AtomicBool::new(false),
            in_run: AtomicBool::new(false),
        }? Error);
        let work = Arc::pin_init(
            kernel::new_owned_work!(vm, workqueue::system_freezable(), "virtio_mem_rs::work"),
            GFP_KERNEL,
        )?;
        let online =
            OnlinePageRegistration::register(Arc::new(OnlineHandler(work.clone()), GFP_KERNEL)?)
                .inspect_err(|_| {
                    dev.err(fmt!(
                        "the online page callback is taken (is the C virtio_mem driver loaded?)"
                    ))
                })?;
        let notifier = KBox::pin_init(
            MemoryNotifierRegistration::new(Notifier(work.clone())),
            GFP_KERNEL,
        )?;
        dev.ready();
        work.run_now();
        Ok(Self {
            _notifier: notifier,
            _online: online,
            work,
        })
    }

    /// The device changed its configuration: a run reads it.
    pub(crate) fn config_changed(&self) {
        self.work.config_changed.store(true, Ordering::Relaxed);
        self.work.run_now();
    }

    /// The device is being removed: stops the work for good, removes the partially plugged
    /// offline blocks (nothing could keep their unplugged parts offline once our callbacks
    /// are gone) and says what is left. Online memory stays: there is no way to take it from
    /// Linux reliably.
    pub(crate) fn remove(&self, dev: &virtio::Device) {
        let vm: &Vm = &self.work;
        // Refuse onlining and offlining of our blocks from now on.
        vm.state.lock().removing = true;
        self.work.disable_sync();
        for mb in 0..vm.geo.nb_mb {
            if vm.state.lock().sbm.state(mb) != MbState::OfflinePartial {
                continue;
            }
            let addr = vm.mb_addr(mb);
            match vm.region.remove_memory(addr, vm.geo.mb_size) {
                Ok(()) => vm.state.lock().sbm.record_removed(mb),
                Err(e) => dev.warn(fmt!("could not remove memory block {addr:#x}: {e:?}")),
            }
        }
        let (plugged, added) = {
            let st = vm.state.lock();
            (st.plugged_bytes(), vm.region.added_bytes())
        };
        if added == 0 {
            if plugged > 0 && vm.request_ack(Request::UnplugAll).is_ok() {
                dev.info(fmt!("unplugged {plugged:#x} that Linux no longer used"));
            }
            dev.info(fmt!("removed: no memory left added"));
        } else {
            dev.warn(fmt!(
                "removed with {added:#x} of memory still added ({plugged:#x} plugged): it stays \
                 plugged and in use by Linux, and the device region stays reserved until reboot"
            ));
        }
    }
}

/// Logs the configuration the driver works with, in one place, like the C driver.
fn log_config(dev: &virtio::Device, cfg: &DeviceConfig, geo: &Geometry, nid: i32) {
    dev.info(fmt!("start address: {:#x}", cfg.addr));
    dev.info(fmt!("region size: {:#x}", cfg.region_size));
    dev.info(fmt!("device block size: {:#x}", cfg.block_size));
    dev.info(fmt!("nid: {nid}"));
    dev.info(fmt!("memory block size: {:#x}", geo.mb_size));
    dev.info(fmt!("subblock size: {:#x}", geo.sb_size));
    dev.info(fmt!("plugged size: {:#x}", cfg.plugged_size));
    dev.info(fmt!("requested size: {:#x}", cfg.requested_size));
}
