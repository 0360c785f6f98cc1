//! Fragmentation and compaction as a user sees them: the `compaction`
//! self-test fills a node with movable task pages, frees three of every
//! four, and shows order-9 blocks near zero without compaction and at
//! least a third of the node with direct compaction, with the counters in
//! /proc/vmstat and /proc/pagetypeinfo still adding up to buddyinfo; then
//! kcompactd, woken by an atomic order-9 request that found no block, makes
//! one, and a proactive pass takes the node's fragmentation score under its
//! high mark.

use boot_tests::mm_reports::{
    buddyinfo, pagetypeinfo, section, section_value, section_with_blanks,
};
use boot_tests::{boot, Boot};

fn vmstat(b: &Boot, key: &str) -> u64 {
    section_value(
        &b.console,
        "/proc/vmstat (migration and compaction lines)",
        key,
    )
}

/// `# node N: F pages filled, K kept; order-9 blocks: W of B without
/// compaction (...), C with direct compaction (...)` -> (W, C, B).
fn blocks(b: &Boot) -> (u64, u64, u64) {
    let line = b
        .console
        .lines()
        .find(|l| l.contains("order-9 blocks:"))
        .unwrap_or_else(|| panic!("no workload line\n{}", b.dump()));
    let after = line.split("order-9 blocks: ").nth(1).unwrap();
    let words: Vec<&str> = after.split_whitespace().collect();
    let without: u64 = words[0].parse().unwrap();
    let total: u64 = words[2].parse().unwrap();
    // `..., C with direct compaction`: C is the word before "with".
    let with_at = words.iter().position(|w| *w == "with").unwrap() - 1;
    let with: u64 = words[with_at].parse().unwrap();
    (without, with, total)
}

/// `# kcompactd0: ... took the score from A to B, ...` -> (A, B).
fn proactive_scores(b: &Boot) -> (u64, u64) {
    let line = b
        .console
        .lines()
        .find(|l| l.contains("took the score from"))
        .unwrap_or_else(|| panic!("no kcompactd line\n{}", b.dump()));
    let after = line.split("took the score from ").nth(1).unwrap();
    let words: Vec<&str> = after.split_whitespace().collect();
    (
        words[0].parse().unwrap(),
        words[2].trim_end_matches(',').parse().unwrap(),
    )
}

#[test]
fn compaction_turns_a_fragmented_node_back_into_huge_pages() {
    for preset in ["one-node", "two-node"] {
        let b = boot(&[
            "--topology",
            preset,
            "--tcg",
            "--cmdline",
            "selftest=compaction",
        ]);
        assert_eq!(b.status, 0, "{preset}\n{}", b.dump());
        assert!(b.ktap().failed_cases().is_empty(), "{preset}\n{}", b.dump());
        let (without, with, total) = blocks(&b);
        assert!(
            without * 20 <= total,
            "{preset}: {without} of {total} without compaction"
        );
        assert!(
            with * 3 >= total,
            "{preset}: {with} of {total} with compaction"
        );
        let (score0, score1) = proactive_scores(&b);
        assert!(
            score0 > 15 && score1 <= 15,
            "{preset}: score {score0} -> {score1}"
        );
        assert!(vmstat(&b, "compact_daemon_wake") > 0, "{preset}");
        assert!(vmstat(&b, "compact_daemon_migrate_scanned") > 0, "{preset}");
        assert!(vmstat(&b, "compact_stall") > 0, "{preset}");
        assert!(vmstat(&b, "compact_success") > 0, "{preset}");
        assert!(vmstat(&b, "compact_migrate_scanned") > 0, "{preset}");
        assert!(vmstat(&b, "compact_free_scanned") > 0, "{preset}");
        assert!(vmstat(&b, "pgmigrate_success") >= with, "{preset}");
        assert_eq!(
            vmstat(&b, "pgmigrate_fail"),
            0,
            "{preset}: nothing busy here"
        );
        // The end-of-run reports agree after all that moving.
        let buddy = buddyinfo(section(&b.console, "/proc/buddyinfo").unwrap());
        let info = pagetypeinfo(section_with_blanks(&b.console, "/proc/pagetypeinfo", 2).unwrap());
        for (node, zone, counts) in &buddy {
            for (order, &c) in counts.iter().enumerate() {
                let sum: u64 = info
                    .free
                    .iter()
                    .filter(|r| r.0 == *node && r.1 == *zone)
                    .map(|r| r.3[order])
                    .sum();
                assert_eq!(sum, c, "{preset} node {node} {zone} order {order}");
            }
        }
    }
}

/// The churn workload (`bench=churn`): eight rounds of movable pages with
/// long-lived unmovable kmalloc objects among them. With compaction off
/// the order-9 share holds from round to round (the scattered movable
/// quarter, not the unmovable objects, is what costs blocks);
/// compact_memory brings it to at least a third of what the free pages
/// could make (kselftest compaction_test's criterion), and once the
/// movable pages are gone the unmovable objects, grouped in their own
/// pageblocks, leave at least half the blocks whole.
#[test]
fn churn_keeps_unmovable_objects_grouped_and_compaction_repairs_the_rest() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "one-node",
        "--cmdline",
        "selftest=off bench=churn",
    ]);
    assert_eq!(b.status, 0, "{}", b.dump());
    let lines: Vec<serde_json::Value> = b
        .console
        .lines()
        .filter_map(|l| l.strip_prefix("BENCH "))
        .filter_map(|j| serde_json::from_str(j).ok())
        .filter(|v: &serde_json::Value| v["bench"] == "churn")
        .collect();
    assert_eq!(lines.len(), 10, "{}", b.dump());
    let share = |v: &serde_json::Value| v["success_share"].as_f64().unwrap();
    for (i, v) in lines.iter().enumerate() {
        assert_eq!(v["round"], i as u64);
        assert!(v["possible"].as_u64().unwrap() > 0, "{v}");
    }
    let rounds = &lines[..8];
    assert!(rounds.iter().all(|v| v["mode"] == "off"));
    assert!(rounds[7]["unmovable_objects"].as_u64().unwrap() > 1000);
    let (compacted, freed) = (&lines[8], &lines[9]);
    assert_eq!(
        (compacted["mode"].as_str(), freed["mode"].as_str()),
        (Some("compact_memory"), Some("movable_freed"))
    );
    assert!(share(compacted) >= 0.333, "{compacted}\n{}", b.dump());
    assert!(share(compacted) > share(&rounds[7]), "{compacted}");
    assert!(share(freed) >= 0.5, "{freed}\n{}", b.dump());
}
