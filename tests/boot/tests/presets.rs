//! Every preset topology boots to a complete, passing KTAP report under
//! every accelerator this machine has.

use boot_tests::{accelerators, boot, PRESETS};

#[test]
fn every_preset_boots_and_passes_its_self_tests() {
    let mut failures = Vec::new();
    for accel in accelerators() {
        for preset in PRESETS {
            let b = boot(&["--topology", preset, accel.flag(), "--timeout", "120"]);
            let ktap = b.ktap();
            eprintln!(
                "{preset:>16} {accel:?}: status {} in {:.2} s wall, {} cases",
                b.status,
                b.wall.as_secs_f64(),
                ktap.cases.len()
            );
            let problem = b.problem();
            if let Some(p) = problem {
                failures.push(format!("{preset} {accel:?}: {p}\n{}", b.dump()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
