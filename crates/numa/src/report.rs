//! The topology as users read it: `numactl --hardware`'s exact text, and
//! the same content as one JSON object for tools. Both are formatted from
//! the [`Topology`] and a per-node free-memory figure the caller supplies;
//! the HMAT's per-node figures as Linux's sysfs names them, and the memory
//! tiers and demotion targets as Linux prints them.

use crate::hmat::{nodes_of, write_nodelist, MemoryPerf, Perf, Tiers, ACCESS_CLASSES};
use crate::{NodeId, Source, Topology};
use core::fmt::{self, Write};

/// Writes node ids as numactl does: ranges joined by commas ("0-3,5").
pub(crate) fn write_ranges(w: &mut dyn Write, ids: impl Iterator<Item = usize>) -> fmt::Result {
    let mut run: Option<(usize, usize)> = None;
    let mut first = true;
    let mut flush = |w: &mut dyn Write, (a, b): (usize, usize)| -> fmt::Result {
        if !first {
            w.write_str(",")?;
        }
        first = false;
        if a == b {
            write!(w, "{a}")
        } else {
            write!(w, "{a}-{b}")
        }
    };
    for id in ids {
        run = match run {
            Some((a, b)) if id == b + 1 => Some((a, id)),
            Some(r) => {
                flush(w, r)?;
                Some((id, id))
            }
            None => Some((id, id)),
        };
    }
    if let Some(r) = run {
        flush(w, r)?;
    }
    Ok(())
}

/// `numactl --hardware`, line for line: available, then per node its cpus,
/// size and free (MB), then the distance table.
pub fn numactl_hardware(
    t: &Topology,
    free_bytes: &dyn Fn(NodeId) -> u64,
    w: &mut dyn Write,
) -> fmt::Result {
    numactl_hardware_sized(t, &|n| t.node_bytes(n), free_bytes, w)
}

