//! The figures of a bench run: medians with min–max per driver and the ratio ours/C, as a
//! Markdown table and as JSON; and what our driver counted and timed inside itself during
//! each step (its debugfs files), which the C driver cannot tell.

use serde_json::{json, Value};

use crate::bench::{Sample, BBM, BBM_BLOCK, SBM};
use crate::check::cases::{Driver, GIB};

/// One figure measured for both drivers.
#[derive(Debug, Clone)]
pub struct Figure {
    pub name: String,
    pub unit: &'static str,
    /// Whether a larger value is the better one (unplugged fraction).
    pub higher_is_better: bool,
    pub c: Vec<f64>,
    pub rust: Vec<f64>,
    /// Shown instead of C's values when C cannot have them (figures from our debugfs files).
    pub c_note: Option<&'static str>,
}

/// What the tables say for C where a figure comes from our driver's debugfs files.
pub const NO_FILES: &str = "n/a: the C driver has no debugfs files";

/// Median, minimum and maximum; `None` for no values.
pub fn summary(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some((median, v[0], v[n - 1]))
}

impl Figure {
    /// Ours over C, of the medians; `None` when either is missing or C's is zero.
    pub fn ratio(&self) -> Option<f64> {
        let (c, _, _) = summary(&self.c)?;
        let (r, _, _) = summary(&self.rust)?;
        (c != 0.0).then(|| r / c)
    }

    /// How likely measurements this far apart are when the driver makes no difference (see
    /// [`crate::bench::permutation`]).
    pub fn p(&self) -> Option<f64> {
        crate::bench::permutation::rank_sum_p(&self.c, &self.rust)
    }

    /// Whether ours is worse than C by more than `tolerance` (0.05: 5%).
    pub fn worse(&self, tolerance: f64) -> bool {
        match self.ratio() {
            Some(r) if self.higher_is_better => r < 1.0 - 1e-9,
            Some(r) => r > 1.0 + tolerance,
            None => false,
        }
    }
}

fn values(samples: &[Sample], driver: Driver, pick: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
    samples
        .iter()
        .filter(|s| s.driver == driver)
        .filter_map(pick)
        .collect()
}

fn figure(
    samples: &[Sample],
    name: String,
    unit: &'static str,
    higher_is_better: bool,
    pick: impl Fn(&Sample) -> Option<f64>,
) -> Figure {
    Figure {
        name,
        unit,
        higher_is_better,
        c: values(samples, Driver::C, &pick),
        rust: values(samples, Driver::Rust, &pick),
        c_note: None,
    }
}

/// A figure of our driver alone, from its debugfs files.
fn ours_only(name: String, unit: &'static str, rust: Vec<f64>) -> Figure {
    Figure {
        name,
        unit,
        higher_is_better: false,
        c: Vec::new(),
        rust,
        c_note: Some(NO_FILES),
    }
}

/// The requests our driver counted itself during the samples `this` picks, to stand next to
/// QEMU's count.
fn driver_requests(samples: &[Sample], name: String, this: impl Fn(&Sample) -> bool) -> Figure {
    let rust = values(samples, Driver::Rust, |s| {
        this(s).then_some(s.driver_requests? as f64)
    });
    ours_only(name, "requests", rust)
}

/// The plug and unplug requests the device got during the samples `this` picks.
fn requests(samples: &[Sample], name: String, this: impl Fn(&Sample) -> bool) -> Figure {
    figure(samples, name, "requests", false, |s| {
        this(s).then_some(s.requests? as f64)
    })
}

/// The modules' sizes, C's first: `(file, loaded)`.
pub type KoSizes = ((u64, u64), (u64, u64));

/// The figures of one plug or unplug step, picked by `this`.
fn step_figures(
    samples: &[Sample],
    label: &str,
    this: impl Fn(&Sample) -> bool + Copy,
) -> [Figure; 6] {
    let ms = |what: &str, pick: fn(&Sample) -> Option<f64>| {
        figure(samples, format!("{label}: {what}"), "ms", false, |s| {
            this(s).then(|| pick(s)).flatten()
        })
    };
    [
        ms("device", |s| Some(s.device_ms)),
        ms("MemTotal", |s| s.memtotal_ms),
        ms("memory blocks", |s| s.blocks_ms),
        ms("guest CPU", |s| Some(s.cpu_ms)),
        requests(samples, format!("{label}: requests"), this),
        driver_requests(
            samples,
            format!("{label}: requests, the driver's count"),
            this,
        ),
    ]
}

