//! A single-address-space x86_64 unikernel with a NUMA-aware memory
//! subsystem. `kernel_entry` is where the PVH boot stub lands; `boot` below
//! is the boot order, one subsystem per line.
//!
//! The modules are five layers (README, "Layers"): L0 the machine (`arch`,
//! `boot`, `console`, `fatal`); L1 firmware tables, time, RCU and atomic
//! context (`acpi` tables, `time`, `rcu`, `preempt`); L2 the memory core
//! and NUMA (`mm`'s memblock, page allocator, slab, vmalloc, pmem; `numa`);
//! L3 services (`sched`, `smp`, `mm`'s reclaim, vmscan, shrinkers, page
//! cache, OOM; AML); L4 this file, `report`, `bench` and the self-tests. A
//! module names only its own layer or below; a lower layer reaches a
//! higher one through a hook the higher one installs at init (the timer's
//! tick handler, the page allocator's `Reclaim`, paging's `TableFrames`,
//! ...). `crates/layer-check` fails the tests on any edge that points up.
#![no_std]
#![no_main]
#![feature(abi_x86_interrupt)]
#![feature(optimize_attribute)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod acpi;
mod arch;
mod bench;
mod boot;
mod console;
mod fatal;
mod mm;
mod numa;
mod preempt;
mod rcu;
mod report;
mod sched;
mod selftest;
mod smp;
mod time;

use arch::x86_64::{
    exceptions, gdt, paging,
    qemu_exit::{exit_qemu, Verdict},
    tsc,
};
use boot::start_info::{self, BootInfo};
use spin::Once;

static BOOT_INFO: Once<BootInfo> = Once::new();

/// The boot information, copied from the loader's start_info.
pub fn boot_info() -> &'static BootInfo {
    BOOT_INFO
        .get()
        .expect("boot info is copied first thing at boot")
}

/// Entered from the boot stub in long mode, on the boot stack, with the
/// first 1 GiB identity-mapped.
#[no_mangle]
extern "C" fn kernel_entry(start_info_phys: u32) -> ! {
    boot(start_info_phys as u64)
}

fn boot(start_info_phys: u64) -> ! {
    arch::x86_64::percpu::init_early(); // GS says "CPU 0" until per-CPU areas exist
    console::init(); // serial console and `log` work
    let tsc_khz = tsc::calibrate(); // log lines carry the time since boot
    let boot = BOOT_INFO.call_once(|| {
        let mut info = BootInfo::empty();
        // SAFETY: the address came from the loader in EBX and the boot
        // stub's identity map covers it; nothing has touched boot memory yet.
        if let Err(e) = unsafe { start_info::copy_from(start_info_phys, &mut info) } {
            panic!("unusable PVH start_info at {start_info_phys:#x}: {e:?}");
        }
        info
    }); // memory map, command line and RSDP are ours
    gdt::init(); // kernel segments, IST stacks
    exceptions::init(); // every CPU exception is reported from here on
    if let Err(e) = paging::init(boot) {
        panic!("building the kernel page tables failed: {e:?}");
    } // W^X image, guard pages, direct map; page 0 unmapped
    let settings = cmdline::parse(boot.cmdline(), |w| log::warn!("cmdline: {w}"));
    console::set_loglevel(settings.loglevel); // loglevel= and quiet apply

    log::info!(
        "booting; TSC {}.{:03} MHz (PIT-calibrated)",
        tsc_khz / 1000,
        tsc_khz % 1000
    );
    log_boot_info(boot);
    let tables = acpi::init(boot); // SRAT, SLIT, MADT, FADT found and validated
    time::init(tables); // the TSC measured against the ACPI PM timer
    mm::memblock::init(boot, tables, settings.mem_limit); // memblock: RAM, reservations, mem=
    if let Err(free) = mm::memblock::enough_to_boot() {
        log::error!(
            "boot: {} KiB of free RAM, below the {} KiB this kernel needs (the smallest VM that boots is -m 7M); stopping",
            free >> 10,
            mm::memblock::MIN_BOOT_FREE >> 10
        );
        exit_qemu(Verdict::Fail);
    }
    mm::early_heap::init(); // Box and Vec work (a memblock heap) until SLUB takes over
    acpi::aml::init(tables); // DSDT/SSDTs in the AML interpreter; \_S5 and memory devices readable
    acpi::aml::add_memory_devices(settings.mem_limit); // pc-dimm memory direct-mapped, into memblock
    mm::pmem::init(tables); // NVDIMM persistent memory from the NFIT, direct-mapped
    numa::init(tables, settings.numa_off); // nodes, CPUs, memory (device memory too), distances
    if settings.bench.is_some() {
        bench::reserve_region(numa::topology().mem_node(numa::cpu_to_node(0))); // the peer allocators' memory
    }
    mm::page_alloc::init(&settings); // zones, buddy allocators, zonelists; memblock retires
    mm::reclaim::init(); // kswapd, direct reclaim and the OOM killer, into the allocator
    smp::init(&settings); // local APICs, per-CPU areas on their nodes, every CPU online
    BOOT_REST.call_once(|| (settings, tables));
    // The boot CPU goes on on its node's memory, as every other CPU runs.
    arch::x86_64::smp::run_on_node_stack(boot_rest)
}

