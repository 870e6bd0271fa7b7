// SPDX-License-Identifier: GPL-2.0

//! The memory notifier and the online-page handler: how Linux onlining and offlining our
//! memory meets the planner's state, with the C driver's contract. The planner says what is
//! ours and plugged, the run state whether an outcome wakes a run.

use crate::controller::{Controller, ControllerWork, State};
use crate::policy::planner::{Membership, Span};
use crate::policy::run_state::Event;
use crate::policy::stats::Phase;
use kernel::contig::{zone_is_movable, PfnRange};
use kernel::fmt;
use kernel::memory_hotplug::{MemoryAction, MemoryNotifier, OnlinePageHandler, OnlinePages};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Arc;

/// Follows our memory blocks going on- and offline.
pub(crate) struct Notifier(pub(crate) Arc<ControllerWork>);

/// Decides, when one of our blocks is onlined, which of its pages reach the buddy allocator.
pub(crate) struct OnlineHandler(pub(crate) Arc<ControllerWork>);

/// The byte range of `range`.
fn bytes(range: PfnRange) -> (u64, u64) {
    let page = PAGE_SIZE as u64;
    (range.start() as u64 * page, range.nr_pages() as u64 * page)
}

impl MemoryNotifier for Notifier {
    fn notify(&self, action: MemoryAction, range: PfnRange) -> Result {
        let work: &ControllerWork = &self.0;
        let c: &Controller = work;
        let (start, size) = bytes(range);
        // Others' memory is told apart without our lock.
        if start >= c.region.start() + c.region.size() || start + size <= c.region.start() {
            return Ok(());
        }
        let mut st = c.state.lock();
        // Linux leaves a block's own memory map out of its on- and offlining.
        let Span { addr: start, size } = st.planner.notified_span(start, size);
        // Memory comes and goes as the mode adds it: a memory block in Sub Block Mode, within
        // one big block in Big Block Mode.
        let unit = match st.planner.membership(start, size) {
            Membership::NotOurs => return Ok(()),
            Membership::Unit(unit) => unit,
            Membership::NotWhole => {
                drop(st);
                c.warn(fmt!(
                    "refusing {action:?} of {start:#x}+{size:#x}: not as the driver added it"
                ));
                return Err(EINVAL);
            }
        };
        match action {
            MemoryAction::GoingOnline => {
                if !st.run.allows_transitions() {
                    return Err(EBUSY);
                }
                // Onlining a unit with nothing plugged would only hold it up on its way out.
                let own = st.run.is_own(unit);
                if !st.planner.may_go_online(unit, own) {
                    drop(st);
                    c.warn(fmt!("memory block onlining denied: {start:#x}"));
                    return Err(EBUSY);
                }
                st.transition = Some(unit);
            }
            MemoryAction::Online => {
                let movable = zone_is_movable(range.start()).unwrap_or(false);
                st.planner.record_online(start, size, movable);
                st.budget.gone(size);
                // Adding waits for onlining until half the threshold is free again.
                let room = st.budget.has_room_for_half();
                end_transition(work, st, unit, Event::Onlined { room });
            }
            MemoryAction::CancelOnline => {
                c.region.offlined(range);
                end_transition(work, st, unit, Event::Cancelled);
            }
            MemoryAction::GoingOffline => {
                let own = st.run.is_own(unit);
                if !st.run.allows_transitions() || !st.planner.may_go_offline(unit, own) {
                    return Err(EBUSY);
                }
                // The pages we took out of use hold references the kernel would wait for.
                c.region.going_offline(range);
                st.transition = Some(unit);
            }
            MemoryAction::Offline => {
                c.region.offlined(range);
                st.planner.record_offline(start, size);
                st.budget.offlined(size);
                // Offline memory may be what an unplug waits for.
                end_transition(work, st, unit, Event::Offlined);
            }
            MemoryAction::CancelOffline => {
                c.region.cancel_offline(range);
                end_transition(work, st, unit, Event::Cancelled);
            }
        }
        Ok(())
    }
}

/// A unit is done going on- or offline: the run state says whether that wakes a run (runs do
/// not wake themselves through the memory they add or remove).
fn end_transition(
    work: &ControllerWork,
    mut st: Guard<'_, State, MutexBackend>,
    unit: u64,
    event: Event,
) {
    st.transition = None;
    let wake = st.run.notify(unit, event);
    drop(st);
    if wake {
        work.run_now();
    }
}

impl OnlinePageHandler for OnlineHandler {
    fn online_pages(&self, pages: &mut OnlinePages) {
        let c: &Controller = &self.0;
        let (start, size) = bytes(pages.range());
        if !c.region.contains(start, size) {
            return;
        }
        c.timed(Phase::OnlinePages, || {
            // Our lock before the region's, as everywhere.
            let st = c.state.lock();
            c.region.online_pages(pages, |pageblock| {
                let (addr, _) = bytes(pageblock);
                st.planner.is_usable(addr)
            });
        });
    }
}
