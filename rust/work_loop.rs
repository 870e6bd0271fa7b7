// SPDX-License-Identifier: GPL-2.0

//! The work loop: each run reads the configuration and executes the planner's steps toward
//! the requested size, one at a time, as `virtio_mem_run_wq()` does. It names no mode: the
//! planner decides what each step is, the run state what comes after the run.

use crate::controller::{Controller, ControllerWork, KernelStore, Refused, State};
use crate::params;
use crate::policy::free_watch::{watched_units, Tick, Wake};
use crate::policy::planner::{Planner, Span, Step};
use crate::policy::run_state::{AfterRun, Lifecycle, Parked, Run, RunEnd};
use crate::policy::stats::Phase;
use crate::policy::target::{target, Target};
use crate::policy::unanswered::{taken_pages_after, TakenPages};
use crate::policy::unplug_rank::UsedBytes;
use crate::policy::wire::{DeviceBlocks, Request};
use core::sync::atomic::Ordering;
use kernel::alloc::flags::{__GFP_NOWARN, GFP_KERNEL};
use kernel::contig::{buddy_free_pages, zone_free_pages, zone_is_movable, Alignment, ContigRange};
use kernel::fmt;
use kernel::memory_hotplug::Memmap;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::workqueue::OwnedWorkItem;

/// Why a run stopped before reaching the requested size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// The config changed: start over at once.
    Restart,
    /// Stopped for good or until something else happens (see [`RunEnd`]).
    End(RunEnd),
}

impl From<Refused> for Stop {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Later(_) => Stop::End(RunEnd::Later),
            Refused::Broken(_) => Stop::End(RunEnd::Broken),
        }
    }
}

const LATER: Stop = Stop::End(RunEnd::Later);
const BUSY: Stop = Stop::End(RunEnd::Busy);
const BROKEN: Stop = Stop::End(RunEnd::Broken);

impl OwnedWorkItem for Controller {
    fn run(work: &ControllerWork) {
        let c: &Controller = work;
        let mut wake = Wake::Request;
        {
            let mut st = c.state.lock();
            // A wake-up of a run that waits for memory in use, not brought by a config change
            // or a notification: the watch's cheap check decides whether to try now.
            if st.run.run() == Run::Parked(Parked::UntilFreed)
                && !c.config_changed.load(Ordering::Relaxed)
            {
                let tick = {
                    let st = &mut *st;
                    st.watch.tick(|| c.watched_free_pages(&st.planner))
                };
                if let Tick::Wait(ms) = tick {
                    drop(st);
                    work.run_after(u32::try_from(ms).unwrap_or(u32::MAX));
                    return;
                }
                wake = tick.wake().unwrap_or(Wake::Request);
            }
            if !st.run.start_run() {
                return;
            }
        }
        let end = c.timed(Phase::Run, || loop {
            match c.run_once(wake) {
                Ok(()) => break RunEnd::Reached,
                // A new request: tried in full.
                Err(Stop::Restart) => wake = Wake::Request,
                Err(Stop::End(end)) => break end,
            }
        });
        let mut st = c.state.lock();
        c.stats.run_ended(end);
        if end == RunEnd::Reached {
            st.backoff.reset();
            c.stats.backoff_reset();
        }
        if end != RunEnd::Busy {
            st.watch.stop();
        }
        match st.run.end_run(end) {
            AfterRun::Nothing => {}
            AfterRun::ArmTimer => {
                let ms = st.backoff.next_delay_ms();
                c.stats.retry_armed(ms);
                drop(st);
                work.run_after(u32::try_from(ms).unwrap_or(u32::MAX));
            }
            AfterRun::Watch => {
                // What the next attempt needs freed: one plug unit's pages.
                let need = st.planner.plug_unit() / PAGE_SIZE_U64;
                let free = c.watched_free_pages(&st.planner);
                let first_tick = {
                    let st = &mut *st;
                    let backoff = &mut st.backoff;
                    st.watch.busy(free, need, || {
                        let ms = backoff.next_delay_ms();
                        c.stats.retry_armed(ms);
                        ms
                    })
                };
                drop(st);
                work.run_after(u32::try_from(first_tick).unwrap_or(u32::MAX));
            }
            AfterRun::RunAgain => {
                drop(st);
                work.run_now();
            }
            AfterRun::ReportBroken => {
                drop(st);
                c.err(fmt!(
                    "marking the device broken: no more plugging or unplugging"
                ));
            }
        }
    }
}

