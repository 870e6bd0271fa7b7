// SPDX-License-Identifier: GPL-2.0

//! The one face of the two modes: what to plug or unplug next, as [`Step`]s in the device's
//! terms (byte ranges of the region and the hotplug unit they belong to), what happened, and
//! the answers the memory notifier and the online-page handler need. The driver executes
//! steps and never names a mode; each mode plans behind [`Planner`].
//!
//! A *hotplug unit* is what Linux adds and removes at once: a memory block in Sub Block Mode,
//! a big block in Big Block Mode. Units are numbered from the region's first one.

use super::bbm::{BbState, BbUnplugPass, Bbm};
use super::geometry::{Blocks, Geometry, Region};
use super::sbm::{MbState, PlugStep, SbRange, Sbm, UnplugPass as SbUnplugPass, UnplugStep};
use super::unplug_rank::UsedBytes;
use core::ops::DerefMut;

/// A byte range of the device region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub addr: u64,
    /// Bytes.
    pub size: u64,
}

impl Span {
    /// One past the last byte.
    pub fn end(&self) -> u64 {
        self.addr + self.size
    }
}

/// One thing to do, with the device and with Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Plug `plug` (inside unit `unit`, which is not added), then add the whole unit (`add`)
    /// to Linux.
    PlugAndAdd {
        /// The hotplug unit.
        unit: u64,
        /// What to plug.
        plug: Span,
        /// What to add: the whole unit.
        add: Span,
    },
    /// Plug `span` inside the added unit `unit`; when `online`, its pages go to the buddy
    /// allocator (fake-onlined).
    PlugInto {
        /// The hotplug unit.
        unit: u64,
        /// What to plug.
        span: Span,
        /// The unit is online.
        online: bool,
    },
    /// Unplug `span`, which nobody uses (its unit is offline or not added).
    Unplug {
        /// The hotplug unit.
        unit: u64,
        /// What to unplug.
        span: Span,
    },
    /// Take `span` out of use (allocate it with `alloc_contig_range()` and fake-offline it),
    /// then unplug it; the unit stays added.
    TakeThenUnplug {
        /// The hotplug unit.
        unit: u64,
        /// What to take and unplug.
        span: Span,
    },
    /// Take every online memory block of the unit out of use (all or nothing), offline and
    /// remove the whole unit, then unplug it.
    RemoveThenUnplug {
        /// The hotplug unit.
        unit: u64,
        /// The whole unit.
        span: Span,
    },
}

impl Step {
    /// The hotplug unit the step works on.
    pub fn unit(&self) -> u64 {
        match *self {
            Step::PlugAndAdd { unit, .. }
            | Step::PlugInto { unit, .. }
            | Step::Unplug { unit, .. }
            | Step::TakeThenUnplug { unit, .. }
            | Step::RemoveThenUnplug { unit, .. } => unit,
        }
    }

    /// What the step plugs or unplugs.
    pub fn span(&self) -> Span {
        match *self {
            Step::PlugAndAdd { plug, .. } => plug,
            Step::PlugInto { span, .. }
            | Step::Unplug { span, .. }
            | Step::TakeThenUnplug { span, .. }
            | Step::RemoveThenUnplug { span, .. } => span,
        }
    }
}

/// Whether a range Linux on- or offlines is the device's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Membership {
    /// Not in the device region.
    NotOurs,
    /// Inside this one hotplug unit, as the mode adds it.
    Unit(u64),
    /// In the region, but not as the mode adds memory (several units, or part of one in Sub
    /// Block Mode, where units come and go whole): refused.
    NotWhole,
}

/// Where a planner keeps its state: the kernel's vectors in the driver, the standard
/// library's on the host.
pub trait Store {
    /// A vector of `T`.
    type Vec<T>: DerefMut<Target = [T]>;

    /// `len` default values, or `None` when there is no memory for them.
    fn zeroed<T: Clone + Default>(len: usize) -> Option<Self::Vec<T>>;
}

/// The planner of one device.
pub enum Planner<St: Store> {
    /// Sub Block Mode.
    Sub(Sbm<St::Vec<MbState>, St::Vec<u64>>),
    /// Big Block Mode.
    Big(Bbm<St::Vec<BbState>, St::Vec<u64>>),
}