/// What the boot flow takes with it onto the boot CPU's own stack.
static BOOT_REST: spin::Once<(cmdline::Settings<'static>, &'static acpi::Tables)> =
    spin::Once::new();

/// The rest of the boot, on the boot CPU's node-local stack: SLUB and
/// everything above it, the self-tests, the benchmark, the verdict.
fn boot_rest() -> ! {
    let &(settings, tables) = BOOT_REST.get().expect("set before the stack switch");
    mm::slab::init(&settings); // kmalloc caches; Box and Vec work from here
    mm::vmalloc::init(); // the vmalloc region: vmalloc, vmap, vfree
    rcu::init(); // RCU callbacks run on the last CPU's idle loop
    sched::init(); // run queues, idle threads; kernel threads from here on
    mm::vmscan::init(); // one kswapd per node with memory; the shrinkers
    mm::kcompactd::init(settings.compaction_proactiveness); // one kcompactd per node with memory
    mm::mempolicy::init(settings.mpol, settings.mpol_weights); // mpol= default policy, interleave weights
    mm::pagecache::DEMOTION_ENABLED.store(
        settings.numa_demotion,
        core::sync::atomic::Ordering::Relaxed,
    );
    acpi::aml::report_memory_devices(); // PNP0C80 devices: ranges, nodes, status
    mm::memory_hotplug::EXPECTED
        .store(settings.memhp_expect, core::sync::atomic::Ordering::Relaxed);
    mm::memory_hotplug::EXPECTED_REMOVALS
        .store(settings.memhp_unplug, core::sync::atomic::Ordering::Relaxed);
    acpi::memory_hotplug::init(tables); // SCI, GPE 3 and kacpi_hotplug: memory arriving at runtime
                                        // Armed once the kernel's own set-up is done (Linux's early boot takes
                                        // memblock memory, which no fault type touches).
    mm::fault_inject::init(&settings.fault); // fail_page_alloc=, failslab=, fail_vmalloc=
    mm::kfence::init(settings.kfence_sample_interval); // the sampled, guarded object pool
    if mm::kfence::enabled() {
        let node = numa::cpu_to_node(0);
        let sampler = sched::spawn("kfence", sched::Binding::Node(node), None, || {
            mm::kfence::sample(|ms| sched::sleep_ns(ms * 1_000_000))
        });
        if let Err(e) = sampler {
            log::error!("kfence: no sampling thread: {e:?}");
        }
    }
    numa::print_reports();
    if settings.mm_report {
        report::print_all("boot");
    }

    // workload=pressure is the pressure suite: kswapd, direct reclaim and
    // one OOM kill, each checked; the reports below show their counters.
    let also: &[&str] = match settings.workload {
        Some(cmdline::Workload::Pressure) => &["pressure"],
        None => &[],
    };
    // Memory the launcher hot-adds (memhp.expect=) arrives before the
    // self-tests and the benchmark start, so that none of them sees the
    // zones change under its counts.
    acpi::memory_hotplug::wait_for_expected(settings.memhp_expect as u64);
    // Removals the launcher will ask for (memhp.unplug=): the hotplug
    // self-tests give the cue once they have placed pages; without them
    // the kernel gives it now, and waits for the removals before the end.
    let removals = settings.memhp_unplug as u64;
    let cue_here = removals > 0 && !selftest::will_run(settings.selftest, also, "hotplug");
    if cue_here {
        kprintln!("memory hotplug: ready for removal ({removals} expected; no hotplug self-tests place pages first)");
    }
    let totals = selftest::run(settings.selftest, also);
    if let Some(which) = settings.bench {
        bench::run(which, settings.bench_scale);
    }
    if cue_here {
        acpi::memory_hotplug::wait_for_removals(removals);
    }
    report::print_all("end of run");
    let boot_ns = tsc::ns_since_boot();
    log::info!(
        "boot: entry to end of self-tests took {}.{:03} ms (TSC)",
        boot_ns / 1_000_000,
        (boot_ns / 1000) % 1000
    );
    let boot_stack = arch::x86_64::stacks::all()[0];
    log::info!(
        "boot: deepest use of the {} KiB boot stack: {} KiB",
        (boot_stack.top - boot_stack.bottom) >> 10,
        arch::x86_64::stacks::used_bytes(&boot_stack) >> 10
    );
    if let Some((bottom, top)) = arch::x86_64::percpu::this_cpu()
        .map(|c| c.stacks.kernel)
        .filter(|&(_, top)| top != boot_stack.top)
    {
        let own = arch::x86_64::stacks::StackRange {
            name: "boot CPU node-local stack",
            guard: bottom - arch::x86_64::stacks::GUARD_SIZE as u64,
            bottom,
            top,
        };
        log::info!(
            "boot: deepest use of the boot CPU's {} KiB node-local stack: {} KiB",
            (top - bottom) >> 10,
            arch::x86_64::stacks::used_bytes(&own) >> 10
        );
    }
    if totals.failed > 0 {
        exit_qemu(Verdict::Fail);
    }
    // A passing run ends the ACPI way; QEMU's exit device if that fails.
    if let Err(why) = acpi::aml::power_off() {
        log::warn!("ACPI power-off did not happen ({why}); exiting through QEMU's exit device");
    }
    exit_qemu(Verdict::Pass)
}

