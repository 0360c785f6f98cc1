//! Boot-time self-tests, reported as KTAP version 1
//! (Linux Documentation/dev-tools/ktap.rst).
//!
//! A test registers itself where it is written, with [`selftest!`]: the
//! macro places a [`SelfTest`] record in the `.selftests` linker section,
//! and the runner reads the section between `__start_selftests` and
//! `__stop_selftests`. There is no hand-kept list.
//!
//! Cases are grouped into suites (the KTAP subtests). `selftest=a,b` runs
//! exactly those suites; by default every suite that is not explicit-only
//! runs. Explicit-only suites (the harness canaries that fail on purpose)
//! run only when named.

pub mod canary;
pub mod registry;
pub mod runner;

pub use registry::{Failure, Outcome, SelfTest};
pub use runner::{run, suite_names, will_run};
