//! The VM test cases: each boots its own guest and runs the guest script of
//! the same name (`tests/guest/cases/NAME.sh`).

use std::time::Duration;

pub use crate::harness::qemu::Layout;

pub const GIB: u64 = 1 << 30;

/// The module under test in the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    /// The upstream `virtio_mem.ko`: the control.
    C,
    /// Our `virtio_mem_rs.ko`.
    Rust,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::C => "c",
            Driver::Rust => "rust",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "c" => Some(Driver::C),
            "rust" => Some(Driver::Rust),
            _ => None,
        }
    }
}

/// One VM test case.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    pub summary: &'static str,
    pub boot_mem: u64,
    pub region: u64,
    pub requested_at_boot: u64,
    /// The device's block size (`block-size=`), 0 for QEMU's default (2 MiB on x86-64, below
    /// Linux's 128 MiB memory block: Sub Block Mode). A block of a memory block or more puts
    /// both drivers in Big Block Mode.
    pub block_size: u64,
    pub online: &'static str,
    /// The whole boot, from QEMU's start to its exit.
    pub timeout: Duration,
    /// Whether a `page allocation failure` report is expected here.
    pub allow_alloc_failure: bool,
    /// Run only when named (`CASES=NAME`), not in the default list of `make check`.
    pub opt_in: bool,
    /// Extra kernel command line words for this case.
    pub cmdline: &'static [&'static str],
    /// What the guest script gets as `ARGS` (`vmrs.args=`), empty for none.
    pub args: &'static str,
    /// A test of the kernel (the patch series), not of a driver: it runs once, with the
    /// control driver's guest.
    pub kernel_only: bool,
    /// How the guest's memory and device are laid out.
    pub layout: Layout,
    /// The guest crashes its first kernel on purpose, into a crash kernel: the panic and its
    /// call trace after `/init`'s `vmrs: crashing on purpose` and before the next kernel's
    /// banner are not kernel reports that fail the case (see
    /// [`crate::harness::logscan::without_deliberate_crash`]).
    pub crashes_on_purpose: bool,
    /// A failure of the C driver (the control) that this case shows and that is not the
    /// harness's: a C run that fails with its evidence in the console log is reported as a
    /// known failure, with the reason, and does not fail the suite. A C run that fails
    /// without it fails as any other.
    pub c_known_failure: Option<KnownFailure>,
}

/// See [`Case::c_known_failure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownFailure {
    /// A line of the console log (the kernel's or the case's) contains this.
    pub evidence: &'static str,
    /// What goes wrong, for the report.
    pub why: &'static str,
}

/// The C driver treats any error of `add_memory_driver_managed()` other than ENOMEM, ENOSPC,
/// ETXTBSY and EBUSY as fatal, and `register_memory_resource()` reports a failed allocation
/// of the resource (in `__request_region()`) as EEXIST.
const C_BROKEN_BY_A_FAILED_ALLOCATION: KnownFailure = KnownFailure {
    evidence: "unknown error, marking device broken: -17",
    why: "a kmalloc that failed in __request_region() comes back from add_memory_driver_managed() as \
          EEXIST, which the C driver takes for an unknown error: it marks the device broken and \
          never plugs or unplugs again",
};

const fn case(name: &'static str, summary: &'static str) -> Case {
    Case {
        name,
        summary,
        boot_mem: GIB,
        region: 8 * GIB,
        requested_at_boot: 0,
        block_size: 0,
        online: "online_movable",
        timeout: Duration::from_secs(300),
        allow_alloc_failure: false,
        opt_in: false,
        cmdline: &[],
        args: "",
        kernel_only: false,
        layout: Layout::Plain,
        crashes_on_purpose: false,
        c_known_failure: None,
    }
}

