// SPDX-License-Identifier: GPL-2.0

//! A virtio-mem device bound to the driver: what probe sets up and remove takes down.

use crate::config_io;
use crate::controller::{Controller, ControllerWork, State};
use crate::device_files::DeviceFiles;
use crate::hotplug_callbacks::{Notifier, OnlineHandler};
#[cfg(CONFIG_PROC_VMCORE)]
use crate::kdump::KdumpView;
use crate::params;
use crate::policy::config::{self, DeviceConfig, Limits};
use crate::policy::geometry::Geometry;
use crate::policy::planner::Planner;
use crate::policy::stats::Stats;
use crate::policy::wire::{self, Request};
use crate::{core_cstr, Shared};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::contig::{memory_block_size_bytes, PAGEBLOCK_NR_PAGES};
use kernel::crash_dump::is_kdump_kernel;
use kernel::fmt;
use kernel::memory_hotplug::{
    memmap_on_memory_bytes, node_of_physaddr, node_of_proximity_domain, pluggable_range,
    DeviceRegion, MemoryGroup, MemoryNotifierRegistration, OnlinePageRegistration,
};
use kernel::new_mutex;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;
use kernel::virtio;
use kernel::workqueue;
#[cfg(CONFIG_PM_SLEEP)]
use {
    crate::policy::sleep::{may_sleep, Sleep},
    kernel::suspend::{target_is_suspend_to_idle, PmNotifierRegistration},
};

/// One bound device.
pub(crate) enum VirtioMem {
    /// Plugging and unplugging toward the requested size.
    Managed(Managed),
    /// In a kdump kernel: left as the crashed kernel left it (see `policy::kdump`).
    #[cfg(CONFIG_PROC_VMCORE)]
    Kdump { _view: KdumpView },
}

impl VirtioMem {
    /// Binds the device: in a kdump kernel only to answer `/proc/vmcore`, as C does.
    pub(crate) fn probe(
        dev: &virtio::Device,
        vqs: &[virtio::Virtqueue],
        shared: &Shared,
    ) -> Result<Self> {
        let vq = vqs.first().ok_or(EINVAL)?.clone();
        let cfg = config_io::read(dev)?;
        if is_kdump_kernel() {
            #[cfg(CONFIG_PROC_VMCORE)]
            return Ok(Self::Kdump {
                _view: KdumpView::probe(dev, vq, &cfg)?,
            });
            #[cfg(not(CONFIG_PROC_VMCORE))]
            {
                dev.warn(fmt!("disabled in kdump kernel without vmcore"));
                return Err(EBUSY);
            }
        }
        Ok(Self::Managed(Managed::probe(dev, vq, cfg, shared)?))
    }

    /// The device changed its configuration: a run reads it (in a kdump kernel, nothing).
    pub(crate) fn config_changed(&self) {
        if let Self::Managed(m) = self {
            m.config_changed();
        }
    }

    pub(crate) fn remove(&self, dev: &virtio::Device) {
        if let Self::Managed(m) = self {
            m.remove(dev);
        }
    }

    /// The system is about to sleep; a kdump kernel does not suspend, but nothing in it
    /// depends on the device's plugged memory staying.
    #[cfg(CONFIG_PM_SLEEP)]
    pub(crate) fn freeze(&self, dev: &virtio::Device) -> Result {
        match self {
            Self::Managed(m) => m.freeze(dev),
            #[cfg(CONFIG_PROC_VMCORE)]
            Self::Kdump { .. } => Ok(()),
        }
    }

    #[cfg(CONFIG_PM_SLEEP)]
    pub(crate) fn restore(&self) {
        self.config_changed();
    }
}

