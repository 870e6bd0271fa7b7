// SPDX-License-Identifier: GPL-2.0

//! The device in a kdump kernel: left as the crashed kernel left it, and asked, for
//! `/proc/vmcore`, which of its blocks are plugged (see `policy::kdump`).

use crate::policy::config::DeviceConfig;
use crate::policy::kdump::{is_ram, ram_query, RamQuery};
use crate::policy::wire::{self, DeviceBlocks, Request, Response};
use kernel::crash_dump::{VmcoreCallback, VmcoreRegistration};
use kernel::fmt;
use kernel::new_mutex;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::virtio;

/// A device bound in a kdump kernel.
pub(crate) struct KdumpView {
    _vmcore: Pin<KBox<VmcoreRegistration<BlockStates>>>,
}

/// Answers `/proc/vmcore` from the device's STATE of each block.
#[pin_data]
pub(crate) struct BlockStates {
    vq: virtio::Virtqueue,
    start: u64,
    size: u64,
    block_size: u64,
    plugged: u64,
    /// The block asked about last and whether it is plugged: pages come in order, so most
    /// questions are about the same block. The lock also serializes the requests.
    #[pin]
    last: Mutex<Option<(u64, bool)>>,
}

impl KdumpView {
    pub(crate) fn probe(
        dev: &virtio::Device,
        vq: virtio::Virtqueue,
        cfg: &DeviceConfig,
    ) -> Result<Self> {
        dev.info(fmt!("memory hot(un)plug disabled in kdump kernel"));
        let states = try_pin_init!(BlockStates {
            vq,
            start: cfg.addr,
            size: cfg.region_size,
            block_size: cfg.block_size,
            plugged: cfg.plugged_size,
            last <- new_mutex!(None, "virtio_mem_rs::kdump::last"),
        }? Error);
        let vmcore = KBox::pin_init(VmcoreRegistration::new(states), GFP_KERNEL)?;
        dev.ready();
        Ok(Self { _vmcore: vmcore })
    }
}

impl BlockStates {
    fn block_is_plugged(&self, addr: u64) -> bool {
        let request = Request::State(DeviceBlocks { addr, nb_blocks: 1 });
        let mut response = [0u8; wire::RESPONSE_SIZE];
        let state = self
            .vq
            .exchange(&request.encode(), &mut response)
            .map_err(|_| ())
            .and_then(|len| {
                let answer = &response[..len.min(response.len())];
                match wire::decode_response(answer) {
                    Ok(Response::Ack) => wire::decode_state(answer).map_err(|_| ()),
                    _ => Err(()),
                }
            });
        is_ram(state)
    }
}

impl VmcoreCallback for BlockStates {
    fn pfn_is_ram(&self, pfn: usize) -> bool {
        let addr = pfn as u64 * PAGE_SIZE as u64;
        match ram_query(addr, self.start, self.size, self.plugged, self.block_size) {
            RamQuery::NotOurs => true,
            RamQuery::NotRam => false,
            RamQuery::AskDevice(block) => {
                let mut last = self.last.lock();
                match *last {
                    Some((b, plugged)) if b == block => plugged,
                    _ => {
                        let plugged = self.block_is_plugged(block);
                        *last = Some((block, plugged));
                        plugged
                    }
                }
            }
        }
    }
}
