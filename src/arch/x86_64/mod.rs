//! x86_64: serial console, descriptor tables, exceptions, paging, time, exit.

pub mod exceptions;
pub mod gdt;
pub mod paging;
pub mod qemu_exit;
pub mod serial;
pub mod stacks;
pub mod tsc;

/// The logical number of the running CPU. Only the bootstrap CPU runs until
/// SMP bring-up exists, and it is CPU 0.
pub fn cpu_id() -> u32 {
    0
}

pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}
