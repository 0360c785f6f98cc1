//! Bringing up the other CPUs: for each CPU the MADT enables, its per-CPU
//! area and stacks on its node, then INIT, start-up IPI(s), and a wait for
//! it to say it is online. A CPU that does not answer is reported and left
//! offline; boot goes on.
//!
//! The path of an application processor: real mode at 0x8000 (the
//! start-up vector), a temporary GDT in the kernel image, 32-bit protected
//! mode in the image (identity-mapped, so paging can be switched on there
//! with the kernel's own tables), long mode, then `ap_main` on its own
//! stack, which installs the per-CPU area and idles with interrupts on.

use super::percpu::{self, CpuStacks, PerCpu};
use super::{apic, paging, tsc};
use core::sync::atomic::{AtomicU64, Ordering};
use layout::{phys_to_virt, CPU_STACKS_BASE, CPU_STACKS_SLOT, PAGE_SIZE};
use x86_64::structures::paging::PageTableFlags as F;

/// One CPU to bring up, placed by the layer above: its APIC ID, its node,
/// and the node whose memory holds its area and stacks (its own, or the
/// nearest with memory).
#[derive(Clone, Copy, Debug)]
pub struct CpuDesc {
    pub apic_id: u32,
    pub node: numa::NodeId,
    pub home: i32,
}

/// The memory bring-up takes from the layers above (which arch cannot
/// name): pages for each CPU's area and stacks, and the rest of its area.
pub trait CpuMemory: Sync {
    /// 2^order zeroed pages on node `home`'s memory, by physical address.
    fn alloc(&self, home: i32, order: u32) -> Option<u64>;
    /// Fills in what a new area holds for the layers above (its page lists).
    fn fill_area(&self, area: &'static PerCpu, home: i32);
    /// The node whose memory holds `phys` (for the log).
    fn node_of(&self, phys: u64) -> Option<numa::NodeId>;
}

/// Where the real-mode trampoline is copied: start-up vector 0x08.
const TRAMPOLINE_PHYS: u64 = 0x8000;
const STARTUP_VECTOR: u8 = (TRAMPOLINE_PHYS >> 12) as u8;

pub const KERNEL_STACK_SIZE: u64 = 64 << 10;
pub const IST_STACK_SIZE: u64 = 16 << 10;
/// How long a CPU may take to come up (TSC time; generous for an
/// emulating hypervisor).
const ONLINE_TIMEOUT_NS: u64 = 2_000_000_000;

/// What the next AP reads on its way up (one AP at a time).
#[repr(C)]
struct ApBoot {
    cr3: u64,
    cr4: u64,
    stack_top: u64,
    percpu: u64,
}

#[no_mangle]
static mut AP_BOOT: ApBoot = ApBoot {
    cr3: 0,
    cr4: 0,
    stack_top: 0,
    percpu: 0,
};
/// Set by an AP as soon as it runs Rust code.
static AP_ALIVE: AtomicU64 = AtomicU64::new(0);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
}

core::arch::global_asm!(
    r#"
    .pushsection .rodata.ap_trampoline, "a"
    .code16
    .global ap_trampoline_start
ap_trampoline_start:
    cli
    cld
    movw %cs, %ax
    movw %ax, %ds
    lgdtl (ap_gdt_pointer - ap_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $0x08, $ap_start32
    .balign 8
ap_gdt_pointer:
    .word ap_gdt_end - ap_gdt - 1
    .long ap_gdt
    .global ap_trampoline_end
ap_trampoline_end:
    .popsection

    .pushsection .rodata
    .balign 16
    /* Accessed bits preset: after paging is on this table is read-only. */
ap_gdt:
    .quad 0
    .quad 0x00cf9b000000ffff        /* 0x08: 32-bit code */
    .quad 0x00cf93000000ffff        /* 0x10: data */
    .quad 0x00af9b000000ffff        /* 0x18: 64-bit code */
ap_gdt_end:
    .popsection

    .pushsection .text.ap, "ax"
    .code32
ap_start32:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl ({boot}+8), %eax           /* CR4 as the boot CPU has it (PAE on) */
    movl %eax, %cr4
    movl ({boot}), %eax             /* the kernel's page tables (below 4 GiB) */
    movl %eax, %cr3
    movl $0xc0000080, %ecx          /* EFER: LME, NXE */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax  /* PG, WP, PE */
    movl %eax, %cr0
    ljmp $0x18, $ap_start64

    .code64
ap_start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movq ({boot}+16), %rsp
    xorl %ebp, %ebp
    movq ({boot}+24), %rdi
    call ap_main
3:  hlt
    jmp 3b
    .popsection
    "#,
    boot = sym AP_BOOT,
    options(att_syntax)
);

/// A CPU's stacks in its slot of the CPU stack area, on `node`'s memory,
/// each with an unmapped page below it: a kernel stack of `kernel_size`
/// bytes and the IST stacks.
fn map_stacks(
    cpu: u32,
    node: i32,
    kernel_size: u64,
    mem: &dyn CpuMemory,
) -> Result<CpuStacks, &'static str> {
    let slot = CPU_STACKS_BASE + cpu as u64 * CPU_STACKS_SLOT;
    let mut at = slot + PAGE_SIZE; // the first guard page
    let mut stack = |size: u64| -> Result<(u64, u64), &'static str> {
        let order = (size / PAGE_SIZE).trailing_zeros();
        let page = mem.alloc(node, order).ok_or("no memory for a stack")?;
        let flags = F::PRESENT | F::WRITABLE | F::NO_EXECUTE;
        paging::map_pages(at, page, size, flags, node).map_err(|_| "cannot map a stack")?;
        let range = (at, at + size);
        at += size + PAGE_SIZE; // the next stack's guard page
        Ok(range)
    };
    Ok(CpuStacks {
        kernel: stack(kernel_size)?,
        double_fault: stack(IST_STACK_SIZE)?,
        nmi: stack(IST_STACK_SIZE)?,
        machine_check: stack(IST_STACK_SIZE)?,
    })
}

