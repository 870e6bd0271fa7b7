//! The bench plot's panels for two figures of the first run (laid out by `plot.rs`, below the
//! converge panel): the pages the partial unplug with scattered use migrated, per driver and
//! order; and the largest size a 1 GiB guest grew to, per driver, next to what plugging the
//! first 16 GiB took of the kernel's zones. Each is there only when its guests ran.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::bench::report::{summary, SCATTERED};
use crate::bench::{Sample, GROW_FIRST_GIB, HIGHEST_FIRST, LEAST_USED_FIRST};
use crate::check::cases::{Driver, GIB};

/// One bar: the median of its values with their min–max as an error bar, its driver (and
/// order) under it and the figure in words above it.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub color: RGBAColor,
    /// Median, minimum, maximum.
    pub value: (f64, f64, f64),
    pub note: String,
}

/// A bar chart: its caption, the unit of its y axis, and its bars, left to right.
#[derive(Debug, Clone)]
pub struct BarChart {
    pub caption: String,
    pub unit: &'static str,
    pub bars: Vec<Bar>,
}

/// The panels of the first-run figures that the samples have, top to bottom, each one or more
/// charts side by side: the scattered unplug, then growing.
pub fn panels(samples: &[Sample]) -> Vec<Vec<BarChart>> {
    let scattered = BarChart {
        caption: format!("{SCATTERED}: pages migrated"),
        unit: "pages",
        bars: scattered_bars(samples),
    };
    let reach = BarChart {
        caption: "largest size a 1 GiB guest reached (why it stopped)".to_string(),
        unit: "GiB",
        bars: reach_bars(samples),
    };
    let taken = BarChart {
        caption: format!("kernel zones' free memory taken by plugging {GROW_FIRST_GIB} GiB"),
        unit: "MiB",
        bars: taken_bars(samples),
    };
    [vec![scattered], vec![reach, taken]]
        .into_iter()
        .map(|charts| charts.into_iter().filter(|c| !c.bars.is_empty()).collect())
        .filter(|charts: &Vec<BarChart>| !charts.is_empty())
        .collect()
}

/// A bar per column of the report's table: C (highest first), ours fewest used first (its
/// default) and ours highest first (`unplug_least_used_first=0`, a lighter red): the last is
/// C's order, so it tells what the order saves from what the rest of the driver does.
fn scattered_bars(samples: &[Sample]) -> Vec<Bar> {
    let columns = [
        (Driver::C, HIGHEST_FIRST, "C driver", BLUE.to_rgba()),
        (
            Driver::Rust,
            LEAST_USED_FIRST,
            "virtio_mem_rs",
            RED.to_rgba(),
        ),
        (Driver::Rust, HIGHEST_FIRST, "virtio_mem_rs", RED.mix(0.45)),
    ];
    columns
        .into_iter()
        .filter_map(|(driver, order, name, color)| {
            let mine: Vec<&Sample> = samples
                .iter()
                .filter(|s| {
                    s.driver == driver && s.op == "scattered" && s.order.as_deref() == Some(order)
                })
                .collect();
            let pages: Vec<f64> = mine
                .iter()
                .filter_map(|s| s.migrated)
                .map(|m| m as f64)
                .collect();
            let value = summary(&pages)?;
            // The time is in the table; above the bar it tells a cheap migration from a slow one.
            let secs: Vec<f64> = mine.iter().map(|s| s.device_ms / 1000.0).collect();
            let time = summary(&secs).map_or(String::new(), |(t, _, _)| format!(" in {t:.1} s"));
            Some(Bar {
                label: format!("{name}, {order}"),
                color,
                value,
                note: format!("{:.0} pages{time}", value.0),
            })
        })
        .collect()
}

