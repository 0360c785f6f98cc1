//! KFENCE as a user meets it: on by default (Linux's 100 ms interval), the
//! `kfence` suite makes each kind of memory error on a sampled object and
//! every one is reported in Linux's format while the run goes on; with
//! `kfence.sample_interval=0` there is no pool.

use boot_tests::boot;
use boot_tests::mm_reports::section;

#[test]
fn every_kind_of_memory_error_is_reported_in_linuxs_format_and_the_run_goes_on() {
    for preset in ["two-node", "eight-node-big"] {
        let b = boot(&[
            "--topology",
            preset,
            "--tcg",
            "--cmdline",
            "selftest=kfence",
        ]);
        assert_eq!(b.problem(), None, "{preset}\n{}", b.dump());
        let k = b.ktap();
        assert_eq!(k.cases.len(), 8, "{preset}");
        let c = &b.console;
        assert!(c.contains("kfence: initialized - using 2097152 bytes for 255 objects at 0xffffc9"));
        for title in [
            "BUG: KFENCE: out-of-bounds read in 0x",
            "BUG: KFENCE: out-of-bounds write in 0x",
            "BUG: KFENCE: use-after-free read in 0x",
            "BUG: KFENCE: invalid free in src/mm/kfence_selftests.rs:",
            "BUG: KFENCE: memory corruption in src/mm/kfence_selftests.rs:",
        ] {
            assert!(c.contains(title), "{preset}: no '{title}'\n{}", b.dump());
        }
        let lines: Vec<&str> = c.lines().collect();
        let has = |prefix: &str, rest: &str| {
            lines
                .iter()
                .any(|l| l.starts_with(prefix) && l.contains(rest))
        };
        assert!(has("Out-of-bounds read at 0x", "(1B left of kfence-#"));
        assert!(has("Out-of-bounds read at 0x", "(1B right of kfence-#"));
        assert!(has("Use-after-free read at 0x", "(in kfence-#"));
        assert!(has("Invalid free of 0x", "(in kfence-#"));
        assert!(has("Corrupted memory at 0x", "[ 0x00 . . ."));
        assert!(has("kfence-#", ", size=32, cache=kmalloc-32"));
        assert!(has("kfence-#", ", size=32, cache=kfence-test"));
        assert!(has("allocated by task ", " on cpu "));
        assert!(has("freed by task ", " on cpu "));
        assert!(has("CPU: ", " PID: "));
        let stats = section(c, "/sys/kernel/debug/kfence/stats").unwrap();
        assert!(stats.contains("enabled: 1"));
        let bugs: u64 = stats
            .lines()
            .find_map(|l| l.strip_prefix("total bugs: "))
            .unwrap()
            .parse()
            .unwrap();
        // Two reads, two writes, two uses after free, two invalid frees,
        // a corruption and the dedicated cache's write.
        assert_eq!(bugs, 10, "{preset}: {stats}");
    }
}

#[test]
fn sample_interval_0_turns_kfence_off() {
    let b = boot(&[
        "--topology",
        "one-node",
        "--tcg",
        "--cmdline",
        "selftest=kfence kfence.sample_interval=0",
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    assert!(b.console.contains("kfence: off (kfence.sample_interval=0)"));
    let stats = section(&b.console, "/sys/kernel/debug/kfence/stats").unwrap();
    assert!(stats.contains("enabled: 0"), "{stats}");
}
