//! The topology of every QEMU fixture against the QEMU arguments that made
//! it, the edge cases, and corrupted tables.

extern crate std;
use super::*;
use boot_tests::{qemu_args, XorShift};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

fn table(topo: &str, sig: &str) -> Option<Vec<u8>> {
    std::fs::read(qemu_args::fixture_dir(topo).join(format!("{sig}.bin"))).ok()
}

struct Built {
    t: Topology,
    log: Vec<(Level, String)>,
}

fn build_with(
    srat: Option<&[u8]>,
    slit: Option<&[u8]>,
    madt: Option<&[u8]>,
    ram: &[(u64, u64)],
    numa_off: bool,
) -> Built {
    let mut log = Vec::new();
    let inputs = Inputs {
        srat,
        mp_cpus: &[],
        slit,
        madt,
        ram,
        boot_apic_id: 0,
        numa_off,
    };
    let t = build(&inputs, &mut |l, a| log.push((l, a.to_string())));
    Built { t, log }
}

fn build_fixture(topo: &str) -> Built {
    let (srat, slit, madt) = (
        table(topo, "SRAT"),
        table(topo, "SLIT"),
        table(topo, "APIC"),
    );
    let e = qemu_args::load(topo);
    build_with(
        srat.as_deref(),
        slit.as_deref(),
        madt.as_deref(),
        &qemu_args::qboot_e820(e.total_ram),
        false,
    )
}

impl Built {
    fn warnings(&self) -> Vec<&str> {
        self.log
            .iter()
            .filter(|(l, _)| *l == Level::Warn)
            .map(|(_, s)| s.as_str())
            .collect()
    }
}

use qemu_args::FIXTURES as TOPOLOGIES;

#[test]
fn every_fixture_matches_its_qemu_arguments() {
    for topo in TOPOLOGIES {
        let e = qemu_args::load(topo);
        let b = build_fixture(topo);
        let t = &b.t;
        assert_eq!(t.node_count(), e.nodes.len(), "{topo}: node count");
        assert_eq!(t.cpus().len(), e.cpus, "{topo}: CPU count");
        for (&node, (cpus, mem)) in &e.nodes {
            // QEMU node ids equal proximity domains, and our dense ids equal
            // them too for these tables (domains first seen in order).
            assert_eq!(t.pxm(node), node as u32, "{topo}");
            let got: Vec<usize> = t.cpus_of(node).collect();
            assert_eq!(&got, cpus, "{topo}: CPUs of node {node}");
            // Firmware keeps [0x9fc00, 0x100000) on node 0: at most 385 KiB less.
            let have = t.node_bytes(node);
            assert!(
                have <= *mem && mem - have <= 0x60400,
                "{topo}: node {node} has {have:#x}, want {mem:#x}"
            );
        }
        for i in 0..t.node_count() {
            for j in 0..t.node_count() {
                assert_eq!(
                    t.distance(i, j),
                    e.distance(i, j),
                    "{topo}: distance({i},{j})"
                );
            }
        }
        let unexpected: Vec<_> = b
            .warnings()
            .into_iter()
            .filter(|w| !w.starts_with("no SLIT"))
            .collect();
        assert!(unexpected.is_empty(), "{topo}: {unexpected:?}");
    }
}

#[test]
fn missing_slit_gives_default_distances_with_a_warning() {
    let b = build_fixture("two-node-nodist");
    assert_eq!(b.t.distance(0, 1), 20);
    assert_eq!(b.t.source, Source::Firmware { slit: false });
    assert!(b.warnings().iter().any(|w| w.starts_with("no SLIT")));
}

#[test]
fn no_srat_gives_one_node_with_all_memory_and_cpus() {
    let b = build_fixture("one-node");
    assert_eq!(b.t.source, Source::SingleNode);
    assert_eq!(b.t.node_count(), 1);
    assert_eq!(b.t.cpus().len(), 2);
    assert_eq!(b.t.node_bytes(0), 0x9fc00 + (512 << 20) - 0x10_0000);
}

