//! Every CPU online: the local APICs, each CPU's per-CPU area and stacks on
//! its node, the secondary CPUs started, and a table of where each lives.

use crate::arch::x86_64::{apic, interrupts, percpu, smp};
use crate::numa::topology;
use core::sync::atomic::{AtomicU32, Ordering};

mod selftests;

/// How many CPUs should be online: the MADT's, less `maxcpus=` and a CPU
/// `smp.fail=` keeps from starting.
static EXPECTED_ONLINE: AtomicU32 = AtomicU32::new(1);

pub fn expected_online() -> u32 {
    EXPECTED_ONLINE.load(Ordering::Relaxed)
}

/// Each CPU's area and stacks come from its node's memory (the page
/// allocator), and its area gets the CPU's page lists.
struct NodeMemory;

impl smp::CpuMemory for NodeMemory {
    fn alloc(&self, home: i32, order: u32) -> Option<u64> {
        crate::mm::alloc_pages_node(home, crate::mm::Gfp::KERNEL | crate::mm::Gfp::ZERO, order)
            .map(|p| p.phys())
    }

    fn fill_area(&self, area: &'static percpu::PerCpu, home: i32) {
        match crate::mm::page_alloc::alloc_pcp_lists(area.cpu as usize, home as usize) {
            Some(lists) => {
                area.pcp.call_once(|| lists);
            }
            None => log::warn!(
                "SMP: CPU {}: no memory for per-CPU page lists; it uses the zones directly",
                area.cpu
            ),
        }
    }

    fn node_of(&self, phys: u64) -> Option<numa::NodeId> {
        topology().node_of_addr(phys)
    }
}

pub fn init(settings: &cmdline::Settings) {
    interrupts::mask_legacy_pics();
    let mode = match apic::init_boot_cpu() {
        Ok(m) => m,
        Err(e) => {
            log::error!("SMP: no usable local APIC ({e:?}); only the boot CPU runs");
            crate::preempt::set_scheduling();
            return;
        }
    };
    let cpus: alloc::vec::Vec<smp::CpuDesc> = topology()
        .cpus()
        .iter()
        .map(|c| smp::CpuDesc {
            apic_id: c.apic_id,
            node: c.node,
            home: topology().mem_node(c.node) as i32,
        })
        .collect();
    smp::init_boot_cpu(&cpus[0], &NodeMemory);
    crate::time::calibrate_apic_timer();
    let wanted = topology().cpus().len();
    let limit = settings
        .maxcpus
        .map_or(wanted, |m| (m as usize).min(wanted));
    let fail = settings.smp_fail.filter(|&f| (f as usize) < limit);
    EXPECTED_ONLINE.store(limit as u32 - fail.is_some() as u32, Ordering::Relaxed);
    let started =
        smp::boot_secondary_cpus(&cpus, limit, fail, crate::sched::idle_loop, &NodeMemory);
    log::info!(
        "SMP: {} of {wanted} CPUs online ({})",
        started + 1,
        match mode {
            apic::Mode::X2Apic => "x2APIC",
            apic::Mode::XApic => "xAPIC",
        }
    );
    print_cpu_table();
    // From here on the boot CPU takes interrupts too, and allocations that
    // may sleep are checked for the context they run in.
    x86_64::instructions::interrupts::enable();
    crate::preempt::set_scheduling();
}

/// One line per CPU: its node and where its per-CPU area lies.
pub fn print_cpu_table() {
    let t = topology();
    for c in percpu::online() {
        let phys = c.phys().unwrap_or(0);
        crate::kprintln!(
            "cpu {:>3}: apic {:>3} node {} per-cpu area phys {:#011x} (node {}) kernel stack [{:#x}-{:#x})",
            c.cpu,
            c.apic_id,
            c.node,
            phys,
            t.node_of_addr(phys).map_or(-1, |n| n as i64),
            c.stacks.kernel.0,
            c.stacks.kernel.1
        );
    }
}
