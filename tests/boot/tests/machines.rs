//! Where it runs: the VMs users launch beyond the presets (other firmware
//! and machine types, no ACPI, older CPU models, one CPU, QEMU's largest
//! and the smallest sizes, bad command-line values, broken firmware AML).
//! Every boot is under TCG and must end in a passing verdict with the
//! topology QEMU was given.

use boot_tests::numactl::{self, Numactl};
use boot_tests::{boot, repo_root, Boot};

/// One boot at a time: these VMs are large (up to 240 vCPUs) and the
/// pressure example is timed against kswapd, so two at once on a 2-core
/// machine would measure the host, not the kernel.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

fn pass(args: &[&str]) -> Boot {
    let b = boot(args);
    if let Some(p) = b.problem() {
        panic!("{p}\n{}", b.dump());
    }
    b
}

fn online_cpus(b: &Boot) -> usize {
    let line = b
        .console
        .lines()
        .find(|l| l.contains("SMP: ") && l.contains(" CPUs online"))
        .unwrap_or_else(|| panic!("no SMP line\n{}", b.dump()));
    let words: Vec<&str> = line.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "SMP:").unwrap();
    words[i + 1].parse().unwrap()
}

/// Node count, CPUs and distances equal; sizes within 1 MB (SeaBIOS keeps
/// the top 128 KiB of RAM for its tables, E820-reserved, as Linux would
/// also show).
fn same_topology(a: &Numactl, b: &Numactl) -> Result<(), String> {
    if a.0 != b.0 || a.2 != b.2 {
        return Err(format!("nodes or distances differ: {a:?} vs {b:?}"));
    }
    for (n, (x, y)) in a.1.iter().zip(&b.1).enumerate() {
        if x.0 != y.0 || x.1.abs_diff(y.1) > 1 {
            return Err(format!("node {n}: {x:?} vs {y:?}"));
        }
    }
    Ok(())
}

