// SPDX-License-Identifier: GPL-2.0

//! In a kdump kernel the device is left exactly as the crashed kernel left it (no plug, no
//! unplug, no `UNPLUG_ALL`: its plugged memory is what the dump is taken from), and
//! `/proc/vmcore` asks, page by page, whether the device's memory may be read, as
//! `virtio_mem_vmcore_pfn_is_ram()` answers it.

use super::wire::BlockState;

/// The answer for one physical address, before or instead of asking the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamQuery {
    /// Not the device's memory: another callback (or nobody) decides.
    NotOurs,
    /// The device has nothing plugged: nothing of it may be read.
    NotRam,
    /// Ask the device for the state of the device block at this address (or reuse the last
    /// answer when it is the same block).
    AskDevice(u64),
}

/// What to do for the page at `addr` of a device whose region is `start..start + size`, with
/// `plugged` bytes plugged and blocks of `block_size` bytes (a power of two).
pub fn ram_query(addr: u64, start: u64, size: u64, plugged: u64, block_size: u64) -> RamQuery {
    if addr < start || addr - start >= size {
        return RamQuery::NotOurs;
    }
    if plugged == 0 {
        return RamQuery::NotRam;
    }
    RamQuery::AskDevice(addr & !(block_size - 1))
}

/// Whether a device block may be read, from the device's answer to a STATE request: only when
/// it is plugged; any error or other answer means no (reading unplugged memory may fault).
pub fn is_ram<E>(state: Result<BlockState, E>) -> bool {
    matches!(state, Ok(BlockState::Plugged))
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 0x1_4000_0000;
    const SIZE: u64 = 8 << 30;
    const BLOCK: u64 = 2 << 20;

    #[test]
    fn memory_outside_the_region_is_not_ours() {
        assert_eq!(
            ram_query(START - 4096, START, SIZE, 1 << 30, BLOCK),
            RamQuery::NotOurs
        );
        assert_eq!(
            ram_query(START + SIZE, START, SIZE, 1 << 30, BLOCK),
            RamQuery::NotOurs
        );
    }

    #[test]
    fn nothing_plugged_means_nothing_to_read() {
        assert_eq!(ram_query(START, START, SIZE, 0, BLOCK), RamQuery::NotRam);
    }

    #[test]
    fn pages_ask_for_their_device_block() {
        assert_eq!(
            ram_query(START + BLOCK + 4096 * 7, START, SIZE, 1 << 30, BLOCK),
            RamQuery::AskDevice(START + BLOCK)
        );
    }

    #[test]
    fn only_a_plugged_block_may_be_read() {
        assert!(is_ram::<()>(Ok(BlockState::Plugged)));
        assert!(!is_ram::<()>(Ok(BlockState::Unplugged)));
        assert!(!is_ram::<()>(Ok(BlockState::Mixed)));
        assert!(!is_ram(Err(())));
    }
}
