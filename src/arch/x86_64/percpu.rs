//! Per-CPU areas, found through the GS base: each CPU's number, APIC ID,
//! node, its own GDT and TSS, its stacks, and the state other subsystems
//! keep per CPU (interrupt depth, IPI call slot, page lists).
//!
//! Before the page allocator exists the boot CPU runs on a small static
//! area that only says "CPU 0"; its real area, like every other CPU's, is
//! then allocated on its node.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use layout::{CPU_STACKS_BASE, CPU_STACKS_SLOT, PAGE_SIZE};
use numa::{NodeId, MAX_CPUS};
use x86_64::registers::model_specific::GsBase;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// One CPU's stacks: `[bottom, top)` each, an unmapped guard page below.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuStacks {
    pub kernel: (u64, u64),
    pub double_fault: (u64, u64),
    pub nmi: (u64, u64),
    pub machine_check: (u64, u64),
}

/// A function another CPU runs for us (ipi.rs sends and runs them).
pub type CallFn<'a> = dyn Fn(u32) + Sync + 'a;

/// One CPU's mailbox: a pending function, and how many it has completed
/// (the IPI code in ipi.rs posts, runs and waits on them).
pub struct CallSlot {
    pub(super) pending: spin::Mutex<Option<*const CallFn<'static>>>,
    pub(super) completed: AtomicU64,
}

// SAFETY: the pointer is only dereferenced by the target while the sender
// waits for completion, so the function outlives every use; `CallFn` is Sync.
unsafe impl Send for CallSlot {}
// SAFETY: as above.
unsafe impl Sync for CallSlot {}

impl CallSlot {
    pub const fn new() -> Self {
        CallSlot {
            pending: spin::Mutex::new(None),
            completed: AtomicU64::new(0),
        }
    }
}

/// The fields `cpu_id` reads through GS come first, at fixed offsets.
#[repr(C)]
pub struct PerCpu {
    /// gs:0 — the area's own address.
    self_ptr: *const PerCpu,
    /// gs:8 — the CPU's number (0 is the boot CPU, then MADT order).
    pub cpu: u32,
    pub apic_id: u32,
    pub node: NodeId,
    pub online: AtomicBool,
    /// Interrupt handlers running on this CPU (nesting depth).
    pub irq_depth: AtomicU32,
    pub timer_ticks: AtomicU64,
    /// RCU read-side nesting on this CPU.
    pub rcu_nesting: AtomicU32,
    pub ipis_handled: AtomicU64,
    pub stacks: CpuStacks,
    pub call: CallSlot,
    pub work: CallSlot,
    /// This CPU's page lists, one set per populated zone.
    pub pcp: spin::Once<CpuPageLists>,
    tss: TaskStateSegment,
    gdt: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss_sel: SegmentSelector,
}

/// A CPU's page lists and the allocator whose zones they serve, set
/// together: a fast path finds both with one check.
#[derive(Clone, Copy)]
pub struct CpuPageLists {
    pub lists: &'static [mm::pcp::PerCpuPages],
    pub allocator: &'static mm::page_alloc::PageAllocator<'static>,
}

// SAFETY: the raw self pointer is only an address; everything shared
// between CPUs is atomic or behind a lock.
unsafe impl Sync for PerCpu {}
// SAFETY: as above; an area never moves and lives forever.
unsafe impl Send for PerCpu {}

/// What GS points at until the boot CPU's real area exists.
#[repr(C)]
struct EarlyArea {
    self_ptr: usize,
    cpu: u32,
}

static EARLY_BOOT_AREA: EarlyArea = EarlyArea {
    self_ptr: 0,
    cpu: 0,
};

static CPUS: [AtomicPtr<PerCpu>; MAX_CPUS] =
    [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS];
static NR_ONLINE: AtomicU32 = AtomicU32::new(1);

/// Points GS at the early area: the first thing the boot CPU does, so
/// that `cpu_id` works from the first log line.
pub fn init_early() {
    GsBase::write(VirtAddr::new(&EARLY_BOOT_AREA as *const _ as u64));
}

/// The running CPU's number.
///
/// The reads of GS are `pure`: the compiler may merge two of them with no
/// memory write in between (the self pointer changes only when GS is
/// written, which wrmsr does as an asm block that clobbers memory, and a
/// thread never moves to another CPU), so a fast path that asks for its
/// CPU twice loads it once.
pub fn cpu_id() -> u32 {
    let id: u32;
    // SAFETY: GS always points at an area whose offset 8 is the CPU number
    // (the early area or a PerCpu, both repr(C) with that layout).
    unsafe {
        core::arch::asm!("mov {0:e}, gs:[8]", out(reg) id, options(pure, nostack, readonly, preserves_flags))
    };
    id
}

/// The running CPU's area, once it has one.
pub fn this_cpu() -> Option<&'static PerCpu> {
    let p: *const PerCpu;
    // SAFETY: as in `cpu_id`; offset 0 is null in the early area.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) p, options(pure, nostack, readonly, preserves_flags))
    };
    // SAFETY: a non-null self pointer is a PerCpu that lives forever.
    unsafe { p.as_ref() }
}