#[test]
fn numa_off_forces_one_node() {
    let srat = table("four-node-asym", "SRAT").unwrap();
    let slit = table("four-node-asym", "SLIT").unwrap();
    let madt = table("four-node-asym", "APIC").unwrap();
    let ram = qemu_args::qboot_e820(2560 << 20);
    let b = build_with(Some(&srat), Some(&slit), Some(&madt), &ram, true);
    assert_eq!(b.t.source, Source::NumaOff);
    assert_eq!(b.t.node_count(), 1);
    assert_eq!(b.t.cpus().len(), 8);
    assert!(b.t.cpus().iter().all(|c| c.node == 0));
    assert_eq!(
        b.t.node_bytes(0),
        ram.iter().map(|(s, e)| e - s).sum::<u64>()
    );
}

#[test]
fn memoryless_node_takes_memory_from_its_nearest_node() {
    let t = build_fixture("memless-cpuless").t;
    assert!(!t.has_memory(1) && t.has_cpus(1));
    assert!(t.has_memory(2) && !t.has_cpus(2));
    // d(1,0) = d(1,2) = 20; Linux's tie-break prefers the higher, CPU-less node.
    assert_eq!(t.mem_node(1), 2);
    assert_eq!(t.mem_node(0), 0);
    assert_eq!(t.mem_node(2), 2);
}

#[test]
fn fallback_order_follows_the_slit_on_four_node_asym() {
    let t = build_fixture("four-node-asym").t;
    let mut used = [false; MAX_NUMNODES];
    let mut order = Vec::new();
    while let Some(n) = t.next_best_node(0, &used) {
        used[n] = true;
        order.push(n);
    }
    assert_eq!(order, [0, 1, 2, 3]);
}

#[test]
fn cpu_absent_from_srat_goes_to_node_zero_with_a_warning() {
    let srat = table("two-node", "SRAT").unwrap();
    let mut madt = table("two-node", "APIC").unwrap();
    // Renumber the last CPU's APIC ID (entries start at 44, 8 bytes each).
    madt[44 + 3 * 8 + 3] = 7;
    acpi_fix(&mut madt);
    let b = build_with(
        Some(&srat),
        None,
        Some(&madt),
        &qemu_args::qboot_e820(2 << 30),
        false,
    );
    assert_eq!(
        b.t.cpus()[3],
        Cpu {
            apic_id: 7,
            node: 0
        }
    );
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("APIC 7) is not in the SRAT")));
}

use acpi_tables::fix_checksum as acpi_fix;

#[test]
fn corrupt_srat_falls_back_to_one_node() {
    let mut srat = table("two-node", "SRAT").unwrap();
    srat[60] ^= 1; // checksum now fails
    let madt = table("two-node", "APIC").unwrap();
    let b = build_with(
        Some(&srat),
        None,
        Some(&madt),
        &qemu_args::qboot_e820(2 << 30),
        false,
    );
    assert_eq!(b.t.node_count(), 1);
    assert_eq!(b.t.cpus().len(), 4);
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("SRAT unusable") && w.contains("checksum")));
}

#[test]
fn invalid_slit_is_not_used() {
    let srat = table("two-node", "SRAT").unwrap();
    let mut slit = table("two-node", "SLIT").unwrap();
    slit[44 + 1] = 5; // distance(0,1) = 5
    acpi_fix(&mut slit);
    let b = build_with(
        Some(&srat),
        Some(&slit),
        None,
        &qemu_args::qboot_e820(2 << 30),
        false,
    );
    assert_eq!(b.t.distance(0, 1), 20);
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("SLIT looks invalid")));
    // A SLIT too short for its matrix.
    let mut slit = table("two-node", "SLIT").unwrap();
    slit[36] = 9;
    acpi_fix(&mut slit);
    let b = build_with(
        Some(&srat),
        Some(&slit),
        None,
        &qemu_args::qboot_e820(2 << 30),
        false,
    );
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("SLIT unusable") && w.contains("9x9")));
    assert!(b.warnings().iter().any(|w| w.starts_with("no MADT")));
    assert_eq!(b.t.cpus().len(), 1);
}

