// SPDX-License-Identifier: GPL-2.0

//! Sub Block Mode: one state per Linux memory block, one bit per subblock, and the choice of
//! what to plug or unplug next (the order of `drivers/virtio/virtio_mem.c`).
//!
//! The driver asks for a step, carries it out with the kernel and the device, and reports
//! what happened with the `record_*` methods; the choice never depends on anything but this
//! state, so the host tests can replay any sequence.

use super::geometry::{Region, SubBlocks};
use super::unplug_rank::UsedBytes;
use core::ops::DerefMut;

/// The state of one memory block of the device region.
#[repr(u8)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MbState {
    /// Nothing plugged, not added to Linux.
    #[default]
    Unused = 0,
    /// Some subblocks plugged, not added to Linux (adding failed): to be unplugged.
    Plugged,
    /// All subblocks plugged, added, offline.
    Offline,
    /// Some subblocks plugged, added, offline.
    OfflinePartial,
    /// All subblocks plugged, online in a kernel zone.
    Kernel,
    /// Some subblocks plugged, online in a kernel zone.
    KernelPartial,
    /// All subblocks plugged, online in ZONE_MOVABLE.
    Movable,
    /// Some subblocks plugged, online in ZONE_MOVABLE.
    MovablePartial,
}

impl MbState {
    /// Whether the block is online (its pages are the buddy allocator's or in use).
    pub fn is_online(self) -> bool {
        matches!(
            self,
            Self::Kernel | Self::KernelPartial | Self::Movable | Self::MovablePartial
        )
    }

    /// Whether Linux may online the block: it is added and offline.
    pub fn may_go_online(self) -> bool {
        matches!(self, Self::Offline | Self::OfflinePartial)
    }

    /// Whether the block is added to Linux.
    pub fn is_added(self) -> bool {
        !matches!(self, Self::Unused | Self::Plugged)
    }

    /// The state of an added block with `all` or only some subblocks plugged.
    fn with_fullness(self, all: bool) -> Self {
        match (self, all) {
            (Self::Offline | Self::OfflinePartial, true) => Self::Offline,
            (Self::Offline | Self::OfflinePartial, false) => Self::OfflinePartial,
            (Self::Kernel | Self::KernelPartial, true) => Self::Kernel,
            (Self::Kernel | Self::KernelPartial, false) => Self::KernelPartial,
            (Self::Movable | Self::MovablePartial, true) => Self::Movable,
            (Self::Movable | Self::MovablePartial, false) => Self::MovablePartial,
            (s, _) => s,
        }
    }
}

/// Subblocks `first..first + count` of one memory block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SbRange {
    /// The memory block, as an index into the region's blocks.
    pub mb: u64,
    /// The first subblock.
    pub first: u32,
    /// How many subblocks.
    pub count: u32,
}

/// The next plug to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlugStep {
    /// Plug these unplugged subblocks of an added block (and fake-online them when the block
    /// is online).
    Subblocks(SbRange),
    /// Plug these subblocks (from the first) of an unused block, then add the block.
    NewBlock(SbRange),
}

/// The next unplug to carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnplugStep {
    /// The plugged subblocks to unplug.
    pub range: SbRange,
    /// The block is online: take the subblocks with `alloc_contig_range()` first.
    pub online: bool,
}

/// States plugging fills, in order: online partial blocks, then offline ones.
const PLUG_ORDER: [MbState; 3] = [
    MbState::KernelPartial,
    MbState::MovablePartial,
    MbState::OfflinePartial,
];

/// States unplugging empties, in order: blocks that failed to be added, offline blocks
/// (partial first), then online ones, ZONE_MOVABLE before kernel zones and partial blocks
/// before full ones, so that whole blocks can go with their metadata and kernel memory is
/// touched last.
const UNPLUG_ORDER: [MbState; 7] = [
    MbState::Plugged,
    MbState::OfflinePartial,
    MbState::Offline,
    MbState::MovablePartial,
    MbState::KernelPartial,
    MbState::Movable,
    MbState::Kernel,
];
/// How many of [`UNPLUG_ORDER`] are offline states.
const UNPLUG_OFFLINE_STATES: usize = 3;

