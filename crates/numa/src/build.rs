//! Building a [`Topology`] from the firmware tables.

use crate::*;
use acpi_tables::{madt, slit, srat};
use core::fmt::Arguments;

/// How loud a message about the tables is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// What the topology is built from. Table slices are the raw tables as
/// mapped (validated here); `ram` is the firmware's usable RAM (E820 type 1)
/// as `[start, end)` ranges.
pub struct Inputs<'a> {
    pub srat: Option<&'a [u8]>,
    pub slit: Option<&'a [u8]>,
    pub madt: Option<&'a [u8]>,
    /// The APIC IDs of the enabled processors of the MP table, used only
    /// when there is no MADT (a machine without ACPI).
    pub mp_cpus: &'a [u32],
    pub ram: &'a [(u64, u64)],
    /// The APIC ID of the CPU running the boot: it becomes CPU 0.
    pub boot_apic_id: u32,
    /// `numa=off`.
    pub numa_off: bool,
}

/// The SRAT's CPU affinity entries: APIC ID to node, in table order.
struct Affinity {
    cpus: [Cpu; MAX_CPUS],
    len: usize,
}

impl Affinity {
    const EMPTY: Affinity = Affinity {
        cpus: [Cpu {
            apic_id: 0,
            node: 0,
        }; MAX_CPUS],
        len: 0,
    };

    fn entries(&self) -> &[Cpu] {
        &self.cpus[..self.len]
    }

    fn node_of(&self, apic_id: u32) -> Option<NodeId> {
        self.entries()
            .iter()
            .find(|a| a.apic_id == apic_id)
            .map(|a| a.node)
    }
}

/// Builds the topology. Every problem with the tables goes to `log`, at the
/// level Linux would give it; nothing here panics on bad input.
pub fn build(inputs: &Inputs, log: &mut dyn FnMut(Level, Arguments)) -> Topology {
    let mut t = Topology::empty(Source::SingleNode);
    build_into(&mut t, inputs, log);
    t
}

/// As [`build`], into `t` (overwritten): the kernel builds its topology in
/// place, as it is tens of KiB with 128 nodes and 512 CPUs and the boot
/// stack is no place for copies of it.
pub fn build_into(t: &mut Topology, inputs: &Inputs, log: &mut dyn FnMut(Level, Arguments)) {
    // Filled by from_srat; an out-parameter rather than part of the return
    // value, so no second large temporary is moved around the kernel's stack.
    let mut affinity = Affinity::EMPTY;
    match (inputs.numa_off, inputs.srat) {
        (true, _) => {
            log(
                Level::Info,
                format_args!("NUMA turned off (numa=off): one node"),
            );
            single_node(t, Source::NumaOff, inputs)
        }
        (false, None) => {
            log(
                Level::Info,
                format_args!("no SRAT: one node holds all memory and CPUs"),
            );
            single_node(t, Source::SingleNode, inputs)
        }
        (false, Some(bytes)) => {
            if !from_srat(t, bytes, inputs, &mut affinity, log) {
                affinity = Affinity::EMPTY;
                single_node(t, Source::SingleNode, inputs)
            }
        }
    }
    add_cpus(t, &affinity, inputs, log);
}

fn single_node(t: &mut Topology, source: Source, inputs: &Inputs) {
    t.reset(source);
    t.nodes = 1;
    t.distance[0][0] = LOCAL_DISTANCE;
    for &(start, end) in inputs.ram.iter().take(MAX_MEMBLKS) {
        if end > start {
            t.mem[t.nmem] = MemRange {
                start,
                end,
                node: 0,
            };
            t.nmem += 1;
        }
    }
}

/// The node for a proximity domain, assigning the next id on first sight.
fn node_for_pxm(t: &mut Topology, pxm: u32) -> Option<NodeId> {
    if let Some(n) = (0..t.nodes).find(|&n| t.pxm[n] == pxm) {
        return Some(n);
    }
    if t.nodes == MAX_NUMNODES {
        return None;
    }
    t.pxm[t.nodes] = pxm;
    t.nodes += 1;
    Some(t.nodes - 1)
}

