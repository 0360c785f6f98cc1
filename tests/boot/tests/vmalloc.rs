//! vmalloc as a user sees it: /proc/vmallocinfo lines in Linux's shape,
//! the meminfo vmalloc lines, and the vmalloc self-tests on a topology
//! with four nodes, where vmalloc_node has somewhere to go.

use boot_tests::mm_reports::section;
use boot_tests::{boot, Boot};

fn boot_ok(args: &[&str]) -> Boot {
    let b = boot(args);
    assert_eq!(b.status, 0, "{}", b.dump());
    b
}

#[test]
fn vmallocinfo_and_meminfo_lines_read_as_linux_prints_them() {
    let b = boot_ok(&[
        "--topology",
        "four-node-asym",
        "--tcg",
        "--cmdline",
        "selftest=vmalloc",
    ]);
    let ktap = b.ktap();
    assert!(ktap.failed_cases().is_empty(), "{}", b.dump());
    assert!(
        ktap.cases
            .iter()
            .any(|c| c.name.contains("after_vfree_and_reuse")),
        "the TLB case ran\n{}",
        b.dump()
    );
    let info = section(&b.console, "/proc/vmallocinfo").unwrap_or_else(|| panic!("{}", b.dump()));
    let mut lines = 0;
    for l in info.lines().filter(|l| !l.is_empty()) {
        let w: Vec<&str> = l.split_whitespace().collect();
        let (lo, hi) = w[0].split_once('-').unwrap_or_else(|| panic!("{l}"));
        let lo = u64::from_str_radix(lo.trim_start_matches("0x"), 16).unwrap();
        let hi = u64::from_str_radix(hi.trim_start_matches("0x"), 16).unwrap();
        assert!(lo >= 0xffff_c900_0000_0000 && hi > lo, "{l}");
        assert_eq!(w[1].parse::<u64>().unwrap(), hi - lo, "{l}");
        assert!(
            w[2..] == ["unpurged", "vm_area"] || w.iter().any(|x| *x == "vmalloc" || *x == "vmap"),
            "{l}"
        );
        lines += 1;
    }
    assert!(lines > 0, "the self-tests leave lazily freed areas\n{info}");
    let m = section(&b.console, "/proc/meminfo (vmalloc lines)").unwrap();
    let kb = |key: &str| -> u64 {
        let l = m
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("{key}\n{m}"));
        l.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(kb("VmallocTotal:"), 32 << 30);
    assert!(kb("VmallocChunk:") <= kb("VmallocTotal:"));
    assert!(m.contains("lazy purges"), "{m}");
}
