//! The local APIC of each CPU: x2APIC through MSRs where the CPU has it,
//! else xAPIC through its MMIO page. End of interrupt, IPIs (fixed vector,
//! INIT, start-up) and the timer.
//!
//! Measured here: under this machine's KVM the CPU offers x2APIC; QEMU's
//! TCG (`-cpu max`, QEMU 7.2) does not, so both paths run in the tests.

use super::paging;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use x86_64::registers::model_specific::Msr;

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const X2APIC_MSR_BASE: u32 = 0x800;

// Register offsets (xAPIC MMIO offset; x2APIC MSR = 0x800 + offset / 16).
const ID: u32 = 0x20;
const TPR: u32 = 0x80;
const EOI: u32 = 0xb0;
const SVR: u32 = 0xf0;
const ESR: u32 = 0x280;
const ICR_LOW: u32 = 0x300;
const ICR_HIGH: u32 = 0x310;
const LVT_TIMER: u32 = 0x320;
const TIMER_INITIAL: u32 = 0x380;
const TIMER_CURRENT: u32 = 0x390;
const TIMER_DIVIDE: u32 = 0x3e0;

const ICR_DELIVERY_INIT: u32 = 0x500;
const ICR_DELIVERY_STARTUP: u32 = 0x600;
const ICR_LEVEL_ASSERT: u32 = 0x4000;
const ICR_PENDING: u32 = 1 << 12;

/// Interrupt vectors the kernel uses.
pub const SPURIOUS_VECTOR: u8 = 0xff;
pub const CALL_FUNCTION_VECTOR: u8 = 0xf0;
pub const TIMER_VECTOR: u8 = 0xef;
/// The ACPI SCI, from the I/O APIC.
pub const SCI_VECTOR: u8 = 0xe0;

/// Which interface every CPU uses (all CPUs use the same one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    X2Apic,
    XApic,
}

const MODE_UNSET: u8 = 0;
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
/// The xAPIC register page's virtual address.
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);

pub fn mode() -> Option<Mode> {
    match MODE.load(Relaxed) {
        1 => Some(Mode::X2Apic),
        2 => Some(Mode::XApic),
        _ => None,
    }
}

fn cpu_has_x2apic() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0
}

fn read(reg: u32) -> u32 {
    match mode() {
        // SAFETY: x2APIC mode is enabled on this CPU; the MSR is an APIC register.
        Some(Mode::X2Apic) => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).read() as u32 },
        Some(Mode::XApic) => {
            let base = XAPIC_BASE.load(Relaxed);
            // SAFETY: the APIC page is mapped uncached at `base`; registers
            // are 32-bit, 16-byte aligned.
            unsafe { core::ptr::read_volatile((base + reg as u64) as *const u32) }
        }
        None => 0,
    }
}

fn write(reg: u32, value: u32) {
    match mode() {
        // SAFETY: as in `read`.
        Some(Mode::X2Apic) => unsafe { Msr::new(X2APIC_MSR_BASE + reg / 16).write(value as u64) },
        Some(Mode::XApic) => {
            let base = XAPIC_BASE.load(Relaxed);
            // SAFETY: as in `read`.
            unsafe { core::ptr::write_volatile((base + reg as u64) as *mut u32, value) }
        }
        None => {}
    }
}

/// Chooses the mode (once, on the boot CPU) and maps the xAPIC page if
/// needed, then enables this CPU's APIC.
pub fn init_boot_cpu() -> Result<Mode, paging::PagingError> {
    let mode = if cpu_has_x2apic() {
        Mode::X2Apic
    } else {
        // SAFETY: reading the APIC base MSR has no side effect.
        let base = unsafe { Msr::new(IA32_APIC_BASE).read() } & 0xf_ffff_f000;
        XAPIC_BASE.store(paging::map_mmio(base, 4096)?, Relaxed);
        Mode::XApic
    };
    MODE.store(if mode == Mode::X2Apic { 1 } else { 2 }, Relaxed);
    enable_this_cpu();
    Ok(mode)
}

/// Enables the running CPU's APIC in the chosen mode, accepting all
/// priorities, with spurious interrupts on their own vector.
pub fn enable_this_cpu() {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: setting the enable bits of the APIC base MSR (x2APIC after
    // xAPIC, as the SDM requires) changes only how this CPU's APIC is reached.
    unsafe {
        let base = msr.read() | APIC_BASE_ENABLE;
        msr.write(base);
        if mode() == Some(Mode::X2Apic) {
            msr.write(base | APIC_BASE_X2APIC);
        }
    }
    write(TPR, 0);
    write(SVR, (1 << 8) | SPURIOUS_VECTOR as u32);
    write(ESR, 0);
}

/// The running CPU's APIC ID.
pub fn id() -> u32 {
    match mode() {
        Some(Mode::X2Apic) => read(ID),
        _ => read(ID) >> 24,
    }
}

pub fn eoi() {
    write(EOI, 0);
}

fn send(apic_id: u32, low: u32) {
    match mode() {
        Some(Mode::X2Apic) => {
            // SAFETY: the ICR is one 64-bit MSR in x2APIC mode.
            unsafe {
                Msr::new(X2APIC_MSR_BASE + ICR_LOW / 16)
                    .write(((apic_id as u64) << 32) | low as u64)
            }
        }
        _ => {
            write(ICR_HIGH, apic_id << 24);
            write(ICR_LOW, low);
            while read(ICR_LOW) & ICR_PENDING != 0 {
                core::hint::spin_loop();
            }
        }
    }
}

/// A fixed-vector interrupt to one CPU.
pub fn send_ipi(apic_id: u32, vector: u8) {
    send(apic_id, vector as u32);
}

pub fn send_init(apic_id: u32) {
    send(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT);
}

/// A start-up IPI: the CPU starts in real mode at `vector` x 4 KiB.
pub fn send_startup(apic_id: u32, vector: u8) {
    send(
        apic_id,
        ICR_DELIVERY_STARTUP | ICR_LEVEL_ASSERT | vector as u32,
    );
}

/// Timer modes of the LVT timer entry.
const TIMER_ONE_SHOT: u32 = 0;
const TIMER_PERIODIC: u32 = 1 << 17;
const LVT_MASKED: u32 = 1 << 16;

/// Starts the timer counting down from `ticks` (bus clock / 16), firing
/// TIMER_VECTOR once or periodically.
pub fn timer_start(ticks: u32, periodic: bool) {
    write(TIMER_DIVIDE, 0b0011); // divide by 16
    let mode = if periodic {
        TIMER_PERIODIC
    } else {
        TIMER_ONE_SHOT
    };
    write(LVT_TIMER, mode | TIMER_VECTOR as u32);
    write(TIMER_INITIAL, ticks);
}

pub fn timer_stop() {
    write(LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(TIMER_INITIAL, 0);
}

/// Counts the timer down, masked, from its maximum for `ns` of TSC time:
/// the timer's ticks per millisecond.
pub fn timer_calibrate(ns: u64) -> u64 {
    write(TIMER_DIVIDE, 0b0011);
    write(LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(TIMER_INITIAL, u32::MAX);
    let start = super::tsc::ns_since_boot();
    while super::tsc::ns_since_boot() - start < ns {
        core::hint::spin_loop();
    }
    let elapsed = (u32::MAX - read(TIMER_CURRENT)) as u64;
    write(TIMER_INITIAL, 0);
    elapsed * 1_000_000 / ns
}
