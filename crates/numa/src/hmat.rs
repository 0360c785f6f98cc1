//! Per-node memory performance from the HMAT, the way Linux's
//! drivers/acpi/numa/hmat.c derives it, and memory tiers and demotion
//! targets from that performance, the way mm/memory-tiers.c does (Linux
//! 6.11 and later, which also places CPU-less boot memory by its HMAT
//! data).
//!
//! Performance, per memory node and access class (access0: the best
//! initiator of any kind; access1: the best initiator with CPUs):
//!
//! - a node whose proximity-attributes structure names an attached
//!   initiator takes that initiator's entries, in table order (a later
//!   structure of the same data type overwrites an earlier one), for
//!   access0, and for access1 when the initiator has CPUs;
//! - otherwise every initiator is a candidate, ordered by proximity
//!   domain, and the candidates are narrowed by write latency, read
//!   latency, write bandwidth and read bandwidth in turn: each pass keeps
//!   the initiators that equal the best value among those still in, and
//!   the best value becomes the node's figure for that data type.
//!
//! Only matrices of the memory hierarchy count (the cache levels' ones
//! describe the caches). Values are nanoseconds and MB/s, 0 where the
//! table gives nothing.

use crate::{NodeId, Topology, MAX_NUMNODES};
use acpi_tables::hmat::{self, Hmat, Locality, Structure};

/// A set of nodes, bit n for node n.
pub type NodeMask = u128;

/// access0 (any initiator) and access1 (initiators with CPUs).
pub const ACCESS_CLASSES: usize = 2;

/// One node's access figures for one access class (Linux's
/// access_coordinate, in the units of its sysfs files).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Perf {
    pub read_latency: u32,
    pub write_latency: u32,
    pub read_bandwidth: u32,
    pub write_bandwidth: u32,
}

impl Perf {
    /// Sets what a locality of `data_type` describes (an access type sets
    /// both its read and its write figure).
    fn set(&mut self, data_type: u8, value: u32) {
        match data_type {
            hmat::ACCESS_LATENCY => {
                self.read_latency = value;
                self.write_latency = value;
            }
            hmat::READ_LATENCY => self.read_latency = value,
            hmat::WRITE_LATENCY => self.write_latency = value,
            hmat::ACCESS_BANDWIDTH => {
                self.read_bandwidth = value;
                self.write_bandwidth = value;
            }
            hmat::READ_BANDWIDTH => self.read_bandwidth = value,
            hmat::WRITE_BANDWIDTH => self.write_bandwidth = value,
            _ => {}
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Perf::default()
    }
}

/// A memory-side cache as Linux's sysfs shows it
/// (`nodeN/memory_side_cache/indexL/...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheInfo {
    pub level: u8,
    pub size: u64,
    pub line_size: u16,
    /// 0 direct-mapped, 1 indexed (complex), 2 other.
    pub indexing: u8,
    /// 0 write-back, 1 write-through, 2 other.
    pub write_policy: u8,
}

/// Cache levels kept per node (the attribute field allows 15; ACPI
/// defines 3).
pub const MAX_CACHES: usize = 4;

/// What the HMAT says about one memory node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    /// The node's proximity domain is a memory target of the table.
    pub present: bool,
    /// The initiator node the table attaches the memory to.
    pub attached: Option<NodeId>,
    pub access: [Perf; ACCESS_CLASSES],
    /// The best initiators per access class.
    pub initiators: [NodeMask; ACCESS_CLASSES],
    pub caches: [Option<CacheInfo>; MAX_CACHES],
}

const NO_TARGET: Target = Target {
    present: false,
    attached: None,
    access: [Perf {
        read_latency: 0,
        write_latency: 0,
        read_bandwidth: 0,
        write_bandwidth: 0,
    }; ACCESS_CLASSES],
    initiators: [0; ACCESS_CLASSES],
    caches: [None; MAX_CACHES],
};

/// Per-node performance for every memory node of a topology.
#[derive(Clone, Debug)]
pub struct MemoryPerf {
    pub revision: u8,
    targets: [Target; MAX_NUMNODES],
}

