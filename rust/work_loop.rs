// SPDX-License-Identifier: GPL-2.0

//! The work loop: each run reads the configuration and plugs or unplugs subblocks toward the
//! requested size, one step at a time, as `virtio_mem_run_wq()` does.

use crate::vm::{Refused, State, Vm, VmWork};
use crate::vmcore::sbm::{PlugStep, SbRange, UnplugStep};
use crate::vmcore::target::{target, Target};
use crate::vmcore::unanswered::{taken_pages_after, TakenPages};
use crate::vmcore::wire::Request;
use core::sync::atomic::Ordering;
use kernel::alloc::flags::{__GFP_NOWARN, GFP_KERNEL};
use kernel::contig::{zone_is_movable, Alignment, ContigRange};
use kernel::fmt;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::workqueue::OwnedWorkItem;

/// Why a run stopped before reaching the requested size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The config changed: start over at once.
    Restart,
    /// The device or the kernel said "not now" (NACK, BUSY, `-EBUSY`, `-ENOMEM`): the retry
    /// timer brings the next run.
    Later,
    /// Nothing to do until memory is onlined (too much waits offline) or a memory block
    /// finishes going on- or offline: the memory notifier brings the next run.
    Notified,
    /// Nothing more fits in the usable region: the next config change brings the next run.
    Full,
    /// The device or our bookkeeping is broken: no more runs.
    Broken,
    /// The device is gone.
    Gone,
}

impl From<Refused> for Stop {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Later(_) => Stop::Later,
            Refused::Broken(_) => Stop::Broken,
        }
    }
}

/// How many times `alloc_contig_range()` is tried on ZONE_MOVABLE before a subblock counts as
/// busy: the zone promises movability, so transient failures (pinned or per-cpu pages) are
/// worth another try, as in the C driver.
const MOVABLE_ALLOC_TRIES: u32 = 5;

impl OwnedWorkItem for Vm {
    fn run(work: &VmWork) {
        let vm: &Vm = work;
        vm.in_run.store(true, Ordering::Relaxed);
        let stop = loop {
            match vm.run_once() {
                Err(Stop::Restart) => continue,
                other => break other,
            }
        };
        vm.in_run.store(false, Ordering::Relaxed);
        let mut st = vm.state.lock();
        match stop {
            Ok(()) => st.backoff.reset(),
            Err(Stop::Later) => {
                let ms = st.backoff.next_delay_ms();
                drop(st);
                work.run_after(u32::try_from(ms).unwrap_or(u32::MAX));
            }
            Err(Stop::Broken) => {
                if !st.broken {
                    st.broken = true;
                    drop(st);
                    vm.err(fmt!(
                        "marking the device broken: no more plugging or unplugging"
                    ));
                }
            }
            Err(Stop::Notified | Stop::Full | Stop::Gone | Stop::Restart) => {}
        }
    }
}

impl Vm {
    /// One pass toward the requested size.
    fn run_once(&self) -> Result<(), Stop> {
        self.config_changed.store(false, Ordering::Relaxed);
        let cfg = self.read_config().map_err(|_| Stop::Gone)?;
        let (unplug_all, before) = {
            let mut st = self.state.lock();
            if st.broken || st.removing {
                return Ok(());
            }
            st.requested = cfg.requested_size;
            st.usable = cfg.usable_region_size;
            st.device_plugged = cfg.plugged_size;
            (st.unplug_all_required, st.plugged_bytes())
        };
        if unplug_all {
            self.request_ack(Request::UnplugAll)?;
            self.state.lock().unplug_all_required = false;
            self.info(fmt!(
                "unplugged {:#x} plugged before probe",
                cfg.plugged_size
            ));
        } else if cfg.plugged_size != before {
            // Our count is what we asked for and got: a difference is the device's doing.
            self.warn(fmt!(
                "device reports {:#x} plugged, the driver {:#x}",
                cfg.plugged_size,
                before
            ));
        }
        let result = self
            .unplug_pending()
            .and_then(|()| self.remove_emptied())
            .and_then(|()| {
                let goal = {
                    let st = self.state.lock();
                    target(st.requested, st.sbm.plugged_subblocks(), self.geo.sb_size)
                };
                match goal {
                    Target::Plug(n) => self.plug(n),
                    Target::Unplug(n) => self.unplug(n),
                    Target::Reached => Ok(()),
                }
            });
        let after = self.state.lock().plugged_bytes();
        if after != before {
            self.info(fmt!(
                "plugged {:#x} (requested {:#x})",
                after,
                cfg.requested_size
            ));
        }
        result?;
        // Blocks that could not be removed yet are tried again later.
        if self.state.lock().sbm.emptied_block().is_some() {
            return Err(Stop::Later);
        }
        Ok(())
    }