/// Parses the SRAT (and SLIT). `None` means NUMA information is unusable and
/// the caller falls back to one node, as Linux does when numa_init fails.
fn from_srat(
    t: &mut Topology,
    bytes: &[u8],
    inputs: &Inputs,
    affinity: &mut Affinity,
    log: &mut dyn FnMut(Level, Arguments),
) -> bool {
    let table = match srat::parse(bytes) {
        Ok(t) => t,
        Err(e) => {
            log(
                Level::Warn,
                format_args!("SRAT unusable: {e}; NUMA ignored, one node"),
            );
            return false;
        }
    };
    t.reset(Source::Firmware { slit: false });

    // Pass 1: CPU affinity, types 0 and 2 in table order (Linux parses them
    // in one walk before any memory entry, which fixes the node numbering).
    for entry in table.entries() {
        let (apic_id, domain) = match entry {
            Ok(srat::Entry::LocalApic {
                apic_id,
                domain,
                enabled: true,
            })
            | Ok(srat::Entry::X2Apic {
                apic_id,
                domain,
                enabled: true,
            }) => (apic_id, domain),
            Ok(_) => continue,
            Err(e) => {
                log(
                    Level::Warn,
                    format_args!("SRAT: {e}; later entries ignored"),
                );
                break;
            }
        };
        let Some(node) = node_for_pxm(t, domain) else {
            log(Level::Warn, format_args!(
                "SRAT: proximity domain {domain} of APIC {apic_id} is beyond the {MAX_NUMNODES}-node limit; CPU left to node 0"));
            continue;
        };
        if affinity.len == MAX_CPUS {
            log(
                Level::Warn,
                format_args!("SRAT: more than {MAX_CPUS} CPU entries; APIC {apic_id} ignored"),
            );
            continue;
        }
        affinity.cpus[affinity.len] = Cpu { apic_id, node };
        affinity.len += 1;
    }

    // Pass 2: memory affinity.
    let mut memory_entries = 0;
    for entry in table.entries() {
        let (base, length, domain, hot, nv) = match entry {
            Ok(srat::Entry::Memory { enabled: false, .. }) => continue,
            Ok(srat::Entry::Memory {
                base,
                length,
                domain,
                hot_pluggable,
                non_volatile,
                ..
            }) => (base, length, domain, hot_pluggable, non_volatile),
            Ok(srat::Entry::Other { kind, length }) => {
                log(
                    Level::Debug,
                    format_args!("SRAT: entry type {kind} (length {length}) skipped"),
                );
                continue;
            }
            Ok(_) => continue,
            Err(_) => break, // reported in pass 1
        };
        if length == 0 {
            continue;
        }
        let Some(end) = base.checked_add(length) else {
            log(
                Level::Warn,
                format_args!(
                    "SRAT: memory range at {base:#x} of length {length:#x} wraps around; ignored"
                ),
            );
            continue;
        };
        let Some(node) = node_for_pxm(t, domain) else {
            log(Level::Warn, format_args!(
                "SRAT: [mem {base:#x}-{:#x}] names proximity domain {domain}, beyond the {MAX_NUMNODES}-node limit; ignored",
                end - 1));
            continue;
        };
        memory_entries += 1;
        let kind = match (hot, nv) {
            (_, true) => " non-volatile",
            (true, false) => " hot-pluggable",
            _ => "",
        };
        log(
            Level::Info,
            format_args!(
                "SRAT: Node {node} PXM {domain} [mem {base:#010x}-{:#010x}]{kind}",
                end - 1
            ),
        );
        // Overlap with another node's range makes the description
        // contradictory: Linux rejects the NUMA configuration.
        // As Linux (numa_cleanup_meminfo), ranges holding no RAM (hot-plug
        // areas, persistent memory) are set aside before the check.
        if let Some(other) = overlapping_entry(&table, base, end, domain, inputs.ram) {
            log(Level::Warn, format_args!(
                "SRAT: [mem {base:#x}-{:#x}] of PXM {domain} overlaps PXM {other}'s range; NUMA information rejected, one node",
                end - 1));
            return false;
        }
        // The whole hot-pluggable range is kept, RAM in it or not (boot
        // memory there, a coldplugged DIMM, is refused at hot-add time).
        if hot && !nv && !t.add_hotpluggable(base, end, node) {
            log(
                Level::Warn,
                format_args!(
                    "SRAT: more than {} hot-pluggable ranges; [mem {base:#x}-{:#x}] not kept",
                    crate::MAX_HOTPLUG_RANGES,
                    end - 1
                ),
            );
        }
        if !add_clipped(t, base, end, node, inputs.ram) {
            if hot || nv {
                log(Level::Info, format_args!(
                    "SRAT: [mem {base:#x}-{:#x}] on node {node} holds no boot RAM ({}); kept for later",
                    end - 1, if nv { "persistent memory" } else { "hot-plug area" }));
            } else {
                log(Level::Warn, format_args!(
                    "SRAT: [mem {base:#x}-{:#x}] on node {node} lies outside the firmware's RAM map; nothing added",
                    end - 1));
            }
        }
    }
    if memory_entries == 0 {
        log(
            Level::Warn,
            format_args!("SRAT has no usable memory affinity entry; NUMA ignored, one node"),
        );
        return false;
    }
    // RAM that no SRAT range covers still exists: Linux gives it to the
    // node of the nearest range below it; we give it to node 0 and say so.
    for &(start, end) in inputs.ram {
        let mut at = start;
        while at < end {
            let covered = t
                .memory()
                .iter()
                .find(|m| m.start <= at && at < m.end)
                .map(|m| m.end);
            match covered {
                Some(next) => at = next,
                None => {
                    let next = t
                        .memory()
                        .iter()
                        .filter(|m| m.start > at)
                        .map(|m| m.start)
                        .min()
                        .unwrap_or(end)
                        .min(end);
                    log(
                        Level::Warn,
                        format_args!(
                            "RAM [mem {at:#x}-{:#x}] is in no SRAT range; given to node 0",
                            next - 1
                        ),
                    );
                    push_mem(t, at, next, 0);
                    at = next;
                }
            }
        }
    }
    sort_memory(t);

    set_distances(t, inputs.slit, log);
    true
}

