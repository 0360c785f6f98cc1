//! The SVG plots: scaling, peers over ours, and the matrix heat maps,
//! drawn with plotters' SVG backend (axes, ticks, legends and text
//! escaping are its job, not ours).

use crate::parse::{Bench, Cell, Results};
use crate::tables::{sig3, uniq};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A drawing error from plotters, as text (the SVG backend writes to a
/// string, so in practice only a bad layout can produce one).
pub type PlotError = String;

const PALETTE: [RGBColor; 10] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x7f, 0x7f, 0x7f),
    RGBColor(0xbc, 0xbd, 0x22),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn err(e: impl std::fmt::Display) -> PlotError {
    format!("plotting failed: {e}")
}

/// Renders `draw` onto a white `w`x`h` SVG canvas and returns the SVG.
fn render(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Aggregate throughput against CPUs (log 2 axis), one line per workload
/// and allocator, with ours' linear ideal dashed.
pub fn scaling_svg(r: &Results) -> Result<String, PlotError> {
    let series = r.scaling();
    let max_cpus = series
        .values()
        .flatten()
        .map(|p| p.0)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let ideal = |pts: &[(u64, f64)]| pts.first().map(|p| p.1 / p.0 as f64);
    let mut max_y = series.values().flatten().map(|p| p.1).fold(0.0, f64::max);
    for ((_, a), pts) in &series {
        if a == "ours" {
            if let Some(per) = ideal(pts) {
                max_y = max_y.max(per * max_cpus);
            }
        }
    }
    let max_y = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };
    render(900, 460, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                r.title("Aggregate throughput against CPUs"),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((1.0..max_cpus).log_scale(), 0.0..max_y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("CPUs")
            .y_desc("Mops/s (all CPUs together)")
            .x_label_formatter(&|c| format!("{c:.0}"))
            .y_label_formatter(&|v| sig3(*v))
            .draw()
            .map_err(err)?;
        for (i, ((bench, alloc), pts)) in series.iter().enumerate() {
            let c = color(i);
            let xy = pts.iter().map(|p| (p.0 as f64, p.1));
            chart
                .draw_series(LineSeries::new(xy, c.stroke_width(2)))
                .map_err(err)?
                .label(format!("{bench}, {alloc}"))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
            chart
                .draw_series(PointSeries::of_element(
                    pts.iter().map(|p| (p.0 as f64, p.1)),
                    3,
                    c.filled(),
                    &|p, s, st| Circle::new(p, s, st),
                ))
                .map_err(err)?;
            if alloc == "ours" {
                if let Some(per) = ideal(pts) {
                    chart
                        .draw_series(DashedLineSeries::new(
                            [(1.0, per), (max_cpus, per * max_cpus)],
                            5,
                            4,
                            c.stroke_width(1),
                        ))
                        .map_err(err)?
                        .label(format!("{bench}, linear from ours at 1 CPU"))
                        .legend(move |(x, y)| {
                            DashedPathElement::new([(x, y), (x + 12, y)], 3, 2, c.stroke_width(1))
                        });
                }
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    })
}

/// Each peer's ns per operation over ours, per single-CPU workload, as
/// grouped horizontal bars (right of the dashed 1: ours faster).
pub fn peers_svg(r: &Results) -> Result<String, PlotError> {
    let peers: Vec<String> = r.allocators().into_iter().filter(|a| a != "ours").collect();
    let rows: Vec<&Bench> = r
        .single_cpu_ours()
        .into_iter()
        .filter(|b| peers.iter().any(|p| r.find(p, b).is_some()))
        .collect();
    let series: Vec<(String, Vec<Option<f64>>)> = peers
        .iter()
        .map(|p| {
            let ratios = rows
                .iter()
                .map(|b| r.find(p, b).map(|pb| pb.ns_per_op / b.ns_per_op))
                .collect();
            (p.clone(), ratios)
        })
        .collect();
    let labels: Vec<String> = rows.iter().map(|b| b.label()).collect();
    ratio_bars_svg(
        &r.title("Peer time per operation over ours (right of 1: ours faster)"),
        "peer ns/op divided by ours",
        &labels,
        &series,
        1,
        220,
    )
}

/// Grouped horizontal bars of ratios: one row per label, one bar per
/// series in each row (None: no bar), a dashed line at 1. `first_color`
/// offsets the palette; `label_width` is the room for the row labels.
fn ratio_bars_svg(
    title: &str,
    x_desc: &str,
    labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
    first_color: usize,
    label_width: u32,
) -> Result<String, PlotError> {
    let max_r = series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied())
        .fold(1.0, f64::max)
        * 1.1;
    let bar = 1.0 / (series.len().max(1) as f64 + 1.0);
    let n = labels.len().max(1) as f64;
    let h = 110 + (labels.len().max(1) * (series.len().max(1) * 9 + 8)) as u32;
    render(800, h, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0.0..max_r, 0.0..n)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_y_axis()
            .x_desc(x_desc)
            .x_label_formatter(&|v| format!("{v:.2}"))
            .draw()
            .map_err(err)?;
        // Row k runs from n-k-1 to n-k (the first label on top).
        let row_top = |k: usize| n - k as f64;
        for (i, (name, values)) in series.iter().enumerate() {
            let c = color(i + first_color);
            let bars = values.iter().enumerate().filter_map(|(k, v)| {
                let top = row_top(k) - bar * (i as f64 + 0.5);
                v.map(|v| Rectangle::new([(0.0, top), (v, top - bar * 0.9)], c.filled()))
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .draw_series(DashedLineSeries::new(
                [(1.0, 0.0), (1.0, n)],
                5,
                4,
                BLACK.stroke_width(1),
            ))
            .map_err(err)?;
        let label = ("sans-serif", 11)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (k, text) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, row_top(k) - 0.5));
            root.draw(&Text::new(text.as_str(), (x - 6, y), label.clone()))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)
    })
}