/// The Sub Block Mode state of one device, in storage the caller provides: `states` has a
/// slot per memory block and `bitmap` [`Geometry::words_per_mb`] words per memory block.
pub struct Sbm<S, B> {
    region: Region,
    sub: SubBlocks,
    states: S,
    bitmap: B,
    /// Subblocks at the start of every added block that hold the block's own memory map
    /// (`memmap_on_memory`): plugged before the block is added, never offered for unplug while
    /// it is, and unplugged after it is removed. 0 when the map is elsewhere.
    memmap_sbs: u32,
    /// The bytes of that map, which Linux leaves out of the block's on- and offlining.
    memmap_bytes: u64,
}

impl<S, B> Sbm<S, B>
where
    S: DerefMut<Target = [MbState]>,
    B: DerefMut<Target = [u64]>,
{
    /// Wraps zeroed storage (all blocks unused); `None` when it is too small.
    pub fn new(region: Region, sub: SubBlocks, states: S, bitmap: B) -> Option<Self> {
        let nb = usize::try_from(region.nb_mb).ok()?;
        if states.len() < nb || bitmap.len() < nb.checked_mul(sub.words_per_mb())? {
            return None;
        }
        Some(Self {
            region,
            sub,
            states,
            bitmap,
            memmap_sbs: 0,
            memmap_bytes: 0,
        })
    }

    /// Blocks added from now on hold their memory map in their first `bytes` (0: the map is
    /// elsewhere). Returns whether it is taken: only before any block is added, and only for a
    /// map smaller than a block.
    pub fn set_memmap_bytes(&mut self, bytes: u64) -> bool {
        let sbs = bytes.div_ceil(self.sub.sb_size);
        if (0..self.region.nb_mb).any(|mb| self.state(mb) != MbState::Unused)
            || sbs >= u64::from(self.sub.sbs_per_mb)
        {
            return false;
        }
        // Below `sbs_per_mb`, a u32.
        self.memmap_sbs = sbs as u32;
        self.memmap_bytes = bytes;
        true
    }

    /// The bytes at the start of every added block that hold its memory map (0: none).
    pub fn memmap_bytes(&self) -> u64 {
        self.memmap_bytes
    }

    /// Subblocks at the start of every added block that hold its memory map.
    pub fn memmap_sbs(&self) -> u32 {
        self.memmap_sbs
    }

    /// The subblocks block `mb` keeps plugged as long as it is added: those of its memory map.
    pub fn kept(&self, mb: u64) -> u32 {
        if self.state(mb).is_added() {
            self.memmap_sbs
        } else {
            0
        }
    }

    /// Whether block `mb` is added with nothing plugged but its memory map: it is to be
    /// removed (and then its map's subblocks unplugged).
    pub fn is_emptied(&self, mb: u64) -> bool {
        self.state(mb).is_added() && self.plugged_in(mb) <= self.memmap_sbs
    }

    /// The region.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The subblocks.
    pub fn sub_blocks(&self) -> &SubBlocks {
        &self.sub
    }

    /// The first byte of subblock `sb` of memory block `mb`.
    pub fn sb_addr(&self, mb: u64, sb: u32) -> u64 {
        self.region.mb_addr(mb) + u64::from(sb) * self.sub.sb_size
    }

    /// The memory block (index) and subblock holding `addr`, if it is in one of the region's
    /// blocks.
    pub fn sb_of(&self, addr: u64) -> Option<(u64, u32)> {
        let mb = self.region.mb_of(addr)?;
        let sb = u32::try_from((addr - self.region.mb_addr(mb)) / self.sub.sb_size).ok()?;
        Some((mb, sb))
    }

    /// The state of block `mb`.
    pub fn state(&self, mb: u64) -> MbState {
        self.states[mb as usize]
    }

    fn set_state(&mut self, mb: u64, s: MbState) {
        self.states[mb as usize] = s;
    }

    fn bit(&self, mb: u64, sb: u32) -> (usize, u64) {
        let word = mb as usize * self.sub.words_per_mb() + sb as usize / 64;
        (word, 1u64 << (sb % 64))
    }

    /// Whether subblock `sb` of block `mb` is plugged.
    pub fn is_plugged(&self, mb: u64, sb: u32) -> bool {
        let (w, m) = self.bit(mb, sb);
        self.bitmap[w] & m != 0
    }

    fn set_bits(&mut self, mb: u64, first: u32, count: u32, plugged: bool) {
        for sb in first..first + count {
            let (w, m) = self.bit(mb, sb);
            if plugged {
                self.bitmap[w] |= m;
            } else {
                self.bitmap[w] &= !m;
            }
        }
    }

    /// Plugged subblocks of block `mb`.
    pub fn plugged_in(&self, mb: u64) -> u32 {
        let w = self.sub.words_per_mb();
        let start = mb as usize * w;
        self.bitmap[start..start + w]
            .iter()
            .map(|x| x.count_ones())
            .sum()
    }

    /// Whether all of `first..first + count` of block `mb` are plugged (`true`) or all
    /// unplugged (`false`).
    pub fn all(&self, mb: u64, first: u32, count: u32, plugged: bool) -> bool {
        (first..first + count).all(|sb| self.is_plugged(mb, sb) == plugged)
    }

    /// Everything plugged, in subblocks.
    pub fn plugged_subblocks(&self) -> u64 {
        (0..self.region.nb_mb)
            .map(|mb| u64::from(self.plugged_in(mb)))
            .sum()
    }

    fn refresh_fullness(&mut self, mb: u64) {
        let all = self.plugged_in(mb) == self.sub.sbs_per_mb;
        let s = self.state(mb).with_fullness(all);
        self.set_state(mb, s);
    }

    /// The device plugged `first..first + count` of block `mb`.
    pub fn record_plugged(&mut self, mb: u64, first: u32, count: u32) {
        self.set_bits(mb, first, count, true);
        if self.state(mb) == MbState::Unused {
            self.set_state(mb, MbState::Plugged);
        }
        self.refresh_fullness(mb);
    }

    /// The device unplugged `first..first + count` of block `mb`.
    pub fn record_unplugged(&mut self, mb: u64, first: u32, count: u32) {
        self.set_bits(mb, first, count, false);
        if self.state(mb) == MbState::Plugged && self.plugged_in(mb) == 0 {
            self.set_state(mb, MbState::Unused);
        }
        self.refresh_fullness(mb);
    }

    /// Block `mb` was added to Linux (offline for now).
    pub fn record_added(&mut self, mb: u64) {
        self.set_state(mb, MbState::Offline);
        self.refresh_fullness(mb);
    }

    /// Adding block `mb` failed: it stays plugged but not added, to be unplugged.
    pub fn record_add_failed(&mut self, mb: u64) {
        self.set_state(mb, MbState::Plugged);
    }

    /// Block `mb` was removed from Linux, with nothing plugged but its memory map's
    /// subblocks, which are now to be unplugged ([`Sbm::pending_unplug`]).
    pub fn record_removed(&mut self, mb: u64) {
        let s = if self.plugged_in(mb) > 0 {
            MbState::Plugged
        } else {
            MbState::Unused
        };
        self.set_state(mb, s);
    }

    /// Block `mb` went online, into ZONE_MOVABLE or a kernel zone.
    pub fn record_online(&mut self, mb: u64, movable: bool) {
        self.set_state(
            mb,
            if movable {
                MbState::Movable
            } else {
                MbState::Kernel
            },
        );
        self.refresh_fullness(mb);
    }

    /// Block `mb` went offline.
    pub fn record_offline(&mut self, mb: u64) {
        self.set_state(mb, MbState::Offline);
        self.refresh_fullness(mb);
    }

    /// An added block with nothing plugged any more (but its memory map), highest first: it is
    /// to be removed from Linux (offlined first when online).
    pub fn emptied_block(&self) -> Option<u64> {
        self.emptied_block_below(self.region.nb_mb)
    }

    /// Like [`Sbm::emptied_block`], among the blocks below `limit`: to go on after a block
    /// that could not be removed.
    pub fn emptied_block_below(&self, limit: u64) -> Option<u64> {
        (0..limit.min(self.region.nb_mb))
            .rev()
            .find(|&mb| self.is_emptied(mb))
    }

    /// The plugged subblocks of a block that failed to be added or was removed with its memory
    /// map's subblocks, highest block first: unplugged at the start of every run, whatever the requested size, as the C driver's
    /// `virtio_mem_cleanup_pending_mb()` does (nothing else would ever unplug them while the
    /// device is asked to grow).
    pub fn pending_unplug(&self) -> Option<SbRange> {
        let mb = (0..self.region.nb_mb)
            .rev()
            .find(|&mb| self.state(mb) == MbState::Plugged)?;
        let per_mb = self.sub.sbs_per_mb;
        let first = (0..per_mb).find(|&sb| self.is_plugged(mb, sb))?;
        let end = (first..per_mb)
            .find(|&sb| !self.is_plugged(mb, sb))
            .unwrap_or(per_mb);
        Some(SbRange {
            mb,
            first,
            count: end - first,
        })
    }

    /// Blocks in state `s`, lowest first.
    fn blocks_in(&self, s: MbState) -> impl Iterator<Item = u64> + '_ {
        (0..self.region.nb_mb).filter(move |&mb| self.state(mb) == s)
    }

    /// The next plug toward `nb_sb` more subblocks, using only the first `usable_mbs` blocks
    /// for new ones; `None` when there is nothing left to plug into.
    pub fn next_plug(&self, nb_sb: u64, usable_mbs: u64) -> Option<PlugStep> {
        if nb_sb == 0 {
            return None;
        }
        let want = u32::try_from(nb_sb.min(u64::from(self.sub.sbs_per_mb))).ok()?;
        for s in PLUG_ORDER {
            for mb in self.blocks_in(s) {
                let Some(first) = (0..self.sub.sbs_per_mb).find(|&sb| !self.is_plugged(mb, sb))
                else {
                    continue;
                };
                let count = (first..self.sub.sbs_per_mb)
                    .take_while(|&sb| !self.is_plugged(mb, sb))
                    .take(want as usize)
                    .count() as u32;
                return Some(PlugStep::Subblocks(SbRange { mb, first, count }));
            }
        }
        // A new block needs its memory map's subblocks and one more to be of use: less than
        // that stays unplugged.
        if self.memmap_sbs > 0 && want <= self.memmap_sbs {
            return None;
        }
        self.blocks_in(MbState::Unused)
            .find(|&mb| mb < usable_mbs)
            .map(|mb| {
                PlugStep::NewBlock(SbRange {
                    mb,
                    first: 0,
                    count: want,
                })
            })
    }

    /// Starts a pass over the blocks for unplugging; with `unplug_online` false only offline
    /// blocks are touched.
    pub fn unplug_pass(&self, unplug_online: bool) -> UnplugPass<'static> {
        UnplugPass {
            order: 0,
            mb: None,
            sb_end: 0,
            cap: u32::MAX,
            offered: None,
            busy_singles: 0,
            limit: if unplug_online {
                UNPLUG_ORDER.len()
            } else {
                UNPLUG_OFFLINE_STATES
            },
            used: UsedBytes::NONE,
        }
    }
}