/// A pass over the units for unplugging: each unit is visited in the mode's order, and what
/// was busy is not offered again in the same pass.
#[derive(Clone, Debug)]
pub enum UnplugPass<'a> {
    /// Sub Block Mode.
    Sub(SbUnplugPass<'a>),
    /// Big Block Mode.
    Big(BbUnplugPass<'a>),
}

impl<St: Store> Planner<St> {
    /// A planner for `geo` with nothing plugged; `None` when there is no memory for its state
    /// (or the layout is inconsistent).
    pub fn new(geo: &Geometry) -> Option<Self> {
        let r = &geo.region;
        let nb_mb = usize::try_from(r.nb_mb).ok()?;
        match geo.blocks {
            Blocks::Sub(sub) => Sbm::new(
                *r,
                sub,
                St::zeroed(nb_mb)?,
                St::zeroed(nb_mb.checked_mul(sub.words_per_mb())?)?,
            )
            .map(Self::Sub),
            Blocks::Big(big) => {
                let (states, words) = Bbm::<St::Vec<BbState>, St::Vec<u64>>::storage_len(r, &big)?;
                Bbm::new(*r, big, St::zeroed(states)?, St::zeroed(words)?).map(Self::Big)
            }
        }
    }

    /// The region.
    pub fn region(&self) -> &Region {
        match self {
            Self::Sub(s) => s.region(),
            Self::Big(b) => b.region(),
        }
    }

    /// The layout.
    pub fn geometry(&self) -> Geometry {
        match self {
            Self::Sub(s) => Geometry {
                region: *s.region(),
                blocks: Blocks::Sub(*s.sub_blocks()),
            },
            Self::Big(b) => Geometry {
                region: *b.region(),
                blocks: Blocks::Big(*b.big_blocks()),
            },
        }
    }

    /// The unit of plugging: a subblock or a big block.
    pub fn plug_unit(&self) -> u64 {
        self.geometry().plug_unit()
    }

    /// Hotplug units in the region.
    pub fn units(&self) -> u64 {
        match self {
            Self::Sub(s) => s.region().nb_mb,
            Self::Big(b) => b.big_blocks().nb_bb,
        }
    }

    /// The bytes of hotplug unit `unit`.
    pub fn unit_span(&self, unit: u64) -> Span {
        match self {
            Self::Sub(s) => Span {
                addr: s.region().mb_addr(unit),
                size: s.region().mb_size,
            },
            Self::Big(b) => Span {
                addr: b.big_blocks().bb_addr(unit),
                size: b.big_blocks().bb_size,
            },
        }
    }

    /// Bytes plugged, by the driver's own count.
    pub fn plugged_bytes(&self) -> u64 {
        match self {
            Self::Sub(s) => s.plugged_subblocks() * s.sub_blocks().sb_size,
            Self::Big(b) => b.plugged_bbs() * b.big_blocks().bb_size,
        }
    }

    /// Units added from now on hold their memory map in their first `bytes`
    /// (`memmap_on_memory`); returns whether the mode takes it. Sub Block Mode does, before
    /// anything is added, when the map is smaller than a block: the subblocks holding it are
    /// plugged first and unplugged last. Big Block Mode does not: it takes whole memory blocks
    /// out of use before removing them, which would take the map too.
    pub fn set_memmap_bytes(&mut self, bytes: u64) -> bool {
        match self {
            Self::Sub(s) => s.set_memmap_bytes(bytes),
            Self::Big(_) => false,
        }
    }

    /// Whether units are added with their memory map on themselves.
    pub fn memmap_on_memory(&self) -> bool {
        matches!(self, Self::Sub(s) if s.memmap_sbs() > 0)
    }

    /// The range of a memory block as the driver counts it, for `addr..addr + size` that
    /// Linux reports going on- or offline: with the memory map on the block, Linux leaves the
    /// map's pages out.
    pub fn notified_span(&self, addr: u64, size: u64) -> Span {
        let span = Span { addr, size };
        let Self::Sub(s) = self else {
            return span;
        };
        let map = s.memmap_bytes();
        let r = s.region();
        match addr.checked_sub(map).and_then(|start| r.mb_of(start)) {
            Some(mb) if map > 0 && r.mb_addr(mb) + map == addr && size + map == r.mb_size => Span {
                addr: r.mb_addr(mb),
                size: r.mb_size,
            },
            _ => span,
        }
    }

    /// Whether `addr..addr + size`, which Linux on- or offlines, is ours and how (a range from
    /// [`Planner::notified_span`]).
    pub fn membership(&self, addr: u64, size: u64) -> Membership {
        let r = self.region();
        let end = addr.saturating_add(size);
        if size == 0 || end <= r.addr || addr >= r.addr.saturating_add(r.size) {
            return Membership::NotOurs;
        }
        let unit = match self {
            Self::Sub(s) => s
                .region()
                .mb_of(addr)
                .filter(|&mb| s.region().mb_addr(mb) == addr && size == s.region().mb_size),
            Self::Big(b) => b
                .big_blocks()
                .bb_of(addr)
                .filter(|&bb| b.big_blocks().bb_of(end - 1) == Some(bb)),
        };
        unit.map_or(Membership::NotWhole, Membership::Unit)
    }

    /// Whether Linux may online memory of `unit`, `own` when the driver does it itself: it is
    /// added and offline with something plugged (Sub Block Mode), or added and not on its way
    /// out unless this is the driver's own doing (Big Block Mode).
    pub fn may_go_online(&self, unit: u64, own: bool) -> bool {
        match self {
            Self::Sub(s) => s.state(unit).may_go_online() && s.plugged_in(unit) > s.kept(unit),
            Self::Big(b) => b.may_transition(unit, own),
        }
    }

    /// Whether Linux may offline memory of `unit`, `own` when the driver does it itself.
    pub fn may_go_offline(&self, unit: u64, own: bool) -> bool {
        match self {
            Self::Sub(_) => true,
            Self::Big(b) => b.may_transition(unit, own),
        }
    }

    /// `addr..addr + size` of our unit went online, into ZONE_MOVABLE or a kernel zone.
    pub fn record_online(&mut self, addr: u64, size: u64, movable: bool) {
        match self {
            Self::Sub(s) => {
                if let Some(mb) = s.region().mb_of(addr) {
                    s.record_online(mb, movable);
                }
            }
            Self::Big(b) => {
                let region = *b.region();
                for mb in mbs_in(&region, addr, size) {
                    b.record_online(mb, movable);
                }
            }
        }
    }

    /// `addr..addr + size` of our unit went offline.
    pub fn record_offline(&mut self, addr: u64, size: u64) {
        match self {
            Self::Sub(s) => {
                if let Some(mb) = s.region().mb_of(addr) {
                    s.record_offline(mb);
                }
            }
            Self::Big(b) => {
                let region = *b.region();
                for mb in mbs_in(&region, addr, size) {
                    b.record_offline(mb);
                }
            }
        }
    }

    /// Whether the memory block holding `addr` is online.
    pub fn is_online(&self, addr: u64) -> bool {
        match self {
            Self::Sub(s) => s
                .region()
                .mb_of(addr)
                .is_some_and(|mb| s.state(mb).is_online()),
            Self::Big(b) => b.region().mb_of(addr).is_some_and(|mb| b.mb_online(mb)),
        }
    }

    /// Whether the pageblock at `addr`, being onlined, may go to the buddy allocator: it is
    /// plugged and not on its way out.
    pub fn is_usable(&self, addr: u64) -> bool {
        match self {
            Self::Sub(s) => s.sb_of(addr).is_some_and(|(mb, sb)| s.is_plugged(mb, sb)),
            Self::Big(b) => b.is_usable(addr),
        }
    }

    /// What a unit whose add failed still has plugged: unplugged at the start of every run,
    /// whatever the requested size (nothing else would unplug it while the device grows).
    pub fn pending_unplug(&self) -> Option<Step> {
        match self {
            Self::Sub(s) => s.pending_unplug().map(|range| Step::Unplug {
                unit: range.mb,
                span: sb_span(s, range),
            }),
            Self::Big(b) => b.pending_unplug().map(|bb| Step::Unplug {
                unit: bb,
                span: self.unit_span(bb),
            }),
        }
    }

    /// The next plug toward `nb` more plug units, using only the first `usable` bytes of the
    /// region for new units; `None` when nothing is left to plug into.
    pub fn next_plug(&self, nb: u64, usable: u64) -> Option<Step> {
        match self {
            Self::Sub(s) => match s.next_plug(nb, s.region().usable_mbs(usable))? {
                PlugStep::Subblocks(range) => Some(Step::PlugInto {
                    unit: range.mb,
                    span: sb_span(s, range),
                    online: s.state(range.mb).is_online(),
                }),
                PlugStep::NewBlock(range) => Some(Step::PlugAndAdd {
                    unit: range.mb,
                    plug: sb_span(s, range),
                    add: self.unit_span(range.mb),
                }),
            },
            Self::Big(b) => {
                if nb == 0 {
                    return None;
                }
                let bb = b.next_plug(b.big_blocks().usable_bbs(b.region().addr, usable))?;
                let span = self.unit_span(bb);
                Some(Step::PlugAndAdd {
                    unit: bb,
                    plug: span,
                    add: span,
                })
            }
        }
    }

    /// Starts a pass for unplugging; with `unplug_online` false only offline memory is
    /// touched.
    pub fn unplug_pass(&self, unplug_online: bool) -> UnplugPass<'static> {
        match self {
            Self::Sub(s) => UnplugPass::Sub(s.unplug_pass(unplug_online)),
            Self::Big(b) => UnplugPass::Big(b.unplug_pass(unplug_online)),
        }
    }

    /// What an unplug of `unit` would have to migrate: the bytes of its plugged, online memory
    /// that are not free, given `free`, the bytes of a span that are free in the buddy
    /// allocator (0 for memory that is not online). Offline memory needs no migration: 0.
    pub fn used_bytes(&self, unit: u64, free: impl Fn(Span) -> u64) -> u64 {
        match self {
            Self::Sub(s) => {
                if !s.state(unit).is_online() {
                    return 0;
                }
                // Unplugged subblocks of an online block are out of use, never free.
                let plugged = u64::from(s.plugged_in(unit)) * s.sub_blocks().sb_size;
                plugged.saturating_sub(free(self.unit_span(unit)))
            }
            Self::Big(b) => b
                .mbs_of(unit)
                .filter(|&mb| b.mb_online(mb))
                .map(|mb| {
                    let r = b.region();
                    let span = Span {
                        addr: r.mb_addr(mb),
                        size: r.mb_size,
                    };
                    span.size.saturating_sub(free(span))
                })
                .sum(),
        }
    }

    /// An added unit with nothing plugged any more, highest first below `limit`: to be
    /// removed from Linux (offlined first when online). Big blocks never wait so: they are
    /// removed before they are unplugged.
    pub fn emptied_unit_below(&self, limit: u64) -> Option<u64> {
        match self {
            Self::Sub(s) => s.emptied_block_below(limit),
            Self::Big(_) => None,
        }
    }

    /// Plug units still plugged in `unit` after it was removed: those of its memory map, now
    /// pending ([`Planner::pending_unplug`]).
    pub fn left_after_removal(&self, unit: u64) -> u64 {
        match self {
            Self::Sub(s) if !s.state(unit).is_added() => u64::from(s.plugged_in(unit)),
            _ => 0,
        }
    }

    /// Whether `unit` is added with nothing plugged: it goes as soon as it is so.
    pub fn is_emptied(&self, unit: u64) -> bool {
        match self {
            Self::Sub(s) => s.is_emptied(unit),
            Self::Big(_) => false,
        }
    }

    /// The device plugged `span`.
    pub fn record_plugged(&mut self, span: Span) {
        match self {
            Self::Sub(s) => {
                if let Some(r) = sb_range(s, span) {
                    s.record_plugged(r.mb, r.first, r.count);
                }
            }
            Self::Big(b) => {
                if let Some(bb) = b.big_blocks().bb_of(span.addr) {
                    b.record_plugged(bb);
                }
            }
        }
    }

    /// The device unplugged `span`.
    pub fn record_unplugged(&mut self, span: Span) {
        match self {
            Self::Sub(s) => {
                if let Some(r) = sb_range(s, span) {
                    s.record_unplugged(r.mb, r.first, r.count);
                }
            }
            Self::Big(b) => {
                if let Some(bb) = b.big_blocks().bb_of(span.addr) {
                    b.record_unplugged(bb);
                }
            }
        }
    }

    /// `unit` was added to Linux (offline for now).
    pub fn record_added(&mut self, unit: u64) {
        match self {
            Self::Sub(s) => s.record_added(unit),
            Self::Big(b) => b.record_added(unit),
        }
    }

    /// Adding `unit` failed: what it has plugged is to be unplugged.
    pub fn record_add_failed(&mut self, unit: u64) {
        match self {
            Self::Sub(s) => s.record_add_failed(unit),
            Self::Big(b) => b.record_add_failed(unit),
        }
    }

    /// `unit` was removed from Linux.
    pub fn record_removed(&mut self, unit: u64) {
        match self {
            Self::Sub(s) => s.record_removed(unit),
            Self::Big(b) => b.record_removed(unit),
        }
    }

    /// The online parts of `unit` are about to be taken out of use whole.
    pub fn record_taking_out(&mut self, unit: u64) {
        if let Self::Big(b) = self {
            b.record_taking_out(unit);
        }
    }

    /// Taking `unit` out failed: it stays in use.
    pub fn record_kept(&mut self, unit: u64) {
        if let Self::Big(b) = self {
            b.record_kept(unit);
        }
    }

    /// Added units whose state is partially plugged and offline: on removal of the driver
    /// nothing could keep their unplugged parts offline, so they are removed.
    pub fn offline_partial(&self, unit: u64) -> bool {
        match self {
            Self::Sub(s) => s.state(unit) == MbState::OfflinePartial,
            Self::Big(_) => false,
        }
    }
}

