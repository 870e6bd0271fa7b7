// SPDX-License-Identifier: GPL-2.0

//! The lifecycle of a bound device and of its runs: whether the work loop may run, why a run
//! that stopped short is parked, and the two decisions that keep work from being forgotten:
//! what happens after a run ends ([`RunState::end_run`]), and whether a memory notification
//! wakes a run ([`RunState::notify`]).
//!
//! The rule that makes it safe: a notification that arrives while a run is active, and that
//! the run did not cause itself, is remembered; a run that then ends parked waiting for such a
//! notification is queued again instead. The C driver skips the wake-up whenever its work is
//! active (`wq_active`), which loses it when the run has already decided to stop.

/// Where the device is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// The device had memory plugged at probe: the next run sends `UNPLUG_ALL` first.
    UnplugAllFirst,
    /// Runs plug and unplug toward the requested size.
    Running,
    /// The device answered ERROR or broke the protocol: nothing more is asked of it.
    Broken,
    /// The driver is being removed: no more runs, no onlining or offlining of our memory.
    Removing,
}

/// What a run that stopped short waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parked {
    /// Too much added memory waits offline: someone onlining it.
    UntilOnlined,
    /// One of our units is going on- or offline: the end of that transition.
    UntilTransitionEnds,
    /// The device or the kernel said "not now": the retry timer (or memory going offline,
    /// which an unplug may be waiting for).
    UntilTimer,
    /// Memory to unplug is in use: the free-memory watch (see `free_watch`), whose ticks end in
    /// the retry timer's attempt, or memory going offline.
    UntilFreed,
    /// Nothing more fits in the usable region: the next config change.
    UntilConfigChange,
}

/// Whether a run is going on, and if not, why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// No run, nothing pending: the next config change brings one.
    Idle,
    /// A run is queued and will start.
    Queued,
    /// A run is going on.
    Active {
        /// A notification it did not cause arrived meanwhile: the world may have changed
        /// behind its decisions.
        missed: bool,
        /// The unit the run itself is adding or removing right now: notifications about it
        /// are the run's own doing.
        own: Option<u64>,
    },
    /// The last run stopped short, waiting for this.
    Parked(Parked),
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Plugged is as close to requested as the unit allows.
    Reached,
    /// A refusal to be retried later (NACK, BUSY, a failed allocation of the driver's).
    Later,
    /// Memory to unplug is in use (unmovable or pinned pages, or no room to migrate them to):
    /// retried when enough memory is freed, or on the retry timer.
    Busy,
    /// Too much memory waits offline.
    WaitOnline,
    /// One of our units is going on- or offline.
    WaitTransition,
    /// Nothing more fits in the usable region.
    Full,
    /// The device is unusable.
    Broken,
    /// The device is gone, or the driver is being removed.
    Gone,
}

/// What the work loop does after a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterRun {
    /// Nothing: a notification, a config change or nobody brings the next run.
    Nothing,
    /// Arm the retry timer.
    ArmTimer,
    /// Watch for freed memory (ending in the retry timer's attempt).
    Watch,
    /// Queue the next run at once.
    RunAgain,
    /// The device just broke: say so, once.
    ReportBroken,
}

/// A memory notification about one of our units that has ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Memory went online; `room`: the offline budget has room for half its threshold again.
    Onlined {
        /// Whether adding may go on.
        room: bool,
    },
    /// Memory went offline.
    Offlined,
    /// An on- or offlining was cancelled.
    Cancelled,
}

/// The run state of one device. Config changes and the retry timer queue the work directly
/// (a config change arrives in interrupt context, where this state, under the driver's mutex,
/// cannot be reached); a run they bring starts with [`RunState::start_run`] like any other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunState {
    lifecycle: Lifecycle,
    run: Run,
}

impl RunState {
    /// A device found with `plugged` bytes plugged at probe; its first run is queued.
    pub fn new(plugged: u64) -> Self {
        Self {
            lifecycle: if plugged > 0 {
                Lifecycle::UnplugAllFirst
            } else {
                Lifecycle::Running
            },
            run: Run::Queued,
        }
    }