pub const CASES: &[Case] = &[
    case(
        "plug",
        "plug 0 -> 1 GiB -> 4 GiB; MemTotal grows, new blocks online",
    ),
    case(
        "unplug",
        "unplug 4 GiB -> 0 on an idle guest (online_movable)",
    ),
    // 4 GiB of boot memory so the 2.4 GiB pattern can migrate out of the device.
    Case {
        boot_mem: 4 * GIB,
        ..case(
            "unplug-pattern",
            "unplug 4 GiB -> 0 while a process holds a checksummed pattern",
        )
    },
    case(
        "load-unload",
        "load and unload the module ten times with nothing plugged",
    ),
    Case {
        timeout: Duration::from_secs(600),
        ..case(
            "random-resize",
            "20 resizes to random sizes (seeded); device, MemTotal and driver agree",
        )
    },
    Case {
        online: "offline",
        timeout: Duration::from_secs(600),
        ..case(
            "manual-online",
            "a loop onlines (movable and kernel) and offlines the device's blocks by hand while it grows and shrinks",
        )
    },
    case(
        "manual-offline",
        "a block offlined by hand goes first on unplug; one offlined and onlined again stays the driver's",
    ),
    case(
        "unbind-rebind",
        "unbind and bind through sysfs, idle and in the middle of a plug: nothing lost, the refusal says why",
    ),
    // failslab and fail_page_alloc aimed at the module's addresses (the stack filter) while
    // the device grows and shrinks; then the faults stop and everything must agree.
    // Allocation failures reported by the kernel (a vmalloc of KASAN's shadow in onlining,
    // say) are what the case provokes.
    Case {
        c_known_failure: Some(C_BROKEN_BY_A_FAILED_ALLOCATION),
        allow_alloc_failure: true,
        ..case(
            "alloc-faults",
            "kmalloc and alloc_pages fail at random in the driver's calls: clean retries, no leak once they stop",
        )
    },
    // 2 GiB of boot memory, so that the pattern fits when the storm asks for 0.
    Case {
        boot_mem: 2 * GIB,
        timeout: Duration::from_secs(600),
        ..case(
            "config-storm",
            "200 resizes 20-100 ms apart (seeded) over a 512 MiB pattern; sizes agree, pattern intact",
        )
    },
    // The short soak of `make check`: 100 operations (`make soak` runs SOAK_OPS through the
    // runner's `soak` command, with its own time limit). 2 GiB of boot memory for the
    // patterns to move into when ZONE_NORMAL blocks stay.
    Case {
        boot_mem: 2 * GIB,
        region: 4 * GIB,
        args: "100",
        timeout: Duration::from_secs(900),
        c_known_failure: Some(C_BROKEN_BY_A_FAILED_ALLOCATION),
        allow_alloc_failure: true,
        ..case(
            "soak",
            "100 random operations (seeded): resizes, storms, zones, offline/online by hand, faults, rebind",
        )
    },
    // A small guest that grows far: each block's memory map on the block itself.
    Case {
        region: 16 * GIB,
        timeout: Duration::from_secs(900),
        cmdline: &["memory_hotplug.memmap_on_memory=1"],
        ..case(
            "memmap-on-memory",
            "memory_hotplug.memmap_on_memory=1, 1 GiB boot memory, 8 GiB plugged: ours takes the memory map from the added memory, not ZONE_NORMAL",
        )
    },
    // A partial unplug after a workload freed every other part of what it used: how many
    // pages each unplug order migrates.
    case(
        "unplug-scattered",
        "unplug 2 GiB -> 1 GiB with the used memory scattered: ours (fewest used first) migrates no more than highest first",
    ),
    // An unplug that stops on pages a process pins, and how soon after the process is gone
    // the device gets there. Migrating what is not pinned may still fail an allocation, which
    // C logs (ours asks for none: __GFP_NOWARN).
    Case {
        allow_alloc_failure: true,
        ..case(
            "converge",
            "an unplug stopped by pinned memory reaches the request once it is freed: ours within 5 s",
        )
    },
    // What keeps ZONE_NORMAL memory plugged after an unplug to 0, page by page.
    Case {
        boot_mem: 2 * GIB,
        online: "online_kernel",
        cmdline: &["memory_hotplug.memmap_on_memory=1"],
        ..case(
            "unplug-kernel-leftover",
            "ZONE_NORMAL, unplug to 0: every subblock left plugged holds unmovable kernel pages (or its block's memory map)",
        )
    },
    // 2 GiB of boot memory, so that what can be unplugged has somewhere to go.
    Case {
        boot_mem: 2 * GIB,
        online: "online_kernel",
        ..case(
            "unplug-busy",
            "unplug ZONE_NORMAL memory while the guest allocates; sizes agree",
        )
    },
    Case {
        requested_at_boot: GIB,
        ..case(
            "plugged-at-boot",
            "requested-size is 1 GiB at boot: plugged on load, no resize",
        )
    },
    case(
        "unload-plugged",
        "unload with 1 GiB plugged: memory stays, guest healthy, reload refused",
    ),
    // movablecore= puts the top of boot memory in ZONE_MOVABLE, so there is a zone boundary
    // inside online memory for the cross-zone check.
    Case {
        cmdline: &["movablecore=256M"],
        kernel_only: true,
        ..case(
            "contig-pageblock",
            "alloc_contig_range() at pageblock granularity through kernel::contig",
        )
    },
    // The kernel crate's doc tests, run by KUnit at boot.
    Case {
        kernel_only: true,
        cmdline: &["kunit.enable=1", "kunit.filter_glob=rust_doctests_kernel"],
        ..case(
            "kunit",
            "the kernel crate's doc tests under KUnit, the series' included",
        )
    },
    // S3 with nothing plugged (woken over QMP), a resize after the wake-up, S3 refused with
    // memory plugged, suspend-to-idle allowed with memory plugged, hibernation refused.
    case(
        "suspend",
        "suspend to RAM and to idle, hibernation: what the driver allows and what survives",
    ),
    // The device arrives over ACPI PCI hotplug while the driver is loaded.
    Case {
        layout: Layout::NoDevice,
        ..case(
            "pci-hotplug",
            "the device is hot-plugged over ACPI: the driver binds, plugs, unplugs, unbinds",
        )
    },
    // Two NUMA nodes whose PXMs and Linux ids are swapped: the device's PXM 0 is node 1.
    Case {
        layout: Layout::SwappedNuma,
        ..case(
            "numa",
            "the device on PXM 0 = Linux node 1: its memory blocks go to node 1",
        )
    },
    case(
        "params",
        "the module parameters: sysfs files and permissions, a bad value fails insmod, force_bbm + bbm_block_size, unplug_online=0",
    ),
    // The backend of device-busy, for BUSY answers to count.
    Case {
        layout: Layout::TightBackend,
        timeout: Duration::from_secs(420),
        c_known_failure: Some(KnownFailure {
            evidence: "virtio_mem has no debugfs directory",
            why: "the C driver has no debugfs files",
        }),
        ..case(
            "debugfs",
            "debugfs counters and sizes agree with the device after BUSY answers, a plug and an unplug",
        )
    },
    // The device gets BUSY from a backend that is too small until the host frees it: the
    // driver's retry timer (50 s) must bring the size up; the whole case takes about 4 minutes
    // under TCG.
    Case {
        layout: Layout::TightBackend,
        timeout: Duration::from_secs(420),
        ..case(
            "device-busy",
            "plugs the backend cannot take get BUSY: no spinning, the retry timer plugs later",
        )
    },
    // A crash into a capture kernel (kexec_file_load of the same bzImage: CONFIG_RELOCATABLE).
    // crashkernel= reserves the capture kernel's memory below 4 GiB: 192 MiB of the 2 GiB of
    // boot memory.
    Case {
        boot_mem: 2 * GIB,
        cmdline: &["crashkernel=192M"],
        crashes_on_purpose: true,
        ..case(
            "kdump",
            "a crash with 1 GiB plugged: the capture kernel leaves the device alone, the dump has the memory",
        )
    },
    // Big Block Mode: 1 GiB device blocks, 8 Linux memory blocks each. 2 GiB of boot memory
    // for the 1.5 GiB pattern to migrate into; a region of 4 big blocks.
    Case {
        block_size: GIB,
        boot_mem: 2 * GIB,
        region: 4 * GIB,
        ..case(
            "bbm",
            "Big Block Mode (1 GiB blocks): plug, idle unplug, unplug under a pattern, random steps",
        )
    },
    // Big Block Mode in ZONE_NORMAL: tmpfs inodes and dentries pin big blocks; no boot
    // memory is ZONE_NORMAL (2 GiB is all DMA32), so the kernel's allocations go to the
    // plugged memory.
    Case {
        block_size: GIB,
        boot_mem: 2 * GIB,
        region: 4 * GIB,
        online: "online_kernel",
        ..case(
            "bbm-kernel",
            "Big Block Mode in ZONE_NORMAL: pinned big blocks stay, sizes agree, freed they go",
        )
    },
    // memhp_default_state=offline: the drivers add about 1 GiB of offline memory and wait
    // until it is onlined; the guest onlines it block by block.
    Case {
        region: 4 * GIB,
        online: "offline",
        ..case(
            "offline-budget",
            "hot-added memory stays offline until the guest onlines it: the driver waits, is woken, reaches 4 GiB",
        )
    },
];

