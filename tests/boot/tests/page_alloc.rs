//! The page allocator as a user sees it: the reports at the end of a run
//! (buddyinfo, zoneinfo, numastat) checked against each other and against
//! the VM's QEMU arguments, the fallback order of a draining node, and the
//! command-line words that shape zones and watermarks.

use boot_tests::ktap::Result;
use boot_tests::mm_reports::{
    buddyinfo, numastat, pagetypeinfo, section, section_with_blanks, zone_rows, zoneinfo, ZoneInfo,
};
use boot_tests::{accelerators, boot, qemu_args, Accel, Boot, PRESETS};

const PAGE: u64 = 4096;

fn boot_ok(args: &[&str]) -> Boot {
    let b = boot(args);
    assert_eq!(b.status, 0, "{}", b.dump());
    b
}

fn zones(b: &Boot) -> Vec<ZoneInfo> {
    zoneinfo(
        section(&b.console, "/proc/zoneinfo")
            .unwrap_or_else(|| panic!("no zoneinfo\n{}", b.dump())),
    )
}

/// The nodes of the drain line, in the order they served:
/// `# draining node 0 with order-10 blocks: node 0 (62 blocks) -> node 1 ...`
fn drain_walk(b: &Boot) -> Vec<(usize, u64)> {
    let line = b
        .console
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("# draining node 0 with order-10 blocks: ")
        })
        .unwrap_or_else(|| panic!("no drain line\n{}", b.dump()));
    line.split(" -> ")
        .map(|step| {
            let (node, blocks) = step
                .strip_prefix("node ")
                .unwrap()
                .split_once(" (")
                .unwrap();
            (
                node.parse().unwrap(),
                blocks.trim_end_matches(" blocks)").parse().unwrap(),
            )
        })
        .collect()
}

/// The acceptance case: on four-node-asym, node 0's allocations
/// move to node 1, then 2, then 3 as each fills, and numastat counts the
/// misses where they landed and the foreigns on node 0.
#[test]
fn draining_node_0_on_four_node_asym_follows_the_slit() {
    for accel in accelerators() {
        let b = boot_ok(&["--topology", "four-node-asym", accel.flag()]);
        let walk = drain_walk(&b);
        let first: Vec<usize> = walk.iter().map(|w| w.0).take(4).collect();
        assert_eq!(first, [0, 1, 2, 3], "{:?}: {walk:?}", accel);
        let vm = qemu_args::load("four-node-asym");
        for w in first.windows(2) {
            assert!(vm.distance(0, w[0]) < vm.distance(0, w[1]));
        }
        let fell_back: u64 = walk.iter().filter(|w| w.0 != 0).map(|w| w.1).sum();
        let (_, rows) = numastat(section(&b.console, "numastat").unwrap());
        assert!(rows["numa_foreign"][0] >= fell_back, "{rows:?}");
        for n in 1..4 {
            let served: u64 = walk.iter().filter(|w| w.0 == n).map(|w| w.1).sum();
            assert!(rows["numa_miss"][n] >= served, "node {n}: {rows:?}");
        }
    }
}