/// An SRAT with the given memory entries (base, length, pxm) and CPU 0 on PXM 0.
fn srat_with(mem: &[(u64, u64, u32)]) -> Vec<u8> {
    let mut body = vec![0u8; 12];
    body.extend_from_slice(&[0, 16, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for &(base, len, pxm) in mem {
        let mut e = [0u8; 40];
        e[0] = 1;
        e[1] = 40;
        e[2..6].copy_from_slice(&pxm.to_le_bytes());
        e[8..16].copy_from_slice(&base.to_le_bytes());
        e[16..24].copy_from_slice(&len.to_le_bytes());
        e[28] = 1;
        body.extend_from_slice(&e);
    }
    let mut t = b"SRAT".to_vec();
    t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
    t.extend_from_slice(&[1, 0]);
    t.extend_from_slice(&[0; 26]);
    t.extend_from_slice(&body);
    acpi_fix(&mut t);
    t
}

#[test]
fn overlapping_ranges_of_two_nodes_reject_numa() {
    let srat = srat_with(&[(0, 1 << 30, 0), (1 << 29, 1 << 30, 1)]);
    let b = build_with(Some(&srat), None, None, &[(0, 2 << 30)], false);
    assert_eq!(b.t.node_count(), 1);
    assert!(b.warnings().iter().any(|w| w.contains("overlaps")));
}

#[test]
fn range_outside_ram_warns_and_adds_nothing() {
    let srat = srat_with(&[(0, 1 << 30, 0), (8 << 30, 1 << 30, 1)]);
    let b = build_with(Some(&srat), None, None, &[(0, 1 << 30)], false);
    assert_eq!(b.t.node_count(), 2);
    assert_eq!(b.t.node_bytes(1), 0);
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("outside the firmware's RAM map")));
}

#[test]
fn ram_no_range_covers_goes_to_node_zero_with_a_warning() {
    let srat = srat_with(&[(0, 1 << 30, 0)]);
    let b = build_with(Some(&srat), None, None, &[(0, 2 << 30)], false);
    assert_eq!(b.t.node_bytes(0), 2 << 30);
    assert!(b
        .warnings()
        .iter()
        .any(|w| w.contains("is in no SRAT range")));
}

#[test]
fn domains_beyond_the_node_limit_are_refused_not_fatal() {
    let domains = MAX_NUMNODES as u32 + 6;
    let mem: Vec<(u64, u64, u32)> = (0..domains)
        .map(|i| ((i as u64) << 24, 1 << 24, i * 1000))
        .collect();
    let srat = srat_with(&mem);
    let b = build_with(
        Some(&srat),
        None,
        None,
        &[(0, (domains as u64) << 24)],
        false,
    );
    assert_eq!(b.t.node_count(), MAX_NUMNODES);
    let limit = format!("beyond the {MAX_NUMNODES}-node limit");
    assert!(b.warnings().iter().any(|w| w.contains(&limit)));
}

#[test]
fn numactl_report_is_linux_format() {
    let t = build_fixture("four-node-asym").t;
    let mut s = String::new();
    report::numactl_hardware(&t, &|n| t.node_bytes(n) / 2, &mut s).unwrap();
    let want = "available: 4 nodes (0-3)\n\
node 0 cpus: 0 1\n\
node 0 size: 255 MB\n\
node 0 free: 127 MB\n\
node 1 cpus: 2 3\n\
node 1 size: 512 MB\n\
node 1 free: 256 MB\n\
node 2 cpus: 4 5\n\
node 2 size: 768 MB\n\
node 2 free: 384 MB\n\
node 3 cpus: 6 7\n\
node 3 size: 1024 MB\n\
node 3 free: 512 MB\n\
node distances:\n\
node   0   1   2   3 \n  0:  10  16  22  28 \n  1:  16  10  16  22 \n  2:  22  16  10  16 \n  3:  28  22  16  10 \n";
    assert_eq!(s, want);
    let t = build_fixture("memless-cpuless").t;
    let mut s = String::new();
    report::numactl_hardware(&t, &|_| 0, &mut s).unwrap();
    assert!(s.contains("node 1 cpus: 2 3\nnode 1 size: 0 MB\n"));
    assert!(s.contains("node 2 cpus:\nnode 2 size: 512 MB\n"));
}

