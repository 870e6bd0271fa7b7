//! `vmrs-runner bench`: the upstream C driver and ours in the same guests, alternately
//! (C, rust, rust, C, C, rust, ...), each guest measuring plug and unplug times, guest CPU time and
//! unplug success under pressure (`tests/guest/cases/bench.sh`); the first run also converges
//! after pressure (`bench-converge.sh`), unplugs with scattered use (`unplug-scattered.sh`) and
//! grows a small guest as far as it goes (`bench-grow.sh`).

pub mod permutation;
pub mod plot;
pub mod plot_first_run;
pub mod report;

use std::path::Path;
use std::time::Duration;

use crate::check::cases::{self, Case, Driver, GIB};
use crate::check::suite::{self, Env};

/// One measurement a guest reported on a `# bench key=value...` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub driver: Driver,
    pub run: usize,
    /// `plug`, `unplug` or `pressure`.
    pub op: String,
    /// `memhp_default_state` of the guest: `online_movable` or `online_kernel`.
    pub zone: String,
    /// How the driver works the device: `sbm` (Sub Block Mode, the default 2 MiB device
    /// block) or `bbm` (Big Block Mode, a device block of a memory block or more).
    pub mode: String,
    /// The size plugged or unplugged (for `pressure`: the size plugged before).
    pub size: u64,
    /// From the QMP resize to the device's `size` reaching `requested-size` (or the deadline).
    pub device_ms: f64,
    /// From the resize to MemTotal settling (plug and unplug only).
    pub memtotal_ms: Option<f64>,
    /// From the resize to the memory blocks being all added and online, or removed (plug and
    /// unplug only).
    pub blocks_ms: Option<f64>,
    /// Busy CPU time of the whole guest meanwhile.
    pub cpu_ms: f64,
    /// Bytes unplugged before the deadline (`pressure` only).
    pub unplugged: Option<u64>,
    /// How long the pressure was held, over which `cpu_ms` was measured (`converge` only).
    pub hold_ms: Option<f64>,
    /// Plug and unplug requests the device got meanwhile, from QEMU's trace.
    pub requests: Option<u64>,
    /// Plug, unplug and unplug-all requests the driver sent meanwhile, by its own count (its
    /// debugfs file `requests`; ours only: the C driver has no such files).
    pub driver_requests: Option<u64>,
    /// Nanoseconds the driver spent in each phase meanwhile, in the order of its `phase_ns`
    /// file (ours only).
    pub phase_ns: Vec<(String, u64)>,
    /// The order in which the driver visited the blocks (`scattered` only):
    /// [`LEAST_USED_FIRST`] or [`HIGHEST_FIRST`].
    pub order: Option<String>,
    /// Pages the kernel migrated meanwhile (`pgmigrate_success`; `scattered` only).
    pub migrated: Option<u64>,
    /// ZONE_NORMAL's free memory before the plug (`grow` only).
    pub normal_free_kb: Option<u64>,
    /// What the plug took of it (`grow` only).
    pub normal_taken_kb: Option<i64>,
    /// The free memory of every zone the kernel allocates from (DMA, DMA32, Normal) before the
    /// plug: a guest with 1 GiB of boot memory has it all in DMA32 (`grow` only).
    pub kernel_zones_free_kb: Option<u64>,
    /// What the plug took of it (`grow` only).
    pub kernel_zones_taken_kb: Option<i64>,
    /// Why the guest stopped growing (`reach` only): one of [`STOPS`].
    pub stop: Option<String>,
}

/// The `order` of our driver's default unplug, fewest used pages first.
pub const LEAST_USED_FIRST: &str = "least-used-first";
/// The `order` of C's unplug, and of ours with `unplug_least_used_first=0`.
pub const HIGHEST_FIRST: &str = "highest-first";
/// Why a growing guest stopped (`bench-grow.sh`): the region was all plugged, a resize timed
/// out, the OOM killer ran, or the driver logged that adding memory failed.
pub const STOPS: [&str; 5] = ["region_end", "low_memory", "timeout", "oom", "add_failed"];

