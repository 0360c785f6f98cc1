//! Time from the TSC: a monotonic nanosecond clock since the boot stub's
//! first instruction.
//!
//! The rate is measured twice. First against the PIT (channel 2 counts at a
//! fixed 1.193182 MHz), before anything else, so the first log lines have
//! times. Then, once the FADT is read, against the ACPI PM timer (3.579545
//! MHz), over a longer window; the clock switches to that rate without
//! stepping back (the new rate applies from the switch on).

use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::instructions::port::Port;

const PIT_HZ: u64 = 1_193_182;
const CALIBRATION_MS: u64 = 10;

/// TSC value at the first instruction of the boot stub (written there).
#[no_mangle]
pub static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);
/// The clock reads BASE_NS + (tsc - BASE_TSC) at TSC_KHZ; BASE_TSC 0 means
/// BOOT_TSC.
static BASE_TSC: AtomicU64 = AtomicU64::new(0);
static BASE_NS: AtomicU64 = AtomicU64::new(0);
/// Which clock the rate came from, for reports and BENCH_META.
static SOURCE: AtomicU64 = AtomicU64::new(0);

/// The reference the TSC rate was measured against.
pub fn clock_source() -> &'static str {
    match SOURCE.load(Ordering::Relaxed) {
        1 => "tsc (calibrated against the ACPI PM timer)",
        _ => "tsc (calibrated against the PIT)",
    }
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear in ring 0 anyway.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Measures the TSC rate. Call once, early, with interrupts off.
pub fn calibrate() -> u64 {
    let ticks = PIT_HZ * CALIBRATION_MS / 1000;
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x42/0x43/0x61 are the PIT channel 2 and its gate; the
    // PC speaker output is kept off (bit 1 of 0x61 cleared).
    let khz = unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write((ticks & 0xff) as u8);
        channel2.write((ticks >> 8) as u8);
        let start = rdtsc();
        // OUT2 (bit 5 of 0x61) rises when the count reaches zero.
        let mut polls = 0u64;
        while gate.read() & 0x20 == 0 {
            polls += 1;
            if polls > 50_000_000 {
                break; // no PIT: fall through to the fallback below
            }
        }
        let elapsed = rdtsc() - start;
        gate.write(g);
        elapsed / CALIBRATION_MS
    };
    // A TSC below 100 MHz means the PIT never counted; assume 1 GHz so
    // times stay monotonic, and say so.
    let khz = if khz < 100_000 {
        log::warn!("tsc: PIT calibration failed ({khz} kHz); assuming 1 GHz");
        1_000_000
    } else {
        khz
    };
    TSC_KHZ.store(khz, Ordering::Relaxed);
    khz
}

pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

/// TSC ticks to nanoseconds at the calibrated rate (0 before calibration).
pub fn ticks_to_ns(ticks: u64) -> u64 {
    let khz = tsc_khz();
    if khz == 0 {
        return 0;
    }
    (ticks as u128 * 1_000_000 / khz as u128) as u64
}

/// Nanoseconds since the boot stub's first instruction: monotonic.
pub fn ns_since_boot() -> u64 {
    let base = match BASE_TSC.load(Ordering::Acquire) {
        0 => BOOT_TSC.load(Ordering::Relaxed),
        b => b,
    };
    BASE_NS.load(Ordering::Acquire) + ticks_to_ns(rdtsc().saturating_sub(base))
}

/// Measures the TSC against the ACPI PM timer over `window_ms` and makes
/// that the clock's rate. Returns the new rate in kHz. Call before other
/// CPUs read the clock (the switch is three separate stores).
pub fn calibrate_pm_timer(timer: acpi_tables::fadt::PmTimer, window_ms: u64) -> Option<u64> {
    let mut port = Port::<u32>::new(timer.port);
    let mask: u64 = if timer.bits32 {
        u32::MAX as u64
    } else {
        0xff_ffff
    };
    // SAFETY: the FADT names this port as the PM timer: reading it has no
    // side effect.
    let mut read = || unsafe { port.read() } as u64 & mask;
    let want = acpi_tables::fadt::PM_TIMER_HZ * window_ms / 1000;
    let start_pm = read();
    let start_tsc = rdtsc();
    let mut elapsed = 0;
    let mut polls = 0u64;
    while elapsed < want {
        elapsed = (read().wrapping_sub(start_pm)) & mask;
        polls += 1;
        if polls > 100_000_000 {
            return None; // the counter does not move
        }
    }
    let tsc = rdtsc() - start_tsc;
    let khz =
        (tsc as u128 * acpi_tables::fadt::PM_TIMER_HZ as u128 / elapsed as u128 / 1000) as u64;
    if khz < 100_000 {
        return None;
    }
    let now_tsc = rdtsc();
    let now_ns = ns_since_boot();
    BASE_NS.store(now_ns, Ordering::Release);
    BASE_TSC.store(now_tsc, Ordering::Release);
    TSC_KHZ.store(khz, Ordering::Release);
    SOURCE.store(1, Ordering::Relaxed);
    Some(khz)
}

/// Busy-waits for `ns` nanoseconds of TSC time.
pub fn delay_ns(ns: u64) {
    let start = ns_since_boot();
    while ns_since_boot() - start < ns {
        core::hint::spin_loop();
    }
}

mod selftests {
    use super::*;
    use crate::{kassert, selftest};

    selftest!(
        "time",
        fn tsc_is_calibrated_to_a_plausible_rate() {
            let khz = tsc_khz();
            // 100 MHz .. 10 GHz covers every real and emulated TSC.
            kassert!((100_000..10_000_000).contains(&khz), "tsc {khz} kHz");
            Ok(())
        }
    );

    selftest!(
        "time",
        fn clock_since_boot_is_monotonic() {
            let mut last = ns_since_boot();
            kassert!(last > 0);
            for _ in 0..1000 {
                let now = ns_since_boot();
                kassert!(now >= last, "{now} < {last}");
                last = now;
            }
            Ok(())
        }
    );
}
