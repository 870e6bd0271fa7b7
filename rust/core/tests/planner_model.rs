// SPDX-License-Identifier: GPL-2.0

//! Both modes behind the one face, under the same property test: random plugs, unplugs (with
//! random busy memory blocks), on- and offlining, executed step by step as the driver executes
//! them, against a model of what the device has plugged and what Linux has added and online.
//! The executor below names no mode, like the driver's work loop.

use crate::config::{validate, DeviceConfig, Limits, ModeRequest};
use crate::planner::{Membership, Planner, Span, Step, Store};
use crate::unplug_rank::UsedBytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::vec;
use std::vec::Vec;

const MIB: u64 = 1 << 20;
/// Eight memory blocks of 16 MiB, eight 2 MiB subblocks each, or four big blocks of two.
const MB: u64 = 16 * MIB;
const NB_MB: u64 = 8;

/// The planner's state in the standard library's vectors.
pub(crate) struct HostStore;

impl Store for HostStore {
    type Vec<T> = Vec<T>;

    fn zeroed<T: Clone + Default>(len: usize) -> Option<Vec<T>> {
        Some(vec![T::default(); len])
    }
}

type TestPlanner = Planner<HostStore>;

fn planner(mode: ModeRequest, block_size: u64) -> TestPlanner {
    let limits = Limits {
        page_size: 4096,
        pageblock_size: 2 * MIB,
        memory_block_size: MB,
        pluggable_start: 0,
        pluggable_end: 1 << 40,
    };
    let cfg = DeviceConfig {
        block_size,
        addr: 1 << 32,
        region_size: NB_MB * MB,
        usable_region_size: NB_MB * MB,
        ..Default::default()
    };
    let geo = validate(&cfg, &limits, mode, 0).unwrap();
    Planner::new(&geo).unwrap()
}

/// The three layouts: Sub Block Mode, Big Block Mode chosen by a device block of two memory
/// blocks, and Big Block Mode forced on memory-block-sized big blocks.
fn planners() -> [TestPlanner; 3] {
    [
        planner(ModeRequest::Auto, 2 * MIB),
        planner(ModeRequest::Auto, 2 * MB),
        planner(ModeRequest::ForceBig, 2 * MIB),
    ]
}

#[derive(Clone, Debug)]
enum Op {
    Plug(u64),
    /// Unplug this many plug units; memory blocks in the set are busy; whether online memory
    /// may be unplugged.
    Unplug(u64, BTreeSet<u64>, bool, Vec<u64>),
    Online(u64, bool),
    Offline(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..70u64).prop_map(Op::Plug),
        (
            0..70u64,
            prop::collection::btree_set(0..NB_MB, 0..4),
            any::<bool>(),
            // Used bytes per unit for a ranked pass; none: highest first.
            prop::collection::vec(0..4u64, 0..=NB_MB as usize),
        )
            .prop_map(|(n, busy, online, used)| Op::Unplug(n, busy, online, used)),
        (0..NB_MB, any::<bool>()).prop_map(|(mb, movable)| Op::Online(mb, movable)),
        (0..NB_MB).prop_map(Op::Offline),
    ]
}

/// The device and Linux, as the model sees them.
struct World {
    p: TestPlanner,
    /// Plugged plug units, by address.
    device: BTreeSet<u64>,
    /// Added hotplug units.
    added: BTreeSet<u64>,
    /// Online memory blocks (index from the region's first) and whether in ZONE_MOVABLE.
    online: BTreeMap<u64, bool>,
}

impl World {
    fn new(p: TestPlanner) -> Self {
        Self {
            p,
            device: BTreeSet::new(),
            added: BTreeSet::new(),
            online: BTreeMap::new(),
        }
    }

    fn unit_size(&self) -> u64 {
        self.p.plug_unit()
    }

    fn mb_addr(&self, mb: u64) -> u64 {
        self.p.region().mb_addr(mb)
    }

    fn mbs(&self, span: Span) -> Vec<u64> {
        (0..NB_MB)
            .filter(|&mb| self.mb_addr(mb) < span.end() && self.mb_addr(mb) + MB > span.addr)
            .collect()
    }

    fn units_of(&self, span: Span) -> Vec<u64> {
        (span.addr..span.end())
            .step_by(self.unit_size() as usize)
            .collect()
    }

    fn device_plug(&mut self, span: Span) {
        for a in self.units_of(span) {
            assert!(self.device.insert(a), "plugging plugged {a:#x}");
        }
        self.p.record_plugged(span);
    }

