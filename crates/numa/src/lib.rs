//! The machine's NUMA topology: nodes, the CPUs and memory ranges in each,
//! and the distances between them, built from the firmware's SRAT, SLIT
//! and MADT the way Linux builds it (arch/x86/mm/numa.c, drivers/acpi/numa).
//!
//! - Node ids are dense and given in the order proximity domains are first
//!   met: CPU affinity entries first (types 0 and 2, in table order), then
//!   memory affinity entries, as Linux's acpi_numa_init parses them.
//! - Without a usable SRAT, or with `numa=off`, one node holds every CPU and
//!   all memory (Linux's dummy_numa_init).
//! - Distances come from the SLIT when it is present and valid; otherwise
//!   10 on the diagonal and 20 elsewhere, with a warning.
//! - A node without memory takes its memory from the nearest node that has
//!   some ([`Topology::mem_node`], Linux's numa_mem_id / local_memory_node).
//!
//! Fixed capacities, no allocation: the kernel builds this before it has a
//! heap. Anything beyond a capacity is reported and left out.
#![no_std]
#![forbid(unsafe_code)]

mod build;
pub mod hmat;
pub mod report;

pub use build::{build, build_into, Inputs, Level};

/// Most nodes kept: QEMU's limit (MAX_NODES 128), Linux's NODES_SHIFT 7.
pub const MAX_NUMNODES: usize = 128;
/// Most CPUs kept: past QEMU q35's 288 vCPUs, x2APIC IDs above 255 too.
pub const MAX_CPUS: usize = 512;
/// Most memory ranges kept (Linux's NR_NODE_MEMBLKS is 2 x MAX_NUMNODES).
pub const MAX_MEMBLKS: usize = 2 * MAX_NUMNODES;

pub const LOCAL_DISTANCE: u8 = 10;
pub const REMOTE_DISTANCE: u8 = 20;

pub type NodeId = usize;

/// One CPU, numbered as the kernel numbers them: the boot CPU is 0, the
/// rest follow in MADT order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cpu {
    pub apic_id: u32,
    pub node: NodeId,
}

/// One range of RAM on one node (the SRAT range clipped to firmware RAM).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    pub start: u64,
    pub end: u64,
    pub node: NodeId,
}

/// Where the topology came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// SRAT (and SLIT when `slit` is true).
    Firmware { slit: bool },
    /// No SRAT, or one that could not be used: one node.
    SingleNode,
    /// `numa=off`: one node by request.
    NumaOff,
}

#[derive(Clone, Debug)]
pub struct Topology {
    pub source: Source,
    nodes: usize,
    pxm: [u32; MAX_NUMNODES],
    distance: [[u8; MAX_NUMNODES]; MAX_NUMNODES],
    cpus: [Cpu; MAX_CPUS],
    ncpus: usize,
    mem: [MemRange; MAX_MEMBLKS],
    nmem: usize,
    /// SRAT ranges marked hot-pluggable that held no RAM at boot: where
    /// memory may arrive later (the node is the SRAT's; a device's `_PXM`
    /// decides where its memory goes).
    hotplug: [MemRange; MAX_HOTPLUG_RANGES],
    nhotplug: usize,
}

/// Hot-pluggable SRAT ranges kept (QEMU gives one).
pub const MAX_HOTPLUG_RANGES: usize = 8;

impl Topology {
    /// Back to no nodes, no CPUs and no memory, in place.
    fn reset(&mut self, source: Source) {
        self.source = source;
        self.nodes = 0;
        self.pxm.fill(0);
        for row in self.distance.iter_mut() {
            row.fill(0);
        }
        self.ncpus = 0;
        self.nmem = 0;
        self.nhotplug = 0;
    }