/// Parses one console line; `None` for any other line.
pub fn parse_sample(line: &str, driver: Driver, run: usize) -> Option<Sample> {
    let rest = line.trim_end().strip_prefix("# bench ")?;
    let mut s = Sample {
        driver,
        run,
        op: String::new(),
        zone: String::new(),
        mode: SBM.to_string(),
        size: 0,
        device_ms: f64::NAN,
        memtotal_ms: None,
        blocks_ms: None,
        cpu_ms: f64::NAN,
        unplugged: None,
        hold_ms: None,
        requests: None,
        driver_requests: None,
        phase_ns: Vec::new(),
        order: None,
        migrated: None,
        normal_free_kb: None,
        normal_taken_kb: None,
        kernel_zones_free_kb: None,
        kernel_zones_taken_kb: None,
        stop: None,
    };
    for word in rest.split_whitespace() {
        let (key, value) = word.split_once('=')?;
        match key {
            "op" => s.op = value.to_string(),
            "zone" => s.zone = value.to_string(),
            "mode" => s.mode = value.to_string(),
            "size" => s.size = value.parse().ok()?,
            "device_ms" => s.device_ms = value.parse().ok()?,
            "memtotal_ms" => s.memtotal_ms = Some(value.parse().ok()?),
            "blocks_ms" => s.blocks_ms = Some(value.parse().ok()?),
            "cpu_ms" => s.cpu_ms = value.parse().ok()?,
            "unplugged" => s.unplugged = Some(value.parse().ok()?),
            "hold_ms" => s.hold_ms = Some(value.parse().ok()?),
            "plug_requests" | "unplug_requests" => {
                let n: u64 = value.parse().ok()?;
                s.requests = Some(s.requests.unwrap_or(0) + n);
            }
            "driver_requests" => s.driver_requests = Some(value.parse().ok()?),
            "order" if !value.is_empty() => s.order = Some(value.to_string()),
            "migrated" => s.migrated = Some(value.parse().ok()?),
            "normal_free_kb" => s.normal_free_kb = Some(value.parse().ok()?),
            // Negative when the zone gained meanwhile (memory freed elsewhere).
            "normal_taken_kb" => s.normal_taken_kb = Some(value.parse().ok()?),
            "kernel_zones_free_kb" => s.kernel_zones_free_kb = Some(value.parse().ok()?),
            "kernel_zones_taken_kb" => s.kernel_zones_taken_kb = Some(value.parse().ok()?),
            "stop" if STOPS.contains(&value) => s.stop = Some(value.to_string()),
            _ => {
                let phase = key.strip_prefix("ns_")?;
                s.phase_ns.push((phase.to_string(), value.parse().ok()?));
            }
        }
    }
    (!s.op.is_empty() && s.device_ms.is_finite() && s.cpu_ms.is_finite()).then_some(s)
}

/// The `mode` of Sub Block Mode samples (and of lines that name none).
pub const SBM: &str = "sbm";
/// The `mode` of Big Block Mode samples.
pub const BBM: &str = "bbm";
/// The device block of the Big Block Mode guest: 8 Linux memory blocks.
pub const BBM_BLOCK: u64 = GIB;

/// What one bench run boots: plug/unplug sizes in ZONE_MOVABLE, then the pressure test in
/// both zones (Sub Block Mode, QEMU's 2 MiB device block), and plug/unplug sizes with a
/// [`BBM_BLOCK`] device (Big Block Mode); the first run also converges after pressure in
/// both zones (`bench-converge.sh`), each guest holding the pressure `hold_s` seconds,
/// unplugs with scattered use (`unplug-scattered.sh`) and grows a 1 GiB guest with
/// `memory_hotplug.memmap_on_memory=1` as far as it goes (`bench-grow.sh`).
pub struct Plan {
    pub runs: usize,
    pub sizes_gib: Vec<u64>,
    pub bbm_sizes_gib: Vec<u64>,
    /// How long the converge guests hold the pressure; 0: no converge guests.
    pub hold_s: u64,
    /// The region of the grow guests, in GiB ([`GROW_REGION_GIB`]); 0: no grow guests.
    pub grow_region_gib: u64,
    /// Only these guests of the first run (`--only`, `BENCH_ONLY`); empty: every guest.
    pub only: Vec<Only>,
}

/// The guests of the first run that a bench can be limited to (`--only converge,grow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    Converge,
    Scattered,
    Grow,
}

impl Only {
    pub const ALL: [Only; 3] = [Only::Converge, Only::Scattered, Only::Grow];

    pub fn name(self) -> &'static str {
        match self {
            Only::Converge => "converge",
            Only::Scattered => "scattered",
            Only::Grow => "grow",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == s)
    }

    /// A comma-separated list (`converge,grow`), each name once.
    pub fn parse_list(s: &str) -> Option<Vec<Self>> {
        let mut out = Vec::new();
        for word in s.split(',') {
            let o = Self::parse(word.trim())?;
            if !out.contains(&o) {
                out.push(o);
            }
        }
        Some(out)
    }
}

/// The default pressure of the converge guests: several minutes, over which C's retry timer
/// fires at 50 s and 150 s after the first attempt and ours watches.
pub const HOLD_S: u64 = 180;

/// The case the scattered guest runs (its script is also a case of `make check`).
pub const SCATTERED_CASE: &str = "unplug-scattered";

/// The default region of the grow guests: beyond what C's memory map lets a 1 GiB guest reach
/// (its kernel zones have about 900 MiB free, and every GiB added takes 16 MiB of them). The
/// backend uses `reserve=off`, so the host commits only what the guest touches (ours: the
/// memory map on the added memory, 1/64 of it, 1.5 GiB).
pub const GROW_REGION_GIB: u64 = 96;
/// What `bench-grow.sh` plugs first and measures ZONE_NORMAL with, and its later steps.
pub const GROW_FIRST_GIB: u64 = 16;
pub const GROW_STEP_GIB: u64 = 4;
/// The resize time limits of `bench-grow.sh`: the first plug, each later step, and the
/// unplug to 0 it tries at the end.
const GROW_FIRST_S: u64 = 900;
const GROW_STEP_S: u64 = 300;
const GROW_UNPLUG_S: u64 = 300;
/// Booting, loading and the rest of a guest besides its resizes.
const GUEST_SLACK_S: u64 = 300;

