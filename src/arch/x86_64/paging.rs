//! The kernel's final page tables (layout drawn in the `layout` crate):
//! the image identity-mapped with W^X rights and unmapped stack guard pages,
//! and the direct map of RAM with the largest pages alignment allows.
//!
//! They are built while the boot stub's identity map of the first 1 GiB is
//! live, in frames taken just above the kernel image; those frames are
//! recorded so the memory allocator later keeps them reserved.

use super::stacks;
use crate::boot::start_info::BootInfo;
use layout::{phys_to_virt, DIRECT_MAP_BASE, LOW_MEMORY_END, PAGE_SIZE, SIZE_1G, SIZE_2M};
use mm::memblock::RangeList;
use spin::Mutex;
use x86_64::registers::control::{Cr3, Cr3Flags};
use x86_64::structures::paging::mapper::{MappedFrame, Translate, TranslateResult};
use x86_64::structures::paging::{
    FrameAllocator, Mapper, OffsetPageTable, Page, PageSize, PageTable, PageTableFlags as F,
    PhysFrame, Size1GiB, Size2MiB, Size4KiB,
};
use x86_64::{PhysAddr, VirtAddr};

extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __kernel_end: u8;
}

/// The boot stub identity-maps this much; early frames must lie below it.
const EARLY_IDENTITY_LIMIT: u64 = SIZE_1G;

/// Physical extents of the image's parts, from the linker script.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    pub start: u64,
    pub text_end: u64,
    pub rodata_end: u64,
    pub end: u64,
}

pub fn image_layout() -> ImageLayout {
    // SAFETY: only the addresses of the linker symbols are taken.
    unsafe {
        ImageLayout {
            start: &__kernel_start as *const u8 as u64,
            text_end: &__text_end as *const u8 as u64,
            rodata_end: &__rodata_end as *const u8 as u64,
            end: &__kernel_end as *const u8 as u64,
        }
    }
}

/// Frames handed out one after another from just above the kernel image.
pub struct EarlyFrames {
    start: u64,
    next: u64,
    limit: u64,
    /// Where the frames are reached to zero them: 0 through the boot stub's
    /// identity map, DIRECT_MAP_BASE once the kernel's own tables are live.
    window: u64,
}

impl EarlyFrames {
    /// The frames used so far, `[start, end)`, to be reserved later.
    pub fn used(&self) -> (u64, u64) {
        (self.start, self.next)
    }
}

// SAFETY: every frame handed out lies in RAM the firmware reported usable,
// above the kernel image, is handed out once, and is zeroed first.
unsafe impl FrameAllocator<Size4KiB> for EarlyFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        if self.next + PAGE_SIZE > self.limit {
            return None;
        }
        let frame = self.next;
        self.next += PAGE_SIZE;
        // SAFETY: the frame is free RAM below EARLY_IDENTITY_LIMIT, reached
        // through the boot stub's identity map or (window set) the direct
        // map, which covers that RAM range; no one else uses it.
        unsafe { core::ptr::write_bytes((self.window + frame) as *mut u8, 0, PAGE_SIZE as usize) };
        Some(PhysFrame::containing_address(PhysAddr::new(frame)))
    }
}

/// What the live page tables look like, for reports and self-tests.
pub struct KernelPageTables {
    pml4_phys: u64,
    pub early_frames: (u64, u64),
    pub huge_1g: bool,
    /// The early frame allocator, still open for firmware mappings made
    /// before memblock exists; closed (None) when memblock takes over.
    early: Option<EarlyFrames>,
}

static KERNEL_PAGE_TABLES: Mutex<Option<KernelPageTables>> = Mutex::new(None);

/// Whether the CPU can map 1 GiB pages (CPUID 0x8000_0001 EDX bit 26).
fn cpu_has_1g_pages() -> bool {
    let r = core::arch::x86_64::__cpuid(0x8000_0001);
    r.edx & (1 << 26) != 0
}

