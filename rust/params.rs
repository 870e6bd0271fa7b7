// SPDX-License-Identifier: GPL-2.0

//! The module parameters, with the C driver's names, types, defaults and meaning, and what
//! the driver reads of them.

use crate::module_parameters;
use crate::policy::config::{big_block_size, ModeRequest};
use kernel::contig::memory_block_size_bytes;
use kernel::prelude::*;

/// Checks what can be checked before any device is seen, so that a bad value keeps the
/// module from loading instead of loading half a driver: `bbm_block_size` against a memory
/// block (the device's block size is checked at probe).
pub(crate) fn check() -> Result {
    let mb_size = memory_block_size_bytes() as u64;
    big_block_size(bbm_block_size(), mb_size)
        .map(|_| ())
        .map_err(|e| {
            pr_err!("{e}\n");
            EINVAL
        })
}

/// Which mode a device is driven in: `force_bbm`.
pub(crate) fn mode() -> ModeRequest {
    if *module_parameters::force_bbm.value() {
        ModeRequest::ForceBig
    } else {
        ModeRequest::Auto
    }
}

/// The big block size asked for, 0 for the smallest: `bbm_block_size`.
pub(crate) fn bbm_block_size() -> u64 {
    *module_parameters::bbm_block_size.value()
}

/// Whether online memory may be unplugged: `unplug_online`, which its sysfs file changes
/// at any time; each unplug pass reads it once.
pub(crate) fn unplug_online() -> bool {
    module_parameters::unplug_online.get()
}

/// Whether an unplug pass visits online units fewest used pages first:
/// `unplug_least_used_first` (ours only), which its sysfs file changes at any time.
pub(crate) fn unplug_least_used_first() -> bool {
    module_parameters::unplug_least_used_first.get()
}
