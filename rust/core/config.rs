// SPDX-License-Identifier: GPL-2.0

//! The device's configuration, and the checks it must pass before the driver trusts it.

use super::geometry::{BigBlocks, Blocks, Geometry, Region, SubBlocks};
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
    /// Big Block Mode, and not one big block lies wholly inside the region.
    NoBigBlockFits {
        /// The big block size.
        bb_size: u64,
        /// The region's start.
        addr: u64,
        /// The region's size.
        size: u64,
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
    /// The big block size the user asked for does not fit this device.
    BbmBlockSize(BbmBlockSizeError),
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
            Self::NoBigBlockFits { bb_size, addr, size } => write!(
                f,
                "no big block of {bb_size:#x} fits in the region {addr:#x}+{size:#x} (Big Block Mode)"
            ),
            Self::AddrMisaligned { addr, block } => {
                write!(f, "region start {addr:#x} is not aligned to the block size {block:#x}")
            }
            Self::RegionSizeMisaligned { size, block } => {
                write!(f, "region size {size:#x} is not aligned to the block size {block:#x}")
            }
            Self::EmptyRegion => write!(f, "the region is empty"),
            Self::BbmBlockSize(e) => write!(f, "{e}"),
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

/// Which mode the driver is asked to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeRequest {
    /// As the C driver chooses: Sub Block Mode when a memory block holds at least two
    /// subblocks, Big Block Mode otherwise.
    #[default]
    Auto,
    /// Big Block Mode whatever the block sizes (C's `force_bbm`).
    ForceBig,
}

/// Why a big block size asked for (C's `bbm_block_size`) is refused. The C driver prints the
/// same first words and goes on with its own size; we refuse, so that what the user asked for
/// is what runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BbmBlockSizeError {
    /// Not a power of two.
    NotPowerOfTwo(u64),
    /// Below the smallest big block: a memory block, or the device's block.
    TooSmall {
        /// The size asked for.
        size: u64,
        /// The smallest big block.
        min: u64,
    },
}

impl fmt::Display for BbmBlockSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotPowerOfTwo(size) => {
                write!(f, "bbm_block_size is not a power of 2 ({size:#x})")
            }
            Self::TooSmall { size, min } => write!(
                f,
                "bbm_block_size is too small ({size:#x}, below the smallest big block {min:#x})"
            ),
        }
    }
}

/// Checks a big block size asked for against `min`, the smallest big block; 0 asks for `min`.
/// Returns the big block size to use.
pub fn big_block_size(asked: u64, min: u64) -> Result<u64, BbmBlockSizeError> {
    if asked == 0 {
        return Ok(min);
    }
    if !asked.is_power_of_two() {
        return Err(BbmBlockSizeError::NotPowerOfTwo(asked));
    }
    if asked < min {
        return Err(BbmBlockSizeError::TooSmall { size: asked, min });
    }
    Ok(asked)
}