#[derive(Debug)]
pub enum PagingError {
    NoEarlyRam,
    OutOfFrames,
    #[expect(
        dead_code,
        reason = "the address, for the `{:?}` of a boot-failure panic"
    )]
    MapFailed(u64),
    /// More separate RAM ranges than a range list holds.
    TooManyRanges,
}

/// Builds the final tables and switches to them. Returns what was built.
pub fn init(boot: &BootInfo) -> Result<(), PagingError> {
    let image = image_layout();
    let (ram_start, ram_end) = boot
        .ram_range_containing(image.end)
        .ok_or(PagingError::NoEarlyRam)?;
    let first = layout::align_up(image.end.max(ram_start), PAGE_SIZE);
    let mut frames = EarlyFrames {
        start: first,
        next: first,
        limit: ram_end.min(EARLY_IDENTITY_LIMIT),
        window: 0,
    };
    let pml4_frame = frames.allocate_frame().ok_or(PagingError::OutOfFrames)?;
    // SAFETY: the frame was just zeroed and is identity-mapped; with offset 0
    // the mapper reaches every table frame through that identity map, since
    // all of them come from `frames`, below the limit.
    let mut mapper = unsafe {
        OffsetPageTable::new(
            &mut *(pml4_frame.start_address().as_u64() as *mut PageTable),
            VirtAddr::new(0),
        )
    };
    let parents = F::PRESENT | F::WRITABLE;

    // The image, 4 KiB at a time, each part with its own rights.
    let guards = stacks::all();
    let mut page = image.start;
    while page < image.end {
        let flags = if page < image.text_end {
            F::PRESENT
        } else if page < image.rodata_end {
            F::PRESENT | F::NO_EXECUTE
        } else {
            F::PRESENT | F::WRITABLE | F::NO_EXECUTE
        };
        let is_guard = guards.iter().any(|s| (s.guard..s.bottom).contains(&page));
        if !is_guard {
            map::<Size4KiB>(&mut mapper, page, page, flags, parents, &mut frames, false)?;
        }
        page += PAGE_SIZE;
    }

    // The direct map: RAM and ACPI ranges, and the whole first MiB (the
    // BIOS area where the RSDP may lie, as Linux maps it), never the MMIO
    // holes.
    let huge_1g = cpu_has_1g_pages();
    // Merged first, so adjacent firmware ranges share large pages.
    let mut ranges = RangeList::EMPTY;
    ranges
        .add(0, LOW_MEMORY_END)
        .map_err(|_| PagingError::TooManyRanges)?;
    for e in boot.memory_map().iter().filter(|e| e.kind.direct_mapped()) {
        ranges
            .add(e.start, e.end)
            .map_err(|_| PagingError::TooManyRanges)?;
    }
    for r in ranges.iter() {
        map_direct(&mut mapper, r.start, r.end, huge_1g, &mut frames, false)?;
    }

    // SAFETY: the new tables map the running code (text), this stack (boot
    // stack, data) and all data the kernel uses, at the same addresses as the
    // boot stub's identity map, so execution continues seamlessly.
    unsafe { Cr3::write(pml4_frame, Cr3Flags::empty()) };
    frames.window = DIRECT_MAP_BASE;
    *KERNEL_PAGE_TABLES.lock() = Some(KernelPageTables {
        pml4_phys: pml4_frame.start_address().as_u64(),
        early_frames: frames.used(),
        huge_1g,
        early: Some(frames),
    });
    Ok(())
}

/// Closes the early frame allocator and returns every frame it handed
/// out, `[start, end)`, for memblock to reserve; later page-table frames
/// come from memblock and then the page allocator.
pub fn close_early_frames() -> Option<(u64, u64)> {
    let mut guard = KERNEL_PAGE_TABLES.lock();
    let kpt = guard.as_mut()?;
    if let Some(early) = kpt.early.take() {
        kpt.early_frames = early.used();
    }
    Some(kpt.early_frames)
}

