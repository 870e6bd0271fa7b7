// SPDX-License-Identifier: GPL-2.0

//! A device's debugfs directory, `virtio_mem_rs/virtioN/`: what the driver works toward, what
//! it holds, and what it did. The files read the controller when they are read; they hold a
//! reference to it and are removed before it goes.

use crate::controller::{Controller, ControllerWork, State};
use crate::core_cstr;
use crate::policy::geometry::Blocks;
use core::ffi::CStr;
use core::fmt;
use kernel::debugfs::{Dir, File};
use kernel::fmt;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::Arc;

/// What one file shows of the controller.
type ShowFn = fn(&Controller, &State, &mut fmt::Formatter<'_>) -> fmt::Result;

/// A file's data: the controller, and what of it the file shows.
pub(crate) struct View {
    work: Arc<ControllerWork>,
    show: ShowFn,
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c: &Controller = &self.work;
        // A read waits for a plug or unplug step; the work loop never waits for a read (the
        // files are dropped without the lock held).
        let st = c.state.lock();
        (self.show)(c, &st, f)
    }
}

/// The files, removed with the directory when dropped.
pub(crate) struct DeviceFiles {
    // Files before their directory: each keeps it, but this is the order they go in anyway.
    _files: KVec<Pin<KBox<File<View>>>>,
    _dir: Dir,
}

/// Files of either mode: name and what it shows. Sizes are in bytes, decimal.
const FILES: &[(&CStr, ShowFn)] = &[
    (c"requested_size", |_, st, f| write!(f, "{}", st.requested)),
    (c"plugged_size", |_, st, f| {
        write!(f, "{}", st.plugged_bytes())
    }),
    // As the device says now.
    (c"device_plugged_size", |c, _, f| match c.read_config() {
        Ok(cfg) => write!(f, "{}", cfg.plugged_size),
        Err(e) => write!(f, "unknown ({e:?})"),
    }),
    (c"usable_region_size", |_, st, f| write!(f, "{}", st.usable)),
    (c"region", |c, _, f| {
        write!(
            f,
            "{:#x}-{:#x}",
            c.region.start(),
            c.region.start() + c.region.size()
        )
    }),
    (c"device_block_size", |c, _, f| {
        write!(f, "{}", c.block_size)
    }),
    (c"mode", |_, st, f| match st.planner.geometry().blocks {
        Blocks::Sub(_) => f.write_str("sbm"),
        Blocks::Big(_) => f.write_str("bbm"),
    }),
    // The unit the device is plugged in: a subblock (Sub Block Mode) or a big block.
    (c"plug_unit_size", |_, st, f| {
        write!(f, "{}", st.planner.plug_unit())
    }),
    // Memory blocks (Sub Block Mode) or big blocks, by state.
    (c"blocks", |_, st, f| write!(f, "{}", st.planner.census())),
    (c"requests", |c, _, f| write!(f, "{}", c.stats.requests())),
    (c"answers", |c, _, f| write!(f, "{}", c.stats.answers())),
    // Nanoseconds spent in each phase of the work since probe.
    (c"phase_ns", |c, _, f| write!(f, "{}", c.stats.phase_ns())),
    (c"alloc_contig_range", |c, _, f| {
        write!(f, "{}", c.stats.contig())
    }),
    (c"retries", |c, _, f| write!(f, "{}", c.stats.retries())),
    (c"backoff_ms", |c, _, f| {
        write!(f, "{}", c.stats.backoff_ms())
    }),
    (c"last_stop", |c, _, f| match c.stats.last_end() {
        Some(end) => write!(f, "{end:?}"),
        None => f.write_str("none"),
    }),
];

impl DeviceFiles {
    /// Makes `virtioN/` in `parent` for device `index`.
    pub(crate) fn new(parent: &Dir, index: i32, work: &Arc<ControllerWork>) -> Result<Self> {
        let name = CString::try_from_fmt(fmt!("virtio{index}"))?;
        let dir = parent.subdir(core_cstr(&name)?);
        let mut files = KVec::with_capacity(FILES.len(), GFP_KERNEL)?;
        for &(name, show) in FILES {
            let view = View {
                work: work.clone(),
                show,
            };
            files.push(
                KBox::pin_init(dir.read_only_file::<_, Error>(name, view), GFP_KERNEL)?,
                GFP_KERNEL,
            )?;
        }
        Ok(Self {
            _files: files,
            _dir: dir,
        })
    }
}
