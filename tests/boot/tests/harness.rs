//! The harness can fail: kernels that fail on purpose are reported as
//! failures, and the launcher's own error paths give their documented
//! exit statuses.

use boot_tests::{boot, ktap};

fn tcg(cmdline: &str) -> boot_tests::Boot {
    boot(&["--tcg", "--topology", "one-node", "--cmdline", cmdline])
}

#[test]
fn failing_assertion_is_a_failed_run_naming_file_line_expected_actual() {
    let b = tcg("selftest=canary_fail");
    assert_eq!(b.status, 1, "{}", b.dump());
    let r = b.ktap();
    assert_eq!(r.summary, Some((0, 1, 0)), "{}", b.dump());
    assert_eq!(r.failed_cases()[0].name, "deliberately_failing_assertion");
    assert!(
        b.console.contains("# src/selftest/canary.rs:"),
        "{}",
        b.dump()
    );
    assert!(b.console.contains("# expected: 42"), "{}", b.dump());
    assert!(b.console.contains("# actual:   41"), "{}", b.dump());
    assert!(r.check_consistent().is_ok());
}

#[test]
fn page_fault_is_reported_with_address_and_what_lies_there() {
    let b = tcg("selftest=canary_fault");
    assert_eq!(b.status, 1, "{}", b.dump());
    assert!(
        b.console
            .contains("fatal exception on CPU 0: #PF page fault"),
        "{}",
        b.dump()
    );
    assert!(
        b.console
            .contains("write at 0x18 (page not present): null page"),
        "{}",
        b.dump()
    );
    assert!(b.console.contains("error code: 0x2"), "{}", b.dump());
    assert!(b.console.contains("backtrace"), "{}", b.dump());
}

#[test]
fn stack_overflow_is_caught_by_the_double_fault_on_its_own_stack() {
    let b = tcg("selftest=canary_overflow");
    assert_eq!(b.status, 1, "{}", b.dump());
    assert!(b.console.contains("#DF double fault"), "{}", b.dump());
    assert!(
        b.console.contains("stack overflow: CR2 0x")
            // The image's boot stack, or the boot CPU's own where the
            // image lies on another node.
            && (b.console.contains("guard page of the boot CPU kernel stack")
                || b.console.contains("guard page of CPU 0's kernel stack")),
        "{}",
        b.dump()
    );
}

#[test]
fn a_hung_kernel_times_out_with_status_2() {
    let b = boot(&[
        "--tcg",
        "--topology",
        "one-node",
        "--timeout",
        "3",
        "--cmdline",
        "selftest=canary_hang",
    ]);
    assert_eq!(b.status, 2, "{}", b.dump());
    assert!(b.stderr.contains("timed out"), "{}", b.dump());
}

#[test]
fn unknown_suite_name_fails_rather_than_running_nothing() {
    let b = tcg("selftest=no_such_suite");
    assert_eq!(b.status, 1, "{}", b.dump());
    assert!(b.console.contains("no suite is named 'no_such_suite'"));
}

#[test]
fn bad_command_line_words_warn_and_boot_goes_on() {
    let b = tcg("bogus=1 loglevel=x");
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(b
        .console
        .contains("warning: cmdline: unknown command-line parameter 'bogus=1'"));
    assert!(b
        .console
        .contains("warning: cmdline: bad value 'x' for 'loglevel'"));
    assert!(b.ktap().failed_cases().is_empty());
}

#[test]
fn quiet_hides_info_lines_but_not_the_ktap_report() {
    let b = tcg("quiet");
    assert_eq!(b.status, 0, "{}", b.dump());
    assert!(!b.console.contains("BIOS-e820"), "{}", b.dump());
    let r = b.ktap();
    assert!(r.check_consistent().is_ok() && !r.cases.is_empty());
    // loglevel=8 shows debug lines that the default level hides.
    let b = tcg("loglevel=8");
    assert!(b.console.contains("selftest suite paging"), "{}", b.dump());
    let b = tcg("");
    assert!(!b.console.contains("selftest suite paging"));
}

#[test]
fn selected_suites_run_alone() {
    let b = tcg("selftest=time");
    assert_eq!(b.status, 0, "{}", b.dump());
    let r = b.ktap();
    assert_eq!(r.suites.len(), 1);
    assert!(r.cases.iter().all(|c| c.suite == "time"));
    assert!(r.cases.iter().all(|c| c.result == ktap::Result::Ok));
    let b = tcg("selftest=off");
    assert_eq!(b.status, 0);
    assert!(b.ktap().cases.is_empty());
}
