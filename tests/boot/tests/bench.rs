//! `./run-qemu.sh --bench` end to end, on a tiny scale (figures are the
//! benchmark's business, not a test's): every workload of BENCH-SPEC.md
//! for ours and the peers with their ratios, the locality lines, the
//! access matrix for every CPU node and memory node, and the results
//! file, report and plots written.

use boot_tests::repo_root;
use serde_json::Value;
use std::process::Command;

/// The bench-report the launcher is given (BENCH_REPORT_BIN): a cargo
/// run inside cargo test would wait for cargo's own lock.
fn report_bin() -> std::path::PathBuf {
    let bin = repo_root().join("target/x86_64-unknown-linux-gnu/debug/bench-report");
    assert!(
        bin.exists(),
        "build bench-report first (run-tests.sh does): {}",
        bin.display()
    );
    bin
}

#[test]
fn bench_run_writes_every_workload_the_peers_the_matrix_and_the_report() {
    let out_dir = std::env::temp_dir().join(format!("bench-test-{}", std::process::id()));
    let report_bin = report_bin();
    let kernel = repo_root().join("target/x86_64-unknown-none/release/kernel");
    let out = Command::new(repo_root().join("run-qemu.sh"))
        .args([
            "--kernel",
            kernel.to_str().unwrap(),
            "--tcg",
            "--topology",
            "two-node",
        ])
        .args(["--bench", "--bench-scale", "1000", "--timeout", "600"])
        .arg("--results")
        .arg(&out_dir)
        .env("BENCH_REPORT_BIN", &report_bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let run = std::fs::read_dir(&out_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let results = std::fs::read_to_string(run.join("results.jsonl")).unwrap();
    let lines = |tag: &str| -> Vec<Value> {
        results
            .lines()
            .filter_map(|l| l.strip_prefix(tag).and_then(|j| j.strip_prefix(' ')))
            .map(|j| serde_json::from_str(j).unwrap())
            .collect()
    };
    let run_line = &lines("BENCH_RUN")[0];
    assert_eq!(run_line["topology"], "two-node");
    assert_eq!(run_line["accelerator"], "tcg");
    let benches = lines("BENCH");
    let count = |alloc: &str, name: &str| {
        benches
            .iter()
            .filter(|b| b["allocator"] == alloc && b["bench"] == name)
            .count()
    };
    // The spec's parameter lists; two-node has 4 CPUs (1, 2, 4) and 2 nodes.
    for (name, n) in [
        ("slab_pair", 5),
        ("slab_batch", 2),
        ("slab_remote_free", 1),
        ("cache_pair", 1),
        ("page_pair", 4),
        ("page_batch", 1),
        ("page_node", 2),
        ("vmalloc_pair", 4),
        ("parallel_slab", 3),
        ("parallel_page", 3),
    ] {
        assert_eq!(count("ours", name), n, "{name}\n{results}");
        let peer_runs = !matches!(name, "page_node" | "vmalloc_pair");
        for peer in ["talc", "linked_list_allocator", "buddy_system_allocator"] {
            assert_eq!(
                count(peer, name),
                if peer_runs { n } else { 0 },
                "{peer} {name}"
            );
        }
    }
    for b in &benches {
        for field in ["cpus", "node", "ops", "ns_per_op"] {
            assert!(b[field].is_number(), "{field} in {b}");
        }
        if b["allocator"] != "ours" {
            assert!(b["peer_over_ours"].as_f64().unwrap() > 0.0, "{b}");
        }
    }
    let remote = benches
        .iter()
        .find(|b| b["bench"] == "slab_remote_free")
        .unwrap();
    assert_eq!(
        (remote["free_node"].as_u64(), remote["distance"].as_u64()),
        (Some(1), Some(20))
    );
    // Locality: page_node to node 1 from node 0 is served by node 1 for a
    // CPU of node 0: other_node there.
    let loc = lines("BENCH_LOCALITY");
    assert!(loc.iter().any(|l| l["bench"] == "page_node"
        && l["node"] == 1
        && l["other_node"].as_u64() > Some(0)));
    // The matrix: CPU nodes x memory nodes, the SLIT beside each.
    let m = lines("BENCH_MATRIX");
    assert_eq!(m.len(), 4, "{results}");
    for c in &m {
        let want = if c["cpu_node"] == c["mem_node"] {
            10
        } else {
            20
        };
        assert_eq!(c["distance"].as_u64(), Some(want));
        assert!(c["latency_ns"].as_f64().unwrap() > 0.0 && c["read_mb_s"].as_f64().unwrap() > 0.0);
    }
    assert!(results.contains("expected to be flat"));
    // Policies: each run's pages per node equal the policy's rule, and
    // interleave over both nodes splits evenly with interleave_hit each.
    let pol = lines("BENCH_POLICY");
    assert!(pol.len() >= 7, "{results}");
    for p in &pol {
        assert_eq!(p["matches"], true, "{p}");
        assert_eq!(p["failed"], 0, "{p}");
    }
    let il = pol
        .iter()
        .find(|p| p["policy"] == "interleave:0-1")
        .unwrap();
    let n = il["ops"].as_u64().unwrap();
    assert_eq!(il["pages_per_node"], serde_json::json!([n / 2, n / 2]));
    assert_eq!(il["interleave_hit"], serde_json::json!([n / 2, n / 2]));
    let report = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        report.starts_with("# Allocator benchmark: two-node under tcg"),
        "{report}"
    );
    for svg in [
        "scaling.svg",
        "peers.svg",
        "matrix-latency.svg",
        "matrix-bandwidth.svg",
    ] {
        let s = std::fs::read_to_string(run.join(svg)).unwrap();
        assert!(
            s.starts_with("<svg") && s.contains("two-node under tcg"),
            "{svg}"
        );
    }
    // Progress lines say how far the run is.
    let console = std::fs::read_to_string(run.join("console.log")).unwrap();
    assert!(console.contains("# bench [1/") && console.contains("# bench: done"));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// A sweep of a preset and a free-form VM with the benchmark: one table
/// with both rows and their headline figures, and the plot across them.
#[test]
fn a_bench_sweep_with_a_free_form_vm_writes_one_table_and_its_plot() {
    let out_dir = std::env::temp_dir().join(format!("bench-sweep-test-{}", std::process::id()));
    let report_bin = report_bin();
    let out = Command::new(repo_root().join("run-qemu.sh"))
        .args(["--no-build", "--tcg", "--sweep", "one-node,2x1@256M"])
        .args([
            "--bench",
            "--bench-select",
            "all,peers",
            "--bench-scale",
            "1000",
        ])
        .arg("--results")
        .arg(&out_dir)
        .env("BENCH_REPORT_BIN", &report_bin)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    for row in [
        "| one-node | pass | 1 node, 2 CPUs, 512M |",
        "| 2x1@256M | pass | 2 nodes, 2 CPUs, 512M |",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(row));
        assert!(line.is_some(), "no row '{row}'\n{stdout}");
        // The headline figures are there: slab_pair 64 with its ratio.
        assert!(line.unwrap().contains(") |"), "{}", line.unwrap());
    }
    let sweep = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("sweep-")
        })
        .expect("the sweep's folder");
    let svg = std::fs::read_to_string(sweep.join("sweep.svg")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out_dir);
    for want in ["one-node", "2x1@256M", "slab_pair 64", "page_batch"] {
        assert!(svg.contains(want), "sweep.svg lacks '{want}'\n{stderr}");
    }
}
