// SPDX-License-Identifier: GPL-2.0

//! How far the plugged memory is from the requested size, in subblocks.

/// What a run of the work loop aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Plug this many more subblocks.
    Plug(u64),
    /// Unplug this many subblocks.
    Unplug(u64),
    /// Plugged is as close to requested as subblocks allow.
    Reached,
}

/// The subblocks to plug or unplug to go from `plugged_sbs` subblocks of `sb_size` bytes to
/// `requested` bytes.
///
/// Plugging rounds down and unplugging rounds up, so that the plugged size never exceeds the
/// requested size (the C driver rounds both down, which can leave up to a subblock more plugged
/// than requested when the requested size is not a multiple of the subblock size).
pub fn target(requested: u64, plugged_sbs: u64, sb_size: u64) -> Target {
    if sb_size == 0 {
        return Target::Reached;
    }
    let plugged = plugged_sbs.saturating_mul(sb_size);
    if requested >= plugged {
        match (requested - plugged) / sb_size {
            0 => Target::Reached,
            n => Target::Plug(n),
        }
    } else {
        Target::Unplug((plugged - requested).div_ceil(sb_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SB: u64 = 2 << 20;

    #[test]
    fn plugs_down_and_unplugs_up() {
        let cases = [
            // (requested, plugged subblocks, expected)
            (0, 0, Target::Reached),
            (SB, 0, Target::Plug(1)),
            (3 * SB + SB / 2, 0, Target::Plug(3)),
            (3 * SB + SB / 2, 3, Target::Reached),
            (SB / 2, 1, Target::Unplug(1)),
            (0, 5, Target::Unplug(5)),
            (2 * SB, 5, Target::Unplug(3)),
        ];
        for (requested, plugged, expected) in cases {
            assert_eq!(
                target(requested, plugged, SB),
                expected,
                "{requested} {plugged}"
            );
        }
    }
}