impl MemoryPerf {
    /// No HMAT: nothing known about any node.
    pub const fn none() -> Self {
        MemoryPerf {
            revision: 0,
            targets: [NO_TARGET; MAX_NUMNODES],
        }
    }

    /// The table's figures for `node`, if it is one of its targets.
    pub fn target(&self, node: NodeId) -> Option<&Target> {
        self.targets.get(node).filter(|t| t.present)
    }

    /// Whether any node has figures (a table with no usable data is the
    /// same as none).
    pub fn any(&self) -> bool {
        self.targets
            .iter()
            .any(|t| t.present && t.access.iter().any(|p| !p.is_empty()))
    }

    /// Builds the figures for every node of `topo` with memory from a
    /// validated table. `topo` gives proximity domains their nodes; a
    /// domain the topology does not know is ignored, as Linux ignores it.
    pub fn from_table(topo: &Topology, table: &Hmat) -> Self {
        let mut m = MemoryPerf::none();
        m.revision = table.revision();
        for node in 0..topo.node_count() {
            if topo.has_memory(node) {
                m.targets[node].present = true;
            }
        }
        let target_of = |pxm: u32| topo.node_of_pxm(pxm).filter(|&n| topo.has_memory(n));
        // Proximity structures first (Linux parses each type in turn).
        for s in table.structures() {
            if let Structure::Proximity(p) = s {
                let (Some(mem), Some(init)) = (p.memory, p.initiator) else {
                    continue;
                };
                if let (Some(t), Some(i)) = (target_of(mem), topo.node_of_pxm(init)) {
                    m.targets[t].attached = Some(i);
                }
            }
        }
        // An attached initiator's own entries, in table order.
        for s in table.structures() {
            let Structure::Locality(l) = s else { continue };
            if l.hierarchy() != hmat::HIERARCHY_MEMORY {
                continue;
            }
            for tp in l.targets() {
                let Some(t) = target_of(tp) else { continue };
                let Some(a) = m.targets[t].attached else {
                    continue;
                };
                let value = l.value(topo.pxm(a), tp);
                m.targets[t].access[0].set(l.data_type, value);
                if topo.has_cpus(a) {
                    m.targets[t].access[1].set(l.data_type, value);
                }
            }
        }
        // The last memory-hierarchy matrix of each data type, in the order
        // Linux narrows by: write latency, read latency, write bandwidth,
        // read bandwidth (an access matrix serves both of its kinds).
        let mut by_kind: [Option<Locality>; 4] = [None; 4];
        for s in table.structures() {
            let Structure::Locality(l) = s else { continue };
            if l.hierarchy() != hmat::HIERARCHY_MEMORY {
                continue;
            }
            let slots: &[usize] = match l.data_type {
                hmat::ACCESS_LATENCY => &[0, 1],
                hmat::WRITE_LATENCY => &[0],
                hmat::READ_LATENCY => &[1],
                hmat::ACCESS_BANDWIDTH => &[2, 3],
                hmat::WRITE_BANDWIDTH => &[2],
                hmat::READ_BANDWIDTH => &[3],
                _ => &[],
            };
            for &k in slots {
                by_kind[k] = Some(l);
            }
        }
        // Initiators: the nodes with CPUs, by proximity domain.
        let mut initiators = [(0u32, 0usize); MAX_NUMNODES];
        let mut ninit = 0;
        for n in (0..topo.node_count()).filter(|&n| topo.has_cpus(n)) {
            initiators[ninit] = (topo.pxm(n), n);
            ninit += 1;
        }
        let initiators = &mut initiators[..ninit];
        initiators.sort_unstable();
        for node in 0..topo.node_count() {
            if !m.targets[node].present {
                continue;
            }
            for access in 0..ACCESS_CLASSES {
                let t = &mut m.targets[node];
                if let Some(a) = t.attached {
                    if access == 0 || topo.has_cpus(a) {
                        t.initiators[access] = 1 << a;
                        continue;
                    }
                }
                if by_kind.iter().all(Option::is_none) {
                    continue;
                }
                let mut keep = [true; MAX_NUMNODES];
                for l in by_kind.iter().flatten() {
                    let mut best = 0u32;
                    for (k, &(pxm, init)) in initiators.iter().enumerate() {
                        if access == 1 && !topo.has_cpus(init) {
                            keep[k] = false;
                            continue;
                        }
                        if !keep[k] {
                            continue;
                        }
                        let value = l.value(pxm, topo.pxm(node));
                        if better(l, value, best) {
                            best = value;
                            // A new best drops every earlier candidate.
                            keep[..k].fill(false);
                        }
                        if value != best {
                            keep[k] = false;
                        }
                    }
                    if best != 0 {
                        t.access[access].set(l.data_type, best);
                    }
                }
                t.initiators[access] = initiators
                    .iter()
                    .zip(keep.iter())
                    .filter(|(_, &k)| k)
                    .fold(0, |mask, (&(_, n), _)| mask | 1 << n);
            }
        }
        for s in table.structures() {
            let Structure::Cache(c) = s else { continue };
            let Some(t) = target_of(c.memory) else {
                continue;
            };
            let info = CacheInfo {
                level: c.level(),
                size: c.size,
                line_size: c.line_size(),
                indexing: match c.associativity() {
                    hmat::Associativity::Direct => 0,
                    hmat::Associativity::Complex => 1,
                    _ => 2,
                },
                write_policy: match c.write_policy() {
                    hmat::WritePolicy::WriteBack => 0,
                    hmat::WritePolicy::WriteThrough => 1,
                    _ => 2,
                },
            };
            let slots = &mut m.targets[t].caches;
            // Each level once: a later structure for the same level wins.
            let same = slots
                .iter()
                .position(|s| s.is_some_and(|s| s.level == info.level));
            if let Some(k) = same.or_else(|| slots.iter().position(Option::is_none)) {
                slots[k] = Some(info);
            }
        }
        m
    }
}