/// The domain of another enabled SRAT memory range that overlaps `[base, end)`.
fn overlapping_entry(
    table: &srat::Srat,
    base: u64,
    end: u64,
    domain: u32,
    ram: &[(u64, u64)],
) -> Option<u32> {
    let holds_ram = |s: u64, e: u64| ram.iter().any(|&(rs, re)| rs < e && s < re);
    if !holds_ram(base, end) {
        return None;
    }
    table.entries().map_while(Result::ok).find_map(|e| match e {
        srat::Entry::Memory {
            base: b,
            length: l,
            domain: d,
            enabled: true,
            ..
        } if d != domain
            && l > 0
            && b < end
            && base < b.saturating_add(l)
            && holds_ram(b, b.saturating_add(l)) =>
        {
            Some(d)
        }
        _ => None,
    })
}

fn push_mem(t: &mut Topology, start: u64, end: u64, node: NodeId) -> bool {
    if t.nmem == MAX_MEMBLKS {
        return false;
    }
    t.mem[t.nmem] = MemRange { start, end, node };
    t.nmem += 1;
    true
}

/// Adds the parts of `[base, end)` that are firmware RAM. Returns whether
/// anything was added.
fn add_clipped(t: &mut Topology, base: u64, end: u64, node: NodeId, ram: &[(u64, u64)]) -> bool {
    let mut added = false;
    for &(rs, re) in ram {
        let (s, e) = (rs.max(base), re.min(end));
        if s < e {
            // A range already held (same node, overlapping entries) is not added twice.
            let dup = t.memory().iter().any(|m| m.start < e && s < m.end);
            if !dup {
                added |= push_mem(t, s, e, node);
            }
        }
    }
    added
}

fn sort_memory(t: &mut Topology) {
    t.mem[..t.nmem].sort_unstable_by_key(|m| m.start);
}

fn set_distances(
    t: &mut Topology,
    slit_bytes: Option<&[u8]>,
    log: &mut dyn FnMut(Level, Arguments),
) {
    for i in 0..t.nodes {
        for j in 0..t.nodes {
            t.distance[i][j] = if i == j {
                LOCAL_DISTANCE
            } else {
                REMOTE_DISTANCE
            };
        }
    }
    let Some(bytes) = slit_bytes else {
        if t.nodes > 1 {
            log(Level::Warn, format_args!("no SLIT: using default distances ({LOCAL_DISTANCE} local, {REMOTE_DISTANCE} remote)"));
        }
        return;
    };
    let table = match slit::parse(bytes) {
        Ok(s) => s,
        Err(e) => {
            log(
                Level::Warn,
                format_args!("SLIT unusable: {e}; using default distances"),
            );
            return;
        }
    };
    if let Err(why) = table.check() {
        log(
            Level::Warn,
            format_args!("SLIT looks invalid ({why}); not used, default distances"),
        );
        return;
    }
    for i in 0..t.nodes {
        if table.distance(t.pxm[i] as usize, 0).is_none() {
            log(
                Level::Warn,
                format_args!(
                    "SLIT has {} localities but node {i} is PXM {}; its distances stay default",
                    table.localities(),
                    t.pxm[i]
                ),
            );
        }
        for j in 0..t.nodes {
            if let Some(d) = table.distance(t.pxm[i] as usize, t.pxm[j] as usize) {
                t.distance[i][j] = d;
            }
        }
    }
    t.source = Source::Firmware { slit: true };
}

