// SPDX-License-Identifier: GPL-2.0

//! Proves on the running kernel that `alloc_contig_range()` works at pageblock granularity,
//! through the `kernel::contig` abstraction of the patch series.
//!
//! Load it once memory has been hot-plugged into ZONE_MOVABLE: it picks the highest movable
//! memory block, allocates and frees ranges that are aligned to a pageblock but not to
//! `MAX_ORDER_NR_PAGES` many times, and checks that the neighbouring pageblocks keep their
//! migratetype and that the zone's free pages come back. It also checks that bad ranges get an
//! error, not a crash. Every check prints `ok - ...` or `not ok - ...`; loading fails when one
//! does not hold.

use core::fmt;
use kernel::contig::{
    self, Alignment, ContigRange, MigrateType, PfnRange, MAX_ORDER_NR_PAGES, PAGEBLOCK_NR_PAGES,
};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

module! {
    type: ContigPageblockTest,
    name: "contig_pageblock_test",
    author: "virtio-mem-rs developers",
    description: "Pageblock granularity of alloc_contig_range(), through kernel::contig",
    license: "GPL",
}

/// Allocations and frees in the main loop.
const ROUNDS: usize = 300;
/// `alloc_contig_range()` may fail with `EBUSY` on pages that are briefly pinned; the C
/// virtio-mem driver retries five times on ZONE_MOVABLE, and so does this test.
const TRIES: usize = 5;
/// Background allocations on the other CPU refill its per-cpu free lists in batches (63 pages
/// with 1.25 GiB in the zone), which moves `NR_FREE_PAGES` by that much at any moment. A page
/// range that did not come back would move it by whole pageblocks (512 pages).
const FREE_DRIFT_LIMIT: usize = PAGEBLOCK_NR_PAGES / 4;
/// The highest page frame scanned for hot-plugged memory: 1 TiB.
const SCAN_LIMIT: usize = (1 << 40) / PAGE_SIZE;

struct Checks {
    run: usize,
    failed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: fmt::Arguments<'_>) {
        self.run += 1;
        if ok {
            pr_info!("ok - {}\n", what);
        } else {
            self.failed += 1;
            pr_info!("not ok - {}\n", what);
        }
    }
}

/// The highest memory block whose first and last page frames are online in ZONE_MOVABLE.
fn highest_movable_block() -> Option<PfnRange> {
    let block = contig::memory_block_size_bytes() / PAGE_SIZE;
    (0..SCAN_LIMIT / block).rev().find_map(|i| {
        let range = PfnRange::from_start(i * block, block).ok()?;
        let movable = |pfn| contig::zone_is_movable(pfn).unwrap_or(false);
        (movable(range.start()) && movable(range.end() - 1)).then_some(range)
    })
}

/// The first pageblock boundary below `limit` where online memory changes from another zone to
/// ZONE_MOVABLE (the guest boots with `movablecore=` to have one).
fn movable_zone_boundary(limit: usize) -> Option<usize> {
    (PAGEBLOCK_NR_PAGES..limit)
        .step_by(PAGEBLOCK_NR_PAGES)
        .find(|&pfn| {
            contig::zone_is_movable(pfn - 1) == Ok(false)
                && contig::zone_is_movable(pfn) == Ok(true)
        })
}

