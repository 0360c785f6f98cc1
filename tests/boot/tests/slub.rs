//! SLUB and the benchmark lines as a user sees them: /proc/slabinfo 2.1,
//! the meminfo slab lines, slub_debug= applied to the named caches, and
//! the BENCH lines of the spec (a quick run, format only: figures are the
//! benchmark's business, not a test's).

use boot_tests::mm_reports::section;
use boot_tests::{boot, Boot};
use serde_json::Value;

fn boot_ok(args: &[&str]) -> Boot {
    let b = boot(args);
    assert_eq!(b.status, 0, "{}", b.dump());
    b
}

#[test]
fn slabinfo_is_version_2_1_with_every_kmalloc_cache() {
    let b = boot_ok(&["--topology", "two-node", "--tcg"]);
    let s = section(&b.console, "/proc/slabinfo").unwrap_or_else(|| panic!("{}", b.dump()));
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some("slabinfo - version: 2.1"));
    assert!(lines
        .next()
        .unwrap()
        .starts_with("# name            <active_objs> <num_objs> <objsize>"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for name in [
        "kmalloc-8",
        "kmalloc-96",
        "kmalloc-192",
        "kmalloc-1k",
        "kmalloc-8k",
    ] {
        let row = rows
            .iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("{name} missing\n{s}"));
        assert_eq!(row.len(), 16, "{row:?}");
        assert_eq!(
            (row[6], row[7], row[11], row[12]),
            (":", "tunables", ":", "slabdata")
        );
        let (active, total): (u64, u64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert!(active <= total);
    }
    let m = section(&b.console, "/proc/meminfo (slab lines)").unwrap();
    let kb = |key: &str| -> u64 {
        let l = m.lines().find(|l| l.starts_with(key)).unwrap();
        l.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(kb("Slab:"), kb("SReclaimable:") + kb("SUnreclaim:"));
}

#[test]
fn slub_debug_applies_to_the_named_caches_only() {
    let b = boot_ok(&[
        "--topology",
        "one-node",
        "--tcg",
        "--cmdline",
        "slub_debug=FZ,kmalloc-64",
    ]);
    assert!(b.console.contains("slub: debugging"), "{}", b.dump());
    let s = section(&b.console, "/proc/slabinfo").unwrap();
    let objsize = |name: &str| -> u64 {
        s.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap()
            .split_whitespace()
            .nth(3)
            .unwrap()
            .parse()
            .unwrap()
    };
    // Red zones and tracking make kmalloc-64's objects larger; kmalloc-128 is untouched.
    assert!(objsize("kmalloc-64") > 64);
    assert_eq!(objsize("kmalloc-128"), 128);
}

#[test]
fn bench_lines_follow_the_spec() {
    let b = boot_ok(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "selftest=off bench=all bench.scale=1000",
    ]);
    let meta = b
        .console
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_META "))
        .unwrap();
    let meta: Value = serde_json::from_str(meta).unwrap();
    assert!(meta["clock"].as_str().unwrap().contains("tsc"));
    let rows: Vec<Value> = b
        .console
        .lines()
        .filter_map(|l| {
            l.strip_prefix("BENCH {")
                .map(|r| serde_json::from_str(&format!("{{{r}")).unwrap())
        })
        .collect();
    for bench in [
        "slab_pair",
        "slab_batch",
        "slab_remote_free",
        "cache_pair",
        "page_pair",
        "page_batch",
        "page_node",
        "parallel_slab",
        "parallel_page",
    ] {
        let r = rows
            .iter()
            .find(|r| r["bench"] == bench)
            .unwrap_or_else(|| panic!("no {bench}\n{}", b.dump()));
        for field in ["cpus", "node", "ops", "ns_per_op"] {
            assert!(r[field].is_number(), "{bench}: {field} in {r}");
        }
    }
    let remote = rows
        .iter()
        .find(|r| r["bench"] == "slab_remote_free")
        .unwrap();
    assert_eq!(remote["free_node"], 1, "freed on the other node");
    let parallel: Vec<u64> = rows
        .iter()
        .filter(|r| r["bench"] == "parallel_slab")
        .map(|r| r["cpus"].as_u64().unwrap())
        .collect();
    assert_eq!(parallel, [1, 2, 4]);
}