fn log_boot_info(boot: &BootInfo) {
    log::info!("command line: '{}'", boot.cmdline());
    if boot.cmdline_truncated {
        log::warn!(
            "command line longer than {} bytes; cut there",
            start_info::MAX_CMDLINE
        );
    }
    if boot.cmdline_invalid_utf8 {
        log::warn!("command line is not UTF-8; ignored");
    }
    for e in boot.memory_map() {
        log::info!(
            "BIOS-e820: [mem {:#018x}-{:#018x}] {}",
            e.start,
            e.end - 1,
            e.kind.name()
        );
    }
    if boot.e820_dropped > 0 {
        log::warn!(
            "{} memory-map entries beyond {} ignored",
            boot.e820_dropped,
            start_info::MAX_E820
        );
    }
    log::info!("ACPI RSDP at {:#x} (from start_info)", boot.rsdp);
    let image = paging::image_layout();
    log::info!(
        "kernel image [{:#x}-{:#x}): text {} KiB, rodata {} KiB, data+bss+stacks {} KiB",
        image.start,
        image.end,
        (image.text_end - image.start) / 1024,
        (image.rodata_end - image.text_end) / 1024,
        (image.end - image.rodata_end) / 1024
    );
    if let Some(((start, end), huge)) = paging::summary() {
        log::info!(
            "page tables: {} frames at [{start:#x}-{end:#x}), direct map with {} pages",
            (end - start) / layout::PAGE_SIZE,
            if huge { "1 GiB" } else { "2 MiB" }
        );
    }
    let names = selftest::suite_names();
    for (name, explicit) in names {
        log::debug!(
            "selftest suite {name}{}",
            if explicit { " (explicit only)" } else { "" }
        );
    }
}
