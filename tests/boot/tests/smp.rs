//! SMP as a user sees it: every CPU of the VM online, each placed on its
//! node, and the two ways a CPU can stay offline (`maxcpus=`, and a CPU
//! that never answers) reported while boot goes on.

use boot_tests::{accelerators, boot, qemu_args, Boot};

fn boot_ok(args: &[&str]) -> Boot {
    let b = boot(args);
    assert_eq!(b.status, 0, "{}", b.dump());
    b
}

/// `cpu   3: apic   3 node 1 per-cpu area phys 0x02fe5c000 (node 1) ...`
fn cpu_table(b: &Boot) -> Vec<(usize, usize, usize)> {
    b.console
        .lines()
        .filter_map(|l| l.strip_prefix("cpu "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let cpu = w[0].trim_end_matches(':').parse().unwrap();
            let node = w[w.iter().position(|&x| x == "node").unwrap() + 1]
                .parse()
                .unwrap();
            let area_node = w
                .iter()
                .find_map(|x| x.strip_prefix("(node "))
                .or_else(|| {
                    let i = w.iter().position(|&x| x == "(node")?;
                    Some(w[i + 1])
                })
                .unwrap()
                .trim_end_matches(')')
                .parse()
                .unwrap();
            (cpu, node, area_node)
        })
        .collect()
}

/// The acceptance case: all 16 CPUs of eight-node-big, each
/// printed with its node and where its per-CPU area lies (its own node).
#[test]
fn eight_node_big_brings_up_all_sixteen_cpus_each_on_its_node() {
    let vm = qemu_args::load("eight-node-big");
    for accel in accelerators() {
        let b = boot_ok(&["--topology", "eight-node-big", accel.flag()]);
        assert!(
            b.console.contains("SMP: 16 of 16 CPUs online"),
            "{}",
            b.dump()
        );
        let table = cpu_table(&b);
        assert_eq!(table.len(), 16, "{accel:?}: {table:?}");
        for (cpu, node, area_node) in table {
            let want = vm
                .nodes
                .iter()
                .find(|(_, (cpus, _))| cpus.contains(&cpu))
                .map(|(&n, _)| n);
            assert_eq!(Some(node), want, "cpu {cpu}");
            assert_eq!(area_node, node, "cpu {cpu}'s area is on its own node");
        }
    }
}

#[test]
fn a_cpu_that_never_answers_is_reported_and_left_offline() {
    let b = boot_ok(&["--topology", "two-node", "--tcg", "--cmdline", "smp.fail=3"]);
    assert!(
        b.console
            .contains("CPU 3 (APIC 3) did not come online in time; left offline"),
        "{}",
        b.dump()
    );
    assert!(b.console.contains("SMP: 3 of 4 CPUs online"));
    assert_eq!(cpu_table(&b).len(), 3);
}

#[test]
fn maxcpus_limits_the_cpus_brought_up() {
    let b = boot_ok(&[
        "--topology",
        "four-node-asym",
        "--tcg",
        "--cmdline",
        "maxcpus=3",
    ]);
    assert!(
        b.console.contains("SMP: 3 of 8 CPUs online"),
        "{}",
        b.dump()
    );
    assert!(b
        .console
        .contains("CPU 7 (APIC 7) left offline (maxcpus=3)"));
    let cpus: Vec<usize> = cpu_table(&b).iter().map(|c| c.0).collect();
    assert_eq!(cpus, [0, 1, 2]);
}

#[test]
fn zoneinfo_shows_every_cpus_pagesets() {
    let b = boot_ok(&[
        "--topology",
        "two-node",
        "--tcg",
        "--cmdline",
        "selftest=off",
    ]);
    let z = boot_tests::mm_reports::section(&b.console, "/proc/zoneinfo").unwrap();
    let first = &z[..z.find("start_pfn").unwrap()];
    for cpu in 0..4 {
        assert!(
            first.contains(&format!("    cpu: {cpu}\n              count:    ")),
            "{first}"
        );
    }
    assert!(first.contains("              batch:    "));
}

/// A VM whose first node (the one QEMU gives low memory, where the kernel
/// image lies) has no CPU: the boot CPU is on node 0 of the kernel's
/// numbering (PXM 1) and still runs on its own node's stacks, so the smp
/// suite's placement check passes and the boot says where it moved.
#[test]
fn the_boot_cpu_runs_on_its_own_node_when_low_memory_is_on_a_cpu_less_node() {
    let b = boot_ok(&[
        "--tcg",
        "--nodes",
        "4",
        "--cpus-per-node",
        "0,1,0,1",
        "--mem-per-node",
        "100M",
        "--cmdline",
        "selftest=smp",
    ]);
    let case = b
        .console
        .lines()
        .find(|l| l.contains("per_cpu_areas_and_stacks_lie_on_their_node"))
        .unwrap_or_else(|| panic!("no placement case: {}", b.dump()));
    assert!(case.trim_start().starts_with("ok "), "{case}\n{}", b.dump());
    assert!(
        b.console.contains("boot CPU's 256 KiB node-local stack"),
        "{}",
        b.dump()
    );
}