/// The kernel messages that open a report of memory running out, which a guest growing until
/// it does may make: the OOM killer's, a failed memory map allocation's, a failed page
/// allocation's, and x86's `WARN_ON_ONCE()` in `add_pages()` when the map could not be had.
const OUT_OF_MEMORY_REPORTS: [&str; 4] = [
    "invoked oom-killer",
    "vmemmap alloc failure",
    "page allocation failure",
    " add_pages+",
];
/// The first lines of other kernel reports, and a call trace, which ends the report before it.
const OTHER_REPORTS: [&str; 5] = ["Call Trace:", "WARNING:", "BUG:", "Oops", "Kernel panic"];
/// How many console lines a report's call trace may follow its first line by.
const REPORT_HEAD_LINES: usize = 20;

/// One guest of a run.
pub struct Guest {
    pub case: Case,
    /// Its `vmrs.args=` word.
    pub args: String,
    /// What tells its logs and progress lines from the other guests'.
    pub tag: &'static str,
    /// The guest grows until memory runs out: the kernel's reports of that are part of the
    /// measurement, not failures (see [`problems_besides_running_out`]).
    pub runs_out_of_memory: bool,
}

impl Plan {
    /// 1, 4 and 8 GiB, and 16 GiB when the host has the memory for it (the device's backend
    /// uses `reserve=off`, so only what the guest touches is committed); 4 and 8 GiB in Big
    /// Block Mode.
    pub fn new(runs: usize, host_mem: u64) -> Self {
        let mut sizes_gib = vec![1, 4, 8];
        if host_mem >= 20 * GIB {
            sizes_gib.push(16);
        }
        Self {
            runs,
            sizes_gib,
            bbm_sizes_gib: vec![4, 8],
            hold_s: HOLD_S,
            grow_region_gib: GROW_REGION_GIB,
            only: Vec::new(),
        }
    }

    /// The guests of run `run` (from 1): the converge, scattered and grow guests only in the
    /// first (each takes minutes).
    pub fn guests_for(&self, run: usize) -> Vec<Guest> {
        let wants = |o: Only| self.only.is_empty() || self.only.contains(&o);
        let mut guests = if self.only.is_empty() {
            self.guests()
        } else {
            Vec::new()
        };
        if run == 1 {
            if wants(Only::Converge) && self.hold_s > 0 {
                guests.extend(self.converge_guests());
            }
            if wants(Only::Scattered) {
                guests.extend(self.scattered_guests());
            }
            if wants(Only::Grow) && self.grow_region_gib > 0 {
                guests.extend(self.grow_guests());
            }
        }
        guests
    }

    /// Converging after pressure, in both zones: 1 GiB of boot memory, 2 GiB plugged.
    pub fn converge_guests(&self) -> Vec<Guest> {
        let movable = Case {
            name: "bench-converge",
            summary: "converge after pressure (online_movable)",
            online: "online_movable",
            timeout: Duration::from_secs(900 + self.hold_s),
            allow_alloc_failure: true,
            ..cases::DEMO
        };
        let kernel = Case {
            summary: "converge after pressure (online_kernel)",
            online: "online_kernel",
            ..movable.clone()
        };
        let args = format!("vmrs.args={}", self.hold_s);
        vec![
            Guest {
                case: movable,
                args: args.clone(),
                tag: "converge-online_movable",
                runs_out_of_memory: false,
            },
            Guest {
                case: kernel,
                args,
                tag: "converge-online_kernel",
                runs_out_of_memory: false,
            },
        ]
    }

    /// A partial unplug with scattered use (2 GiB -> 1 GiB, ZONE_MOVABLE): the check case's
    /// guest, its script printing one line per unplug (C: highest first; ours: fewest used
    /// first, then highest first).
    pub fn scattered_guests(&self) -> Vec<Guest> {
        // The check case's memory layout, so that both measure the same thing.
        let base = cases::find(SCATTERED_CASE).cloned().unwrap_or(Case {
            name: SCATTERED_CASE,
            ..cases::DEMO
        });
        let case = Case {
            summary: "partial unplug with scattered use: pages migrated and time",
            boot_mem: GIB,
            online: "online_movable",
            // Ours plugs and unplugs twice; room for a slow host.
            timeout: Duration::from_secs(900),
            ..base
        };
        vec![Guest {
            case,
            args: "vmrs.args=bench".to_string(),
            tag: "scattered",
            runs_out_of_memory: false,
        }]
    }