impl<'a> UnplugPass<'a> {
    /// Visits the online units of each state (Sub Block Mode) or round (Big Block Mode) fewest
    /// used bytes first (`used[unit]`, a snapshot of [`Planner::used_bytes`]).
    pub fn ranked<'b>(self, used: UsedBytes<'b>) -> UnplugPass<'b> {
        match self {
            Self::Sub(p) => UnplugPass::Sub(p.ranked(used)),
            Self::Big(p) => UnplugPass::Big(p.ranked(used)),
        }
    }

    /// The next unplug toward `nb` fewer plug units, or `None` when the pass is over.
    pub fn next<St: Store>(&mut self, planner: &Planner<St>, nb: u64) -> Option<Step> {
        match (self, planner) {
            (Self::Sub(pass), Planner::Sub(s)) => {
                let UnplugStep { range, online } = pass.next(s, nb)?;
                let span = sb_span(s, range);
                Some(if online {
                    Step::TakeThenUnplug {
                        unit: range.mb,
                        span,
                    }
                } else {
                    Step::Unplug {
                        unit: range.mb,
                        span,
                    }
                })
            }
            (Self::Big(pass), Planner::Big(b)) => {
                if nb == 0 {
                    return None;
                }
                let bb = pass.next(b)?;
                Some(Step::RemoveThenUnplug {
                    unit: bb,
                    span: planner.unit_span(bb),
                })
            }
            // A pass of one mode over the other's planner: nothing to offer.
            _ => None,
        }
    }

    /// Leaves the rest of `unit` for a later pass (it is going on- or offline).
    pub fn skip_unit<St: Store>(&mut self, planner: &Planner<St>, unit: u64) {
        // Big block passes move past a big block as soon as they offer it.
        if let (Self::Sub(pass), Planner::Sub(s)) = (self, planner) {
            pass.skip_block(s, unit);
        }
    }
}

/// The memory blocks (indices) of `addr..addr + size`.
fn mbs_in(r: &Region, addr: u64, size: u64) -> impl Iterator<Item = u64> + '_ {
    let first = addr / r.mb_size;
    let end = addr.saturating_add(size).div_ceil(r.mb_size);
    (first..end).filter_map(move |id| r.mb_of(id * r.mb_size))
}

fn sb_span<S, B>(s: &Sbm<S, B>, range: SbRange) -> Span
where
    S: DerefMut<Target = [MbState]>,
    B: DerefMut<Target = [u64]>,
{
    Span {
        addr: s.sb_addr(range.mb, range.first),
        size: u64::from(range.count) * s.sub_blocks().sb_size,
    }
}

fn sb_range<S, B>(s: &Sbm<S, B>, span: Span) -> Option<SbRange>
where
    S: DerefMut<Target = [MbState]>,
    B: DerefMut<Target = [u64]>,
{
    let (mb, first) = s.sb_of(span.addr)?;
    let count = u32::try_from(span.size / s.sub_blocks().sb_size).ok()?;
    (first.checked_add(count)? <= s.sub_blocks().sbs_per_mb).then_some(SbRange { mb, first, count })
}