    /// Where the device is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// Whether a run is going on, and if not, why not.
    pub fn run(&self) -> Run {
        self.run
    }

    /// A run starts: `false` when there is nothing a run may do (broken, being removed).
    pub fn start_run(&mut self) -> bool {
        match self.lifecycle {
            Lifecycle::Broken | Lifecycle::Removing => {
                self.run = Run::Idle;
                false
            }
            Lifecycle::UnplugAllFirst | Lifecycle::Running => {
                self.run = Run::Active {
                    missed: false,
                    own: None,
                };
                true
            }
        }
    }

    /// `UNPLUG_ALL` was acknowledged.
    pub fn unplugged_all(&mut self) {
        if self.lifecycle == Lifecycle::UnplugAllFirst {
            self.lifecycle = Lifecycle::Running;
        }
    }

    /// The driver is being removed: runs stop and our memory stays as it is.
    pub fn removing(&mut self) {
        self.lifecycle = Lifecycle::Removing;
    }

    /// Whether Linux may on- or offline our memory now.
    pub fn allows_transitions(&self) -> bool {
        self.lifecycle != Lifecycle::Removing
    }

    /// The run is about to add or remove `unit` itself (`Some`), or is done with it (`None`).
    pub fn set_own(&mut self, unit: Option<u64>) {
        if let Run::Active { missed, .. } = self.run {
            self.run = Run::Active { missed, own: unit };
        }
    }

    /// Whether the active run is adding or removing `unit` itself right now.
    pub fn is_own(&self, unit: u64) -> bool {
        matches!(self.run, Run::Active { own: Some(u), .. } if u == unit)
    }

    /// The run ended so; what the work loop does next.
    pub fn end_run(&mut self, end: RunEnd) -> AfterRun {
        let missed = match self.run {
            Run::Active { missed, .. } => missed,
            // Only a parked run is woken by a notification, so no other state is seen here;
            // without a run to account for, end as a run that missed nothing.
            Run::Queued | Run::Idle | Run::Parked(_) => false,
        };
        let parked = match end {
            Reached => {
                self.run = Run::Idle;
                return AfterRun::Nothing;
            }
            Later => Parked::UntilTimer,
            Busy => Parked::UntilFreed,
            WaitOnline => Parked::UntilOnlined,
            WaitTransition => Parked::UntilTransitionEnds,
            Full => Parked::UntilConfigChange,
            Broken | Gone => {
                self.run = Run::Idle;
                return self.broken_if(end, AfterRun::Nothing);
            }
        };
        if missed && parked != Parked::UntilConfigChange {
            self.run = Run::Queued;
            return AfterRun::RunAgain;
        }
        self.run = Run::Parked(parked);
        match parked {
            Parked::UntilTimer => AfterRun::ArmTimer,
            Parked::UntilFreed => AfterRun::Watch,
            Parked::UntilOnlined | Parked::UntilTransitionEnds | Parked::UntilConfigChange => {
                AfterRun::Nothing
            }
        }
    }

    fn broken_if(&mut self, end: RunEnd, otherwise: AfterRun) -> AfterRun {
        if end == RunEnd::Broken && self.lifecycle != Lifecycle::Broken {
            self.lifecycle = Lifecycle::Broken;
            return AfterRun::ReportBroken;
        }
        otherwise
    }

    /// Unit `unit` finished going on- or offline (`event`); returns whether a run must be
    /// queued now.
    pub fn notify(&mut self, unit: u64, event: Event) -> bool {
        if matches!(self.lifecycle, Lifecycle::Broken | Lifecycle::Removing) {
            return false;
        }
        match self.run {
            Run::Active { own, .. } if own == Some(unit) => false,
            Run::Active { own, .. } => {
                self.run = Run::Active { missed: true, own };
                false
            }
            Run::Queued | Run::Idle | Run::Parked(Parked::UntilConfigChange) => false,
            Run::Parked(parked) => {
                let wakes = match (parked, event) {
                    (Parked::UntilOnlined, Event::Onlined { room }) => room,
                    (Parked::UntilTransitionEnds, _) => true,
                    (Parked::UntilTimer | Parked::UntilFreed, Event::Offlined) => true,
                    _ => false,
                };
                if wakes {
                    self.run = Run::Queued;
                }
                wakes
            }
        }
    }
}

