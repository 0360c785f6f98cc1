//! Device interrupts: the legacy PICs masked for good (everything arrives
//! through the local APICs), and the handlers of the kernel's own vectors:
//! IPIs asking this CPU to run a function, the APIC timer, and spurious
//! interrupts. Each handler counts the nesting depth, which the might-sleep
//! check reads.

use super::{apic, ipi, percpu};
use core::sync::atomic::Ordering::Relaxed;
use x86_64::instructions::port::Port;
use x86_64::structures::idt::InterruptStackFrame;

/// Masks both 8259 PICs, so their timer can never reach a CPU vector
/// (with the BIOS mapping it would arrive as #DF).
pub fn mask_legacy_pics() {
    // SAFETY: writing the interrupt mask registers of the PICs only masks.
    unsafe {
        Port::<u8>::new(0xa1).write(0xff);
        Port::<u8>::new(0x21).write(0xff);
    }
}

/// True inside an interrupt handler on this CPU.
pub fn in_interrupt() -> bool {
    percpu::this_cpu().is_some_and(|c| c.irq_depth.load(Relaxed) > 0)
}

fn enter() {
    if let Some(c) = percpu::this_cpu() {
        c.irq_depth.fetch_add(1, Relaxed);
    }
}

fn exit() {
    if let Some(c) = percpu::this_cpu() {
        c.irq_depth.fetch_sub(1, Relaxed);
    }
    apic::eoi();
}

pub extern "x86-interrupt" fn call_function(_frame: InterruptStackFrame) {
    enter();
    ipi::handle_call();
    exit();
}

pub extern "x86-interrupt" fn timer(_frame: InterruptStackFrame) {
    enter();
    if let Some(c) = percpu::this_cpu() {
        c.timer_ticks.fetch_add(1, Relaxed);
    }
    crate::sched::wake_expired();
    exit();
}

/// Spurious interrupts need no EOI.
pub extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}