#[test]
fn json_report_carries_the_same_content() {
    let t = build_fixture("memless-cpuless").t;
    let mut s = String::new();
    report::json(&t, &|_| 0, None, &mut s).unwrap();
    assert!(s.starts_with(
        r#"{"source":"srat+slit","nodes":[{"node":0,"pxm":0,"cpus":[0,1],"apic_ids":[0,1],"#
    ));
    assert!(s.contains(r#"{"node":1,"pxm":1,"cpus":[2,3],"apic_ids":[2,3],"size_bytes":0,"free_bytes":0,"mem_node":2,"ranges":[]}"#));
    assert!(s.ends_with(r#""distances":[[10,20,30],[20,10,20],[30,20,10]]}"#));
}

fn framed(pieces: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in pieces {
        v.extend_from_slice(&(p.len() as u16).to_le_bytes());
        v.extend_from_slice(p);
    }
    v
}

/// The bounded fuzz run: fixture tables with random byte flips, truncations
/// and fixed-up checksums (so the mutations reach past the checksum check)
/// go through the whole topology builder and reports without a panic.
#[test]
fn mutated_fixture_tables_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..30000 {
        let topo = TOPOLOGIES[round % TOPOLOGIES.len()];
        let mut tables: Vec<Vec<u8>> = ["SRAT", "SLIT", "APIC", "HMAT"]
            .iter()
            .map(|s| table(topo, s).unwrap_or_default())
            .collect();
        for t in tables.iter_mut().filter(|t| !t.is_empty()) {
            for _ in 0..(rng.next_u64() % 4) {
                let i = (rng.next_u64() as usize) % t.len();
                t[i] = rng.next_u64() as u8;
            }
            if rng.next_u64().is_multiple_of(8) {
                let n = (rng.next_u64() as usize) % t.len();
                t.truncate(n);
            }
            if t.len() >= 36 && rng.next_u64().is_multiple_of(2) {
                acpi_fix(t);
            }
        }
        let refs: Vec<&[u8]> = tables.iter().map(|t| t.as_slice()).collect();
        fuzz_one(&framed(&refs));
    }
}

/// QEMU's SRAT gives the whole hot-plug area to one node; a DIMM whose
/// _PXM names another node is moved there, and only its own range.
#[test]
fn device_memory_follows_its_pxm_not_the_hotplug_range() {
    let gib = 1u64 << 30;
    let ram = [(0, 2 * gib), (4 * gib, 5 * gib + gib / 2)];
    let mut b = build_with(
        table("hotplug-dimm", "SRAT").as_deref(),
        table("hotplug-dimm", "SLIT").as_deref(),
        table("hotplug-dimm", "APIC").as_deref(),
        &ram,
        false,
    );
    // The SRAT's hot-plug range [4 GiB, ...) is node 1's, and kept as
    // where memory may arrive.
    assert_eq!(b.t.node_of_addr(5 * gib), Some(1));
    let hot: Vec<_> = b.t.hotpluggable().map(|m| (m.start, m.node)).collect();
    assert_eq!(hot, [(4 * gib, 1)]);
    assert!(b.t.assign_memory(5 * gib, 5 * gib + gib / 2, 0));
    assert_eq!(b.t.node_of_addr(4 * gib), Some(1));
    assert_eq!(b.t.node_of_addr(5 * gib), Some(0));
    assert_eq!(
        b.t.node_bytes(0) + b.t.node_bytes(1),
        2 * gib + gib + gib / 2
    );
    // Sorted, disjoint ranges still.
    for w in b.t.memory().windows(2) {
        assert!(w[0].end <= w[1].start, "{w:?}");
    }
    assert!(!b.t.assign_memory(0, gib, 7), "no node 7");
}

#[test]
fn without_acpi_the_mp_tables_cpus_are_all_on_node_0() {
    let mut log = Vec::new();
    let ram = qemu_args::qboot_e820(512 << 20);
    let inputs = Inputs {
        srat: None,
        mp_cpus: &[0, 1, 2, 3, 1],
        slit: None,
        madt: None,
        ram: &ram,
        boot_apic_id: 0,
        numa_off: false,
    };
    let t = build(&inputs, &mut |l, a| log.push((l, a.to_string())));
    assert_eq!(t.cpus().len(), 4, "{log:?}");
    assert!(t.cpus().iter().all(|c| c.node == 0));
    assert_eq!(t.node_count(), 1);
    assert!(log
        .iter()
        .any(|(_, w)| w.contains("5 CPUs from the MP table")));
    assert!(log
        .iter()
        .any(|(_, w)| w == "MP table: APIC 1 listed twice; second entry ignored"));
}

// ---- HMAT: performance, tiers and demotion ----

fn hmat_perf(topo: &str, patch: impl Fn(&mut Vec<u8>)) -> (Topology, hmat::MemoryPerf) {
    let b = build_fixture(topo);
    let mut bytes = table(topo, "HMAT").unwrap();
    patch(&mut bytes);
    acpi_tables::fix_checksum(&mut bytes);
    let h = acpi_tables::hmat::parse(&bytes).unwrap();
    let m = hmat::MemoryPerf::from_table(&b.t, &h);
    (b.t, m)
}

/// `nodeN/accessK/initiators/NAME VALUE` and
/// `nodeN/memory_side_cache/indexL/NAME VALUE` lines of linux-6.1.txt.
fn linux_sysfs(topo: &str) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(qemu_args::fixture_dir(topo).join("linux-6.1.txt")).unwrap();
    text.lines()
        .filter(|l| {
            l.starts_with("node") && (l.contains("/access") || l.contains("memory_side_cache"))
        })
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap();
            (k.to_string(), v.trim().parse().unwrap())
        })
        .collect()
}

