// SPDX-License-Identifier: GPL-2.0

//! Property tests of the parsers and the arithmetic: the device's answers, its configuration
//! and the distance to the requested size.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(std::boxed::Box::new(super::regressions())),
        ..ProptestConfig::default()
    })]
    /// Whatever a device writes, decoding answers without panicking, and a known response type
    /// decodes back to what was sent.
    #[test]
    fn responses_from_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..16)) {
        use crate::wire::{decode_response, decode_state, Response};
        let r = decode_response(&bytes);
        let _ = decode_state(&bytes);
        if bytes.len() >= 2 {
            let kind = u16::from_le_bytes([bytes[0], bytes[1]]);
            prop_assert_eq!(r.is_ok(), kind <= 3);
            if kind == 0 {
                prop_assert_eq!(r, Ok(Response::Ack));
            }
        } else {
            prop_assert!(r.is_err());
        }
    }

    /// Any configuration either is refused or lays out a region whose memory blocks and
    /// subblocks fit inside it.
    #[test]
    fn any_config_is_refused_or_consistent(
        block_shift in 0u32..40,
        addr in any::<u64>(),
        region in any::<u64>(),
        usable in any::<u64>(),
    ) {
        use crate::config::{validate, DeviceConfig, Limits, ModeRequest};
        use crate::geometry::Blocks;
        let limits = Limits {
            page_size: 4096,
            pageblock_size: 2 << 20,
            memory_block_size: 128 << 20,
            pluggable_start: 0,
            pluggable_end: 1 << 46,
        };
        let cfg = DeviceConfig {
            block_size: 1u64 << block_shift,
            addr,
            region_size: region,
            usable_region_size: usable,
            ..Default::default()
        };
        for mode in [ModeRequest::Auto, ModeRequest::ForceBig] {
            let Ok(g) = validate(&cfg, &limits, mode, 0) else {
                continue;
            };
            let r = g.region;
            let end = r.addr + r.size;
            if r.nb_mb > 0 {
                prop_assert!(r.mb_addr(0) >= r.addr);
                prop_assert!(r.mb_addr(r.nb_mb - 1) + r.mb_size <= end);
            }
            prop_assert!(r.usable_mbs(usable) <= r.nb_mb);
            match g.blocks {
                Blocks::Sub(s) => {
                    prop_assert_eq!(mode, ModeRequest::Auto);
                    prop_assert!(s.sb_size.is_power_of_two() && s.sb_size >= r.block_size);
                    prop_assert_eq!(r.mb_size % s.sb_size, 0);
                    prop_assert!(s.sbs_per_mb >= 2);
                }
                Blocks::Big(b) => {
                    prop_assert!(b.bb_size >= r.block_size && b.bb_size >= r.mb_size);
                    prop_assert!(b.nb_bb > 0);
                    prop_assert!(b.bb_addr(0) >= r.addr && b.bb_addr(b.nb_bb) <= end);
                    // Every big block is made of the region's memory blocks.
                    prop_assert!(r.mb_of(b.bb_addr(0)).is_some());
                    prop_assert!(r.mb_of(b.bb_addr(b.nb_bb) - 1).is_some());
                    prop_assert!(b.usable_bbs(r.addr, usable) <= b.nb_bb);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(std::boxed::Box::new(super::regressions())),
        ..ProptestConfig::default()
    })]
    /// Plugging or unplugging what `target` says lands within a subblock below the requested
    /// size, never above it.
    #[test]
    fn target_never_overshoots(
        requested in 0u64..(1 << 40),
        plugged in 0u64..(1 << 20),
        sb_shift in 12u32..30,
    ) {
        use crate::target::{target, Target};
        let sb = 1u64 << sb_shift;
        let after = match target(requested, plugged * sb, sb) {
            Target::Plug(n) => plugged + n,
            Target::Unplug(n) => {
                prop_assert!(n <= plugged);
                plugged - n
            }
            Target::Reached => plugged,
        };
        prop_assert!(after * sb <= requested);
        prop_assert!(requested - after * sb < sb);
    }
}
