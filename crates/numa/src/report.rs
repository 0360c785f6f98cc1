//! The topology as users read it: `numactl --hardware`'s exact text, and
//! the same content as one JSON object for tools. Both are formatted from
//! the [`Topology`] and a per-node free-memory figure the caller supplies.

use crate::{NodeId, Source, Topology};
use core::fmt::{self, Write};

/// Writes node ids as numactl does: ranges joined by commas ("0-3,5").
fn write_ranges(w: &mut dyn Write, ids: impl Iterator<Item = usize>) -> fmt::Result {
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
        writeln!(w, "node {node} size: {} MB", t.node_bytes(node) >> 20)?;
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

/// The same content as one JSON object (no newline).
pub fn json(t: &Topology, free_bytes: &dyn Fn(NodeId) -> u64, w: &mut dyn Write) -> fmt::Result {
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
    w.write_str("]}")
}
