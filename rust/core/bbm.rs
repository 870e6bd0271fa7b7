// SPDX-License-Identifier: GPL-2.0

//! Big Block Mode: the device's blocks are larger than Linux's memory blocks (or the mode is
//! forced), so the driver plugs, adds, removes and unplugs big blocks of whole memory blocks,
//! each as a whole, with the contract of the C driver's `virtio_mem_bbm_*()` functions.
//!
//! Linux still onlines and offlines a big block memory block by memory block, so the state
//! keeps, besides one [`BbState`] per big block, which memory blocks are online and which of
//! those are in a kernel zone: the unplug order (offline big blocks, then those wholly in
//! ZONE_MOVABLE, then the rest) and taking a big block out of use need them.

use super::geometry::{BigBlocks, Region};
use super::unplug_rank::UsedBytes;
use core::ops::DerefMut;

/// The state of one big block.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BbState {
    /// Unplugged, not added to Linux.
    #[default]
    Unused = 0,
    /// Plugged, not added to Linux (adding failed, or it was removed and the unplug was
    /// refused): to be unplugged.
    Plugged,
    /// Plugged and added to Linux (any of its memory blocks may be online).
    Added,
    /// Added, and every online part of it is being taken out of use on its way out: only the
    /// driver's own offlining and removal (and the re-onlining of a failed one) may touch it
    /// until it is removed or kept.
    TakingOut,
}

/// Which big blocks an unplug pass visits, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Visit {
    /// Wholly offline: removing them moves no page.
    Offline,
    /// Online only in ZONE_MOVABLE, whose pages can move.
    Movable,
    /// Any added big block.
    Any,
}

const VISIT_ORDER: [Visit; 3] = [Visit::Offline, Visit::Movable, Visit::Any];

/// The Big Block Mode state of one device, in storage the caller provides: `states` has a
/// slot per big block and `zones` `2 * nb_mb.div_ceil(64)` words (which memory blocks are
/// online, then which of those are in a kernel zone).
pub struct Bbm<T, B> {
    region: Region,
    big: BigBlocks,
    states: T,
    zones: B,
}

