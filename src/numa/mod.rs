//! The NUMA topology of this machine: built once at boot from the ACPI
//! tables by the `numa` crate, then read by everything that places memory.

use crate::acpi::Tables;
use crate::arch::x86_64::{cpu_id, paging};
use crate::kprintln;
use mm::memblock::MAX_REGIONS;
use numa::hmat::{self, MemoryPerf, Tiers};
use numa::{report, Level, NodeId, Topology};
use spin::Once;

/// Built in place on the early heap (tens of KiB: 128 nodes, 512 CPUs).
static TOPOLOGY: Once<&'static Topology> = Once::new();

/// What the HMAT says about each node, and the memory tiers and demotion
/// targets derived from it (every node DRAM without an HMAT).
pub struct MemoryTiers {
    pub perf: MemoryPerf,
    pub tiers: Tiers,
}

static MEMORY_TIERS: Once<&'static MemoryTiers> = Once::new();

/// The HMAT's own figures for CPUs of `initiator` reaching memory of
/// `target`, when the machine has a valid HMAT.
pub fn hmat_pair(initiator: NodeId, target: NodeId) -> Option<hmat::Perf> {
    let bytes = crate::acpi::tables().hmat?;
    let table = acpi_tables::hmat::parse(bytes).ok()?;
    (memory_tiers().perf.revision != 0)
        .then(|| hmat::pair_perf(topology(), &table, initiator, target))
}

/// The HMAT figures and memory tiers (built right after the topology).
pub fn memory_tiers() -> &'static MemoryTiers {
    MEMORY_TIERS
        .get()
        .copied()
        .expect("memory tiers are built with the topology")
}

#[inline]
pub fn topology() -> &'static Topology {
    TOPOLOGY.get().copied().expect("topology is built at boot")
}

/// The APIC ID of the running CPU: CPUID leaf 0xB's x2APIC ID where the
/// CPU has that leaf, else the 8-bit ID of leaf 1.
pub fn current_apic_id() -> u32 {
    let max_leaf = core::arch::x86_64::__cpuid(0).eax;
    if max_leaf >= 0xb {
        let r = core::arch::x86_64::__cpuid_count(0xb, 0);
        if r.ebx != 0 {
            return r.edx;
        }
    }
    core::arch::x86_64::__cpuid(1).ebx >> 24
}

/// The node of the running CPU.
#[inline]
pub fn numa_node_id() -> NodeId {
    cpu_to_node(cpu_id() as usize)
}

#[inline]
pub fn cpu_to_node(cpu: usize) -> NodeId {
    topology().cpu_to_node(cpu)
}

/// The RAM memblock knows (firmware RAM less `mem=`), as the topology wants it.
fn ram_ranges(out: &mut [(u64, u64); MAX_REGIONS]) -> usize {
    let mb = crate::mm::MEMBLOCK.lock();
    let mut n = 0;
    for r in mb.memory.iter() {
        out[n] = (r.start, r.end);
        n += 1;
    }
    n
}

/// Builds the topology; every message about the tables goes to the log.
pub fn init(tables: &Tables, numa_off: bool) -> &'static Topology {
    let t = build_topology(tables, numa_off);
    MEMORY_TIERS.call_once(|| {
        let mut m = alloc::boxed::Box::new(MemoryTiers {
            perf: MemoryPerf::none(),
            tiers: hmat::tiers(t, &MemoryPerf::none()),
        });
        // A corrupt HMAT is named and ignored: no figure of it is trusted.
        match tables.hmat.map(acpi_tables::hmat::parse) {
            Some(Ok(table)) if t.source != numa::Source::NumaOff => {
                m.perf = MemoryPerf::from_table(t, &table);
                m.tiers = hmat::tiers(t, &m.perf);
            }
            Some(Ok(_)) => log::info!("HMAT: not used with numa=off"),
            Some(Err(e)) => log::warn!("HMAT: {e}; the table is ignored"),
            None => {}
        }
        alloc::boxed::Box::leak(m)
    });
    t
}

fn build_topology(tables: &Tables, numa_off: bool) -> &'static Topology {
    let mut ram = [(0u64, 0u64); MAX_REGIONS];
    let n = ram_ranges(&mut ram);
    let mut mp_cpus = [0u32; numa::MAX_CPUS];
    let nr_mp = if tables.madt.is_none() {
        crate::acpi::mp_table_cpus(&mut mp_cpus)
    } else {
        0
    };
    let inputs = numa::Inputs {
        srat: tables.srat,
        mp_cpus: &mp_cpus[..nr_mp],
        slit: tables.slit,
        madt: tables.madt,
        ram: &ram[..n],
        boot_apic_id: current_apic_id(),
        numa_off,
    };
    TOPOLOGY.call_once(|| {
        let t: &'static mut Topology = alloc::boxed::Box::leak(alloc::boxed::Box::new(
            Topology::empty(numa::Source::SingleNode),
        ));
        numa::build_into(t, &inputs, &mut |level, args| match level {
            Level::Warn => log::warn!("NUMA: {args}"),
            Level::Info => log::info!("NUMA: {args}"),
            Level::Debug => log::debug!("NUMA: {args}"),
        });
        // Device memory belongs to the node its _PXM names, as Linux's
        // memory hotplug places it (QEMU's SRAT gives the whole hot-plug
        // area to one node).
        for d in crate::mm::memblock::device_memory() {
            let Some(node) = d.pxm.and_then(|p| t.node_of_pxm(p)) else {
                continue;
            };
            if t.node_of_addr(d.start) != Some(node) && t.assign_memory(d.start, d.end, node) {
                log::info!(
                    "NUMA: device memory [mem {:#018x}-{:#018x}] on node {node} (its _PXM {})",
                    d.start,
                    d.end - 1,
                    d.pxm.unwrap_or(0)
                );
            }
        }
        t
    })
}