/// The case `make run` boots: a short scripted sequence of resizes.
pub const DEMO: Case = case("demo", "plug and unplug in a few steps, with a report");

pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let all = || CASES.iter();
        for c in all() {
            assert_eq!(find(c.name).map(|f| f.name), Some(c.name));
            assert_eq!(all().filter(|o| o.name == c.name).count(), 1);
        }
        assert!(find("no-such-case").is_none());
    }

    #[test]
    fn every_case_has_a_guest_script() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest/cases");
        for c in CASES.iter().chain([&DEMO]) {
            let path = format!("{dir}/{}.sh", c.name);
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }

    #[test]
    fn regions_are_whole_device_blocks() {
        // QEMU refuses a region or a requested size that is not a multiple of the block size,
        // and a block size that is not a power of two.
        for c in CASES.iter().chain([&DEMO]) {
            let block = if c.block_size == 0 {
                2 << 20
            } else {
                c.block_size
            };
            assert!(block.is_power_of_two(), "{}", c.name);
            assert_eq!(c.region % block, 0, "{}", c.name);
            assert_eq!(c.requested_at_boot % block, 0, "{}", c.name);
        }
    }

    #[test]
    fn only_a_case_that_crashes_on_purpose_may() {
        for c in CASES {
            assert_eq!(c.crashes_on_purpose, c.name == "kdump", "{}", c.name);
        }
    }

    #[test]
    fn drivers_round_trip() {
        for d in [Driver::C, Driver::Rust] {
            assert_eq!(Driver::parse(d.name()), Some(d));
        }
        assert_eq!(Driver::parse("go"), None);
    }
}
