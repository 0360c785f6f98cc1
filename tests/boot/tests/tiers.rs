//! HMAT and memory tiers as a user sees them: on the tiered preset the
//! kernel's per-node figures are the ones Linux 6.1 computed from the same
//! tables (fixtures/qemu-acpi/tiered/linux-6.1.txt), its tiers are the
//! ones Linux 6.12 built from them (linux-6.12.txt), its demotion targets
//! follow Linux's rules, and a corrupt HMAT is named and ignored.

use boot_tests::{boot, qemu_args, Boot};

fn tcg(args: &[&str]) -> Boot {
    let mut all = vec!["--tcg"];
    all.extend_from_slice(args);
    boot(&all)
}

fn numa_json(b: &Boot) -> serde_json::Value {
    let line = b
        .console
        .lines()
        .find_map(|l| l.strip_prefix("NUMA_TOPOLOGY "))
        .unwrap_or_else(|| panic!("no NUMA_TOPOLOGY line\n{}", b.dump()));
    serde_json::from_str(line).unwrap()
}

#[test]
fn tiered_preset_reports_what_linux_computes_from_its_hmat() {
    let b = tcg(&["--topology", "tiered", "--cmdline", "selftest=paging"]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let linux =
        std::fs::read_to_string(qemu_args::fixture_dir("tiered").join("linux-6.1.txt")).unwrap();
    let mut compared = 0;
    for line in linux.lines().filter(|l| {
        l.starts_with("node") && (l.contains("/access") || l.contains("memory_side_cache"))
    }) {
        assert!(
            b.console.lines().any(|l| l == line),
            "Linux's '{line}' is not in the boot log\n{}",
            b.dump()
        );
        compared += 1;
    }
    assert_eq!(
        compared,
        4 * 2 * 4 + 2 * 4,
        "every access figure and cache attribute"
    );
    // The tiers Linux 6.12 (which derives them from HMAT) built from the
    // same tables, in our report's spelling.
    let linux_612 =
        std::fs::read_to_string(qemu_args::fixture_dir("tiered").join("linux-6.12.txt")).unwrap();
    let mut tiers = 0;
    for line in linux_612
        .lines()
        .filter_map(|l| l.strip_prefix("memory_tier"))
    {
        let ours = format!("memory_tier{}", line.replacen('/', " ", 1));
        assert!(
            b.console.lines().any(|l| l == ours),
            "Linux 6.12's tier '{ours}' is not in the boot log\n{}",
            b.dump()
        );
        tiers += 1;
    }
    assert_eq!(tiers, 2);
    // 2x DRAM's latency and a quarter of its bandwidth:
    // 576 * (160+160)/(80+80) * (20480+20480)/(5120+5120) = 4608.
    for line in [
        "memory_tier4 nodelist 0-1",
        "memory_tier36 nodelist 2-3",
        "node2 abstract distance 4608 (memory_tier36)",
        "Demotion targets for Node 0: preferred: 2, fallback: 2-3",
        "Demotion targets for Node 1: preferred: 3, fallback: 2-3",
        "Demotion targets for Node 2: null",
    ] {
        assert!(
            b.console.lines().any(|l| l == line),
            "no '{line}'\n{}",
            b.dump()
        );
    }
    let j = numa_json(&b);
    let m = &j["memory"];
    assert_eq!(m["hmat_revision"], 2);
    assert_eq!(m["tiers"][1]["tier"], 36);
    assert_eq!(m["tiers"][1]["nodes"], serde_json::json!([2, 3]));
    let node2 = &m["targets"][2];
    assert_eq!(node2["node"], 2);
    assert_eq!(node2["access1"]["read_latency"], 160);
    assert_eq!(node2["access1"]["initiators"], serde_json::json!([0]));
    assert_eq!(node2["caches"][0]["size"], 16 << 20);
    assert_eq!(m["nodes"][0]["demotion_preferred"], serde_json::json!([2]));
}

#[test]
fn a_corrupt_hmat_is_named_and_ignored() {
    // tiered's HMAT with its first locality structure claiming 200 targets
    // (more than the structure holds), added to a two-node VM; QEMU's
    // -acpitable recomputes the checksum, so the parser meets the lie.
    let mut t = std::fs::read(qemu_args::fixture_dir("tiered").join("HMAT.bin")).unwrap();
    let mut at = 40;
    while u16::from_le_bytes([t[at], t[at + 1]]) != 1 {
        at += u32::from_le_bytes(t[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    t[at + 16] = 200;
    let path = std::env::temp_dir().join(format!("corrupt-hmat-{}.bin", std::process::id()));
    std::fs::write(&path, &t).unwrap();
    let file = format!("file={}", path.display());
    let b = tcg(&[
        "--topology",
        "two-node",
        "--qemu-arg",
        "-acpitable",
        "--qemu-arg",
        &file,
        "--cmdline",
        "selftest=paging",
    ]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console.contains("HMAT: entry at offset") && b.console.contains("the table is ignored"),
        "{}",
        b.dump()
    );
    assert!(!b.console.contains("HMAT (revision"), "{}", b.dump());
    assert!(
        b.console.lines().any(|l| l == "memory_tier4 nodelist 0-1"),
        "{}",
        b.dump()
    );
    assert!(numa_json(&b)["memory"]["targets"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn reclaim_on_the_tiered_preset_demotes_to_the_slow_nodes_and_reads_back_intact() {
    let b = tcg(&["--topology", "tiered", "--cmdline", "selftest=pressure"]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let counter = |name: &str| -> u64 {
        b.console
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} line\n{}", b.dump()))
    };
    assert!(counter("pgdemote_kswapd ") > 0, "{}", b.dump());
    assert!(
        b.console
            .lines()
            .any(|l| l.contains("pages demoted from node") && l.contains("read back intact")),
        "{}",
        b.dump()
    );
}