/// Checks `cfg` against `limits`, chooses the mode and lays out the region; in Big Block Mode
/// with big blocks of `bbm_block_size` bytes if it is not 0.
pub fn validate(
    cfg: &DeviceConfig,
    limits: &Limits,
    mode: ModeRequest,
    bbm_block_size: u64,
) -> Result<Geometry, ConfigError> {
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
    let region = Region {
        addr: cfg.addr,
        size: cfg.region_size,
        block_size: block,
        mb_size,
        first_mb,
        nb_mb: (end / mb_size).saturating_sub(first_mb),
    };
    let sb_size = block.max(limits.pageblock_size);
    let blocks = if sb_size < mb_size && mode == ModeRequest::Auto {
        Blocks::Sub(SubBlocks {
            sb_size,
            sbs_per_mb: (mb_size / sb_size) as u32,
        })
    } else {
        // Both are powers of two, so the larger is a multiple of the smaller.
        let bb_size = big_block_size(bbm_block_size, block.max(mb_size))
            .map_err(ConfigError::BbmBlockSize)?;
        let first_bb = cfg.addr.div_ceil(bb_size);
        let nb_bb = (end / bb_size).saturating_sub(first_bb);
        if nb_bb == 0 {
            return Err(ConfigError::NoBigBlockFits {
                bb_size,
                addr: cfg.addr,
                size: cfg.region_size,
            });
        }
        Blocks::Big(BigBlocks {
            bb_size,
            first_bb,
            nb_bb,
        })
    };
    Ok(Geometry { region, blocks })
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
        let g = validate(&cfg(), &limits(), ModeRequest::Auto, 0).unwrap();
        assert_eq!(
            g.blocks,
            Blocks::Sub(SubBlocks {
                sb_size: 2 * MIB,
                sbs_per_mb: 64
            })
        );
        assert_eq!(g.region.first_mb, 32);
        assert_eq!(g.region.nb_mb, 64);
    }

    fn big(g: Geometry) -> BigBlocks {
        match g.blocks {
            Blocks::Big(b) => b,
            Blocks::Sub(s) => panic!("Sub Block Mode {s:?}"),
        }
    }

    #[test]
    fn big_device_blocks_choose_big_block_mode() {
        let g = validate(
            &DeviceConfig {
                block_size: GIB,
                ..cfg()
            },
            &limits(),
            ModeRequest::Auto,
            0,
        )
        .unwrap();
        assert_eq!(
            big(g),
            BigBlocks {
                bb_size: GIB,
                first_bb: 4,
                nb_bb: 8
            }
        );
        assert_eq!(g.plug_unit(), GIB);
        assert_eq!(g.hotplug_unit(), GIB);
        // A subblock as large as a memory block leaves no room for two: C's BBM too.
        let g = validate(
            &DeviceConfig {
                block_size: 128 * MIB,
                ..cfg()
            },
            &limits(),
            ModeRequest::Auto,
            0,
        )
        .unwrap();
        assert_eq!(big(g).bb_size, 128 * MIB);
    }

    #[test]
    fn big_block_size_asked_for() {
        assert_eq!(big_block_size(0, 128 * MIB), Ok(128 * MIB));
        assert_eq!(big_block_size(GIB, 128 * MIB), Ok(GIB));
        assert_eq!(big_block_size(128 * MIB, 128 * MIB), Ok(128 * MIB));
        assert_eq!(
            big_block_size(3, 128 * MIB),
            Err(BbmBlockSizeError::NotPowerOfTwo(3))
        );
        assert_eq!(
            big_block_size(64 * MIB, 128 * MIB),
            Err(BbmBlockSizeError::TooSmall {
                size: 64 * MIB,
                min: 128 * MIB
            })
        );
        // The C driver's words come first, for whoever greps the log for them.
        assert!(std::format!("{}", BbmBlockSizeError::NotPowerOfTwo(3))
            .starts_with("bbm_block_size is not a power of 2"));
        assert!(
            std::format!("{}", BbmBlockSizeError::TooSmall { size: 1, min: 2 })
                .starts_with("bbm_block_size is too small")
        );
    }

    #[test]
    fn forced_big_blocks_of_the_size_asked_for() {
        let g = validate(&cfg(), &limits(), ModeRequest::ForceBig, 256 * MIB).unwrap();
        assert_eq!(big(g).bb_size, 256 * MIB);
        assert_eq!(big(g).nb_bb, 32);
        // Below the device's block: refused, not silently replaced as C does.
        let c = DeviceConfig {
            block_size: 512 * MIB,
            ..cfg()
        };
        assert_eq!(
            validate(&c, &limits(), ModeRequest::ForceBig, 256 * MIB).unwrap_err(),
            ConfigError::BbmBlockSize(BbmBlockSizeError::TooSmall {
                size: 256 * MIB,
                min: 512 * MIB
            })
        );
        // Sub Block Mode has no big blocks: the size does not matter there, as in C.
        assert!(validate(&cfg(), &limits(), ModeRequest::Auto, 3).is_ok());
    }

    #[test]
    fn forced_big_block_mode_uses_memory_blocks() {
        let g = validate(&cfg(), &limits(), ModeRequest::ForceBig, 0).unwrap();
        assert_eq!(big(g).bb_size, 128 * MIB);
        assert_eq!(big(g).nb_bb, 64);
        assert_eq!(g.region.nb_mb, 64);
    }

    #[test]
    fn a_big_block_that_does_not_fit_is_refused() {
        let c = DeviceConfig {
            block_size: GIB,
            addr: 4 * GIB + 512 * MIB,
            region_size: GIB,
            usable_region_size: GIB,
            ..cfg()
        };
        let e = validate(&c, &limits(), ModeRequest::Auto, 0).unwrap_err();
        assert!(matches!(e, ConfigError::AddrMisaligned { .. }));
        let c = DeviceConfig {
            block_size: 4 * GIB,
            addr: 4 * GIB,
            region_size: 4 * GIB,
            usable_region_size: 4 * GIB,
            ..cfg()
        };
        assert!(validate(&c, &limits(), ModeRequest::Auto, 0).is_ok());
        let c = DeviceConfig {
            region_size: 8 * GIB,
            usable_region_size: 8 * GIB,
            block_size: 8 * GIB,
            addr: 8 * GIB,
            ..cfg()
        };
        assert!(validate(&c, &limits(), ModeRequest::Auto, 0).is_ok());
        let c = DeviceConfig {
            region_size: 8 * GIB,
            ..cfg()
        };
        let l = Limits {
            memory_block_size: 16 * GIB,
            ..limits()
        };
        let e = validate(&c, &l, ModeRequest::ForceBig, 0).unwrap_err();
        assert_eq!(
            e,
            ConfigError::NoBigBlockFits {
                bb_size: 16 * GIB,
                addr: 4 * GIB,
                size: 8 * GIB
            }
        );
        assert!(std::format!("{e}").contains("no big block"));
    }

    #[test]
    fn small_device_blocks_round_up_to_a_pageblock() {
        let g = validate(
            &DeviceConfig {
                block_size: 4096,
                ..cfg()
            },
            &limits(),
            ModeRequest::Auto,
            0,
        )
        .unwrap();
        assert_eq!(g.plug_unit(), 2 * MIB);
        assert_eq!(g.region.device_blocks(2 * MIB), 512);
    }

    #[test]
    fn refuses_impossible_values() {
        let l = limits();
        let bad = |c: DeviceConfig| validate(&c, &l, ModeRequest::Auto, 0).unwrap_err();
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
            ModeRequest::Auto,
            0,
        )
        .unwrap();
        assert_eq!(g.region.first_mb, 33);
        assert_eq!(g.region.nb_mb, 1);
    }
}