/// Which samples a step of the bench is.
type Pick = Box<dyn Fn(&Sample) -> bool>;

/// One step of the bench, for every table: its label, its samples, and whether it is the
/// unplug under pressure (whose figures differ).
struct Step {
    label: String,
    this: Pick,
    pressure: bool,
}

/// The steps in table order: Sub Block Mode's plug and unplug steps, then Big Block Mode's,
/// each labelled with its mode, then the pressure tests.
fn steps(samples: &[Sample], sizes_gib: &[u64], bbm_sizes_gib: &[u64]) -> Vec<Step> {
    let mut out = Vec::new();
    let bbm_label = format!("BBM, {} GiB blocks", BBM_BLOCK / GIB);
    for (mode, sizes, label) in [
        (SBM, sizes_gib, "SBM".to_string()),
        (BBM, bbm_sizes_gib, bbm_label),
    ] {
        // The first step right after loading pays for QEMU translating the code it runs. Both
        // SBM guests take these steps (the online_kernel one as a warm-up for its pressure
        // test); the figure is the online_movable guest's, like the sizes below.
        for (op, verb) in [("first-plug", "plug"), ("first-unplug", "unplug")] {
            let this = move |s: &Sample| s.op == op && s.mode == mode && s.zone == "online_movable";
            if let Some(first) = samples.iter().find(|s| this(s)) {
                out.push(Step {
                    label: format!(
                        "first {verb} after loading, {} MiB ({label})",
                        first.size >> 20
                    ),
                    this: Box::new(this),
                    pressure: false,
                });
            }
        }
        for op in ["plug", "unplug"] {
            for &g in sizes {
                out.push(Step {
                    label: format!("{op} {g} GiB ({label})"),
                    this: Box::new(move |s: &Sample| {
                        s.op == op && s.mode == mode && s.size == g * GIB
                    }),
                    pressure: false,
                });
            }
        }
    }
    for zone in ["online_movable", "online_kernel"] {
        out.push(Step {
            label: format!("unplug 4 GiB under pressure ({zone})"),
            this: Box::new(move |s: &Sample| s.op == "pressure" && s.mode == SBM && s.zone == zone),
            pressure: true,
        });
    }
    out
}

/// Every figure of the run, in table order: Sub Block Mode's plug and unplug rows, then Big
/// Block Mode's, each labelled with its mode, then the pressure tests and the module sizes.
pub fn figures(
    samples: &[Sample],
    sizes_gib: &[u64],
    bbm_sizes_gib: &[u64],
    ko: KoSizes,
) -> Vec<Figure> {
    let mut out = Vec::new();
    for Step {
        label,
        this,
        pressure,
    } in steps(samples, sizes_gib, bbm_sizes_gib)
    {
        if !pressure {
            out.extend(step_figures(samples, &label, &this));
            continue;
        }
        out.push(figure(
            samples,
            format!("{label}: unplugged"),
            "%",
            true,
            |s| {
                let done = s.unplugged? as f64;
                (this(s) && s.size > 0).then(|| 100.0 * done / s.size as f64)
            },
        ));
        out.push(figure(
            samples,
            format!("{label}: time"),
            "ms",
            false,
            |s| this(s).then_some(s.device_ms),
        ));
        out.push(figure(
            samples,
            format!("{label}: guest CPU"),
            "ms",
            false,
            |s| this(s).then_some(s.cpu_ms),
        ));
        out.push(requests(samples, format!("{label}: requests"), &this));
        out.push(driver_requests(
            samples,
            format!("{label}: requests, the driver's count"),
            &this,
        ));
    }
    out.extend(converge_figures(samples));
    let ((c_file, c_loaded), (rust_file, rust_loaded)) = ko;
    for (name, c, rust) in [
        ("module size: .ko file", c_file, rust_file),
        (
            "module size: loaded (code, data, bss)",
            c_loaded,
            rust_loaded,
        ),
    ] {
        out.push(Figure {
            name: name.to_string(),
            unit: "bytes",
            higher_is_better: false,
            c: vec![c as f64],
            rust: vec![rust as f64],
            c_note: None,
        });
    }
    out
}

