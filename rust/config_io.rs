// SPDX-License-Identifier: GPL-2.0

//! Reading `struct virtio_mem_config` from the device, all fields from one generation.

use crate::policy::config::DeviceConfig;
use crate::policy::wire::config_offset as off;
use kernel::prelude::*;
use kernel::virtio;

/// Reads the device's whole configuration consistently.
pub(crate) fn read(dev: &virtio::Device) -> Result<DeviceConfig> {
    dev.read_config(off::LEN, |space| {
        Ok(DeviceConfig {
            block_size: space.read(off::BLOCK_SIZE)?,
            node_id: space.read(off::NODE_ID)?,
            addr: space.read(off::ADDR)?,
            region_size: space.read(off::REGION_SIZE)?,
            usable_region_size: space.read(off::USABLE_REGION_SIZE)?,
            plugged_size: space.read(off::PLUGGED_SIZE)?,
            requested_size: space.read(off::REQUESTED_SIZE)?,
        })
    })
}
