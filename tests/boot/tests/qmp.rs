//! The launcher driving a running VM through QMP: commands at times and on
//! console lines, host NUMA binding (checked from the host with taskset),
//! and topology sweeps.

use boot_tests::{boot, kernel_path, repo_root, PRESETS};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// A console line triggers a command; every command and reply is printed.
#[test]
fn at_a_console_line_a_qmp_command_runs_and_its_reply_is_printed() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "two-node",
        "--cmdline",
        "selftest=numa",
        "--at",
        "SMP: CPU 1",
        "query-status",
        "--at",
        "+0",
        r#"qom-get {"path": "/machine", "property": "type"}"#,
    ]);
    assert_eq!(b.problem(), None, "{}", b.dump());
    for want in [
        r#"run-qemu: qmp> {"execute": "cont"}"#,
        "run-qemu: qmp: 'SMP: CPU 1' came",
        r#"run-qemu: qmp> {"execute": "query-status"}"#,
        r#""status": "running""#,
        r#"run-qemu: qmp> {"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}"#,
        r#"run-qemu: qmp< {"return": "pc-q35-"#,
        "run-qemu: qmp< event RESUME",
    ] {
        assert!(b.stderr.contains(want), "missing '{want}'\n{}", b.dump());
    }
}

/// `--host-bind auto` on this host: the mapping printed, the memory
/// backends bound, the VM boots, and its vCPU threads are pinned (read
/// back with taskset while the VM is stopped for a few seconds).
#[test]
fn host_bind_auto_pins_vcpu_threads_and_binds_node_memory() {
    let mut child = Command::new(repo_root().join("run-qemu.sh"))
        .args(["--no-build", "--kernel"])
        .arg(kernel_path())
        .args([
            "--tcg",
            "--topology",
            "two-node",
            "--cmdline",
            "selftest=numa",
            "--host-bind",
            "auto",
            "--at",
            "+0",
            "stop",
            "--at",
            "+3",
            "cont",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run-qemu.sh runs");
    let mut stderr = String::new();
    let mut affinities = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("qmp< event STOP") {
            // Paused: every vCPU thread named in the pinning lines exists.
            for l in stderr
                .lines()
                .filter(|l| l.contains(") pinned to host node"))
            {
                let tid = l
                    .split("thread ")
                    .nth(1)
                    .unwrap()
                    .split(')')
                    .next()
                    .unwrap();
                let out = Command::new("taskset").args(["-cp", tid]).output().unwrap();
                affinities.push(String::from_utf8_lossy(&out.stdout).into_owned());
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("run-qemu: host-bind: guest node:host node 0:0,1:0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("policy=bind,prealloc=on") && stderr.contains("host-nodes=0"),
        "{stderr}"
    );
    assert!(stderr.contains("2 memory backends bound"), "{stderr}");
    let host_nodes = std::fs::read_dir("/sys/devices/system/node")
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("node"))
                .count()
        })
        .unwrap_or(1);
    if host_nodes <= 1 {
        assert!(stderr.contains("this host has one NUMA node"), "{stderr}");
    }
    assert_eq!(affinities.len(), 4, "one per vCPU\n{stderr}");
    let node0 =
        cpu_list(&std::fs::read_to_string("/sys/devices/system/node/node0/cpulist").unwrap());
    for a in &affinities {
        let list = a
            .trim()
            .split("current affinity list: ")
            .nth(1)
            .unwrap_or("");
        assert_eq!(cpu_list(list), node0, "{a}\n{stderr}");
    }
}

/// A CPU list as Linux writes it ("0-3,8"), as a sorted list of CPUs.
fn cpu_list(text: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        cpus.extend(lo.parse::<u32>().unwrap()..=hi.parse::<u32>().unwrap());
    }
    cpus.sort_unstable();
    cpus
}

/// A sweep of every preset: one table, a row per preset, all passing.
#[test]
fn a_sweep_of_all_presets_prints_one_table() {
    let results = std::env::temp_dir().join(format!("sweep-test-{}", std::process::id()));
    let b = boot(&[
        "--tcg",
        "--sweep",
        "all",
        "--results",
        results.to_str().unwrap(),
    ]);
    let _ = std::fs::remove_dir_all(&results);
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(
        b.console.contains("| preset | verdict | topology |"),
        "{}",
        b.dump()
    );
    for p in PRESETS {
        let row = b
            .console
            .lines()
            .find(|l| l.starts_with(&format!("| {p} |")))
            .unwrap_or_else(|| panic!("no row for {p}\n{}", b.dump()));
        assert!(row.contains("| pass |"), "{row}");
    }
    assert!(b.console.contains("Worst exit status: 0."), "{}", b.dump());
}