    /// A topology with nothing in it, for [`build_into`] to fill.
    pub const fn empty(source: Source) -> Self {
        Topology {
            source,
            nodes: 0,
            pxm: [0; MAX_NUMNODES],
            distance: [[0; MAX_NUMNODES]; MAX_NUMNODES],
            cpus: [Cpu {
                apic_id: 0,
                node: 0,
            }; MAX_CPUS],
            ncpus: 0,
            mem: [MemRange {
                start: 0,
                end: 0,
                node: 0,
            }; MAX_MEMBLKS],
            nmem: 0,
            hotplug: [MemRange {
                start: 0,
                end: 0,
                node: 0,
            }; MAX_HOTPLUG_RANGES],
            nhotplug: 0,
        }
    }

    /// Where memory may be hot-added: the SRAT's hot-pluggable ranges
    /// that held no RAM at boot.
    pub fn hotpluggable(&self) -> impl Iterator<Item = &MemRange> + '_ {
        self.hotplug[..self.nhotplug].iter()
    }

    /// Records a hot-pluggable range; false when the table is full.
    pub fn add_hotpluggable(&mut self, start: u64, end: u64, node: NodeId) -> bool {
        if self.nhotplug == MAX_HOTPLUG_RANGES || start >= end {
            return false;
        }
        self.hotplug[self.nhotplug] = MemRange { start, end, node };
        self.nhotplug += 1;
        true
    }

    /// Number of nodes; node ids are `0..node_count()`.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// The proximity domain the firmware gave this node.
    pub fn pxm(&self, node: NodeId) -> u32 {
        self.pxm[node]
    }

    /// Gives the memory in `[start, end)` to `node`, splitting the ranges
    /// it cuts: for device memory whose `_PXM` names another node than the
    /// SRAT range it lies in (Linux's memory hotplug uses `_PXM`). False,
    /// with nothing changed, for an unknown node or when the split would
    /// need more ranges than the topology holds.
    pub fn assign_memory(&mut self, start: u64, end: u64, node: NodeId) -> bool {
        if node >= self.nodes || start >= end {
            return false;
        }
        let mut out = [MemRange {
            start: 0,
            end: 0,
            node: 0,
        }; MAX_MEMBLKS];
        let mut n = 0;
        for m in self.memory() {
            let pieces = [
                (m.start, m.end.min(start), m.node),
                (m.start.max(start), m.end.min(end), node),
                (m.start.max(end), m.end, m.node),
            ];
            for (s, e, nd) in pieces {
                if s < e {
                    if n == MAX_MEMBLKS {
                        return false;
                    }
                    out[n] = MemRange {
                        start: s,
                        end: e,
                        node: nd,
                    };
                    n += 1;
                }
            }
        }
        self.mem = out;
        self.nmem = n;
        true
    }

    /// The node a proximity domain became (Linux's pxm_to_node), if any.
    pub fn node_of_pxm(&self, pxm: u32) -> Option<NodeId> {
        (0..self.nodes).find(|&n| self.pxm[n] == pxm)
    }

    /// The SLIT distance between two nodes (or Linux's defaults).
    pub fn distance(&self, from: NodeId, to: NodeId) -> u8 {
        self.distance[from][to]
    }

    pub fn cpus(&self) -> &[Cpu] {
        &self.cpus[..self.ncpus]
    }

    #[inline]
    pub fn cpu_to_node(&self, cpu: usize) -> NodeId {
        self.cpus[cpu].node
    }

    pub fn cpus_of(&self, node: NodeId) -> impl Iterator<Item = usize> + '_ {
        self.cpus()
            .iter()
            .enumerate()
            .filter(move |(_, c)| c.node == node)
            .map(|(i, _)| i)
    }

    pub fn memory(&self) -> &[MemRange] {
        &self.mem[..self.nmem]
    }

    pub fn memory_of(&self, node: NodeId) -> impl Iterator<Item = &MemRange> + '_ {
        self.memory().iter().filter(move |m| m.node == node)
    }

    /// Bytes of RAM on the node.
    pub fn node_bytes(&self, node: NodeId) -> u64 {
        self.memory_of(node).map(|m| m.end - m.start).sum()
    }

    pub fn has_memory(&self, node: NodeId) -> bool {
        self.node_bytes(node) > 0
    }

    pub fn has_cpus(&self, node: NodeId) -> bool {
        self.cpus().iter().any(|c| c.node == node)
    }

    /// The node a physical address belongs to, if it is RAM we know.
    pub fn node_of_addr(&self, addr: u64) -> Option<NodeId> {
        self.memory()
            .iter()
            .find(|m| m.start <= addr && addr < m.end)
            .map(|m| m.node)
    }

    /// The next node a `from` node should fall back to, among the nodes
    /// with memory not yet in `used`: Linux's find_next_best_node. The
    /// distance decides; one point is added for a node with a lower id
    /// than `from` and one for a node that has CPUs, so among equals the
    /// next higher, CPU-less node wins. `None` when every node is used.
    pub fn next_best_node(&self, from: NodeId, used: &[bool; MAX_NUMNODES]) -> Option<NodeId> {
        if !used[from] && self.has_memory(from) {
            return Some(from);
        }
        (0..self.nodes)
            .filter(|&n| !used[n] && self.has_memory(n))
            .min_by_key(|&n| {
                let mut val = self.distance(from, n) as u32;
                val += (n < from) as u32;
                val += self.has_cpus(n) as u32;
                (val, n)
            })
    }

    /// Where a node's CPUs get memory from: the node itself if it has
    /// memory, else the nearest node that has (Linux's numa_mem_id).
    pub fn mem_node(&self, node: NodeId) -> NodeId {
        let used = [false; MAX_NUMNODES];
        self.next_best_node(node, &used).unwrap_or(node)
    }
}

