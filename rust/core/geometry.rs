// SPDX-License-Identifier: GPL-2.0

//! Where things are in the device region: memory blocks (Linux's hot(un)plug unit), subblocks
//! (the driver's plug unit) and device blocks (the device's unit).

/// The layout of a device region in Sub Block Mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// First byte of the device region.
    pub addr: u64,
    /// Size of the device region.
    pub region_size: u64,
    /// The device's block size.
    pub block_size: u64,
    /// The driver's subblock size: max(device block, pageblock), since `alloc_contig_range()`
    /// works at pageblock granularity.
    pub sb_size: u64,
    /// Linux's memory block size.
    pub mb_size: u64,
    /// Subblocks per memory block.
    pub sbs_per_mb: u32,
    /// Id (address / `mb_size`) of the first memory block wholly inside the region.
    pub first_mb: u64,
    /// Memory blocks wholly inside the region.
    pub nb_mb: u64,
}

impl Geometry {
    /// The first byte of memory block `mb` (an index from `first_mb`).
    pub fn mb_addr(&self, mb: u64) -> u64 {
        (self.first_mb + mb) * self.mb_size
    }

    /// The first byte of subblock `sb` of memory block `mb`.
    pub fn sb_addr(&self, mb: u64, sb: u32) -> u64 {
        self.mb_addr(mb) + u64::from(sb) * self.sb_size
    }

    /// Device blocks in `count` subblocks.
    pub fn device_blocks(&self, count: u32) -> u64 {
        u64::from(count) * (self.sb_size / self.block_size)
    }

    /// The memory block (index) holding `addr`, if it is one of the region's.
    pub fn mb_of(&self, addr: u64) -> Option<u64> {
        let id = addr / self.mb_size;
        (id >= self.first_mb && id < self.first_mb + self.nb_mb).then(|| id - self.first_mb)
    }

    /// The memory block (index) and subblock holding `addr`, if it is in one of the region's
    /// blocks.
    pub fn sb_of(&self, addr: u64) -> Option<(u64, u32)> {
        let mb = self.mb_of(addr)?;
        let sb = u32::try_from((addr - self.mb_addr(mb)) / self.sb_size).ok()?;
        Some((mb, sb))
    }

    /// Memory blocks that lie wholly inside the first `usable` bytes of the region.
    pub fn usable_mbs(&self, usable: u64) -> u64 {
        let end = self.addr.saturating_add(usable.min(self.region_size)) / self.mb_size;
        end.saturating_sub(self.first_mb).min(self.nb_mb)
    }

    /// Words of a subblock bitmap per memory block.
    pub fn words_per_mb(&self) -> usize {
        (self.sbs_per_mb as usize).div_ceil(64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn geo() -> Geometry {
        Geometry {
            addr: 4096 * MIB,
            region_size: 8192 * MIB,
            block_size: 2 * MIB,
            sb_size: 2 * MIB,
            mb_size: 128 * MIB,
            sbs_per_mb: 64,
            first_mb: 32,
            nb_mb: 64,
        }
    }

    #[test]
    fn addresses() {
        let g = geo();
        assert_eq!(g.mb_addr(0), 4096 * MIB);
        assert_eq!(g.sb_addr(1, 3), 4096 * MIB + 128 * MIB + 6 * MIB);
        assert_eq!(g.mb_of(4096 * MIB + 129 * MIB), Some(1));
        assert_eq!(g.mb_of(4095 * MIB), None);
        assert_eq!(g.mb_of(g.addr + g.region_size), None);
        assert_eq!(g.device_blocks(3), 3);
        assert_eq!(g.words_per_mb(), 1);
    }

    #[test]
    fn usable_blocks_round_down() {
        let g = geo();
        assert_eq!(g.usable_mbs(0), 0);
        assert_eq!(g.usable_mbs(127 * MIB), 0);
        assert_eq!(g.usable_mbs(128 * MIB), 1);
        assert_eq!(g.usable_mbs(u64::MAX), 64);
    }
}