    /// A 1 GiB guest with `memory_hotplug.memmap_on_memory=1` that plugs 16 GiB, then grows
    /// in 4 GiB steps up to its region of `grow_region_gib` (at least 16 GiB) until a step
    /// fails.
    pub fn grow_guests(&self) -> Vec<Guest> {
        let region_gib = self.grow_region_gib.max(GROW_FIRST_GIB);
        let steps = (region_gib - GROW_FIRST_GIB) / GROW_STEP_GIB;
        let timeout = GROW_FIRST_S + steps * GROW_STEP_S + GROW_UNPLUG_S + GUEST_SLACK_S;
        let case = Case {
            name: "bench-grow",
            summary: "grow a 1 GiB guest far (memory_hotplug.memmap_on_memory=1)",
            boot_mem: GIB,
            region: region_gib * GIB,
            online: "online_movable",
            timeout: Duration::from_secs(timeout),
            // Running out of memory is what stops C; see runs_out_of_memory.
            allow_alloc_failure: true,
            cmdline: &["memory_hotplug.memmap_on_memory=1"],
            ..cases::DEMO
        };
        vec![Guest {
            case,
            args: format!("vmrs.args={region_gib}"),
            tag: "grow",
            runs_out_of_memory: true,
        }]
    }

    pub fn guests(&self) -> Vec<Guest> {
        let base = cases::DEMO;
        let largest = self.sizes_gib.iter().copied().max().unwrap_or(4).max(4);
        let movable = Case {
            name: "bench",
            summary: "plug and unplug times, unplug under pressure (online_movable)",
            boot_mem: 4 * GIB,
            region: largest * GIB,
            online: "online_movable",
            timeout: Duration::from_secs(900),
            ..base
        };
        let kernel = Case {
            summary: "unplug under pressure (online_kernel)",
            region: 4 * GIB,
            online: "online_kernel",
            ..movable.clone()
        };
        let bbm_largest = self.bbm_sizes_gib.iter().copied().max().unwrap_or(1);
        let bbm = Case {
            summary: "plug and unplug times in Big Block Mode (online_movable)",
            region: (bbm_largest * GIB).next_multiple_of(BBM_BLOCK),
            block_size: BBM_BLOCK,
            ..movable.clone()
        };
        let mib = |sizes: &[u64]| {
            sizes
                .iter()
                .map(|g| (g * 1024).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        // bench.sh reads "bbm:BLOCK_MIB:SIZES" as Big Block Mode with that device block.
        let bbm_args = format!(
            "vmrs.args={BBM}:{}:{}",
            BBM_BLOCK >> 20,
            mib(&self.bbm_sizes_gib)
        );
        let mut guests = vec![
            Guest {
                case: movable,
                args: format!("vmrs.args={}", mib(&self.sizes_gib)),
                tag: "online_movable",
                runs_out_of_memory: false,
            },
            Guest {
                case: kernel,
                args: "vmrs.args=".to_string(),
                tag: "online_kernel",
                runs_out_of_memory: false,
            },
        ];
        if !self.bbm_sizes_gib.is_empty() {
            guests.push(Guest {
                case: bbm,
                args: bbm_args,
                tag: "bbm",
                runs_out_of_memory: false,
            });
        }
        guests
    }
}

/// Which driver goes first in run `run` (from 1): C in odd runs, ours in even ones, so that
/// a drift of the host over time (C, rust, rust, C, ...) weighs on both alike.
pub fn order(run: usize) -> [Driver; 2] {
    if run % 2 == 1 {
        [Driver::C, Driver::Rust]
    } else {
        [Driver::Rust, Driver::C]
    }
}

/// Boots every guest of every run in [`order`] and collects the samples. A guest that fails
/// is reported and its samples are kept only if its checks passed.
pub fn collect(plan: &Plan, env: &Env, mut progress: impl FnMut(&str)) -> (Vec<Sample>, usize) {
    let mut samples = Vec::new();
    let mut failures = 0;
    for run in 1..=plan.runs {
        for driver in order(run) {
            for Guest {
                case,
                args,
                tag,
                runs_out_of_memory,
            } in plan.guests_for(run)
            {
                // A log directory per run and guest, so that no console log overwrites another.
                let mut env = env.clone();
                env.logdir = env.logdir.join(format!("run{run}-{tag}"));
                if let Err(e) = std::fs::create_dir_all(&env.logdir) {
                    progress(&format!("cannot create {}: {e}", env.logdir.display()));
                    failures += 1;
                    continue;
                }
                let outcome = suite::boot(&case, driver, &env, &[args], |_, _| {});
                let mine: Vec<Sample> = outcome
                    .console
                    .iter()
                    .filter_map(|l| parse_sample(l, driver, run))
                    .collect();
                let problems = if runs_out_of_memory {
                    problems_besides_running_out(&outcome.problems, &outcome.console)
                } else {
                    outcome.problems.clone()
                };
                let excused = outcome.problems.len() - problems.len();
                let status = if problems.is_empty() {
                    samples.extend(mine);
                    if excused > 0 {
                        // Said, so that a reader of the log knows what to expect in it.
                        format!("ok ({excused} kernel reports of memory running out)")
                    } else {
                        "ok".to_string()
                    }
                } else {
                    failures += 1;
                    format!(
                        "FAILED ({}; log {})",
                        problems.join("; "),
                        outcome.log.display()
                    )
                };
                progress(&format!(
                    "run {run}/{} {} {}: {status} ({:.0} s)",
                    plan.runs,
                    driver.name(),
                    tag,
                    outcome.elapsed.as_secs_f64()
                ));
            }
        }
    }
    (samples, failures)
}

/// The problems of a guest that grows until memory runs out, without the kernel's reports of
/// running out: x86's `WARN_ON_ONCE()` in `add_pages()`, and a call trace whose report opened
/// with one of [`OUT_OF_MEMORY_REPORTS`] (the nearest report line at most
/// [`REPORT_HEAD_LINES`] console lines before it). Anything else (a BUG, an Oops, a panic,
/// another warning and its trace, a failed TAP point) stays.
pub fn problems_besides_running_out(problems: &[String], console: &[String]) -> Vec<String> {
    let expected = |p: &str| -> bool {
        // As check::suite words them: "kernel KIND at log line N: TEXT", N from 1.
        let Some((head, text)) = p.split_once(": ") else {
            return false;
        };
        let Some((kind, line)) = head
            .strip_prefix("kernel ")
            .and_then(|h| h.split_once(" at log line "))
        else {
            return false;
        };
        let Ok(line) = line.parse::<usize>() else {
            return false;
        };
        match kind {
            "WARNING" => text.contains(" add_pages+"),
            "call trace" => {
                let from = line.saturating_sub(REPORT_HEAD_LINES + 1);
                let to = line.saturating_sub(1).min(console.len());
                let opened_by = console[from.min(to)..to].iter().rev().find_map(|l| {
                    if OUT_OF_MEMORY_REPORTS.iter().any(|m| l.contains(m)) {
                        Some(true)
                    } else if OTHER_REPORTS.iter().any(|m| l.contains(m)) {
                        Some(false)
                    } else {
                        None
                    }
                });
                opened_by == Some(true)
            }
            _ => false,
        }
    };
    problems.iter().filter(|p| !expected(p)).cloned().collect()
}

/// The host's total memory, from `/proc/meminfo`.
pub fn host_mem() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// The size of a module file, 0 when it cannot be read.
pub fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// What loading a module takes: the sum of its ELF64 sections that occupy memory
/// (`SHF_ALLOC`: code, data, bss), without the symbol tables that make Rust modules' files
/// large. 0 when the file is not such an ELF file.
pub fn loaded_size(path: &Path) -> u64 {
    std::fs::read(path)
        .ok()
        .and_then(|b| alloc_sections(&b))
        .unwrap_or(0)
}

fn alloc_sections(elf: &[u8]) -> Option<u64> {
    const SHF_ALLOC: u64 = 2;
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    // ELF64, little endian.
    if elf.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let shentsize = usize::from(u16_at(0x3a)?);
    let shnum = usize::from(u16_at(0x3c)?);
    let mut total = 0;
    for i in 0..shnum {
        let sh = shoff.checked_add(i.checked_mul(shentsize)?)?;
        if u64_at(sh + 8)? & SHF_ALLOC != 0 {
            total += u64_at(sh + 32)?;
        }
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_lines() {
        let s = parse_sample(
            "# bench op=plug zone=online_movable size=1073741824 device_ms=120 memtotal_ms=300 blocks_ms=310 cpu_ms=50",
            Driver::Rust,
            2,
        )
        .expect("a sample");
        assert_eq!(s.op, "plug");
        assert_eq!(s.size, GIB);
        assert_eq!(s.memtotal_ms, Some(300.0));
        assert_eq!(s.blocks_ms, Some(310.0));
        assert_eq!(s.unplugged, None);
        let p = parse_sample(
            "# bench op=pressure zone=online_kernel size=4294967296 device_ms=60001 unplugged=2147483648 cpu_ms=9000",
            Driver::C,
            1,
        )
        .expect("a sample");
        assert_eq!(p.unplugged, Some(2 * GIB));
        assert!(
            parse_sample("# bench op=plug size=x device_ms=1 cpu_ms=1", Driver::C, 1).is_none()
        );
        assert!(parse_sample("# report requested=1", Driver::C, 1).is_none());
        assert!(parse_sample("# bench size=1 device_ms=1 cpu_ms=1", Driver::C, 1).is_none());
    }

    #[test]
    fn parses_what_our_driver_counted() {
        let s = parse_sample(
            "# bench op=unplug zone=online_movable size=1073741824 device_ms=120 cpu_ms=50 \
             plug_requests=0 unplug_requests=8 ns_request=2000 ns_alloc_contig=5000000 \
             driver_requests=8",
            Driver::Rust,
            1,
        )
        .expect("a sample");
        assert_eq!(s.requests, Some(8));
        assert_eq!(s.driver_requests, Some(8));
        assert_eq!(
            s.phase_ns,
            [
                ("request".to_string(), 2000),
                ("alloc_contig".to_string(), 5_000_000)
            ]
        );
        // The C driver's lines have none of it.
        let c = parse_sample(
            "# bench op=plug size=1 device_ms=1 cpu_ms=1 plug_requests=1 unplug_requests=0 ",
            Driver::C,
            1,
        )
        .expect("a sample");
        assert_eq!(c.driver_requests, None);
        assert!(c.phase_ns.is_empty());
        // Other keys, and phases without a number, are still refused.
        assert!(parse_sample(
            "# bench op=plug device_ms=1 cpu_ms=1 ns_add=x",
            Driver::Rust,
            1
        )
        .is_none());
        assert!(parse_sample(
            "# bench op=plug device_ms=1 cpu_ms=1 what=1",
            Driver::Rust,
            1
        )
        .is_none());
    }

    #[test]
    fn loaded_size_of_an_elf_file() {
        // A file header and two section headers: one allocated (100 bytes), one not.
        let mut elf = vec![0u8; 64 + 2 * 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x28..0x30].copy_from_slice(&64u64.to_le_bytes());
        elf[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        elf[0x3c..0x3e].copy_from_slice(&2u16.to_le_bytes());
        elf[64 + 8..64 + 16].copy_from_slice(&2u64.to_le_bytes());
        elf[64 + 32..64 + 40].copy_from_slice(&100u64.to_le_bytes());
        elf[128 + 32..128 + 40].copy_from_slice(&900u64.to_le_bytes());
        assert_eq!(alloc_sections(&elf), Some(100));
        assert_eq!(alloc_sections(b"not elf"), None);
        assert_eq!(alloc_sections(&elf[..70]), None);
    }

    #[test]
    fn drivers_take_turns_going_first() {
        let firsts: Vec<Driver> = (1..=4).map(|r| order(r)[0]).collect();
        assert_eq!(firsts, [Driver::C, Driver::Rust, Driver::C, Driver::Rust]);
        assert_ne!(order(1)[0], order(1)[1]);
    }

    #[test]
    fn big_block_mode_guest() {
        let plan = Plan::new(5, 16 * GIB);
        let guests = plan.guests();
        let tags: Vec<&str> = guests.iter().map(|g| g.tag).collect();
        assert_eq!(tags, ["online_movable", "online_kernel", "bbm"]);
        let bbm = &guests[2];
        assert_eq!(bbm.case.block_size, GIB);
        assert_eq!(bbm.case.online, "online_movable");
        // Room for the largest size, in whole device blocks.
        assert_eq!(bbm.case.region, 8 * GIB);
        assert_eq!(bbm.args, "vmrs.args=bbm:1024:4096,8192");
        // The Sub Block Mode guests keep QEMU's default block.
        assert!(guests[..2].iter().all(|g| g.case.block_size == 0));
        let s = parse_sample(
            "# bench op=plug zone=online_movable mode=bbm size=4294967296 device_ms=1 cpu_ms=1",
            Driver::C,
            1,
        )
        .expect("a sample");
        assert_eq!(s.mode, BBM);
        let old = parse_sample("# bench op=plug size=1 device_ms=1 cpu_ms=1", Driver::C, 1);
        assert_eq!(old.expect("a sample").mode, SBM);
        let none = Plan {
            bbm_sizes_gib: Vec::new(),
            ..Plan::new(1, 0)
        };
        assert_eq!(none.guests().len(), 2);
    }

    #[test]
    fn converge_guests_in_the_first_run_only() {
        let plan = Plan::new(3, 16 * GIB);
        let tags = |run| -> Vec<&str> { plan.guests_for(run).iter().map(|g| g.tag).collect() };
        // Then the scattered and grow guests.
        assert_eq!(tags(1).len(), 7);
        assert_eq!(
            tags(1)[3..5],
            ["converge-online_movable", "converge-online_kernel"]
        );
        assert_eq!(tags(2), ["online_movable", "online_kernel", "bbm"]);
        let g = &plan.converge_guests()[1];
        assert_eq!(
            (g.case.name, g.case.online),
            ("bench-converge", "online_kernel")
        );
        assert_eq!(g.args, format!("vmrs.args={HOLD_S}"));
        let only = Plan {
            only: vec![Only::Converge],
            ..Plan::new(1, 0)
        };
        assert_eq!(only.guests_for(1).len(), 2);
        assert!(only.guests_for(2).is_empty());
        let none = Plan {
            hold_s: 0,
            ..Plan::new(1, 0)
        };
        assert_eq!(none.guests_for(1).len(), 5);
        let s = parse_sample(
            "# bench op=converge zone=online_kernel mode=sbm size=536870912 device_ms=180 cpu_ms=700 hold_ms=180000",
            Driver::Rust,
            1,
        )
        .expect("a sample");
        assert_eq!((s.op.as_str(), s.hold_ms), ("converge", Some(180_000.0)));
    }

    #[test]
    fn scattered_and_grow_guests_in_the_first_run_only() {
        let plan = Plan::new(3, 16 * GIB);
        let tags = |plan: &Plan, run| -> Vec<&'static str> {
            plan.guests_for(run).iter().map(|g| g.tag).collect()
        };
        assert_eq!(tags(&plan, 1)[5..], ["scattered", "grow"]);
        assert!(!tags(&plan, 2).contains(&"scattered") && !tags(&plan, 2).contains(&"grow"));
        let scattered = &plan.scattered_guests()[0];
        let c = &scattered.case;
        assert_eq!(
            (c.name, c.online, c.boot_mem, scattered.args.as_str()),
            ("unplug-scattered", "online_movable", GIB, "vmrs.args=bench")
        );
        assert_eq!(c.timeout, Duration::from_secs(900));
        // The check case's memory layout.
        let check = cases::find(SCATTERED_CASE).expect("the check case");
        assert_eq!((c.region, c.block_size), (check.region, check.block_size));
        assert!(!scattered.runs_out_of_memory);
        let grow = &plan.grow_guests()[0];
        let g = &grow.case;
        assert_eq!(
            (g.name, g.online, g.boot_mem, g.region),
            ("bench-grow", "online_movable", GIB, 96 * GIB)
        );
        assert_eq!(g.cmdline, ["memory_hotplug.memmap_on_memory=1"]);
        assert_eq!(grow.args, "vmrs.args=96");
        assert!(grow.runs_out_of_memory && g.allow_alloc_failure);
        // The first plug, 20 steps of 4 GiB, the unplug and the rest.
        assert_eq!(g.timeout, Duration::from_secs(900 + 20 * 300 + 300 + 300));
        // A region below the first plug is made room for it.
        let small = Plan {
            grow_region_gib: 8,
            ..Plan::new(1, 0)
        };
        assert_eq!(small.grow_guests()[0].case.region, 16 * GIB);
        assert_eq!(small.grow_guests()[0].args, "vmrs.args=16");
        let no_grow = Plan {
            grow_region_gib: 0,
            ..Plan::new(1, 0)
        };
        assert!(!tags(&no_grow, 1).contains(&"grow"));
    }

    #[test]
    fn only_boots_the_guests_named() {
        let only = |list: &[Only]| -> Vec<&'static str> {
            let plan = Plan {
                only: list.to_vec(),
                ..Plan::new(2, 0)
            };
            assert!(plan.guests_for(2).is_empty());
            plan.guests_for(1).iter().map(|g| g.tag).collect()
        };
        assert_eq!(only(&[Only::Scattered]), ["scattered"]);
        assert_eq!(only(&[Only::Grow]), ["grow"]);
        assert_eq!(
            only(&[Only::Grow, Only::Converge]),
            ["converge-online_movable", "converge-online_kernel", "grow"]
        );
        assert_eq!(Only::parse_list("scattered"), Some(vec![Only::Scattered]));
        assert_eq!(
            Only::parse_list("grow, converge,grow"),
            Some(vec![Only::Grow, Only::Converge])
        );
        assert_eq!(Only::parse_list("grow,"), None);
        assert_eq!(Only::parse_list("bbm"), None);
        for o in Only::ALL {
            assert_eq!(Only::parse(o.name()), Some(o));
        }
    }

    #[test]
    fn every_bench_guest_has_a_guest_script() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest/cases");
        for g in Plan::new(1, 24 * GIB).guests_for(1) {
            let path = format!("{dir}/{}.sh", g.case.name);
            assert!(std::path::Path::new(&path).exists(), "missing {path}");
        }
    }

    #[test]
    fn the_grow_script_takes_the_steps_its_time_limit_counts() {
        // The plan's time limit adds up the script's resize limits.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest/cases/bench-grow.sh");
        let script = std::fs::read_to_string(path).expect("bench-grow.sh");
        for line in [
            format!("FIRST=$(({GROW_FIRST_GIB} * GIB))"),
            format!("STEP=$(({GROW_STEP_GIB} * GIB))"),
            format!("FIRST_S={GROW_FIRST_S}"),
            format!("STEP_S={GROW_STEP_S}"),
            format!("UNPLUG_S={GROW_UNPLUG_S}"),
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "no line {line} in {path}"
            );
        }
        for stop in STOPS {
            assert!(script.contains(&format!("STOP={stop}")), "no STOP={stop}");
        }
    }

