// SPDX-License-Identifier: GPL-2.0

//! A managed device's controller: what the work loop, the memory notifier and the online-page
//! handler share, and the requests they send.

use crate::config_io;
use crate::policy::config::DeviceConfig;
use crate::policy::free_watch::Watch;
use crate::policy::offline_budget::OfflineBudget;
use crate::policy::planner::{Planner, Span, Store};
use crate::policy::retry::Backoff;
use crate::policy::run_state::RunState;
use crate::policy::stats::{elapsed_ns, Phase, Stats};
use crate::policy::unanswered::Outcome;
use crate::policy::wire::{self, DeviceBlocks, Request, Response};
use core::fmt;
use core::sync::atomic::AtomicBool;
use kernel::contig::PfnRange;
use kernel::fmt;
use kernel::memory_hotplug::{DeviceRegion, MemoryGroup};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};
use kernel::time::Ktime;
use kernel::virtio;
use kernel::workqueue::OwnedWork;

/// The planner's state lives in kernel vectors.
pub(crate) struct KernelStore;

impl Store for KernelStore {
    type Vec<T> = KVec<T>;

    fn zeroed<T: Clone + Default>(len: usize) -> Option<KVec<T>> {
        KVec::from_elem(T::default(), len, GFP_KERNEL).ok()
    }
}

/// The controller and its work item, which is what callbacks queue.
pub(crate) type ControllerWork = OwnedWork<Controller>;

/// Everything that changes, under one mutex: the C driver's `hotplug_mutex`.
///
/// The work loop holds it for each plug or unplug step on added memory; the memory notifier
/// and the online-page handler take it briefly. Nobody holds it while adding, onlining,
/// offlining or removing memory, which calls back into the notifier.
pub(crate) struct State {
    pub(crate) planner: Planner<KernelStore>,
    /// The unit between a `GOING_ONLINE`/`GOING_OFFLINE` notification and its outcome: the
    /// work loop leaves it alone.
    pub(crate) transition: Option<u64>,
    pub(crate) budget: OfflineBudget,
    pub(crate) backoff: Backoff,
    /// The watch for freed memory, while a run waits for memory in use.
    pub(crate) watch: Watch,
    /// The device's lifecycle and what the next run waits for.
    pub(crate) run: RunState,
    pub(crate) requested: u64,
    pub(crate) usable: u64,
    /// The device's plugged size when a run last read the config, to tell it apart from ours.
    pub(crate) device_plugged: u64,
}

impl State {
    pub(crate) fn new(planner: Planner<KernelStore>, cfg: &DeviceConfig) -> Self {
        let unit = planner.geometry().hotplug_unit();
        Self {
            planner,
            transition: None,
            budget: OfflineBudget::new(unit),
            backoff: Backoff::default(),
            watch: Watch::Off,
            run: RunState::new(cfg.plugged_size),
            requested: cfg.requested_size,
            usable: cfg.usable_region_size,
            device_plugged: cfg.plugged_size,
        }
    }

    /// Bytes plugged, by our own count.
    pub(crate) fn plugged_bytes(&self) -> u64 {
        self.planner.plugged_bytes()
    }
}

/// A managed device: what the work loop, the memory notifier and the online-page handler
/// share.
#[pin_data]
pub(crate) struct Controller {
    pub(crate) handle: virtio::DeviceHandle,
    pub(crate) vq: virtio::Virtqueue,
    /// The device's block size.
    pub(crate) block_size: u64,
    // The group goes before the region it lives in.
    pub(crate) group: MemoryGroup,
    pub(crate) region: Arc<DeviceRegion>,
    #[pin]
    pub(crate) state: Mutex<State>,
    /// Set by the config-change callback, in interrupt context where `state` cannot be
    /// taken; a run that sees it starts over with the new config.
    pub(crate) config_changed: AtomicBool,
    /// What the debugfs files count.
    pub(crate) stats: Stats,
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

impl Controller {
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

    /// Runs `f` and adds the time it took to `phase`'s total in the debugfs file `phase_ns`.
    pub(crate) fn timed<T>(&self, phase: Phase, f: impl FnOnce() -> T) -> T {
        let start = Ktime::ktime_get();
        let out = f();
        let end = Ktime::ktime_get();
        self.stats
            .timed(phase, elapsed_ns(start.to_ns(), end.to_ns()));
        out
    }

    /// Sends `request` and returns the device's answer type: `EPROTO` for an answer outside
    /// the protocol, the virtqueue's errors otherwise (`ETIMEDOUT`: no answer came).
    pub(crate) fn request(&self, request: Request) -> Result<Response> {
        let mut response = [0u8; wire::RESPONSE_SIZE];
        self.stats.sent(&request);
        let len = self.timed(Phase::Request, || {
            self.vq.exchange(&request.encode(), &mut response)
        })?;
        let answer =
            wire::decode_response(&response[..len.min(response.len())]).map_err(|_| EPROTO)?;
        self.stats.answered(answer);
        Ok(answer)
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

    /// The device blocks of `span`.
    pub(crate) fn device_blocks(&self, span: Span) -> Result<DeviceBlocks> {
        Ok(DeviceBlocks {
            addr: span.addr,
            nb_blocks: u16::try_from(span.size / self.block_size)?,
        })
    }

    /// The page frames of `span`.
    pub(crate) fn pfns(&self, span: Span) -> Result<PfnRange> {
        let start = usize::try_from(span.addr)? / PAGE_SIZE;
        PfnRange::from_start(start, usize::try_from(span.size)? / PAGE_SIZE)
    }
}
