// SPDX-License-Identifier: GPL-2.0

//! Watching for busy memory to be freed, so that an unplug that stopped on memory in use is
//! tried again within about a second of that memory becoming free, not on the next retry
//! timer (50 s doubling to 300 s, as the C driver waits).
//!
//! The watch is a cheap check at a short period: the free pages of the zones the next unplug
//! takes from, read from the zones' counters, against what they were when the last attempt
//! failed. Only when at least [`FreeWatch::need`] more pages are free does the expensive
//! attempt (`alloc_contig_range()`, offlining) come before the retry timer's time; an attempt
//! that the watch brought and that fails doubles what the next one needs, so memory that
//! comes and goes under sustained pressure cannot make the driver try every second. The
//! retry timer's attempt still comes when its time is up, whatever the watch saw.

/// The period of the cheap check, in milliseconds.
pub const PERIOD_MS: u64 = 1000;

/// What a tick of the watch decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Enough memory was freed: try now.
    Attempt,
    /// The retry timer's time is up: try now, whatever the watch saw.
    TimerDue,
    /// Check again after this many milliseconds.
    Wait(u64),
}

/// One watch, from a failed attempt to the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeWatch {
    /// Free pages when the attempt failed.
    baseline: u64,
    /// How many more pages must be free before an attempt is worth it.
    need: u64,
    /// Milliseconds until the retry timer's attempt.
    left_ms: u64,
}

impl FreeWatch {
    /// Starts watching after a failed attempt: `free` pages were free then, `need` more make
    /// the next attempt worth it, and the retry timer's attempt is `timer_ms` away.
    pub fn new(free: u64, need: u64, timer_ms: u64) -> Self {
        Self {
            baseline: free,
            need: need.max(1),
            left_ms: timer_ms,
        }
    }

    /// The pages that must be freed beyond the baseline before the next attempt.
    pub fn need(&self) -> u64 {
        self.need
    }

    /// The cheap check, one period after the last: `free` pages are free now.
    pub fn tick(&mut self, free: u64) -> Tick {
        self.left_ms = self.left_ms.saturating_sub(PERIOD_MS);
        if free >= self.baseline.saturating_add(self.need) {
            Tick::Attempt
        } else if self.left_ms == 0 {
            Tick::TimerDue
        } else {
            Tick::Wait(PERIOD_MS.min(self.left_ms))
        }
    }

    /// The attempt the watch brought failed too, with `free` pages free: watch on from there,
    /// asking twice as much freed memory of the next one. The retry timer's time stays.
    pub fn attempt_failed(&mut self, free: u64) {
        self.baseline = free;
        self.need = self.need.saturating_mul(2);
    }

    /// Milliseconds until the retry timer's attempt.
    pub fn left_ms(&self) -> u64 {
        self.left_ms
    }
}

/// Where the watch is between runs that stop on memory in use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Watch {
    /// No run waits for memory to be freed.
    #[default]
    Off,
    /// Ticking after a failed attempt.
    On(FreeWatch),
    /// A tick found memory freed; the attempt it brought is running.
    Trying(FreeWatch),
}

impl Watch {
    /// A run ended on memory in use, with `free` pages free; `need` more make the next attempt
    /// worth it. When the watch brought that attempt, the next one needs twice as much and the
    /// retry timer keeps its time; any other run starts a watch that ends in the retry timer's
    /// next wait, `next_wait()` (the back-off). Returns the wait until the first tick.
    pub fn busy(&mut self, free: u64, need: u64, next_wait: impl FnOnce() -> u64) -> u64 {
        let w = match *self {
            Watch::Trying(mut w) => {
                w.attempt_failed(free);
                w
            }
            Watch::Off | Watch::On(_) => FreeWatch::new(free, need, next_wait()),
        };
        *self = Watch::On(w);
        PERIOD_MS.min(w.left_ms()).max(1)
    }

    /// A wake-up of a run parked on memory in use: [`Tick::Wait`] when it should go on
    /// waiting. `free()` reads the free pages, only when there is a watch to compare them to.
    pub fn tick(&mut self, free: impl FnOnce() -> u64) -> Tick {
        let Watch::On(mut w) = *self else {
            // Nothing to compare with: let the run go.
            *self = Watch::Off;
            return Tick::TimerDue;
        };
        let tick = w.tick(free());
        *self = match tick {
            Tick::Attempt => Watch::Trying(w),
            Tick::TimerDue => Watch::Off,
            Tick::Wait(_) => Watch::On(w),
        };
        tick
    }

    /// A run ended for another reason: nothing to watch for.
    pub fn stop(&mut self) {
        *self = Watch::Off;
    }
}

/// What started a run, for how hard it tries busy memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// A config change, a notification or the first run: something new to do.
    Request,
    /// The watch saw memory freed ([`Tick::Attempt`]).
    Freed,
    /// The retry timer's time was up and the watch had seen nothing freed
    /// ([`Tick::TimerDue`]).
    Timer,
}

impl Wake {
    /// How many times `alloc_contig_range()` is tried on one range of ZONE_MOVABLE memory
    /// before it counts as busy. The zone promises movability, so a failure may be a page
    /// that is busy for a moment (on a per-CPU list, being migrated), worth C's five tries.
    /// A run the timer brought with nothing freed finds the memory as busy as the last run
    /// left it: one try each, because a failed try costs as much as a successful one (every
    /// pinned page is unmapped and mapped again up to 50 times), and under sustained pressure
    /// these runs are all the guest spends. Memory freed meanwhile brings a [`Wake::Freed`]
    /// run with five.
    pub fn movable_alloc_tries(self) -> u32 {
        match self {
            Wake::Request | Wake::Freed => 5,
            Wake::Timer => 1,
        }
    }
}