/// Maps one page of size `S`. `live`: the tables are in use, so the new
/// entry is flushed from this CPU's TLB; otherwise they are not loaded yet.
fn map<S: PageSize>(
    mapper: &mut OffsetPageTable<'_>,
    virt: u64,
    phys: u64,
    flags: F,
    parents: F,
    frames: &mut impl FrameAllocator<Size4KiB>,
    live: bool,
) -> Result<(), PagingError>
where
    for<'a> OffsetPageTable<'a>: Mapper<S>,
{
    let page = Page::<S>::containing_address(VirtAddr::new(virt));
    let frame = PhysFrame::<S>::containing_address(PhysAddr::new(phys));
    // SAFETY: each virtual page is mapped once (the mapper refuses a page
    // already mapped), to memory the firmware describes; in tables not yet
    // loaded, or in the live ones for memory nothing maps yet.
    let flush = unsafe { mapper.map_to_with_table_flags(page, frame, flags, parents, frames) };
    match flush {
        Ok(f) if live => {
            f.flush();
            Ok(())
        }
        Ok(f) => {
            f.ignore();
            Ok(())
        }
        Err(x86_64::structures::paging::mapper::MapToError::FrameAllocationFailed) => {
            Err(PagingError::OutOfFrames)
        }
        Err(_) => Err(PagingError::MapFailed(virt)),
    }
}

/// Direct-maps physical `[start, end)` at DIRECT_MAP_BASE + start, RW and
/// never executable, with the largest pages alignment allows.
fn map_direct(
    mapper: &mut OffsetPageTable<'_>,
    start: u64,
    end: u64,
    huge_1g: bool,
    frames: &mut impl FrameAllocator<Size4KiB>,
    live: bool,
) -> Result<(), PagingError> {
    let data = F::PRESENT | F::WRITABLE | F::NO_EXECUTE;
    let parents = F::PRESENT | F::WRITABLE;
    for c in layout::chunks(start, end, huge_1g) {
        let virt = phys_to_virt(c.start);
        match c.size {
            SIZE_1G => map::<Size1GiB>(mapper, virt, c.start, data, parents, frames, live)?,
            SIZE_2M => map::<Size2MiB>(mapper, virt, c.start, data, parents, frames, live)?,
            _ => map::<Size4KiB>(mapper, virt, c.start, data, parents, frames, live)?,
        }
    }
    Ok(())
}

/// How one virtual address is mapped right now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mapping {
    NotMapped,
    Mapped {
        phys: u64,
        page_size: u64,
        writable: bool,
        executable: bool,
    },
}

/// Walks the live tables (through the direct map) for `virt`.
pub fn translate(virt: u64) -> Mapping {
    let guard = match KERNEL_PAGE_TABLES.try_lock() {
        Some(g) => g,
        None => return Mapping::NotMapped,
    };
    let Some(kpt) = guard.as_ref() else {
        return Mapping::NotMapped;
    };
    if !VirtAddr::try_new(virt).is_ok() {
        return Mapping::NotMapped;
    }
    // SAFETY: the PML4 is live and every table frame is covered by the
    // direct map (they are RAM); we only read through this mapper.
    let mapper = unsafe {
        OffsetPageTable::new(
            &mut *(phys_to_virt(kpt.pml4_phys) as *mut PageTable),
            VirtAddr::new(DIRECT_MAP_BASE),
        )
    };
    match mapper.translate(VirtAddr::new(virt)) {
        TranslateResult::Mapped {
            frame,
            offset,
            flags,
        } => {
            let page_size = match frame {
                MappedFrame::Size4KiB(_) => Size4KiB::SIZE,
                MappedFrame::Size2MiB(_) => Size2MiB::SIZE,
                MappedFrame::Size1GiB(_) => Size1GiB::SIZE,
            };
            Mapping::Mapped {
                phys: frame.start_address().as_u64() + offset,
                page_size,
                writable: flags.contains(F::WRITABLE),
                executable: !flags.contains(F::NO_EXECUTE),
            }
        }
        _ => Mapping::NotMapped,
    }
}

