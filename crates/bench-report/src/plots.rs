//! The SVG plots: scaling, peers over ours, and the matrix heat maps.

use crate::parse::{Bench, Cell, Results};
use crate::tables::{sig3, uniq};
use std::fmt::Write as _;

const COLORS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Svg {
    body: String,
    w: f64,
    h: f64,
}

impl Svg {
    fn new(w: f64, h: f64, title: &str) -> Svg {
        let mut s = Svg {
            body: String::new(),
            w,
            h,
        };
        s.text(w / 2.0, 22.0, title, 15.0, "middle");
        s
    }
    fn text(&mut self, x: f64, y: f64, t: &str, size: f64, anchor: &str) {
        let _ = writeln!(
            self.body,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{anchor}" font-family="sans-serif">{}</text>"#,
            esc(t)
        );
    }
    fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, color: &str, dash: bool) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{color}" stroke-width="1.5"{}/>"#,
            if dash {
                r#" stroke-dasharray="5,4""#
            } else {
                ""
            }
        );
    }
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            w.max(0.0),
            h.max(0.0)
        );
    }
    fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
            self.w, self.h, self.w, self.h, self.body
        )
    }
}

/// Aggregate throughput against CPUs, one line per workload and
/// allocator, with ours' linear ideal dashed.
pub fn scaling_svg(r: &Results) -> String {
    let series = r.scaling();
    let (w, h, l, t, rm, b) = (900.0, 460.0, 70.0, 55.0, 300.0, 50.0);
    let mut svg = Svg::new(w, h, &r.title("Aggregate throughput against CPUs"));
    let max_cpus = series
        .values()
        .flatten()
        .map(|p| p.0)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let mut max_y = series.values().flatten().map(|p| p.1).fold(0.0, f64::max);
    for ((_, a), pts) in &series {
        if a == "ours" {
            if let Some(p) = pts.first() {
                max_y = max_y.max(p.1 / p.0 as f64 * max_cpus);
            }
        }
    }
    let max_y = if max_y > 0.0 { max_y * 1.1 } else { 1.0 };
    let (pw, ph) = (w - l - rm, h - t - b);
    let x = |c: f64| l + (c.log2() / max_cpus.log2()) * pw;
    let y = |v: f64| t + ph - v / max_y * ph;
    svg.line(l, t + ph, l + pw, t + ph, "black", false);
    svg.line(l, t, l, t + ph, "black", false);
    let mut c = 1.0;
    while c <= max_cpus {
        svg.text(x(c), t + ph + 18.0, &format!("{c}"), 11.0, "middle");
        c *= 2.0;
    }
    svg.text(l + pw / 2.0, h - 10.0, "CPUs", 12.0, "middle");
    for i in 0..=4 {
        let v = max_y * i as f64 / 4.0;
        svg.text(l - 6.0, y(v) + 4.0, &sig3(v), 11.0, "end");
    }
    svg.text(l, t - 10.0, "Mops/s (all CPUs together)", 12.0, "middle");
    for (i, ((bench, alloc), pts)) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        for pair in pts.windows(2) {
            svg.line(
                x(pair[0].0 as f64),
                y(pair[0].1),
                x(pair[1].0 as f64),
                y(pair[1].1),
                color,
                false,
            );
        }
        for p in pts {
            svg.rect(x(p.0 as f64) - 3.0, y(p.1) - 3.0, 6.0, 6.0, color);
        }
        if alloc == "ours" {
            if let Some(p) = pts.first() {
                let per = p.1 / p.0 as f64;
                svg.line(x(1.0), y(per), x(max_cpus), y(per * max_cpus), color, true);
            }
        }
        let ly = t + 14.0 + i as f64 * 18.0;
        svg.rect(w - rm + 12.0, ly - 9.0, 12.0, 10.0, color);
        svg.text(
            w - rm + 30.0,
            ly,
            &format!("{bench}, {alloc}"),
            11.0,
            "start",
        );
    }
    let ly = t + 14.0 + series.len() as f64 * 18.0;
    svg.text(
        w - rm + 12.0,
        ly,
        "dashed: linear from ours at 1 CPU",
        11.0,
        "start",
    );
    svg.finish()
}