fn new_area(
    cpu: u32,
    desc: &CpuDesc,
    stacks: CpuStacks,
    mem: &dyn CpuMemory,
) -> Option<&'static PerCpu> {
    let size = core::mem::size_of::<PerCpu>() as u64;
    let order = size
        .div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros();
    let page = mem.alloc(desc.home, order)?;
    // SAFETY: a fresh block of at least `size` bytes, page-aligned, never
    // freed: the area lives as long as the kernel.
    let area = unsafe {
        PerCpu::create(
            phys_to_virt(page) as *mut PerCpu,
            cpu,
            desc.apic_id,
            desc.node,
            stacks,
        )
    };
    mem.fill_area(area, desc.home);
    Some(area)
}

/// Gives the boot CPU (`desc`) its node-local area and, where the image's
/// stacks are on another node, stacks of its own on its node: IST stacks
/// in use from here on, and a kernel stack as large as the image's boot
/// stack, which [`run_on_node_stack`] moves the boot flow onto. The
/// image lies wherever the loader put the kernel, in low memory, which
/// QEMU gives the first -numa node whatever CPUs it has. Without memory
/// for them the image's stacks stay in use.
pub fn init_boot_cpu(desc: &CpuDesc, mem: &dyn CpuMemory) {
    let boot = super::stacks::all();
    let image = CpuStacks {
        kernel: (boot[0].bottom, boot[0].top),
        double_fault: (boot[1].bottom, boot[1].top),
        nmi: (boot[2].bottom, boot[2].top),
        machine_check: (boot[3].bottom, boot[3].top),
    };
    let image_node = match paging::translate(boot[0].bottom) {
        paging::Mapping::Mapped { phys, .. } => mem.node_of(phys),
        paging::Mapping::NotMapped => None,
    };
    // Stacks of its own only where the image's are remote: on a small VM
    // the 304 KiB they take matter, and on most VMs the image is local.
    let stacks = if image_node == Some(desc.home as numa::NodeId) {
        image
    } else {
        let size = super::stacks::BOOT_STACK_SIZE as u64;
        match map_stacks(0, desc.home, size, mem) {
            Ok(own) => {
                log::info!(
                    "SMP: boot CPU: the image's stacks lie on node {image_node:?}, not its node {}: it moves onto stacks of its own there",
                    desc.home
                );
                own
            }
            Err(e) => {
                log::warn!("SMP: boot CPU: {e}; it keeps the image's stacks");
                image
            }
        }
    };
    let area = new_area(0, desc, stacks, mem).expect("memory for the boot CPU's area");
    area.install();
    percpu::mark_online(area);
}

/// Runs `rest` on the boot CPU's node-local kernel stack, leaving the
/// image's boot stack and the frames on it for good (their owners have
/// returned: the caller passes what `rest` needs through statics); on the
/// image's stack itself when the CPU has no stack of its own.
pub fn run_on_node_stack(rest: fn() -> !) -> ! {
    let image_top = super::stacks::all()[0].top;
    let top = percpu::this_cpu().map_or(image_top, |c| c.stacks.kernel.1);
    if top == image_top {
        rest();
    }
    // SAFETY: `top` is the top of CPU 0's mapped, writable, page-aligned
    // kernel stack, used by nothing yet; `rest` never returns, so nothing
    // comes back to the frames left on the old stack. The stack is 16-byte
    // aligned at the call, as the ABI wants.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {rest}",
            "ud2",
            top = in(reg) top,
            rest = in(reg) rest,
            options(noreturn)
        )
    }
}

/// What an application processor runs once it is online (the
/// scheduler's idle loop), given by the caller of `boot_secondary_cpus`.
static AP_ENTRY: spin::Once<fn() -> !> = spin::Once::new();