#[cfg(test)]
mod tests;

/// One fuzzing input: the bytes are split into an SRAT, a SLIT, a MADT and an HMAT
/// (two length bytes before each piece) and run through [`build`] and both
/// reports. The cargo-fuzz target and the bounded mutation test call this;
/// the property is that nothing panics and every report is produced.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) {
    let mut rest = data;
    let mut take = || -> Option<&[u8]> {
        if rest.len() < 2 {
            return None;
        }
        let n = (u16::from_le_bytes([rest[0], rest[1]]) as usize).min(rest.len() - 2);
        let piece = &rest[2..2 + n];
        rest = &rest[2 + n..];
        Some(piece)
    };
    let (srat, slit, madt, hmat_bytes) = (take(), take(), take(), take());
    let ram = [
        (0u64, 0x9fc00u64),
        (0x10_0000, 0x8000_0000),
        (0x1_0000_0000, 0x1_8000_0000),
    ];
    let inputs = Inputs {
        srat,
        mp_cpus: &[],
        slit,
        madt,
        ram: &ram,
        boot_apic_id: 0,
        numa_off: false,
    };
    let t = build(&inputs, &mut |_, _| {});
    struct Sink;
    impl core::fmt::Write for Sink {
        fn write_str(&mut self, _: &str) -> core::fmt::Result {
            Ok(())
        }
    }
    let free = |n: NodeId| t.node_bytes(n);
    report::numactl_hardware(&t, &free, &mut Sink).unwrap();
    report::json(&t, &free, None, &mut Sink).unwrap();
    if let Some(Ok(table)) = hmat_bytes.map(acpi_tables::hmat::parse) {
        let perf = hmat::MemoryPerf::from_table(&t, &table);
        let tiers = hmat::tiers(&t, &perf);
        report::hmat_sysfs(&t, &perf, &mut Sink).unwrap();
        report::tiers(&t, &tiers, &mut Sink).unwrap();
        report::json(&t, &free, Some((&perf, &tiers)), &mut Sink).unwrap();
    }
    for n in 0..t.node_count() {
        let m = t.mem_node(n);
        assert!(m < t.node_count());
    }
}
