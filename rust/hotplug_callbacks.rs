// SPDX-License-Identifier: GPL-2.0

//! The memory notifier and the online-page handler: how Linux onlining and offlining our
//! memory blocks meets the Sub Block Mode state, with the C driver's contract.

use crate::vm::{State, Vm, VmWork};
use core::sync::atomic::Ordering;
use kernel::contig::{zone_is_movable, PfnRange};
use kernel::fmt;
use kernel::memory_hotplug::{MemoryAction, MemoryNotifier, OnlinePageHandler, OnlinePages};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::Arc;

/// Follows our memory blocks going on- and offline.
pub(crate) struct Notifier(pub(crate) Arc<VmWork>);

/// Decides, when one of our blocks is onlined, which of its pages reach the buddy allocator.
pub(crate) struct OnlineHandler(pub(crate) Arc<VmWork>);

/// The byte range of `range`.
fn bytes(range: PfnRange) -> (u64, u64) {
    let page = PAGE_SIZE as u64;
    (range.start() as u64 * page, range.nr_pages() as u64 * page)
}

impl MemoryNotifier for Notifier {
    fn notify(&self, action: MemoryAction, range: PfnRange) -> Result {
        let work: &VmWork = &self.0;
        let vm: &Vm = work;
        let (start, size) = bytes(range);
        let region_end = vm.region.start() + vm.region.size();
        if start >= region_end || start + size <= vm.region.start() {
            return Ok(());
        }
        // We add memory block by memory block and expect it to come and go the same way.
        let mb = match vm.geo.mb_of(start) {
            Some(mb) if size == vm.geo.mb_size && start == vm.mb_addr(mb) => mb,
            _ => {
                vm.warn(fmt!(
                    "refusing {action:?} of {start:#x}+{size:#x}: not one memory block"
                ));
                return Err(EINVAL);
            }
        };
        let mut st = vm.state.lock();
        match action {
            MemoryAction::GoingOnline => {
                if st.removing {
                    return Err(EBUSY);
                }
                // Onlining a block with nothing plugged would only hold it up on its way out.
                if !st.sbm.state(mb).may_go_online() || st.sbm.plugged_in(mb) == 0 {
                    drop(st);
                    vm.warn(fmt!("memory block onlining denied: {start:#x}"));
                    return Err(EBUSY);
                }
                st.transition = Some(mb);
            }
            MemoryAction::Online => {
                let movable = zone_is_movable(range.start()).unwrap_or(false);
                st.sbm.record_online(mb, movable);
                st.budget.gone(size);
                // Adding waited for onlining: go on once half the threshold is free again.
                let wake = st.waiting_for_online && st.budget.has_room_for_half();
                end_transition(work, st, wake);
            }
            MemoryAction::CancelOnline => {
                vm.region.offlined(range);
                end_transition(work, st, false);
            }
            MemoryAction::GoingOffline => {
                if st.removing {
                    return Err(EBUSY);
                }
                // The pages we took out of use hold references the kernel would wait for.
                vm.region.going_offline(range);
                st.transition = Some(mb);
            }
            MemoryAction::Offline => {
                vm.region.offlined(range);
                st.sbm.record_offline(mb);
                st.budget.offlined(size);
                // Offline memory may be what an unplug request waits for.
                end_transition(work, st, true);
            }
            MemoryAction::CancelOffline => {
                vm.region.cancel_offline(range);
                end_transition(work, st, false);
            }
        }
        Ok(())
    }
}

/// A block is done going on- or offline: a run that stopped for it, or that `wake` says may now
/// get further, goes on. Runs do not wake themselves through the memory they add or remove.
fn end_transition(work: &VmWork, mut st: Guard<'_, State, MutexBackend>, wake: bool) {
    st.transition = None;
    let resume = core::mem::take(&mut st.resume_after_transition);
    drop(st);
    if resume || (wake && !work.in_run.load(Ordering::Relaxed)) {
        work.run_now();
    }
}

impl OnlinePageHandler for OnlineHandler {
    fn online_pages(&self, pages: &mut OnlinePages) {
        let vm: &Vm = &self.0;
        let (start, size) = bytes(pages.range());
        if !vm.region.contains(start, size) {
            return;
        }
        // Our lock before the region's, as everywhere.
        let st = vm.state.lock();
        vm.region.online_pages(pages, |pageblock| {
            let (addr, _) = bytes(pageblock);
            vm.geo
                .sb_of(addr)
                .is_some_and(|(mb, sb)| st.sbm.is_plugged(mb, sb))
        });
    }
}
