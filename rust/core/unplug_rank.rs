// SPDX-License-Identifier: GPL-2.0

//! The order in which an unplug pass visits the online hotplug units of one state: fewest used
//! bytes first, so that giving memory back migrates as little as it can; the highest unit
//! first among equals.
//!
//! The C driver visits units highest first whatever they hold, and every used page in them is
//! migrated. Highest first is still the order when nothing is known (no counts) and between
//! units with equal counts, so that plugged memory keeps gathering at the bottom of the region:
//! QEMU shrinks the device's usable region only down to the highest plugged block, and plugging
//! fills the lowest free units first, which compacts what a ranked unplug leaves behind.
//!
//! The counts are a snapshot taken when the pass starts, so the order stays a total order for
//! the whole pass: a pass can walk it by remembering only the last unit it visited.

use core::cmp::Reverse;

/// Used bytes per hotplug unit, indexed by unit; a unit past the end counts as empty.
#[derive(Clone, Copy, Debug, Default)]
pub struct UsedBytes<'a> {
    used: &'a [u64],
}

impl<'a> UsedBytes<'a> {
    /// No counts: every unit ranks by its number alone, highest first.
    pub const NONE: UsedBytes<'static> = UsedBytes { used: &[] };

    /// The counts `used[unit]`.
    pub fn new(used: &'a [u64]) -> Self {
        Self { used }
    }

    fn key(&self, unit: u64) -> (u64, Reverse<u64>) {
        let used = usize::try_from(unit)
            .ok()
            .and_then(|i| self.used.get(i))
            .copied()
            .unwrap_or(0);
        (used, Reverse(unit))
    }

    /// The first unit of `units` in rank order after `after` (from the first when `None`).
    pub fn next_after(&self, after: Option<u64>, units: impl Iterator<Item = u64>) -> Option<u64> {
        let after = after.map(|a| self.key(a));
        units
            .filter(|&u| after.map_or(true, |a| self.key(u) > a))
            .min_by_key(|&u| self.key(u))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn order(rank: UsedBytes<'_>, units: &[u64]) -> Vec<u64> {
        let mut out = Vec::new();
        let mut last = None;
        while let Some(u) = rank.next_after(last, units.iter().copied()) {
            out.push(u);
            last = Some(u);
        }
        out
    }

    #[test]
    fn without_counts_highest_first() {
        assert_eq!(order(UsedBytes::NONE, &[0, 3, 1, 2]), [3, 2, 1, 0]);
    }

    #[test]
    fn fewest_used_first_and_highest_among_equals() {
        let used = [5, 0, 5, 1, 0];
        let rank = UsedBytes::new(&used);
        assert_eq!(order(rank, &[0, 1, 2, 3, 4]), [4, 1, 3, 2, 0]);
        // Only the units offered are visited; one past the counts is empty.
        assert_eq!(order(rank, &[0, 3, 7]), [7, 3, 0]);
    }

    #[test]
    fn equal_counts_keep_highest_first() {
        assert_eq!(order(UsedBytes::new(&[4, 4, 4]), &[0, 1, 2]), [2, 1, 0]);
    }

    proptest::proptest! {
        /// Every unit offered is visited exactly once, and no unit comes before one with fewer
        /// used bytes.
        #[test]
        fn visits_each_once_in_rank_order(used in proptest::collection::vec(0u64..4, 0..12)) {
            let units: Vec<u64> = (0..used.len() as u64).collect();
            let seen = order(UsedBytes::new(&used), &units);
            let mut sorted = seen.clone();
            sorted.sort_unstable();
            proptest::prop_assert_eq!(sorted, units);
            for w in seen.windows(2) {
                let (a, b) = (used[w[0] as usize], used[w[1] as usize]);
                proptest::prop_assert!(a < b || (a == b && w[0] > w[1]));
            }
        }
    }
}
