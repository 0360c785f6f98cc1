//! memblock: the early allocator built from the firmware's memory map with
//! everything the kernel already uses reserved. It places the page
//! allocator's own data, then hands every free page to it and retires.

use crate::acpi::Tables;
use crate::arch::x86_64::paging;
use crate::boot::start_info::{BootInfo, E820Kind};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};
use layout::{LOW_MEMORY_END, PAGE_SIZE};
use mm::memblock::Memblock;
use mm::memblock::MemblockError;
use numa::NodeId;
use spin::Mutex;

pub static MEMBLOCK: Mutex<Memblock> = Mutex::new(Memblock {
    memory: mm::memblock::RangeList::EMPTY,
    reserved: mm::memblock::RangeList::EMPTY,
});

/// Free memory memblock must have after its reservations for the kernel
/// to boot: the early heap (1 MiB at least), the page descriptors and
/// per-CPU areas, the kmalloc caches and the self-tests' working set.
/// Measured: `-m 7M` (4092 KiB free at bca665f, its image 2 MiB) boots
/// and passes; `-m 6M` (3068 KiB) does not. 4 MiB until the image grew
/// past the point where 7M left that much.
pub const MIN_BOOT_FREE: u64 = 3840 << 10;

/// Whether memblock has enough free memory to boot ([`MIN_BOOT_FREE`]).
pub fn enough_to_boot() -> Result<(), u64> {
    let free = MEMBLOCK.lock().free_bytes(0, u64::MAX);
    if free >= MIN_BOOT_FREE {
        Ok(())
    } else {
        Err(free)
    }
}

/// Page-table pages before the page allocator: memblock's, zeroed.
struct MemblockTables;

impl paging::TableFrames for MemblockTables {
    fn alloc_table(&self, _node: i32) -> Option<u64> {
        // Below 4 GiB: boot RAM, never the device memory being mapped.
        let phys = MEMBLOCK
            .lock()
            .alloc_range(PAGE_SIZE, PAGE_SIZE, 0, 1 << 32)
            .ok()?;
        // SAFETY: just reserved for good; RAM memblock knows is direct-mapped.
        unsafe {
            core::ptr::write_bytes(layout::phys_to_virt(phys) as *mut u8, 0, PAGE_SIZE as usize)
        };
        Some(phys)
    }

    /// Boot page tables map memory for good: never given back (the
    /// vmalloc region, which frees its tables, starts after memblock).
    fn free_table(&self, phys: u64) {
        log::warn!("memblock: page-table page {phys:#x} given back; kept");
    }

    fn is_page_allocator(&self) -> bool {
        false
    }
}

/// Builds memblock: E820 RAM, capped by `mem=`, with the first MiB, the
/// kernel image, the boot page tables and the ACPI tables reserved.
pub fn init(boot: &BootInfo, tables: &Tables, mem_limit: Option<u64>) {
    // Page-table frames come from memblock from here on.
    let boot_page_tables = paging::close_early_frames();
    paging::set_table_frames(&MemblockTables);
    let mut mb = MEMBLOCK.lock();
    let report = |what: &str, r: Result<(), mm::memblock::MemblockError>| {
        if let Err(e) = r {
            log::error!("memblock: {what}: {e:?}");
        }
    };
    for e in boot.memory_map().iter().filter(|e| e.kind == E820Kind::Ram) {
        // The first page belongs to the BIOS whatever the map says (Linux's
        // trim_bios_range): not RAM, so zones start at frame 1 as Linux's.
        let start = e.start.max(PAGE_SIZE);
        if start < e.end {
            report("adding RAM", mb.add_memory(start, e.end));
        }
    }
    report("first MiB", mb.reserve(0, LOW_MEMORY_END));
    let image = paging::image_layout();
    report("kernel image", mb.reserve(image.start, image.end));
    if let Some((start, end)) = boot_page_tables {
        report("boot page tables", mb.reserve(start, end));
    }
    for &(start, end) in &tables.extents[..tables.extent_count] {
        report("ACPI table", mb.reserve(start, end));
    }
    if let Some(limit) = mem_limit {
        // Tried on a copy: a limit that leaves too little to boot is a
        // typing slip to report, not a reason to stop.
        let before = mb.memory.total();
        let mut capped = mb.clone();
        report("mem= limit", capped.cap_memory(limit));
        let left = capped.free_bytes(0, u64::MAX);
        if left < MIN_BOOT_FREE {
            log::warn!(
                "memblock: mem={limit:#x} would leave {} KiB free, below the {} KiB the kernel needs to boot; mem= ignored",
                left >> 10,
                MIN_BOOT_FREE >> 10
            );
        } else {
            *mb = capped;
            log::info!(
                "memblock: mem={limit:#x} leaves {} of {} MiB",
                mb.memory.total() >> 20,
                before >> 20
            );
        }
    }
    log::info!(
        "memblock: {} MiB of RAM in {} ranges, {} KiB reserved, {} MiB free",
        mb.memory.total() >> 20,
        mb.memory.iter().count(),
        mb.reserved.total() >> 10,
        mb.free_bytes(0, u64::MAX) >> 20
    );
}

/// Memory of coldplugged memory devices (pc-dimm), which the firmware
/// describes through AML and not in E820: added before the zones are
/// built, it becomes ZONE_MOVABLE on its node, as Linux onlines
/// hot-pluggable memory. (The early heap exists by then.)
static DEVICE_MEMORY: Mutex<Vec<DeviceMemory>> = Mutex::new(Vec::new());
const MAX_DEVICE_RANGES: usize = 16;

