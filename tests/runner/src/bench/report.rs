//! The figures of a bench run: medians with min–max per driver and the ratio ours/C, as a
//! Markdown table and as JSON.

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
}

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
    }
}

/// The plug and unplug requests the device got during the samples `this` picks.
fn requests(samples: &[Sample], name: String, this: impl Fn(&Sample) -> bool) -> Figure {
    figure(samples, name, "requests", false, |s| {
        this(s).then_some(s.requests? as f64)
    })
}

/// The modules' sizes, C's first: `(file, loaded)`.
pub type KoSizes = ((u64, u64), (u64, u64));

/// The five figures of one plug or unplug step, picked by `this`.
fn step_figures(
    samples: &[Sample],
    label: &str,
    this: impl Fn(&Sample) -> bool + Copy,
) -> [Figure; 5] {
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
    ]
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
                let name = format!(
                    "first {verb} after loading, {} MiB ({label})",
                    first.size >> 20
                );
                out.extend(step_figures(samples, &name, this));
            }
        }
        for op in ["plug", "unplug"] {
            for &g in sizes {
                let this = move |s: &Sample| s.op == op && s.mode == mode && s.size == g * GIB;
                out.extend(step_figures(
                    samples,
                    &format!("{op} {g} GiB ({label})"),
                    this,
                ));
            }
        }
    }
    for zone in ["online_movable", "online_kernel"] {
        let this = move |s: &Sample| s.op == "pressure" && s.mode == SBM && s.zone == zone;
        let label = format!("unplug 4 GiB under pressure ({zone})");
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
        out.push(requests(samples, format!("{label}: requests"), this));
    }
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
        });
    }
    out
}

fn cell(values: &[f64], unit: &str) -> String {
    // Percentages near 100 need decimals to show what is left (one 2 MiB subblock of 4 GiB
    // is 0.05%).
    let p = if unit == "%" { 2 } else { 0 };
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
            cell(&f.c, f.unit),
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

/// The whole run as JSON: every sample and every figure.
pub fn to_json(samples: &[Sample], figures: &[Figure], runs: usize) -> Value {
    let samples: Vec<Value> = samples
        .iter()
        .map(|s| {
            json!({
                "driver": s.driver.name(), "run": s.run, "op": s.op, "zone": s.zone, "mode": s.mode,
                "size": s.size, "device_ms": s.device_ms, "memtotal_ms": s.memtotal_ms,
                "blocks_ms": s.blocks_ms,
                "cpu_ms": s.cpu_ms, "unplugged": s.unplugged, "requests": s.requests,
            })
        })
        .collect();
    let figures: Vec<Value> = figures
        .iter()
        .map(|f| {
            let side = |v: &[f64]| match summary(v) {
                Some((m, lo, hi)) => json!({ "median": m, "min": lo, "max": hi, "values": v }),
                None => Value::Null,
            };
            json!({
                "name": f.name, "unit": f.unit, "higher_is_better": f.higher_is_better,
                "c": side(&f.c), "rust": side(&f.rust), "ratio_rust_over_c": f.ratio(),
                "p": f.p(),
            })
        })
        .collect();
    json!({ "runs_per_driver": runs, "figures": figures, "samples": samples })
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
        assert_eq!(figures.len(), 2 * 2 * 5 + 2 * 4 + 2);
    }

    #[test]
    fn samples_keep_their_request_counts() {
        let line = "# bench op=plug zone=online_movable size=1073741824 device_ms=60 \
                    memtotal_ms=100 blocks_ms=200 cpu_ms=250 plug_requests=8 unplug_requests=1";
        let sample = crate::bench::parse_sample(line, Driver::Rust, 1).expect("a sample");
        let json = to_json(&[sample], &[], 1);
        assert_eq!(json["samples"][0]["requests"], 9);
    }
}
