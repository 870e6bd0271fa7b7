// SPDX-License-Identifier: GPL-2.0

//! What a request that was not acknowledged leaves behind.
//!
//! An UNPLUG of online memory is preceded by taking its pages out of use. When the device
//! refuses (NACK, BUSY, ERROR) or never saw the request, the memory is still plugged and the
//! pages go back to Linux, as in the C driver. When the request went out and no answer came,
//! the device may discard the memory at any time: its pages must never be used again. (The C
//! driver waits for an answer forever, so it never meets this case.)

use super::wire::Response;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The device answered.
    Answered(Response),
    /// The request never reached the device (the virtqueue was full, gone or already broken).
    NotSent,
    /// The request went out and no answer came in time: its effect is unknown.
    NoAnswer,
}

/// What becomes of the pages taken out of use for an UNPLUG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TakenPages {
    /// The memory is unplugged: the pages stay out of use, as unplugged.
    Unplugged,
    /// The memory is still plugged: the pages go back to Linux.
    GiveBack,
    /// Unknown: the pages stay out of use for good, counted as unplugged (never onlined again)
    /// and the device is not asked anything more.
    KeepOut,
}

/// What to do with the pages taken for an UNPLUG that ended with `outcome`.
pub fn taken_pages_after(outcome: Outcome) -> TakenPages {
    match outcome {
        Outcome::Answered(Response::Ack) => TakenPages::Unplugged,
        Outcome::Answered(Response::Nack | Response::Busy | Response::Error) | Outcome::NotSent => {
            TakenPages::GiveBack
        }
        Outcome::NoAnswer => TakenPages::KeepOut,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_an_unanswered_unplug_are_never_given_back() {
        assert_eq!(taken_pages_after(Outcome::NoAnswer), TakenPages::KeepOut);
    }

    #[test]
    fn pages_go_back_only_when_the_memory_is_known_to_be_plugged() {
        for r in [Response::Nack, Response::Busy, Response::Error] {
            assert_eq!(
                taken_pages_after(Outcome::Answered(r)),
                TakenPages::GiveBack
            );
        }
        assert_eq!(taken_pages_after(Outcome::NotSent), TakenPages::GiveBack);
        assert_eq!(
            taken_pages_after(Outcome::Answered(Response::Ack)),
            TakenPages::Unplugged
        );
    }
}
