// SPDX-License-Identifier: GPL-2.0

//! The core's host tests beyond each file's unit tests: models and properties.

mod planner_model;
mod props;
mod run_state_model;
mod sbm_model;

/// Failing cases proptest found are kept beside the test that found them
/// (`tests/NAME.regressions`) and replayed first on every run.
fn regressions() -> proptest::test_runner::FileFailurePersistence {
    proptest::test_runner::FileFailurePersistence::WithSource("regressions")
}
