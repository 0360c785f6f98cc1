//! The kernel's `src/` against the layer rule, and the check itself
//! against a fixture that breaks it.

use layer_check::{build, check, parse_allow_list};
use std::path::Path;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every edge of `src/` points to its own layer or below, but for the
/// ones the allow-list names (each an inversion still to make); an entry
/// that no longer occurs must go too, so the list only shrinks.
#[test]
fn src_keeps_to_its_layers() {
    let graph = build(&manifest().join("../../src")).expect("src/ parses");
    assert!(graph.files.len() > 40, "read {} files", graph.files.len());
    let (violations, unknown) = check(&graph);
    assert!(
        unknown.is_empty(),
        "files with no layer (add them to layer_of): {unknown:?}"
    );
    let allowed = parse_allow_list(
        &std::fs::read_to_string(manifest().join("allowed-upward-edges.txt")).unwrap(),
    );
    let mut new: Vec<String> = violations
        .iter()
        .filter(|v| !allowed.contains(&v.key()))
        .map(|v| v.to_string())
        .collect();
    new.sort();
    new.dedup();
    let found: std::collections::BTreeSet<String> = violations.iter().map(|v| v.key()).collect();
    let stale: Vec<&String> = allowed.iter().filter(|k| !found.contains(*k)).collect();
    assert!(
        new.is_empty(),
        "{} upward edge(s) (a lower layer may reach a higher one only through a hook it installs):\n  {}",
        new.len(),
        new.join("\n  ")
    );
    assert!(
        stale.is_empty(),
        "allowed-upward-edges.txt names edges that are gone; remove them: {stale:?}"
    );
}

/// The check finds an upward `use` path and an upward macro call, names
/// them, and lets self-test code reach up.
#[test]
fn an_upward_import_fails_the_check() {
    let graph = build(&manifest().join("tests/fixtures/upward/src")).unwrap();
    let (violations, unknown) = check(&graph);
    assert!(unknown.is_empty(), "{unknown:?}");
    let shown: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    assert_eq!(
        shown,
        [
            "src/arch/mod.rs:2 (L0) names `crate::sched::idle` of src/sched/mod.rs (L3)",
            "src/arch/mod.rs:3 (L0) names `resched!` of src/sched/mod.rs (L3)",
        ],
        "{shown:#?}"
    );
    assert!(graph
        .edges
        .iter()
        .any(|e| e.test && e.from == "arch/mod.rs" && e.to == "sched/mod.rs"));
}
