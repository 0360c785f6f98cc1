//! Time sources beyond the early PIT calibration: the TSC measured again
//! against the ACPI PM timer (the FADT says where it is), the HPET (the
//! ACPI HPET table) or the PIT, and the local APIC timer, calibrated
//! against the TSC, which every CPU can run.

use crate::acpi::Tables;
use crate::arch::x86_64::{apic, paging, tsc};
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Long enough for a rate within 0.01 %, short enough for boot.
const PM_WINDOW_MS: u64 = 25;

/// APIC timer ticks (bus clock / 16) per millisecond.
static APIC_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

/// Recalibrates the TSC against the best fixed-rate timer there is: the
/// ACPI PM timer if the FADT describes one, else the HPET if the ACPI
/// HPET table names one, else the PIT over a longer window.
pub fn init(tables: &Tables) {
    let pit_khz = tsc::tsc_khz();
    let timer = tables.fadt.and_then(|b| match acpi_tables::fadt::parse(b) {
        Ok(f) => f.pm_timer,
        Err(e) => {
            log::warn!("time: FADT unusable ({e:?}); no ACPI PM timer");
            None
        }
    });
    if let Some(timer) = timer {
        match tsc::calibrate_pm_timer(timer, PM_WINDOW_MS) {
            Some(khz) => {
                log::info!(
                    "time: TSC {}.{:03} MHz against the ACPI PM timer (port {:#x}, {} bits); the PIT said {}.{:03} MHz",
                    khz / 1000,
                    khz % 1000,
                    timer.port,
                    if timer.bits32 { 32 } else { 24 },
                    pit_khz / 1000,
                    pit_khz % 1000
                );
                return;
            }
            None => log::warn!(
                "time: the ACPI PM timer at {:#x} does not count",
                timer.port
            ),
        }
    }
    if let Some((khz, base)) = calibrate_against_hpet(tables) {
        log::info!(
            "time: TSC {}.{:03} MHz against the HPET at {base:#x} (no ACPI PM timer); the PIT said {}.{:03} MHz",
            khz / 1000,
            khz % 1000,
            pit_khz / 1000,
            pit_khz % 1000
        );
        return;
    }
    match tsc::calibrate_pit_long() {
        Some(khz) => log::warn!(
            "time: no ACPI PM timer and no HPET; TSC {}.{:03} MHz against the PIT over 50 ms",
            khz / 1000,
            khz % 1000
        ),
        None => log::warn!(
            "time: no ACPI PM timer, no HPET and no counting PIT; the TSC rate stays {pit_khz} kHz ({})",
            tsc::clock_source()
        ),
    }
}

/// The HPET of the ACPI HPET table, mapped uncached for the measurement
/// and unmapped after it. Returns (TSC kHz, register block address).
fn calibrate_against_hpet(tables: &Tables) -> Option<(u64, u64)> {
    let hpet = match acpi_tables::hpet::parse(tables.hpet?) {
        Ok(h) => h,
        Err(e) => {
            log::warn!("time: HPET table unusable ({e}); not used");
            return None;
        }
    };
    const REGISTERS: u64 = 1024;
    if let Err(e) = paging::map_firmware_registers(hpet.base, REGISTERS) {
        log::warn!(
            "time: HPET registers at {:#x} cannot be mapped ({e:?})",
            hpet.base
        );
        return None;
    }
    // SAFETY: the block at hpet.base is mapped uncached just above, for
    // the length of the register block, until the unmap below.
    let r = unsafe { tsc::measure_hpet(layout::phys_to_virt(hpet.base), PM_WINDOW_MS) };
    paging::unmap_firmware(hpet.base, REGISTERS);
    let Some((khz, _)) = r else {
        log::warn!("time: the HPET at {:#x} does not count", hpet.base);
        return None;
    };
    tsc::adopt_rate(khz, tsc::Reference::Hpet);
    Some((khz, hpet.base))
}

/// Measures the local APIC timer against the TSC (on the boot CPU; every
/// CPU's timer runs from the same bus clock).
pub fn calibrate_apic_timer() {
    let per_ms = apic::timer_calibrate(10_000_000);
    APIC_TICKS_PER_MS.store(per_ms, Relaxed);
    log::info!("time: local APIC timer {per_ms} ticks/ms (bus clock / 16)");
}