/// "Any node" for a page-table page (the page allocator's NUMA_NO_NODE).
pub const ANY_NODE: i32 = -1;

/// Where page-table pages come from once the boot frames are closed:
/// memblock's, then the page allocator's, each source installed by its
/// owner (memblock at its init, the page allocator at its), which paging
/// cannot name.
pub trait TableFrames: Sync {
    /// A zeroed page for a page table, reachable through the direct map
    /// and used for nothing else, preferably on `node` (ANY_NODE: any);
    /// None when there is no memory.
    fn alloc_table(&self, node: i32) -> Option<u64>;
    /// As `alloc_table`, for the vmalloc region's tables (the page
    /// allocator's source may fail these on purpose: fail_vmalloc).
    fn alloc_vmalloc_table(&self, node: i32) -> Option<u64> {
        self.alloc_table(node)
    }
    /// Gives back a page-table page this source handed out.
    fn free_table(&self, phys: u64);
    /// Whether the pages come from the page allocator (mappings made from
    /// then on may use the MMIO window; before, firmware pages are mapped
    /// where the direct map would put them).
    fn is_page_allocator(&self) -> bool;
}

static TABLE_FRAMES: spin::RwLock<Option<&'static dyn TableFrames>> = spin::RwLock::new(None);

/// Installs the source of page-table pages (replacing the one before).
pub fn set_table_frames(source: &'static dyn TableFrames) {
    *TABLE_FRAMES.write() = Some(source);
}

/// The installed source of page-table pages, if any yet.
pub fn table_frames() -> Option<&'static dyn TableFrames> {
    *TABLE_FRAMES.read()
}

/// Page-table frames after boot: from the installed source, on the node
/// the mapping serves.
struct InstalledFrames {
    node: i32,
}

// SAFETY: `TableFrames::alloc_table` promises fresh, zeroed pages used for
// nothing else and reachable through the direct map.
unsafe impl FrameAllocator<Size4KiB> for InstalledFrames {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        let phys = table_frames()?.alloc_table(self.node)?;
        Some(PhysFrame::containing_address(PhysAddr::new(phys)))
    }
}

/// Maps `[virt, virt + len)` to `[phys, phys + len)` with 4 KiB pages in
/// the live tables, page tables taken from `node`'s memory. For regions
/// outside the direct map (device registers, CPU stacks); each page must
/// not be mapped yet.
pub fn map_pages(virt: u64, phys: u64, len: u64, flags: F, node: i32) -> Result<(), PagingError> {
    with_live_mapper(|mapper, _| {
        let mut frames = InstalledFrames { node };
        let mut off = 0;
        while off < len {
            map::<Size4KiB>(
                mapper,
                virt + off,
                phys + off,
                flags,
                F::PRESENT | F::WRITABLE,
                &mut frames,
                true,
            )?;
            off += PAGE_SIZE;
        }
        Ok(())
    })
}

static MMIO_NEXT: Mutex<u64> = Mutex::new(layout::MMIO_BASE);

/// Maps device registers at `phys` (uncached, no-execute) and returns
/// their virtual address. Mappings are never undone.
pub fn map_mmio(phys: u64, len: u64) -> Result<u64, PagingError> {
    let start = layout::align_down(phys, PAGE_SIZE);
    let len = layout::align_up(phys + len, PAGE_SIZE) - start;
    let virt = {
        let mut next = MMIO_NEXT.lock();
        let v = *next;
        if v + len > layout::MMIO_BASE + layout::MMIO_SIZE {
            return Err(PagingError::OutOfFrames);
        }
        *next += len;
        v
    };
    let flags = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | F::NO_CACHE | F::WRITE_THROUGH;
    map_pages(virt, start, len, flags, ANY_NODE)?;
    Ok(virt + (phys - start))
}

