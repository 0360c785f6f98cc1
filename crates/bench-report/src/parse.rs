//! Reading a results file: the `BENCH*` lines into `Results`, with a
//! warning for each line that cannot be read.

use serde_json::Value;
use std::collections::BTreeMap;

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
    pub(crate) fn label(&self) -> String {
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
    /// The HMAT's figures for the pair, when the machine has one.
    pub hmat_latency_ns: Option<f64>,
    pub hmat_read_mb_s: Option<f64>,
}

#[derive(Default, Debug)]
pub struct Results {
    pub topology: String,
    pub accelerator: String,
    pub date: String,
    pub meta: Option<Value>,
    pub benches: Vec<Bench>,
    pub locality: Vec<Value>,
    /// `BENCH_POLICY` lines: pages per node under each memory policy.
    pub policy: Vec<Value>,
    pub matrix: Vec<Cell>,
    pub notes: Vec<String>,
    /// Lines that could not be read, said, not dropped silently.
    pub warnings: Vec<String>,
}

pub(crate) fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
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
                "BENCH_POLICY" => r.policy.push(v),
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
                        hmat_latency_ns: num(&v, "hmat_read_latency_ns").filter(|&x| x > 0.0),
                        hmat_read_mb_s: num(&v, "hmat_read_mb_s").filter(|&x| x > 0.0),
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

    pub(crate) fn title(&self, what: &str) -> String {
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
    pub(crate) fn allocators(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for b in &self.benches {
            if !v.contains(&b.allocator) {
                v.push(b.allocator.clone());
            }
        }
        v
    }

    pub(crate) fn find(&self, allocator: &str, like: &Bench) -> Option<&Bench> {
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
    pub(crate) fn single_cpu_ours(&self) -> Vec<&Bench> {
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