#[test]
fn seabios_and_qboot_on_q35_and_pc_give_the_same_topology() {
    let _one = serial();
    for preset in ["two-node", "four-node-asym"] {
        let mut reference: Option<Numactl> = None;
        for firmware in ["qboot", "seabios"] {
            for machine in ["q35", "pc"] {
                let b = pass(&[
                    "--tcg",
                    "--topology",
                    preset,
                    "--firmware",
                    firmware,
                    "--machine",
                    machine,
                ]);
                assert!(b.console.contains("ACPI: SRAT"), "{}", b.dump());
                let report = numactl::parse(&b.console);
                match &reference {
                    None => reference = Some(report),
                    Some(r) => {
                        if let Err(e) = same_topology(r, &report) {
                            panic!("{preset} {firmware} {machine}: {e}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn microvm_runs_without_a_pm_timer() {
    let _one = serial();
    let b = pass(&["--tcg", "--machine", "microvm", "--topology", "one-node"]);
    assert!(
        b.console.contains("no ACPI PM timer and no HPET") && b.console.contains("against the PIT"),
        "{}",
        b.dump()
    );
    assert_eq!(online_cpus(&b), 2);
}

#[test]
fn without_acpi_one_node_and_the_mp_tables_cpus() {
    let _one = serial();
    // qboot's MP table lists every CPU; SeaBIOS's lists those it saw.
    let b = pass(&[
        "--tcg",
        "--machine",
        "pc,acpi=off",
        "--nodes",
        "1",
        "--cpus-per-node",
        "4",
    ]);
    assert!(
        b.console.contains("no MADT: 4 CPUs from the MP table"),
        "{}",
        b.dump()
    );
    assert_eq!(online_cpus(&b), 4);
    assert_eq!(numactl::parse(&b.console).0, 1);
    let b = pass(&[
        "--tcg",
        "--machine",
        "pc,acpi=off",
        "--firmware",
        "seabios",
        "--topology",
        "one-node",
    ]);
    assert!(b.console.contains("MP table at"), "{}", b.dump());
}

#[test]
fn cpu_models_without_x2apic_1g_pages_or_invariant_tsc() {
    let _one = serial();
    for model in ["qemu64", "Nehalem"] {
        let b = pass(&[
            "--tcg",
            "--topology",
            "two-node",
            "--qemu-arg",
            "-cpu",
            "--qemu-arg",
            model,
        ]);
        assert!(
            b.console.contains("direct map with 2 MiB pages"),
            "{model}\n{}",
            b.dump()
        );
        assert!(
            b.console.contains("CPUs online (xAPIC)"),
            "{model}\n{}",
            b.dump()
        );
        assert_eq!(online_cpus(&b), 4, "{model}");
    }
}

#[test]
fn one_cpu_with_two_nodes_skips_what_needs_a_second() {
    let _one = serial();
    let b = pass(&["--tcg", "--nodes", "2", "--cpus-per-node", "1,0"]);
    assert_eq!(online_cpus(&b), 1);
    assert!(
        b.console
            .contains("# SKIP the interrupt-handler case needs a second CPU"),
        "{}",
        b.dump()
    );
    let report = numactl::parse(&b.console);
    assert_eq!(report.0, 2);
    assert!(report.1[1].0.is_empty(), "node 1 has no CPU: {report:?}");
}

#[test]
fn qemus_largest_node_count_and_a_240_cpu_vm() {
    let _one = serial();
    let b = pass(&[
        "--tcg",
        "--nodes",
        "128",
        "--mem-per-node",
        "64M",
        "--timeout",
        "300",
    ]);
    let report = numactl::parse(&b.console);
    assert_eq!(report.0, 128);
    assert!(
        report
            .1
            .iter()
            .enumerate()
            .all(|(n, (cpus, _))| cpus == &[n]),
        "{report:?}"
    );
    let b = pass(&[
        "--tcg",
        "--nodes",
        "2",
        "--cpus-per-node",
        "120",
        "--mem-per-node",
        "1G",
        "--timeout",
        "300",
    ]);
    assert_eq!(online_cpus(&b), 240);
}

#[test]
fn eight_nodes_of_8_gib() {
    let _one = serial();
    let b = pass(&[
        "--tcg",
        "--nodes",
        "8",
        "--mem-per-node",
        "8G",
        "--cpus-per-node",
        "1",
    ]);
    let report = numactl::parse(&b.console);
    assert_eq!(report.0, 8);
    // Node 0 loses the PCI hole below 4 GiB to nothing: QEMU moves that
    // RAM above 4 GiB, so every node keeps its 8 GiB (less firmware areas).
    for (n, (_, mb)) in report.1.iter().enumerate() {
        assert!((8190..=8192).contains(mb), "node {n}: {mb} MB");
    }
}

#[test]
fn the_smallest_vm_boots_and_below_it_a_clear_failure() {
    let _one = serial();
    pass(&["--tcg", "--nodes", "1", "--mem-per-node", "7M"]);
    let b = boot(&["--tcg", "--nodes", "1", "--mem-per-node", "6M"]);
    assert_eq!(b.status, 1, "{}", b.dump());
    assert!(
        b.console.contains("below the 3840 KiB this kernel needs"),
        "{}",
        b.dump()
    );
    assert!(!b.console.contains("panic"), "{}", b.dump());
}

#[test]
fn bad_command_line_values_warn_once_and_boot() {
    let _one = serial();
    for (cmdline, warning) in [
        ("mem=1", "mem=0x1 would leave"),
        ("mem=4K", "mem=0x1000 would leave"),
        (
            "min_free_kbytes=999999999",
            "min_free_kbytes=999999999 would leave too little",
        ),
        ("bench=nosuch", "no workload or group named 'nosuch'"),
    ] {
        let b = pass(&["--tcg", "--cmdline", cmdline]);
        let warnings = b.console.lines().filter(|l| l.contains(warning)).count();
        assert_eq!(warnings, 1, "{cmdline}: '{warning}'\n{}", b.dump());
        assert!(!b.console.contains("panic"), "{cmdline}");
    }
    // A small but bootable mem= is taken.
    let b = pass(&["--tcg", "--cmdline", "mem=16M"]);
    assert!(
        b.console.contains("mem=0x1000000 leaves 15 of"),
        "{}",
        b.dump()
    );
}

#[test]
fn firmware_aml_that_faults_loops_or_is_garbage_never_stops_the_boot() {
    let _one = serial();
    for (ssdt, says) in [
        (
            "sta-divide-by-zero",
            &["_SB_.DVZ0: DivideByZero", "_SB_.DVZ1: DivideByZero"][..],
        ),
        (
            "ini-loops-forever",
            &["_SB_.LOOP: LoopTimeout", "_SB_.RECU: MethodCallDepth"][..],
        ),
        ("garbage", &["SSDT (548 bytes) did not load whole"][..]),
    ] {
        let file = repo_root()
            .join("fixtures/ssdt")
            .join(format!("{ssdt}.aml"));
        let arg = format!("file={}", file.display());
        let b = pass(&["--tcg", "--qemu-arg", "-acpitable", "--qemu-arg", &arg]);
        for s in says {
            assert!(b.console.contains(s), "{ssdt}: '{s}'\n{}", b.dump());
        }
        // The rest of the firmware still works: two nodes, and the ACPI
        // power-off (\_S5 from the DSDT) ended the run.
        assert_eq!(numactl::parse(&b.console).0, 2, "{ssdt}");
        assert!(b.console.contains("reboot: Power down (ACPI S5"), "{ssdt}");
    }
}

#[test]
fn every_readme_example_runs() {
    let _one = serial();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let mut in_code = false;
    let mut examples = Vec::new();
    for line in readme.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code && line.starts_with("./run-qemu.sh") {
            let command = line.split(" #").next().unwrap().trim();
            examples.push(command.to_string());
        }
    }
    assert!(examples.len() >= 5, "{examples:?}");
    for example in &examples {
        let mut args = shell_words(example.strip_prefix("./run-qemu.sh").unwrap());
        // A benchmark runs for many minutes and --gdb waits for a debugger:
        // those are checked as far as the QEMU command line.
        let long = args.iter().any(|a| a == "--bench" || a == "--gdb");
        if long {
            args.push("--dry-run".into());
        }
        let refs: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let b = boot(&refs);
        let ok = if long || args.iter().any(|a| a == "--help") {
            b.status == 0
        } else {
            b.problem().is_none()
        };
        assert!(ok, "README example failed: {example}\n{}", b.dump());
    }
}

/// Splits a README command line into words, honouring double quotes.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}