/// A device the driver plugs and unplugs. Dropped in field order: the callbacks first, then
/// the work and the state they reach.
pub(crate) struct Managed {
    _files: DeviceFiles,
    #[cfg(CONFIG_PM_SLEEP)]
    _sleep: Pin<KBox<PmNotifierRegistration<crate::sleep::NoHibernation>>>,
    _notifier: Pin<KBox<MemoryNotifierRegistration<Notifier>>>,
    _online: OnlinePageRegistration<OnlineHandler>,
    work: Arc<ControllerWork>,
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

impl Managed {
    /// Validates the device, logs its configuration, reserves its region, registers its memory
    /// group and callbacks, and starts the work loop.
    fn probe(
        dev: &virtio::Device,
        vq: virtio::Virtqueue,
        cfg: DeviceConfig,
        shared: &Shared,
    ) -> Result<Self> {
        let geo = config::validate(&cfg, &limits(), params::mode(), params::bbm_block_size())
            .map_err(|e| {
                dev.err(fmt!("refusing the device: {e}"));
                EINVAL
            })?;
        // The device names an ACPI proximity domain, not a node: translate it as C does, and
        // fall back to the node of the region's start.
        let nid = dev
            .has_feature(wire::F_ACPI_PXM)
            .then(|| node_of_proximity_domain(u32::from(cfg.node_id)))
            .flatten()
            .unwrap_or_else(|| node_of_physaddr(cfg.addr));
        log_config(dev, &cfg, &geo, nid);

        let name = CString::try_from_fmt(fmt!("virtio-mem (virtio{})", dev.index()))?;
        let name = core_cstr(&name)?;
        // "System RAM (virtio_mem)", the name kexec-tools and kdump know added memory by.
        let region = DeviceRegion::reserve(cfg.addr, cfg.region_size, name, c"virtio_mem")
            .inspect_err(|e| {
                if *e == EBUSY {
                    dev.err(fmt!(
                        "could not reserve the device region: it is taken (memory left by an \
                         earlier driver?)"
                    ));
                }
            })?;
        // One unit of the group is what the driver adds at once, as in C.
        let unit_pages = usize::try_from(geo.hotplug_unit())? / PAGE_SIZE;
        let group = MemoryGroup::register_dynamic(nid, unit_pages)?;
        let mut planner = Planner::new(&geo).ok_or(ENOMEM)?;
        // With `memory_hotplug.memmap_on_memory`, each block added holds its own memory map, so
        // a guest with little memory can add far more than its boot memory could map.
        if let Some(bytes) = memmap_on_memory_bytes() {
            let bytes = u64::try_from(bytes)?;
            if planner.set_memmap_bytes(bytes) {
                dev.info(fmt!(
                    "memory map on the added memory: the first {bytes:#x} bytes of each block"
                ));
            } else {
                dev.info(fmt!(
                    "memory map in online memory: the kernel offers it on the added memory, but Big \
                     Block Mode takes whole blocks out of use, the map's pages with them"
                ));
            }
        }
        if cfg.plugged_size > 0 {
            dev.info(fmt!("unplugging all memory is required"));
        }
        let state = State::new(planner, &cfg);
        let handle = dev.handle()?;
        let controller = try_pin_init!(Controller {
            handle,
            vq,
            block_size: cfg.block_size,
            group,
            region,
            state <- new_mutex!(state, "virtio_mem_rs::state"),
            config_changed: AtomicBool::new(false),
            stats: Stats::default(),
        }? Error);
        let work = Arc::pin_init(
            kernel::new_owned_work!(
                controller,
                workqueue::system_freezable(),
                "virtio_mem_rs::work"
            ),
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
        // Before the C driver's notifier would: first in the chain, so that hibernation is
        // refused before anyone prepares for it.
        #[cfg(CONFIG_PM_SLEEP)]
        let sleep = KBox::pin_init(
            PmNotifierRegistration::new(crate::sleep::NoHibernation(dev.handle()?), i32::MAX),
            GFP_KERNEL,
        )?;
        let files = DeviceFiles::new(&shared.debugfs, dev.index(), &work)?;
        dev.ready();
        work.run_now();
        Ok(Self {
            _files: files,
            #[cfg(CONFIG_PM_SLEEP)]
            _sleep: sleep,
            _notifier: notifier,
            _online: online,
            work,
        })
    }

    /// The system is about to sleep: refuses suspend to RAM with memory plugged (see
    /// `policy::sleep`). The work is frozen meanwhile (`system_freezable`).
    #[cfg(CONFIG_PM_SLEEP)]
    pub(crate) fn freeze(&self, dev: &virtio::Device) -> Result {
        let plugged = {
            let st = self.work.state.lock();
            // The device's count too: memory plugged before probe may not be unplugged yet.
            st.plugged_bytes().max(st.device_plugged)
        };
        let sleep = if target_is_suspend_to_idle() {
            Sleep::ToIdle
        } else {
            Sleep::Suspend
        };
        may_sleep(sleep, plugged, dev.has_feature(wire::F_PERSISTENT_SUSPEND)).map_err(|r| {
            dev.err(fmt!("{}", r.message()));
            EPERM
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
        let c: &Controller = &self.work;
        // Refuse onlining and offlining of our memory from now on.
        c.state.lock().run.removing();
        self.work.disable_sync();
        let units = c.state.lock().planner.units();
        for unit in 0..units {
            let span = {
                let st = c.state.lock();
                if !st.planner.offline_partial(unit) {
                    continue;
                }
                st.planner.unit_span(unit)
            };
            match c.region.remove_memory(span.addr, span.size) {
                Ok(()) => c.state.lock().planner.record_removed(unit),
                Err(e) => dev.warn(fmt!("could not remove memory at {:#x}: {e:?}", span.addr)),
            }
        }
        let (plugged, added) = {
            let st = c.state.lock();
            (st.plugged_bytes(), c.region.added_bytes())
        };
        if added == 0 {
            if plugged > 0 && c.request_ack(Request::UnplugAll).is_ok() {
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
    dev.info(fmt!("memory block size: {:#x}", geo.region.mb_size));
    let (unit, size) = geo.unit_for_log();
    dev.info(fmt!("{unit}: {size:#x}"));
    dev.info(fmt!("plugged size: {:#x}", cfg.plugged_size));
    dev.info(fmt!("requested size: {:#x}", cfg.requested_size));
}
