// SPDX-License-Identifier: GPL-2.0

//! The run state under every interleaving: runs (start, decision, end), memory notifications
//! from others and from the run itself, config changes, the device's refusals, memory in use
//! that is freed without a notification, and the retry timer or the free-memory watch, in
//! random order. When everything has settled (no run, none queued, no timer armed)
//! there must be no work the driver could do: no pending work is left without a wake-up, and
//! the run's own notifications do not keep it running.

use crate::run_state::{AfterRun, Event, RunEnd, RunState};
use proptest::prelude::*;
use std::vec;
use std::vec::Vec;

/// The unit the run adds itself; others are onlined and offlined by "user space".
const OWN: u64 = 0;
const OTHER: u64 = 1;

#[derive(Clone, Copy, Debug)]
enum Op {
    /// The device asks for more memory: a config change (queues the work whatever the state).
    ConfigChange,
    /// User space onlines offline memory: there is room to add again.
    UserOnline,
    /// User space starts on- or offlining one of our units.
    UserTransitionStarts,
    /// That transition ends (onlined, offlined or cancelled).
    UserTransitionEnds(u8),
    /// The host can take plugs again (no notification: only a retry finds out).
    DeviceReady,
    /// User space frees the memory an unplug waits for (no notification: only the watch or a
    /// retry finds out).
    UserFrees,
    /// The retry timer fires, if armed.
    Timer,
    /// The workqueue starts the queued run.
    RunStarts,
    /// The run adds a unit, which the kernel onlines at once (its own notification).
    RunOnlinesItsOwn,
    /// The run reads the world and decides how it ends; `true`: when it can plug, it plugs all
    /// that is wanted, else it fills the offline budget first.
    RunDecides(bool),
    /// The run ends.
    RunEnds,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::ConfigChange),
        Just(Op::UserOnline),
        Just(Op::UserTransitionStarts),
        (0u8..3).prop_map(Op::UserTransitionEnds),
        Just(Op::DeviceReady),
        Just(Op::UserFrees),
        Just(Op::Timer),
        Just(Op::RunStarts),
        Just(Op::RunOnlinesItsOwn),
        any::<bool>().prop_map(Op::RunDecides),
        Just(Op::RunEnds),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunPhase {
    Started,
    Decided(RunEnd),
}

struct World {
    rs: RunState,
    queued: bool,
    timer: bool,
    run: Option<RunPhase>,
    /// The device wants more than is plugged.
    want: bool,
    /// The offline budget has room for more.
    room: bool,
    /// A user transition of one of our units is going on.
    transition: bool,
    /// The device answers BUSY.
    busy: bool,
    /// Memory the run would unplug is in use.
    held: bool,
    runs: u32,
}

impl World {
    fn new() -> Self {
        let mut w = Self {
            rs: RunState::new(0),
            queued: true,
            timer: false,
            run: None,
            want: false,
            room: true,
            transition: false,
            busy: false,
            held: true,
            runs: 0,
        };
        // The first run, queued by probe.
        w.apply(Op::RunStarts);
        w.apply(Op::RunDecides(true));
        w.apply(Op::RunEnds);
        w
    }

