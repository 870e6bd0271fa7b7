// SPDX-License-Identifier: GPL-2.0

//! What the driver counts for its debugfs files: requests sent and answers received by type,
//! `alloc_contig_range()` attempts and failures, retries armed; and the census of the
//! region's hotplug units by state. The C driver counts none of these.

use super::planner::{Planner, Store};
use super::run_state::RunEnd;
use super::wire::{Request, Response};
use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

/// Names of the request types, in the order of [`request_index`].
const REQUESTS: [&str; 4] = ["plug", "unplug", "unplug_all", "state"];
/// Names of the answer types, in the order of [`answer_index`].
const ANSWERS: [&str; 4] = ["ack", "nack", "busy", "error"];

fn request_index(r: &Request) -> usize {
    match r {
        Request::Plug(_) => 0,
        Request::Unplug(_) => 1,
        Request::UnplugAll => 2,
        Request::State(_) => 3,
    }
}

fn answer_index(r: Response) -> usize {
    match r {
        Response::Ack => 0,
        Response::Nack => 1,
        Response::Busy => 2,
        Response::Error => 3,
    }
}

/// Counters, updated without the driver's lock (relaxed: each is read on its own).
#[derive(Default)]
pub struct Stats {
    requests: [AtomicU64; 4],
    answers: [AtomicU64; 4],
    contig_attempts: AtomicU64,
    contig_failures: AtomicU64,
    retries: AtomicU64,
    /// The wait of the retry timer armed last; 0 once a run reached the requested size.
    backoff_ms: AtomicU64,
    /// How the last run ended: a [`RunEnd`] as [`last_end_code`], 0 before the first.
    last_end: AtomicU8,
}

/// The runs' ends, in a fixed order for [`Stats::last_end`].
const ENDS: [RunEnd; 8] = [
    RunEnd::Reached,
    RunEnd::Later,
    RunEnd::Busy,
    RunEnd::WaitOnline,
    RunEnd::WaitTransition,
    RunEnd::Full,
    RunEnd::Broken,
    RunEnd::Gone,
];

fn last_end_code(end: RunEnd) -> u8 {
    // `ENDS` has every `RunEnd`, so the position is found; 1-based, 0 means none yet.
    ENDS.iter()
        .position(|&e| e == end)
        .map_or(0, |i| i as u8 + 1)
}

impl Stats {
    /// A request went to the device.
    pub fn sent(&self, r: &Request) {
        self.requests[request_index(r)].fetch_add(1, Relaxed);
    }

    /// The device answered.
    pub fn answered(&self, r: Response) {
        self.answers[answer_index(r)].fetch_add(1, Relaxed);
    }

    /// `alloc_contig_range()` was tried; `ok`: it succeeded.
    pub fn contig_attempt(&self, ok: bool) {
        self.contig_attempts.fetch_add(1, Relaxed);
        if !ok {
            self.contig_failures.fetch_add(1, Relaxed);
        }
    }

    /// The retry timer was armed to fire in `delay_ms`.
    pub fn retry_armed(&self, delay_ms: u64) {
        self.retries.fetch_add(1, Relaxed);
        self.backoff_ms.store(delay_ms, Relaxed);
    }

    /// A run reached the requested size: the back-off starts over.
    pub fn backoff_reset(&self) {
        self.backoff_ms.store(0, Relaxed);
    }

    /// The current back-off: the wait of the timer armed last, 0 after progress.
    pub fn backoff_ms(&self) -> u64 {
        self.backoff_ms.load(Relaxed)
    }

    /// A run ended.
    pub fn run_ended(&self, end: RunEnd) {
        self.last_end.store(last_end_code(end), Relaxed);
    }

    /// Requests sent, by type.
    pub fn requests(&self) -> Counts {
        Counts::read(&REQUESTS, &self.requests)
    }

    /// Answers received, by type.
    pub fn answers(&self) -> Counts {
        Counts::read(&ANSWERS, &self.answers)
    }

    /// `alloc_contig_range()` attempts and failures.
    pub fn contig(&self) -> Counts {
        Counts::read(
            &["attempts", "failures"],
            [&self.contig_attempts, &self.contig_failures],
        )
    }

    /// Retry timers armed.
    pub fn retries(&self) -> u64 {
        self.retries.load(Relaxed)
    }

    /// How the last run ended; `None` before the first.
    pub fn last_end(&self) -> Option<RunEnd> {
        let code = self.last_end.load(Relaxed);
        ENDS.get(usize::from(code).checked_sub(1)?).copied()
    }
}

/// Named counts, shown one `name value` per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    names: &'static [&'static str],
    values: [u64; 8],
}