/// As [`numactl_hardware`], each node's size from `size_bytes` (the
/// topology's boot memory plus what was hot-added since).
pub fn numactl_hardware_sized(
    t: &Topology,
    size_bytes: &dyn Fn(NodeId) -> u64,
    free_bytes: &dyn Fn(NodeId) -> u64,
    w: &mut dyn Write,
) -> fmt::Result {
    let n = t.node_count();
    write!(w, "available: {n} nodes (")?;
    write_ranges(w, 0..n)?;
    writeln!(w, ")")?;
    for node in 0..n {
        write!(w, "node {node} cpus:")?;
        for cpu in t.cpus_of(node) {
            write!(w, " {cpu}")?;
        }
        writeln!(w)?;
        writeln!(w, "node {node} size: {} MB", size_bytes(node) >> 20)?;
        writeln!(w, "node {node} free: {} MB", free_bytes(node) >> 20)?;
    }
    writeln!(w, "node distances:")?;
    write!(w, "node ")?;
    for j in 0..n {
        write!(w, "{j:>3} ")?;
    }
    writeln!(w)?;
    for i in 0..n {
        write!(w, "{i:>3}: ")?;
        for j in 0..n {
            write!(w, "{:>3} ", t.distance(i, j))?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// The same content as one JSON object (no newline), with the HMAT
/// figures, tiers and demotion targets under `"memory"` when given.
pub fn json(
    t: &Topology,
    free_bytes: &dyn Fn(NodeId) -> u64,
    memory: Option<(&MemoryPerf, &Tiers)>,
    w: &mut dyn Write,
) -> fmt::Result {
    let source = match t.source {
        Source::Firmware { slit: true } => "srat+slit",
        Source::Firmware { slit: false } => "srat",
        Source::SingleNode => "single-node",
        Source::NumaOff => "numa=off",
    };
    write!(w, r#"{{"source":"{source}","nodes":["#)?;
    for node in 0..t.node_count() {
        if node > 0 {
            w.write_str(",")?;
        }
        write!(w, r#"{{"node":{node},"pxm":{},"cpus":["#, t.pxm(node))?;
        for (k, cpu) in t.cpus_of(node).enumerate() {
            write!(w, "{}{cpu}", if k > 0 { "," } else { "" })?;
        }
        write!(w, r#"],"apic_ids":["#)?;
        for (k, cpu) in t.cpus_of(node).enumerate() {
            write!(
                w,
                "{}{}",
                if k > 0 { "," } else { "" },
                t.cpus()[cpu].apic_id
            )?;
        }
        write!(
            w,
            r#"],"size_bytes":{},"free_bytes":{},"mem_node":{},"ranges":["#,
            t.node_bytes(node),
            free_bytes(node),
            t.mem_node(node)
        )?;
        for (k, m) in t.memory_of(node).enumerate() {
            write!(w, "{}[{},{}]", if k > 0 { "," } else { "" }, m.start, m.end)?;
        }
        w.write_str("]}")?;
    }
    w.write_str(r#"],"distances":["#)?;
    for i in 0..t.node_count() {
        w.write_str(if i > 0 { ",[" } else { "[" })?;
        for j in 0..t.node_count() {
            write!(w, "{}{}", if j > 0 { "," } else { "" }, t.distance(i, j))?;
        }
        w.write_str("]")?;
    }
    w.write_str("]")?;
    if let Some((m, tiers)) = memory {
        w.write_str(r#","memory":"#)?;
        memory_json(t, m, tiers, w)?;
    }
    w.write_str("}")
}

/// The HMAT's figures, one line per sysfs file Linux would have
/// (`node2/access0/initiators/read_latency 160`), the initiators as the
/// links Linux puts beside them (`node2/access0/initiators/node0`), and
/// the memory-side caches (`node2/memory_side_cache/index1/size ...`).
pub fn hmat_sysfs(t: &Topology, m: &MemoryPerf, w: &mut dyn Write) -> fmt::Result {
    for node in 0..t.node_count() {
        let Some(target) = m.target(node) else {
            continue;
        };
        for access in 0..ACCESS_CLASSES {
            for init in nodes_of(target.initiators[access]) {
                writeln!(w, "node{node}/access{access}/initiators/node{init}")?;
            }
            let p = target.access[access];
            for (name, v) in perf_fields(&p) {
                writeln!(w, "node{node}/access{access}/initiators/{name} {v}")?;
            }
        }
        for c in target.caches.iter().flatten() {
            let l = c.level;
            writeln!(w, "node{node}/memory_side_cache/index{l}/size {}", c.size)?;
            writeln!(
                w,
                "node{node}/memory_side_cache/index{l}/line_size {}",
                c.line_size
            )?;
            writeln!(
                w,
                "node{node}/memory_side_cache/index{l}/indexing {}",
                c.indexing
            )?;
            writeln!(
                w,
                "node{node}/memory_side_cache/index{l}/write_policy {}",
                c.write_policy
            )?;
        }
    }
    Ok(())
}

fn perf_fields(p: &Perf) -> [(&'static str, u32); 4] {
    [
        ("read_bandwidth", p.read_bandwidth),
        ("read_latency", p.read_latency),
        ("write_bandwidth", p.write_bandwidth),
        ("write_latency", p.write_latency),
    ]
}

/// The memory tiers as Linux's sysfs lists them (`memory_tier4 nodelist
/// 0-1`), each node's abstract distance, and the demotion targets as
/// Linux's boot log prints them (`Demotion targets for Node 0: preferred:
/// 2, fallback: 2-3`, or `null`).
pub fn tiers(t: &Topology, tiers: &Tiers, w: &mut dyn Write) -> fmt::Result {
    for (id, nodes) in tiers.tiers() {
        write!(w, "memory_tier{id} nodelist ")?;
        write_nodelist(w, nodes)?;
        writeln!(w)?;
    }
    match tiers.reference {
        Ok((r, _)) => writeln!(w, "memory tiers: DRAM reference node {r} (abstract distance 576)")?,
        Err(crate::hmat::ReferenceError::NoReference) => {
            writeln!(w, "memory tiers: no HMAT figures for a DRAM node; every node is DRAM")?
        }
        Err(crate::hmat::ReferenceError::Incomplete { node }) => writeln!(
            w,
            "memory tiers: DRAM node {node} lacks a latency or bandwidth figure; every node is DRAM"
        )?,
        Err(crate::hmat::ReferenceError::Mismatch { node, reference }) => writeln!(
            w,
            "memory tiers: the performance of DRAM node {node} mismatches that of the reference DRAM node {reference}; every node is DRAM"
        )?,
    }
    for node in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        writeln!(
            w,
            "node{node} abstract distance {} (memory_tier{})",
            tiers.adistance[node],
            tiers.tier_of(node)
        )?;
    }
    for node in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        if !tiers.can_demote(node) {
            writeln!(w, "Demotion targets for Node {node}: null")?;
            continue;
        }
        write!(w, "Demotion targets for Node {node}: preferred: ")?;
        write_nodelist(w, tiers.preferred[node])?;
        w.write_str(", fallback: ")?;
        write_nodelist(w, tiers.fallback[node])?;
        writeln!(w)?;
    }
    Ok(())
}

fn json_nodes(w: &mut dyn Write, mask: u128) -> fmt::Result {
    w.write_str("[")?;
    for (k, n) in nodes_of(mask).enumerate() {
        write!(w, "{}{n}", if k > 0 { "," } else { "" })?;
    }
    w.write_str("]")
}

/// The HMAT figures, tiers and demotion targets as the value of the
/// `"memory"` key of the topology JSON (an object, no newline).
pub fn memory_json(t: &Topology, m: &MemoryPerf, tiers: &Tiers, w: &mut dyn Write) -> fmt::Result {
    write!(w, r#"{{"hmat_revision":{},"targets":["#, m.revision)?;
    let mut first = true;
    for node in 0..t.node_count() {
        let Some(target) = m.target(node) else {
            continue;
        };
        if !first {
            w.write_str(",")?;
        }
        first = false;
        write!(w, r#"{{"node":{node}"#)?;
        for access in 0..ACCESS_CLASSES {
            write!(w, r#","access{access}":{{"initiators":"#)?;
            json_nodes(w, target.initiators[access])?;
            for (name, v) in perf_fields(&target.access[access]) {
                write!(w, r#","{name}":{v}"#)?;
            }
            w.write_str("}")?;
        }
        w.write_str(r#","caches":["#)?;
        for (k, c) in target.caches.iter().flatten().enumerate() {
            write!(
                w,
                r#"{}{{"level":{},"size":{},"line_size":{},"indexing":{},"write_policy":{}}}"#,
                if k > 0 { "," } else { "" },
                c.level,
                c.size,
                c.line_size,
                c.indexing,
                c.write_policy
            )?;
        }
        w.write_str("]}")?;
    }
    w.write_str(r#"],"tiers":["#)?;
    for (k, (id, nodes)) in tiers.tiers().enumerate() {
        write!(
            w,
            r#"{}{{"tier":{id},"nodes":"#,
            if k > 0 { "," } else { "" }
        )?;
        json_nodes(w, nodes)?;
        w.write_str("}")?;
    }
    w.write_str(r#"],"nodes":["#)?;
    for (k, node) in (0..t.node_count()).filter(|&n| t.has_memory(n)).enumerate() {
        write!(
            w,
            r#"{}{{"node":{node},"adistance":{},"tier":{},"demotion_preferred":"#,
            if k > 0 { "," } else { "" },
            tiers.adistance[node],
            tiers.tier_of(node)
        )?;
        json_nodes(w, tiers.preferred[node])?;
        w.write_str(r#","demotion_fallback":"#)?;
        json_nodes(
            w,
            if tiers.can_demote(node) {
                tiers.fallback[node]
            } else {
                0
            },
        )?;
        w.write_str("}")?;
    }
    w.write_str("]}")
}