    fn device_unplug(&mut self, span: Span) {
        for a in self.units_of(span) {
            assert!(self.device.remove(&a), "unplugging unplugged {a:#x}");
        }
        self.p.record_unplugged(span);
    }

    fn remove_unit(&mut self, unit: u64) {
        let span = self.p.unit_span(unit);
        for mb in self.mbs(span) {
            if self.online.remove(&mb).is_some() {
                self.p.record_offline(self.mb_addr(mb), MB);
            }
        }
        assert!(self.added.remove(&unit));
        self.p.record_removed(unit);
    }

    fn plug(&mut self, mut nb: u64) {
        let mut steps = 0;
        while let Some(step) = self.p.next_plug(nb, NB_MB * MB) {
            steps += 1;
            assert!(steps <= 200, "plugging does not terminate");
            let span = step.span();
            let n = span.size / self.unit_size();
            assert!(n > 0 && n <= nb, "{step:?} for {nb}");
            match step {
                Step::PlugAndAdd { unit, plug, add } => {
                    assert!(!self.added.contains(&unit));
                    assert_eq!(add, self.p.unit_span(unit));
                    assert!(plug.addr >= add.addr && plug.end() <= add.end());
                    self.device_plug(plug);
                    self.p.record_added(unit);
                    self.added.insert(unit);
                }
                Step::PlugInto { unit, span, online } => {
                    assert!(self.added.contains(&unit));
                    let on = self.mbs(span).iter().any(|mb| self.online.contains_key(mb));
                    assert_eq!(online, on);
                    self.device_plug(span);
                }
                other => panic!("{other:?} while plugging"),
            }
            nb -= n;
        }
        let total = self.p.units() * self.p.unit_span(0).size / self.unit_size();
        assert!(
            nb == 0 || self.device.len() as u64 == total,
            "stopped early"
        );
    }

    /// Plug units that an unplug may take: offline ones, and when `unplug_online`, online ones
    /// in memory blocks that are not busy (in Big Block Mode all of a big block or none).
    fn free_units(&self, busy: &BTreeSet<u64>, unplug_online: bool) -> u64 {
        let big = self.unit_size() >= MB;
        self.device
            .iter()
            .filter(|&&a| {
                let span = Span {
                    addr: a,
                    size: self.unit_size(),
                };
                let mbs = self.mbs(span);
                let on = |mb: &u64| self.online.contains_key(mb);
                if big {
                    !mbs.iter().any(on)
                        || (unplug_online && !mbs.iter().any(|mb| on(mb) && busy.contains(mb)))
                } else {
                    !mbs.iter().any(on)
                        || (unplug_online && !mbs.iter().any(|mb| busy.contains(mb)))
                }
            })
            .count() as u64
    }

    fn unplug(&mut self, mut nb: u64, busy: &BTreeSet<u64>, unplug_online: bool, used: &[u64]) {
        let wanted = nb;
        let free = self.free_units(busy, unplug_online);
        let mut pass = self
            .p
            .unplug_pass(unplug_online)
            .ranked(UsedBytes::new(used));
        let mut steps = 0;
        while let Some(step) = pass.next(&self.p, nb) {
            steps += 1;
            assert!(steps <= 400, "unplugging does not terminate");
            let span = step.span();
            let n = span.size / self.unit_size();
            assert!(n > 0 && n <= nb, "{step:?} for {nb}");
            let mbs = self.mbs(span);
            let any_online = mbs.iter().any(|mb| self.online.contains_key(mb));
            let any_busy = mbs
                .iter()
                .any(|mb| self.online.contains_key(mb) && busy.contains(mb));
            assert!(
                unplug_online || !any_online,
                "{step:?} touches online memory"
            );
            match step {
                Step::Unplug { .. } => {
                    assert!(!any_online, "{step:?} of online memory");
                    self.device_unplug(span);
                }
                Step::TakeThenUnplug { .. } => {
                    assert!(any_online, "{step:?} of offline memory");
                    if any_busy {
                        continue;
                    }
                    self.device_unplug(span);
                }
                Step::RemoveThenUnplug { unit, span } => {
                    assert_eq!(span, self.p.unit_span(unit));
                    self.p.record_taking_out(unit);
                    // Only the driver's own on- and offlining touches it now, and nothing
                    // onlined of it is usable.
                    assert!(!self.p.may_go_online(unit, false));
                    assert!(!self.p.may_go_offline(unit, false));
                    assert!(self.p.may_go_online(unit, true) && self.p.may_go_offline(unit, true));
                    assert!(!self.p.is_usable(span.addr));
                    if any_busy {
                        self.p.record_kept(unit);
                        continue;
                    }
                    self.remove_unit(unit);
                    self.device_unplug(span);
                }
                other => panic!("{other:?} while unplugging"),
            }
            nb -= n;
            let unit = step.unit();
            if self.p.is_emptied(unit) {
                self.remove_unit(unit);
            }
        }
        assert_eq!(wanted - nb, wanted.min(free), "unplugged too little");
        while let Some(unit) = self.p.emptied_unit_below(self.p.units()) {
            self.remove_unit(unit);
        }
    }

