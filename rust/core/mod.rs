// SPDX-License-Identifier: GPL-2.0

//! The driver's decisions, free of kernel dependencies: the wire format, config validation,
//! the geometry of the device region, the Sub Block Mode state and what to plug or unplug
//! next, how far the device is from the requested size, how much offline memory may wait,
//! the retry policy, what an unanswered request leaves behind, whether the system may
//! sleep, and what a kdump kernel reads of the device. The same files build into the module and, through
//! `rust/core/Cargo.toml`, on the host, where `make check` runs their unit and property tests.

pub mod config;
pub mod geometry;
pub mod kdump;
pub mod offline_budget;
pub mod retry;
pub mod sbm;
pub mod sleep;
pub mod target;
pub mod unanswered;
pub mod wire;
