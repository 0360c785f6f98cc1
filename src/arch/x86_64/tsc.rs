//! Time from the TSC: a monotonic nanosecond clock since the boot stub's
//! first instruction.
//!
//! The rate is measured twice. First against the PIT (1.193182 MHz),
//! before anything else, so the first log lines have times. Then, once the
//! ACPI tables are read, against the best fixed-rate timer the machine
//! has, over a longer window: the ACPI PM timer (3.579545 MHz), else the
//! HPET, else the PIT again. The clock switches to that rate without
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

/// What the TSC rate was measured against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Reference {
    /// The early 10 ms PIT measurement (channel 2, or channel 0 where the
    /// machine has no port 0x61), nothing better yet.
    PitEarly = 0,
    PmTimer = 1,
    Hpet = 2,
    /// The PIT again, over a longer window: no PM timer and no HPET.
    PitLong = 3,
    /// No timer counted at all; 1 GHz assumed.
    Assumed = 4,
}

/// What the TSC rate was measured against.
pub fn reference() -> Reference {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Reference::PmTimer,
        2 => Reference::Hpet,
        3 => Reference::PitLong,
        4 => Reference::Assumed,
        _ => Reference::PitEarly,
    }
}

/// The reference the TSC rate was measured against.
pub fn clock_source() -> &'static str {
    match reference() {
        Reference::PmTimer => "tsc (calibrated against the ACPI PM timer)",
        Reference::Hpet => "tsc (calibrated against the HPET)",
        Reference::PitLong => "tsc (calibrated against the PIT, 50 ms)",
        Reference::PitEarly => "tsc (calibrated against the PIT)",
        Reference::Assumed => "tsc (no timer counted: 1 GHz assumed)",
    }
}

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects; CR4.TSD is clear in ring 0 anyway.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Measures the TSC rate against the PIT. Call once, early, with
/// interrupts off.
pub fn calibrate() -> u64 {
    // The PIT's channel 0 may be reprogrammed below: its IRQ 0 must not
    // reach a CPU vector.
    super::interrupts::mask_legacy_pics();
    let khz = pit_measure(CALIBRATION_MS).filter(|&k| k >= 100_000);
    // No PIT counted: assume 1 GHz so times stay monotonic, and say so.
    let khz = khz.unwrap_or_else(|| {
        log::warn!("tsc: the PIT does not count; assuming 1 GHz until a better timer is found");
        SOURCE.store(Reference::Assumed as u64, Ordering::Relaxed);
        1_000_000
    });
    TSC_KHZ.store(khz, Ordering::Relaxed);
    khz
}

/// TSC kHz over `ms` of PIT time, or None when the PIT does not count.
/// Channel 2 (gated through port 0x61) where the machine has that port,
/// else channel 0 read back (QEMU's microvm has a PIT but no port 0x61).
fn pit_measure(ms: u64) -> Option<u64> {
    let mut gate = Port::<u8>::new(0x61);
    // SAFETY: reading port 0x61 (system control port B) has no side
    // effect; 0xff means nothing answers there.
    let g = unsafe { gate.read() };
    if g != 0xff {
        if let Some(khz) = pit_channel2(ms) {
            return Some(khz);
        }
    }
    pit_channel0(ms)
}

/// One-shot count-down on channel 2 (mode 0): OUT2 rises at zero.
fn pit_channel2(ms: u64) -> Option<u64> {
    let ticks = PIT_HZ * ms / 1000;
    if ticks > 0xffff {
        return None;
    }
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x42/0x43/0x61 are the PIT channel 2 and its gate; the
    // PC speaker output is kept off (bit 1 of 0x61 cleared).
    unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // gate on, speaker off
        command.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        channel2.write((ticks & 0xff) as u8);
        channel2.write((ticks >> 8) as u8);
        let start = rdtsc();
        let mut polls = 0u64;
        let mut counted = true;
        while gate.read() & 0x20 == 0 {
            polls += 1;
            if polls > 50_000_000 {
                counted = false;
                break;
            }
        }
        let elapsed = rdtsc() - start;
        gate.write(g);
        // OUT2 high at once means no channel 2 behind the port.
        (counted && polls > 0).then_some(elapsed / ms)
    }
}

/// Channel 0 as a rate generator (mode 2) counting down from 65536,
/// latched and read back until `ms` of ticks have passed, wraps included.
fn pit_channel0(ms: u64) -> Option<u64> {
    let mut command = Port::<u8>::new(0x43);
    let mut channel0 = Port::<u8>::new(0x40);
    // SAFETY: ports 0x40/0x43 are the PIT's channel 0 and command port;
    // its IRQ 0 is masked at the PIC (mask_legacy_pics) and the kernel's
    // IO APIC routes nothing to it.
    let mut read = || unsafe {
        command.write(0b0000_0000); // latch channel 0
        let lo = channel0.read() as u64;
        let hi = channel0.read() as u64;
        (hi << 8) | lo
    };
    // SAFETY: as above; mode 2, lobyte/hibyte, reload 0 (65536).
    unsafe {
        Port::<u8>::new(0x43).write(0b0011_0100);
        Port::<u8>::new(0x40).write(0);
        Port::<u8>::new(0x40).write(0);
    }
    let want = PIT_HZ * ms / 1000;
    let mut last = read();
    let start = rdtsc();
    let (mut elapsed, mut polls) = (0u64, 0u64);
    while elapsed < want {
        let now = read();
        // Counting down; a rise is a wrap through the 65536 reload.
        elapsed += if now <= last {
            last - now
        } else {
            last + 65536 - now
        };
        last = now;
        polls += 1;
        if polls > 20_000_000 {
            return None;
        }
    }
    let tsc = rdtsc() - start;
    Some((tsc as u128 * PIT_HZ as u128 / elapsed as u128 / 1000) as u64)
}