/// Converging after pressure, per zone: the time from the memory being freed to the device
/// reaching the requested size, and the guest's busy CPU time while the pressure was held,
/// in percent of one vCPU (the guest does nothing else meanwhile).
fn converge_figures(samples: &[Sample]) -> Vec<Figure> {
    let mut out = Vec::new();
    for zone in ["online_movable", "online_kernel"] {
        let this = |s: &Sample| s.op == "converge" && s.zone == zone;
        if !samples.iter().any(this) {
            continue;
        }
        let label = format!("converge after pressure ({zone})");
        out.push(figure(
            samples,
            format!("{label}: time from the memory freed to the requested size"),
            "ms",
            false,
            |s| this(s).then_some(s.device_ms),
        ));
        out.push(figure(
            samples,
            format!("{label}: guest CPU while the pressure is held"),
            "% of a vCPU",
            false,
            |s| {
                let hold = s.hold_ms.filter(|h| *h > 0.0)?;
                this(s).then(|| 100.0 * s.cpu_ms / hold)
            },
        ));
    }
    out
}

fn cell(values: &[f64], unit: &str) -> String {
    // Percentages near 100 need decimals to show what is left (one 2 MiB subblock of 4 GiB
    // is 0.05%).
    cell_to(values, if unit.starts_with('%') { 2 } else { 0 })
}

/// A cell with `p` decimals.
fn cell_to(values: &[f64], p: usize) -> String {
    match summary(values) {
        Some((m, lo, hi)) if lo == hi => format!("{m:.p$}"),
        Some((m, lo, hi)) => format!("{m:.p$} ({lo:.p$}–{hi:.p$})"),
        None => "–".to_string(),
    }
}

/// The Markdown table; rows where ours is more than 5% worse are marked.
pub fn markdown(figures: &[Figure], runs: usize) -> String {
    let mut s = String::from(
        "| figure | unit | C median (min–max) | ours median (min–max) | ours/C | p |\n\
         |---|---|---|---|---|---|\n",
    );
    for f in figures {
        let ratio = match f.ratio() {
            Some(r) => format!("{r:.2}{}", if f.worse(0.05) { " ⚠" } else { "" }),
            None => "–".to_string(),
        };
        let p = f.p().map_or("–".to_string(), |p| format!("{p:.3}"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.name,
            f.unit,
            f.c_note.map_or_else(|| cell(&f.c, f.unit), str::to_string),
            cell(&f.rust, f.unit),
            ratio,
            p
        ));
    }
    s.push_str(&format!(
        "\n{runs} runs per driver, C and ours taking turns to go first. ⚠: ours is more than \
         5% worse (for the unplugged fraction: any less). p: the chance of C's and ours differing \
         this much if the driver made no difference (Wilcoxon rank-sum test, exact by \
         permutation); p ≥ 0.05 means the run-to-run spread alone makes such \
         a gap often, either way. With {runs} runs each no p is below {:.3}.\n",
        crate::bench::permutation::smallest_p(runs, runs)
    ));
    s
}

/// What our driver timed inside itself during one step: one figure per phase of its
/// `phase_ns` file, in milliseconds.
#[derive(Debug, Clone)]
pub struct PhaseRow {
    pub step: String,
    pub phases: Vec<Figure>,
}

/// The phases our driver's samples name, in the order of its file.
fn phase_names(samples: &[Sample]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for s in samples.iter().filter(|s| s.driver == Driver::Rust) {
        for (name, _) in &s.phase_ns {
            if !names.contains(name) {
                names.push(name.clone());
            }
        }
    }
    names
}

/// The time per phase inside our driver for each step, in the steps' table order; none when
/// no sample has them (the driver had no `phase_ns` file).
pub fn phase_rows(samples: &[Sample], sizes_gib: &[u64], bbm_sizes_gib: &[u64]) -> Vec<PhaseRow> {
    let names = phase_names(samples);
    if names.is_empty() {
        return Vec::new();
    }
    steps(samples, sizes_gib, bbm_sizes_gib)
        .into_iter()
        .map(|Step { label, this, .. }| PhaseRow {
            phases: names
                .iter()
                .map(|name| {
                    let rust = values(samples, Driver::Rust, |s| {
                        let ns = s.phase_ns.iter().find(|(n, _)| n == name)?.1;
                        this(s).then_some(ns as f64 / 1e6)
                    });
                    ours_only(name.clone(), "ms", rust)
                })
                .collect(),
            step: label,
        })
        .collect()
}