/// Appends `apic_id` to the first `n` CPUs of `ids`, unless it is there
/// already or the list is full; either is said, naming `table`.
fn push_cpu(
    ids: &mut [u32; MAX_CPUS],
    n: &mut usize,
    apic_id: u32,
    table: &str,
    log: &mut dyn FnMut(Level, Arguments),
) {
    if ids[..*n].contains(&apic_id) {
        log(
            Level::Warn,
            format_args!("{table}: APIC {apic_id} listed twice; second entry ignored"),
        );
    } else if *n == MAX_CPUS {
        log(
            Level::Warn,
            format_args!("{table}: more than {MAX_CPUS} CPUs; APIC {apic_id} ignored"),
        );
    } else {
        ids[*n] = apic_id;
        *n += 1;
    }
}

/// Numbers the CPUs from the MADT (boot CPU first) and places each on its
/// SRAT node (`affinity`, empty without a usable SRAT).
fn add_cpus(
    t: &mut Topology,
    affinity: &Affinity,
    inputs: &Inputs,
    log: &mut dyn FnMut(Level, Arguments),
) {
    let uses_srat = matches!(t.source, Source::Firmware { .. });

    let mut ids = [0u32; MAX_CPUS];
    let mut n = 0;
    ids[0] = inputs.boot_apic_id;
    n += 1;
    let mut boot_seen = false;
    match inputs.madt.map(madt::parse) {
        None if !inputs.mp_cpus.is_empty() => {
            log(
                Level::Warn,
                format_args!(
                    "no MADT: {} CPUs from the MP table, all on node 0",
                    inputs.mp_cpus.len()
                ),
            );
            for &apic_id in inputs.mp_cpus.iter().filter(|&&a| a != inputs.boot_apic_id) {
                push_cpu(&mut ids, &mut n, apic_id, "MP table", log);
            }
        }
        None => log(
            Level::Warn,
            format_args!("no MADT: only the boot CPU is known"),
        ),
        Some(Err(e)) => log(
            Level::Warn,
            format_args!("MADT unusable: {e}; only the boot CPU is known"),
        ),
        Some(Ok(m)) => {
            for entry in m.entries() {
                let apic_id = match entry {
                    Ok(madt::Entry::Cpu {
                        apic_id,
                        enabled: true,
                        ..
                    }) => apic_id,
                    Ok(madt::Entry::Cpu {
                        apic_id,
                        enabled: false,
                        online_capable,
                        ..
                    }) => {
                        if online_capable {
                            log(Level::Info, format_args!("MADT: APIC {apic_id} is disabled but online-capable (hot-plug); not counted"));
                        }
                        continue;
                    }
                    Ok(_) => continue,
                    Err(e) => {
                        log(
                            Level::Warn,
                            format_args!("MADT: {e}; later entries ignored"),
                        );
                        break;
                    }
                };
                if apic_id == inputs.boot_apic_id {
                    boot_seen = true;
                    continue;
                }
                push_cpu(&mut ids, &mut n, apic_id, "MADT", log);
            }
            if !boot_seen {
                log(
                    Level::Warn,
                    format_args!(
                        "MADT does not list the boot CPU (APIC {}); kept as CPU 0",
                        inputs.boot_apic_id
                    ),
                );
            }
        }
    }
    for (i, &apic_id) in ids[..n].iter().enumerate() {
        let node = match (uses_srat, affinity.node_of(apic_id)) {
            (false, _) => 0,
            (true, Some(node)) => node,
            (true, None) => {
                log(
                    Level::Warn,
                    format_args!("CPU {i} (APIC {apic_id}) is not in the SRAT; put on node 0"),
                );
                0
            }
        };
        t.cpus[i] = Cpu { apic_id, node };
    }
    t.ncpus = n;
    for a in affinity.entries() {
        if !ids[..n].contains(&a.apic_id) {
            log(
                Level::Debug,
                format_args!(
                    "SRAT: APIC {} has affinity but no MADT entry; ignored",
                    a.apic_id
                ),
            );
        }
    }
}
