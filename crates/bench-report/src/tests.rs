//! The report from a small results file of every line kind.

use super::*;

const SAMPLE: &str = r#"noise before
BENCH_RUN {"topology":"two-node","accelerator":"tcg","date":"2026-12-01"}
BENCH_META {"clock":"tsc","tsc_khz":2600000,"hypervisor":"TCGTCGTCGTCG","cpus":4,"nodes":2,"scale":10}
BENCH {"bench":"slab_pair","size":64,"cpus":1,"node":0,"ops":1000,"ns_per_op":400.0,"allocator":"ours"}
BENCH {"bench":"slab_pair","size":64,"cpus":1,"node":0,"ops":1000,"ns_per_op":100.0,"allocator":"talc","ours_ns_per_op":400.0,"peer_over_ours":0.250}
BENCH {"bench":"page_pair","order":0,"cpus":1,"node":0,"ops":1000,"ns_per_op":500.0,"allocator":"ours"}
BENCH {"bench":"parallel_slab","size":64,"cpus":1,"node":0,"ops":1000,"ns_per_op":100.0,"allocator":"ours"}
BENCH {"bench":"parallel_slab","size":64,"cpus":2,"node":0,"ops":1000,"ns_per_op":125.0,"allocator":"ours"}
BENCH_LOCALITY {"bench":"page_pair","order":0,"cpus":1,"node":0,"numa_hit":10,"numa_miss":0,"numa_foreign":0,"interleave_hit":0,"local_node":10,"other_node":0,"local_share":1.000}
BENCH_POLICY {"bench":"policy_pages","policy":"interleave:0-1","cpus":1,"node":0,"ops":60,"ns_per_op":900.0,"allocator":"ours","failed":0,"pages_per_node":[30,30],"expected_per_node":[30,30],"matches":true,"numa_hit":[30,30],"numa_miss":[0,0],"numa_foreign":[0,0],"interleave_hit":[30,30],"local_node":[30,0],"other_node":[0,30]}
BENCH_NOTE {"note":"expect it flat"}
BENCH_MATRIX {"cpu_node":0,"cpu":0,"mem_node":1,"distance":20,"latency_ns":91.5,"read_mb_s":9000}
BENCH_MATRIX {"cpu_node":0,"cpu":0,"mem_node":0,"distance":10,"latency_ns":90.0,"read_mb_s":9100}
BENCH {"bench":"broken"
"#;

#[test]
fn every_line_kind_is_read_and_a_bad_line_is_reported() {
    let r = Results::parse(SAMPLE);
    assert_eq!(
        (r.topology.as_str(), r.accelerator.as_str()),
        ("two-node", "tcg")
    );
    assert_eq!(r.benches.len(), 5);
    assert_eq!(r.benches[2].size_key, "order");
    assert_eq!(r.locality.len(), 1);
    assert_eq!(r.matrix.len(), 2);
    assert_eq!(r.notes, ["expect it flat"]);
    assert_eq!(r.warnings.len(), 1, "{:?}", r.warnings);
}

#[test]
fn scaling_is_aggregate_throughput_and_efficiency_against_linear() {
    let r = Results::parse(SAMPLE);
    let s = r.scaling();
    let pts = &s[&("parallel_slab".to_string(), "ours".to_string())];
    // 1 CPU at 100 ns: 10 Mops/s; 2 CPUs at 125 ns each: 16 Mops/s.
    assert_eq!(pts.len(), 2);
    assert!((pts[0].1 - 10.0).abs() < 1e-9 && (pts[1].1 - 16.0).abs() < 1e-9);
    assert_eq!(
        (sig3(0.001234), sig3(12.34), sig3(1234.0)),
        ("0.00123".into(), "12.3".into(), "1234".into())
    );
    let md = markdown(&r);
    assert!(
        md.contains("| parallel_slab | ours | 2 | 16.0 | 0.80 |"),
        "{md}"
    );
}

#[test]
fn the_report_names_topology_and_accelerator_and_shows_ratios() {
    let r = Results::parse(SAMPLE);
    let md = markdown(&r);
    assert!(md.starts_with("# Allocator benchmark: two-node under tcg, 2026-12-01"));
    assert!(
        md.contains("| slab_pair size=64 | 400.0 | 100.0 (0.25) |"),
        "{md}"
    );
    assert!(md.contains("| 0 | 90.0 (10) | 91.5 (20) |"), "{md}");
    assert!(
        md.contains(
            "| interleave:0-1 | 60 | 900 | 30 / 30 | 30 / 30 | 30 / 30 | 30 / 30 | 0 / 30 |"
        ),
        "{md}"
    );
    for svg in [
        scaling_svg(&r).unwrap(),
        peers_svg(&r).unwrap(),
        matrix_svg(&r, false).unwrap(),
        matrix_svg(&r, true).unwrap(),
    ] {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("two-node under tcg"), "title names the run");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }
}

#[test]
fn files_are_written() {
    let dir = std::env::temp_dir().join(format!("bench-report-test-{}", std::process::id()));
    let files = write_report(&Results::parse(SAMPLE), &dir).unwrap();
    assert_eq!(files.len(), 5);
    for f in files {
        assert!(
            std::fs::metadata(&f).unwrap().len() > 100,
            "{}",
            f.display()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_sweep_plot_shows_each_vm_and_the_best_peer_over_ours() {
    let one = Results::parse(SAMPLE);
    // talc's 100 ns against ours' 400: the best peer is 0.25 of ours.
    assert_eq!(best_peer_over_ours(&one, "slab_pair", 64), Some(0.25));
    assert_eq!(
        best_peer_over_ours(&one, "page_pair", 0),
        None,
        "no peer line"
    );
    let other = Results::parse(&SAMPLE.replace("\"ns_per_op\":400.0", "\"ns_per_op\":50.0"));
    assert_eq!(best_peer_over_ours(&other, "slab_pair", 64), Some(2.0));
    let svg = sweep_svg(&[("two-node".into(), one), ("3x1@512M".into(), other)]).unwrap();
    for want in ["two-node", "3x1@512M", "slab_pair 64", "under tcg"] {
        assert!(svg.contains(want), "missing {want}");
    }
}
