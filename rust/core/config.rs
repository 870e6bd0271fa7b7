// SPDX-License-Identifier: GPL-2.0

//! The device's configuration, and the checks it must pass before the driver trusts it.

use super::geometry::Geometry;
use core::fmt;

/// `struct virtio_mem_config` as read from the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The device's block size: the granule of its plug and unplug requests.
    pub block_size: u64,
    /// The NUMA node (ACPI proximity domain) of the memory.
    pub node_id: u16,
    /// Start of the device region.
    pub addr: u64,
    /// Size of the device region.
    pub region_size: u64,
    /// How much of the region may be plugged now.
    pub usable_region_size: u64,
    /// How much the device has plugged.
    pub plugged_size: u64,
    /// How much the device wants plugged.
    pub requested_size: u64,
}

/// What the kernel imposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The page size.
    pub page_size: u64,
    /// Bytes in a pageblock: the smallest range `alloc_contig_range()` takes cleanly.
    pub pageblock_size: u64,
    /// Linux's memory block size.
    pub memory_block_size: u64,
    /// First byte of the physical range memory can be hot-plugged into
    /// (`mhp_get_pluggable_range()`).
    pub pluggable_start: u64,
    /// One past the last byte of that range.
    pub pluggable_end: u64,
}

/// A configuration the driver refuses, with what was wrong, for the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// The block size (the value) is not a power of two.
    BlockSizeNotPowerOfTwo(u64),
    /// The block size is smaller than a page.
    BlockSizeBelowPage {
        /// The device's block size.
        block: u64,
        /// The page size.
        page: u64,
    },
    /// Subblocks larger than a memory block need Big Block Mode, which this driver does not have.
    BlockSizeAboveMemoryBlock {
        /// The device's block size.
        block: u64,
        /// Linux's memory block size.
        memory_block: u64,
    },
    /// The region does not start on a device block.
    AddrMisaligned {
        /// The region's start.
        addr: u64,
        /// The device's block size.
        block: u64,
    },
    /// The region does not end on a device block.
    RegionSizeMisaligned {
        /// The region's size.
        size: u64,
        /// The device's block size.
        block: u64,
    },
    /// The region has no bytes.
    EmptyRegion,
    /// More is usable than the region has.
    UsableAboveRegion {
        /// The usable size.
        usable: u64,
        /// The region's size.
        region: u64,
    },
    /// The region lies (partly) where memory cannot be hot-plugged.
    OutsidePluggableRange {
        /// The region's start.
        start: u64,
        /// The region's end.
        end: u64,
        /// Start of the pluggable range.
        pluggable_start: u64,
        /// End of the pluggable range.
        pluggable_end: u64,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BlockSizeNotPowerOfTwo(b) => write!(f, "block size {b:#x} is not a power of two"),
            Self::BlockSizeBelowPage { block, page } => {
                write!(f, "block size {block:#x} is below the page size {page:#x}")
            }
            Self::BlockSizeAboveMemoryBlock { block, memory_block } => write!(
                f,
                "block size {block:#x} exceeds the memory block size {memory_block:#x} (Big Block Mode is not supported)"
            ),
            Self::AddrMisaligned { addr, block } => {
                write!(f, "region start {addr:#x} is not aligned to the block size {block:#x}")
            }
            Self::RegionSizeMisaligned { size, block } => {
                write!(f, "region size {size:#x} is not aligned to the block size {block:#x}")
            }
            Self::EmptyRegion => write!(f, "the region is empty"),
            Self::UsableAboveRegion { usable, region } => {
                write!(f, "usable region size {usable:#x} exceeds the region size {region:#x}")
            }
            Self::OutsidePluggableRange {
                start,
                end,
                pluggable_start,
                pluggable_end,
            } => write!(
                f,
                "region {start:#x}-{end:#x} is outside the pluggable range {pluggable_start:#x}-{pluggable_end:#x}"
            ),
        }
    }
}

