//! The booted kernel finds the topology each preset's QEMU arguments
//! describe: node count, CPUs per node, memory per node and distances, in
//! its JSON line and in its `numactl --hardware` text.

use boot_tests::{accelerators, boot, qemu_args, Boot, PRESETS};
use serde_json::Value;

/// Firmware keeps [0x9fc00, 0x100000) of node 0 for itself (385 KiB), and
/// the first page is the BIOS's, not RAM (Linux's trim_bios_range).
const FIRMWARE_HOLE: u64 = 0x10_0000 - 0x9_fc00 + 0x1000;

fn topology_json(b: &Boot) -> Value {
    let line = b
        .console
        .lines()
        .find_map(|l| l.strip_prefix("NUMA_TOPOLOGY "))
        .unwrap_or_else(|| panic!("no NUMA_TOPOLOGY line\n{}", b.dump()));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON ({e}): {line}"))
}

fn check_against_qemu_args(preset: &str, b: &Boot) -> Result<(), String> {
    let vm = qemu_args::load(preset);
    let t = topology_json(b);
    let nodes = t["nodes"].as_array().unwrap();
    if nodes.len() != vm.nodes.len() {
        return Err(format!("{} nodes, want {}", nodes.len(), vm.nodes.len()));
    }
    for (&id, (cpus, mem)) in &vm.nodes {
        let n = &nodes[id];
        let got: Vec<usize> = n["cpus"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap() as usize)
            .collect();
        if &got != cpus {
            return Err(format!("node {id} cpus {got:?}, want {cpus:?}"));
        }
        let size = n["size_bytes"].as_u64().unwrap();
        if size > *mem || mem - size > FIRMWARE_HOLE {
            return Err(format!(
                "node {id} has {size:#x} bytes, want {mem:#x} less at most {FIRMWARE_HOLE:#x}"
            ));
        }
    }
    let dist = t["distances"].as_array().unwrap();
    if dist.len() != nodes.len() {
        return Err(format!(
            "{} distance rows for {} nodes",
            dist.len(),
            nodes.len()
        ));
    }
    for (i, row) in dist.iter().enumerate() {
        for (j, d) in row.as_array().unwrap().iter().enumerate() {
            let d = d.as_u64().unwrap() as u8;
            if d != vm.distance(i, j) {
                return Err(format!(
                    "distance({i},{j}) = {d}, want {}",
                    vm.distance(i, j)
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn every_preset_reports_the_topology_its_qemu_arguments_describe() {
    let mut failures = Vec::new();
    for accel in accelerators() {
        for preset in PRESETS {
            let b = boot(&[
                "--topology",
                preset,
                accel.flag(),
                "--cmdline",
                "selftest=numa",
            ]);
            if b.status != 0 {
                failures.push(format!(
                    "{preset} {accel:?}: status {}\n{}",
                    b.status,
                    b.dump()
                ));
                continue;
            }
            if let Err(e) = check_against_qemu_args(preset, &b) {
                failures.push(format!("{preset} {accel:?}: {e}\n{}", b.dump()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn numactl_matches_qemu_args(preset: &str) {
    let vm = qemu_args::load(preset);
    let b = boot(&["--topology", preset, "--tcg", "--cmdline", "selftest=off"]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let (count, nodes, rows) = boot_tests::numactl::parse(&b.console);
    assert_eq!(count, vm.nodes.len());
    for (id, (cpus, mb)) in nodes.iter().enumerate() {
        let (want_cpus, want_mem) = &vm.nodes[&id];
        assert_eq!(cpus, want_cpus, "node {id}");
        let want_mb = want_mem >> 20;
        // Node 0 loses the firmware hole, so it reads one MB short.
        assert!(
            *mb == want_mb || (id == 0 && *mb + 1 == want_mb),
            "node {id}: {mb} MB, want {want_mb}"
        );
        for (j, &d) in rows[id].iter().enumerate() {
            assert_eq!(d, vm.distance(id, j), "distance({id},{j})");
        }
    }
}

#[test]
fn numactl_report_on_four_node_asym_matches_field_by_field() {
    numactl_matches_qemu_args("four-node-asym");
}

#[test]
fn numactl_report_on_memless_cpuless_matches_field_by_field() {
    numactl_matches_qemu_args("memless-cpuless");
}

#[test]
fn a_vm_without_slit_uses_default_distances_and_says_so() {
    let b = boot(&[
        "--tcg",
        "--nodes",
        "2",
        "--mem-per-node",
        "256M",
        "--cmdline",
        "selftest=numa",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console
            .contains("warning: NUMA: no SLIT: using default distances"),
        "{}",
        b.dump()
    );
    let t = topology_json(&b);
    assert_eq!(t["source"], "srat");
    assert_eq!(t["distances"], serde_json::json!([[10, 20], [20, 10]]));
}

#[test]
fn numa_off_gives_one_node_with_everything() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "four-node-asym",
        "--cmdline",
        "numa=off selftest=numa",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let t = topology_json(&b);
    assert_eq!(t["source"], "numa=off");
    let nodes = t["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["cpus"].as_array().unwrap().len(), 8);
    let size = nodes[0]["size_bytes"].as_u64().unwrap();
    assert!((2560u64 << 20) - size <= FIRMWARE_HOLE, "{size}");
}

#[test]
fn memoryless_node_allocates_from_its_nearest_node_with_memory() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "memless-cpuless",
        "--cmdline",
        "selftest=numa",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let t = topology_json(&b);
    assert_eq!(t["nodes"][1]["mem_node"], 2);
    assert_eq!(t["nodes"][1]["size_bytes"], 0);
    assert_eq!(t["nodes"][2]["cpus"], serde_json::json!([]));
}

#[test]
fn mem_limit_trims_the_highest_node() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--cmdline",
        "mem=1536M selftest=numa,memblock",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console
            .contains("memblock: mem=0x60000000 leaves 1535 of 2047 MiB"),
        "{}",
        b.dump()
    );
    let t = topology_json(&b);
    assert_eq!(t["nodes"][1]["size_bytes"], 512u64 << 20);
    assert!(t["nodes"][1]["free_bytes"].as_u64().unwrap() <= 512 << 20);
}
