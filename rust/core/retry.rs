// SPDX-License-Identifier: GPL-2.0

//! When to try again after the device or the kernel said "not now".

/// The first wait, in milliseconds: the C driver's 50 s.
pub const FIRST_RETRY_MS: u64 = 50_000;
/// The longest wait: the C driver's 300 s.
pub const MAX_RETRY_MS: u64 = 300_000;

/// A doubling back-off between [`FIRST_RETRY_MS`] and [`MAX_RETRY_MS`], reset by progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next_ms: FIRST_RETRY_MS,
        }
    }
}

impl Backoff {
    /// The wait before the next attempt; the one after it is twice as long, up to the maximum.
    pub fn next_delay_ms(&mut self) -> u64 {
        let delay = self.next_ms;
        self.next_ms = (self.next_ms * 2).min(MAX_RETRY_MS);
        delay
    }

    /// An attempt made progress: start over from the first wait.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_maximum_and_resets() {
        let mut b = Backoff::default();
        let waits: [u64; 5] = core::array::from_fn(|_| b.next_delay_ms());
        assert_eq!(waits, [50_000, 100_000, 200_000, 300_000, 300_000]);
        b.reset();
        assert_eq!(b.next_delay_ms(), 50_000);
    }
}