/// What the table says about one initiator node reaching one memory
/// node (no best-initiator choice: the pair as given), from the last
/// memory-hierarchy matrix of each data type; 0 where it says nothing.
/// The access matrix prints it beside what it measures.
pub fn pair_perf(topo: &Topology, table: &Hmat, initiator: NodeId, target: NodeId) -> Perf {
    let mut p = Perf::default();
    if initiator >= topo.node_count() || target >= topo.node_count() {
        return p;
    }
    let (i, t) = (topo.pxm(initiator), topo.pxm(target));
    for s in table.structures() {
        let Structure::Locality(l) = s else { continue };
        if l.hierarchy() == hmat::HIERARCHY_MEMORY {
            let v = l.value(i, t);
            if v != 0 {
                p.set(l.data_type, v);
            }
        }
    }
    p
}

/// Whether `value` beats `best` for the locality's data type (0 is never
/// better: it means "not provided").
fn better(l: &Locality, value: u32, best: u32) -> bool {
    if value == 0 {
        return false;
    }
    if l.is_latency() {
        best == 0 || value < best
    } else {
        value > best
    }
}

/// Linux's tiers are 128 abstract-distance units wide (MEMTIER_CHUNK_SIZE).
pub const MEMTIER_CHUNK_BITS: u32 = 7;
pub const MEMTIER_CHUNK_SIZE: u32 = 1 << MEMTIER_CHUNK_BITS;
/// DRAM's abstract distance: the middle of tier 4, so four faster tiers
/// fit above it (MEMTIER_ADISTANCE_DRAM).
pub const MEMTIER_ADISTANCE_DRAM: u32 = 4 * MEMTIER_CHUNK_SIZE + MEMTIER_CHUNK_SIZE / 2;

/// Why the DRAM reference could not be set; every node then stays in
/// the DRAM tier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    /// No node with CPUs and memory has HMAT figures.
    NoReference,
    /// The reference node lacks a latency or a bandwidth figure.
    Incomplete { node: NodeId },
    /// A second DRAM node differs from the reference by more than 10% in
    /// one figure (Linux refuses to guess which is right).
    Mismatch { node: NodeId, reference: NodeId },
}

