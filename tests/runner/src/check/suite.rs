//! Boots one guest for one case and one driver, and judges the result.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use crate::check::cases::{Case, Driver};
use crate::harness::channel::{self, HostSide, ResizeRecord};
use crate::harness::logscan::{self, Finding, Kind};
use crate::harness::qemu::{Guest, GuestConfig, Layout};
use crate::harness::qmp::Monitor;
use crate::harness::tap::{Line, TapRun};

/// The kernel the guests boot: `config/kernel.fragment` alone, or with
/// `config/debug.fragment` (KASAN, lockdep and friends) on top.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    Normal,
    Debug,
}

/// How much longer everything takes on the debug kernel than on the normal one: a guest
/// with KASAN, lockdep and the other checks runs about 10 times slower under TCG, but most of
/// a case's time is not the kernel's (QEMU's start, the firmware, the shell, the host's
/// polling), and the driver work the cases wait for was measured at 2 to 4 times as long.
/// Every case's timeout is multiplied by it, and the guest gets it as `vmrs.slow=N`, which
/// `lib.sh` applies to the time limits it passes and waits with (see there).
pub const DEBUG_SLOWDOWN: u32 = 4;

/// KASAN's granule is 8 bytes of memory per shadow byte.
const KASAN_SHADOW_SCALE: u64 = 8;
/// The memory map takes a 64-byte `struct page` per 4 KiB page.
const MEMMAP_SCALE: u64 = 64;
const BOOT_MEM_ALIGN: u64 = 128 << 20;
/// Linux's memory block on x86-64 guests of this size: what a driver adds at a time.
const MEMORY_BLOCK: u64 = 128 << 20;

impl Kernel {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "normal" => Some(Kernel::Normal),
            "debug" => Some(Kernel::Debug),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kernel::Normal => "normal",
            Kernel::Debug => "debug",
        }
    }

    /// How many times longer things take in the guest.
    pub fn slowdown(self) -> u32 {
        match self {
            Kernel::Normal => 1,
            Kernel::Debug => DEBUG_SLOWDOWN,
        }
    }

    /// The boot memory a case's guest gets. On the debug kernel, KASAN needs shadow memory
    /// for hot-added memory before that memory can be onlined: 1/8 of it, allocated from
    /// memory that is already online (the boot memory), as is the memory map of the new
    /// memory (1/64) unless it lives on the memory itself. A case that plugs its whole region
    /// would otherwise run its boot memory dry, so a debug guest gets the case's boot memory
    /// plus 1/8 and 1/64 of what the drivers can add, rounded up to 128 MiB (an 8 GiB region:
    /// 1 GiB + 128 MiB more). The drivers add whole memory blocks (128 MiB), and in Big Block
    /// Mode whole device blocks: the region rounded up to the larger of the two.
    pub fn boot_mem(self, case: &Case) -> u64 {
        match self {
            Kernel::Normal => case.boot_mem,
            Kernel::Debug => {
                let added = case
                    .region
                    .next_multiple_of(MEMORY_BLOCK.max(case.block_size));
                let mem = case.boot_mem + added / KASAN_SHADOW_SCALE + added / MEMMAP_SCALE;
                mem.div_ceil(BOOT_MEM_ALIGN) * BOOT_MEM_ALIGN
            }
        }
    }
}

/// What every boot shares.
#[derive(Debug, Clone)]
pub struct Env {
    pub bzimage: PathBuf,
    pub initramfs: PathBuf,
    pub logdir: PathBuf,
    pub smp: u32,
    pub kernel: Kernel,
}

/// The result of one boot.
#[derive(Debug)]
pub struct Outcome {
    /// Empty when the case passed.
    pub problems: Vec<String>,
    pub log: PathBuf,
    pub elapsed: Duration,
    pub tap: TapRun,
    pub findings: Vec<Finding>,
    pub resizes: Vec<ResizeRecord>,
    pub console: Vec<String>,
}

/// How long QEMU may take to exit after the case said it finished.
const EXIT_GRACE: Duration = Duration::from_secs(20);