/// Adds `[start, end)` to the direct map with the largest pages alignment
/// allows, page tables from the installed source (memblock's, below 4 GiB):
/// for memory the firmware describes outside the E820 map (coldplugged
/// pc-dimm memory, found through AML), before the page allocator exists.
/// Every page must be unmapped so far.
pub fn extend_direct_map_early(start: u64, end: u64) -> Result<(), PagingError> {
    extend_direct_map(start, end, ANY_NODE)
}

/// As [`extend_direct_map_early`], at runtime (hot-added memory), page
/// tables from `node`'s memory.
pub fn extend_direct_map(start: u64, end: u64, node: i32) -> Result<(), PagingError> {
    with_live_mapper(|mapper, huge_1g| {
        let mut frames = InstalledFrames { node };
        map_direct(mapper, start, end, huge_1g, &mut frames, true)
    })
}

/// Takes the direct map off physical `[start, end)` (memory hot-removed),
/// in the pages [`extend_direct_map`] used for it, and flushes every
/// CPU's TLB. The page-table pages that held the entries stay, empty: a
/// later hot-add of the range fills them again.
pub fn remove_direct_map(start: u64, end: u64) -> Result<(), PagingError> {
    with_live_mapper(|mapper, huge_1g| {
        for c in layout::chunks(start, end, huge_1g) {
            let virt = phys_to_virt(c.start);
            match c.size {
                SIZE_1G => unmap::<Size1GiB>(mapper, virt)?,
                SIZE_2M => unmap::<Size2MiB>(mapper, virt)?,
                _ => unmap::<Size4KiB>(mapper, virt)?,
            }
        }
        Ok(())
    })?;
    let flush = |_cpu: u32| x86_64::instructions::tlb::flush_all();
    if let Err(e) = super::ipi::on_each_cpu(&flush) {
        log::error!("direct map: TLB shootdown after an unmap: {e:?}");
    }
    Ok(())
}

fn unmap<S: PageSize>(mapper: &mut OffsetPageTable<'_>, virt: u64) -> Result<(), PagingError>
where
    for<'a> OffsetPageTable<'a>: Mapper<S>,
{
    let page = Page::<S>::containing_address(VirtAddr::new(virt));
    match mapper.unmap(page) {
        // Flushed on every CPU by the caller.
        Ok((_, flush)) => {
            flush.ignore();
            Ok(())
        }
        Err(_) => Err(PagingError::MapFailed(virt)),
    }
}

/// Runs `f` with a mapper over the live tables (and whether 1 GiB pages
/// are in use), the page-table lock held.
fn with_live_mapper<R>(
    f: impl FnOnce(&mut OffsetPageTable<'_>, bool) -> Result<R, PagingError>,
) -> Result<R, PagingError> {
    let guard = KERNEL_PAGE_TABLES.lock();
    let kpt = guard.as_ref().ok_or(PagingError::NoEarlyRam)?;
    // SAFETY: the PML4 is live; every table frame is RAM in the direct map;
    // the lock keeps other writers out while `f` runs.
    let mut mapper = unsafe {
        OffsetPageTable::new(
            &mut *(phys_to_virt(kpt.pml4_phys) as *mut PageTable),
            VirtAddr::new(DIRECT_MAP_BASE),
        )
    };
    f(&mut mapper, kpt.huge_1g)
}

/// Runs `f` on the live PML4 with the page-table lock held: the vmalloc
/// region's mapper walks and fills the tables itself (one walk per 2 MiB
/// run instead of one per page).
pub fn with_live_pml4<R>(f: impl FnOnce(&mut PageTable) -> R) -> Result<R, PagingError> {
    let guard = KERNEL_PAGE_TABLES.lock();
    let kpt = guard.as_ref().ok_or(PagingError::NoEarlyRam)?;
    // SAFETY: the PML4 is live and direct-mapped (it is RAM); the lock
    // keeps every other writer out while `f` runs.
    Ok(f(unsafe {
        &mut *(phys_to_virt(kpt.pml4_phys) as *mut PageTable)
    }))
}

/// The early frames the page tables occupy, and whether 1 GiB pages are used.
pub fn summary() -> Option<((u64, u64), bool)> {
    KERNEL_PAGE_TABLES
        .lock()
        .as_ref()
        .map(|k| (k.early_frames, k.huge_1g))
}

/// Firmware memory mapped on demand (ACPI tables outside RAM, as SeaBIOS
/// and real firmware place them in E820-reserved memory): 4 KiB pages at
/// their direct-map address, counted, so that the last user unmaps them,
/// as Linux's early_memremap and acpi_os_map_memory do. RAM and ranges
/// that the boot direct map covers are never counted nor unmapped.
struct FirmwarePages {
    /// (physical page, users, mapped uncached); page u64::MAX marks a free slot.
    slots: [(u64, u32, bool); FIRMWARE_PAGES],
}

/// Enough for every table QEMU and ordinary firmware give (a few dozen
/// pages); a claimed length beyond it is refused, not mapped.
const FIRMWARE_PAGES: usize = 512;

static FIRMWARE: Mutex<FirmwarePages> = Mutex::new(FirmwarePages {
    slots: [(u64::MAX, 0, false); FIRMWARE_PAGES],
});

/// Page-table frames for a firmware mapping: the early allocator while
/// it is open, then the installed source (memblock's until the page
/// allocator exists, then the page allocator's).
enum AnyFrames<'a> {
    Early(&'a mut EarlyFrames),
    Installed,
}

// SAFETY: each arm hands out frames under its own allocator's guarantees
// (fresh, zeroed, used for nothing else, reachable through the direct map).
unsafe impl FrameAllocator<Size4KiB> for AnyFrames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
        match self {
            AnyFrames::Early(f) => f.allocate_frame(),
            AnyFrames::Installed => InstalledFrames { node: ANY_NODE }.allocate_frame(),
        }
    }
}