/// The extfrag indices, recomputed here from buddyinfo's counts with
/// Linux's formulas (mm/vmstat.c), for every populated zone.
fn check_extfrag(preset: &str, b: &Boot, buddy: &[(usize, String, Vec<u64>)]) {
    // Thousandths as Linux prints them: `0.512`, `-1.000`.
    let thousandths = |v: &str| -> i64 {
        let (whole, frac) = v.split_once('.').unwrap();
        let whole: i64 = whole.parse().unwrap();
        let frac: i64 = frac.parse().unwrap();
        whole * 1000 + if v.starts_with('-') { -frac } else { frac }
    };
    let parse = |name: &str| {
        let text = section(&b.console, name).unwrap_or_else(|| panic!("{preset}: no {name}"));
        zone_rows(text, thousandths)
    };
    let unusable = parse("/sys/kernel/debug/extfrag/unusable_index");
    let extfrag = parse("/sys/kernel/debug/extfrag/extfrag_index");
    assert_eq!(
        unusable.len(),
        buddy.len(),
        "{preset}: a line per populated zone"
    );
    assert_eq!(extfrag.len(), buddy.len(), "{preset}");
    for ((node, zone, counts), (u, e)) in buddy.iter().zip(unusable.iter().zip(&extfrag)) {
        assert_eq!(
            (&u.0, &u.1, &e.0, &e.1),
            (node, zone, node, zone),
            "{preset}"
        );
        for order in 0..counts.len() {
            let free: u64 = counts.iter().enumerate().map(|(o, c)| c << o).sum();
            let total: u64 = counts.iter().sum();
            let suitable: u64 = counts
                .iter()
                .enumerate()
                .skip(order)
                .map(|(o, c)| c << (o - order))
                .sum();
            // No free memory: all of it unusable.
            let want_u = ((free - (suitable << order)) * 1000)
                .checked_div(free)
                .map_or(1000, |v| v as i64);
            let want_e = if total == 0 {
                0
            } else if suitable > 0 {
                -1000
            } else {
                1000 - ((1000 + free * 1000 / (1 << order)) / total) as i64
            };
            assert_eq!(
                u.2[order], want_u,
                "{preset} node {node} {zone} order {order}"
            );
            assert_eq!(
                e.2[order], want_e,
                "{preset} node {node} {zone} order {order}"
            );
        }
    }
}

/// /proc/pagetypeinfo against buddyinfo and zoneinfo: per zone, the free
/// blocks of the five types add up to buddyinfo's row, and the pageblock
/// counts to the pageblocks the zone spans.
fn check_pagetypeinfo(preset: &str, b: &Boot, buddy: &[(usize, String, Vec<u64>)], z: &[ZoneInfo]) {
    let text = section_with_blanks(&b.console, "/proc/pagetypeinfo", 2)
        .unwrap_or_else(|| panic!("{preset}: no pagetypeinfo"));
    let info = pagetypeinfo(text);
    assert_eq!(info.pageblock_order, 9, "{preset}");
    assert_eq!(
        info.types,
        [
            "Unmovable",
            "Movable",
            "Reclaimable",
            "HighAtomic",
            "Isolate"
        ],
        "{preset}"
    );
    assert_eq!(
        info.blocks.len(),
        buddy.len(),
        "{preset}: a block row per populated zone"
    );
    for (node, zone, counts) in buddy {
        let rows: Vec<_> = info
            .free
            .iter()
            .filter(|r| r.0 == *node && r.1 == *zone)
            .collect();
        assert_eq!(rows.len(), 5, "{preset} node {node} {zone}: five types");
        for (order, &count) in counts.iter().enumerate() {
            let sum: u64 = rows.iter().map(|r| r.3[order]).sum();
            assert_eq!(
                sum, count,
                "{preset} node {node} {zone} order {order}\n{text}"
            );
        }
        let zi = z
            .iter()
            .find(|i| i.node == *node && i.zone == *zone)
            .unwrap();
        let (start, spanned) = (zi.get("start_pfn"), zi.get("spanned"));
        let spans = (start + spanned).div_ceil(512) - start / 512;
        let (_, _, blocks) = info
            .blocks
            .iter()
            .find(|r| r.0 == *node && r.1 == *zone)
            .unwrap();
        assert_eq!(
            blocks.iter().sum::<u64>(),
            spans,
            "{preset} node {node} {zone}\n{text}"
        );
    }
}