/// Starts the CPUs of `cpus` (CPU n is `cpus[n]`; the boot CPU, 0, is up)
/// up to `limit` CPUs in all; CPU `fail` (a test hook) gets no start-up
/// IPI. Each runs `entry` once online. Returns how many came up.
pub fn boot_secondary_cpus(
    cpus: &[CpuDesc],
    limit: usize,
    fail: Option<u32>,
    entry: fn() -> !,
    mem: &dyn CpuMemory,
) -> u32 {
    AP_ENTRY.call_once(|| entry);
    // SAFETY: reading CR3/CR4 has no side effect.
    let (cr3, cr4) = unsafe {
        let cr3: u64;
        let cr4: u64;
        core::arch::asm!("mov {}, cr3", out(reg) cr3);
        core::arch::asm!("mov {}, cr4", out(reg) cr4);
        (cr3, cr4)
    };
    if cr3 >= 1 << 32 {
        log::error!("SMP: page tables above 4 GiB ({cr3:#x}); secondary CPUs stay offline");
        return 0;
    }
    // SAFETY: the first MiB is reserved RAM, direct-mapped and unused by
    // anything else at this address; the trampoline is position-independent
    // within its page (it addresses itself through CS).
    unsafe {
        let start = &ap_trampoline_start as *const u8;
        let len = &ap_trampoline_end as *const u8 as usize - start as usize;
        core::ptr::copy_nonoverlapping(start, phys_to_virt(TRAMPOLINE_PHYS) as *mut u8, len);
    }
    let mut started = 0;
    for (cpu, c) in cpus.iter().enumerate().skip(1) {
        let cpu = cpu as u32;
        if cpu as usize >= limit {
            log::info!(
                "SMP: CPU {cpu} (APIC {}) left offline (maxcpus={limit})",
                c.apic_id
            );
            continue;
        }
        let stacks = match map_stacks(cpu, c.home, KERNEL_STACK_SIZE, mem) {
            Ok(s) => s,
            Err(e) => {
                log::error!("SMP: CPU {cpu}: {e}; left offline");
                continue;
            }
        };
        let Some(area) = new_area(cpu, c, stacks, mem) else {
            log::error!("SMP: CPU {cpu}: no memory for its per-CPU area; left offline");
            continue;
        };
        // SAFETY: no AP is between start-up and AP_ALIVE now, so nothing
        // else reads this while it is written.
        unsafe {
            let boot = &mut *core::ptr::addr_of_mut!(AP_BOOT);
            *boot = ApBoot {
                cr3,
                cr4,
                stack_top: stacks.kernel.1,
                percpu: area as *const PerCpu as u64,
            };
        }
        let before = AP_ALIVE.load(Ordering::Acquire);
        let start = tsc::ns_since_boot();
        let skip = fail == Some(cpu);
        if skip {
            log::warn!("SMP: CPU {cpu}: no start-up IPI (smp.fail={cpu}), as if it never answered");
        } else {
            apic::send_init(c.apic_id);
            tsc::delay_ns(100_000);
            apic::send_startup(c.apic_id, STARTUP_VECTOR);
        }
        let mut second_sent = skip;
        while !area.online.load(Ordering::Acquire) {
            let waited = tsc::ns_since_boot() - start;
            if !second_sent && waited > 1_000_000 && AP_ALIVE.load(Ordering::Acquire) == before {
                apic::send_startup(c.apic_id, STARTUP_VECTOR);
                second_sent = true;
            }
            if waited > ONLINE_TIMEOUT_NS {
                break;
            }
            core::hint::spin_loop();
        }
        if area.online.load(Ordering::Acquire) {
            started += 1;
            log::info!(
                "SMP: CPU {cpu} (APIC {}) online on node {}: per-CPU area at phys {:#x} (node {}), stacks at {:#x}, in {} us",
                c.apic_id,
                c.node,
                area.phys().unwrap_or(0),
                area.phys().and_then(|p| mem.node_of(p)).map_or(-1, |n| n as i64),
                stacks.kernel.0,
                (tsc::ns_since_boot() - start) / 1000
            );
        } else {
            log::error!(
                "SMP: CPU {cpu} (APIC {}) did not come online in time; left offline",
                c.apic_id
            );
        }
    }
    started
}

/// The first Rust code of an application processor.
#[no_mangle]
extern "C" fn ap_main(area: u64) -> ! {
    AP_ALIVE.fetch_add(1, Ordering::AcqRel);
    // SAFETY: the boot CPU published this area for us before start-up.
    let area: &'static PerCpu = unsafe { &*(area as *const PerCpu) };
    area.install();
    super::exceptions::load_idt();
    apic::enable_this_cpu();
    percpu::mark_online(area);
    match AP_ENTRY.get() {
        Some(entry) => entry(),
        // Unreachable: the entry is stored before any start-up IPI.
        None => loop {
            x86_64::instructions::hlt();
        },
    }
}
