//! SRAT + SLIT + MADT bytes (each behind a 2-byte length) through the whole
//! topology builder and both reports.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| numa::fuzz_one(data));
