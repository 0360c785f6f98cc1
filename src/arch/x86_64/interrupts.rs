//! Device interrupts: the legacy PICs masked for good (everything arrives
//! through the local APICs), and the handlers of the kernel's own vectors:
//! IPIs asking this CPU to run a function, the APIC timer, and spurious
//! interrupts. Each handler counts the nesting depth, which the might-sleep
//! check reads.

use super::{apic, ipi, percpu};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering::Acquire, Ordering::Relaxed, Ordering::Release};
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
#[inline]
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

/// A function the APIC timer handler calls on every tick, installed by a
/// higher layer (the self-tests that run allocations in interrupt
/// context); null when none.
static TIMER_HOOK: AtomicPtr<()> = AtomicPtr::new(ptr::null_mut());

/// Installs (Some) or removes (None) the timer tick hook.
pub fn set_timer_hook(hook: Option<fn()>) {
    TIMER_HOOK.store(hook.map_or(ptr::null_mut(), |f| f as *mut ()), Release);
}

/// What every tick does for the layers above (the scheduler's timed
/// wake-ups), installed once by them at init: Linux's clockevent
/// `event_handler`. Ticks before it only count.
static TICK_HANDLER: spin::Once<fn()> = spin::Once::new();

/// Installs the tick handler; a second call keeps the first.
pub fn set_tick_handler(handler: fn()) {
    TICK_HANDLER.call_once(|| handler);
}

pub extern "x86-interrupt" fn timer(_frame: InterruptStackFrame) {
    enter();
    if let Some(c) = percpu::this_cpu() {
        c.timer_ticks.fetch_add(1, Relaxed);
    }
    let hook = TIMER_HOOK.load(Acquire);
    if !hook.is_null() {
        // SAFETY: only set_timer_hook stores here, and only `fn()` pointers.
        let hook: fn() = unsafe { core::mem::transmute::<*mut (), fn()>(hook) };
        hook();
    }
    if let Some(handler) = TICK_HANDLER.get() {
        handler();
    }
    exit();
}

/// What the SCI does, installed by the ACPI layer (which reads and acks
/// the event registers); a level-triggered line, so the handler must
/// clear the event's status before the EOI or it comes straight back.
static SCI_HANDLER: spin::Once<fn()> = spin::Once::new();

/// Installs the SCI handler; a second call keeps the first.
pub fn set_sci_handler(handler: fn()) {
    SCI_HANDLER.call_once(|| handler);
}

pub extern "x86-interrupt" fn sci(_frame: InterruptStackFrame) {
    enter();
    if let Some(handler) = SCI_HANDLER.get() {
        handler();
    }
    exit();
}

/// Spurious interrupts need no EOI.
pub extern "x86-interrupt" fn spurious(_frame: InterruptStackFrame) {}