impl Counts {
    fn read<'a>(
        names: &'static [&'static str],
        counters: impl IntoIterator<Item = &'a AtomicU64>,
    ) -> Self {
        let mut values = [0; 8];
        for (v, c) in values.iter_mut().zip(counters) {
            *v = c.load(Relaxed);
        }
        Self { names, values }
    }

    /// The count of `name`, if there is one.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = self.names.iter().position(|&n| n == name)?;
        Some(self.values[i])
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, v) in self.names.iter().zip(self.values) {
            writeln!(f, "{name} {v}")?;
        }
        Ok(())
    }
}

/// Names of Sub Block Mode's memory block states, in `MbState`'s order.
const MB_STATES: [&str; 8] = [
    "unused",
    "plugged",
    "offline",
    "offline_partial",
    "kernel",
    "kernel_partial",
    "movable",
    "movable_partial",
];
/// Names of Big Block Mode's big block states, in `BbState`'s order.
const BB_STATES: [&str; 4] = ["unused", "plugged", "added", "taking_out"];

impl<St: Store> Planner<St> {
    /// How many hotplug units are in each state.
    pub fn census(&self) -> Counts {
        let mut values = [0; 8];
        let names: &'static [&'static str] = match self {
            Self::Sub(s) => {
                for mb in 0..s.region().nb_mb {
                    values[s.state(mb) as usize] += 1;
                }
                &MB_STATES
            }
            Self::Big(b) => {
                for bb in 0..b.big_blocks().nb_bb {
                    values[b.state(bb) as usize] += 1;
                }
                &BB_STATES
            }
        };
        Counts { names, values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{validate, DeviceConfig, Limits, ModeRequest};
    use crate::planner::Store;
    use crate::wire::DeviceBlocks;

    #[test]
    fn counts_by_type() {
        let s = Stats::default();
        let b = DeviceBlocks {
            addr: 0,
            nb_blocks: 1,
        };
        s.sent(&Request::Plug(b));
        s.sent(&Request::Plug(b));
        s.sent(&Request::UnplugAll);
        s.answered(Response::Ack);
        s.answered(Response::Busy);
        s.contig_attempt(true);
        s.contig_attempt(false);
        s.retry_armed(50_000);
        assert_eq!(s.backoff_ms(), 50_000);
        s.backoff_reset();
        assert_eq!(s.backoff_ms(), 0);
        assert_eq!(s.requests().get("plug"), Some(2));
        assert_eq!(s.requests().get("unplug"), Some(0));
        assert_eq!(s.requests().get("unplug_all"), Some(1));
        assert_eq!(s.answers().get("busy"), Some(1));
        assert_eq!(s.answers().get("error"), Some(0));
        assert_eq!(s.contig().get("failures"), Some(1));
        assert_eq!(s.contig().get("attempts"), Some(2));
        assert_eq!(s.retries(), 1);
        assert_eq!(
            std::format!("{}", s.answers()),
            "ack 1\nnack 0\nbusy 1\nerror 0\n"
        );
    }

    struct Host;

    impl Store for Host {
        type Vec<T> = std::vec::Vec<T>;

        fn zeroed<T: Clone + Default>(len: usize) -> Option<std::vec::Vec<T>> {
            Some(std::vec![T::default(); len])
        }
    }

    #[test]
    fn census_of_a_new_planner() {
        const MIB: u64 = 1 << 20;
        let limits = Limits {
            page_size: 4096,
            pageblock_size: 2 * MIB,
            memory_block_size: 128 * MIB,
            pluggable_start: 0,
            pluggable_end: 1 << 46,
        };
        let cfg = DeviceConfig {
            block_size: 2 * MIB,
            addr: 1 << 32,
            region_size: 1 << 30,
            usable_region_size: 1 << 30,
            ..Default::default()
        };
        for (mode, first) in [
            (ModeRequest::Auto, "unused 8\nplugged 0\noffline 0\n"),
            (
                ModeRequest::ForceBig,
                "unused 8\nplugged 0\nadded 0\ntaking_out 0\n",
            ),
        ] {
            let g = validate(&cfg, &limits, mode, 0).unwrap();
            let p = Planner::<Host>::new(&g).unwrap();
            let c = p.census();
            assert_eq!(c.get("unused"), Some(8));
            assert!(std::format!("{c}").starts_with(first), "{c}");
        }
    }

    #[test]
    fn last_end_round_trips() {
        let s = Stats::default();
        assert_eq!(s.last_end(), None);
        for end in ENDS {
            s.run_ended(end);
            assert_eq!(s.last_end(), Some(end));
        }
    }
}