/// The page size, for counts of pages.
const PAGE_SIZE_U64: u64 = kernel::page::PAGE_SIZE as u64;

impl Controller {
    /// Free pages in the zones of the online units the next unplug pass starts and ends
    /// with (each zone once): what the watch compares. 0 when none can be read.
    fn watched_free_pages(&self, planner: &Planner<KernelStore>) -> u64 {
        let Some((top, bottom)) = watched_units(planner.units(), |u| {
            planner.is_online(planner.unit_span(u).addr)
        }) else {
            return 0;
        };
        let zone = |unit: u64| {
            let pfn = self.pfns(planner.unit_span(unit)).ok()?.start();
            let movable = zone_is_movable(pfn).ok()?;
            let free = zone_free_pages(pfn).ok()?;
            Some((movable, u64::try_from(free).unwrap_or(u64::MAX)))
        };
        match (zone(top), zone(bottom)) {
            (Some((m1, f1)), Some((m2, f2))) if m1 != m2 => f1.saturating_add(f2),
            (Some((_, f)), _) | (None, Some((_, f))) => f,
            (None, None) => 0,
        }
    }

    /// One pass toward the requested size; `wake` is what started the run.
    fn run_once(&self, wake: Wake) -> Result<(), Stop> {
        self.config_changed.store(false, Ordering::Relaxed);
        let cfg = self.read_config().map_err(|_| Stop::End(RunEnd::Gone))?;
        let (lifecycle, before) = {
            let mut st = self.state.lock();
            st.requested = cfg.requested_size;
            st.usable = cfg.usable_region_size;
            st.device_plugged = cfg.plugged_size;
            (st.run.lifecycle(), st.plugged_bytes())
        };
        match lifecycle {
            Lifecycle::Running => {
                if cfg.plugged_size != before {
                    // Our count is what we asked for and got: a difference is the device's
                    // doing.
                    self.warn(fmt!(
                        "device reports {:#x} plugged, the driver {:#x}",
                        cfg.plugged_size,
                        before
                    ));
                }
            }
            Lifecycle::UnplugAllFirst => {
                self.request_ack(Request::UnplugAll)?;
                self.state.lock().run.unplugged_all();
                self.info(fmt!(
                    "unplugged {:#x} plugged before probe",
                    cfg.plugged_size
                ));
            }
            Lifecycle::Broken => return Err(BROKEN),
            Lifecycle::Removing => return Err(Stop::End(RunEnd::Gone)),
        }
        // Removing a unit whose memory map is on it leaves the map's plug units pending.
        let result = self
            .remove_emptied()
            .and_then(|()| self.unplug_pending())
            .and_then(|()| {
                let goal = {
                    let st = self.state.lock();
                    target(st.requested, st.plugged_bytes(), st.planner.plug_unit())
                };
                match goal {
                    Target::Plug(n) => self.plug(n),
                    Target::Unplug(n) => self.unplug(n, wake.movable_alloc_tries()),
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
        // Units that could not be removed yet are tried again later.
        let st = self.state.lock();
        if st.planner.emptied_unit_below(st.planner.units()).is_some() {
            return Err(LATER);
        }
        Ok(())
    }

    /// Unplugs what units that failed to be added hold, whatever the run is for; a refusal is
    /// retried on the timer.
    fn unplug_pending(&self) -> Result<(), Stop> {
        loop {
            let mut st = self.lock_for_step()?;
            let Some(step) = st.planner.pending_unplug() else {
                return Ok(());
            };
            let span = step.span();
            self.request_ack(Request::Unplug(self.blocks(span)?))?;
            st.planner.record_unplugged(span);
        }
    }

    /// Takes the state lock for a step, unless the run should stop first.
    fn lock_for_step(&self) -> Result<Guard<'_, State, MutexBackend>, Stop> {
        if self.config_changed.load(Ordering::Relaxed) {
            return Err(Stop::Restart);
        }
        let st = self.state.lock();
        if st.run.lifecycle() == Lifecycle::Removing {
            return Err(Stop::End(RunEnd::Gone));
        }
        Ok(st)
    }

    /// Plugs `nb` plug units: into partially plugged units first, then into new ones.
    fn plug(&self, mut nb: u64) -> Result<(), Stop> {
        while nb > 0 {
            let mut st = self.lock_for_step()?;
            if st.transition.is_some() {
                return Err(Stop::End(RunEnd::WaitTransition));
            }
            let Some(step) = st.planner.next_plug(nb, st.usable) else {
                return Err(Stop::End(RunEnd::Full));
            };
            let units = step.span().size / st.planner.plug_unit();
            match step {
                Step::PlugInto { span, online, .. } => {
                    self.request_ack(Request::Plug(self.blocks(span)?))?;
                    st.planner.record_plugged(span);
                    if online {
                        self.give_back(span)?;
                    }
                }
                Step::PlugAndAdd { unit, plug, add } => {
                    if !st.budget.could_add(add.size) {
                        return Err(Stop::End(RunEnd::WaitOnline));
                    }
                    self.request_ack(Request::Plug(self.blocks(plug)?))?;
                    st.planner.record_plugged(plug);
                    // Added (offline) before it is added, so that the notifier finds it so.
                    st.planner.record_added(unit);
                    st.budget.offlined(add.size);
                    st.run.set_own(Some(unit));
                    drop(st);
                    let added = self.add_unit(unit, plug, add);
                    self.state.lock().run.set_own(None);
                    added?;
                }
                other => {
                    self.err(fmt!("the planner offered {other:?} to plug"));
                    return Err(BROKEN);
                }
            }
            nb -= units;
        }
        Ok(())
    }

    /// Adds a freshly plugged unit to Linux; when that fails, unplugs it again.
    fn add_unit(&self, unit: u64, plug: Span, add: Span) -> Result<(), Stop> {
        let memmap = if self.state.lock().planner.memmap_on_memory() {
            Memmap::OnAddedMemory
        } else {
            Memmap::InOnlineMemory
        };
        let added = self.timed(Phase::Add, || {
            self.region
                .add_memory(&self.group, add.addr, add.size, memmap)
        });
        let Err(e) = added else {
            return Ok(());
        };
        self.warn(fmt!("adding memory at {:#x} failed: {e:?}", add.addr));
        let mut st = self.state.lock();
        st.budget.gone(add.size);
        st.planner.record_add_failed(unit);
        // Not added, so nobody uses it: unplug now, or in a later run's first pass.
        if self
            .request_ack(Request::Unplug(self.blocks(plug)?))
            .is_ok()
        {
            st.planner.record_unplugged(plug);
        }
        Err(LATER)
    }

    /// Unplugs `nb` plug units in the planner's order; busy memory is skipped for this run.
    /// ZONE_MOVABLE memory is tried `movable_tries` times before it counts as busy.
    fn unplug(&self, mut nb: u64, movable_tries: u32) -> Result<(), Stop> {
        let online = params::unplug_online();
        let used = if online && params::unplug_least_used_first() {
            self.timed(Phase::Rank, || self.used_bytes())
        } else {
            KVec::new()
        };
        let mut pass = self
            .state
            .lock()
            .planner
            .unplug_pass(online)
            .ranked(UsedBytes::new(&used));
        let mut skipped = false;
        loop {
            let mut st = self.lock_for_step()?;
            let Some(step) = pass.next(&st.planner, nb) else {
                break;
            };
            let unit = step.unit();
            if st.transition == Some(unit) {
                pass.skip_unit(&st.planner, unit);
                skipped = true;
                continue;
            }
            let units = step.span().size / st.planner.plug_unit();
            let done = match step {
                Step::RemoveThenUnplug { unit, span } => {
                    self.remove_then_unplug(st, unit, span, movable_tries)?
                }
                Step::Unplug { span, .. } => {
                    self.request_ack(Request::Unplug(self.blocks(span)?))?;
                    st.planner.record_unplugged(span);
                    nb = nb.saturating_sub(self.remove_if_emptied(st, unit));
                    true
                }
                Step::TakeThenUnplug { span, .. } => {
                    let taken = self.take(span, movable_tries)?;
                    if taken {
                        self.unplug_taken(&mut st, span)?;
                        nb = nb.saturating_sub(self.remove_if_emptied(st, unit));
                    }
                    taken
                }
                other => {
                    self.err(fmt!("the planner offered {other:?} to unplug"));
                    return Err(BROKEN);
                }
            };
            if !done {
                skipped = true;
                continue;
            }
            nb = nb.saturating_sub(units);
        }
        self.remove_emptied()?;
        // The memory maps of the units removed.
        self.unplug_pending()?;
        if nb > 0 && skipped {
            return Err(BUSY);
        }
        Ok(())
    }

    /// What unplugging each unit would migrate now ([`Planner::used_bytes`]), counted from its
    /// pages, one unit under the lock at a time. Empty (highest first) when there is no memory
    /// for it: the order is worth less than the unplug.
    fn used_bytes(&self) -> KVec<u64> {
        let units = self.state.lock().planner.units();
        let mut used = KVec::new();
        for unit in 0..units {
            let st = self.state.lock();
            let bytes = st.planner.used_bytes(unit, |span| {
                self.pfns(span).map_or(0, |pfns| {
                    u64::try_from(buddy_free_pages(pfns))
                        .unwrap_or(u64::MAX)
                        .saturating_mul(PAGE_SIZE_U64)
                })
            });
            drop(st);
            if used.push(bytes, GFP_KERNEL).is_err() {
                return KVec::new();
            }
        }
        used
    }

    /// A unit goes as soon as it is empty, as in the C driver. Removing all emptied units
    /// after the pass shrinks the device sooner but cost 1.2-1.5x the guest CPU and the
    /// end-to-end time of C's order in `make bench`.
    /// Returns the plug units of its memory map, which are then pending: unplugged at the end
    /// of the pass.
    fn remove_if_emptied(&self, st: Guard<'_, State, MutexBackend>, unit: u64) -> u64 {
        let emptied = st.planner.is_emptied(unit);
        drop(st);
        if emptied {
            self.remove_unit(unit)
        } else {
            0
        }
    }

    /// Unplugs `span`, whose pages this run took out of use; on a refusal they go back to
    /// Linux, or stay out of use for good when the device may have unplugged them.
    fn unplug_taken(&self, st: &mut State, span: Span) -> Result<(), Stop> {
        if let Err(refused) = self.request_ack(Request::Unplug(self.blocks(span)?)) {
            match taken_pages_after(refused.outcome()) {
                TakenPages::GiveBack => self.give_back(span)?,
                // The device may discard them at any time: they stay out of use, and counted
                // as unplugged they are never onlined again.
                TakenPages::KeepOut | TakenPages::Unplugged => {
                    st.planner.record_unplugged(span);
                    self.err(fmt!(
                        "{span:?} stays out of use for good: the device may have unplugged it"
                    ));
                }
            }
            return Err(refused.into());
        }
        st.planner.record_unplugged(span);
        Ok(())
    }

    /// Takes every online memory block of `unit` out of use (all or nothing), offlines and
    /// removes the whole unit, then unplugs it, as
    /// `virtio_mem_bbm_offline_remove_and_unplug_bb()` does. `false` when some of it is busy.
    fn remove_then_unplug(
        &self,
        mut st: Guard<'_, State, MutexBackend>,
        unit: u64,
        span: Span,
        movable_tries: u32,
    ) -> Result<bool, Stop> {
        let part = st.planner.region().mb_size;
        // From now on only the driver on- or offlines it, and what it onlines stays out of
        // use, so the unit cannot fill again.
        st.planner.record_taking_out(unit);
        let mut addr = span.addr;
        while addr < span.end() {
            let piece = Span { addr, size: part };
            if st.planner.is_online(addr) {
                match self.take(piece, movable_tries) {
                    Ok(true) => {}
                    taken => {
                        let taken_so_far = Span {
                            addr: span.addr,
                            size: addr - span.addr,
                        };
                        self.keep_unit(&mut st, unit, taken_so_far);
                        return taken.map(|_| false);
                    }
                }
            }
            addr += part;
        }
        st.run.set_own(Some(unit));
        drop(st);
        let removed = self.timed(Phase::OfflineRemove, || {
            self.region.offline_and_remove_memory(span.addr, span.size)
        });
        let mut st = self.state.lock();
        st.run.set_own(None);
        if let Err(e) = removed {
            self.warn(fmt!(
                "memory at {:#x} could not be offlined and removed: {e:?}",
                span.addr
            ));
            // Everything of it that is online is ours: taken, or re-onlined by the failed
            // removal; nobody else could on- or offline it meanwhile.
            self.keep_unit(&mut st, unit, span);
            return Ok(false);
        }
        st.planner.record_removed(unit);
        st.budget.gone(span.size);
        self.request_ack(Request::Unplug(self.blocks(span)?))?;
        st.planner.record_unplugged(span);
        Ok(true)
    }

    /// Taking `unit` out failed: gives back the online memory blocks of `span`, taken out of
    /// use by this run, and the unit is in use again. What cannot be given back stays out of
    /// use (logged), so one refusal leaves the rest of the unit usable.
    fn keep_unit(&self, st: &mut State, unit: u64, span: Span) {
        let part = st.planner.region().mb_size;
        let mut addr = span.addr;
        while addr < span.end() {
            if st.planner.is_online(addr) {
                // `give_back` logs what it could not give back.
                let _ = self.give_back(Span { addr, size: part });
            }
            addr += part;
        }
        st.planner.record_kept(unit);
    }

    /// Takes the pages of online `span` out of use: allocated, then fake-offline. `false`
    /// when they are busy (unmovable or pinned pages): after `movable_tries` tries in
    /// ZONE_MOVABLE ([`Wake::movable_alloc_tries`]), after one elsewhere, as in the C driver.
    fn take(&self, span: Span, movable_tries: u32) -> Result<bool, Stop> {
        let pfns = self.pfns(span).map_err(|_| BROKEN)?;
        let tries = match zone_is_movable(pfns.start()) {
            Ok(true) => movable_tries,
            _ => 1,
        };
        for _ in 0..tries {
            if self.config_changed.load(Ordering::Relaxed) {
                return Err(Stop::Restart);
            }
            let taken = self.timed(Phase::AllocContig, || {
                ContigRange::alloc(pfns, Alignment::Pageblock, GFP_KERNEL | __GFP_NOWARN)
            });
            self.stats.contig_attempt(taken.is_ok());
            match taken {
                Ok(pages) => {
                    self.region.fake_offline(pages).map_err(|e| {
                        self.err(fmt!("taking {span:?} out of use: {e:?}"));
                        BROKEN
                    })?;
                    return Ok(true);
                }
                // No room to migrate the pages to: memory in use, freed when the pressure
                // ends.
                Err(e) if e == ENOMEM => return Err(BUSY),
                Err(_) => {}
            }
        }
        Ok(false)
    }

    /// Hands the pages of `span` to the buddy allocator: newly plugged memory of an online
    /// unit, or pages this run took out of use.
    fn give_back(&self, span: Span) -> Result<(), Stop> {
        let pfns = self.pfns(span).map_err(|_| BROKEN)?;
        let onlined = self.timed(Phase::FakeOnline, || self.region.fake_online(pfns));
        onlined.map_err(|e| {
            self.err(fmt!("onlining {span:?}: {e:?}"));
            BROKEN
        })
    }

    /// Removes added units with nothing plugged, highest first; those that are busy stay for
    /// a later run.
    fn remove_emptied(&self) -> Result<(), Stop> {
        let mut limit = {
            let st = self.state.lock();
            st.planner.units()
        };
        loop {
            let unit = {
                let st = self.lock_for_step()?;
                let Some(unit) = st.planner.emptied_unit_below(limit) else {
                    return Ok(());
                };
                limit = unit;
                if st.transition == Some(unit) {
                    continue;
                }
                unit
            };
            self.remove_unit(unit);
        }
    }

    /// Removes emptied unit `unit` from Linux; a busy one stays for a later run. Returns the
    /// plug units its memory map leaves pending (0 when the map is elsewhere or it stayed).
    fn remove_unit(&self, unit: u64) -> u64 {
        let span = {
            let mut st = self.state.lock();
            st.run.set_own(Some(unit));
            st.planner.unit_span(unit)
        };
        // Offline units are removed at once; online ones are offlined first, which the
        // notifier follows (the pages we took are skipped through their dropped references).
        let removed = self.timed(Phase::OfflineRemove, || {
            self.region.offline_and_remove_memory(span.addr, span.size)
        });
        let mut st = self.state.lock();
        st.run.set_own(None);
        match removed {
            Ok(()) => {
                st.planner.record_removed(unit);
                st.budget.gone(span.size);
                // What held its memory map is left plugged, pending.
                st.planner.left_after_removal(unit)
            }
            Err(e) => {
                drop(st);
                self.warn(fmt!(
                    "memory at {:#x} is unplugged but could not be removed yet: {e:?}",
                    span.addr
                ));
                0
            }
        }
    }

    fn blocks(&self, span: Span) -> Result<DeviceBlocks, Stop> {
        self.device_blocks(span).map_err(|_| BROKEN)
    }
}