/// A pass over the blocks in unplug order. Each block is visited once per pass, from its
/// highest subblock down, so a subblock that was busy is not tried again in the same pass.
///
/// Online subblocks are offered in aligned power-of-two chunks, the largest that fits first
/// (the whole block when it is fully plugged and wanted whole); a chunk that stays plugged
/// was busy and is offered again as two halves, upper first, down to single subblocks. The C
/// driver falls back from the whole block to single subblocks at once: that unplugs the same
/// subblocks with one request and one allocation per subblock, where a busy subblock here
/// costs about two per halving level and the free ones share requests.
///
/// Halving pays where busy subblocks are few. Where they are many (pinned memory everywhere),
/// it tries every subblock at every level, about twice C's allocations, and each failed
/// `alloc_contig_range()` costs as much as a successful one: `make bench` measured twice C's
/// guest CPU per attempt. So after [`DENSE_AFTER`] busy single subblocks in a block, the rest
/// of it is offered one subblock at a time, as C does: at most `2 * (log2(sbs_per_mb) - 1)`
/// allocations more than C per block, whatever is busy (one failed chunk per level on the way
/// to each of the two busy subblocks).
#[derive(Clone, Debug)]
pub struct UnplugPass<'a> {
    order: usize,
    /// The block being worked on.
    mb: Option<u64>,
    /// Subblocks of `mb` from this one up are done.
    sb_end: u32,
    /// The largest online chunk to offer next: the upper half of one that was busy.
    cap: u32,
    /// The last online chunk offered: if it is still plugged at the next call, it was busy.
    offered: Option<SbRange>,
    /// Busy single subblocks of the current block so far.
    busy_singles: u32,
    limit: usize,
    /// The order of the online blocks of one state.
    used: UsedBytes<'a>,
}