fn our_sysfs(m: &hmat::MemoryPerf, key: &str) -> u64 {
    let parts: Vec<&str> = key.split('/').collect();
    let node: usize = parts[0].trim_start_matches("node").parse().unwrap();
    let t = m
        .target(node)
        .unwrap_or_else(|| panic!("{key}: node {node} is no target"));
    if parts[1] == "memory_side_cache" {
        let level: u8 = parts[2].trim_start_matches("index").parse().unwrap();
        let c = t
            .caches
            .iter()
            .flatten()
            .find(|c| c.level == level)
            .unwrap();
        return match parts[3] {
            "size" => c.size,
            "line_size" => c.line_size as u64,
            "indexing" => c.indexing as u64,
            "write_policy" => c.write_policy as u64,
            other => panic!("{other}"),
        };
    }
    let access: usize = parts[1].trim_start_matches("access").parse().unwrap();
    let p = t.access[access];
    (match parts[3] {
        "read_latency" => p.read_latency,
        "write_latency" => p.write_latency,
        "read_bandwidth" => p.read_bandwidth,
        "write_bandwidth" => p.write_bandwidth,
        other => panic!("{other}"),
    }) as u64
}

#[test]
fn hmat_figures_equal_what_linux_computed_from_the_same_tables() {
    for topo in ["tiered", "hmat-rw"] {
        let (_, m) = hmat_perf(topo, |_| {});
        let linux = linux_sysfs(topo);
        assert!(linux.len() >= 24, "{topo}: {} sysfs values", linux.len());
        for (key, want) in linux {
            assert_eq!(our_sysfs(&m, &key), want, "{topo}: {key}");
        }
    }
}