/// Why firmware memory could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirmwareMapError {
    /// The range wraps around or lies beyond what x86_64 can address.
    BadRange,
    /// More firmware pages than FIRMWARE_PAGES at once.
    TooManyPages,
    /// Registers asked for uncached where a cached mapping exists, or
    /// the other way round.
    CachedAlias,
    Paging,
}

/// The highest physical address the direct map can reach (it spans 64 TiB).
const DIRECT_MAP_SPAN: u64 = 1 << 46;

/// Makes physical `[phys, phys + len)` readable at `phys_to_virt(phys)`,
/// mapping the pages the direct map lacks (cached, never executable).
/// Each successful call must be paired with [`unmap_firmware`] by a user
/// that lets the memory go; all or nothing is mapped.
pub fn map_firmware(phys: u64, len: u64) -> Result<(), FirmwareMapError> {
    map_firmware_with(phys, len, F::empty())
}

/// As [`map_firmware`], uncached, for device registers read before the
/// page allocator exists (the HPET's, to calibrate the TSC). A page that
/// is already mapped (cached) is refused rather than aliased.
pub fn map_firmware_registers(phys: u64, len: u64) -> Result<(), FirmwareMapError> {
    map_firmware_with(phys, len, F::NO_CACHE | F::WRITE_THROUGH)
}

fn map_firmware_with(phys: u64, len: u64, cache: F) -> Result<(), FirmwareMapError> {
    let end = phys
        .checked_add(len.max(1))
        .filter(|&e| e <= DIRECT_MAP_SPAN)
        .ok_or(FirmwareMapError::BadRange)?;
    let first = layout::align_down(phys, PAGE_SIZE);
    let mut page = first;
    while page < end {
        if let Err(e) = map_firmware_page(page, cache) {
            unmap_firmware_pages(first, page);
            return Err(e);
        }
        page += PAGE_SIZE;
    }
    Ok(())
}