    fn notify(&mut self, unit: u64, event: Event) {
        if self.rs.notify(unit, event) {
            self.queued = true;
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::ConfigChange => {
                self.want = true;
                self.queued = true;
            }
            Op::UserOnline => {
                self.room = true;
                self.notify(OTHER, Event::Onlined { room: true });
            }
            Op::UserTransitionStarts => self.transition = true,
            Op::UserTransitionEnds(how) if self.transition => {
                self.transition = false;
                let event = match how {
                    0 => Event::Onlined { room: self.room },
                    1 => Event::Offlined,
                    _ => Event::Cancelled,
                };
                self.notify(OTHER, event);
            }
            Op::UserTransitionEnds(_) => {}
            Op::DeviceReady => self.busy = false,
            Op::UserFrees => self.held = false,
            Op::Timer if self.timer => {
                self.timer = false;
                self.queued = true;
            }
            Op::Timer => {}
            Op::RunStarts if self.queued && self.run.is_none() => {
                self.queued = false;
                self.runs += 1;
                if self.rs.start_run() {
                    self.run = Some(RunPhase::Started);
                }
            }
            Op::RunStarts => {}
            Op::RunOnlinesItsOwn if self.run == Some(RunPhase::Started) => {
                self.rs.set_own(Some(OWN));
                self.notify(OWN, Event::Onlined { room: self.room });
                self.rs.set_own(None);
            }
            Op::RunOnlinesItsOwn => {}
            Op::RunDecides(plugs_all) if self.run == Some(RunPhase::Started) => {
                let end = if self.transition {
                    RunEnd::WaitTransition
                } else if !self.want {
                    RunEnd::Reached
                } else if self.busy {
                    RunEnd::Later
                } else if self.held && !plugs_all {
                    // This time the device asks for less, and what would go is in use.
                    RunEnd::Busy
                } else if !self.room {
                    RunEnd::WaitOnline
                } else if plugs_all {
                    self.want = false;
                    RunEnd::Reached
                } else {
                    self.room = false;
                    RunEnd::WaitOnline
                };
                self.run = Some(RunPhase::Decided(end));
            }
            Op::RunDecides(_) => {}
            Op::RunEnds => {
                if let Some(RunPhase::Decided(end)) = self.run {
                    self.run = None;
                    match self.rs.end_run(end) {
                        // The watch ends in the retry timer's attempt: a timer either way.
                        AfterRun::ArmTimer | AfterRun::Watch => self.timer = true,
                        AfterRun::RunAgain => self.queued = true,
                        AfterRun::Nothing | AfterRun::ReportBroken => {}
                    }
                }
            }
        }
    }

    /// From a settled world: a run that onlines its own memory, then waits for others to
    /// online more. Its own notification must not bring another run.
    fn run_onlining_its_own(&mut self) {
        let runs = self.runs;
        self.want = true;
        self.queued = true;
        self.apply(Op::RunStarts);
        self.apply(Op::RunOnlinesItsOwn);
        if self.room {
            self.apply(Op::RunDecides(false));
        }
        self.settle();
        assert_eq!(self.runs - runs, 1, "the run's own onlining woke it again");
    }

    /// Lets everything settle: user transitions end, the device gets ready, runs run and
    /// timers fire, until nothing is left to happen.
    fn settle(&mut self) {
        if self.transition {
            self.apply(Op::UserTransitionEnds(2));
        }
        self.busy = false;
        self.held = false;
        let runs = self.runs;
        loop {
            match self.run {
                Some(RunPhase::Started) => self.apply(Op::RunDecides(true)),
                Some(RunPhase::Decided(_)) => self.apply(Op::RunEnds),
                None if self.queued => self.apply(Op::RunStarts),
                None if self.timer => self.apply(Op::Timer),
                None => break,
            }
            assert!(self.runs - runs <= 4, "runs keep waking themselves");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(std::boxed::Box::new(super::regressions())),
        cases: 2048,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_work_is_left_without_a_wake_up(ops in prop::collection::vec(op(), 0..30)) {
        let mut w = World::new();
        for op in ops {
            w.apply(op);
        }
        w.settle();
        // Settled: either nothing is wanted, or it waits for someone to online memory.
        prop_assert!(
            !w.want || !w.room,
            "lost wake-up: work wanted, room to add, nothing to bring a run ({:?})",
            w.rs.run()
        );
        w.run_onlining_its_own();
    }
}

/// The interleaving the issue describes: the run decides to wait for onlining, user space
/// onlines before the run has ended, and nothing else happens.
#[test]
fn onlining_just_before_a_waiting_run_ends_wakes_it() {
    let mut w = World::new();
    let ops: Vec<Op> = [
        Op::ConfigChange,
        Op::RunStarts,
        Op::RunDecides(false),
        Op::UserOnline,
        Op::RunEnds,
    ]
    .into();
    for op in ops {
        w.apply(op);
    }
    assert!(w.queued, "the onlining during the run was lost");
    w.settle();
    assert!(!w.want);
}
