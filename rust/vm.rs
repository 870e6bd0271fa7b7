// SPDX-License-Identifier: GPL-2.0

//! What the work loop, the memory notifier and the online-page handler share for one device.

use crate::config_io;
use crate::vmcore::config::DeviceConfig;
use crate::vmcore::geometry::Geometry;
use crate::vmcore::offline_budget::OfflineBudget;
use crate::vmcore::retry::Backoff;
use crate::vmcore::sbm::{MbState, SbRange, Sbm};
use crate::vmcore::unanswered::Outcome;
use crate::vmcore::wire::{self, DeviceBlocks, Request, Response};
use core::fmt;
use core::sync::atomic::AtomicBool;
use kernel::contig::PfnRange;
use kernel::fmt;
use kernel::memory_hotplug::{DeviceRegion, MemoryGroup};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::virtio;
use kernel::workqueue::OwnedWork;

/// The Sub Block Mode state in kernel memory.
pub(crate) type SbmState = Sbm<KVec<MbState>, KVec<u64>>;

/// The device and its work item, which is what callbacks queue.
pub(crate) type VmWork = OwnedWork<Vm>;

/// Everything that changes, under one mutex: the C driver's `hotplug_mutex`.
///
/// The work loop holds it for each plug or unplug step on added memory; the memory notifier
/// and the online-page handler take it briefly. Nobody holds it while adding, onlining,
/// offlining or removing memory, which calls back into the notifier.
pub(crate) struct State {
    pub(crate) sbm: SbmState,
    /// The memory block between a `GOING_ONLINE`/`GOING_OFFLINE` notification and its outcome:
    /// the work loop leaves it alone, and the outcome queues the work again.
    pub(crate) transition: Option<u64>,
    pub(crate) budget: OfflineBudget,
    pub(crate) backoff: Backoff,
    /// The device had memory plugged at probe: `UNPLUG_ALL` comes first.
    pub(crate) unplug_all_required: bool,
    /// The device answered ERROR or broke its protocol: nothing more is asked of it.
    pub(crate) broken: bool,
    /// The driver is being removed: no onlining or offlining of our blocks any more.
    pub(crate) removing: bool,
    /// A run stopped because too much added memory waits offline.
    pub(crate) waiting_for_online: bool,
    /// A run stopped because one of our blocks was going on- or offline.
    pub(crate) resume_after_transition: bool,
    pub(crate) requested: u64,
    pub(crate) usable: u64,
    /// The device's plugged size when a run last read the config, to tell it apart from ours.
    pub(crate) device_plugged: u64,
}

impl State {
    pub(crate) fn new(sbm: SbmState, mb_size: u64, cfg: &DeviceConfig) -> Self {
        Self {
            sbm,
            transition: None,
            budget: OfflineBudget::new(mb_size),
            backoff: Backoff::default(),
            unplug_all_required: cfg.plugged_size > 0,
            broken: false,
            removing: false,
            waiting_for_online: false,
            resume_after_transition: false,
            requested: cfg.requested_size,
            usable: cfg.usable_region_size,
            device_plugged: cfg.plugged_size,
        }
    }

    /// Bytes plugged, by our own count.
    pub(crate) fn plugged_bytes(&self) -> u64 {
        self.sbm.plugged_subblocks() * self.sbm.geometry().sb_size
    }
}

/// One bound device.
#[pin_data]
pub(crate) struct Vm {
    pub(crate) handle: virtio::DeviceHandle,
    pub(crate) vq: virtio::Virtqueue,
    pub(crate) geo: Geometry,
    // The group goes before the region it lives in.
    pub(crate) group: MemoryGroup,
    pub(crate) region: Arc<DeviceRegion>,
    #[pin]
    pub(crate) state: Mutex<State>,
    /// Set by the config-change callback; a run that sees it starts over with the new config.
    pub(crate) config_changed: AtomicBool,
    /// A run is in progress: notifications it causes itself need no new run.
    pub(crate) in_run: AtomicBool,
}

/// Why a request did not go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// NACK or BUSY: the device may take it later.
    Later(Response),
    /// ERROR, a malformed answer or a dead virtqueue: the device is unusable.
    Broken(Outcome),
}

impl Refused {
    /// How the request ended, for what it leaves behind.
    pub(crate) fn outcome(self) -> Outcome {
        match self {
            Refused::Later(r) => Outcome::Answered(r),
            Refused::Broken(o) => o,
        }
    }
}

impl Vm {
    /// Logs through the device while it is bound.
    pub(crate) fn info(&self, args: fmt::Arguments<'_>) {
        let _ = self.handle.with(|dev| dev.info(args));
    }

    pub(crate) fn warn(&self, args: fmt::Arguments<'_>) {
        let _ = self.handle.with(|dev| dev.warn(args));
    }

    pub(crate) fn err(&self, args: fmt::Arguments<'_>) {
        let _ = self.handle.with(|dev| dev.err(args));
    }

    /// Reads the device's configuration; `ENODEV` once it is unbound.
    pub(crate) fn read_config(&self) -> Result<DeviceConfig> {
        self.handle.with(config_io::read)?
    }

    /// Sends `request` and returns the device's answer type: `EPROTO` for an answer outside
    /// the protocol, the virtqueue's errors otherwise (`ETIMEDOUT`: no answer came).
    pub(crate) fn request(&self, request: Request) -> Result<Response> {
        let mut response = [0u8; wire::RESPONSE_SIZE];
        let len = self.vq.exchange(&request.encode(), &mut response)?;
        wire::decode_response(&response[..len.min(response.len())]).map_err(|_| EPROTO)
    }

    /// Sends `request`, which must be acknowledged.
    pub(crate) fn request_ack(&self, request: Request) -> Result<(), Refused> {
        match self.request(request) {
            Ok(Response::Ack) => Ok(()),
            Ok(r @ (Response::Nack | Response::Busy)) => Err(Refused::Later(r)),
            Ok(Response::Error) => {
                self.err(fmt!("device answered ERROR to {request:?}"));
                Err(Refused::Broken(Outcome::Answered(Response::Error)))
            }
            // The request went out and nothing came back: its effect is unknown.
            Err(e) if e == ETIMEDOUT => {
                self.err(fmt!("the device did not answer {request:?}"));
                Err(Refused::Broken(Outcome::NoAnswer))
            }
            // An answer outside the protocol: what the device did is unknown too.
            Err(e) if e == EPROTO => {
                self.err(fmt!("the device answered {request:?} outside the protocol"));
                Err(Refused::Broken(Outcome::NoAnswer))
            }
            Err(e) => {
                self.err(fmt!("request {request:?} failed: {e:?}"));
                Err(Refused::Broken(Outcome::NotSent))
            }
        }
    }

    /// The device blocks of subblocks `range`.
    pub(crate) fn device_blocks(&self, range: SbRange) -> Result<DeviceBlocks> {
        Ok(DeviceBlocks {
            addr: self.geo.sb_addr(range.mb, range.first),
            nb_blocks: u16::try_from(self.geo.device_blocks(range.count))?,
        })
    }

    /// The page frames of subblocks `range`.
    pub(crate) fn pfns(&self, range: SbRange) -> Result<PfnRange> {
        let start = usize::try_from(self.geo.sb_addr(range.mb, range.first))? / PAGE_SIZE;
        let bytes = u64::from(range.count) * self.geo.sb_size;
        PfnRange::from_start(start, usize::try_from(bytes)? / PAGE_SIZE)
    }

    /// The physical address of memory block `mb`.
    pub(crate) fn mb_addr(&self, mb: u64) -> u64 {
        self.geo.mb_addr(mb)
    }
}
