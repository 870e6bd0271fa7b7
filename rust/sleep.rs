// SPDX-License-Identifier: GPL-2.0

//! The PM notifier: hibernation is refused whatever is plugged (see `policy::sleep`).

use crate::policy::sleep::{may_sleep, Sleep};
use kernel::fmt;
use kernel::prelude::*;
use kernel::suspend::{PmEvent, PmNotifier};
use kernel::virtio::DeviceHandle;

/// Refuses hibernation and restoring from an image, with the device's name in the message.
pub(crate) struct NoHibernation(pub(crate) DeviceHandle);

impl PmNotifier for NoHibernation {
    fn notify(&self, event: PmEvent) -> Result {
        if !matches!(event, PmEvent::HibernationPrepare | PmEvent::RestorePrepare) {
            return Ok(());
        }
        may_sleep(Sleep::Hibernation, 0, false).map_err(|r| {
            let _ = self.0.with(|dev| dev.err(fmt!("{}", r.message())));
            EPERM
        })
    }
}
