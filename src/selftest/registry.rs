//! What a self-test case is and how it registers: the [`SelfTest`] record,
//! its [`Outcome`], and the `selftest!`, `kassert!` and `kassert_eq!`
//! macros. A leaf (it needs only the console), so a case can be written
//! beside the code it proves at any layer without that code depending on
//! the runner.

/// The outcome of one case.
pub type Outcome = Result<(), Failure>;

#[derive(Debug)]
pub enum Failure {
    /// An assertion failed; its diagnostic lines are already printed.
    Failed,
    /// The case could not run here; the reason is printed after `# SKIP`.
    Skipped(&'static str),
}

/// One registered case. `repr(C)` because the linker lays the records out
/// and the runner reads them back as an array.
#[repr(C)]
pub struct SelfTest {
    pub suite: &'static str,
    pub name: &'static str,
    pub run: fn() -> Outcome,
    pub explicit_only: bool,
}

/// Registers a self-test case in a suite, beside the code it proves:
///
/// ```ignore
/// selftest!("boot", fn page_zero_is_unmapped() {
///     kassert_eq!(paging::translate(0), Mapping::NotMapped);
///     Ok(())
/// });
/// ```
/// `selftest!(explicit "suite", fn ...)` registers a case that runs only when
/// its suite is named on the command line.
#[macro_export]
macro_rules! selftest {
    (@register $suite:literal, $name:ident, $explicit:literal) => {
        const _: () = {
            #[link_section = ".selftests"]
            #[used]
            static ENTRY: $crate::selftest::SelfTest = $crate::selftest::SelfTest {
                suite: $suite,
                name: stringify!($name),
                run: $name,
                explicit_only: $explicit,
            };
        };
    };
    (explicit $suite:literal, fn $name:ident() $body:block) => {
        #[optimize(size)]
        fn $name() -> $crate::selftest::Outcome $body
        $crate::selftest!(@register $suite, $name, true);
    };
    ($suite:literal, fn $name:ident() $body:block) => {
        #[optimize(size)]
        fn $name() -> $crate::selftest::Outcome $body
        $crate::selftest!(@register $suite, $name, false);
    };
}

/// Fails the case unless `cond` holds, naming file, line and the condition.
#[macro_export]
macro_rules! kassert {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::kprintln!(
                "    # {}:{}: assertion failed: {}",
                file!(),
                line!(),
                stringify!($cond)
            );
            return Err($crate::selftest::Failure::Failed);
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::kprintln!(
                "    # {}:{}: assertion failed: {}: {}",
                file!(),
                line!(),
                stringify!($cond),
                format_args!($($fmt)+)
            );
            return Err($crate::selftest::Failure::Failed);
        }
    };
}

/// Fails the case unless `actual == expected`, printing both (and an
/// optional message).
#[macro_export]
macro_rules! kassert_eq {
    ($actual:expr, $expected:expr $(,)?) => {
        $crate::kassert_eq!($actual, $expected, "")
    };
    ($actual:expr, $expected:expr, $($fmt:tt)+) => {{
        let (actual, expected) = (&$actual, &$expected);
        if actual != expected {
            $crate::kprintln!(
                "    # {}:{}: {} != {} {}",
                file!(),
                line!(),
                stringify!($actual),
                stringify!($expected),
                format_args!($($fmt)+)
            );
            $crate::kprintln!("    # expected: {:?}", expected);
            $crate::kprintln!("    # actual:   {:?}", actual);
            return Err($crate::selftest::Failure::Failed);
        }
    }};
}
