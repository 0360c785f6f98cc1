//! Reads a benchmark results file (the kernel's `BENCH*` lines, plus the
//! `BENCH_RUN` line run-qemu.sh adds) and renders:
//!
//! - `report.md`: the single-CPU workloads with every allocator's figure
//!   and its ratio to ours, the scaling of the parallel workloads (with
//!   the efficiency against linear), the locality of our allocations per
//!   node, and the access matrix with the SLIT distances;
//! - `scaling.svg`: aggregate throughput against the number of CPUs;
//! - `peers.svg`: each peer's time per operation over ours;
//! - `matrix-latency.svg`, `matrix-bandwidth.svg`: the access matrix as
//!   heat maps, the distance in each cell.
//!
//! Every title names the topology and the accelerator.
#![forbid(unsafe_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq)]
pub struct Bench {
    pub bench: String,
    /// "size" or "order", and its value.
    pub size_key: String,
    pub size: u64,
    pub cpus: u64,
    pub ops: u64,
    pub ns_per_op: f64,
    pub allocator: String,
    /// page_node's target.
    pub target_node: Option<u64>,
}

impl Bench {
    fn label(&self) -> String {
        match self.target_node {
            Some(t) => format!("{} {}={} to node {t}", self.bench, self.size_key, self.size),
            None => format!("{} {}={}", self.bench, self.size_key, self.size),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    pub cpu_node: u64,
    pub mem_node: u64,
    pub distance: u64,
    pub latency_ns: f64,
    pub read_mb_s: f64,
}

#[derive(Default, Debug)]
pub struct Results {
    pub topology: String,
    pub accelerator: String,
    pub date: String,
    pub meta: Option<Value>,
    pub benches: Vec<Bench>,
    pub locality: Vec<Value>,
    pub matrix: Vec<Cell>,
    pub notes: Vec<String>,
    /// Lines that could not be read, said, not dropped silently.
    pub warnings: Vec<String>,
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

impl Results {
    pub fn parse(input: &str) -> Results {
        let mut r = Results::default();
        for (n, line) in input.lines().enumerate() {
            let line = line.trim_end();
            let Some((tag, json)) = line.split_once(' ') else {
                continue;
            };
            if !tag.starts_with("BENCH") {
                continue;
            }
            let v: Value = match serde_json::from_str(json) {
                Ok(v) => v,
                Err(e) => {
                    r.warnings
                        .push(format!("line {}: {tag}: not JSON ({e})", n + 1));
                    continue;
                }
            };
            match tag {
                "BENCH_RUN" => {
                    r.topology = text(&v, "topology").unwrap_or_default();
                    r.accelerator = text(&v, "accelerator").unwrap_or_default();
                    r.date = text(&v, "date").unwrap_or_default();
                }
                "BENCH_META" => r.meta = Some(v),
                "BENCH_LOCALITY" => r.locality.push(v),
                "BENCH_NOTE" => r.notes.extend(text(&v, "note")),
                "BENCH_MATRIX" => match (
                    num(&v, "cpu_node"),
                    num(&v, "mem_node"),
                    num(&v, "distance"),
                    num(&v, "latency_ns"),
                    num(&v, "read_mb_s"),
                ) {
                    (Some(c), Some(m), Some(d), Some(l), Some(b)) => r.matrix.push(Cell {
                        cpu_node: c as u64,
                        mem_node: m as u64,
                        distance: d as u64,
                        latency_ns: l,
                        read_mb_s: b,
                    }),
                    _ => r
                        .warnings
                        .push(format!("line {}: BENCH_MATRIX lacks a field", n + 1)),
                },
                "BENCH" => {
                    let (size_key, size) = match (num(&v, "size"), num(&v, "order")) {
                        (Some(s), _) => ("size", s),
                        (None, Some(o)) => ("order", o),
                        _ => {
                            r.warnings
                                .push(format!("line {}: BENCH without size or order", n + 1));
                            continue;
                        }
                    };
                    match (
                        text(&v, "bench"),
                        num(&v, "cpus"),
                        num(&v, "ops"),
                        num(&v, "ns_per_op"),
                    ) {
                        (Some(bench), Some(cpus), Some(ops), Some(ns)) => r.benches.push(Bench {
                            bench,
                            size_key: size_key.into(),
                            size: size as u64,
                            cpus: cpus as u64,
                            ops: ops as u64,
                            ns_per_op: ns,
                            allocator: text(&v, "allocator").unwrap_or_else(|| "ours".into()),
                            target_node: num(&v, "target_node").map(|t| t as u64),
                        }),
                        _ => r
                            .warnings
                            .push(format!("line {}: BENCH lacks a field", n + 1)),
                    }
                }
                _ => {}
            }
        }
        r
    }

    fn title(&self, what: &str) -> String {
        format!(
            "{what}: {} under {}{}",
            if self.topology.is_empty() {
                "unknown topology"
            } else {
                &self.topology
            },
            if self.accelerator.is_empty() {
                "an unknown accelerator"
            } else {
                &self.accelerator
            },
            if self.date.is_empty() {
                String::new()
            } else {
                format!(", {}", self.date)
            }
        )
    }

    /// Allocators in order of first appearance (ours first).
    fn allocators(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for b in &self.benches {
            if !v.contains(&b.allocator) {
                v.push(b.allocator.clone());
            }
        }
        v
    }

    fn find(&self, allocator: &str, like: &Bench) -> Option<&Bench> {
        self.benches.iter().find(|b| {
            b.allocator == allocator
                && b.bench == like.bench
                && b.size == like.size
                && b.size_key == like.size_key
                && b.cpus == like.cpus
                && b.target_node == like.target_node
        })
    }

    /// Single-CPU lines of ours, one per workload and size (page_node once
    /// per target node appears as one line per target).
    fn single_cpu_ours(&self) -> Vec<&Bench> {
        self.benches
            .iter()
            .filter(|b| b.allocator == "ours" && !b.bench.starts_with("parallel_"))
            .collect()
    }

    /// (bench, allocator) -> [(cpus, aggregate Mops/s)].
    pub fn scaling(&self) -> BTreeMap<(String, String), Vec<(u64, f64)>> {
        let mut m: BTreeMap<(String, String), Vec<(u64, f64)>> = BTreeMap::new();
        for b in self
            .benches
            .iter()
            .filter(|b| b.bench.starts_with("parallel_"))
        {
            let mops = b.cpus as f64 * 1000.0 / b.ns_per_op.max(1e-9);
            m.entry((b.bench.clone(), b.allocator.clone()))
                .or_default()
                .push((b.cpus, mops));
        }
        for v in m.values_mut() {
            v.sort_by_key(|p| p.0);
        }
        m
    }
}

pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", r.title("Allocator benchmark"));
    if let Some(m) = &r.meta {
        let _ = writeln!(
            s,
            "Clock: {}. Hypervisor signature: {}. {} CPUs, {} nodes. Operation counts divided by {}.\n",
            text(m, "clock").unwrap_or_default(),
            text(m, "hypervisor").unwrap_or_default(),
            num(m, "cpus").unwrap_or(0.0),
            num(m, "nodes").unwrap_or(0.0),
            num(m, "scale").unwrap_or(1.0)
        );
    }
    let peers: Vec<String> = r.allocators().into_iter().filter(|a| a != "ours").collect();
    let _ = writeln!(
        s,
        "## One CPU: ns per operation (peer / ours in brackets; above 1 means ours is faster)\n"
    );
    header_row(&mut s, &["workload", "ours"], &peers);
    for b in r.single_cpu_ours() {
        let _ = write!(s, "| {} | {:.1} |", b.label(), b.ns_per_op);
        for p in &peers {
            match r.find(p, b) {
                Some(pb) => {
                    let _ = write!(
                        s,
                        " {:.1} ({:.2}) |",
                        pb.ns_per_op,
                        pb.ns_per_op / b.ns_per_op
                    );
                }
                None => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "\n## Scaling: aggregate million operations per second, and efficiency against linear\n"
    );
    let _ = writeln!(
        s,
        "| workload | allocator | CPUs | Mops/s | efficiency |\n|---|---|---|---|---|"
    );
    for ((bench, alloc), points) in r.scaling() {
        let base = points.first().map_or(0.0, |p| p.1 / p.0 as f64);
        for (cpus, mops) in points {
            let _ = writeln!(
                s,
                "| {bench} | {alloc} | {cpus} | {} | {:.2} |",
                sig3(mops),
                if base > 0.0 {
                    mops / (base * cpus as f64)
                } else {
                    0.0
                }
            );
        }
    }
    if !r.locality.is_empty() {
        let _ = writeln!(
            s,
            "\n## Locality (ours): of the page allocations that preferred each node, the share it served\n"
        );
        let _ = writeln!(s, "| workload | node | numa_hit | numa_miss | numa_foreign | local_node | other_node | local share |\n|---|---|---|---|---|---|---|---|");
        for v in &r.locality {
            let size = num(v, "size")
                .map(|x| format!("size={x}"))
                .or_else(|| num(v, "order").map(|x| format!("order={x}")));
            let _ = writeln!(
                s,
                "| {} {} cpus={} | {} | {} | {} | {} | {} | {} | {} |",
                text(v, "bench").unwrap_or_default(),
                size.unwrap_or_default(),
                num(v, "cpus").unwrap_or(0.0),
                num(v, "node").unwrap_or(0.0),
                num(v, "numa_hit").unwrap_or(0.0),
                num(v, "numa_miss").unwrap_or(0.0),
                num(v, "numa_foreign").unwrap_or(0.0),
                num(v, "local_node").unwrap_or(0.0),
                num(v, "other_node").unwrap_or(0.0),
                num(v, "local_share").map_or("-".into(), |x| format!("{x:.3}"))
            );
        }
    }
    if !r.matrix.is_empty() {
        let _ = writeln!(s, "\n## Access matrix: idle latency (ns) and read bandwidth (MB/s), SLIT distance in brackets\n");
        for n in &r.notes {
            let _ = writeln!(s, "> {n}\n");
        }
        let mems: Vec<u64> = uniq(r.matrix.iter().map(|c| c.mem_node));
        let cpus: Vec<u64> = uniq(r.matrix.iter().map(|c| c.cpu_node));
        for (what, f) in [("latency ns", 0), ("read MB/s", 1)] {
            let corner = format!("CPU node \\ memory node ({what})");
            header_row(&mut s, &[&corner], &mems);
            for c in &cpus {
                let _ = write!(s, "| {c} |");
                for m in &mems {
                    match r
                        .matrix
                        .iter()
                        .find(|x| x.cpu_node == *c && x.mem_node == *m)
                    {
                        Some(x) if f == 0 => {
                            let _ = write!(s, " {:.1} ({}) |", x.latency_ns, x.distance);
                        }
                        Some(x) => {
                            let _ = write!(s, " {:.0} ({}) |", x.read_mb_s, x.distance);
                        }
                        None => {
                            let _ = write!(s, " - |");
                        }
                    }
                }
                let _ = writeln!(s);
            }
            let _ = writeln!(s);
        }
    }
    let _ = writeln!(
        s,
        "\nPlots: [scaling](scaling.svg), [peers](peers.svg), [latency](matrix-latency.svg), [bandwidth](matrix-bandwidth.svg)."
    );
    s
}

/// A Markdown table's header and rule: the `fixed` columns, then one
/// column per item of `columns`.
fn header_row(s: &mut String, fixed: &[&str], columns: &[impl std::fmt::Display]) {
    let _ = write!(s, "|");
    for c in fixed {
        let _ = write!(s, " {c} |");
    }
    for c in columns {
        let _ = write!(s, " {c} |");
    }
    let _ = write!(s, "\n|");
    for _ in 0..fixed.len() + columns.len() {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s);
}

/// Three significant digits, without exponent notation (0.00123, 12.3, 1230).
pub fn sig3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (2 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}

fn uniq(it: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut v: Vec<u64> = it.collect();
    v.sort();
    v.dedup();
    v
}

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

/// Writes report.md and the plots into `dir`; returns the files written.
pub fn write_report(r: &Results, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let files = [
        ("report.md", markdown(r)),
        ("scaling.svg", scaling_svg(r)),
        ("peers.svg", peers_svg(r)),
        ("matrix-latency.svg", matrix_svg(r, false)),
        ("matrix-bandwidth.svg", matrix_svg(r, true)),
    ];
    let mut out = Vec::new();
    for (name, body) in files {
        let p = dir.join(name);
        std::fs::write(&p, body)?;
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