    /// Unplugs what blocks that failed to be added hold, whatever the run is for; a refusal is
    /// retried on the timer.
    fn unplug_pending(&self) -> Result<(), Stop> {
        loop {
            let mut st = self.lock_for_step()?;
            let Some(range) = st.sbm.pending_unplug() else {
                return Ok(());
            };
            self.request_ack(Request::Unplug(self.blocks(range)?))?;
            st.sbm.record_unplugged(range.mb, range.first, range.count);
        }
    }

    /// Takes the state lock for a step, unless the run should stop first.
    fn lock_for_step(&self) -> Result<Guard<'_, State, MutexBackend>, Stop> {
        if self.config_changed.load(Ordering::Relaxed) {
            return Err(Stop::Restart);
        }
        let st = self.state.lock();
        if st.removing {
            return Err(Stop::Gone);
        }
        Ok(st)
    }

    /// Plugs `nb` subblocks: into partially plugged blocks first, then into new ones.
    fn plug(&self, mut nb: u64) -> Result<(), Stop> {
        while nb > 0 {
            let mut st = self.lock_for_step()?;
            if st.transition.is_some() {
                st.resume_after_transition = true;
                return Err(Stop::Notified);
            }
            let usable = self.geo.usable_mbs(st.usable);
            let Some(step) = st.sbm.next_plug(nb, usable) else {
                return Err(Stop::Full);
            };
            match step {
                PlugStep::Subblocks(range) => {
                    self.plug_subblocks(&mut st, range)?;
                    nb -= u64::from(range.count);
                }
                PlugStep::NewBlock(range) => {
                    if !st.budget.could_add(self.geo.mb_size) {
                        st.waiting_for_online = true;
                        return Err(Stop::Notified);
                    }
                    st.waiting_for_online = false;
                    self.request_ack(Request::Plug(self.blocks(range)?))?;
                    st.sbm.record_plugged(range.mb, range.first, range.count);
                    // Offline before it is added, so that the notifier finds it so.
                    st.sbm.record_added(range.mb);
                    st.budget.offlined(self.geo.mb_size);
                    nb -= u64::from(range.count);
                    drop(st);
                    self.add_block(range)?;
                }
            }
        }
        Ok(())
    }

    /// Plugs subblocks of an added block; in an online block they go to the buddy allocator.
    fn plug_subblocks(&self, st: &mut State, range: SbRange) -> Result<(), Stop> {
        self.request_ack(Request::Plug(self.blocks(range)?))?;
        st.sbm.record_plugged(range.mb, range.first, range.count);
        if st.sbm.state(range.mb).is_online() {
            let pfns = self.pfns(range).map_err(|_| Stop::Broken)?;
            self.region.fake_online(pfns).map_err(|e| {
                self.err(fmt!("onlining plugged {range:?}: {e:?}"));
                Stop::Broken
            })?;
        }
        Ok(())
    }

    /// Adds a freshly plugged block to Linux; when that fails, unplugs it again.
    fn add_block(&self, range: SbRange) -> Result<(), Stop> {
        let addr = self.mb_addr(range.mb);
        let Err(e) = self.region.add_memory(&self.group, addr, self.geo.mb_size) else {
            return Ok(());
        };
        self.warn(fmt!("adding memory block at {addr:#x} failed: {e:?}"));
        let mut st = self.state.lock();
        st.budget.gone(self.geo.mb_size);
        st.sbm.record_add_failed(range.mb);
        // Not added, so nobody uses it: unplug now, or in a later run's first pass.
        if self
            .request_ack(Request::Unplug(self.blocks(range)?))
            .is_ok()
        {
            st.sbm.record_unplugged(range.mb, range.first, range.count);
        }
        Err(Stop::Later)
    }

    /// Unplugs `nb` subblocks in the planner's order; busy subblocks are skipped for this run.
    fn unplug(&self, mut nb: u64) -> Result<(), Stop> {
        let mut pass = self.state.lock().sbm.unplug_pass(true);
        let mut skipped = false;
        loop {
            let mut st = self.lock_for_step()?;
            let Some(UnplugStep { range, online }) = pass.next(&st.sbm, nb) else {
                break;
            };
            if st.transition == Some(range.mb) {
                pass.skip_block(&st.sbm, range.mb);
                skipped = true;
                continue;
            }
            if online {
                if !self.take_online(range)? {
                    skipped = true;
                    continue;
                }
                if let Err(refused) = self.request_ack(Request::Unplug(self.blocks(range)?)) {
                    match taken_pages_after(refused.outcome()) {
                        TakenPages::GiveBack => self.give_back(range)?,
                        // The device may discard them at any time: they stay out of use, and
                        // counted as unplugged they are never onlined again.
                        TakenPages::KeepOut | TakenPages::Unplugged => {
                            st.sbm.record_unplugged(range.mb, range.first, range.count);
                            self.err(fmt!(
                                "{range:?} stays out of use for good: the device may have \
                                 unplugged it"
                            ));
                        }
                    }
                    return Err(refused.into());
                }
            } else {
                self.request_ack(Request::Unplug(self.blocks(range)?))?;
            }
            st.sbm.record_unplugged(range.mb, range.first, range.count);
            nb -= u64::from(range.count);
            // A block goes as soon as it is empty, as in the C driver. Removing all emptied
            // blocks after the pass shrinks the device sooner but cost 1.2-1.5x the guest CPU
            // and the end-to-end time of C's order in `make bench`.
            if st.sbm.state(range.mb).is_added() && st.sbm.plugged_in(range.mb) == 0 {
                drop(st);
                self.remove_block(range.mb);
            }
        }
        self.remove_emptied()?;
        if nb > 0 && skipped {
            return Err(Stop::Later);
        }
        Ok(())
    }

    /// Takes the pages of online subblocks out of use: allocated, then fake-offline. `false`
    /// when they are busy (unmovable or pinned pages).
    fn take_online(&self, range: SbRange) -> Result<bool, Stop> {
        let pfns = self.pfns(range).map_err(|_| Stop::Broken)?;
        let tries = match zone_is_movable(pfns.start()) {
            Ok(true) => MOVABLE_ALLOC_TRIES,
            _ => 1,
        };
        for _ in 0..tries {
            if self.config_changed.load(Ordering::Relaxed) {
                return Err(Stop::Restart);
            }
            match ContigRange::alloc(pfns, Alignment::Pageblock, GFP_KERNEL | __GFP_NOWARN) {
                Ok(pages) => {
                    self.region.fake_offline(pages).map_err(|e| {
                        self.err(fmt!("taking {range:?} out of use: {e:?}"));
                        Stop::Broken
                    })?;
                    return Ok(true);
                }
                Err(e) if e == ENOMEM => return Err(Stop::Later),
                Err(_) => {}
            }
        }
        Ok(false)
    }

    /// Gives the pages of subblocks taken by [`Vm::take_online`] back to the buddy allocator.
    fn give_back(&self, range: SbRange) -> Result<(), Stop> {
        let pfns = self.pfns(range).map_err(|_| Stop::Broken)?;
        self.region.fake_online(pfns).map_err(|e| {
            self.err(fmt!("giving back {range:?}: {e:?}"));
            Stop::Broken
        })
    }

    /// Removes added blocks with nothing plugged, highest first; those that are busy stay for
    /// a later run.
    fn remove_emptied(&self) -> Result<(), Stop> {
        let mut limit = self.geo.nb_mb;
        loop {
            let mb = {
                let st = self.lock_for_step()?;
                let Some(mb) = st.sbm.emptied_block_below(limit) else {
                    return Ok(());
                };
                if st.transition == Some(mb) {
                    limit = mb;
                    continue;
                }
                mb
            };
            limit = mb;
            self.remove_block(mb);
        }
    }

    /// Removes emptied block `mb` from Linux; a busy one stays for a later run.
    fn remove_block(&self, mb: u64) {
        let addr = self.mb_addr(mb);
        // Offline blocks are removed at once; online ones are offlined first, which the
        // notifier follows (the pages we took are skipped through their dropped references).
        match self
            .region
            .offline_and_remove_memory(addr, self.geo.mb_size)
        {
            Ok(()) => {
                let mut st = self.state.lock();
                st.sbm.record_removed(mb);
                st.budget.gone(self.geo.mb_size);
            }
            Err(e) => self.warn(fmt!(
                "memory block at {addr:#x} is unplugged but could not be removed yet: {e:?}"
            )),
        }
    }

    fn blocks(&self, range: SbRange) -> Result<crate::vmcore::wire::DeviceBlocks, Stop> {
        self.device_blocks(range).map_err(|_| Stop::Broken)
    }
}
