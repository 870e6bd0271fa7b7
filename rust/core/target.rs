// SPDX-License-Identifier: GPL-2.0

//! How far the plugged memory is from the requested size, in plug units (subblocks or big
//! blocks).

/// What a run of the work loop aims at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Plug this many more units.
    Plug(u64),
    /// Unplug this many units.
    Unplug(u64),
    /// Plugged is as close to requested as the unit allows.
    Reached,
}

/// The units to plug or unplug to go from `plugged` bytes to `requested` bytes, in units of
/// `unit` bytes.
///
/// Plugging rounds down and unplugging rounds up, so that the plugged size never exceeds the
/// requested size (the C driver rounds both down, which can leave up to a unit more plugged
/// than requested when the requested size is not a multiple of the unit).
pub fn target(requested: u64, plugged: u64, unit: u64) -> Target {
    let sb_size = unit;
    if sb_size == 0 {
        return Target::Reached;
    }
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
                target(requested, plugged * SB, SB),
                expected,
                "{requested} {plugged}"
            );
        }
    }
}
