// SPDX-License-Identifier: GPL-2.0

//! Whether the system may sleep with this device, as `virtio_mem_freeze()` and the C driver's
//! PM notifier decide.
//!
//! Hibernation is always refused: the device comes back with everything unplugged, so an
//! image of the guest's memory cannot be restored into it. Suspend to RAM is refused while
//! memory is plugged unless the device promised to keep it (`VIRTIO_MEM_F_PERSISTENT_SUSPEND`):
//! the platform may reset the device on wake-up and discard it (QEMU does). Suspend-to-idle
//! keeps the platform and the device powered, so it is allowed.

/// The sleep state being entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sleep {
    /// Suspend-to-idle (`freeze`): devices stay powered.
    ToIdle,
    /// Suspend to RAM or standby: the platform may reset devices.
    Suspend,
    /// Hibernation, or restoring from an image.
    Hibernation,
}

/// Why the system may not sleep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Hibernation is never supported.
    Hibernation,
    /// Memory is plugged and the device does not keep it across suspend.
    PluggedMemory,
}

impl Refusal {
    /// The message, the C driver's words.
    pub fn message(self) -> &'static str {
        match self {
            Self::Hibernation => "hibernation is not supported",
            Self::PluggedMemory => "suspending with plugged memory is not supported",
        }
    }
}

/// Whether the system may enter `sleep` with `plugged` bytes plugged; `persistent` when the
/// device negotiated `VIRTIO_MEM_F_PERSISTENT_SUSPEND`.
pub fn may_sleep(sleep: Sleep, plugged: u64, persistent: bool) -> Result<(), Refusal> {
    match sleep {
        Sleep::Hibernation => Err(Refusal::Hibernation),
        Sleep::ToIdle => Ok(()),
        Sleep::Suspend if plugged > 0 && !persistent => Err(Refusal::PluggedMemory),
        Sleep::Suspend => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hibernation_is_refused_whatever_is_plugged() {
        for plugged in [0, 1 << 30] {
            for persistent in [false, true] {
                assert_eq!(
                    may_sleep(Sleep::Hibernation, plugged, persistent),
                    Err(Refusal::Hibernation)
                );
            }
        }
    }

    #[test]
    fn suspend_with_plugged_memory_needs_persistent_suspend() {
        assert_eq!(
            may_sleep(Sleep::Suspend, 1 << 21, false),
            Err(Refusal::PluggedMemory)
        );
        assert_eq!(may_sleep(Sleep::Suspend, 1 << 21, true), Ok(()));
        assert_eq!(may_sleep(Sleep::Suspend, 0, false), Ok(()));
    }

    #[test]
    fn suspend_to_idle_is_allowed_with_plugged_memory() {
        assert_eq!(may_sleep(Sleep::ToIdle, 1 << 30, false), Ok(()));
    }
}
