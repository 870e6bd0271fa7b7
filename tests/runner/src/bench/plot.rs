//! The bench plot: device time against size, plug and unplug, for both drivers (SVG), in Sub
//! Block Mode (the Big Block Mode rows are in the table only), each point the median with its
//! spread (min–max) as an error bar; and below it, each only when its guests ran (the first
//! run's): the time from the memory freed to the requested size after pressure, per zone and
//! driver; the pages the partial unplug with scattered use migrated, a bar per driver and order;
//! and the largest size a 1 GiB guest grew to, a bar per driver with why it stopped, next to
//! what plugging its first 16 GiB took of the kernel zones' free memory (those two panels in
//! `plot_first_run.rs`).

use std::path::Path;

use plotters::prelude::*;

use crate::bench::plot_first_run;
use crate::bench::report::summary;
use crate::bench::{Sample, SBM};
use crate::check::cases::{Driver, GIB};

/// A point: x, then the median, minimum and maximum of y.
type Point = (f64, f64, f64, f64);

/// Device time per size for `driver` and `op`, as (GiB, median ms, min, max) points.
fn series(samples: &[Sample], driver: Driver, op: &str, sizes_gib: &[u64]) -> Vec<Point> {
    sizes_gib
        .iter()
        .filter_map(|&g| {
            let v: Vec<f64> = samples
                .iter()
                .filter(|s| s.driver == driver && s.op == op && s.mode == SBM && s.size == g * GIB)
                .map(|s| s.device_ms)
                .collect();
            summary(&v).map(|(m, lo, hi)| (g as f64, m, lo, hi))
        })
        .collect()
}

/// Draws the plot into `path`.
pub fn draw(path: &Path, samples: &[Sample], sizes_gib: &[u64]) -> Result<(), String> {
    let lines = [
        (Driver::C, "plug", "C driver, plug", BLUE),
        (Driver::Rust, "plug", "virtio_mem_rs, plug", RED),
        (Driver::C, "unplug", "C driver, unplug", CYAN),
        (Driver::Rust, "unplug", "virtio_mem_rs, unplug", MAGENTA),
    ];
    let data: Vec<_> = lines
        .iter()
        .map(|(d, op, label, color)| (series(samples, *d, op, sizes_gib), *label, *color))
        .collect();
    let max_x = sizes_gib.iter().copied().max().unwrap_or(1) as f64;
    let max_y = data
        .iter()
        .flat_map(|(s, _, _)| s.iter().map(|p| p.3))
        .fold(1.0, f64::max);
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let converge = converge_points(samples);
    let first_run = plot_first_run::panels(samples);
    let below = usize::from(!converge.is_empty()) + first_run.len();
    let height = 500 + 350 * below as u32;
    let root = SVGBackend::new(path, (800, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(500);
    // split_evenly() divides by the number of rows.
    let mut rows = if below == 0 {
        Vec::new()
    } else {
        bottom.split_evenly((below, 1))
    }
    .into_iter();
    let mut chart = ChartBuilder::on(&top)
        .caption(
            "virtio-mem: device time to reach the requested size (median, min-max; TCG)",
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..max_x * 1.05, 0.0..max_y * 1.15)
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("size (GiB)")
        .y_desc("time (ms)")
        .draw()
        .map_err(|e| err(&e))?;
    for (points, label, color) in data {
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.0, p.1)),
                color.stroke_width(2),
            ))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, color.filled(), 6)),
            )
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| err(&e))?;
    if !converge.is_empty() {
        if let Some(row) = rows.next() {
            draw_converge(&row, &converge).map_err(|e| err(&e))?;
        }
    }
    for (charts, row) in first_run.iter().zip(rows) {
        plot_first_run::draw_panel(&row, charts).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// The zones of the converge panel, in its x order.
const ZONES: [&str; 2] = ["online_movable", "online_kernel"];

/// Converge times in seconds per driver, as (x, median, min, max): x is the zone's index,
/// C just left of it and ours just right.
fn converge_points(samples: &[Sample]) -> Vec<(Driver, Point)> {
    let mut out = Vec::new();
    for (i, zone) in ZONES.iter().enumerate() {
        for (driver, dx) in [(Driver::C, -0.1), (Driver::Rust, 0.1)] {
            let v: Vec<f64> = samples
                .iter()
                .filter(|s| s.driver == driver && s.op == "converge" && s.zone == *zone)
                .map(|s| s.device_ms / 1000.0)
                .collect();
            if let Some((m, lo, hi)) = summary(&v) {
                out.push((driver, (i as f64 + dx, m, lo, hi)));
            }
        }
    }
    out
}

fn draw_converge<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    points: &[(Driver, Point)],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let max_y = points.iter().map(|(_, p)| p.3).fold(1.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "time from the memory freed to the requested size, after pressure (s)",
            ("sans-serif", 16),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..1.5, 0.0..max_y * 1.15)?;
    chart
        .configure_mesh()
        .x_labels(2)
        .x_label_formatter(&|x: &f64| {
            let i = x.round();
            if (x - i).abs() < 1e-6 && (0.0..2.0).contains(&i) {
                ZONES[i as usize].to_string()
            } else {
                String::new()
            }
        })
        .y_desc("time (s)")
        .draw()?;
    for (driver, label, color) in [
        (Driver::C, "C driver", BLUE),
        (Driver::Rust, "virtio_mem_rs", RED),
    ] {
        let mine: Vec<Point> = points
            .iter()
            .filter(|(d, _)| *d == driver)
            .map(|(_, p)| *p)
            .collect();
        chart
            .draw_series(
                mine.iter()
                    .map(|p| ErrorBar::new_vertical(p.0, p.2, p.1, p.3, color.filled(), 8)),
            )?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
        chart.draw_series(
            mine.iter()
                .map(|p| Circle::new((p.0, p.1), 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::parse_sample;

    #[test]
    fn draws_spread_and_the_converge_panel() {
        let mut samples = Vec::new();
        for (run, ms) in [(1, 100.0), (2, 300.0)] {
            for driver in [Driver::C, Driver::Rust] {
                let plug = format!(
                    "# bench op=plug zone=online_movable size={GIB} device_ms={ms} cpu_ms=1"
                );
                samples.push(parse_sample(&plug, driver, run).expect("a sample"));
            }
        }
        let converge =
            "# bench op=converge zone=online_kernel size=1 device_ms=30000 cpu_ms=1 hold_ms=1";
        samples.push(parse_sample(converge, Driver::C, 1).expect("a sample"));
        let dir = std::env::temp_dir().join(format!("vmrs-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("bench.svg");
        draw(&path, &samples, &[1]).expect("drawn");
        let svg = std::fs::read_to_string(&path).expect("the plot");
        let _ = std::fs::remove_dir_all(&dir);
        assert!(svg.contains("min-max") && svg.contains("after pressure"));
        // Only zones with samples get points: C's online_kernel one.
        assert_eq!(converge_points(&samples).len(), 1);
    }
}