#[test]
fn an_attached_initiator_is_the_only_initiator() {
    let (_, m) = hmat_perf("tiered", |_| {});
    for (node, init) in [(0, 0), (1, 1), (2, 0), (3, 1)] {
        let t = m.target(node).unwrap();
        assert_eq!(t.attached, Some(init));
        assert_eq!(t.initiators, [1 << init, 1 << init], "node {node}");
    }
}

/// Clears "initiator valid" in every proximity structure.
fn drop_attached_initiators(b: &mut [u8]) {
    let mut at = 40;
    while at + 8 <= b.len() {
        let kind = u16::from_le_bytes([b[at], b[at + 1]]);
        let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        if kind == 0 {
            b[at + 8] &= !1;
        }
        at += len;
    }
}

#[test]
fn without_an_attached_initiator_the_best_one_is_chosen_by_write_latency_first() {
    // hmat-rw: node 2 is 400/350 ns to write from initiators 0/1, 300/250
    // to read, 1/2 GiB/s to write, 2/3 GiB/s to read: initiator 1 wins on
    // write latency, and its figures are the node's.
    let (_, m) = hmat_perf("hmat-rw", |b| drop_attached_initiators(b));
    let t = m.target(2).unwrap();
    assert_eq!(t.attached, None);
    let want = hmat::Perf {
        read_latency: 250,
        write_latency: 350,
        read_bandwidth: 3072,
        write_bandwidth: 2048,
    };
    assert_eq!(t.access, [want, want]);
    assert_eq!(t.initiators, [1 << 1, 1 << 1]);
    // Node 0 is best served by itself.
    let t0 = m.target(0).unwrap();
    assert_eq!(t0.initiators[0], 1);
    assert_eq!(t0.access[0].write_latency, 90);
    // tiered without attachment: node 2 is 160 ns from 0 and 210 from 1.
    let (_, m) = hmat_perf("tiered", |b| drop_attached_initiators(b));
    assert_eq!(m.target(2).unwrap().initiators[0], 1);
    assert_eq!(m.target(3).unwrap().initiators[0], 1 << 1);
    assert_eq!(m.target(3).unwrap().access[1].read_latency, 160);
}

#[test]
fn ties_keep_every_equal_initiator() {
    // Make every entry of tiered's matrices the same: both initiators are
    // equally good for every node, and both are kept.
    let (_, m) = hmat_perf("tiered", |b| {
        drop_attached_initiators(b);
        let mut at = 40;
        while at + 8 <= b.len() {
            let kind = u16::from_le_bytes([b[at], b[at + 1]]);
            let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
            if kind == 1 {
                let ni = u32::from_le_bytes(b[at + 12..at + 16].try_into().unwrap()) as usize;
                let nt = u32::from_le_bytes(b[at + 16..at + 20].try_into().unwrap()) as usize;
                let e = at + 32 + 4 * (ni + nt);
                for k in 0..ni * nt {
                    b[e + 2 * k..e + 2 * k + 2].copy_from_slice(&7u16.to_le_bytes());
                }
            }
            at += len;
        }
    });
    for node in 0..4 {
        assert_eq!(m.target(node).unwrap().initiators[0], 0b11, "node {node}");
    }
}