use RunEnd::*;

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> RunState {
        let mut s = RunState::new(0);
        assert!(s.start_run());
        s
    }

    #[test]
    fn a_run_parked_for_onlining_wakes_when_there_is_room() {
        let mut s = active();
        assert_eq!(s.end_run(WaitOnline), AfterRun::Nothing);
        assert_eq!(s.run(), Run::Parked(Parked::UntilOnlined));
        assert!(!s.notify(3, Event::Onlined { room: false }));
        assert!(!s.notify(3, Event::Offlined));
        assert!(s.notify(3, Event::Onlined { room: true }));
        assert_eq!(s.run(), Run::Queued);
        // Already queued: no second wake-up.
        assert!(!s.notify(4, Event::Onlined { room: true }));
    }

    #[test]
    fn an_onlining_during_the_run_is_not_lost() {
        let mut s = active();
        // Someone else onlines while the run is deciding to wait for exactly that.
        assert!(!s.notify(3, Event::Onlined { room: true }));
        assert_eq!(s.end_run(WaitOnline), AfterRun::RunAgain);
        assert_eq!(s.run(), Run::Queued);
    }

    #[test]
    fn the_runs_own_transitions_do_not_wake_it() {
        let mut s = active();
        s.set_own(Some(7));
        assert!(s.is_own(7) && !s.is_own(8));
        assert!(!s.notify(7, Event::Onlined { room: true }));
        s.set_own(None);
        assert!(!s.is_own(7));
        // Its own onlining gave room, yet it parks: nothing from someone else happened.
        assert_eq!(s.end_run(WaitOnline), AfterRun::Nothing);
        assert_eq!(s.run(), Run::Parked(Parked::UntilOnlined));
        assert!(!s.is_own(7));
    }

    #[test]
    fn refusals_arm_the_timer_and_a_broken_device_is_reported_once() {
        let mut s = active();
        assert_eq!(s.end_run(Later), AfterRun::ArmTimer);
        assert!(s.notify(0, Event::Offlined));
        assert!(s.start_run());
        assert_eq!(s.end_run(Broken), AfterRun::ReportBroken);
        assert_eq!(s.lifecycle(), Lifecycle::Broken);
        assert!(!s.notify(0, Event::Offlined));
        assert!(!s.start_run());
        assert_eq!(s.end_run(Broken), AfterRun::Nothing);
    }

    #[test]
    fn busy_memory_is_watched_and_offlining_wakes_it() {
        let mut s = active();
        assert_eq!(s.end_run(Busy), AfterRun::Watch);
        assert_eq!(s.run(), Run::Parked(Parked::UntilFreed));
        assert!(!s.notify(0, Event::Onlined { room: true }));
        assert!(s.notify(0, Event::Offlined));
        assert_eq!(s.run(), Run::Queued);
        // Freed by someone else while the run decides to watch: run again at once.
        assert!(s.start_run());
        assert!(!s.notify(1, Event::Offlined));
        assert_eq!(s.end_run(Busy), AfterRun::RunAgain);
    }

    #[test]
    fn unplug_all_comes_first_and_removal_ends_everything() {
        let mut s = RunState::new(1 << 30);
        assert_eq!(s.lifecycle(), Lifecycle::UnplugAllFirst);
        assert!(s.start_run());
        s.unplugged_all();
        assert_eq!(s.lifecycle(), Lifecycle::Running);
        assert_eq!(s.end_run(Full), AfterRun::Nothing);
        // Only a config change (the work loop's own flag, set in interrupt context) helps.
        assert!(!s.notify(0, Event::Offlined));
        assert!(!s.notify(0, Event::Onlined { room: true }));
        s.removing();
        assert!(!s.allows_transitions());
        assert!(!s.start_run());
        assert!(!s.notify(0, Event::Onlined { room: true }));
    }
}
