//! The roofline chart: attained GFLOP/s against arithmetic intensity (FLOP per compulsory byte), log-log, with the
//! measured FMA peak and triad bandwidth as roofs, one point per (layer, layout, thread count): colour = kind,
//! circle = 1 thread, square = more, filled = NHWC, hollow = NCHW.

use super::machine::Machine;
use super::report::Cell;
use plotters::prelude::*;
use std::path::Path;

const KINDS: [(&str, RGBColor); 3] =
    [("pw", RGBColor(31, 119, 180)), ("dw", RGBColor(214, 39, 40)), ("conv", RGBColor(44, 160, 44))];
const ROOFS: [RGBColor; 4] = [BLACK, RGBColor(120, 120, 120), RGBColor(148, 103, 189), RGBColor(140, 86, 75)];

/// Writes the chart to `path` (SVG).
pub fn roofline(path: &Path, machine: &Machine, cells: &[Cell], title: &str) -> Result<(), String> {
    draw(path, machine, cells, title).map_err(|e| format!("cannot draw {}: {e}", path.display()))
}

fn draw(path: &Path, machine: &Machine, cells: &[Cell], title: &str) -> Result<(), Box<dyn std::error::Error>> {
    let pts: Vec<(&Cell, f64, f64)> = cells.iter().filter_map(|c| Some((c, c.intensity(), c.gflops()?))).collect();
    let threads: Vec<usize> = machine.peak_gflops.iter().map(|&(t, _)| t).collect();
    let ridges = threads.iter().map(|&t| machine.peak(t) / machine.bandwidth(t));
    let xs = pts.iter().map(|p| p.1).chain(ridges);
    let (xmin, xmax) = xs.fold((f64::INFINITY, 0f64), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (x0, x1) = (pow10_floor(xmin.min(1.0)), pow10_ceil(xmax * 2.0));
    let ymax = threads.iter().map(|&t| machine.peak(t)).chain(pts.iter().map(|p| p.2)).fold(0f64, f64::max);
    let ymin = pts.iter().map(|p| p.2).chain([machine.bandwidth(threads[0]) * x0]).fold(f64::INFINITY, f64::min);
    let (y0, y1) = (pow10_floor(ymin), pow10_ceil(ymax * 1.5));

    let root = SVGBackend::new(path, (1100, 750)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("arithmetic intensity (FLOP per compulsory byte: input + weights + output)")
        .y_desc("attained GFLOP/s")
        .x_label_formatter(&|v| format!("{v}"))
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;

    for (i, &t) in threads.iter().enumerate() {
        let (peak, bw) = (machine.peak(t), machine.bandwidth(t));
        let color = ROOFS[i % ROOFS.len()];
        let ridge = peak / bw;
        let line: Vec<(f64, f64)> = [x0, ridge.clamp(x0, x1), x1].iter().map(|&x| (x, (bw * x).min(peak))).collect();
        chart
            .draw_series(LineSeries::new(line, color.stroke_width(2)))?
            .label(format!("roof, {t} thread(s): {peak:.0} GFLOP/s FMA peak, {bw:.1} GB/s triad"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }

    for (kind, color) in KINDS {
        for (t_idx, &t) in threads.iter().enumerate() {
            for layout in ["nhwc", "nchw"] {
                let sel: Vec<(f64, f64)> = pts
                    .iter()
                    .filter(|(c, _, _)| c.kind == kind && c.threads == t && c.layout == layout)
                    .map(|&(_, x, y)| (x, y))
                    .collect();
                if sel.is_empty() {
                    continue;
                }
                let style = if layout == "nhwc" { color.filled() } else { color.stroke_width(2) };
                let label = format!("{kind}, {layout}, {t} thread(s)");
                if t_idx == 0 {
                    chart
                        .draw_series(sel.iter().map(|&p| Circle::new(p, 5, style)))?
                        .label(label)
                        .legend(move |(x, y)| Circle::new((x + 10, y), 5, style));
                } else {
                    chart
                        .draw_series(
                            sel.iter().map(|&p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], style)),
                        )?
                        .label(label)
                        .legend(move |(x, y)| Rectangle::new([(x + 6, y - 4), (x + 14, y + 4)], style));
                }
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn pow10_floor(x: f64) -> f64 {
    10f64.powf(x.max(1e-6).log10().floor())
}

fn pow10_ceil(x: f64) -> f64 {
    10f64.powf(x.max(1e-6).log10().ceil())
}