/// Drops one user of each page of `[phys, phys + len)` that
/// [`map_firmware`] mapped; the last user's drop unmaps it.
pub fn unmap_firmware(phys: u64, len: u64) {
    let Some(end) = phys.checked_add(len.max(1)) else {
        return;
    };
    unmap_firmware_pages(layout::align_down(phys, PAGE_SIZE), end);
}

fn map_firmware_page(page: u64, cache: F) -> Result<(), FirmwareMapError> {
    let mut fw = FIRMWARE.lock();
    if let Some(slot) = fw.slots.iter_mut().find(|s| s.0 == page) {
        // Shared by users who want the same caching; never aliased.
        if slot.2 != !cache.is_empty() {
            return Err(FirmwareMapError::CachedAlias);
        }
        slot.1 += 1;
        return Ok(());
    }
    if matches!(translate(phys_to_virt(page)), Mapping::Mapped { .. }) {
        if !cache.is_empty() {
            return Err(FirmwareMapError::CachedAlias);
        }
        return Ok(()); // RAM or the first MiB: mapped for good
    }
    let slot = fw
        .slots
        .iter_mut()
        .find(|s| s.0 == u64::MAX)
        .ok_or(FirmwareMapError::TooManyPages)?;
    let mut guard = KERNEL_PAGE_TABLES.lock();
    let kpt = guard.as_mut().ok_or(FirmwareMapError::Paging)?;
    // SAFETY: as in with_live_mapper: the PML4 is live and direct-mapped,
    // and the lock is held while the mapper writes.
    let mut mapper = unsafe {
        OffsetPageTable::new(
            &mut *(phys_to_virt(kpt.pml4_phys) as *mut PageTable),
            VirtAddr::new(DIRECT_MAP_BASE),
        )
    };
    let mut frames = match kpt.early.as_mut() {
        Some(early) => AnyFrames::Early(early),
        None => AnyFrames::Installed,
    };
    let data = F::PRESENT | F::WRITABLE | F::NO_EXECUTE | cache;
    map::<Size4KiB>(
        &mut mapper,
        phys_to_virt(page),
        page,
        data,
        F::PRESENT | F::WRITABLE,
        &mut frames,
        true,
    )
    .map_err(|_| FirmwareMapError::Paging)?;
    *slot = (page, 1, !cache.is_empty());
    Ok(())
}

fn unmap_firmware_pages(first: u64, end: u64) {
    let mut fw = FIRMWARE.lock();
    let mut page = first;
    while page < end {
        if let Some(slot) = fw.slots.iter_mut().find(|s| s.0 == page) {
            slot.1 -= 1;
            if slot.1 == 0 {
                *slot = (u64::MAX, 0, false);
                let _ = with_live_mapper(|mapper, _| {
                    let p = Page::<Size4KiB>::containing_address(VirtAddr::new(phys_to_virt(page)));
                    // Other CPUs may hold the translation in their TLBs; it
                    // names the same frame at the same address, and the frame
                    // is firmware's, never reused, so no shootdown is needed.
                    if let Ok((_, flush)) = mapper.unmap(p) {
                        flush.flush();
                    }
                    Ok(())
                });
            }
        }
        page += PAGE_SIZE;
    }
}

mod selftests {
    use super::{image_layout, translate, Mapping};
    use crate::arch::x86_64::stacks;
    use crate::{kassert, kassert_eq, selftest};
    use layout::{phys_to_virt, PAGE_SIZE};

    selftest!(
        "paging",
        fn boot_stack_keeps_half_its_room() {
            let s = stacks::all()[0];
            let used = stacks::used_bytes(&s);
            kassert!(
                used > 0 && used < (s.top - s.bottom) / 2,
                "{used} bytes used"
            );
            Ok(())
        }
    );

    static RODATA_PROBE: [u8; 8] = *b"rodata!!";
    static mut DATA_PROBE: u64 = 7;