    #[test]
    fn parses_scattered_lines() {
        let line = |order: &str| {
            format!(
                "# bench op=scattered order={order} zone=online_movable size=1073741824 \
                 migrated=40960 device_ms=5300 cpu_ms=4100"
            )
        };
        let s = parse_sample(&line(LEAST_USED_FIRST), Driver::Rust, 1).expect("a sample");
        assert_eq!(s.op, "scattered");
        assert_eq!(s.order.as_deref(), Some(LEAST_USED_FIRST));
        assert_eq!(
            (s.migrated, s.size, s.device_ms),
            (Some(40960), GIB, 5300.0)
        );
        let c = parse_sample(&line(HIGHEST_FIRST), Driver::C, 1).expect("a sample");
        assert_eq!(c.order.as_deref(), Some(HIGHEST_FIRST));
        // Other lines have neither.
        let plug = parse_sample("# bench op=plug size=1 device_ms=1 cpu_ms=1", Driver::C, 1)
            .expect("a sample");
        assert_eq!((plug.order, plug.migrated), (None, None));
        assert!(parse_sample(
            "# bench op=scattered order= migrated=1 device_ms=1 cpu_ms=1",
            Driver::C,
            1
        )
        .is_none());
        assert!(parse_sample(
            "# bench op=scattered migrated=many device_ms=1 cpu_ms=1",
            Driver::C,
            1
        )
        .is_none());
    }

