// SPDX-License-Identifier: GPL-2.0

//! What the driver counts for its debugfs files: requests sent and answers received by type,
//! `alloc_contig_range()` attempts and failures, retries armed, the time spent in each phase
//! of its work; and the census of the region's hotplug units by state. The C driver counts
//! none of these.

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

/// The phases of the driver's work that the glue times, in the order of [`PHASES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// A request's round trip: sent to the device until its answer came.
    Request,
    /// Adding memory (`add_memory_driver_managed()`), with the kernel's auto-onlining in it.
    Add,
    /// The online-page handler, in whoever onlines a block of ours: which pages reach the
    /// buddy allocator.
    OnlinePages,
    /// Offlining and removing memory (`offline_and_remove_memory()`).
    OfflineRemove,
    /// `alloc_contig_range()`, successful or not.
    AllocContig,
    /// Handing plugged or taken pages of online memory to the buddy allocator.
    FakeOnline,
    /// Counting the used pages of online units to order an unplug by them.
    Rank,
    /// Whole runs of the work loop: every other phase but the online-page handler's happens
    /// inside one, so the rest of it is the driver's own bookkeeping and waiting for its lock.
    Run,
}

/// Names of the phases, in the order of [`Phase`].
const PHASES: [&str; 8] = [
    "request",
    "add",
    "online_pages",
    "offline_remove",
    "alloc_contig",
    "fake_online",
    "rank",
    "run",
];

/// Nanoseconds from `start_ns` to `end_ns` of a monotonic clock; 0 should the clock not be
/// (a saturating difference, so no overflow and no wrap to a huge time).
pub fn elapsed_ns(start_ns: i64, end_ns: i64) -> u64 {
    u64::try_from(end_ns.saturating_sub(start_ns)).unwrap_or(0)
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
    /// Nanoseconds spent in each [`Phase`], cumulative.
    phase_ns: [AtomicU64; 8],
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

    /// `ns` more were spent in `phase`. Saturating: a total stuck at the maximum is still
    /// readable as "very long", a wrapped one would be a lie.
    pub fn timed(&self, phase: Phase, ns: u64) {
        // The closure always returns `Some`, so this cannot fail.
        let _ = self.phase_ns[phase as usize]
            .fetch_update(Relaxed, Relaxed, |total| Some(total.saturating_add(ns)));
    }

    /// Nanoseconds spent in each phase.
    pub fn phase_ns(&self) -> Counts {
        Counts::read(&PHASES, &self.phase_ns)
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
    fn phase_times_add_up_by_phase() {
        let s = Stats::default();
        assert_eq!(
            std::format!("{}", s.phase_ns()),
            "request 0\nadd 0\nonline_pages 0\noffline_remove 0\nalloc_contig 0\n\
             fake_online 0\nrank 0\nrun 0\n"
        );
        s.timed(Phase::Request, 1_000);
        s.timed(Phase::Request, 2_500);
        s.timed(Phase::AllocContig, 7);
        s.timed(Phase::Run, 10_000);
        let t = s.phase_ns();
        assert_eq!(t.get("request"), Some(3_500));
        assert_eq!(t.get("alloc_contig"), Some(7));
        assert_eq!(t.get("run"), Some(10_000));
        assert_eq!(t.get("add"), Some(0));
        assert_eq!(t.get("offline_remove"), Some(0));
        assert_eq!(t.get("nothing"), None);
    }

    #[test]
    fn every_phase_has_its_own_counter() {
        let phases = [
            Phase::Request,
            Phase::Add,
            Phase::OnlinePages,
            Phase::OfflineRemove,
            Phase::AllocContig,
            Phase::FakeOnline,
            Phase::Rank,
            Phase::Run,
        ];
        let s = Stats::default();
        for (i, &p) in phases.iter().enumerate() {
            s.timed(p, 1 << i);
        }
        for (i, name) in PHASES.iter().enumerate() {
            assert_eq!(s.phase_ns().get(name), Some(1 << i), "{name}");
        }
    }

    #[test]
    fn phase_times_saturate() {
        let s = Stats::default();
        s.timed(Phase::Add, u64::MAX - 1);
        s.timed(Phase::Add, 5);
        assert_eq!(s.phase_ns().get("add"), Some(u64::MAX));
    }

    #[test]
    fn elapsed_time_never_wraps() {
        assert_eq!(elapsed_ns(100, 350), 250);
        assert_eq!(elapsed_ns(0, 0), 0);
        // A clock going backwards is no time, not 2^64 - 1 ns.
        assert_eq!(elapsed_ns(350, 100), 0);
        assert_eq!(elapsed_ns(i64::MIN, i64::MAX), i64::MAX as u64);
        assert_eq!(elapsed_ns(i64::MAX, i64::MIN), 0);
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