/// The headline workloads a sweep plot compares across VMs (as the
/// README's benchmark table has them): (bench, size or order, label).
pub const SWEEP_HEADLINE: [(&str, u64, &str); 5] = [
    ("slab_pair", 64, "slab_pair 64"),
    ("cache_pair", 192, "cache_pair"),
    ("page_pair", 0, "page_pair 0"),
    ("page_batch", 0, "page_batch"),
    ("slab_batch", 1024, "slab_batch 1024"),
];

/// The fastest peer's time over ours for one single-CPU workload of a
/// run (above 1: ours faster); None when either side is missing.
pub fn best_peer_over_ours(r: &Results, bench: &str, size: u64) -> Option<f64> {
    let ours = r.benches.iter().find(|b| {
        b.allocator == "ours"
            && b.bench == bench
            && b.size == size
            && b.cpus == 1
            && b.target_node.is_none()
    })?;
    r.benches
        .iter()
        .filter(|b| {
            b.allocator != "ours"
                && (&b.bench, &b.size_key, b.size, b.cpus, b.target_node)
                    == (&ours.bench, &ours.size_key, ours.size, 1, None)
        })
        .map(|b| b.ns_per_op / ours.ns_per_op)
        .reduce(f64::min)
}

/// A topology sweep's headline workloads side by side: per workload one
/// bar per VM, the fastest peer's time over ours (right of the dashed 1:
/// ours faster than every peer).
pub fn sweep_svg(runs: &[(String, Results)]) -> Result<String, PlotError> {
    let series: Vec<(String, Vec<Option<f64>>)> = runs
        .iter()
        .map(|(name, r)| {
            let ratios = SWEEP_HEADLINE
                .iter()
                .map(|&(bench, size, _)| best_peer_over_ours(r, bench, size))
                .collect();
            (name.clone(), ratios)
        })
        .collect();
    let labels: Vec<String> = SWEEP_HEADLINE.iter().map(|h| h.2.to_string()).collect();
    let accel = runs.first().map_or("", |(_, r)| r.accelerator.as_str());
    ratio_bars_svg(
        &format!(
            "Topology sweep under {accel}: fastest peer's time over ours (right of 1: ours faster)"
        ),
        "fastest peer ns/op divided by ours",
        &labels,
        &series,
        0,
        140,
    )
}