/// Memory tiers and demotion targets.
#[derive(Clone, Debug)]
pub struct Tiers {
    /// Abstract distance per node (meaningful for nodes with memory).
    pub adistance: [u32; MAX_NUMNODES],
    /// The DRAM reference node and its figures, or why there is none.
    pub reference: Result<(NodeId, Perf), ReferenceError>,
    /// Demotion targets per node: the nearest nodes of the next lower tier.
    pub preferred: [NodeMask; MAX_NUMNODES],
    /// Per node, every node of every lower tier (the fallback for
    /// demotion; Linux's lower_tier_mask, shared by a tier's nodes).
    pub fallback: [NodeMask; MAX_NUMNODES],
    memory: NodeMask,
}

impl Tiers {
    /// The tier of `node`: its abstract distance in 128-wide chunks (DRAM
    /// is tier 4, as Linux's `memory_tier4`).
    pub fn tier_of(&self, node: NodeId) -> u32 {
        self.adistance[node] >> MEMTIER_CHUNK_BITS
    }

    /// The tiers that have nodes, fastest first, each with its nodes.
    pub fn tiers(&self) -> impl Iterator<Item = (u32, NodeMask)> + '_ {
        let mut last: Option<u32> = None;
        core::iter::from_fn(move || {
            let next = (0..MAX_NUMNODES)
                .filter(|&n| self.memory & 1 << n != 0)
                .map(|n| self.tier_of(n))
                .filter(|&t| last.is_none_or(|l| t > l))
                .min()?;
            last = Some(next);
            let nodes = (0..MAX_NUMNODES)
                .filter(|&n| self.memory & 1 << n != 0 && self.tier_of(n) == next)
                .fold(0, |m, n| m | 1 << n);
            Some((next, nodes))
        })
    }

    /// Whether `node` has a memory node below it to demote to.
    pub fn can_demote(&self, node: NodeId) -> bool {
        self.preferred.get(node).is_some_and(|&m| m != 0)
    }
}

/// `perf`'s abstract distance against the DRAM reference (Linux's
/// mt_perf_to_adistance): 576 scaled by the summed latencies over the
/// reference's and by the reference's summed bandwidths over `perf`'s, in
/// that order with integer division. None when a sum is 0.
pub fn perf_to_adistance(perf: &Perf, dram: &Perf) -> Option<u32> {
    let lat = perf.read_latency as u64 + perf.write_latency as u64;
    let bw = perf.read_bandwidth as u64 + perf.write_bandwidth as u64;
    let dram_lat = dram.read_latency as u64 + dram.write_latency as u64;
    let dram_bw = dram.read_bandwidth as u64 + dram.write_bandwidth as u64;
    if lat == 0 || bw == 0 || dram_lat == 0 || dram_bw == 0 {
        return None;
    }
    let a = MEMTIER_ADISTANCE_DRAM as u64 * lat / dram_lat * dram_bw / bw;
    Some(a.min(u32::MAX as u64) as u32)
}

/// Whether two figures are within 10% of the reference's (Linux's check
/// that every DRAM node performs like the first).
fn within_10_percent(p: &Perf, r: &Perf) -> bool {
    let close = |a: u32, b: u32| (a as u64).abs_diff(b as u64) * 10 <= b as u64;
    close(p.read_latency, r.read_latency)
        && close(p.write_latency, r.write_latency)
        && close(p.read_bandwidth, r.read_bandwidth)
        && close(p.write_bandwidth, r.write_bandwidth)
}

