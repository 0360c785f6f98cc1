//! Boots the kernel under QEMU through `run-qemu.sh` and reads back what it
//! printed: the exit verdict, the KTAP self-test report, the log.
//!
//! The kernel must be built first (`./run-tests.sh` does it; so does
//! `cargo build --release -p kernel`); a missing kernel fails every test
//! with that instruction rather than skipping.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub mod ktap;
pub mod mm_reports;
pub mod numactl;
pub mod qemu_args;

/// A small deterministic generator for the host tests, so a failure
/// reproduces from its seed.
pub use xorshift::XorShift;

/// The repository root (this crate lives in tests/boot).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// The kernel image the tests boot: $KERNEL, or the release build.
pub fn kernel_path() -> PathBuf {
    match std::env::var_os("KERNEL") {
        Some(p) => PathBuf::from(p),
        None => repo_root().join("target/x86_64-unknown-none/release/kernel"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn flag(self) -> &'static str {
        match self {
            Accel::Kvm => "--kvm",
            Accel::Tcg => "--tcg",
        }
    }
}

/// Whether /dev/kvm can be opened read-write here.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// The accelerators to test on: TCG always, KVM where usable. A missing KVM
/// is said on stderr, so the skip is visible in the test output.
pub fn accelerators() -> Vec<Accel> {
    if kvm_usable() {
        vec![Accel::Kvm, Accel::Tcg]
    } else {
        eprintln!("SKIP kvm: /dev/kvm is not usable on this machine; testing TCG only");
        vec![Accel::Tcg]
    }
}

/// The preset topologies run-qemu.sh offers.
pub const PRESETS: [&str; 6] = [
    "one-node",
    "two-node",
    "four-node-asym",
    "memless-cpuless",
    "eight-node-big",
    "tiered",
];

/// One finished boot.
#[derive(Debug)]
pub struct Boot {
    /// run-qemu.sh's exit status: 0 pass, 1 fail, 2 timeout or QEMU error.
    pub status: i32,
    /// The serial console.
    pub console: String,
    /// run-qemu.sh's own messages and QEMU's.
    pub stderr: String,
    pub wall: Duration,
    pub description: String,
}

impl Boot {
    pub fn ktap(&self) -> ktap::Report {
        ktap::parse(&self.console)
    }

    /// Why this boot is not a pass: its exit status, an inconsistent or
    /// empty KTAP report, a failed case, or no end-of-boot line. None for
    /// a pass.
    pub fn problem(&self) -> Option<String> {
        let ktap = self.ktap();
        if self.status != 0 {
            Some(format!("exit status {}", self.status))
        } else if let Err(e) = ktap.check_consistent() {
            Some(format!("KTAP: {e}"))
        } else if ktap.cases.is_empty() {
            Some("no self-test ran".into())
        } else if !ktap.failed_cases().is_empty() {
            Some(format!("failed: {:?}", ktap.failed_cases()))
        } else if !self
            .console
            .contains("boot: entry to end of self-tests took")
        {
            Some("no boot-time line".into())
        } else {
            None
        }
    }

    /// Fails the test with the whole output, for a readable failure.
    pub fn dump(&self) -> String {
        format!(
            "--- {} (status {}, {:?})\n--- console:\n{}\n--- stderr:\n{}",
            self.description, self.status, self.wall, self.console, self.stderr
        )
    }
}

/// Boots with `args` passed to run-qemu.sh (after --no-build --kernel).
pub fn boot(args: &[&str]) -> Boot {
    let kernel = kernel_path();
    assert!(
        kernel.exists(),
        "no kernel at {}: build it first with ./run-tests.sh or `cargo build --release -p kernel`",
        kernel.display()
    );
    let start = Instant::now();
    let out = Command::new(repo_root().join("run-qemu.sh"))
        .arg("--no-build")
        .arg("--kernel")
        .arg(&kernel)
        .args(args)
        .output()
        .expect("run-qemu.sh runs");
    let wall = start.elapsed();
    Boot {
        status: out.status.code().unwrap_or(-1),
        console: String::from_utf8_lossy(&out.stdout).replace('\r', ""),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        wall,
        description: format!("run-qemu.sh {}", args.join(" ")),
    }
}
