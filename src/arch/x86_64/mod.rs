//! x86_64: serial console, descriptor tables, exceptions, paging, time, exit.

pub mod apic;
pub mod exceptions;
pub mod fault_probe;
pub mod gdt;
pub mod interrupts;
pub mod ioapic;
pub mod ipi;
pub mod paging;
pub mod percpu;
pub mod qemu_exit;
pub mod serial;
pub mod smp;
pub mod stacks;
pub mod switch;
pub mod tsc;
pub mod vmap_pt;

pub use percpu::cpu_id;

pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