/// Linux's invariants between the reports, on every preset.
fn check_reports(preset: &str, b: &Boot) {
    let vm = qemu_args::load(preset);
    let z = zones(b);
    assert_eq!(
        z.len(),
        vm.nodes.len().max(1) * 5,
        "{preset}: five zones a node"
    );
    let buddy = buddyinfo(section(&b.console, "/proc/buddyinfo").unwrap());
    check_extfrag(preset, b, &buddy);
    check_pagetypeinfo(preset, b, &buddy, &z);
    for zone in &z {
        assert_eq!(zone.protection.len(), 5, "{preset} {zone:?}");
        let Some((_, _, counts)) = buddy
            .iter()
            .find(|(n, name, _)| *n == zone.node && *name == zone.zone)
        else {
            assert_eq!(
                zone.get("present"),
                0,
                "{preset}: populated zone missing from buddyinfo"
            );
            continue;
        };
        assert_eq!(counts.len(), 11);
        let by_blocks: u64 = counts.iter().enumerate().map(|(o, c)| c << o).sum();
        assert_eq!(by_blocks, zone.get("free"), "{preset} {zone:?}");
        assert!(zone.get("nr_free_pages") == zone.get("free"));
        assert!(
            zone.get("min") < zone.get("low") && zone.get("low") < zone.get("high"),
            "{zone:?}"
        );
        assert!(
            zone.get("managed") <= zone.get("present")
                && zone.get("present") <= zone.get("spanned")
        );
        assert!(zone.get("free") <= zone.get("managed"));
    }
    for (&id, (_, mem)) in &vm.nodes {
        let present: u64 = z
            .iter()
            .filter(|z| z.node == id)
            .map(|z| z.get("present"))
            .sum();
        assert!(
            present * PAGE <= *mem && mem - present * PAGE < 0x100000,
            "{preset} node {id}"
        );
    }
    let (columns, rows) = numastat(section(&b.console, "numastat").unwrap());
    assert_eq!(columns.len(), vm.nodes.len().max(1));
    let total = |row: &str| rows[row].iter().sum::<u64>();
    assert_eq!(
        total("numa_miss"),
        total("numa_foreign"),
        "{preset}: every miss is someone's foreign"
    );
    for (n, _) in columns.iter().enumerate() {
        // Each allocation is a hit or a miss, and local or other, on the node that served it.
        assert_eq!(
            rows["numa_hit"][n] + rows["numa_miss"][n],
            rows["local_node"][n] + rows["other_node"][n],
            "{preset} node {n}"
        );
        // And it adds up with the zones' own counters.
        let hits: u64 = z
            .iter()
            .filter(|z| z.node == n && z.get("present") > 0)
            .map(|z| z.get("numa_hit"))
            .sum();
        // numastat is printed after zoneinfo, and the reports between them
        // (slabinfo, vmallocinfo, ...) may take a slab page or two: the
        // later count may only be ahead, and by little.
        let later = rows["numa_hit"][n];
        assert!(
            later >= hits && later - hits <= 16,
            "{preset} node {n}: zoneinfo numa_hit {hits}, numastat {later}"
        );
    }
    // Fallback lists are ordered by distance.
    for line in b
        .console
        .lines()
        .filter_map(|l| l.split_once("Fallback order for Node ").map(|x| x.1))
    {
        let (node, list) = line.split_once(':').unwrap();
        let node: usize = node.parse().unwrap();
        let list: Vec<usize> = list
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        for w in list.windows(2) {
            assert!(
                vm.distance(node, w[0]) <= vm.distance(node, w[1]),
                "{preset}: node {node} {list:?}"
            );
        }
    }
    let overhead = b
        .console
        .lines()
        .find_map(|l| l.split_once("MiB of RAM: ").map(|x| x.1))
        .and_then(|r| r.split_once('%'))
        .map(|(pc, _)| pc.parse::<f64>().unwrap())
        .unwrap_or_else(|| panic!("no page-descriptor overhead line\n{}", b.dump()));
    assert!(
        overhead <= 1.0,
        "{preset}: {overhead}% of RAM for descriptors"
    );
}

#[test]
fn every_preset_reports_in_linux_formats_that_agree() {
    for preset in PRESETS {
        let b = boot_ok(&["--topology", preset, "--tcg"]);
        check_reports(preset, &b);
    }
    if accelerators().contains(&Accel::Kvm) {
        let b = boot_ok(&["--topology", "memless-cpuless", "--kvm"]);
        check_reports("memless-cpuless", &b);
    }
}

fn movable_present(z: &[ZoneInfo]) -> u64 {
    z.iter()
        .filter(|z| z.zone == "Movable")
        .map(|z| z.get("present"))
        .sum()
}