/// Places every memory node in a tier and finds demotion targets:
///
/// - nodes with CPUs (and memory) are DRAM, at 576; the lowest-numbered
///   one with HMAT figures (access1) is the reference, and every other
///   must be within 10% of it;
/// - a CPU-less node takes the abstract distance of its access1 figures
///   against the reference ([`perf_to_adistance`]); without figures, or
///   without a reference, it is DRAM too;
/// - demotion: from each node, the nearest nodes (by distance, ties kept)
///   of the next lower tier that has nodes, found as Linux's
///   find_next_best_node orders them; the fallback is every node of every
///   tier below the node's own, where a tier with CPUs, and every tier
///   above it, counts as the top (Linux's top tier).
pub fn tiers(topo: &Topology, perf: &MemoryPerf) -> Tiers {
    let mut t = Tiers {
        adistance: [MEMTIER_ADISTANCE_DRAM; MAX_NUMNODES],
        reference: Err(ReferenceError::NoReference),
        preferred: [0; MAX_NUMNODES],
        fallback: [0; MAX_NUMNODES],
        memory: 0,
    };
    let n = topo.node_count();
    for node in (0..n).filter(|&x| topo.has_memory(x)) {
        t.memory |= 1 << node;
    }
    let figures = |node: NodeId| {
        perf.target(node)
            .map(|x| x.access[1])
            .filter(|p| !p.is_empty())
    };
    for node in (0..n).filter(|&x| topo.has_memory(x) && topo.has_cpus(x)) {
        let Some(p) = figures(node) else { continue };
        match t.reference {
            Err(ReferenceError::NoReference) => {
                let complete = p.read_latency + p.write_latency != 0
                    && p.read_bandwidth as u64 + p.write_bandwidth as u64 != 0;
                t.reference = if complete {
                    Ok((node, p))
                } else {
                    Err(ReferenceError::Incomplete { node })
                };
            }
            Ok((r, rp)) if !within_10_percent(&p, &rp) => {
                t.reference = Err(ReferenceError::Mismatch { node, reference: r });
            }
            _ => {}
        }
    }
    if let Ok((_, dram)) = t.reference {
        for node in (0..n).filter(|&x| topo.has_memory(x) && !topo.has_cpus(x)) {
            if let Some(a) = figures(node).and_then(|p| perf_to_adistance(&p, &dram)) {
                t.adistance[node] = a;
            }
        }
    }
    // The tier list, fastest first.
    let mut order = [(0u32, 0 as NodeMask); MAX_NUMNODES];
    let mut ntiers = 0;
    for tier in t.tiers() {
        order[ntiers] = tier;
        ntiers += 1;
    }
    let order = &order[..ntiers];
    // The top tier: the lowest tier with a CPU node, and all above it.
    let top = order
        .iter()
        .rposition(|&(_, nodes)| (0..n).any(|x| nodes & 1 << x != 0 && topo.has_cpus(x)));
    for node in (0..n).filter(|&x| topo.has_memory(x)) {
        let Some(k) = order.iter().position(|&(id, _)| id == t.tier_of(node)) else {
            continue;
        };
        // Fallback: every tier below this one (below the top tier, for a
        // node in it).
        let from = top.map_or(k, |top| k.max(top));
        t.fallback[node] = order[from + 1..].iter().fold(0, |m, &(_, nodes)| m | nodes);
        let Some(&(_, next)) = order.get(k + 1) else {
            continue;
        };
        // Preferred: the best nodes of the next tier by find_next_best_node,
        // as long as they are as near as the first one found.
        let mut used = [true; MAX_NUMNODES];
        for x in (0..n).filter(|&x| next & 1 << x != 0) {
            used[x] = false;
        }
        let mut best = None;
        while let Some(target) = topo.next_best_node(node, &used) {
            used[target] = true;
            let d = topo.distance(node, target);
            if best.is_some_and(|b| b != d) {
                break;
            }
            best = Some(d);
            t.preferred[node] |= 1 << target;
        }
    }
    t
}

/// Writes a node mask as Linux's `%*pbl` does: ranges, comma-separated
/// (`0-1,3`); empty for no nodes.
pub fn write_nodelist(w: &mut dyn core::fmt::Write, mask: NodeMask) -> core::fmt::Result {
    crate::report::write_ranges(w, nodes_of(mask))
}

/// The nodes of a mask, in order.
pub fn nodes_of(mask: NodeMask) -> impl Iterator<Item = NodeId> {
    (0..MAX_NUMNODES).filter(move |&n| mask & 1 << n != 0)
}
