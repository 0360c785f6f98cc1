//! Fault injection as a user runs it: the fail-nth suite walks eight
//! operations through every allocation they make, failing one at a time,
//! with exact balance afterwards; Linux's boot syntax makes GFP_ATOMIC-style
//! requests fail at random while every default self-test still passes; a
//! malformed value is reported and injection stays off.

use boot_tests::mm_reports::section;
use boot_tests::{boot, Boot};

/// `fail_page_alloc: probability P ... injected N` -> N.
fn injected(b: &Boot, name: &str) -> u64 {
    let s = section(&b.console, "fault injection")
        .unwrap_or_else(|| panic!("no fault injection section\n{}", b.dump()));
    let line = s
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} line in\n{s}"));
    line.rsplit("injected ")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn every_allocation_of_each_operation_fails_cleanly_in_turn() {
    for preset in ["two-node", "eight-node-big"] {
        let b = boot(&[
            "--topology",
            preset,
            "--tcg",
            "--cmdline",
            "selftest=fail_nth",
        ]);
        assert_eq!(b.problem(), None, "{preset}\n{}", b.dump());
        let k = b.ktap();
        assert_eq!(k.cases.len(), 8, "{preset}: every case ran");
        // Each walked operation says how many failure points it had.
        let walked: Vec<(&str, u64)> = b
            .console
            .lines()
            .filter_map(|l| {
                let (op, rest) = l.trim_start().strip_prefix("# ")?.split_once(": ")?;
                let n = rest.strip_suffix(" recovered")?.split(' ').next()?;
                Some((op, n.parse().ok()?))
            })
            .collect();
        for op in [
            "kmem_cache_create",
            "vmalloc 64 KiB",
            "vmalloc 4 MiB",
            "vmap",
            "kmalloc_node (remote)",
            "page-cache reads",
            "thread creation",
            "RCU-deferred frees",
        ] {
            let n = walked.iter().find(|w| w.0 == op).map(|w| w.1);
            assert!(
                n.is_some_and(|n| n > 0),
                "{preset}: {op} walked {n:?}\n{}",
                b.dump()
            );
        }
        // vmalloc's 1024 pages of 4 MiB each were a failure point.
        assert!(walked.iter().any(|w| w.0 == "vmalloc 4 MiB" && w.1 >= 1024));
        // Linux's report, with the request and a backtrace.
        let lines: Vec<&str> = b.console.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.ends_with("FAULT_INJECTION: forcing a failure."))
            .unwrap_or_else(|| panic!("{preset}: no report\n{}", b.dump()));
        assert!(
            lines[at + 1].contains("name failslab, interval 1, probability 0, space 0, times "),
            "{}",
            lines[at + 1]
        );
        assert!(lines[at + 2].contains("cache kmalloc-64, 64 bytes, mode:0xcc0(GFP_KERNEL), from src/mm/fault_inject_selftests.rs"), "{}", lines[at + 2]);
        assert_eq!(lines[at + 3], "backtrace (return addresses):");
        assert!(injected(&b, "fail_vmalloc") >= 1024, "{preset}");
        assert!(injected(&b, "failslab") > 0 && injected(&b, "fail_page_alloc") > 0);
    }
}

#[test]
fn random_failures_of_atomic_requests_leave_every_default_self_test_passing() {
    let b = boot(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "fail_page_alloc=1,10,0,-1 failslab=1,10,0,-1",
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    assert!(b.console.contains(
        "fault injection: fail_page_alloc interval 1, probability 10, space 0, times -1, verbose 2; min-order 1, ignore-gfp-wait 1, ignore-gfp-highmem 1"
    ));
    assert!(b.console.contains(
        "fault injection: failslab interval 1, probability 10, space 0, times -1, verbose 2; ignore-gfp-wait 1, cache-filter 0"
    ));
    // The slab self-tests' interrupt-time GFP_ATOMIC allocations meet it.
    assert!(injected(&b, "failslab") > 0, "{}", b.dump());
}

#[test]
fn a_malformed_fault_attribute_is_reported_and_injection_stays_off() {
    let b = boot(&[
        "--topology",
        "one-node",
        "--tcg",
        "--cmdline",
        "selftest=off failslab=1,10 fail_page_alloc.min_order=x",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console
            .contains("FAULT_INJECTION: failed to parse arguments: failslab=1,10"),
        "{}",
        b.dump()
    );
    assert!(b
        .console
        .contains("bad value 'x' for 'fail_page_alloc.min_order'"));
    assert_eq!(injected(&b, "failslab"), 0);
    assert!(!b.console.contains("fault injection: failslab"));
}