#[test]
fn kernelcore_and_movablecore_carve_zone_movable() {
    let b = boot_ok(&[
        "--topology",
        "eight-node-big",
        "--tcg",
        "--cmdline",
        "kernelcore=1G",
    ]);
    let z = zones(&b);
    let movable = movable_present(&z);
    let total: u64 = z.iter().map(|z| z.get("present")).sum();
    assert!(movable > 0, "{}", b.dump());
    assert!(
        (total - movable) * PAGE >= 1 << 30,
        "kernelcore=1G keeps at least 1 GiB"
    );
    let report = b.ktap();
    let movable_case = report
        .cases
        .iter()
        .find(|c| c.suite == "page_alloc" && c.name == "movable_zone_serves_only_movable_requests");
    assert_eq!(
        movable_case.map(|c| c.result.clone()),
        Some(Result::Ok),
        "{}",
        b.dump()
    );
    check_reports("eight-node-big", &b);

    let b = boot_ok(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "movablecore=50%",
    ]);
    let z = zones(&b);
    let total: u64 = z.iter().map(|z| z.get("present")).sum();
    let share = movable_present(&z) as f64 / total as f64;
    assert!(
        (0.45..0.55).contains(&share),
        "movablecore=50% gave {share}"
    );
    check_reports("two-node", &b);
}

#[test]
fn min_free_kbytes_sets_the_watermarks() {
    let sum_min = |b: &Boot| -> u64 {
        zones(b)
            .iter()
            .filter(|z| z.zone != "Movable" && z.get("present") > 0)
            .map(|z| z.get("min"))
            .sum()
    };
    let b = boot_ok(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "min_free_kbytes=16384",
    ]);
    let m = sum_min(&b);
    // 16384 KiB = 4096 pages, shared out with each zone's share rounded down.
    assert!((4096 - 5..=4096).contains(&m), "{m}");
    // The default: sqrt(16 x lowmem KiB), about 5.7 MiB for 2 GiB, then
    // raised as khugepaged raises it with huge pages on: 11 pageblocks a
    // populated zone up to Normal (three here), at most 5% of the free
    // kernel-usable pages.
    let b = boot_ok(&["--topology", "two-node", "--tcg"]);
    let line = b
        .console
        .lines()
        .find(|l| l.contains("min_free_kbytes "))
        .unwrap();
    let kib: u64 = line
        .split("min_free_kbytes ")
        .nth(1)
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let lowmem_kib: u64 = zones(&b).iter().map(|z| z.get("managed") * 4).sum();
    let sqrt_rule = ((16 * lowmem_kib) as f64).sqrt() as u64;
    let kernel_zones = zones(&b)
        .iter()
        .filter(|z| z.get("present") > 0 && ["DMA", "DMA32", "Normal"].contains(&z.zone.as_str()))
        .count() as u64;
    let raised = kernel_zones * 11 * 512 * 4;
    // 5% of 2 GiB is far above three zones' 66 MiB: the raise is whole.
    assert!(lowmem_kib / 20 > raised * 11 / 10);
    assert_eq!(kib, raised.max(sqrt_rule), "{kernel_zones} zones");
    let m = sum_min(&b);
    assert!(m <= kib / 4 && m + 5 >= kib / 4, "{m} vs {kib}");
}

#[test]
fn reports_print_at_boot_on_request_and_always_at_the_end() {
    let b = boot_ok(&[
        "--topology",
        "one-node",
        "--tcg",
        "--cmdline",
        "mm.report selftest=off",
    ]);
    assert!(b.console.contains("mm: reports (boot)"));
    assert!(b.console.contains("mm: reports (end of run)"));
    let b = boot_ok(&[
        "--topology",
        "one-node",
        "--tcg",
        "--cmdline",
        "selftest=off",
    ]);
    assert!(!b.console.contains("mm: reports (boot)"));
    assert!(b.console.contains("mm: reports (end of run)"));
    assert_eq!(b.console.matches("==> /proc/zoneinfo <==").count(), 1);
}

#[test]
fn bad_zone_words_warn_and_change_nothing() {
    let b = boot_ok(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "kernelcore=mirror movablecore=200% min_free_kbytes=x selftest=off",
    ]);
    for word in ["kernelcore", "movablecore", "min_free_kbytes"] {
        assert!(
            b.console
                .lines()
                .any(|l| l.contains("cmdline:") && l.contains(word)),
            "no warning for {word}\n{}",
            b.dump()
        );
    }
    assert_eq!(movable_present(&zones(&b)), 0);
}