fn alloc_with_retries(range: PfnRange) -> Result<ContigRange> {
    let mut last = EBUSY;
    for _ in 0..TRIES {
        match ContigRange::alloc(range, Alignment::Pageblock, GFP_KERNEL) {
            Ok(r) => return Ok(r),
            Err(e) if e == EBUSY => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// What one round observed.
struct Round {
    allocated: bool,
    neighbours_kept: bool,
    range_movable_again: bool,
    free_while_held: usize,
}

/// Allocates `range`, checks the pageblocks on either side while it is held and after it is
/// freed, and checks that the range's own pageblocks are movable again.
fn round(range: PfnRange) -> Result<Round> {
    let before = range.start() - 1;
    let after = range.end();
    let neighbours = || -> Result<(MigrateType, MigrateType)> {
        Ok((
            contig::pageblock_migratetype(before)?,
            contig::pageblock_migratetype(after)?,
        ))
    };
    let expected = neighbours()?;
    let held = match alloc_with_retries(range) {
        Ok(h) => h,
        Err(e) => {
            pr_info!(
                "# allocating {:#x}..{:#x} failed: {:?}\n",
                range.start(),
                range.end(),
                e
            );
            return Ok(Round {
                allocated: false,
                neighbours_kept: neighbours()? == expected,
                range_movable_again: true,
                free_while_held: 0,
            });
        }
    };
    let free_while_held = contig::zone_free_pages(range.start())?;
    let kept_while_held = neighbours()? == expected;
    drop(held);
    let kept_after = neighbours()? == expected;
    let mut range_movable_again = true;
    for pfn in (range.start()..range.end()).step_by(PAGEBLOCK_NR_PAGES) {
        range_movable_again &= contig::pageblock_migratetype(pfn)? == MigrateType::Movable;
    }
    Ok(Round {
        allocated: true,
        neighbours_kept: kept_while_held && kept_after,
        range_movable_again,
        free_while_held,
    })
}

fn run(checks: &mut Checks) -> Result {
    let block = highest_movable_block();
    checks.check(
        block.is_some(),
        format_args!("found a memory block in ZONE_MOVABLE"),
    );
    let block = block.ok_or(ENODEV)?;
    pr_info!(
        "# testing on {:#x}..{:#x}: pageblock {} pages, MAX_ORDER_NR_PAGES {}\n",
        block.start(),
        block.end(),
        PAGEBLOCK_NR_PAGES,
        MAX_ORDER_NR_PAGES
    );
    checks.check(
        PAGEBLOCK_NR_PAGES < MAX_ORDER_NR_PAGES,
        format_args!("a pageblock is smaller than a MAX_PAGE_ORDER block"),
    );

    // Odd pageblocks, 1 to 3 long, never the block's first or last: every range is pageblock
    // aligned, none starts on a MAX_PAGE_ORDER boundary, and both neighbours are in the block.
    let blocks = block.nr_pages() / PAGEBLOCK_NR_PAGES;
    let (mut allocated, mut kept, mut movable) = (0, 0, 0);
    let mut free_held = [None::<usize>; 4];
    let mut free_drift = 0;
    for r in 0..ROUNDS {
        let first = 1 + 2 * (r % ((blocks - 4) / 2));
        let len = 1 + r % 3;
        let start = block.start() + first * PAGEBLOCK_NR_PAGES;
        let range = PfnRange::from_start(start, len * PAGEBLOCK_NR_PAGES)?;
        let seen = round(range)?;
        allocated += usize::from(seen.allocated);
        kept += usize::from(seen.neighbours_kept);
        movable += usize::from(seen.range_movable_again);
        if seen.allocated {
            // Holding a range of the same length must leave the zone with the same free
            // pages every time, up to background noise: alloc_contig_range() drains the
            // per-cpu lists first, so what a round freed is back in the buddy allocator by the
            // next one.
            let reference = *free_held[len].get_or_insert(seen.free_while_held);
            free_drift = free_drift.max(reference.abs_diff(seen.free_while_held));
        }
    }
    checks.check(
        allocated == ROUNDS,
        format_args!(
            "{allocated} of {ROUNDS} pageblock-aligned, not MAX_ORDER-aligned ranges allocated"
        ),
    );
    checks.check(
        kept == ROUNDS,
        format_args!("neighbouring pageblocks kept their migratetype in {kept} of {ROUNDS} rounds"),
    );
    checks.check(
        movable == ROUNDS,
        format_args!("freed pageblocks were movable again in {movable} of {ROUNDS} rounds"),
    );
    checks.check(
        free_drift < FREE_DRIFT_LIMIT,
        format_args!(
            "free pages while holding a range came back every round (drift {free_drift} < {FREE_DRIFT_LIMIT})"
        ),
    );
    let whole = alloc_with_retries(block);
    checks.check(
        whole.is_ok(),
        format_args!(
            "the whole block allocates afterwards: no page leaked ({:?})",
            whole.as_ref().err()
        ),
    );
    drop(whole);

    // Bad input: an error, never a crash.
    let s = block.start();
    checks.check(
        PfnRange::new(s, s) == Err(EINVAL) && PfnRange::new(s + 1, s) == Err(EINVAL),
        format_args!("empty and inverted ranges are refused with EINVAL"),
    );
    let unaligned = PfnRange::from_start(s + 1, PAGEBLOCK_NR_PAGES)?;
    let got = ContigRange::alloc(unaligned, Alignment::Pageblock, GFP_KERNEL).err();
    checks.check(
        got == Some(EINVAL),
        format_args!("a misaligned range gets EINVAL ({got:?})"),
    );
    let past_end = PfnRange::from_start(block.end() - PAGEBLOCK_NR_PAGES, 2 * PAGEBLOCK_NR_PAGES)?;
    let got = ContigRange::alloc(past_end, Alignment::Pageblock, GFP_KERNEL).err();
    checks.check(
        got == Some(EINVAL),
        format_args!("a range running past online memory gets EINVAL ({got:?})"),
    );
    let boundary = movable_zone_boundary(block.start());
    let got = match boundary {
        Some(b) => {
            let across = PfnRange::new(b - PAGEBLOCK_NR_PAGES, b + PAGEBLOCK_NR_PAGES)?;
            ContigRange::alloc(across, Alignment::Any, GFP_KERNEL).err()
        }
        None => None,
    };
    checks.check(
        boundary.is_some() && got == Some(EINVAL),
        format_args!(
            "a range across a zone boundary at pfn {:#x} gets EINVAL ({got:?})",
            boundary.unwrap_or(0)
        ),
    );
    Ok(())
}

struct ContigPageblockTest;

impl kernel::Module for ContigPageblockTest {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let mut checks = Checks { run: 0, failed: 0 };
        let outcome = run(&mut checks);
        if let Err(e) = &outcome {
            pr_info!("not ok - the test stopped early: {:?}\n", e);
        }
        // The guest reads up to this line: busybox insmod retries a failed load once.
        pr_info!("# done: {} checks, {} failed\n", checks.run, checks.failed);
        outcome?;
        if checks.failed > 0 {
            return Err(EINVAL);
        }
        Ok(ContigPageblockTest)
    }
}