/// The table of [`phase_rows`]: a column per phase, and C's column saying why it is empty.
pub fn phase_markdown(rows: &[PhaseRow]) -> String {
    let Some(first) = rows.first() else {
        return format!(
            "\nTime inside our driver by phase: none of its samples had it. C: {NO_FILES}.\n"
        );
    };
    let names: Vec<&str> = first.phases.iter().map(|f| f.name.as_str()).collect();
    let mut s = format!(
        "\nTime inside our driver by phase, ms, median (min–max) over the runs (its debugfs \
         file `phase_ns`, read before and after each step):\n\n| step | {} | C |\n|---|{}---|\n",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for row in rows {
        // A tenth of a ms: some phases of a step take less than one.
        let cells: Vec<String> = row.phases.iter().map(|f| cell_to(&f.rust, 1)).collect();
        s.push_str(&format!(
            "| {} | {} | {NO_FILES} |\n",
            row.step,
            cells.join(" | ")
        ));
    }
    s.push_str(
        "\nrequest: a request's round trip to the device; add: adding memory, the kernel's \
         auto-onlining included; online_pages: our online-page handler, inside add here; \
         offline_remove: offlining and removing memory; alloc_contig: alloc_contig_range(); \
         fake_online: handing pages to the buddy allocator; run: whole runs of the work loop, \
         which hold the others.\n",
    );
    s
}

fn side(v: &[f64]) -> Value {
    match summary(v) {
        Some((m, lo, hi)) => json!({ "median": m, "min": lo, "max": hi, "values": v }),
        None => Value::Null,
    }
}

/// The whole run as JSON: every sample, every figure and our driver's time per phase.
pub fn to_json(samples: &[Sample], figures: &[Figure], phases: &[PhaseRow], runs: usize) -> Value {
    let samples: Vec<Value> = samples
        .iter()
        .map(|s| {
            json!({
                "driver": s.driver.name(), "run": s.run, "op": s.op, "zone": s.zone, "mode": s.mode,
                "size": s.size, "device_ms": s.device_ms, "memtotal_ms": s.memtotal_ms,
                "blocks_ms": s.blocks_ms,
                "cpu_ms": s.cpu_ms, "unplugged": s.unplugged, "requests": s.requests,
                "driver_requests": s.driver_requests,
                "phase_ns": s.phase_ns.iter().map(|(n, v)| (n.clone(), json!(v)))
                    .collect::<serde_json::Map<String, Value>>(),
            })
        })
        .collect();
    let figures: Vec<Value> = figures
        .iter()
        .map(|f| {
            let c = f.c_note.map_or_else(|| side(&f.c), |note| json!(note));
            json!({
                "name": f.name, "unit": f.unit, "higher_is_better": f.higher_is_better,
                "c": c, "rust": side(&f.rust), "ratio_rust_over_c": f.ratio(),
                "p": f.p(),
            })
        })
        .collect();
    let phases: Vec<Value> = phases
        .iter()
        .map(|row| {
            let ms: serde_json::Map<String, Value> = row
                .phases
                .iter()
                .map(|f| (f.name.clone(), side(&f.rust)))
                .collect();
            json!({ "step": row.step, "unit": "ms", "rust": ms, "c": NO_FILES })
        })
        .collect();
    json!({
        "runs_per_driver": runs, "figures": figures, "driver_phases": phases, "samples": samples
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(summary(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(summary(&[4.0, 1.0, 2.0, 3.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(summary(&[]), None);
    }

    #[test]
    fn ratio_and_worse() {
        let f = |c: Vec<f64>, rust: Vec<f64>, higher| Figure {
            name: String::new(),
            unit: "ms",
            higher_is_better: higher,
            c,
            rust,
            c_note: None,
        };
        let slower = f(vec![100.0, 100.0], vec![106.0, 106.0], false);
        assert!((slower.ratio().unwrap_or(0.0) - 1.06).abs() < 1e-9);
        assert!(slower.worse(0.05));
        assert!(!f(vec![100.0], vec![104.0], false).worse(0.05));
        assert!(f(vec![100.0], vec![99.0], true).worse(0.05));
        assert!(!f(vec![100.0], vec![100.0], true).worse(0.05));
        assert_eq!(f(vec![0.0], vec![1.0], false).ratio(), None);
    }

    #[test]
    fn a_subblock_left_shows_in_the_fraction() {
        let left_one = 100.0 * (4.0 * GIB as f64 - 2.0 * (1 << 20) as f64) / (4.0 * GIB as f64);
        assert_eq!(
            cell(&[left_one, 100.0, 100.0], "%"),
            "100.00 (99.95–100.00)"
        );
        assert_eq!(cell(&[12.4, 12.8], "ms"), "13 (12–13)");
    }

    #[test]
    fn first_steps_are_the_online_movable_guests() {
        let line = |zone: &str, ms: u32| {
            format!(
                "# bench op=first-plug zone={zone} size=134217728 device_ms={ms} \
                 memtotal_ms=1 blocks_ms=1 cpu_ms=1"
            )
        };
        let samples: Vec<Sample> = [("online_movable", 10), ("online_kernel", 99)]
            .iter()
            .filter_map(|&(zone, ms)| crate::bench::parse_sample(&line(zone, ms), Driver::C, 1))
            .collect();
        assert_eq!(samples.len(), 2);
        let figures = figures(&samples, &[], &[], ((0, 0), (0, 0)));
        let device = figures
            .iter()
            .find(|f| f.name == "first plug after loading, 128 MiB (SBM): device")
            .expect("the first plug's device figure");
        assert_eq!(device.c, [10.0]);
    }

    #[test]
    fn big_block_samples_have_rows_of_their_own() {
        let line = |mode: &str, ms: u32| {
            format!(
                "# bench op=plug zone=online_movable mode={mode} size=4294967296 device_ms={ms} \
                 memtotal_ms=1 blocks_ms=1 cpu_ms=1"
            )
        };
        let samples: Vec<Sample> = [("sbm", 10), ("bbm", 99), ("bbm", 101)]
            .iter()
            .filter_map(|&(mode, ms)| crate::bench::parse_sample(&line(mode, ms), Driver::C, 1))
            .collect();
        let figures = figures(&samples, &[4], &[4], ((0, 0), (0, 0)));
        let device = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no figure {name}"))
                .c
                .clone()
        };
        assert_eq!(device("plug 4 GiB (SBM): device"), [10.0]);
        assert_eq!(
            device("plug 4 GiB (BBM, 1 GiB blocks): device"),
            [99.0, 101.0]
        );
        // No unplug samples: the rows are there, empty, in the same shape.
        assert!(device("unplug 4 GiB (BBM, 1 GiB blocks): device").is_empty());
        assert_eq!(figures.len(), 2 * 2 * 6 + 2 * 5 + 2);
    }

    fn ours_and_cs(line: &str) -> Vec<Sample> {
        // Our line carries the driver's counts; C's the same step without them.
        let c_line: String = line
            .split_whitespace()
            .filter(|w| !w.starts_with("ns_") && !w.starts_with("driver_"))
            .collect::<Vec<_>>()
            .join(" ");
        vec![
            crate::bench::parse_sample(line, Driver::Rust, 1).expect("our sample"),
            crate::bench::parse_sample(&c_line, Driver::C, 1).expect("C's sample"),
        ]
    }

    const UNPLUG_1G: &str = "# bench op=unplug zone=online_movable size=1073741824 \
        device_ms=60 memtotal_ms=100 blocks_ms=200 cpu_ms=250 plug_requests=0 \
        unplug_requests=9 ns_request=3000000 ns_add=0 ns_alloc_contig=12500000 \
        ns_run=40000000 driver_requests=9";

    #[test]
    fn the_drivers_request_count_stands_next_to_qemus() {
        let samples = ours_and_cs(UNPLUG_1G);
        let figures = figures(&samples, &[1], &[], ((0, 0), (0, 0)));
        let at = |name: &str| {
            figures
                .iter()
                .position(|f| f.name == name)
                .unwrap_or_else(|| panic!("no figure {name}"))
        };
        let qemu = at("unplug 1 GiB (SBM): requests");
        let ours = at("unplug 1 GiB (SBM): requests, the driver's count");
        assert_eq!(ours, qemu + 1);
        assert_eq!(figures[qemu].c, [9.0]);
        assert_eq!(figures[ours].rust, [9.0]);
        // C has no such count: the table says so and invents nothing.
        assert!(figures[ours].c.is_empty());
        assert_eq!(figures[ours].ratio(), None);
        let md = markdown(&figures, 1);
        assert!(md.contains(&format!(
            "| unplug 1 GiB (SBM): requests, the driver's count | requests | {NO_FILES} | 9 | – | – |"
        )));
        // The rows that were there before keep their form.
        assert!(md.contains("| unplug 1 GiB (SBM): requests | requests | 9 | 9 | 1.00 | – |"));
        assert!(figures.iter().any(|f| f.name
            == "unplug 4 GiB under pressure (online_kernel): requests, the driver's count"));
    }

    #[test]
    fn time_per_phase_is_ours_only() {
        let samples = ours_and_cs(UNPLUG_1G);
        let rows = phase_rows(&samples, &[1], &[]);
        let unplug = rows
            .iter()
            .find(|r| r.step == "unplug 1 GiB (SBM)")
            .expect("the unplug's row");
        let names: Vec<&str> = unplug.phases.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["request", "add", "alloc_contig", "run"]);
        assert_eq!(unplug.phases[2].rust, [12.5]);
        assert!(unplug.phases.iter().all(|f| f.c.is_empty()));
        let md = phase_markdown(&rows);
        assert!(md.contains("| step | request | add | alloc_contig | run | C |"));
        assert!(md.contains(&format!(
            "| unplug 1 GiB (SBM) | 3.0 | 0.0 | 12.5 | 40.0 | {NO_FILES} |"
        )));
        // A step without samples has its row, empty.
        assert!(md.contains(&format!(
            "| plug 1 GiB (SBM) | – | – | – | – | {NO_FILES} |"
        )));
        let json = to_json(&samples, &[], &rows, 1);
        let row = json["driver_phases"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["step"] == "unplug 1 GiB (SBM)")
            .expect("the unplug's row")
            .clone();
        assert_eq!(row["rust"]["alloc_contig"]["median"], 12.5);
        assert_eq!(row["c"], NO_FILES);
        assert_eq!(json["samples"][0]["phase_ns"]["request"], 3_000_000);
        assert_eq!(json["samples"][0]["driver_requests"], 9);
        assert!(json["samples"][1]["driver_requests"].is_null());
    }

    #[test]
    fn converge_rows_per_zone() {
        let mut samples = Vec::new();
        for (driver, ms, cpu) in [(Driver::C, 30_000, 900), (Driver::Rust, 200, 1_800)] {
            let line = format!(
                "# bench op=converge zone=online_movable mode=sbm size=536870912 device_ms={ms} cpu_ms={cpu} hold_ms=180000"
            );
            samples.push(crate::bench::parse_sample(&line, driver, 1).expect("a sample"));
        }
        let f = converge_figures(&samples);
        // Only the zone that was measured.
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].ratio(), Some(200.0 / 30_000.0));
        assert_eq!(
            (f[1].c.as_slice(), f[1].rust.as_slice()),
            ([0.5].as_slice(), [1.0].as_slice())
        );
        assert!(f[1].name.ends_with("guest CPU while the pressure is held"));
    }

    #[test]
    fn no_phases_no_rows() {
        let c_only: Vec<Sample> = ours_and_cs(UNPLUG_1G).into_iter().skip(1).collect();
        assert!(phase_rows(&c_only, &[1], &[]).is_empty());
        assert!(phase_markdown(&[]).contains(NO_FILES));
    }

    #[test]
    fn samples_keep_their_request_counts() {
        let line = "# bench op=plug zone=online_movable size=1073741824 device_ms=60 \
                    memtotal_ms=100 blocks_ms=200 cpu_ms=250 plug_requests=8 unplug_requests=1";
        let sample = crate::bench::parse_sample(line, Driver::Rust, 1).expect("a sample");
        let json = to_json(&[sample], &[], &[], 1);
        assert_eq!(json["samples"][0]["requests"], 9);
    }
}
