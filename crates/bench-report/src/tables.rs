//! report.md: the workload, scaling, locality and matrix tables.

use crate::parse::{num, text, Results};
use serde_json::Value;
use std::fmt::Write as _;

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
    if !r.policy.is_empty() {
        let _ = writeln!(
            s,
            "\n## Memory policies (ours): pages per node under each policy, against the policy's rule\n"
        );
        let _ = writeln!(s, "| policy | pages | ns/page | pages per node | expected | interleave_hit | numa_hit | other_node |\n|---|---|---|---|---|---|---|---|");
        let nodes = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| x.as_u64().unwrap_or(0).to_string())
                        .collect::<Vec<_>>()
                        .join(" / ")
                })
                .unwrap_or_default()
        };
        for v in &r.policy {
            let matches = v.get("matches").and_then(Value::as_bool) == Some(true);
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {}{} | {} | {} | {} |",
                text(v, "policy").unwrap_or_default(),
                num(v, "ops").unwrap_or(0.0),
                num(v, "ns_per_op").unwrap_or(0.0),
                nodes(v, "pages_per_node"),
                nodes(v, "expected_per_node"),
                if matches { "" } else { " (differs)" },
                nodes(v, "interleave_hit"),
                nodes(v, "numa_hit"),
                nodes(v, "other_node"),
            );
        }
    }
    if !r.matrix.is_empty() {
        let _ = writeln!(s, "\n## Access matrix: idle latency (ns) and read bandwidth (MB/s), SLIT distance in brackets, the HMAT's figure after it where there is one\n");
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
                            let hmat = x
                                .hmat_latency_ns
                                .map_or(String::new(), |h| format!(" HMAT {h:.0}"));
                            let _ = write!(s, " {:.1} ({}){hmat} |", x.latency_ns, x.distance);
                        }
                        Some(x) => {
                            let hmat = x
                                .hmat_read_mb_s
                                .map_or(String::new(), |h| format!(" HMAT {h:.0}"));
                            let _ = write!(s, " {:.0} ({}){hmat} |", x.read_mb_s, x.distance);
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

pub(crate) fn uniq(it: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut v: Vec<u64> = it.collect();
    v.sort();
    v.dedup();
    v
}