    fn online_mb(&mut self, mb: u64, movable: bool) {
        let addr = self.mb_addr(mb);
        let Membership::Unit(unit) = self.p.membership(addr, MB) else {
            panic!("memory block {mb} is not one unit's");
        };
        if self.added.contains(&unit)
            && !self.online.contains_key(&mb)
            && self.p.may_go_online(unit, false)
        {
            self.online.insert(mb, movable);
            self.p.record_online(addr, MB, movable);
        }
    }

    fn offline_mb(&mut self, mb: u64) {
        let Membership::Unit(unit) = self.p.membership(self.mb_addr(mb), MB) else {
            panic!("memory block {mb} is not one unit's");
        };
        if self.online.contains_key(&mb) {
            assert!(self.p.may_go_offline(unit, false));
            self.online.remove(&mb);
            self.p.record_offline(self.mb_addr(mb), MB);
        }
    }

    fn check(&self) {
        assert_eq!(
            self.p.plugged_bytes(),
            self.device.len() as u64 * self.unit_size()
        );
        assert_eq!(self.p.pending_unplug(), None);
        for unit in 0..self.p.units() {
            let span = self.p.unit_span(unit);
            assert!(!self.p.is_emptied(unit) || !self.added.contains(&unit));
            for mb in self.mbs(span) {
                let addr = self.mb_addr(mb);
                assert_eq!(self.p.is_online(addr), self.online.contains_key(&mb));
                // A page of an added unit is usable exactly when it is plugged.
                for pb in (addr..addr + MB).step_by(2 * MIB as usize) {
                    let plugged = self
                        .device
                        .range(..=pb)
                        .next_back()
                        .is_some_and(|&a| pb < a + self.unit_size());
                    if self.added.contains(&unit) {
                        assert_eq!(self.p.is_usable(pb), plugged, "{pb:#x}");
                    }
                }
            }
            // Whatever is plugged lies in an added unit.
            if !self.added.contains(&unit) {
                assert!(!self
                    .device
                    .iter()
                    .any(|&a| a >= span.addr && a < span.end()));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(std::boxed::Box::new(super::regressions())),
        cases: 256,
        ..ProptestConfig::default()
    })]

    #[test]
    fn both_modes_keep_the_device_and_linux_consistent(
        which in 0usize..3,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let [a, b, c] = planners();
        let p = [a, b, c].into_iter().nth(which).unwrap();
        let mut w = World::new(p);
        for op in ops {
            match op {
                Op::Plug(n) => w.plug(n),
                Op::Unplug(n, busy, online, used) => w.unplug(n, &busy, online, &used),
                Op::Online(mb, movable) => w.online_mb(mb, movable),
                Op::Offline(mb) => w.offline_mb(mb),
            }
            w.check();
        }
    }
}

#[test]
fn membership_follows_the_mode_unit() {
    let [sbm, bbm, forced] = planners();
    let base = 1u64 << 32;
    assert_eq!(sbm.membership(base - MB, MB), Membership::NotOurs);
    assert_eq!(sbm.membership(base + MB, MB), Membership::Unit(1));
    assert_eq!(sbm.membership(base, 2 * MB), Membership::NotWhole);
    // A big block of two memory blocks is on- and offlined one memory block at a time.
    assert_eq!(bbm.membership(base + MB, MB), Membership::Unit(0));
    assert_eq!(bbm.membership(base, 2 * MB), Membership::Unit(0));
    assert_eq!(bbm.membership(base + MB, 2 * MB), Membership::NotWhole);
    assert_eq!(forced.membership(base + 3 * MB, MB), Membership::Unit(3));
}

/// Four big blocks plugged: 0 in a kernel zone, 1 movable, 2 offline, 3 movable.
fn big_blocks_in_every_zone() -> World {
    let [_, bbm, _] = planners();
    let mut w = World::new(bbm);
    w.plug(4);
    w.online_mb(0, false);
    w.online_mb(2, true);
    w.online_mb(6, true);
    w.online_mb(7, true);
    w
}

