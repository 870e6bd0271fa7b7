// SPDX-License-Identifier: GPL-2.0

//! The driver's decisions, free of kernel dependencies: the wire format, config validation
//! and the choice of mode, the geometry of the device region, the two modes' planners behind
//! one face (`planner`: Sub Block Mode in `sbm`, Big Block Mode in `bbm`), how far the device
//! is from the requested size, the run state (what wakes the next run), how much offline
//! memory may wait, the retry policy, the watch for freed memory that an unplug waits for, the order in which an unplug visits online units (fewest used pages first), what an unanswered request leaves behind, whether the
//! system may sleep, and what a kdump kernel reads of the device. The same files build into the module and, through
//! `rust/core/Cargo.toml`, on the host, where `make check` runs their unit and property tests.

pub mod bbm;
pub mod config;
pub mod free_watch;
pub mod geometry;
pub mod kdump;
pub mod offline_budget;
pub mod planner;
pub mod retry;
pub mod run_state;
pub mod sbm;
pub mod sleep;
pub mod stats;
pub mod target;
pub mod unanswered;
pub mod unplug_rank;
pub mod wire;