#[test]
fn tiered_preset_tiers_and_demotion_targets() {
    let (t, m) = hmat_perf("tiered", |_| {});
    let tiers = hmat::tiers(&t, &m);
    // DRAM 80/80 ns, 20 GiB/s; slow nodes 160/160 ns, 5 GiB/s:
    // 576 * 320/160 * 40960/10240 = 4608, tier 36.
    assert_eq!(tiers.reference.map(|r| r.0), Ok(0));
    assert_eq!(&tiers.adistance[..4], &[576, 576, 4608, 4608]);
    let list: Vec<(u32, u128)> = tiers.tiers().collect();
    assert_eq!(list, [(4, 0b0011), (36, 0b1100)]);
    // Node 0 is nearer node 2 (24) than node 3 (28); node 1 the reverse.
    assert_eq!(&tiers.preferred[..4], &[0b0100, 0b1000, 0, 0]);
    assert_eq!(&tiers.fallback[..4], &[0b1100, 0b1100, 0, 0]);
    assert!(tiers.can_demote(0) && !tiers.can_demote(2));
    let (t, m) = hmat_perf("hmat-rw", |_| {});
    let tiers = hmat::tiers(&t, &m);
    // 576 * (250+350)/(70+90) * (16384+12288)/(3072+2048) = 12096.
    assert_eq!(tiers.adistance[2], 12096);
    assert_eq!(tiers.tier_of(2), 94);
    assert_eq!(&tiers.preferred[..3], &[0b100, 0b100, 0]);
}

#[test]
fn tier_arithmetic_on_table_driven_inputs() {
    let p = |rl, wl, rb, wb| hmat::Perf {
        read_latency: rl,
        write_latency: wl,
        read_bandwidth: rb,
        write_bandwidth: wb,
    };
    let dram = p(100, 100, 10000, 10000);
    for (perf, want) in [
        (p(100, 100, 10000, 10000), Some(576)),
        (p(200, 200, 10000, 10000), Some(1152)),
        (p(100, 100, 5000, 5000), Some(1152)),
        // Faster than DRAM: a higher tier (tier 3).
        (p(80, 80, 10000, 10000), Some(460)),
        // Integer division in Linux's order: 576*150/200 = 432, *20000/15000 = 576.
        (p(75, 75, 7500, 7500), Some(576)),
        (p(0, 0, 10000, 10000), None),
        (p(100, 100, 0, 0), None),
    ] {
        assert_eq!(hmat::perf_to_adistance(&perf, &dram), want, "{perf:?}");
    }
    let mut s = String::new();
    hmat::write_nodelist(&mut s, 0b1011_0111).unwrap();
    assert_eq!(s, "0-2,4-5,7");
    s.clear();
    hmat::write_nodelist(&mut s, 0).unwrap();
    assert_eq!(s, "");
}

#[test]
fn mismatched_dram_nodes_leave_every_node_in_the_dram_tier() {
    // Node 1's own latency 80 -> 100 ns (more than 10% off node 0's).
    let (t, m) = hmat_perf("tiered", |b| {
        let mut at = 40;
        while at + 8 <= b.len() {
            let kind = u16::from_le_bytes([b[at], b[at + 1]]);
            let len = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
            if kind == 1 && b[at + 9] == 0 {
                // initiator 1 x target 1 of a 2 x 4 latency matrix.
                let e = at + 32 + 4 * 6 + 2 * 5;
                b[e..e + 2].copy_from_slice(&10u16.to_le_bytes());
                break;
            }
            at += len;
        }
    });
    let tiers = hmat::tiers(&t, &m);
    assert_eq!(
        tiers.reference.map(|r| r.0),
        Err(hmat::ReferenceError::Mismatch {
            node: 1,
            reference: 0
        })
    );
    assert!(tiers.adistance[..4].iter().all(|&a| a == 576));
    assert_eq!(tiers.tiers().count(), 1);
    assert!(!tiers.can_demote(0));
}