impl<'a> UnplugPass<'a> {
    /// Visits the online blocks of each state fewest used bytes first (`used[mb]`, a snapshot);
    /// offline blocks, which need no migration, stay highest first.
    pub fn ranked<'b>(self, used: UsedBytes<'b>) -> UnplugPass<'b> {
        UnplugPass { used, ..self }
    }

    /// The next block of the current state after `after` in the pass's order.
    fn next_block<S, B>(&self, sbm: &Sbm<S, B>, after: Option<u64>) -> Option<u64>
    where
        S: DerefMut<Target = [MbState]>,
        B: DerefMut<Target = [u64]>,
    {
        let &state = UNPLUG_ORDER.get(self.order)?;
        let rank = if state.is_online() {
            self.used
        } else {
            UsedBytes::NONE
        };
        rank.next_after(
            after,
            (0..sbm.region.nb_mb).filter(|&mb| sbm.state(mb) == state),
        )
    }

    /// The next unplug toward `nb_sb` fewer subblocks, or `None` when the pass is over.
    pub fn next<S, B>(&mut self, sbm: &Sbm<S, B>, nb_sb: u64) -> Option<UnplugStep>
    where
        S: DerefMut<Target = [MbState]>,
        B: DerefMut<Target = [u64]>,
    {
        if let Some(prev) = self.offered.take() {
            let busy = sbm.all(prev.mb, prev.first, prev.count, true);
            if busy && prev.count > 1 {
                self.cap = prev.count / 2;
            } else {
                if busy {
                    self.busy_singles += 1;
                }
                self.done_down_to(prev.first);
            }
        }
        if nb_sb == 0 {
            return None;
        }
        let per_mb = sbm.sub.sbs_per_mb;
        while self.order < self.limit {
            let Some(mb) = self.mb else {
                // The first block in this state.
                match self.next_block(sbm, None) {
                    Some(mb) => self.start_block(mb, per_mb),
                    None => self.order += 1,
                }
                continue;
            };
            // The subblocks holding the block's memory map go only after the block, and a block
            // removed meanwhile leaves them to the driver, which counted them with it.
            let kept = sbm.kept(mb);
            let removed = UNPLUG_ORDER
                .get(self.order)
                .is_some_and(|s| s.is_added() && !sbm.state(mb).is_added());
            if self.sb_end <= kept || removed {
                self.finish_block(sbm, mb);
                continue;
            }
            let online = sbm.state(mb).is_online();
            let range = if online {
                // The largest chunk aligned to its size that ends at `sb_end` and stays above
                // the kept subblocks.
                let above = prev_power_of_two(self.sb_end - kept);
                let count = (1u32 << self.sb_end.trailing_zeros())
                    .min(self.cap)
                    .min(above);
                let range = SbRange {
                    mb,
                    first: self.sb_end - count,
                    count,
                };
                if sbm.all(mb, range.first, count, false) {
                    self.done_down_to(range.first);
                    continue;
                }
                if count > 1 && (u64::from(count) > nb_sb || !sbm.all(mb, range.first, count, true))
                {
                    self.cap = count / 2;
                    continue;
                }
                if !leaves_room_for_map(sbm, mb, count, nb_sb) {
                    if count > 1 {
                        self.cap = count / 2;
                    } else {
                        self.finish_block(sbm, mb);
                    }
                    continue;
                }
                self.offered = Some(range);
                range
            } else {
                let Some(top) = (kept..self.sb_end).rev().find(|&sb| sbm.is_plugged(mb, sb)) else {
                    self.finish_block(sbm, mb);
                    continue;
                };
                // Offline subblocks need no allocation: runs of plugged ones in one request.
                let max = nb_sb.min(u64::from(per_mb)) as u32;
                let mut first = top;
                while first > kept && top + 1 - first < max && sbm.is_plugged(mb, first - 1) {
                    first -= 1;
                }
                if !leaves_room_for_map(sbm, mb, top + 1 - first, nb_sb) {
                    if first == top {
                        self.finish_block(sbm, mb);
                        continue;
                    }
                    first += 1;
                }
                self.done_down_to(first);
                SbRange {
                    mb,
                    first,
                    count: top + 1 - first,
                }
            };
            return Some(UnplugStep { range, online });
        }
        None
    }

    /// Leaves the rest of block `mb` for a later pass (it is going on- or offline).
    pub fn skip_block<S, B>(&mut self, sbm: &Sbm<S, B>, mb: u64)
    where
        S: DerefMut<Target = [MbState]>,
        B: DerefMut<Target = [u64]>,
    {
        self.offered = None;
        if self.mb == Some(mb) {
            self.finish_block(sbm, mb);
        }
    }

    fn start_block(&mut self, mb: u64, per_mb: u32) {
        self.mb = Some(mb);
        self.offered = None;
        self.busy_singles = 0;
        self.done_down_to(per_mb);
    }

    /// Marks the subblocks of the current block from `sb` up as done. What is left of a block
    /// with many busy subblocks goes one subblock at a time.
    fn done_down_to(&mut self, sb: u32) {
        self.sb_end = sb;
        self.cap = if self.busy_singles >= DENSE_AFTER {
            1
        } else {
            u32::MAX
        };
    }

    /// Moves past block `mb`: to the next block in the same state in the pass's order, found
    /// afresh.
    fn finish_block<S, B>(&mut self, sbm: &Sbm<S, B>, mb: u64)
    where
        S: DerefMut<Target = [MbState]>,
        B: DerefMut<Target = [u64]>,
    {
        match self.next_block(sbm, Some(mb)) {
            Some(next) => self.start_block(next, sbm.sub.sbs_per_mb),
            None => {
                self.mb = None;
                self.order += 1;
            }
        }
    }
}

/// After this many busy single subblocks in a block, the rest of it is offered one subblock
/// at a time ([`UnplugPass`]). Halving finds one busy subblock in about `log2(sbs_per_mb)`
/// failed allocations and saves many; a second says the block may be busy in many places.
pub const DENSE_AFTER: u32 = 2;

/// The largest power of two at most `n` (`n` > 0).
fn prev_power_of_two(n: u32) -> u32 {
    1 << (31 - n.max(1).leading_zeros())
}

/// Whether unplugging `count` more plugged subblocks of `mb` fits in `nb_sb`: when they are
/// the last ones but its memory map's, the block is removed and the map's subblocks are
/// unplugged with them, so those must fit too (the size never goes below the request).
fn leaves_room_for_map<S, B>(sbm: &Sbm<S, B>, mb: u64, count: u32, nb_sb: u64) -> bool
where
    S: DerefMut<Target = [MbState]>,
    B: DerefMut<Target = [u64]>,
{
    let kept = sbm.kept(mb);
    kept == 0
        || sbm.plugged_in(mb).saturating_sub(count) > kept
        || u64::from(count) + u64::from(kept) <= nb_sb
}