/// Per CPU, the periods (us, 0: not wanted) of the three users of its
/// APIC timer, and the period it runs at: the shortest wanted, so that no
/// user stops or slows another's tick (any tick wakes timed sleepers).
struct TickUsers {
    /// Kept for good (RCU's).
    standing: AtomicU32,
    /// While the CPU has timed sleepers (the scheduler's).
    sleep: AtomicU32,
    /// A self-test's or benchmark's, until `stop_tick`.
    temporary: AtomicU32,
    running: AtomicU32,
}

static TICK_USERS: [TickUsers; numa::MAX_CPUS] = [const {
    TickUsers {
        standing: AtomicU32::new(0),
        sleep: AtomicU32::new(0),
        temporary: AtomicU32::new(0),
        running: AtomicU32::new(0),
    }
}; numa::MAX_CPUS];

fn tick_users() -> &'static TickUsers {
    &TICK_USERS[crate::arch::x86_64::percpu::cpu_id() as usize]
}

/// Milliseconds as the microseconds the tick users keep (saturating).
fn us_of(ms: u64) -> u32 {
    ms.saturating_mul(1000).min(u32::MAX as u64) as u32
}

/// APIC timer counts for a period of `us`, None when out of its range.
fn timer_count(us: u32) -> Option<u32> {
    let us = us as u64;
    let ticks = APIC_TICKS_PER_MS.load(Relaxed) * us / 1000;
    (ticks > 0 && ticks <= u32::MAX as u64).then_some(ticks as u32)
}

/// Runs the running CPU's timer at its users' shortest period (restarted
/// only when that changes, so a user's tick keeps its phase).
fn reprogram() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let u = tick_users();
        let want = [&u.standing, &u.sleep, &u.temporary]
            .iter()
            .map(|p| p.load(Relaxed))
            .filter(|&p| p > 0)
            .min()
            .unwrap_or(0);
        if want == u.running.load(Relaxed) {
            return;
        }
        match timer_count(want) {
            Some(count) => apic::timer_start(count, true),
            None => apic::timer_stop(),
        }
        u.running.store(want, Relaxed);
    })
}

/// Makes `ms` the running CPU's standing tick and starts it.
pub fn set_standing_tick(ms: u64) -> bool {
    if timer_count(us_of(ms)).is_none() {
        return false;
    }
    tick_users().standing.store(us_of(ms), Relaxed);
    reprogram();
    true
}

/// The scheduler's tick for timed sleepers on the running CPU, on or off.
pub fn set_sleep_tick(ms: Option<u64>) {
    tick_users().sleep.store(ms.map_or(0, us_of), Relaxed);
    reprogram();
}

/// Starts a temporary tick on the running CPU, every `ms` milliseconds
/// (or faster, if another user of the timer needs it so).
pub fn start_periodic_tick(ms: u64) -> bool {
    start_periodic_tick_us(ms.saturating_mul(1000))
}

/// Starts a temporary tick on the running CPU every `us` microseconds
/// (`stop_tick` ends it).
pub fn start_periodic_tick_us(us: u64) -> bool {
    let us = us.min(u32::MAX as u64) as u32;
    if timer_count(us).is_none() {
        return false;
    }
    tick_users().temporary.store(us, Relaxed);
    reprogram();
    true
}

/// Stops the temporary tick; the other users' ticks go on.
pub fn stop_tick() {
    tick_users().temporary.store(0, Relaxed);
    reprogram();
}

mod selftests {
    use super::*;
    use crate::arch::x86_64::{ipi, percpu};
    use crate::{kassert, kassert_eq, selftest};
    use core::sync::atomic::Ordering;

    selftest!(
        "time",
        fn tsc_is_calibrated_to_a_plausible_rate() {
            let khz = crate::arch::x86_64::tsc::tsc_khz();
            // 100 MHz .. 10 GHz covers every real and emulated TSC.
            kassert!((100_000..10_000_000).contains(&khz), "tsc {khz} kHz");
            Ok(())
        }
    );

    selftest!(
        "time",
        fn clock_since_boot_is_monotonic() {
            let mut last = crate::arch::x86_64::tsc::ns_since_boot();
            kassert!(last > 0);
            for _ in 0..1000 {
                let now = crate::arch::x86_64::tsc::ns_since_boot();
                kassert!(now >= last, "{now} < {last}");
                last = now;
            }
            Ok(())
        }
    );

