// SPDX-License-Identifier: GPL-2.0

//! How much added memory may wait offline: memory that nobody onlines still costs its memmap,
//! so adding more of it than about 1 GiB could run the guest out of memory.

/// The C driver's default: 1 GiB, or two memory blocks when they are larger.
const DEFAULT_THRESHOLD: u64 = 1 << 30;

/// Offline memory the driver added, against a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineBudget {
    threshold: u64,
    offline: u64,
}

impl OfflineBudget {
    /// A budget for memory blocks of `mb_size` bytes: room for at least two.
    pub fn new(mb_size: u64) -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD.max(mb_size.saturating_mul(2)),
            offline: 0,
        }
    }

    /// Whether `size` more bytes may be added before someone onlines what waits.
    pub fn could_add(&self, size: u64) -> bool {
        size <= self.threshold && self.offline.saturating_add(size) <= self.threshold
    }

    /// Whether so much was onlined that half the threshold is free again, the C driver's
    /// point for adding more.
    pub fn has_room_for_half(&self) -> bool {
        self.could_add(self.threshold / 2)
    }

    /// `size` bytes were added (offline) or went offline.
    pub fn offlined(&mut self, size: u64) {
        self.offline = self.offline.saturating_add(size);
    }

    /// `size` offline bytes were onlined or removed.
    pub fn gone(&mut self, size: u64) {
        self.offline = self.offline.saturating_sub(size);
    }

    /// Bytes added and offline.
    pub fn offline(&self) -> u64 {
        self.offline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 128 << 20;

    #[test]
    fn allows_a_gibibyte_of_offline_blocks() {
        let mut b = OfflineBudget::new(MB);
        for _ in 0..8 {
            assert!(b.could_add(MB));
            b.offlined(MB);
        }
        assert!(!b.could_add(MB));
        assert!(!b.has_room_for_half());
        for _ in 0..4 {
            b.gone(MB);
        }
        assert!(b.has_room_for_half());
        assert_eq!(b.offline(), 4 * MB);
    }

    #[test]
    fn large_blocks_get_room_for_two() {
        let mut b = OfflineBudget::new(2 << 30);
        assert!(b.could_add(2 << 30));
        b.offlined(2 << 30);
        assert!(b.could_add(2 << 30));
        b.offlined(2 << 30);
        assert!(!b.could_add(1));
        b.gone(8 << 30);
        assert_eq!(b.offline(), 0);
    }
}
