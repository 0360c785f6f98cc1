//! AML as a user sees it: the DSDT loaded into the interpreter, a passing
//! run ending in a clean ACPI power-off (a failing one never does), and
//! the ACPI memory devices of a VM with a coldplugged pc-dimm found with
//! their status and node.

use boot_tests::{boot, Boot};

fn tcg(args: &[&str]) -> Boot {
    let mut all = vec!["--tcg"];
    all.extend_from_slice(args);
    boot(&all)
}

#[test]
fn a_passing_run_powers_off_through_acpi_s5() {
    let b = tcg(&["--topology", "two-node", "--cmdline", "selftest=paging"]);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console.contains("ACPI: AML: 1 of 1 tables loaded"),
        "{}",
        b.dump()
    );
    assert!(
        b.console.contains(
            "reboot: Power down (ACPI S5: SLP_TYPa 0, SLP_TYPb 0, PM1a control port 0x604)"
        ),
        "{}",
        b.dump()
    );
    assert!(!b.console.contains("exiting through QEMU's exit device"));
}

#[test]
fn a_failing_run_does_not_power_off() {
    let b = tcg(&[
        "--topology",
        "one-node",
        "--cmdline",
        "selftest=canary_fail",
    ]);
    assert_eq!(b.status, 1, "{}", b.dump());
    assert!(!b.console.contains("reboot: Power down"), "{}", b.dump());
}

#[test]
fn a_coldplugged_dimm_is_found_through_aml_with_its_node() {
    let b = tcg(&[
        "--topology",
        "two-node",
        "--dimm",
        "1:1G",
        "--cmdline",
        "selftest=paging",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.stderr.contains("-m 2048M,slots=4,maxmem=3072M"),
        "{}",
        b.stderr
    );
    // The SRAT's hot-plug range on node 1, and the device AML describes.
    assert!(b.console.contains("hot-pluggable"), "{}", b.dump());
    // QEMU puts the first DIMM at 4 GiB (above the 2 GiB of boot RAM).
    assert!(
        b.console.contains(
            "memory device \\_SB_.MHPC.MP00: [mem 0x0000000100000000-0x000000013fffffff] 1024 MiB, PXM 1, node 1, _STA 0xf"
        ),
        "{}",
        b.dump()
    );
    assert!(b
        .console
        .contains("memory device \\_SB_.MHPC.MP01: not present (_STA 0)"));
}

#[test]
fn a_bad_dimm_word_is_refused_by_the_launcher() {
    let b = tcg(&["--topology", "two-node", "--dimm", "one:1G"]);
    assert_eq!(b.status, 2);
    assert!(b.stderr.contains("--dimm wants NODE:SIZE"), "{}", b.stderr);
}

#[test]
fn dimm_memory_is_zone_movable_on_the_node_its_pxm_names() {
    // Two DIMMs: QEMU's SRAT gives its whole hot-plug area to node 1, the
    // second DIMM's _PXM says node 0.
    let b = tcg(&[
        "--topology",
        "two-node",
        "--dimm",
        "1:1G",
        "--dimm",
        "0:512M",
        "--cmdline",
        "selftest=device_memory,page_alloc",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let ktap = b.ktap();
    assert!(ktap.failed_cases().is_empty(), "{}", b.dump());
    assert!(
        ktap.cases
            .iter()
            .filter(|c| c.suite == "device_memory")
            .count()
            == 2
            && !b.console.contains("device_memory # SKIP"),
        "{}",
        b.dump()
    );
    let zones = boot_tests::mm_reports::zoneinfo(
        boot_tests::mm_reports::section(&b.console, "/proc/zoneinfo").unwrap(),
    );
    let present = |node: usize| {
        zones
            .iter()
            .find(|z| z.node == node && z.zone == "Movable")
            .map(|z| z.fields["present"])
    };
    assert_eq!(present(1), Some(262_144), "1 GiB on node 1");
    assert_eq!(present(0), Some(131_072), "512 MiB on node 0");
}

#[test]
fn nvdimm_memory_is_zone_device_and_keeps_its_data_across_boots() {
    let file = std::env::temp_dir().join(format!("nvdimm-test-{}.img", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let path = file.to_str().unwrap();
    let args = [
        "--topology",
        "two-node",
        "--nvdimm",
        "1:256M",
        "--nvdimm-file",
        path,
        "--cmdline",
        "selftest=pmem",
    ];
    let first = tcg(&args);
    assert_eq!(first.status, 0, "{}", first.dump());
    assert!(
        first.stderr.contains("-machine q35,nvdimm=on"),
        "{}",
        first.stderr
    );
    assert!(
        first.console.contains(
            "NFIT: persistent memory [mem 0x0000000100000000-0x000000010fffffff] 256 MiB, PXM 1"
        ),
        "{}",
        first.dump()
    );
    assert!(first.console.contains(
        "node 1 Device  [mem 0x0000000100000000-0x000000010fffffff] present 65536 managed 0 pages"
    ));
    assert!(
        first.console.contains("# pmem: boot 1: no earlier pattern"),
        "{}",
        first.dump()
    );
    let second = tcg(&args);
    assert_eq!(second.status, 0, "{}", second.dump());
    assert!(
        second
            .console
            .contains("# pmem: boot 2: the 1 MiB pattern of boot 1 read back intact"),
        "{}",
        second.dump()
    );
    assert!(second.ktap().failed_cases().is_empty());
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_vm_with_both_a_dimm_and_an_nvdimm_keeps_its_numa_topology_and_passes() {
    // QEMU's SRAT then has a hot-plug area (node 1) overlapping the
    // NVDIMM's range (node 0); as Linux, ranges without RAM are set aside
    // before the overlap check, so NUMA is not given up.
    let file = std::env::temp_dir().join(format!("nvdimm-both-{}.img", std::process::id()));
    let b = tcg(&[
        "--topology",
        "two-node",
        "--dimm",
        "1:1G",
        "--nvdimm",
        "0:256M",
        "--nvdimm-file",
        file.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_file(&file);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console.contains("available: 2 nodes (0-1)"),
        "{}",
        b.dump()
    );
    assert!(b
        .console
        .contains("node 1 Movable [mem 0x0000000100000000-0x000000013fffffff]"));
    assert!(b
        .console
        .contains("node 0 Device  [mem 0x0000000140000000-0x000000014fffffff]"));
    assert!(b.ktap().failed_cases().is_empty());
}
