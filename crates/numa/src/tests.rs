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
    report::json(&t, &|_| 0, &mut s).unwrap();
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
        let mut tables: Vec<Vec<u8>> = ["SRAT", "SLIT", "APIC"]
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
    // The SRAT's hot-plug range [4 GiB, ...) is node 1's.
    assert_eq!(b.t.node_of_addr(5 * gib), Some(1));
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