#[test]
fn big_blocks_go_offline_first_then_movable_then_kernel() {
    let mut w = big_blocks_in_every_zone();
    let mut pass = w.p.unplug_pass(true);
    let mut order = Vec::new();
    while let Some(step) = pass.next(&w.p, 4) {
        order.push(step.unit());
    }
    assert_eq!(order, [2, 3, 2, 1, 3, 2, 1, 0]);
    w.unplug(3, &BTreeSet::new(), true, &[]);
    assert_eq!(w.added, BTreeSet::from([0]));
}

#[test]
fn a_ranked_pass_takes_online_big_blocks_fewest_used_first() {
    let w = big_blocks_in_every_zone();
    let used = [5, 0, 0, 9];
    let mut pass = w.p.unplug_pass(true).ranked(UsedBytes::new(&used));
    let mut order = Vec::new();
    while let Some(step) = pass.next(&w.p, 4) {
        order.push(step.unit());
    }
    // Offline: 2. Movable only: 2 and 1 (none used, highest first), 3. Any: 0 before 3.
    assert_eq!(order, [2, 2, 1, 3, 2, 1, 0, 3]);
}

#[test]
fn used_bytes_count_plugged_online_memory_that_is_not_free() {
    let [sbm, bbm, _] = planners();
    let quarter_free = |span: Span| span.size / 4;
    let mut w = World::new(sbm);
    // One block and three of eight subblocks of the next.
    w.plug(8 + 3);
    w.online_mb(0, true);
    w.online_mb(1, true);
    assert_eq!(w.p.used_bytes(0, quarter_free), MB - MB / 4);
    // The free bytes the kernel reports are all in the plugged part: 6 MiB plugged, 4 free.
    assert_eq!(w.p.used_bytes(1, quarter_free), 6 * MIB - MB / 4);
    // Offline or not added: nothing to migrate.
    assert_eq!(w.p.used_bytes(2, quarter_free), 0);
    let mut w = World::new(bbm);
    w.plug(1);
    w.online_mb(1, true);
    // Of big block 0 only memory block 1 is online.
    assert_eq!(w.p.used_bytes(0, quarter_free), MB - MB / 4);
}

#[test]
fn with_the_memory_map_on_each_block_linux_s_ranges_are_whole_blocks_to_the_driver() {
    let [mut sbm, mut bbm, _] = planners();
    // A 16 MiB block's map is 256 KiB: it takes the first 2 MiB subblock.
    let map = MB / 64;
    assert!(
        !bbm.set_memmap_bytes(map),
        "big blocks are taken out of use whole"
    );
    assert!(!bbm.memmap_on_memory());
    assert!(sbm.set_memmap_bytes(map));
    assert!(sbm.memmap_on_memory());
    let base = sbm.unit_span(0).addr;
    // Linux on- and offlines the block without its map.
    let whole = Span {
        addr: base + MB,
        size: MB,
    };
    assert_eq!(sbm.notified_span(base + MB + map, MB - map), whole);
    assert_eq!(sbm.notified_span(whole.addr, whole.size), whole);
    // Other ranges stay as they are, and are not whole blocks.
    let odd = sbm.notified_span(base + MB + map, MB);
    assert_eq!(
        odd,
        Span {
            addr: base + MB + map,
            size: MB
        }
    );
    assert_eq!(sbm.membership(odd.addr, odd.size), Membership::NotWhole);
    let mut w = World::new(sbm);
    // A new block gets its map's subblock and at least one more.
    assert_eq!(
        w.p.next_plug(1, NB_MB * MB),
        None,
        "a block with only its map plugged is of no use"
    );
    w.plug(2);
    assert_eq!(w.added, BTreeSet::from([0]));
    // Offline with only its map left, it may not go online and is to be removed.
    w.p.record_unplugged(Span {
        addr: base + 2 * MIB,
        size: 2 * MIB,
    });
    assert!(!w.p.may_go_online(0, false));
    assert!(w.p.is_emptied(0));
    assert_eq!(
        w.p.left_after_removal(0),
        0,
        "added: nothing is left of a removal"
    );
    w.p.record_removed(0);
    assert_eq!(w.p.left_after_removal(0), 1, "its map's subblock");
    // Then the map's subblock is unplugged.
    assert_eq!(
        w.p.pending_unplug(),
        Some(Step::Unplug {
            unit: 0,
            span: Span {
                addr: base,
                size: 2 * MIB
            }
        })
    );
}
