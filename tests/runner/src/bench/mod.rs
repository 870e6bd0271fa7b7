//! `vmrs-runner bench`: the upstream C driver and ours in the same guests, alternately
//! (C, rust, rust, C, C, rust, ...), each guest measuring plug and unplug times, guest CPU time and
//! unplug success under pressure (`tests/guest/cases/bench.sh`); the first run also converges
//! after pressure (`bench-converge.sh`), unplugs with scattered use (`unplug-scattered.sh`) and
//! grows a small guest as far as it goes (`bench-grow.sh`).

pub mod permutation;
pub mod plot;
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
pub const STOPS: [&str; 4] = ["region_end", "timeout", "oom", "add_failed"];

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
/// both zones (`bench-converge.sh`), each guest holding the pressure `hold_s` seconds.
pub struct Plan {
    pub runs: usize,
    pub sizes_gib: Vec<u64>,
    pub bbm_sizes_gib: Vec<u64>,
    /// How long the converge guests hold the pressure; 0: no converge guests.
    pub hold_s: u64,
    /// Only the converge guests (`BENCH_ONLY=converge`).
    pub converge_only: bool,
}

/// The default pressure of the converge guests: several minutes, over which C's retry timer
/// fires at 50 s and 150 s after the first attempt and ours watches.
pub const HOLD_S: u64 = 180;

/// One guest of a run.
pub struct Guest {
    pub case: Case,
    /// Its `vmrs.args=` word.
    pub args: String,
    /// What tells its logs and progress lines from the other guests'.
    pub tag: &'static str,
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
            converge_only: false,
        }
    }

    /// The guests of run `run` (from 1): the converge guests only in the first (each holds
    /// its pressure minutes long).
    pub fn guests_for(&self, run: usize) -> Vec<Guest> {
        let mut guests = if self.converge_only {
            Vec::new()
        } else {
            self.guests()
        };
        if run == 1 && self.hold_s > 0 {
            guests.extend(self.converge_guests());
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
            },
            Guest {
                case: kernel,
                args,
                tag: "converge-online_kernel",
            },
        ]
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
            },
            Guest {
                case: kernel,
                args: "vmrs.args=".to_string(),
                tag: "online_kernel",
            },
        ];
        if !self.bbm_sizes_gib.is_empty() {
            guests.push(Guest {
                case: bbm,
                args: bbm_args,
                tag: "bbm",
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
            for Guest { case, args, tag } in plan.guests_for(run) {
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
                let status = if outcome.problems.is_empty() {
                    samples.extend(mine);
                    "ok".to_string()
                } else {
                    failures += 1;
                    format!(
                        "FAILED ({}; log {})",
                        outcome.problems.join("; "),
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
        assert_eq!(tags(1).len(), 5);
        assert_eq!(
            tags(1)[3..],
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
            converge_only: true,
            ..Plan::new(1, 0)
        };
        assert_eq!(only.guests_for(1).len(), 2);
        assert!(only.guests_for(2).is_empty());
        let none = Plan {
            hold_s: 0,
            ..Plan::new(1, 0)
        };
        assert_eq!(none.guests_for(1).len(), 3);
        let s = parse_sample(
            "# bench op=converge zone=online_kernel mode=sbm size=536870912 device_ms=180 cpu_ms=700 hold_ms=180000",
            Driver::Rust,
            1,
        )
        .expect("a sample");
        assert_eq!((s.op.as_str(), s.hold_ms), ("converge", Some(180_000.0)));
    }

    #[test]
    fn sixteen_gib_only_with_the_memory_for_it() {
        assert_eq!(Plan::new(5, 16 * GIB).sizes_gib, vec![1, 4, 8]);
        assert_eq!(Plan::new(5, 24 * GIB).sizes_gib, vec![1, 4, 8, 16]);
    }
}