/// Boots a guest for `case` with `driver`, passing each console line that
/// matters to a test reader to `echo` as it arrives.
pub fn boot(
    case: &Case,
    driver: Driver,
    env: &Env,
    extra_cmdline: &[String],
    mut echo: impl FnMut(&Line, &str),
) -> Outcome {
    let start = Instant::now();
    let tag = format!("{}-{}", case.name, driver.name());
    let log = env.logdir.join(format!("{tag}.log"));
    let dir = std::env::temp_dir().join(format!("vmrs-{}-{tag}", std::process::id()));
    let mut cmdline = vec![
        format!("vmrs.case={}", case.name),
        format!("vmrs.driver={}", driver.name()),
    ];
    let slowdown = env.kernel.slowdown();
    if slowdown > 1 {
        cmdline.push(format!("vmrs.slow={slowdown}"));
    }
    cmdline.extend(case.cmdline.iter().map(|w| w.to_string()));
    if !case.args.is_empty() {
        cmdline.push(format!("vmrs.args={}", case.args));
    }
    cmdline.extend_from_slice(extra_cmdline);
    let config = GuestConfig {
        bzimage: env.bzimage.clone(),
        initramfs: env.initramfs.clone(),
        boot_mem: env.kernel.boot_mem(case),
        region: case.region,
        requested_at_boot: case.requested_at_boot,
        block_size: case.block_size,
        online: case.online,
        smp: env.smp,
        cmdline,
        layout: case.layout,
    };
    let timeout = case.timeout * slowdown;
    let mut outcome = Outcome {
        problems: Vec::new(),
        log: log.clone(),
        elapsed: Duration::ZERO,
        tap: TapRun::default(),
        findings: Vec::new(),
        resizes: Vec::new(),
        console: Vec::new(),
    };
    let mut guest = match Guest::start(&config, &dir, &log) {
        Ok(g) => g,
        Err(e) => {
            outcome.problems.push(e.to_string());
            return outcome;
        }
    };
    let host = HostSide {
        trace: guest.request_trace_path(),
        bg_qmp: guest.bg_qmp_path(),
        filler: (case.layout == Layout::TightBackend).then(|| guest.filler_path()),
    };
    let server = Monitor::connect(&guest.qmp_path(), Duration::from_secs(30)).and_then(|m| {
        let ctl = UnixStream::connect(guest.ctl_path())?;
        Ok(thread::spawn(move || channel::serve(ctl, m, host)))
    });
    let server = match server {
        Ok(s) => Some(s),
        Err(e) => {
            outcome.problems.push(format!("cannot talk to QEMU: {e}"));
            None
        }
    };

    let deadline = start + timeout;
    let mut finished_at = None;
    if server.is_some() {
        loop {
            let limit = match finished_at {
                Some(t) => t + EXIT_GRACE,
                None => deadline,
            };
            let wait = limit.saturating_duration_since(Instant::now());
            match guest.console.recv_timeout(wait) {
                Ok(line) => {
                    let kind = outcome.tap.feed(&line);
                    if matches!(kind, Line::Exit(_)) {
                        finished_at = Some(Instant::now());
                    }
                    echo(&kind, &line);
                    outcome.console.push(line);
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    outcome.problems.push(match finished_at {
                        Some(_) => "QEMU did not exit after the case finished".to_string(),
                        None => format!("the guest did not finish within {} s", timeout.as_secs()),
                    });
                    break;
                }
            }
        }
    }
    let status = guest.try_exit().ok().flatten();
    drop(guest);
    if let Some(status) = status.filter(|s| !s.success()) {
        outcome.problems.push(format!("QEMU exited with {status}"));
    }
    if let Some(server) = server {
        match server.join() {
            Ok(Ok(served)) => {
                outcome.resizes = served.resizes;
                outcome.problems.extend(served.problems);
            }
            Ok(Err(e)) => outcome
                .problems
                .push(format!("command channel failed: {e}")),
            Err(_) => outcome
                .problems
                .push("command channel thread panicked".to_string()),
        }
    }
    outcome.problems.extend(outcome.tap.problems());
    let console = outcome.console.join("\n");
    outcome.findings = logscan::scan(&console);
    if case.crashes_on_purpose {
        outcome.findings = logscan::without_deliberate_crash(&console, outcome.findings);
    }
    for f in &outcome.findings {
        if f.kind == Kind::AllocFailure && case.allow_alloc_failure {
            continue;
        }
        outcome.problems.push(format!(
            "kernel {} at log line {}: {}",
            f.kind, f.line, f.text
        ));
    }
    outcome.elapsed = start.elapsed();
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::cases::GIB;

    #[test]
    fn debug_guests_get_room_for_kasan_shadow_and_memmap() {
        let case = crate::check::cases::find("plug").unwrap();
        assert_eq!(Kernel::Normal.boot_mem(case), case.boot_mem);
        // 1 GiB + 8 GiB / 8 + 8 GiB / 64 = 2 GiB + 128 MiB, already a multiple of 128 MiB.
        assert_eq!(Kernel::Debug.boot_mem(case), 2 * GIB + (128 << 20));
        let odd = Case {
            region: 3 * GIB,
            ..case.clone()
        };
        // 1 GiB + 384 MiB + 48 MiB = 1456 MiB, rounded up to 1536 MiB.
        assert_eq!(Kernel::Debug.boot_mem(&odd), 1536 << 20);
        // A region that ends inside a memory block: the driver adds the whole block.
        let ragged = Case {
            region: 8 * GIB - (64 << 20),
            ..case.clone()
        };
        assert_eq!(Kernel::Debug.boot_mem(&ragged), 2 * GIB + (128 << 20));
        // Big Block Mode with 1 GiB blocks: a 2.5 GiB region (not a valid device, but the
        // rounding shows) adds up to 3 GiB: 1 GiB + 384 MiB + 48 MiB -> 1536 MiB.
        let big = Case {
            region: 5 * GIB / 2,
            block_size: GIB,
            ..case.clone()
        };
        assert_eq!(Kernel::Debug.boot_mem(&big), 1536 << 20);
    }

    #[test]
    fn kernels_round_trip() {
        for k in [Kernel::Normal, Kernel::Debug] {
            assert_eq!(Kernel::parse(k.name()), Some(k));
        }
        assert_eq!(Kernel::parse("kasan"), None);
        assert_eq!(Kernel::Normal.slowdown(), 1);
    }
}