impl<T, B> Bbm<T, B>
where
    T: DerefMut<Target = [BbState]>,
    B: DerefMut<Target = [u64]>,
{
    /// Words of `zones` per bitmap.
    fn words(region: &Region) -> Option<usize> {
        usize::try_from(region.nb_mb.div_ceil(64)).ok()
    }

    /// The storage `region` and `big` need: (states, zone words).
    pub fn storage_len(region: &Region, big: &BigBlocks) -> Option<(usize, usize)> {
        Some((
            usize::try_from(big.nb_bb).ok()?,
            Self::words(region)?.checked_mul(2)?,
        ))
    }

    /// Wraps zeroed storage (all big blocks unused); `None` when it is too small or the big
    /// blocks do not lie on the region's memory blocks.
    pub fn new(region: Region, big: BigBlocks, states: T, zones: B) -> Option<Self> {
        let (nb, words) = Self::storage_len(&region, &big)?;
        if states.len() < nb || zones.len() < words {
            return None;
        }
        if big.nb_bb > 0 {
            let first = region.mb_of(big.bb_addr(0))?;
            let last = region.mb_of(big.bb_addr(big.nb_bb) - 1)?;
            if region.mb_addr(first) != big.bb_addr(0) || last < first {
                return None;
            }
        }
        Some(Self {
            region,
            big,
            states,
            zones,
        })
    }

    /// The big blocks.
    pub fn big_blocks(&self) -> &BigBlocks {
        &self.big
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The state of big block `bb`.
    pub fn state(&self, bb: u64) -> BbState {
        self.states[bb as usize]
    }

    fn set_state(&mut self, bb: u64, s: BbState) {
        self.states[bb as usize] = s;
    }

    /// Memory blocks per big block.
    pub fn mbs_per_bb(&self) -> u64 {
        self.big.bb_size / self.region.mb_size
    }

    /// The memory blocks (indices) of big block `bb`.
    pub fn mbs_of(&self, bb: u64) -> core::ops::Range<u64> {
        // `new` checked that the big blocks start on a memory block of the region.
        let first = (self.big.bb_addr(bb) / self.region.mb_size) - self.region.first_mb;
        first..first + self.mbs_per_bb()
    }

    fn bit(&self, map: usize, mb: u64) -> (usize, u64) {
        let words = self.region.nb_mb.div_ceil(64) as usize;
        (map * words + (mb / 64) as usize, 1u64 << (mb % 64))
    }

    fn test(&self, map: usize, mb: u64) -> bool {
        let (w, m) = self.bit(map, mb);
        self.zones[w] & m != 0
    }

    fn assign(&mut self, map: usize, mb: u64, on: bool) {
        let (w, m) = self.bit(map, mb);
        if on {
            self.zones[w] |= m;
        } else {
            self.zones[w] &= !m;
        }
    }

    /// Whether memory block `mb` is online.
    pub fn mb_online(&self, mb: u64) -> bool {
        self.test(0, mb)
    }

    /// Whether memory block `mb` is online in a kernel zone.
    pub fn mb_in_kernel_zone(&self, mb: u64) -> bool {
        self.test(1, mb)
    }

    /// Memory block `mb` went online, into ZONE_MOVABLE or a kernel zone.
    pub fn record_online(&mut self, mb: u64, movable: bool) {
        self.assign(0, mb, true);
        self.assign(1, mb, !movable);
    }

    /// Memory block `mb` went offline.
    pub fn record_offline(&mut self, mb: u64) {
        self.assign(0, mb, false);
        self.assign(1, mb, false);
    }

    /// Whether no memory block of `bb` is online.
    pub fn is_offline(&self, bb: u64) -> bool {
        self.mbs_of(bb).all(|mb| !self.mb_online(mb))
    }

    /// Whether every online memory block of `bb` is in ZONE_MOVABLE.
    pub fn is_movable(&self, bb: u64) -> bool {
        self.mbs_of(bb).all(|mb| !self.mb_in_kernel_zone(mb))
    }

    /// Big blocks plugged (added or not).
    pub fn plugged_bbs(&self) -> u64 {
        (0..self.big.nb_bb)
            .filter(|&bb| self.state(bb) != BbState::Unused)
            .count() as u64
    }

    /// The device plugged `bb`.
    pub fn record_plugged(&mut self, bb: u64) {
        self.set_state(bb, BbState::Plugged);
    }

    /// Big block `bb` was added to Linux (offline for now).
    pub fn record_added(&mut self, bb: u64) {
        self.set_state(bb, BbState::Added);
    }

    /// Adding `bb` failed: it stays plugged, to be unplugged.
    pub fn record_add_failed(&mut self, bb: u64) {
        self.set_state(bb, BbState::Plugged);
    }

    /// The online parts of `bb` are about to be taken out of use.
    pub fn record_taking_out(&mut self, bb: u64) {
        self.set_state(bb, BbState::TakingOut);
    }

    /// Taking `bb` out failed: what was taken is back in use.
    pub fn record_kept(&mut self, bb: u64) {
        self.set_state(bb, BbState::Added);
    }

    /// `bb` was offlined and removed from Linux; it is still plugged until the device
    /// unplugs it.
    pub fn record_removed(&mut self, bb: u64) {
        for mb in self.mbs_of(bb) {
            self.record_offline(mb);
        }
        self.set_state(bb, BbState::Plugged);
    }

    /// The device unplugged `bb`.
    pub fn record_unplugged(&mut self, bb: u64) {
        self.set_state(bb, BbState::Unused);
    }

    /// Whether Linux may on- or offline memory of `bb`: it is added; while it is being taken
    /// out of use only when the driver does it itself (`own`). C lets anyone online it then
    /// and keeps the pages out of use; refusing others instead means no on- or offlining by
    /// someone else can be half done when the driver gives the memory back after a failed
    /// removal.
    pub fn may_transition(&self, bb: u64, own: bool) -> bool {
        match self.state(bb) {
            BbState::Added => true,
            BbState::TakingOut => own,
            BbState::Unused | BbState::Plugged => false,
        }
    }

    /// Whether the page at `addr` may be handed to the buddy allocator when onlined: its big
    /// block is plugged and not being taken out of use.
    pub fn is_usable(&self, addr: u64) -> bool {
        self.big
            .bb_of(addr)
            .is_some_and(|bb| self.state(bb) == BbState::Added)
    }

    /// A big block that is plugged but not added, lowest first: unplugged at the start of every
    /// run, as `virtio_mem_cleanup_pending_mb()` does.
    pub fn pending_unplug(&self) -> Option<u64> {
        (0..self.big.nb_bb).find(|&bb| self.state(bb) == BbState::Plugged)
    }

    /// The lowest unused big block below `usable_bbs`, to plug and add next.
    pub fn next_plug(&self, usable_bbs: u64) -> Option<u64> {
        (0..usable_bbs.min(self.big.nb_bb)).find(|&bb| self.state(bb) == BbState::Unused)
    }

    /// Starts a pass over the big blocks for unplugging; with `unplug_online` false only
    /// wholly offline ones are visited.
    pub fn unplug_pass(&self, unplug_online: bool) -> BbUnplugPass<'static> {
        BbUnplugPass {
            order: 0,
            last: None,
            limit: if unplug_online { VISIT_ORDER.len() } else { 1 },
            used: UsedBytes::NONE,
        }
    }

    fn fits(&self, bb: u64, visit: Visit) -> bool {
        self.state(bb) == BbState::Added
            && match visit {
                Visit::Offline => self.is_offline(bb),
                Visit::Movable => self.is_movable(bb),
                Visit::Any => true,
            }
    }
}

