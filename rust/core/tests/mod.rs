// SPDX-License-Identifier: GPL-2.0

//! The core's host tests beyond each file's unit tests: models and properties.

mod planner_model;
mod props;
mod run_state_model;
mod sbm_model;
