//! Raw bytes through each table parser on its own, every entry walked.
#![no_main]
use acpi_tables::{madt, slit, srat};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(t) = srat::parse(data) {
        t.entries().for_each(drop);
    }
    if let Ok(t) = madt::parse(data) {
        t.entries().for_each(drop);
    }
    if let Ok(t) = slit::parse(data) {
        let _ = t.check();
        let n = t.localities().min(64);
        for i in 0..n {
            for j in 0..n {
                let _ = t.distance(i, j);
            }
        }
    }
});