/// The access matrix as a heat map of latency (`bandwidth` false) or
/// read bandwidth, each cell with its value and SLIT distance; worse is
/// darker.
pub fn matrix_svg(r: &Results, bandwidth: bool) -> Result<String, PlotError> {
    let mems = uniq(r.matrix.iter().map(|c| c.mem_node));
    let cpus = uniq(r.matrix.iter().map(|c| c.cpu_node));
    let what = if bandwidth {
        "Read bandwidth (MB/s)"
    } else {
        "Idle load latency (ns)"
    };
    let value = |c: &Cell| if bandwidth { c.read_mb_s } else { c.latency_ns };
    let lo = r.matrix.iter().map(value).fold(f64::INFINITY, f64::min);
    let hi = r.matrix.iter().map(value).fold(f64::NEG_INFINITY, f64::max);
    let cell = 78;
    let w = (150 + cell * mems.len() as u32).max(640);
    let h = 150 + cell * cpus.len() as u32;
    let (nm, nc) = (mems.len().max(1) as f64, cpus.len().max(1) as f64);
    render(w, h, |root| {
        let (plot, footer) = root.split_vertically(h - 30);
        let mut chart = ChartBuilder::on(&plot)
            .caption(r.title(what), ("sans-serif", 15))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..nm, 0.0..nc)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(0)
            .y_labels(0)
            .x_desc("memory node")
            .y_desc("CPU node")
            .draw()
            .map_err(err)?;
        // Node numbers beside the cells (the axes' own ticks would fall on
        // round values, not on cell centres). The first CPU node on top:
        // row i is drawn at nc-i-1.
        let tick = |h, v| {
            ("sans-serif", 11)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, v))
        };
        for (j, m) in mems.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(j as f64 + 0.5, 0.0));
            root.draw(&Text::new(
                m.to_string(),
                (x, y + 6),
                tick(HPos::Center, VPos::Top),
            ))
            .map_err(err)?;
        }
        for (i, c) in cpus.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, nc - 0.5 - i as f64));
            root.draw(&Text::new(
                c.to_string(),
                (x - 8, y),
                tick(HPos::Right, VPos::Center),
            ))
            .map_err(err)?;
        }
        let centered = ("sans-serif", 12)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Center));
        for (i, c) in cpus.iter().enumerate() {
            for (j, m) in mems.iter().enumerate() {
                let Some(x) = r
                    .matrix
                    .iter()
                    .find(|x| x.cpu_node == *c && x.mem_node == *m)
                else {
                    continue;
                };
                let span = if hi > lo {
                    (value(x) - lo) / (hi - lo)
                } else {
                    0.0
                };
                let worse = if bandwidth { 1.0 - span } else { span };
                let shade = (235.0 - worse * 170.0) as u8;
                let (x0, y0) = (j as f64, nc - 1.0 - i as f64);
                chart
                    .draw_series([Rectangle::new(
                        [(x0 + 0.02, y0 + 0.02), (x0 + 0.98, y0 + 0.98)],
                        RGBColor(shade, shade, 255).filled(),
                    )])
                    .map_err(err)?;
                let v = if bandwidth {
                    format!("{:.0}", x.read_mb_s)
                } else {
                    format!("{:.1}", x.latency_ns)
                };
                chart
                    .draw_series([
                        Text::new(v, (x0 + 0.5, y0 + 0.6), centered.clone()),
                        Text::new(
                            format!("d={}", x.distance),
                            (x0 + 0.5, y0 + 0.35),
                            centered.clone(),
                        ),
                    ])
                    .map_err(err)?;
            }
        }
        footer
            .draw(&Text::new(
                "d = SLIT distance. QEMU nodes on a one-node host are the same memory: expect a flat matrix.",
                (10, 10),
                ("sans-serif", 11).into_font().color(&BLACK),
            ))
            .map_err(err)
    })
}