/// C and ours, each with the GiB reached and, above the bar, why growing stopped.
fn reach_bars(samples: &[Sample]) -> Vec<Bar> {
    per_driver(samples, "reach", |s| Some(s.size as f64 / GIB as f64))
        .into_iter()
        .map(|(mut bar, mine)| {
            let mut stops: Vec<&str> = Vec::new();
            for stop in mine.iter().filter_map(|s| s.stop.as_deref()) {
                if !stops.contains(&stop) {
                    stops.push(stop);
                }
            }
            bar.note = format!("{:.0} GiB", bar.value.0);
            if !stops.is_empty() {
                bar.note.push_str(&format!(" ({})", stops.join(", ")));
            }
            bar
        })
        .collect()
}

/// What plugging the first 16 GiB took of the free memory of DMA, DMA32 and Normal (with
/// 1 GiB of boot memory, some 900 MiB): a memory map that does not come from the memory
/// added comes from there, and running out of it stops a guest growing.
fn taken_bars(samples: &[Sample]) -> Vec<Bar> {
    per_driver(samples, "grow", |s| {
        s.kernel_zones_taken_kb.map(|kb| kb as f64 / 1024.0)
    })
    .into_iter()
    .map(|(mut bar, _)| {
        bar.note = format!("{:.0} MiB", bar.value.0);
        bar
    })
    .collect()
}

/// A bar per driver with samples of `op` that `pick` takes a value of (without a note), with
/// those samples.
fn per_driver<'a>(
    samples: &'a [Sample],
    op: &str,
    pick: fn(&Sample) -> Option<f64>,
) -> Vec<(Bar, Vec<&'a Sample>)> {
    [
        (Driver::C, "C driver", BLUE),
        (Driver::Rust, "virtio_mem_rs", RED),
    ]
    .into_iter()
    .filter_map(|(driver, label, color)| {
        let mine: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.driver == driver && s.op == op)
            .collect();
        let values: Vec<f64> = mine.iter().filter_map(|s| pick(s)).collect();
        let bar = Bar {
            label: label.to_string(),
            color: color.to_rgba(),
            value: summary(&values)?,
            note: String::new(),
        };
        Some((bar, mine))
    })
    .collect()
}

