//! run-qemu.sh's options, checked through --dry-run (no VM started).

use boot_tests::repo_root;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(repo_root().join("run-qemu.sh"))
        .args(args)
        .output()
        .expect("run-qemu.sh runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn presets_use_exactly_the_fixture_arguments() {
    for preset in boot_tests::PRESETS {
        let (status, _, err) = run(&["--dry-run", "--no-build", "--tcg", "--topology", preset]);
        assert_eq!(status, 0, "{err}");
        let args = std::fs::read_to_string(
            repo_root().join(format!("fixtures/qemu-acpi/{preset}/qemu-args.txt")),
        )
        .unwrap();
        assert!(err.contains(args.trim()), "{preset}: {err}");
        assert!(err.contains("-accel tcg -cpu max"));
        assert!(err.contains("-device isa-debug-exit,iobase=0xf4,iosize=0x04"));
    }
}

#[test]
fn free_form_topology_builds_nodes_cpus_memory_and_distances() {
    let (status, _, err) = run(&[
        "--dry-run",
        "--no-build",
        "--tcg",
        "--nodes",
        "3",
        "--cpus-per-node",
        "2",
        "--mem-per-node",
        "1G",
        "--distance",
        "0-2=31",
    ]);
    assert_eq!(status, 0, "{err}");
    for want in [
        "-smp 6 -m 3072M",
        "-object memory-backend-ram,id=m2,size=1024M",
        "-numa node,nodeid=2,cpus=4-5,memdev=m2",
        "-numa dist,src=0,dst=2,val=31",
    ] {
        assert!(err.contains(want), "missing '{want}' in {err}");
    }
}

#[test]
fn gdb_option_waits_for_the_debugger() {
    let (status, _, err) = run(&["--dry-run", "--no-build", "--tcg", "--gdb"]);
    assert_eq!(status, 0);
    assert!(err.contains(" -s -S"), "{err}");
}

#[test]
fn bad_options_exit_2_with_a_message() {
    for args in [
        &["--frobnicate"][..],
        &["--topology", "nine-node"][..],
        &["--nodes", "two"][..],
        &["--nodes", "2", "--distance", "0-1"][..],
        &["--dry-run", "--host-bind", "0-0"][..],
        &["--dry-run", "--host-bind", "0:99"][..],
        &["--dry-run", "--topology", "one-node", "--host-bind", "3:0"][..],
        &["--dry-run", "--hotplug", "1:lots"][..],
        &["--dry-run", "--hotunplug", "0dimm"][..],
        &["--sweep", "one-node,nine-node"][..],
        &["--sweep", "all", "--topology", "two-node"][..],
        &[
            "--at",
            "+1",
            r#"query-status [1]"#,
            "--tcg",
            "--no-build",
            "--topology",
            "one-node",
        ][..],
    ] {
        let (status, _, err) = run(args);
        assert_eq!(status, 2, "{args:?}: {err}");
        assert!(err.contains("run-qemu:"), "{args:?}: {err}");
    }
    let (status, out, _) = run(&["--help"]);
    assert_eq!(status, 0);
    assert!(out.contains("--topology") && out.contains("--gdb") && out.contains("Exit status"));
}

#[test]
fn host_bind_binds_each_node_backend_and_starts_the_vm_paused_for_qmp() {
    let (status, _, err) = run(&[
        "--dry-run",
        "--no-build",
        "--tcg",
        "--topology",
        "two-node",
        "--host-bind",
        "0:0,1:0",
    ]);
    assert_eq!(status, 0, "{err}");
    for want in [
        "memory-backend-ram,id=m0,size=1G,host-nodes=0,policy=bind,prealloc=on",
        "memory-backend-ram,id=m1,size=1G,host-nodes=0,policy=bind,prealloc=on",
        "-name guest=two-node,debug-threads=on -S",
        "host-bind: guest node:host node 0:0,1:0",
    ] {
        assert!(err.contains(want), "missing '{want}' in {err}");
    }
    assert!(err.contains("-qmp unix:"), "{err}");
}
