//! Memory hot-add while the VM runs: the launcher's --hotplug adds a
//! pc-dimm through QMP, the kernel takes the ACPI event on the SCI, onlines
//! the memory on its node and tells the firmware through _OST.

use boot_tests::boot;
use boot_tests::ktap::Result;

/// The issue's own example: 512 MiB onto node 1 of two-node, the hot-add
/// self-tests passing, numactl, zoneinfo and buddyinfo showing it.
#[test]
fn hotplug_of_512m_onto_node_1_comes_online_as_its_zone_movable() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--hotplug",
        "1:512M",
        "--cmdline",
        "selftest=hotplug,page_alloc mm.report=1",
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    let passed = b
        .ktap()
        .cases
        .iter()
        .filter(|c| c.suite == "hotplug" && c.result == Result::Ok)
        .count();
    assert_eq!(passed, 2, "{}", b.dump());
    for want in [
        "ACPI: SCI on GSI 9 (level, active high), vector 0xe0",
        "ACPI: memory hotplug: ready: 4 slots at port 0xa00, events by sci",
        "ACPI: memory hotplug: slot 0: [mem 0x0000000100000000-0x000000011fffffff] on node 1 (PXM 1): 131072 pages online in ZONE_MOVABLE",
        "node 1 size: 1024 MB",
        "node 1 size: 1536 MB",
        "Node 1, zone  Movable      0      0      0      0      0      0      0      0      0      0    128",
        "        spanned  131072\n        present  131072\n        managed  131072",
    ] {
        assert!(b.console.contains(want), "missing '{want}'\n{}", b.dump());
    }
    for want in [
        r#"{"execute": "device_add", "arguments": {"driver": "pc-dimm", "id": "hpdimm0", "memdev": "hpmem0", "node": 1}}"#,
        r#"event ACPI_DEVICE_OST {"info": {"device": "hpdimm0", "source": 1, "status": 0, "slot": "0", "slot-type": "DIMM"}}"#,
    ] {
        assert!(b.stderr.contains(want), "missing '{want}'\n{}", b.dump());
    }
}

/// A DIMM for a node whose ZONE_MOVABLE already holds boot memory (a
/// coldplugged DIMM) is refused with a reason, and the firmware hears of
/// the failure (_OST status 1); the kernel carries on.
#[test]
fn a_hot_add_the_kernel_cannot_online_is_refused_and_reported_to_the_firmware() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--dimm",
        "1:256M",
        "--hotplug",
        "1:256M",
        "--cmdline",
        "selftest=hotplug",
    ]);
    assert!(
        b.console
            .contains("refused: node 1 has no zone for hot-added memory"),
        "{}",
        b.dump()
    );
    assert!(
        b.stderr
            .contains(r#""device": "hpdimm0", "source": 1, "status": 1"#),
        "{}",
        b.dump()
    );
    // The self-test says the device was refused; nothing else went wrong.
    let ktap = b.ktap();
    let failed = ktap.failed_cases();
    assert!(
        !failed.is_empty() && failed.iter().all(|c| c.suite == "hotplug"),
        "{}",
        b.dump()
    );
    assert!(
        b.console.contains("boot: entry to end of self-tests took"),
        "{}",
        b.dump()
    );
}
