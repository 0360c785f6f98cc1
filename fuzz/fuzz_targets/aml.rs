//! Arbitrary bytes as the AML of a table, after QEMU's DSDT, through the
//! acpi crate's interpreter (the kernel's patched copy): it must return,
//! without a panic. Seed the corpus with fixtures/qemu-acpi/*/DSDT.bin and
//! fixtures/ssdt/*.aml. The test suite runs a bounded, deterministic
//! version: crates/aml-check's mutated_aml_never_panics_or_hangs.
#![no_main]

use libfuzzer_sys::fuzz_target;

const FADT: &[u8] = include_bytes!("../../fixtures/qemu-acpi/two-node/FACP.bin");

fuzz_target!(|data: &[u8]| {
    let mut table = vec![0u8; aml_check::HEADER_LEN];
    table[..4].copy_from_slice(b"SSDT");
    table.extend_from_slice(data);
    let _ = aml_check::run(FADT, &[&table]);
});