/// CPU `cpu`'s area, if it was created.
pub fn cpu(cpu: usize) -> Option<&'static PerCpu> {
    let p = CPUS.get(cpu)?.load(Ordering::Acquire);
    // SAFETY: published areas live forever and are never moved.
    unsafe { p.as_ref() }
}

/// Every CPU that is online.
pub fn online() -> impl Iterator<Item = &'static PerCpu> {
    (0..MAX_CPUS)
        .filter_map(cpu)
        .filter(|c| c.online.load(Ordering::Acquire))
}

pub fn nr_online() -> u32 {
    NR_ONLINE.load(Ordering::Acquire)
}

pub(super) fn mark_online(area: &PerCpu) {
    area.online.store(true, Ordering::Release);
    if area.cpu != 0 {
        NR_ONLINE.fetch_add(1, Ordering::AcqRel);
    }
}

impl PerCpu {
    /// Builds CPU `cpu`'s area at `slot` (node-local memory the caller
    /// owns for good), with a TSS whose IST entries point at `stacks`.
    ///
    /// # Safety
    /// `slot` must be valid, aligned, unaliased memory for one PerCpu that
    /// is never freed.
    pub unsafe fn create(
        slot: *mut PerCpu,
        cpu: u32,
        apic_id: u32,
        node: NodeId,
        stacks: CpuStacks,
    ) -> &'static PerCpu {
        use crate::arch::x86_64::gdt::{DOUBLE_FAULT_IST, MACHINE_CHECK_IST, NMI_IST};
        let mut tss = TaskStateSegment::new();
        tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = VirtAddr::new(stacks.double_fault.1);
        tss.interrupt_stack_table[NMI_IST as usize] = VirtAddr::new(stacks.nmi.1);
        tss.interrupt_stack_table[MACHINE_CHECK_IST as usize] =
            VirtAddr::new(stacks.machine_check.1);
        tss.privilege_stack_table[0] = VirtAddr::new(stacks.kernel.1);
        let placeholder = SegmentSelector(0);
        // SAFETY: the caller gives us the memory; it is initialised here
        // before any reference to it is made.
        unsafe {
            slot.write(PerCpu {
                self_ptr: slot,
                cpu,
                apic_id,
                node,
                online: AtomicBool::new(false),
                irq_depth: AtomicU32::new(0),
                timer_ticks: AtomicU64::new(0),
                rcu_nesting: AtomicU32::new(0),
                ipis_handled: AtomicU64::new(0),
                stacks,
                call: CallSlot::new(),
                work: CallSlot::new(),
                pcp: spin::Once::new(),
                tss,
                gdt: GlobalDescriptorTable::new(),
                code: placeholder,
                data: placeholder,
                tss_sel: placeholder,
            });
            // The TSS descriptor needs the TSS's final, 'static address.
            let tss: &'static TaskStateSegment = &(*slot).tss;
            let gdt = &mut (*slot).gdt;
            (*slot).code = gdt.append(Descriptor::kernel_code_segment());
            (*slot).data = gdt.append(Descriptor::kernel_data_segment());
            (*slot).tss_sel = gdt.append(Descriptor::tss_segment(tss));
            CPUS[cpu as usize].store(slot, Ordering::Release);
            &*slot
        }
    }

    /// Loads this area's GDT, segments and TSS, and points GS at it. Runs
    /// on the CPU the area belongs to.
    pub fn install(&'static self) {
        use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
        self.gdt.load();
        // SAFETY: the selectors index the GDT just loaded, which lives as
        // long as the area (forever); the TSS descriptor is fresh (not busy).
        unsafe {
            CS::set_reg(self.code);
            DS::set_reg(self.data);
            ES::set_reg(self.data);
            SS::set_reg(self.data);
            x86_64::instructions::tables::load_tss(self.tss_sel);
        }
        GsBase::write(VirtAddr::new(self as *const _ as u64));
    }

    /// The area's physical address, to show it is node-local.
    pub fn phys(&self) -> Option<u64> {
        layout::virt_to_phys(self as *const _ as u64)
    }
}

/// The guard page `addr` lies in, if it is one of the CPU stack area's:
/// (cpu, which stack).
pub fn stack_guard_of(addr: u64) -> Option<(u32, &'static str, (u64, u64))> {
    let n = addr.checked_sub(CPU_STACKS_BASE)? / CPU_STACKS_SLOT;
    let area = cpu(n as usize)?;
    let s = area.stacks;
    [
        ("kernel stack", s.kernel),
        ("double-fault IST stack", s.double_fault),
        ("NMI IST stack", s.nmi),
        ("machine-check IST stack", s.machine_check),
    ]
    .into_iter()
    .find(|(_, (bottom, _))| *bottom != 0 && (bottom - PAGE_SIZE..*bottom).contains(&addr))
    .map(|(name, range)| (n as u32, name, range))
}
