// SPDX-License-Identifier: GPL-2.0

//! Where things are in the device region. Both modes share the region, the device's block and
//! Linux's memory blocks ([`Region`]); Sub Block Mode adds the subblock, the driver's plug unit
//! inside a memory block ([`SubBlocks`]), and Big Block Mode the big block, a run of whole
//! memory blocks plugged and added as one ([`BigBlocks`]).

/// What both modes know of the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// First byte of the device region.
    pub addr: u64,
    /// Size of the device region.
    pub size: u64,
    /// The device's block size.
    pub block_size: u64,
    /// Linux's memory block size.
    pub mb_size: u64,
    /// Id (address / `mb_size`) of the first memory block wholly inside the region.
    pub first_mb: u64,
    /// Memory blocks wholly inside the region.
    pub nb_mb: u64,
}

impl Region {
    /// The first byte of memory block `mb` (an index from `first_mb`).
    pub fn mb_addr(&self, mb: u64) -> u64 {
        (self.first_mb + mb) * self.mb_size
    }

    /// The memory block (index) holding `addr`, if it is one of the region's.
    pub fn mb_of(&self, addr: u64) -> Option<u64> {
        let id = addr / self.mb_size;
        (id >= self.first_mb && id < self.first_mb + self.nb_mb).then(|| id - self.first_mb)
    }

    /// Memory blocks that lie wholly inside the first `usable` bytes of the region.
    pub fn usable_mbs(&self, usable: u64) -> u64 {
        let end = self.addr.saturating_add(usable.min(self.size)) / self.mb_size;
        end.saturating_sub(self.first_mb).min(self.nb_mb)
    }

    /// Device blocks in `size` bytes.
    pub fn device_blocks(&self, size: u64) -> u64 {
        size / self.block_size
    }
}

/// What Sub Block Mode adds: memory blocks are cut into subblocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubBlocks {
    /// The subblock size: max(device block, pageblock), since `alloc_contig_range()` works at
    /// pageblock granularity; smaller than a memory block.
    pub sb_size: u64,
    /// Subblocks per memory block (at least two).
    pub sbs_per_mb: u32,
}

impl SubBlocks {
    /// Words of a subblock bitmap per memory block.
    pub fn words_per_mb(&self) -> usize {
        (self.sbs_per_mb as usize).div_ceil(64)
    }
}

/// What Big Block Mode adds: runs of whole memory blocks, aligned to their size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BigBlocks {
    /// The big block size: a power of two, at least a memory block and a device block.
    pub bb_size: u64,
    /// Id (address / `bb_size`) of the first big block wholly inside the region.
    pub first_bb: u64,
    /// Big blocks wholly inside the region.
    pub nb_bb: u64,
}

impl BigBlocks {
    /// The first byte of big block `bb` (an index from `first_bb`).
    pub fn bb_addr(&self, bb: u64) -> u64 {
        (self.first_bb + bb) * self.bb_size
    }

    /// The big block (index) holding `addr`, if it is one of the region's.
    pub fn bb_of(&self, addr: u64) -> Option<u64> {
        let id = addr / self.bb_size;
        (id >= self.first_bb && id < self.first_bb + self.nb_bb).then(|| id - self.first_bb)
    }

    /// Big blocks that lie wholly inside the first `usable` bytes of a region at `addr`.
    pub fn usable_bbs(&self, addr: u64, usable: u64) -> u64 {
        let end = addr.saturating_add(usable) / self.bb_size;
        end.saturating_sub(self.first_bb).min(self.nb_bb)
    }
}

/// How the region is cut for plugging.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocks {
    /// Sub Block Mode.
    Sub(SubBlocks),
    /// Big Block Mode.
    Big(BigBlocks),
}

/// The layout of a device region: what both modes share and what the chosen one adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// The region and its memory blocks.
    pub region: Region,
    /// The mode's unit.
    pub blocks: Blocks,
}

impl Geometry {
    /// The smallest amount the driver plugs or unplugs: a subblock or a big block.
    pub fn plug_unit(&self) -> u64 {
        match self.blocks {
            Blocks::Sub(s) => s.sb_size,
            Blocks::Big(b) => b.bb_size,
        }
    }

    /// What Linux adds and removes at once: a memory block or a big block.
    pub fn hotplug_unit(&self) -> u64 {
        match self.blocks {
            Blocks::Sub(_) => self.region.mb_size,
            Blocks::Big(b) => b.bb_size,
        }
    }

    /// The mode's unit as the C driver logs it at probe: its name and size.
    pub fn unit_for_log(&self) -> (&'static str, u64) {
        match self.blocks {
            Blocks::Sub(s) => ("subblock size", s.sb_size),
            Blocks::Big(b) => ("big block size", b.bb_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn region() -> Region {
        Region {
            addr: 4096 * MIB,
            size: 8192 * MIB,
            block_size: 2 * MIB,
            mb_size: 128 * MIB,
            first_mb: 32,
            nb_mb: 64,
        }
    }

    #[test]
    fn addresses() {
        let r = region();
        assert_eq!(r.mb_addr(0), 4096 * MIB);
        assert_eq!(r.mb_of(4096 * MIB + 129 * MIB), Some(1));
        assert_eq!(r.mb_of(4095 * MIB), None);
        assert_eq!(r.mb_of(r.addr + r.size), None);
        assert_eq!(r.device_blocks(6 * MIB), 3);
        let s = SubBlocks {
            sb_size: 2 * MIB,
            sbs_per_mb: 64,
        };
        assert_eq!(s.words_per_mb(), 1);
        let b = BigBlocks {
            bb_size: 1024 * MIB,
            first_bb: 4,
            nb_bb: 8,
        };
        assert_eq!(b.bb_addr(1), 5120 * MIB);
        assert_eq!(b.bb_of(5120 * MIB + 1), Some(1));
        assert_eq!(b.bb_of(4095 * MIB), None);
        assert_eq!(b.bb_of(12288 * MIB), None);
    }

    #[test]
    fn usable_blocks_round_down() {
        let r = region();
        assert_eq!(r.usable_mbs(0), 0);
        assert_eq!(r.usable_mbs(127 * MIB), 0);
        assert_eq!(r.usable_mbs(128 * MIB), 1);
        assert_eq!(r.usable_mbs(u64::MAX), 64);
        let b = BigBlocks {
            bb_size: 1024 * MIB,
            first_bb: 4,
            nb_bb: 8,
        };
        assert_eq!(b.usable_bbs(r.addr, 1023 * MIB), 0);
        assert_eq!(b.usable_bbs(r.addr, 2048 * MIB), 2);
        assert_eq!(b.usable_bbs(r.addr, u64::MAX), 8);
    }
}
