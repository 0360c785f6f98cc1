//! The runner: reads the cases the linker gathered in `.selftests`, runs
//! the selected suites and prints KTAP.

use super::registry::{Failure, SelfTest};
use crate::kprintln;
use cmdline::SelfTestSelection;

extern "C" {
    static __start_selftests: u8;
    static __stop_selftests: u8;
}

fn registered() -> &'static [SelfTest] {
    // SAFETY: the linker script brackets the `.selftests` section with these
    // symbols; the section holds only `SelfTest` statics emitted by the
    // `selftest!` macro, laid out back to back at their natural alignment.
    unsafe {
        let start = &__start_selftests as *const u8 as *const SelfTest;
        let stop = &__stop_selftests as *const u8 as *const SelfTest;
        let n = (stop as usize - start as usize) / core::mem::size_of::<SelfTest>();
        core::slice::from_raw_parts(start, n)
    }
}

/// Suite names in first-registration order, each once.
fn suites(all: &'static [SelfTest]) -> impl Iterator<Item = &'static SelfTest> {
    all.iter()
        .enumerate()
        .filter(move |(i, t)| !all[..*i].iter().any(|u| u.suite == t.suite))
        .map(|(_, t)| t)
}

#[derive(Default, Clone, Copy)]
pub struct Totals {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

/// Cases slower than this get a diagnostic line with their duration.
const SLOW_CASE_MS: u64 = 100;

/// Runs the selected suites, prints KTAP and the summary, returns totals.
pub fn run(selection: SelfTestSelection, also: &[&str]) -> Totals {
    let all = registered();
    let mut totals = Totals::default();
    if selection == SelfTestSelection::Off && also.is_empty() {
        kprintln!("selftest: off (selftest=off); nothing run");
        return totals;
    }
    // `also`: suites a workload asks for, on top of the selection.
    let selected = |suite: &SelfTest| {
        also.contains(&suite.suite)
            || match selection {
                SelfTestSelection::Suites(list) => list.contains(suite.suite),
                SelfTestSelection::Off => false,
                SelfTestSelection::Default => !suite.explicit_only,
            }
    };
    // Names asked for that no suite has are failures, not silence.
    let mut unknown = 0;
    if let SelfTestSelection::Suites(list) = selection {
        unknown = list
            .iter()
            .filter(|name| !all.iter().any(|t| t.suite == *name))
            .count();
    }
    let plan = suites(all).filter(|s| selected(s)).count() + unknown;

    kprintln!("KTAP version 1");
    kprintln!("1..{plan}");
    let mut n = 0;
    for suite in suites(all).filter(|s| selected(s)) {
        n += 1;
        kprintln!("    KTAP version 1");
        kprintln!("    # Subtest: {}", suite.suite);
        let cases = all.iter().filter(|t| t.suite == suite.suite);
        kprintln!("    1..{}", cases.clone().count());
        let (mut failed, mut ran) = (0, 0);
        for (i, case) in cases.enumerate() {
            // RCU callbacks an earlier case queued free memory when they
            // run: let them finish first, so that a case's before-and-after
            // counts see its own work only.
            crate::rcu::rcu_barrier();
            // Threads an earlier case joined are reaped by whichever CPU
            // idles first, freeing their stacks: reap them all now, not in
            // the middle of this case's counts.
            crate::sched::reap_all_dead(1_000_000_000);
            let start = crate::arch::x86_64::tsc::ns_since_boot();
            let outcome = {
                // No sampled object in a case's counts (the KFENCE cases
                // sample on purpose).
                let _no_sampling = crate::mm::kfence::Paused::new();
                (case.run)()
            };
            let took_ms = (crate::arch::x86_64::tsc::ns_since_boot() - start) / 1_000_000;
            if took_ms >= SLOW_CASE_MS {
                kprintln!("    # {} took {took_ms} ms", case.name);
            }
            match outcome {
                Ok(()) => {
                    ran += 1;
                    totals.passed += 1;
                    kprintln!("    ok {} {}", i + 1, case.name);
                }
                Err(Failure::Failed) => {
                    ran += 1;
                    failed += 1;
                    totals.failed += 1;
                    kprintln!("    not ok {} {}", i + 1, case.name);
                }
                Err(Failure::Skipped(why)) => {
                    totals.skipped += 1;
                    kprintln!("    ok {} {} # SKIP {why}", i + 1, case.name);
                }
            }
        }
        match (failed, ran) {
            (0, 0) => kprintln!("ok {n} {} # SKIP every case skipped", suite.suite),
            (0, _) => kprintln!("ok {n} {}", suite.suite),
            _ => kprintln!("not ok {n} {}", suite.suite),
        }
    }
    if let SelfTestSelection::Suites(list) = selection {
        for name in list
            .iter()
            .filter(|name| !all.iter().any(|t| t.suite == *name))
        {
            n += 1;
            totals.failed += 1;
            kprintln!("# selftest=: no suite is named '{name}'");
            kprintln!("not ok {n} {name}");
        }
    }
    kprintln!(
        "selftest: {} passed, {} failed, {} skipped",
        totals.passed,
        totals.failed,
        totals.skipped
    );
    totals
}

/// Whether `selection` (with `also`) runs suite `name`.
pub fn will_run(selection: SelfTestSelection, also: &[&str], name: &str) -> bool {
    also.contains(&name)
        || match selection {
            SelfTestSelection::Suites(list) => list.contains(name),
            SelfTestSelection::Off => false,
            SelfTestSelection::Default => registered()
                .iter()
                .any(|t| t.suite == name && !t.explicit_only),
        }
}

/// The names of all suites, for the boot log.
pub fn suite_names() -> impl Iterator<Item = (&'static str, bool)> {
    suites(registered()).map(|t| (t.suite, t.explicit_only))
}