impl Tick {
    /// The run this tick starts; `None` when it says to wait.
    pub fn wake(self) -> Option<Wake> {
        match self {
            Tick::Attempt => Some(Wake::Freed),
            Tick::TimerDue => Some(Wake::Timer),
            Tick::Wait(_) => None,
        }
    }
}

/// The two places whose zones the watch reads: the highest online unit, where the unplug
/// pass starts, and the lowest, where it ends (another zone when the units were onlined to
/// different ones). `None` with no unit online. `is_online(unit)` says whether `unit` is.
pub fn watched_units(units: u64, is_online: impl Fn(u64) -> bool) -> Option<(u64, u64)> {
    let top = (0..units).rev().find(|&u| is_online(u))?;
    let bottom = (0..=top).find(|&u| is_online(u)).unwrap_or(top);
    Some((top, bottom))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_between_runs() {
        let mut w = Watch::default();
        let mut waits = 0;
        let mut next_wait = || {
            waits += 1;
            50_000
        };
        assert_eq!(w.busy(100, 512, &mut next_wait), PERIOD_MS);
        assert_eq!(w.tick(|| 100), Tick::Wait(PERIOD_MS));
        assert_eq!(w.tick(|| 700), Tick::Attempt);
        assert!(matches!(w, Watch::Trying(_)));
        // The attempt failed: the same timer, twice the need.
        w.busy(700, 512, &mut next_wait);
        let Watch::On(f) = w else {
            panic!("not watching: {w:?}")
        };
        assert_eq!((f.need(), f.left_ms()), (1024, 48_000));
        // Any other run that ends busy starts over with the back-off's next wait.
        w.busy(700, 512, &mut next_wait);
        assert_eq!(waits, 2);
        w.stop();
        assert_eq!(w.tick(|| panic!("no watch, no read")), Tick::TimerDue);
    }

    #[test]
    fn only_a_blind_timer_run_tries_once() {
        assert_eq!(Wake::Request.movable_alloc_tries(), 5);
        assert_eq!(Wake::Freed.movable_alloc_tries(), 5);
        assert_eq!(Wake::Timer.movable_alloc_tries(), 1);
        // The watch of a run parked on busy memory: freed memory brings a thorough run, the
        // timer with nothing freed a cheap one.
        let mut w = Watch::default();
        w.busy(100, 512, || 3_000);
        assert_eq!(w.tick(|| 100).wake(), None);
        assert_eq!(w.tick(|| 100).wake(), None);
        assert_eq!(w.tick(|| 100).wake(), Some(Wake::Timer));
        w.busy(100, 512, || 3_000);
        assert_eq!(w.tick(|| 612).wake(), Some(Wake::Freed));
    }

    #[test]
    fn the_watched_units() {
        assert_eq!(watched_units(8, |_| false), None);
        assert_eq!(watched_units(8, |u| u == 5), Some((5, 5)));
        assert_eq!(watched_units(8, |u| (2..=6).contains(&u)), Some((6, 2)));
    }

    #[test]
    fn freed_memory_brings_the_attempt_at_the_next_tick() {
        let mut w = FreeWatch::new(1000, 512, 50_000);
        assert_eq!(w.tick(1000), Tick::Wait(PERIOD_MS));
        assert_eq!(w.tick(1511), Tick::Wait(PERIOD_MS));
        assert_eq!(w.tick(1512), Tick::Attempt);
    }

    #[test]
    fn the_timer_comes_whatever_the_watch_sees() {
        let mut w = FreeWatch::new(1000, 512, 2_500);
        assert_eq!(w.tick(900), Tick::Wait(PERIOD_MS));
        assert_eq!(w.tick(900), Tick::Wait(500));
        assert_eq!(w.tick(900), Tick::TimerDue);
    }

    #[test]
    fn a_failed_attempt_asks_more_of_the_next() {
        let mut w = FreeWatch::new(1000, 512, 300_000);
        assert_eq!(w.tick(2000), Tick::Attempt);
        w.attempt_failed(2000);
        assert_eq!(w.need(), 1024);
        // What came back once does not bring another attempt...
        assert_eq!(w.tick(2600), Tick::Wait(PERIOD_MS));
        // ...twice as much does.
        assert_eq!(w.tick(3024), Tick::Attempt);
    }

    #[test]
    fn churn_brings_few_attempts() {
        // Free memory going up and down by 4 MiB (1024 pages) every second for 5 minutes
        // brings a handful of attempts, not one a second.
        let mut w = FreeWatch::new(10_000, 512, 300_000);
        let mut attempts = 0;
        for s in 0..300u64 {
            let free = if s % 2 == 0 { 10_000 } else { 11_024 };
            match w.tick(free) {
                Tick::Attempt => {
                    attempts += 1;
                    w.attempt_failed(free);
                }
                Tick::TimerDue => break,
                Tick::Wait(_) => {}
            }
        }
        assert!(attempts <= 2, "{attempts} attempts");
    }

    #[test]
    fn no_overflow_at_the_edges() {
        let mut w = FreeWatch::new(u64::MAX, u64::MAX, 0);
        assert_eq!(w.tick(u64::MAX), Tick::Attempt);
        w.attempt_failed(u64::MAX);
        assert_eq!(w.need(), u64::MAX);
        assert_eq!(w.tick(0), Tick::TimerDue);
        assert_eq!(FreeWatch::new(0, 0, 10).need(), 1);
    }
}
