// SPDX-License-Identifier: GPL-2.0

//! Host build of the driver's pure core (`mod.rs`): the module includes the same files.

#![no_std]

#[cfg(test)]
extern crate std;

#[path = "mod.rs"]
mod inner;

pub use inner::*;

#[cfg(test)]
#[path = "tests/mod.rs"]
mod tests;