/// A node's free memory: the page allocator's free pages once it exists,
/// before that what memblock has not reserved.
pub fn boot_free_bytes(node: NodeId) -> u64 {
    if crate::mm::page_alloc::is_ready() {
        let a = crate::mm::page_alloc::allocator();
        return a.node(node).map_or(0, |n| {
            n.zones.iter().map(|z| z.free_pages()).sum::<u64>() * layout::PAGE_SIZE
        });
    }
    topology()
        .memory_of(node)
        .map(|m| crate::mm::memblock::free_bytes(m.start, m.end))
        .sum()
}

/// Prints `numactl --hardware` as it reads now: node sizes include memory
/// hot-added since boot.
pub fn print_numactl() {
    let t = topology();
    let size = |n: NodeId| t.node_bytes(n) + crate::mm::memory_hotplug::added_bytes(n);
    let _ = report::numactl_hardware_sized(t, &size, &boot_free_bytes, &mut crate::console::Writer);
}

/// Prints `numactl --hardware`, the HMAT figures (when there is an HMAT),
/// the memory tiers and demotion targets, and the `NUMA_TOPOLOGY {json}`
/// line.
pub fn print_reports() {
    let t = topology();
    let mut text = crate::console::Writer;
    let _ = report::numactl_hardware(t, &boot_free_bytes, &mut text);
    // One print for the whole line, so no other CPU's output lands inside it.
    struct Json<'a>(&'a numa::Topology, &'a MemoryTiers);
    impl core::fmt::Display for Json<'_> {
        fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
            let memory = Some((&self.1.perf, &self.1.tiers));
            report::json(self.0, &boot_free_bytes, memory, f)
        }
    }
    let m = memory_tiers();
    if m.perf.revision != 0 {
        kprintln!(
            "HMAT (revision {}), as Linux's /sys/devices/system/node shows it:",
            m.perf.revision
        );
        let _ = report::hmat_sysfs(t, &m.perf, &mut text);
    }
    let _ = report::tiers(t, &m.tiers, &mut text);
    kprintln!("NUMA_TOPOLOGY {}", Json(t, m));
}

mod selftests {
    use super::*;
    use crate::{kassert, kassert_eq, selftest};

    selftest!(
        "numa",
        fn boot_cpu_is_cpu0_with_this_cpus_apic_id() {
            let t = topology();
            kassert!(!t.cpus().is_empty());
            kassert_eq!(t.cpus()[0].apic_id, current_apic_id());
            Ok(())
        }
    );

    selftest!(
        "numa",
        fn every_cpu_is_on_a_node_and_apic_ids_are_unique() {
            let t = topology();
            for (i, c) in t.cpus().iter().enumerate() {
                kassert!(c.node < t.node_count(), "cpu {i} node {}", c.node);
                kassert!(!t.cpus()[..i].iter().any(|d| d.apic_id == c.apic_id));
            }
            Ok(())
        }
    );

    selftest!(
        "numa",
        fn distances_are_ten_on_the_diagonal_and_above_elsewhere() {
            let t = topology();
            for i in 0..t.node_count() {
                for j in 0..t.node_count() {
                    let d = t.distance(i, j);
                    if i == j {
                        kassert_eq!(d, 10);
                    } else {
                        kassert!(d > 10, "distance({i},{j}) = {d}");
                    }
                }
            }
            Ok(())
        }
    );

    selftest!(
        "numa",
        fn all_ram_belongs_to_exactly_one_node() {
            let t = topology();
            let ram = crate::mm::MEMBLOCK.lock().memory.total();
            let nodes: u64 = (0..t.node_count()).map(|n| t.node_bytes(n)).sum();
            kassert_eq!(nodes, ram);
            let m = t.memory();
            for w in m.windows(2) {
                kassert!(w[0].end <= w[1].start, "{:?} overlaps {:?}", w[0], w[1]);
            }
            Ok(())
        }
    );

    selftest!(
        "numa",
        fn every_node_gets_memory_from_a_node_that_has_some() {
            let t = topology();
            for n in 0..t.node_count() {
                let m = t.mem_node(n);
                kassert!(t.has_memory(m), "node {n} -> {m}");
                if t.has_memory(n) {
                    kassert_eq!(m, n);
                }
            }
            Ok(())
        }
    );

    selftest!(
        "numa",
        fn the_kernel_image_lies_on_a_known_node() {
            let image = paging::image_layout();
            kassert!(topology().node_of_addr(image.start).is_some());
            kassert_eq!(numa_node_id(), topology().cpu_to_node(0));
            Ok(())
        }
    );
}