/// One memory device's range and the proximity domain its `_PXM` gives.
#[derive(Clone, Copy, Debug)]
pub struct DeviceMemory {
    pub start: u64,
    pub end: u64,
    pub pxm: Option<u32>,
}

/// Adds a memory device's range: direct-mapped, then memory in memblock
/// (cut at `mem=`). Before `numa::init`, which puts it on the node its
/// `_PXM` names.
pub fn add_device_memory(start: u64, end: u64, pxm: Option<u32>, mem_limit: Option<u64>) {
    let start = layout::align_up(start, layout::PAGE_SIZE);
    let end = layout::align_down(end.min(mem_limit.unwrap_or(u64::MAX)), layout::PAGE_SIZE);
    if start >= end {
        log::info!("memblock: device memory at {start:#x} lies above mem=; not used");
        return;
    }
    let mut list = DEVICE_MEMORY.lock();
    if list.len() == MAX_DEVICE_RANGES {
        log::warn!("memblock: more than {MAX_DEVICE_RANGES} device memory ranges; [{start:#x}-{end:#x}) not used");
        return;
    }
    if MEMBLOCK.lock().memory.overlaps(start, end) {
        log::warn!("memblock: device memory [{start:#x}-{end:#x}) overlaps RAM already known; not added twice");
        return;
    }
    if let Err(e) = paging::extend_direct_map_early(start, end) {
        log::error!(
            "memblock: device memory [{start:#x}-{end:#x}) could not be mapped ({e:?}); not used"
        );
        return;
    }
    if let Err(e) = MEMBLOCK.lock().add_memory(start, end) {
        log::error!("memblock: device memory [{start:#x}-{end:#x}): {e:?}; not used");
        return;
    }
    list.push(DeviceMemory { start, end, pxm });
    log::info!(
        "memblock: device memory [mem {start:#018x}-{:#018x}] added ({} MiB)",
        end - 1,
        (end - start) >> 20
    );
}

/// The device memory ranges added so far.
pub fn device_memory() -> Vec<DeviceMemory> {
    DEVICE_MEMORY.lock().clone()
}

/// Set once the free memory went to the page allocator.
static RETIRED: AtomicBool = AtomicBool::new(false);

/// Allocates `size` bytes on `node`'s own memory, top-down; a node that has
/// no room gets memory from anywhere, with a warning (as Linux's
/// memblock_alloc_try_nid). Reserved for good: this is for boot data that
/// lives as long as the kernel.
pub fn alloc_on_node(node: NodeId, size: u64, align: u64) -> Result<u64, MemblockError> {
    assert!(
        !RETIRED.load(Ordering::Relaxed),
        "memblock allocation after the page allocator took over"
    );
    let topology = crate::numa::topology();
    // Taken before memblock's lock: add_device_memory takes them the
    // other way round.
    let devices = device_memory();
    let is_device_memory = |s: u64, e: u64| devices.iter().any(|d| s < d.end && d.start < e);
    let mut mb = MEMBLOCK.lock();
    // The node's highest range first; device memory (ZONE_MOVABLE to be)
    // only when the node has no room elsewhere.
    let ranges = topology.memory();
    for device_too in [false, true] {
        for r in ranges.iter().rev().filter(|r| r.node == node) {
            if !device_too && is_device_memory(r.start, r.end) {
                continue;
            }
            if let Ok(addr) = mb.alloc_range(size, align, r.start, r.end) {
                return Ok(addr);
            }
        }
    }
    let addr = mb.alloc_range(size, align, 0, u64::MAX)?;
    log::warn!("memblock: no room for {size} bytes on node {node}; placed at {addr:#x}");
    Ok(addr)
}

/// Hands every free range to `give` and retires memblock.
pub fn retire(give: &mut dyn FnMut(u64, u64)) {
    let mb = MEMBLOCK.lock();
    RETIRED.store(true, Ordering::Relaxed);
    for r in mb.free_ranges(0, u64::MAX) {
        give(r.start, r.end);
    }
}

/// Free bytes in `[start, end)` as memblock sees them.
pub fn free_bytes(start: u64, end: u64) -> u64 {
    MEMBLOCK.lock().free_bytes(start, end)
}

mod selftests {
    use super::*;
    use crate::{kassert, selftest};

    selftest!(
        "memblock",
        fn kernel_image_page_tables_and_low_memory_are_reserved() {
            let mb = MEMBLOCK.lock();
            let image = paging::image_layout();
            kassert!(mb.free_ranges(image.start, image.end).next().is_none());
            kassert!(mb.free_ranges(0, LOW_MEMORY_END).next().is_none());
            if let Some(((s, e), _)) = paging::summary() {
                kassert!(mb.free_ranges(s, e).next().is_none());
            }
            Ok(())
        }
    );

    selftest!(
        "memblock",
        fn free_memory_is_firmware_ram_or_device_memory_only() {
            let devices = device_memory();
            let mb = MEMBLOCK.lock();
            let boot = crate::boot_info();
            for r in mb.free_ranges(0, u64::MAX) {
                let ram = boot
                    .memory_map()
                    .iter()
                    .any(|e| e.kind == E820Kind::Ram && e.start <= r.start && r.end <= e.end);
                let device = devices.iter().any(|d| d.start <= r.start && r.end <= d.end);
                kassert!(
                    ram || device,
                    "free range {:#x}-{:#x} is neither RAM nor a memory device's",
                    r.start,
                    r.end
                );
            }
            kassert!(mb.free_bytes(0, u64::MAX) > 0);
            Ok(())
        }
    );
}