    selftest!(
        "paging",
        fn page_zero_is_unmapped() {
            kassert_eq!(translate(0), Mapping::NotMapped);
            kassert_eq!(translate(PAGE_SIZE - 1), Mapping::NotMapped);
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn kernel_text_is_read_only_and_executable() {
            let text = page_zero_is_unmapped as *const () as u64;
            match translate(text) {
                Mapping::Mapped {
                    writable,
                    executable,
                    page_size,
                    ..
                } => {
                    kassert!(!writable && executable, "text at {text:#x}");
                    kassert_eq!(page_size, PAGE_SIZE);
                }
                Mapping::NotMapped => kassert!(false, "text at {text:#x} not mapped"),
            }
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn rodata_is_read_only_and_not_executable() {
            let addr = RODATA_PROBE.as_ptr() as u64;
            let layout = image_layout();
            kassert!(
                addr >= layout.text_end && addr < layout.rodata_end,
                "{addr:#x}"
            );
            kassert!(matches!(
                translate(addr),
                Mapping::Mapped {
                    writable: false,
                    executable: false,
                    ..
                }
            ));
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn data_is_writable_and_not_executable() {
            let addr = core::ptr::addr_of!(DATA_PROBE) as u64;
            kassert!(matches!(
                translate(addr),
                Mapping::Mapped {
                    writable: true,
                    executable: false,
                    ..
                }
            ));
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn every_stack_has_an_unmapped_guard_page() {
            for s in stacks::all() {
                kassert_eq!(translate(s.guard), Mapping::NotMapped);
                kassert_eq!(translate(s.bottom - 1), Mapping::NotMapped);
                kassert!(
                    matches!(
                        translate(s.bottom),
                        Mapping::Mapped {
                            writable: true,
                            executable: false,
                            ..
                        }
                    ),
                    "{} bottom {:#x}",
                    s.name,
                    s.bottom
                );
                kassert!(matches!(translate(s.top - 8), Mapping::Mapped { .. }));
                kassert!(stacks::guard_page_of(s.guard).is_some());
            }
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn direct_map_covers_every_ram_range_with_large_pages() {
            let boot = crate::boot_info();
            let mut large = 0;
            for e in boot.memory_map().iter().filter(|e| e.kind.direct_mapped()) {
                let first = layout::align_up(e.start, PAGE_SIZE);
                let last = layout::align_down(e.end - 1, PAGE_SIZE);
                for phys in [
                    first,
                    layout::align_down((first + last) / 2, PAGE_SIZE),
                    last,
                ] {
                    match translate(phys_to_virt(phys)) {
                        Mapping::Mapped {
                            phys: p,
                            page_size,
                            writable,
                            executable,
                        } => {
                            kassert_eq!(p, phys);
                            kassert!(writable && !executable);
                            if page_size > PAGE_SIZE {
                                large += 1;
                            }
                        }
                        Mapping::NotMapped => {
                            kassert!(false, "phys {phys:#x} not in the direct map")
                        }
                    }
                }
            }
            kassert!(large > 0, "no 2 MiB or 1 GiB page in the direct map");
            Ok(())
        }
    );

    selftest!(
        "paging",
        fn direct_map_leaves_mmio_holes_unmapped() {
            // The local APIC's page lies in the PCI hole, never RAM on q35.
            kassert_eq!(translate(phys_to_virt(0xfee0_0000)), Mapping::NotMapped);
            Ok(())
        }
    );
}

/// Whether every byte of physical `[phys, phys + len)` is reachable
/// through the direct map.
pub fn direct_mapped(phys: u64, len: u64) -> bool {
    let Some(end) = phys.checked_add(len.max(1)) else {
        return false;
    };
    let mut page = layout::align_down(phys, PAGE_SIZE);
    while page < end {
        match translate(phys_to_virt(page)) {
            Mapping::Mapped { page_size, .. } => {
                page = layout::align_down(page, page_size) + page_size;
            }
            Mapping::NotMapped => return false,
        }
    }
    true
}