    #[test]
    fn parses_grow_and_reach_lines() {
        let g = parse_sample(
            "# bench op=grow zone=online_movable size=17179869184 device_ms=41000 cpu_ms=39000 \
             normal_free_kb=0 normal_taken_kb=0 kernel_zones_free_kb=900000 \
             kernel_zones_taken_kb=270336",
            Driver::C,
            1,
        )
        .expect("a sample");
        assert_eq!((g.op.as_str(), g.size), ("grow", 16 * GIB));
        assert_eq!((g.normal_free_kb, g.normal_taken_kb), (Some(0), Some(0)));
        assert_eq!(
            (g.kernel_zones_free_kb, g.kernel_zones_taken_kb),
            (Some(900_000), Some(270_336))
        );
        // The zone can gain meanwhile.
        let gained = parse_sample(
            "# bench op=grow size=1 device_ms=1 cpu_ms=1 normal_free_kb=10 normal_taken_kb=-4",
            Driver::Rust,
            1,
        )
        .expect("a sample");
        assert_eq!(gained.normal_taken_kb, Some(-4));
        let r = parse_sample(
            "# bench op=reach zone=online_movable size=45097156608 device_ms=0 cpu_ms=0 stop=add_failed",
            Driver::C,
            1,
        )
        .expect("a sample");
        assert_eq!((r.size, r.stop.as_deref()), (42 * GIB, Some("add_failed")));
        for stop in STOPS {
            let line = format!("# bench op=reach size=1 device_ms=0 cpu_ms=0 stop={stop}");
            assert!(parse_sample(&line, Driver::Rust, 1).is_some(), "{stop}");
        }
        assert!(parse_sample(
            "# bench op=reach size=1 device_ms=0 cpu_ms=0 stop=tired",
            Driver::Rust,
            1
        )
        .is_none());
        assert!(parse_sample(
            "# bench op=grow size=1 device_ms=1 cpu_ms=1 normal_free_kb=-1",
            Driver::Rust,
            1
        )
        .is_none());
    }

