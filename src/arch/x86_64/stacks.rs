//! The kernel's stacks, each with an unmapped guard page below it.
//!
//! A stack grows down; running off its bottom touches the guard page, which
//! the final page tables leave unmapped, so the overflow faults instead of
//! silently overwriting whatever lies below. The resulting #PF cannot push
//! its frame on the overflowed stack, so the CPU raises a double fault, which
//! runs on its own IST stack and reports the overflow.

use core::ptr::addr_of;

pub const GUARD_SIZE: usize = 4096;

/// A stack of `N` bytes preceded by one guard page, page-aligned as a whole.
#[repr(C, align(4096))]
pub struct GuardedStack<const N: usize> {
    guard: [u8; GUARD_SIZE],
    stack: [u8; N],
}

impl<const N: usize> GuardedStack<N> {
    pub const fn new() -> Self {
        GuardedStack {
            guard: [0; GUARD_SIZE],
            stack: [0; N],
        }
    }
}

/// 256 KiB: the bootstrap CPU's kernel stack (set up by the boot stub).
/// Boot peaked at 57 to 65 KiB with 64 nodes and 256 CPUs, inside the AML
/// interpreter's recursion; with room for 128 nodes and 512 CPUs it peaks
/// at 94 KiB (measured, logged as "deepest use" at the end of every boot),
/// in page_alloc::init, whose per-node tables are moved by value, and 192
/// KiB then no longer kept half its room free.
pub const BOOT_STACK_SIZE: usize = 256 << 10;
/// 16 KiB for each exception that needs a known-good stack.
pub const IST_STACK_SIZE: usize = 16 << 10;

// SAFETY (for every `static mut` below): each stack is used by exactly one
// context (the boot CPU, or one IST slot of its TSS) and is only ever
// touched through the stack pointer; Rust code takes only its address.
#[link_section = ".stacks"]
pub static mut BOOT_STACK: GuardedStack<BOOT_STACK_SIZE> = GuardedStack::new();
#[link_section = ".stacks"]
static mut DOUBLE_FAULT_STACK: GuardedStack<IST_STACK_SIZE> = GuardedStack::new();
#[link_section = ".stacks"]
static mut NMI_STACK: GuardedStack<IST_STACK_SIZE> = GuardedStack::new();
#[link_section = ".stacks"]
static mut MACHINE_CHECK_STACK: GuardedStack<IST_STACK_SIZE> = GuardedStack::new();

/// One stack's extent: its guard page is `[guard, bottom)`, the usable
/// stack `[bottom, top)`.
#[derive(Clone, Copy, Debug)]
pub struct StackRange {
    pub name: &'static str,
    pub guard: u64,
    pub bottom: u64,
    pub top: u64,
}

fn range<const N: usize>(name: &'static str, s: *const GuardedStack<N>) -> StackRange {
    let guard = s as u64;
    StackRange {
        name,
        guard,
        bottom: guard + GUARD_SIZE as u64,
        top: guard + (GUARD_SIZE + N) as u64,
    }
}

/// Every stack the kernel has, for the page tables (guard pages) and the
/// fault reports (which stack's guard page was hit).
pub fn all() -> [StackRange; 4] {
    [
        range("boot CPU kernel stack", addr_of!(BOOT_STACK)),
        range("double-fault IST stack", addr_of!(DOUBLE_FAULT_STACK)),
        range("NMI IST stack", addr_of!(NMI_STACK)),
        range("machine-check IST stack", addr_of!(MACHINE_CHECK_STACK)),
    ]
}

pub fn double_fault_top() -> u64 {
    all()[1].top
}
pub fn nmi_top() -> u64 {
    all()[2].top
}
pub fn machine_check_top() -> u64 {
    all()[3].top
}

/// The stack whose guard page holds `addr`, if any.
pub fn guard_page_of(addr: u64) -> Option<StackRange> {
    all()
        .into_iter()
        .find(|s| (s.guard..s.bottom).contains(&addr))
}

/// How many bytes of a stack have ever been used: the stacks start zeroed
/// (bss), so the lowest non-zero word marks the deepest point reached.
pub fn used_bytes(s: &StackRange) -> u64 {
    let mut at = s.bottom;
    while at < s.top {
        // SAFETY: [bottom, top) is this stack's mapped, writable memory; a
        // read of it races with nothing (only the owning context writes it,
        // and for the boot stack that is the caller).
        if unsafe { core::ptr::read_volatile(at as *const u64) } != 0 {
            break;
        }
        at += 8;
    }
    s.top - at
}