/// Draws a panel's charts side by side into `area`.
pub fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    charts: &[BarChart],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (chart, part) in charts
        .iter()
        .zip(area.split_evenly((1, charts.len().max(1))))
    {
        draw_bars(&part, chart)?;
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    shown: &BarChart,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let n = shown.bars.len();
    // Room above the highest bar for its note.
    let max_y = shown.bars.iter().map(|b| b.value.2).fold(1.0, f64::max) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(&shown.caption, ("sans-serif", 14))
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n as f64 - 0.5, 0.0..max_y)?;
    let labels: Vec<&str> = shown.bars.iter().map(|b| b.label.as_str()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        // Over n - 1 units, n labels fall on the whole numbers: one under each bar.
        .x_labels(n)
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            let at = (x - i).abs() < 1e-6 && i >= 0.0;
            at.then(|| labels.get(i as usize))
                .flatten()
                .map_or(String::new(), |l| l.to_string())
        })
        .y_desc(shown.unit)
        .draw()?;
    let note_style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
    for (i, bar) in shown.bars.iter().enumerate() {
        let x = i as f64;
        let (median, lo, hi) = bar.value;
        chart.draw_series([Rectangle::new(
            [(x - 0.3, 0.0), (x + 0.3, median)],
            bar.color.filled(),
        )])?;
        // One sample (the first run's usual case) has no spread to show.
        if hi > lo {
            chart.draw_series([ErrorBar::new_vertical(x, lo, median, hi, BLACK.filled(), 8)])?;
        }
        chart.draw_series([Text::new(
            bar.note.clone(),
            (x, hi + max_y * 0.02),
            note_style.clone(),
        )])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::parse_sample;
    use crate::bench::plot::draw;

    fn parse_all(lines: &[(Driver, String)]) -> Vec<Sample> {
        lines
            .iter()
            .map(|(d, l)| parse_sample(l, *d, 1).expect("a sample"))
            .collect()
    }

    fn first_run() -> Vec<Sample> {
        let scattered = |order: &str, migrated: u32| {
            format!(
                "# bench op=scattered order={order} zone=online_movable size={GIB} \
                 migrated={migrated} device_ms=5300 cpu_ms=1"
            )
        };
        let grow = |taken_kb: u32| {
            format!(
                "# bench op=grow zone=online_movable size={} device_ms=40000 cpu_ms=1 \
                 normal_free_kb=0 normal_taken_kb=0 kernel_zones_free_kb=800000 \
                 kernel_zones_taken_kb={taken_kb}",
                16 * GIB
            )
        };
        let reach = |gib: u64, stop: &str| {
            format!(
                "# bench op=reach zone=online_movable size={} device_ms=0 cpu_ms=0 stop={stop}",
                gib * GIB
            )
        };
        parse_all(&[
            (Driver::C, scattered(HIGHEST_FIRST, 90_000)),
            (Driver::Rust, scattered(LEAST_USED_FIRST, 20_000)),
            (Driver::Rust, scattered(HIGHEST_FIRST, 85_000)),
            (Driver::C, grow(266_240)),
            (Driver::Rust, grow(10_240)),
            (Driver::C, reach(44, "add_failed")),
            (Driver::Rust, reach(96, "region_end")),
        ])
    }

    #[test]
    fn bars_per_driver_and_order() {
        let p = panels(&first_run());
        assert_eq!(p.len(), 2);
        let labels: Vec<&str> = p[0][0].bars.iter().map(|b| b.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "C driver, highest-first",
                "virtio_mem_rs, least-used-first",
                "virtio_mem_rs, highest-first"
            ]
        );
        assert_eq!(p[0][0].bars[1].value, (20_000.0, 20_000.0, 20_000.0));
        assert_eq!(p[0][0].bars[1].note, "20000 pages in 5.3 s");
        let (reach, taken) = (&p[1][0], &p[1][1]);
        assert_eq!((reach.bars[0].value.0, reach.bars[1].value.0), (44.0, 96.0));
        assert_eq!(reach.bars[0].note, "44 GiB (add_failed)");
        assert_eq!(
            (taken.bars[0].value.0, taken.bars[1].value.0),
            (260.0, 10.0)
        );
        // Only the figures measured: a grow guest that stopped before printing its reach.
        let grown_only: Vec<Sample> = first_run().into_iter().filter(|s| s.op == "grow").collect();
        let p = panels(&grown_only);
        assert_eq!((p.len(), p[0].len(), p[0][0].unit), (1, 1, "MiB"));
        assert!(panels(&[]).is_empty());
    }

    #[test]
    fn the_plot_has_the_first_run_panels_only_when_measured() {
        let dir = std::env::temp_dir().join(format!("vmrs-plot-first-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let plug = format!("# bench op=plug zone=online_movable size={GIB} device_ms=100 cpu_ms=1");
        let plain = parse_all(&[(Driver::C, plug)]);
        let mut samples = plain.clone();
        samples.extend(first_run());
        let svg = |samples: &[Sample], name: &str| {
            let path = dir.join(name);
            draw(&path, samples, &[1]).expect("drawn");
            std::fs::read_to_string(&path).expect("the plot")
        };
        let (with, without) = (svg(&samples, "with.svg"), svg(&plain, "without.svg"));
        let _ = std::fs::remove_dir_all(&dir);
        let captions = [
            "scattered use",
            "pages migrated",
            "largest size a 1 GiB guest reached",
            "taken by plugging 16 GiB",
        ];
        for caption in captions {
            assert!(with.contains(caption), "no {caption}");
            assert!(!without.contains(caption), "{caption} without samples");
        }
        // Every bar's label under it, and why growing stopped above it.
        for words in [
            "least-used-first",
            "virtio_mem_rs, highest-first",
            "(add_failed)",
        ] {
            assert!(with.contains(words), "no {words}");
        }
        assert!(with.contains("min-max") && without.contains("min-max"));
    }
}
