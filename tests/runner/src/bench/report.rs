//! The figures of a bench run: medians with min–max per driver and the ratio ours/C, as a
//! Markdown table and as JSON (figures with a third column, our driver measured a second way,
//! in a table of their own); and what our driver counted and timed inside itself during
//! each step (its debugfs files), which the C driver cannot tell.

use serde_json::{json, Value};

use crate::bench::{Sample, BBM, BBM_BLOCK, HIGHEST_FIRST, LEAST_USED_FIRST, SBM};
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
    /// Our driver measured a second way in the same guests: such figures go to a table of
    /// their own, with this third column.
    pub third: Option<Third>,
    /// Words shown after C's and our values (why a guest stopped growing), each once.
    pub why: [Vec<String>; 2],
}

/// The third column of a [`Figure`], and the headings of its table.
#[derive(Debug, Clone)]
pub struct Third {
    /// The headings of C's, our and this column.
    pub headings: [&'static str; 3],
    pub values: Vec<f64>,
}

impl Third {
    /// This column's median over C's; `None` when either is missing or C's is zero.
    pub fn ratio(&self, c: &[f64]) -> Option<f64> {
        let (c, _, _) = summary(c)?;
        let (v, _, _) = summary(&self.values)?;
        (c != 0.0).then(|| v / c)
    }
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
        third: None,
        why: [Vec::new(), Vec::new()],
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
        third: None,
        why: [Vec::new(), Vec::new()],
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
    out.extend(scattered_figures(samples));
    out.extend(grow_figures(samples));
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
            third: None,
            why: [Vec::new(), Vec::new()],
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

/// What a figure takes of a sample, if anything.
type PickValue = fn(&Sample) -> Option<f64>;

/// The label of the scattered rows (and of the plot's panel).
pub const SCATTERED: &str = "partial unplug with scattered use (2 GiB -> 1 GiB)";

/// The partial unplug with scattered use: pages migrated and time, C (highest first) against
/// ours (fewest used first), with ours highest first (`unplug_least_used_first=0`) in the
/// third column. None when no guest measured it.
fn scattered_figures(samples: &[Sample]) -> Vec<Figure> {
    if !samples.iter().any(|s| s.op == "scattered") {
        return Vec::new();
    }
    let order = |s: &Sample, o: &str| s.op == "scattered" && s.order.as_deref() == Some(o);
    let rows: [(&str, &'static str, PickValue); 2] = [
        ("pages migrated (pgmigrate_success)", "pages", |s| {
            s.migrated.map(|m| m as f64)
        }),
        ("time (device_ms)", "ms", |s| Some(s.device_ms)),
    ];
    rows.into_iter()
        .map(|(what, unit, pick)| {
            let by = |driver, o: &str| {
                values(samples, driver, |s| order(s, o).then(|| pick(s)).flatten())
            };
            Figure {
                name: format!("{SCATTERED}: {what}"),
                unit,
                higher_is_better: false,
                c: by(Driver::C, HIGHEST_FIRST),
                rust: by(Driver::Rust, LEAST_USED_FIRST),
                c_note: None,
                third: Some(Third {
                    headings: [
                        "C, highest first",
                        "ours, fewest used first",
                        "ours, highest first (unplug_least_used_first=0)",
                    ],
                    values: by(Driver::Rust, HIGHEST_FIRST),
                }),
                why: [Vec::new(), Vec::new()],
            }
        })
        .collect()
}

/// A 1 GiB guest with `memory_hotplug.memmap_on_memory=1` growing far: what plugging 16 GiB
/// took of ZONE_NORMAL's free memory and of all the kernel's zones' (DMA, DMA32, Normal: with
/// 1 GiB of boot memory ZONE_NORMAL is empty and the memory map comes from DMA32), and the
/// largest size reached, with why growth stopped. None when no guest measured it.
fn grow_figures(samples: &[Sample]) -> Vec<Figure> {
    let mut out = Vec::new();
    let grow = |s: &Sample| s.op == "grow";
    if samples.iter().any(grow) {
        let kib_to_mib = |kb: Option<i64>| kb.map(|kb| kb as f64 / 1024.0);
        out.push(figure(
            samples,
            "ZONE_NORMAL free memory taken by plugging 16 GiB (memmap_on_memory=1)".to_string(),
            "MiB",
            false,
            |s| grow(s).then(|| kib_to_mib(s.normal_taken_kb)).flatten(),
        ));
        out.push(figure(
            samples,
            "free memory of DMA, DMA32 and Normal taken by plugging 16 GiB (memmap_on_memory=1)"
                .to_string(),
            "MiB",
            false,
            |s| {
                grow(s)
                    .then(|| kib_to_mib(s.kernel_zones_taken_kb))
                    .flatten()
            },
        ));
    }
    let reach = |s: &Sample| s.op == "reach";
    if samples.iter().any(reach) {
        let mut f = figure(
            samples,
            "largest size a 1 GiB guest reached (memmap_on_memory=1), and why it stopped"
                .to_string(),
            "GiB",
            true,
            |s| reach(s).then_some(s.size as f64 / GIB as f64),
        );
        for (i, driver) in [Driver::C, Driver::Rust].into_iter().enumerate() {
            for s in samples.iter().filter(|s| s.driver == driver && reach(s)) {
                if let Some(stop) = &s.stop {
                    if !f.why[i].contains(stop) {
                        f.why[i].push(stop.clone());
                    }
                }
            }
        }
        out.push(f);
    }
    out
}

fn cell(values: &[f64], unit: &str) -> String {
    // Percentages near 100 need decimals to show what is left (one 2 MiB subblock of 4 GiB
    // is 0.05%); a memory block is an eighth of a GiB.
    let decimals = match unit {
        u if u.starts_with('%') => 2,
        "GiB" | "MiB" => 1,
        _ => 0,
    };
    cell_to(values, decimals)
}

/// A cell with why the samples ended after the values.
fn cell_why(values: &[f64], unit: &str, why: &[String]) -> String {
    let cell = cell(values, unit);
    if why.is_empty() {
        cell
    } else {
        format!("{cell}, stopped: {}", why.join(", "))
    }
}

/// A cell with `p` decimals.
fn cell_to(values: &[f64], p: usize) -> String {
    match summary(values) {
        Some((m, lo, hi)) if lo == hi => format!("{m:.p$}"),
        Some((m, lo, hi)) => format!("{m:.p$} ({lo:.p$}–{hi:.p$})"),
        None => "–".to_string(),
    }
}

/// The Markdown table; rows where ours is more than 5% worse are marked. Figures with a third
/// column follow in a table of their own.
pub fn markdown(figures: &[Figure], runs: usize) -> String {
    let mut s = String::from(
        "| figure | unit | C median (min–max) | ours median (min–max) | ours/C | p |\n\
         |---|---|---|---|---|---|\n",
    );
    for f in figures.iter().filter(|f| f.third.is_none()) {
        let ratio = match f.ratio() {
            Some(r) => format!("{r:.2}{}", if f.worse(0.05) { " ⚠" } else { "" }),
            None => "–".to_string(),
        };
        let p = f.p().map_or("–".to_string(), |p| format!("{p:.3}"));
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            f.name,
            f.unit,
            f.c_note
                .map_or_else(|| cell_why(&f.c, f.unit, &f.why[0]), str::to_string),
            cell_why(&f.rust, f.unit, &f.why[1]),
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
    s.push_str(&three_column_markdown(figures));
    s
}

/// The table of the figures with a third column, with a ratio over C for ours and for the
/// third; nothing when there are none. Their guests boot in the first run only: no p.
fn three_column_markdown(figures: &[Figure]) -> String {
    let rows: Vec<(&Figure, &Third)> = figures
        .iter()
        .filter_map(|f| Some((f, f.third.as_ref()?)))
        .collect();
    let Some((_, first)) = rows.first() else {
        return String::new();
    };
    let [c, ours, third] = first.headings;
    let mut s = format!(
        "\nMeasured in one guest per driver in the first run; median (min–max) over the \
         samples, which are one per driver unless the guests boot again:\n\n\
         | figure | unit | {c} | {ours} | {third} | ours/C | {third}/C |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let ratio = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.2}"));
    for (f, t) in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            f.name,
            f.unit,
            cell(&f.c, f.unit),
            cell(&f.rust, f.unit),
            cell(&t.values, f.unit),
            ratio(f.ratio()),
            ratio(t.ratio(&f.c))
        ));
    }
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
                "order": s.order, "migrated": s.migrated,
                "normal_free_kb": s.normal_free_kb, "normal_taken_kb": s.normal_taken_kb,
                "kernel_zones_free_kb": s.kernel_zones_free_kb,
                "kernel_zones_taken_kb": s.kernel_zones_taken_kb, "stop": s.stop,
            })
        })
        .collect();
    let figures: Vec<Value> = figures
        .iter()
        .map(|f| {
            let c = f.c_note.map_or_else(|| side(&f.c), |note| json!(note));
            let mut v = json!({
                "name": f.name, "unit": f.unit, "higher_is_better": f.higher_is_better,
                "c": c, "rust": side(&f.rust), "ratio_rust_over_c": f.ratio(),
                "p": f.p(),
            });
            if let Some(t) = &f.third {
                v["columns"] = json!(t.headings);
                v["third"] = side(&t.values);
                v["ratio_third_over_c"] = json!(t.ratio(&f.c));
            }
            if f.why.iter().any(|w| !w.is_empty()) {
                v["why"] = json!({ "c": f.why[0], "rust": f.why[1] });
            }
            v
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
            third: None,
            why: [Vec::new(), Vec::new()],
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

    fn parse_all(lines: &[(Driver, &str)]) -> Vec<Sample> {
        lines
            .iter()
            .map(|&(d, l)| crate::bench::parse_sample(l, d, 1).expect("a sample"))
            .collect()
    }

    #[test]
    fn scattered_rows_have_three_columns() {
        let line = |order: &str, migrated: u32, ms: u32| {
            format!(
                "# bench op=scattered order={order} zone=online_movable size=1073741824 \
                 migrated={migrated} device_ms={ms} cpu_ms=1"
            )
        };
        let (c1, c2) = (
            line(HIGHEST_FIRST, 80_000, 4000),
            line(HIGHEST_FIRST, 100_000, 6000),
        );
        let ours = line(LEAST_USED_FIRST, 20_000, 2000);
        let ours_highest = line(HIGHEST_FIRST, 90_000, 5000);
        let samples = parse_all(&[
            (Driver::C, &c1),
            (Driver::C, &c2),
            (Driver::Rust, &ours),
            (Driver::Rust, &ours_highest),
        ]);
        let figures = figures(&samples, &[], &[], ((0, 0), (0, 0)));
        let f = figures
            .iter()
            .find(|f| f.name == format!("{SCATTERED}: pages migrated (pgmigrate_success)"))
            .expect("the migrated row");
        assert_eq!(f.c, [80_000.0, 100_000.0]);
        assert_eq!(f.rust, [20_000.0]);
        let third = f.third.as_ref().expect("a third column");
        assert_eq!(third.values, [90_000.0]);
        assert_eq!(f.ratio(), Some(20_000.0 / 90_000.0));
        assert_eq!(third.ratio(&f.c), Some(1.0));
        let md = markdown(&figures, 5);
        // Not in the main table: in their own, after it.
        let (main, own) = md
            .split_once("Measured in one guest")
            .expect("their own table");
        assert!(!main.contains(SCATTERED));
        assert!(own.contains(
            "| figure | unit | C, highest first | ours, fewest used first | \
             ours, highest first (unplug_least_used_first=0) | ours/C | \
             ours, highest first (unplug_least_used_first=0)/C |"
        ));
        assert!(own.contains(&format!(
            "| {SCATTERED}: pages migrated (pgmigrate_success) | pages | 90000 (80000–100000) | \
             20000 | 90000 | 0.22 | 1.00 |"
        )));
        assert!(own.contains(&format!(
            "| {SCATTERED}: time (device_ms) | ms | 5000 (4000–6000) | 2000 | 5000 | 0.40 | 1.00 |"
        )));
        let json = to_json(&samples, &figures, &[], 1);
        let row = json["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .find(|r| r["name"] == format!("{SCATTERED}: time (device_ms)"))
            .expect("the time row")
            .clone();
        assert_eq!(row["third"]["median"], 5000.0);
        assert_eq!(
            row["columns"][2],
            "ours, highest first (unplug_least_used_first=0)"
        );
        assert_eq!(json["samples"][2]["order"], LEAST_USED_FIRST);
        assert_eq!(json["samples"][2]["migrated"], 20_000);
        // Without scattered samples, no rows and no second table.
        let plain = markdown(&super::figures(&[], &[], &[], ((0, 0), (0, 0))), 5);
        assert!(!plain.contains("Measured in one guest"));
    }

    #[test]
    fn grow_rows_take_from_zone_normal_and_stop_for_a_reason() {
        let samples = parse_all(&[
            (
                Driver::C,
                "# bench op=grow zone=online_movable size=17179869184 device_ms=40000 cpu_ms=1 \
                 normal_free_kb=0 normal_taken_kb=0 kernel_zones_free_kb=800000 \
                 kernel_zones_taken_kb=266240",
            ),
            (
                Driver::Rust,
                "# bench op=grow zone=online_movable size=17179869184 device_ms=30000 cpu_ms=1 \
                 normal_free_kb=0 normal_taken_kb=0 kernel_zones_free_kb=800000 \
                 kernel_zones_taken_kb=10240",
            ),
            (
                Driver::C,
                "# bench op=reach zone=online_movable size=47244640256 device_ms=0 cpu_ms=0 stop=add_failed",
            ),
            (
                Driver::Rust,
                "# bench op=reach zone=online_movable size=68719476736 device_ms=0 cpu_ms=0 stop=region_end",
            ),
        ]);
        let figures = figures(&samples, &[], &[], ((0, 0), (0, 0)));
        let at = |name: &str| {
            figures
                .iter()
                .find(|f| f.name == name)
                .unwrap_or_else(|| panic!("no figure {name}"))
        };
        let normal = at("ZONE_NORMAL free memory taken by plugging 16 GiB (memmap_on_memory=1)");
        assert_eq!(
            (normal.c.as_slice(), normal.unit),
            ([0.0].as_slice(), "MiB")
        );
        // Nothing taken by either: no ratio.
        assert_eq!(normal.ratio(), None);
        let kernel = at(
            "free memory of DMA, DMA32 and Normal taken by plugging 16 GiB (memmap_on_memory=1)",
        );
        assert_eq!((kernel.c[0], kernel.rust[0]), (260.0, 10.0));
        let reach =
            at("largest size a 1 GiB guest reached (memmap_on_memory=1), and why it stopped");
        assert_eq!((reach.c[0], reach.rust[0]), (44.0, 64.0));
        assert!(reach.higher_is_better && !reach.worse(0.05));
        assert_eq!(
            reach.why,
            [
                vec!["add_failed".to_string()],
                vec!["region_end".to_string()]
            ]
        );
        let md = markdown(&figures, 5);
        assert!(md.contains(
            "| largest size a 1 GiB guest reached (memmap_on_memory=1), and why it stopped | GiB | \
             44.0, stopped: add_failed | 64.0, stopped: region_end | 1.45 | – |"
        ));
        assert!(md.contains(
            "| free memory of DMA, DMA32 and Normal taken by plugging 16 GiB \
             (memmap_on_memory=1) | MiB | 260.0 | 10.0 | 0.04 | – |"
        ));
        let json = to_json(&samples, &figures, &[], 1);
        let row = json["figures"]
            .as_array()
            .expect("figures")
            .iter()
            .find(|r| r["unit"] == "GiB")
            .expect("the reach row")
            .clone();
        assert_eq!(row["why"]["c"][0], "add_failed");
        assert_eq!(json["samples"][3]["stop"], "region_end");
        assert_eq!(json["samples"][0]["kernel_zones_taken_kb"], 266_240);
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
