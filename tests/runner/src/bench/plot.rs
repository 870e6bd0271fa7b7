//! The bench plot: device time against size, plug and unplug, for both drivers (SVG), in Sub
//! Block Mode (the Big Block Mode rows are in the table only).

use std::path::Path;

use plotters::prelude::*;

use crate::bench::report::summary;
use crate::bench::{Sample, SBM};
use crate::check::cases::{Driver, GIB};

/// Median device time per size for `driver` and `op`, as (GiB, ms) points.
fn series(samples: &[Sample], driver: Driver, op: &str, sizes_gib: &[u64]) -> Vec<(f64, f64)> {
    sizes_gib
        .iter()
        .filter_map(|&g| {
            let v: Vec<f64> = samples
                .iter()
                .filter(|s| s.driver == driver && s.op == op && s.mode == SBM && s.size == g * GIB)
                .map(|s| s.device_ms)
                .collect();
            summary(&v).map(|(m, _, _)| (g as f64, m))
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
        .flat_map(|(s, _, _)| s.iter().map(|p| p.1))
        .fold(1.0, f64::max);
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "virtio-mem: device time to reach the requested size (median, TCG)",
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
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 3, color.filled())),
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
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