/// A pass over the big blocks in unplug order: offline ones, then those online only in
/// ZONE_MOVABLE, then any, as `virtio_mem_bbm_unplug_request()` visits them (a big block that
/// was busy in one round is visited again in a later one). Within a round, highest first as in
/// C, or, when the pass is [`BbUnplugPass::ranked`], the online ones fewest used bytes first.
#[derive(Clone, Debug)]
pub struct BbUnplugPass<'a> {
    order: usize,
    /// The big block this round visited last.
    last: Option<u64>,
    limit: usize,
    /// The order of the online big blocks of a round.
    used: UsedBytes<'a>,
}

impl<'a> BbUnplugPass<'a> {
    /// Visits the online big blocks of each round fewest used bytes first (`used[bb]`, a
    /// snapshot).
    pub fn ranked<'b>(self, used: UsedBytes<'b>) -> BbUnplugPass<'b> {
        BbUnplugPass { used, ..self }
    }

    /// The next big block to unplug, or `None` when the pass is over.
    pub fn next<T, B>(&mut self, bbm: &Bbm<T, B>) -> Option<u64>
    where
        T: DerefMut<Target = [BbState]>,
        B: DerefMut<Target = [u64]>,
    {
        while let Some(&visit) = VISIT_ORDER
            .get(self.order)
            .filter(|_| self.order < self.limit)
        {
            let rank = if visit == Visit::Offline {
                UsedBytes::NONE
            } else {
                self.used
            };
            match rank.next_after(
                self.last,
                (0..bbm.big.nb_bb).filter(|&bb| bbm.fits(bb, visit)),
            ) {
                Some(bb) => {
                    self.last = Some(bb);
                    return Some(bb);
                }
                None => {
                    self.order += 1;
                    self.last = None;
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;

    const MIB: u64 = 1 << 20;

    pub(crate) fn bbm(nb_bb: u64) -> Bbm<Vec<BbState>, Vec<u64>> {
        let region = Region {
            addr: 4096 * MIB,
            size: nb_bb * 1024 * MIB,
            block_size: 1024 * MIB,
            mb_size: 128 * MIB,
            first_mb: 32,
            nb_mb: nb_bb * 8,
        };
        let big = BigBlocks {
            bb_size: 1024 * MIB,
            first_bb: 4,
            nb_bb,
        };
        let (s, w) = Bbm::<Vec<BbState>, Vec<u64>>::storage_len(&region, &big).unwrap();
        Bbm::new(region, big, vec![BbState::Unused; s], vec![0; w]).unwrap()
    }

    fn add(b: &mut Bbm<Vec<BbState>, Vec<u64>>, bb: u64) {
        b.record_plugged(bb);
        b.record_added(bb);
    }

    #[test]
    fn plugs_the_lowest_unused_usable_big_block() {
        let mut b = bbm(4);
        assert_eq!(b.next_plug(4), Some(0));
        add(&mut b, 0);
        assert_eq!(b.next_plug(4), Some(1));
        assert_eq!(b.next_plug(1), None);
        assert_eq!(b.plugged_bbs(), 1);
        assert_eq!(b.mbs_of(1), 8..16);
    }

    #[test]
    fn unplugs_offline_then_movable_then_kernel_highest_first() {
        let mut b = bbm(4);
        for bb in 0..4 {
            add(&mut b, bb);
        }
        // 0: movable, 1: offline, 2: one kernel block, 3: movable.
        for mb in b.mbs_of(0).chain(b.mbs_of(3)) {
            b.record_online(mb, true);
        }
        b.record_online(17, false);
        let mut pass = b.unplug_pass(true);
        let order: Vec<u64> = core::iter::from_fn(|| pass.next(&b)).collect();
        // The offline one, the movable ones highest first, then every added one again.
        assert_eq!(order, [1, 3, 1, 0, 3, 2, 1, 0]);
        let mut pass = b.unplug_pass(false);
        let order: Vec<u64> = core::iter::from_fn(|| pass.next(&b)).collect();
        assert_eq!(order, [1]);
    }

    #[test]
    fn only_the_driver_touches_a_big_block_on_its_way_out() {
        let mut b = bbm(2);
        add(&mut b, 1);
        assert!(b.may_transition(1, false) && b.is_usable(b.region.mb_addr(8)));
        assert!(!b.may_transition(0, false) && !b.may_transition(0, true));
        b.record_taking_out(1);
        assert!(!b.may_transition(1, false) && !b.is_usable(b.region.mb_addr(9)));
        // The driver's own removal, and the re-onlining of a failed one, go on.
        assert!(b.may_transition(1, true));
        b.record_kept(1);
        assert!(b.may_transition(1, false));
        b.record_online(9, false);
        b.record_removed(1);
        assert_eq!(b.state(1), BbState::Plugged);
        assert!(!b.mb_online(9) && !b.mb_in_kernel_zone(9));
        assert_eq!(b.pending_unplug(), Some(1));
        b.record_unplugged(1);
        assert_eq!(b.pending_unplug(), None);
    }

    #[test]
    fn refuses_storage_too_small_or_big_blocks_off_the_region() {
        let region = bbm(2).region;
        let big = BigBlocks {
            bb_size: 1024 * MIB,
            first_bb: 4,
            nb_bb: 2,
        };
        assert!(Bbm::new(region, big, vec![BbState::Unused; 1], vec![0; 2]).is_none());
        assert!(Bbm::new(region, big, vec![BbState::Unused; 2], vec![0; 1]).is_none());
        let off = BigBlocks { first_bb: 5, ..big };
        assert!(Bbm::new(region, off, vec![BbState::Unused; 2], vec![0; 2]).is_none());
    }
}