    selftest!(
        "time",
        fn tsc_rate_comes_from_a_fixed_rate_timer() {
            // The best timer the firmware describes must be the one used.
            let tables = crate::acpi::tables();
            let has_pm_timer = tables
                .fadt
                .and_then(|b| acpi_tables::fadt::parse(b).ok())
                .and_then(|f| f.pm_timer)
                .is_some();
            let has_hpet = tables
                .hpet
                .is_some_and(|b| acpi_tables::hpet::parse(b).is_ok());
            let want = if has_pm_timer {
                tsc::Reference::PmTimer
            } else if has_hpet {
                tsc::Reference::Hpet
            } else {
                tsc::Reference::PitLong
            };
            if tsc::reference() == tsc::Reference::Assumed && !has_pm_timer && !has_hpet {
                return Err(crate::selftest::Failure::Skipped(
                    "no PM timer, no HPET and no PIT on this machine: no fixed-rate timer to measure against",
                ));
            }
            kassert_eq!(tsc::reference(), want, "{}", tsc::clock_source());
            Ok(())
        }
    );

    selftest!(
        "time",
        fn the_hpet_counts_at_the_rate_the_tsc_was_calibrated_to() {
            // The HPET path is the calibration where no PM timer exists;
            // on machines with both, it is measured here and must agree.
            let Some(Ok(hpet)) = crate::acpi::tables().hpet.map(acpi_tables::hpet::parse) else {
                return Err(crate::selftest::Failure::Skipped("no HPET on this machine"));
            };
            kassert_eq!(paging::map_firmware_registers(hpet.base, 1024), Ok(()));
            // SAFETY: mapped uncached just above, unmapped just below.
            let r = unsafe { tsc::measure_hpet(layout::phys_to_virt(hpet.base), 10) };
            paging::unmap_firmware(hpet.base, 1024);
            let Some((khz, period_fs)) = r else {
                kassert!(false, "the HPET at {:#x} does not count", hpet.base);
                return Ok(());
            };
            // QEMU's HPET runs at 100 MHz (10 ns); TCG's clock is coarse
            // and the host noisy, so 5 % is the bound.
            let now = tsc::tsc_khz();
            kassert!(
                period_fs > 0 && period_fs <= 100_000_000,
                "period {period_fs} fs"
            );
            kassert!(
                khz.abs_diff(now) * 20 <= now,
                "HPET says {khz} kHz, the clock runs at {now} kHz"
            );
            Ok(())
        }
    );

    selftest!(
        "time",
        fn every_cpu_takes_its_apic_timer_interrupts() {
            kassert!(
                APIC_TICKS_PER_MS.load(Relaxed) > 0,
                "APIC timer not calibrated"
            );
            static FAILED: AtomicU64 = AtomicU64::new(0);
            static TICKS: [AtomicU64; numa::MAX_CPUS] =
                [const { AtomicU64::new(0) }; numa::MAX_CPUS];
            let r = ipi::schedule_on_each_cpu(&|cpu| {
                let me = percpu::this_cpu().unwrap();
                let before = me.timer_ticks.load(Ordering::Relaxed);
                if !start_periodic_tick(1) {
                    FAILED.fetch_add(1, Relaxed);
                    return;
                }
                // Wait for three ticks with interrupts on. Whether they come
                // at 1 kHz depends on how the host schedules this vCPU (a
                // rate is a benchmark's business), so only delivery is
                // checked, within a generous bound.
                let start = tsc::ns_since_boot();
                while me.timer_ticks.load(Ordering::Relaxed) - before < 3
                    && tsc::ns_since_boot() - start < 5_000_000_000
                {
                    x86_64::instructions::interrupts::enable_and_hlt();
                }
                stop_tick();
                TICKS[cpu as usize].store(me.timer_ticks.load(Ordering::Relaxed) - before, Relaxed);
            });
            kassert_eq!(r, Ok(()));
            kassert_eq!(FAILED.load(Relaxed), 0);
            for c in percpu::online() {
                let t = TICKS[c.cpu as usize].load(Relaxed);
                kassert!(
                    t >= 3,
                    "cpu {}: {t} timer interrupts in 5 s at 1 kHz",
                    c.cpu
                );
            }
            Ok(())
        }
    );
}