#[test]
fn reports_print_linux_sysfs_lines_tiers_and_demotion_targets() {
    for topo in ["tiered", "hmat-rw"] {
        let (t, m) = hmat_perf(topo, |_| {});
        let mut out = String::new();
        report::hmat_sysfs(&t, &m, &mut out).unwrap();
        // Every value Linux's sysfs showed is one of our lines, verbatim.
        for (key, v) in linux_sysfs(topo) {
            let line = format!("{key} {v}");
            assert!(
                out.lines().any(|l| l == line),
                "{topo}: no '{line}' in\n{out}"
            );
        }
        let tiers = hmat::tiers(&t, &m);
        let mut s = String::new();
        report::json(&t, &|_| 0, Some((&m, &tiers)), &mut s).unwrap();
        assert!(s.contains(r#""memory":{"hmat_revision":2,"targets":[{"node":0,"access0":{"initiators":[0],"read_bandwidth":"#), "{s}");
    }
    let (t, m) = hmat_perf("tiered", |_| {});
    let mut out = String::new();
    report::tiers(&t, &hmat::tiers(&t, &m), &mut out).unwrap();
    for line in [
        "memory_tier4 nodelist 0-1",
        "memory_tier36 nodelist 2-3",
        "node2 abstract distance 4608 (memory_tier36)",
        "Demotion targets for Node 0: preferred: 2, fallback: 2-3",
        "Demotion targets for Node 1: preferred: 3, fallback: 2-3",
        "Demotion targets for Node 3: null",
    ] {
        assert!(out.lines().any(|l| l == line), "no '{line}' in\n{out}");
    }
}

#[test]
fn pair_figures_are_the_table_entries_as_given() {
    let b = build_fixture("hmat-rw");
    let bytes = table("hmat-rw", "HMAT").unwrap();
    let h = acpi_tables::hmat::parse(&bytes).unwrap();
    // Initiator 0 to node 2 is not the best initiator, but the pair has
    // its own entries: 300/400 ns, 2/1 GiB/s.
    let p = hmat::pair_perf(&b.t, &h, 0, 2);
    assert_eq!(
        (
            p.read_latency,
            p.write_latency,
            p.read_bandwidth,
            p.write_bandwidth
        ),
        (300, 400, 2048, 1024)
    );
    assert_eq!(
        hmat::pair_perf(&b.t, &h, 2, 0),
        hmat::Perf::default(),
        "node 2 initiates nothing"
    );
    assert_eq!(hmat::pair_perf(&b.t, &h, 9, 0), hmat::Perf::default());
}

/// Linux 6.12, which derives tiers from HMAT (6.1 does not), booted on the
/// same tables (fixtures' linux-6.12.txt): its memory_tiering lines are
/// our tier report's, and its per-node figures are ours too.
#[test]
fn tiers_and_figures_equal_what_linux_6_12_computed_from_the_same_tables() {
    for topo in ["tiered", "hmat-rw"] {
        let text =
            std::fs::read_to_string(qemu_args::fixture_dir(topo).join("linux-6.12.txt")).unwrap();
        let (t, m) = hmat_perf(topo, |_| {});
        let mut ours = String::new();
        report::tiers(&t, &hmat::tiers(&t, &m), &mut ours).unwrap();
        let mut sysfs = String::new();
        report::hmat_sysfs(&t, &m, &mut sysfs).unwrap();
        let mut tiers = 0;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("memory_tier") {
                // `memory_tier36/nodelist 2-3` there, `memory_tier36 nodelist 2-3` here.
                let ours_line = format!("memory_tier{}", rest.replacen('/', " ", 1));
                assert!(
                    ours.lines().any(|l| l == ours_line),
                    "{topo}: Linux 6.12's '{line}' is not ours:\n{ours}"
                );
                tiers += 1;
            } else if line.starts_with("node")
                && (line.contains("/access") || line.contains("memory_side_cache"))
            {
                assert!(
                    sysfs.lines().any(|l| l == line),
                    "{topo}: Linux 6.12's '{line}' is not ours"
                );
            }
        }
        let ours_tiers = ours
            .lines()
            .filter(|l| l.starts_with("memory_tier"))
            .count();
        assert_eq!(
            tiers, ours_tiers,
            "{topo}: the same number of tiers\n{ours}"
        );
        assert!(tiers >= 2, "{topo}: a lower tier");
    }
}
