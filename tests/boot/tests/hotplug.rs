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
        "        spanned  131072\n        present  131072\n        managed  131072",
    ] {
        assert!(b.console.contains(want), "missing '{want}'\n{}", b.dump());
    }
    // buddyinfo: the new zone's 4 MiB blocks (the self-tests ran with the
    // memory there, so a few pages may still sit on the CPUs' lists).
    let blocks: Vec<u64> = b
        .console
        .lines()
        .filter_map(|l| l.strip_prefix("Node 1, zone  Movable "))
        .filter_map(|rest| rest.split_whitespace().last()?.parse().ok())
        .collect();
    assert!(
        blocks.iter().any(|&n| (120..=128).contains(&n)),
        "buddyinfo's Movable order-10 counts {blocks:?}\n{}",
        b.dump()
    );
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

/// Hot-remove: two DIMMs onto node 1, task pages on both and on the
/// second also a page nobody can migrate; the launcher then asks QEMU to
/// remove both. The first goes offline with its task pages migrated
/// (intact, the self-test checks) and is ejected: QEMU's DEVICE_DELETED
/// arrives. The second is refused as busy, with the page named, and
/// stays online; the firmware hears both outcomes through _OST.
#[test]
fn hot_remove_migrates_the_pages_off_one_dimm_and_refuses_the_busy_one() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--hotplug",
        "1:64M",
        "--hotplug",
        "1:64M",
        "--hotunplug",
        "hpdimm0",
        "--hotunplug",
        "hpdimm1",
        "--cmdline",
        "selftest=hotplug",
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    let ktap = b.ktap();
    let case = ktap
        .cases
        .iter()
        .find(|c| c.name == "removal_migrates_owned_pages_off_and_refuses_a_page_nobody_can_move");
    assert_eq!(
        case.map(|c| c.result.clone()),
        Some(Result::Ok),
        "{}",
        b.dump()
    );
    for want in [
        "memory hotplug: ready for removal (2 devices on node 1; 64 task pages on each, one page nobody can move on the last)",
        "ACPI: memory hotplug: slot 0: [mem 0x0000000100000000-0x0000000103ffffff] on node 1: removal requested",
        "ACPI: memory hotplug: slot 0: [mem 0x0000000100000000-0x0000000103ffffff] on node 1: 16384 pages offline (pfn 0x100000-0x103fff), 64 migrated off it first; ejecting",
        "ACPI: memory hotplug: slot 1: [mem 0x0000000104000000-0x0000000107ffffff] on node 1: removal refused: pfn 0x",
        "is in use by an allocation no owner can move (unmovable in practice); the range stays online",
        "node 1 size: 1152 MB",
    ] {
        assert!(b.console.contains(want), "missing '{want}'\n{}", b.dump());
    }
    // numactl after the removal: back to one DIMM's worth.
    let after = b
        .console
        .split("64 migrated off it first")
        .nth(1)
        .unwrap_or("");
    assert!(after.contains("node 1 size: 1088 MB"), "{}", b.dump());
    for want in [
        r#"{"execute": "device_del", "arguments": {"id": "hpdimm0"}}"#,
        r#"event ACPI_DEVICE_OST {"info": {"device": "hpdimm0", "source": 3, "status": 0, "slot": "0", "slot-type": "DIMM"}}"#,
        r#"event DEVICE_DELETED {"device": "hpdimm0", "path": "/machine/peripheral/hpdimm0"}"#,
        r#"event ACPI_DEVICE_OST {"info": {"device": "hpdimm1", "source": 3, "status": 130, "slot": "1", "slot-type": "DIMM"}}"#,
    ] {
        assert!(b.stderr.contains(want), "missing '{want}'\n{}", b.dump());
    }
    assert!(
        !b.stderr
            .contains(r#"event DEVICE_DELETED {"device": "hpdimm1""#),
        "the busy DIMM went\n{}",
        b.dump()
    );
}

/// Without the hotplug self-tests the kernel gives the removal cue itself
/// and waits for the removal before the run ends: the DIMM, with nothing
/// on it to migrate, goes.
#[test]
fn hot_remove_without_the_hotplug_self_tests_is_cued_and_waited_for_by_the_kernel() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--hotplug",
        "1:256M",
        "--hotunplug",
        "hpdimm0",
        "--cmdline",
        "selftest=numa",
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    for want in [
        "memory hotplug: ready for removal (1 expected; no hotplug self-tests place pages first)",
        "on node 1: 65536 pages offline (pfn 0x100000-0x10ffff), 0 migrated off it first; ejecting",
    ] {
        assert!(b.console.contains(want), "missing '{want}'\n{}", b.dump());
    }
    assert!(
        b.stderr.contains(
            r#"event DEVICE_DELETED {"device": "hpdimm0", "path": "/machine/peripheral/hpdimm0"}"#
        ),
        "{}",
        b.dump()
    );
}