/// Checks `cfg` against `limits` and lays out the region.
pub fn validate(cfg: &DeviceConfig, limits: &Limits) -> Result<Geometry, ConfigError> {
    let block = cfg.block_size;
    if !block.is_power_of_two() {
        return Err(ConfigError::BlockSizeNotPowerOfTwo(block));
    }
    if block < limits.page_size {
        return Err(ConfigError::BlockSizeBelowPage {
            block,
            page: limits.page_size,
        });
    }
    let sb_size = block.max(limits.pageblock_size);
    if sb_size > limits.memory_block_size {
        return Err(ConfigError::BlockSizeAboveMemoryBlock {
            block,
            memory_block: limits.memory_block_size,
        });
    }
    if cfg.addr % block != 0 {
        return Err(ConfigError::AddrMisaligned {
            addr: cfg.addr,
            block,
        });
    }
    if cfg.region_size % block != 0 {
        return Err(ConfigError::RegionSizeMisaligned {
            size: cfg.region_size,
            block,
        });
    }
    if cfg.region_size == 0 {
        return Err(ConfigError::EmptyRegion);
    }
    if cfg.usable_region_size > cfg.region_size {
        return Err(ConfigError::UsableAboveRegion {
            usable: cfg.usable_region_size,
            region: cfg.region_size,
        });
    }
    let outside = ConfigError::OutsidePluggableRange {
        start: cfg.addr,
        end: cfg.addr.wrapping_add(cfg.region_size),
        pluggable_start: limits.pluggable_start,
        pluggable_end: limits.pluggable_end,
    };
    let end = cfg.addr.checked_add(cfg.region_size).ok_or(outside)?;
    if cfg.addr < limits.pluggable_start || end > limits.pluggable_end {
        return Err(outside);
    }
    let mb_size = limits.memory_block_size;
    let first_mb = cfg.addr.div_ceil(mb_size);
    let nb_mb = (end / mb_size).saturating_sub(first_mb);
    Ok(Geometry {
        addr: cfg.addr,
        region_size: cfg.region_size,
        block_size: block,
        sb_size,
        mb_size,
        sbs_per_mb: (mb_size / sb_size) as u32,
        first_mb,
        nb_mb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;

    fn limits() -> Limits {
        Limits {
            page_size: 4096,
            pageblock_size: 2 * MIB,
            memory_block_size: 128 * MIB,
            pluggable_start: 0,
            pluggable_end: 1 << 46,
        }
    }

    fn cfg() -> DeviceConfig {
        DeviceConfig {
            block_size: 2 * MIB,
            addr: 4 * GIB,
            region_size: 8 * GIB,
            usable_region_size: 8 * GIB,
            ..Default::default()
        }
    }

    #[test]
    fn qemu_default_is_accepted() {
        let g = validate(&cfg(), &limits()).unwrap();
        assert_eq!(g.sb_size, 2 * MIB);
        assert_eq!(g.sbs_per_mb, 64);
        assert_eq!(g.first_mb, 32);
        assert_eq!(g.nb_mb, 64);
    }

    #[test]
    fn small_device_blocks_round_up_to_a_pageblock() {
        let g = validate(
            &DeviceConfig {
                block_size: 4096,
                ..cfg()
            },
            &limits(),
        )
        .unwrap();
        assert_eq!(g.sb_size, 2 * MIB);
        assert_eq!(g.device_blocks(1), 512);
    }

    #[test]
    fn refuses_impossible_values() {
        let l = limits();
        let bad = |c: DeviceConfig| validate(&c, &l).unwrap_err();
        assert_eq!(
            bad(DeviceConfig {
                block_size: 3 * MIB,
                ..cfg()
            }),
            ConfigError::BlockSizeNotPowerOfTwo(3 * MIB)
        );
        assert_eq!(
            bad(DeviceConfig {
                block_size: 0,
                ..cfg()
            }),
            ConfigError::BlockSizeNotPowerOfTwo(0)
        );
        assert!(matches!(
            bad(DeviceConfig {
                block_size: 2048,
                ..cfg()
            }),
            ConfigError::BlockSizeBelowPage { .. }
        ));
        assert!(matches!(
            bad(DeviceConfig {
                block_size: GIB,
                ..cfg()
            }),
            ConfigError::BlockSizeAboveMemoryBlock { .. }
        ));
        assert!(matches!(
            bad(DeviceConfig {
                addr: 4 * GIB + MIB,
                ..cfg()
            }),
            ConfigError::AddrMisaligned { .. }
        ));
        assert!(matches!(
            bad(DeviceConfig {
                region_size: 8 * GIB + MIB,
                ..cfg()
            }),
            ConfigError::RegionSizeMisaligned { .. }
        ));
        assert_eq!(
            bad(DeviceConfig {
                region_size: 0,
                usable_region_size: 0,
                ..cfg()
            }),
            ConfigError::EmptyRegion
        );
        assert!(matches!(
            bad(DeviceConfig {
                usable_region_size: 9 * GIB,
                ..cfg()
            }),
            ConfigError::UsableAboveRegion { .. }
        ));
        assert!(matches!(
            bad(DeviceConfig {
                addr: 1 << 46,
                ..cfg()
            }),
            ConfigError::OutsidePluggableRange { .. }
        ));
        assert!(matches!(
            bad(DeviceConfig {
                addr: u64::MAX - MIB * 2 + 1,
                ..cfg()
            }),
            ConfigError::OutsidePluggableRange { .. }
        ));
    }

    #[test]
    fn partial_memory_blocks_at_the_ends_are_not_used() {
        let g = validate(
            &DeviceConfig {
                addr: 4 * GIB + 64 * MIB,
                region_size: 256 * MIB,
                usable_region_size: 256 * MIB,
                ..cfg()
            },
            &limits(),
        )
        .unwrap();
        assert_eq!(g.first_mb, 33);
        assert_eq!(g.nb_mb, 1);
    }
}