/// Each peer's ns per operation over ours, per single-CPU workload.
pub fn peers_svg(r: &Results) -> String {
    let peers: Vec<String> = r.allocators().into_iter().filter(|a| a != "ours").collect();
    let rows: Vec<&Bench> = r
        .single_cpu_ours()
        .into_iter()
        .filter(|b| peers.iter().any(|p| r.find(p, b).is_some()))
        .collect();
    let bar = 9.0;
    let group = bar * peers.len().max(1) as f64 + 8.0;
    let (l, t, rm) = (230.0, 60.0, 40.0);
    let h = t + rows.len() as f64 * group + 50.0;
    let w = 800.0;
    let mut svg = Svg::new(
        w,
        h,
        &r.title("Peer time per operation over ours (right of 1: ours faster)"),
    );
    let ratios: Vec<f64> = rows
        .iter()
        .flat_map(|b| {
            peers
                .iter()
                .filter_map(|p| r.find(p, b).map(|pb| pb.ns_per_op / b.ns_per_op))
        })
        .collect();
    let max_r = ratios.iter().cloned().fold(1.0, f64::max) * 1.1;
    let pw = w - l - rm;
    let x = |v: f64| l + v / max_r * pw;
    for (i, p) in peers.iter().enumerate() {
        svg.rect(
            l + i as f64 * 190.0,
            34.0,
            12.0,
            10.0,
            COLORS[(i + 1) % COLORS.len()],
        );
        svg.text(l + 16.0 + i as f64 * 190.0, 43.0, p, 11.0, "start");
    }
    for (k, b) in rows.iter().enumerate() {
        let gy = t + k as f64 * group;
        svg.text(l - 6.0, gy + group / 2.0, &b.label(), 11.0, "end");
        for (i, p) in peers.iter().enumerate() {
            if let Some(pb) = r.find(p, b) {
                let ratio = pb.ns_per_op / b.ns_per_op;
                svg.rect(
                    l,
                    gy + i as f64 * bar,
                    x(ratio) - l,
                    bar - 1.0,
                    COLORS[(i + 1) % COLORS.len()],
                );
            }
        }
    }
    let bottom = t + rows.len() as f64 * group;
    svg.line(x(1.0), t - 4.0, x(1.0), bottom, "black", true);
    svg.line(l, bottom, l + pw, bottom, "black", false);
    for i in 0..=4 {
        let v = max_r * i as f64 / 4.0;
        svg.text(x(v), bottom + 16.0, &format!("{v:.2}"), 11.0, "middle");
    }
    svg.text(
        l + pw / 2.0,
        bottom + 36.0,
        "peer ns/op divided by ours",
        12.0,
        "middle",
    );
    svg.finish()
}

/// The access matrix as a heat map of latency (`bandwidth` false) or
/// read bandwidth, each cell with its value and SLIT distance.
pub fn matrix_svg(r: &Results, bandwidth: bool) -> String {
    let mems = uniq(r.matrix.iter().map(|c| c.mem_node));
    let cpus = uniq(r.matrix.iter().map(|c| c.cpu_node));
    let cell = 78.0;
    let (l, t) = (110.0, 70.0);
    let w = (l + cell * mems.len() as f64 + 30.0).max(640.0);
    let h = t + cell * cpus.len() as f64 + 60.0;
    let what = if bandwidth {
        "Read bandwidth (MB/s)"
    } else {
        "Idle load latency (ns)"
    };
    let mut svg = Svg::new(w, h, &r.title(what));
    let value = |c: &Cell| if bandwidth { c.read_mb_s } else { c.latency_ns };
    let lo = r.matrix.iter().map(value).fold(f64::INFINITY, f64::min);
    let hi = r.matrix.iter().map(value).fold(f64::NEG_INFINITY, f64::max);
    svg.text(
        l + cell * mems.len() as f64 / 2.0,
        t - 14.0,
        "memory node",
        12.0,
        "middle",
    );
    svg.text(12.0, t + 14.0, "CPU node", 12.0, "start");
    for (j, m) in mems.iter().enumerate() {
        svg.text(
            l + cell * (j as f64 + 0.5),
            t - 2.0,
            &m.to_string(),
            11.0,
            "middle",
        );
    }
    for (i, c) in cpus.iter().enumerate() {
        svg.text(
            l - 8.0,
            t + cell * (i as f64 + 0.55),
            &c.to_string(),
            11.0,
            "end",
        );
        for (j, m) in mems.iter().enumerate() {
            let Some(x) = r
                .matrix
                .iter()
                .find(|x| x.cpu_node == *c && x.mem_node == *m)
            else {
                continue;
            };
            // Worse is darker: high latency, low bandwidth.
            let span = if hi > lo {
                (value(x) - lo) / (hi - lo)
            } else {
                0.0
            };
            let worse = if bandwidth { 1.0 - span } else { span };
            let shade = (235.0 - worse * 170.0) as u8;
            let fill = format!("rgb({shade},{shade},255)");
            let (cx, cy) = (l + cell * j as f64, t + cell * i as f64);
            svg.rect(cx + 1.0, cy + 1.0, cell - 2.0, cell - 2.0, &fill);
            let v = if bandwidth {
                format!("{:.0}", x.read_mb_s)
            } else {
                format!("{:.1}", x.latency_ns)
            };
            svg.text(cx + cell / 2.0, cy + cell / 2.0, &v, 12.0, "middle");
            svg.text(
                cx + cell / 2.0,
                cy + cell / 2.0 + 16.0,
                &format!("d={}", x.distance),
                10.0,
                "middle",
            );
        }
    }
    svg.text(
        10.0,
        h - 14.0,
        "d = SLIT distance. QEMU nodes on a one-node host are the same memory: expect a flat matrix.",
        11.0,
        "start",
    );
    svg.finish()
}