    #[test]
    fn running_out_of_memory_is_not_a_failure_of_the_grow_guest() {
        let console: Vec<String> = [
            "ok 3 - the driver binds the virtio-mem device",
            "[ 90.1] kworker/u8:2: vmemmap alloc failure: order:9, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
            "[ 90.1] CPU: 1 UID: 0 PID: 40 Comm: kworker/u8:2",
            "[ 90.1] Call Trace:",
            "[ 90.2] WARNING: CPU: 1 PID: 40 at arch/x86/mm/init_64.c:986 add_pages+0x5e/0x70",
            "[ 90.2] Call Trace:",
            "[ 95.0] sh invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-900",
            "[ 95.0] Call Trace:",
            "[ 99.0] WARNING: CPU: 0 PID: 41 at mm/page_alloc.c:10 f+0x1",
            "[ 99.0] Call Trace:",
            "[ 99.1] BUG: unable to handle page fault for address: 0",
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        let found = |line: usize, kind: &str| {
            let text = console[line - 1].split_once("] ").map_or("", |(_, t)| t);
            format!("kernel {kind} at log line {line}: {text}")
        };
        let problems = vec![
            found(4, "call trace"),
            found(5, "WARNING"),
            found(6, "call trace"),
            found(8, "call trace"),
            found(9, "WARNING"),
            found(10, "call trace"),
            found(11, "BUG"),
            "not ok 4 - something else".to_string(),
        ];
        let left = problems_besides_running_out(&problems, &console);
        assert_eq!(
            left,
            [
                found(9, "WARNING"),
                found(10, "call trace"),
                found(11, "BUG"),
                "not ok 4 - something else".to_string()
            ]
        );
        // A call trace with no such report before it stays, near the log's start too.
        let alone = vec![found(1, "call trace")];
        assert_eq!(problems_besides_running_out(&alone, &console), alone);
    }

    #[test]
    fn sixteen_gib_only_with_the_memory_for_it() {
        assert_eq!(Plan::new(5, 16 * GIB).sizes_gib, vec![1, 4, 8]);
        assert_eq!(Plan::new(5, 24 * GIB).sizes_gib, vec![1, 4, 8, 16]);
    }
}