/// Measures the TSC against the PIT again over 50 ms (where no PM timer
/// and no HPET exist) and makes that the clock's rate.
pub fn calibrate_pit_long() -> Option<u64> {
    let khz = pit_measure(50).filter(|&k| k >= 100_000)?;
    switch_rate(khz, Reference::PitLong);
    Some(khz)
}

/// Measures the TSC against an HPET's main counter, its registers mapped
/// uncached at `regs`, over `window_ms` ([`adopt_rate`] makes it the
/// clock's). Returns the rate in kHz and the counter's period in
/// femtoseconds.
///
/// # Safety
/// `regs` must map the HPET's 1 KiB register block, uncached.
pub unsafe fn measure_hpet(regs: u64, window_ms: u64) -> Option<(u64, u64)> {
    const CAP_ID: u64 = 0x0;
    const CONFIG: u64 = 0x10;
    const COUNTER: u64 = 0xf0;
    // SAFETY: the caller maps the register block; these are its
    // capability, configuration and main-counter registers.
    let reg = |off: u64| unsafe { core::ptr::read_volatile((regs + off) as *const u64) };
    let cap = reg(CAP_ID);
    let period_fs = cap >> 32;
    // The specification bounds the period to (0, 100 ns].
    if period_fs == 0 || period_fs > 100_000_000 {
        return None;
    }
    let config = reg(CONFIG);
    if config & 1 == 0 {
        // SAFETY: setting ENABLE_CNF starts the main counter; no
        // comparator is armed, so no interrupt follows.
        unsafe { core::ptr::write_volatile((regs + CONFIG) as *mut u64, config | 1) };
    }
    let want = window_ms * 1_000_000_000_000 / period_fs;
    let mut counter = || reg(COUNTER);
    let (start_count, start_tsc) = paired(&mut counter);
    let mut elapsed = 0;
    let mut polls = 0u64;
    while elapsed < want {
        elapsed = counter().wrapping_sub(start_count);
        polls += 1;
        if polls > 100_000_000 {
            return None;
        }
    }
    let (end_count, end_tsc) = paired(&mut counter);
    let elapsed = end_count.wrapping_sub(start_count);
    let tsc = end_tsc - start_tsc;
    // kHz = ticks / (elapsed * period_fs / 1e15 s) / 1000
    let khz = (tsc as u128 * 1_000_000_000_000 / (elapsed as u128 * period_fs as u128)) as u64;
    (khz >= 100_000).then_some((khz, period_fs))
}

/// A timer's count and the TSC at that read: the tightest of eight reads
/// bracketed by the TSC. A vCPU descheduled between the two (TCG on a busy
/// host) would otherwise put its pause into the measurement: seen as a
/// 21 % error over a 25 ms window before this.
fn paired(read: &mut impl FnMut() -> u64) -> (u64, u64) {
    let mut best = (0, 0, u64::MAX);
    for _ in 0..8 {
        let before = rdtsc();
        let count = read();
        let after = rdtsc();
        let spread = after.wrapping_sub(before);
        if spread < best.2 {
            best = (count, before + spread / 2, spread);
        }
    }
    (best.0, best.1)
}

/// Makes `khz`, measured against `reference`, the clock's rate from now
/// on, without stepping back. Call before other CPUs read the clock.
pub fn adopt_rate(khz: u64, reference: Reference) {
    switch_rate(khz, reference)
}

fn switch_rate(khz: u64, reference: Reference) {
    let now_tsc = rdtsc();
    let now_ns = ns_since_boot();
    BASE_NS.store(now_ns, Ordering::Release);
    BASE_TSC.store(now_tsc, Ordering::Release);
    TSC_KHZ.store(khz, Ordering::Release);
    SOURCE.store(reference as u64, Ordering::Relaxed);
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
    let (start_pm, start_tsc) = paired(&mut read);
    let mut elapsed = 0;
    let mut polls = 0u64;
    while elapsed < want {
        elapsed = (read().wrapping_sub(start_pm)) & mask;
        polls += 1;
        if polls > 100_000_000 {
            return None; // the counter does not move
        }
    }
    let (end_pm, end_tsc) = paired(&mut read);
    let elapsed = end_pm.wrapping_sub(start_pm) & mask;
    let tsc = end_tsc - start_tsc;
    let khz =
        (tsc as u128 * acpi_tables::fadt::PM_TIMER_HZ as u128 / elapsed as u128 / 1000) as u64;
    if khz < 100_000 {
        return None;
    }
    switch_rate(khz, Reference::PmTimer);
    Some(khz)
}

/// Busy-waits for `ns` nanoseconds of TSC time.
pub fn delay_ns(ns: u64) {
    let start = ns_since_boot();
    while ns_since_boot() - start < ns {
        core::hint::spin_loop();
    }
}
