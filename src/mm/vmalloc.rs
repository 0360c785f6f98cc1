//! vmalloc: virtually contiguous memory from scattered pages, in its own
//! region of the address space (`layout::VMALLOC_BASE`, 32 TiB).
//!
//! - Addresses come from `mm::vmap_area` (lowest fit in an augmented AVL
//!   tree); every area is followed by an unmapped guard page.
//! - Pages come from the page allocator on the requested node (the
//!   caller's by default); page-table pages too (`vmap_pt`).
//! - `vfree` unmaps at once and frees the pages, but does not flush TLBs:
//!   the address range waits on the lazy list until `lazy_max_pages` of
//!   them have piled up (or the region is full), then one IPI flushes every
//!   CPU for the whole batch and the ranges become free again. No address
//!   is reused while any CPU may still translate it the old way.
//! - A `vfree` in interrupt context is queued and done by the next vmalloc
//!   call in process context (Linux hands it to a workqueue).
//!
//! Locking: `STATE` (areas and address space) is held only for
//! bookkeeping, never while pages are allocated, tables are written or
//! CPUs are interrupted; the fault handler only tries it. `PURGE`
//! serialises purges, with interrupts on so the IPI's waits can be served.

use super::page_alloc::{allocator, Page};
use super::{__free_pages, alloc_pages_bulk_node, alloc_pages_node, Gfp, NUMA_NO_NODE};
use crate::arch::x86_64::{interrupts::in_interrupt, ipi, percpu, vmap_pt};
use crate::numa::numa_node_id;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering::*};
use layout::{PAGE_SIZE, SIZE_2M, VMALLOC_BASE, VMALLOC_SIZE};
use mm::report::VmallocRow;
use mm::vmap_area::{lazy_max_pages, VmapError, VmapSpace};
use spin::Mutex;

/// Order of a 2 MiB page.
const HUGE_ORDER: u32 = 9;

/// How an area's memory came to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// vmalloc and friends: the pages are the area's and go with vfree.
    Vmalloc,
    /// vmap: the caller's pages, only mapped here.
    Vmap,
}

/// One live area (Linux's vm_struct).
struct VmArea {
    /// Usable bytes (the guard page follows).
    size: u64,
    caller: &'static Location<'static>,
    kind: Kind,
    /// Physical address of each mapped piece, in order.
    chunks: Vec<u64>,
    /// Bytes a piece: 4 KiB, or 2 MiB for huge mappings.
    chunk: u64,
}

struct State {
    space: VmapSpace,
    areas: BTreeMap<u64, VmArea>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);
static PURGE: Mutex<()> = Mutex::new(());

/// Counters for the reports and the self-tests.
pub struct VmallocStats {
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub failures: AtomicU64,
    pub bad_frees: AtomicU64,
    /// Lazy purges done, each one round of flush IPIs.
    pub purges: AtomicU64,
    pub purged_pages: AtomicU64,
    /// vfrees queued from interrupt context, and those done since.
    pub deferred: AtomicU64,
    pub deferred_done: AtomicU64,
}

pub static STATS: VmallocStats = VmallocStats {
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    failures: AtomicU64::new(0),
    bad_frees: AtomicU64::new(0),
    purges: AtomicU64::new(0),
    purged_pages: AtomicU64::new(0),
    deferred: AtomicU64::new(0),
    deferred_done: AtomicU64::new(0),
};

/// vfrees from interrupt context wait here (a fixed ring: an interrupt
/// handler must not allocate to queue its free, nor write into an area it
/// has not validated).
const DEFERRED_SLOTS: usize = 64;
static DEFERRED: [AtomicU64; DEFERRED_SLOTS] = [const { AtomicU64::new(0) }; DEFERRED_SLOTS];

/// Makes the region usable; after `smp::init` (the lazy limit depends on
/// the number of CPUs) and the slab allocator (the bookkeeping uses it).
pub fn init() {
    let cpus = percpu::nr_online();
    let lazy = lazy_max_pages(cpus);
    *STATE.lock() = Some(State {
        space: VmapSpace::new(VMALLOC_BASE, VMALLOC_BASE + VMALLOC_SIZE, lazy),
        areas: BTreeMap::new(),
    });
    // Fault reports name the area an address of the region falls in.
    crate::arch::x86_64::exceptions::set_describer(|addr, f| {
        describe(addr).map(|place| core::fmt::Write::write_fmt(f, format_args!("{place}")))
    });
    log::info!(
        "vmalloc: [{:#x}-{:#x}) ({} TiB), lazy purge after {} MiB freed ({} CPUs)",
        VMALLOC_BASE,
        VMALLOC_BASE + VMALLOC_SIZE,
        VMALLOC_SIZE >> 40,
        (lazy * PAGE_SIZE) >> 20,
        cpus
    );
}

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> Option<R> {
    STATE.lock().as_mut().map(f)
}

/// `size` bytes of virtually contiguous memory on the caller's node, or null.
#[track_caller]
pub fn vmalloc(size: usize) -> *mut u8 {
    vmalloc_request(size, Gfp::KERNEL, NUMA_NO_NODE, false, Location::caller())
}

/// As vmalloc, zeroed.
#[track_caller]
pub fn vzalloc(size: usize) -> *mut u8 {
    vmalloc_request(
        size,
        Gfp::KERNEL | Gfp::ZERO,
        NUMA_NO_NODE,
        false,
        Location::caller(),
    )
}

/// As vmalloc, with pages from `node` (fallback as the page allocator's
/// zonelist says, unless `__GFP_THISNODE` is in a `__vmalloc_node` gfp).
#[track_caller]
pub fn vmalloc_node(size: usize, node: i32) -> *mut u8 {
    vmalloc_request(size, Gfp::KERNEL, node, false, Location::caller())
}

/// As vmalloc, mapped with 2 MiB pages where size and alignment allow
/// (the area is then 2 MiB aligned); 4 KiB pages otherwise.
#[track_caller]
pub fn vmalloc_huge(size: usize, gfp: Gfp) -> *mut u8 {
    vmalloc_request(size, gfp, NUMA_NO_NODE, true, Location::caller())
}

/// The general form (Linux's __vmalloc_node).
#[track_caller]
pub fn __vmalloc_node(size: usize, gfp: Gfp, node: i32) -> *mut u8 {
    vmalloc_request(size, gfp, node, false, Location::caller())
}

fn warn(gfp: Gfp, caller: &Location, what: fmt::Arguments) {
    STATS.failures.fetch_add(1, Relaxed);
    if !gfp.contains(Gfp::NOWARN) {
        log::warn!("vmalloc error: {what}, mode:{gfp:?}, from {caller}");
    }
}

fn vmalloc_request(
    size: usize,
    gfp: Gfp,
    node: i32,
    huge: bool,
    caller: &'static Location<'static>,
) -> *mut u8 {
    if in_interrupt() {
        // Linux BUGs here: vmalloc may sleep and takes sleeping locks.
        warn(
            gfp,
            caller,
            format_args!("size {size}, called from interrupt context"),
        );
        return core::ptr::null_mut();
    }
    run_deferred_frees();
    let total_ram = allocator().totalram_pages() * PAGE_SIZE;
    if size == 0 || size as u64 > total_ram {
        warn(
            gfp,
            caller,
            format_args!("size {size}, exceeds total pages"),
        );
        return core::ptr::null_mut();
    }
    let node = if node == NUMA_NO_NODE {
        numa_node_id() as i32
    } else {
        node
    };
    let size = layout::align_up(size as u64, PAGE_SIZE);
    let use_huge = huge && size >= SIZE_2M;
    let chunk = if use_huge { SIZE_2M } else { PAGE_SIZE };
    // Huge areas are whole 2 MiB pages; the rest of the last one is usable.
    let size = layout::align_up(size, chunk);
    let Some(addr) = reserve(size, chunk, gfp, caller) else {
        return core::ptr::null_mut();
    };
    // Pages, outside every lock (GFP_KERNEL may reclaim).
    let order = if use_huge { HUGE_ORDER } else { 0 };
    let page_gfp = gfp | Gfp::NOWARN;
    let mut chunks = Vec::new();
    if chunks.try_reserve_exact((size / chunk) as usize).is_err() {
        release(addr);
        warn(
            gfp,
            caller,
            format_args!("size {size}, no memory for its page list"),
        );
        return core::ptr::null_mut();
    }
    let wanted = (size / chunk) as usize;
    // fail_vmalloc: the area gets its pages up to the first one failed.
    let granted = if super::alloc_hooks::fault_checks() {
        (0..wanted)
            .position(|_| super::fault_inject::should_fail_vmalloc(gfp, caller))
            .unwrap_or(wanted)
    } else {
        wanted
    };
    if use_huge {
        for _ in 0..granted {
            match alloc_pages_node(node, page_gfp, order) {
                Some(p) => chunks.push(p.phys()),
                None => break,
            }
        }
    } else {
        // Small pages in bulk, as Linux's vm_area_alloc_pages does.
        alloc_pages_bulk_node(node, page_gfp, granted, |p| chunks.push(p.phys()));
    }
    if chunks.len() < wanted {
        free_chunks(&chunks, order);
        release(addr);
        if use_huge {
            // As Linux: no huge pages, then small ones.
            return vmalloc_request(size as usize, gfp, node, false, caller);
        }
        warn(
            gfp,
            caller,
            format_args!("size {size}, failed to allocate pages (node {node})"),
        );
        return core::ptr::null_mut();
    }
    let area = VmArea {
        size,
        caller,
        kind: Kind::Vmalloc,
        chunks,
        chunk,
    };
    match install(addr, area, node, gfp) {
        Ok(p) => p,
        Err(area) => {
            free_chunks(&area.chunks, order);
            core::ptr::null_mut()
        }
    }
    // Pages from the page allocator were zeroed there if asked
    // (__GFP_ZERO passes through): nothing more to do for vzalloc.
}

/// Maps `area` at `addr` (reserved by `reserve`) and records it; on a
/// mapping failure the range is unmapped and released, the failure
/// reported, and the area handed back for its pages to be dealt with.
fn install(addr: u64, area: VmArea, node: i32, gfp: Gfp) -> Result<*mut u8, VmArea> {
    if let Err(e) = vmap_pt::map(addr, &area.chunks, area.chunk, node) {
        vmap_pt::unmap(addr, area.size);
        release(addr);
        warn(
            gfp,
            area.caller,
            format_args!("size {}, mapping failed: {e:?}", area.size),
        );
        return Err(area);
    }
    with_state(|s| s.areas.insert(addr, area));
    STATS.allocs.fetch_add(1, Relaxed);
    Ok(addr as *mut u8)
}

/// Address space for `size` bytes plus the guard page, aligned to `align`;
/// purges the lazy list once if the region is full.
fn reserve(size: u64, align: u64, gfp: Gfp, caller: &Location) -> Option<u64> {
    for attempt in 0..2 {
        match with_state(|s| s.space.alloc(size + PAGE_SIZE, align)) {
            Some(Ok(a)) => return Some(a),
            Some(Err(VmapError::NoSpace)) if attempt == 0 => {
                purge_lazy();
            }
            Some(Err(e)) => {
                warn(
                    gfp,
                    caller,
                    format_args!("size {size}, no address space: {e:?}"),
                );
                return None;
            }
            None => {
                warn(
                    gfp,
                    caller,
                    format_args!("size {size}, vmalloc is not set up yet"),
                );
                return None;
            }
        }
    }
    None
}

/// Puts the reserved range at `addr` (unmapped by now) on the lazy list
/// and purges when enough has piled up.
fn release(addr: u64) {
    let due = with_state(|s| {
        let _ = s.space.free_lazy(addr);
        s.space.purge_due()
    });
    if due == Some(true) {
        purge_lazy();
    }
}

fn free_chunks(chunks: &[u64], order: u32) {
    for &phys in chunks {
        __free_pages(Page::from_pfn(phys / PAGE_SIZE), order);
    }
}

/// Maps the caller's pages contiguously (Linux's vmap); they stay the
/// caller's: vunmap (or vfree) unmaps them and frees nothing.
#[track_caller]
pub fn vmap(pages: &[Page]) -> *mut u8 {
    let caller = Location::caller();
    if in_interrupt() || pages.is_empty() {
        warn(
            Gfp::KERNEL,
            caller,
            format_args!("vmap of {} pages refused", pages.len()),
        );
        return core::ptr::null_mut();
    }
    run_deferred_frees();
    let size = pages.len() as u64 * PAGE_SIZE;
    let Some(addr) = reserve(size, PAGE_SIZE, Gfp::KERNEL, caller) else {
        return core::ptr::null_mut();
    };
    let chunks: Vec<u64> = pages.iter().map(|p| p.phys()).collect();
    let area = VmArea {
        size,
        caller,
        kind: Kind::Vmap,
        chunks,
        chunk: PAGE_SIZE,
    };
    // The pages stay the caller's, mapped or not.
    install(addr, area, numa_node_id() as i32, Gfp::KERNEL).unwrap_or(core::ptr::null_mut())
}

/// Frees an area from vmalloc (its pages too) or vmap (its mapping only).
/// Null is ignored; an address where no area starts is reported and
/// changes nothing. From interrupt context the free is queued.
#[track_caller]
pub fn vfree(addr: *const u8) {
    if addr.is_null() {
        return;
    }
    if in_interrupt() {
        defer_free(addr as u64);
        return;
    }
    run_deferred_frees();
    unmap_area(addr as u64, None, Location::caller());
}

/// Undoes a vmap (the pages stay the caller's). A vmalloc area is refused:
/// its pages would leak; vfree it.
#[track_caller]
pub fn vunmap(addr: *const u8) {
    if addr.is_null() {
        return;
    }
    let caller = Location::caller();
    if in_interrupt() {
        STATS.bad_frees.fetch_add(1, Relaxed);
        log::error!("BUG: vunmap({addr:p}) from interrupt context at {caller}; ignored");
        return;
    }
    run_deferred_frees();
    unmap_area(addr as u64, Some(Kind::Vmap), caller);
}

fn unmap_area(addr: u64, only: Option<Kind>, caller: &Location) {
    // Taken out of the table first, so no one else frees it meanwhile.
    let area = with_state(|s| match s.areas.get(&addr) {
        Some(a) if only.is_none_or(|k| k == a.kind) => Ok(s.areas.remove(&addr).expect("present")),
        Some(a) => Err(BadFree::WrongKind(a.kind)),
        None => Err(match s.space.lazy_containing(addr) {
            Some((start, _)) if start == addr => BadFree::AlreadyFreed,
            _ => BadFree::NoArea,
        }),
    });
    let area = match area {
        Some(Ok(a)) => a,
        Some(Err(why)) => {
            STATS.bad_frees.fetch_add(1, Relaxed);
            let what = if only.is_some() { "vunmap" } else { "vfree" };
            log::error!(
                "BUG: Trying to {what}() {} ({addr:#x}) at {caller}; {}; ignored",
                match why {
                    BadFree::NoArea => "nonexistent vm area",
                    BadFree::AlreadyFreed => "an area already freed (double free)",
                    BadFree::WrongKind(_) => "a vmalloc area",
                },
                crate::arch::x86_64::exceptions::Describe(addr)
            );
            return;
        }
        None => return,
    };
    // Unmapped before the range goes to the lazy list: once there, a purge
    // may hand it out again.
    vmap_pt::unmap(addr, area.size);
    if area.kind == Kind::Vmalloc {
        let order = if area.chunk == SIZE_2M { HUGE_ORDER } else { 0 };
        free_chunks(&area.chunks, order);
    }
    STATS.frees.fetch_add(1, Relaxed);
    release(addr);
}

enum BadFree {
    NoArea,
    AlreadyFreed,
    #[expect(dead_code, reason = "the kind, for the report's `{:?}`")]
    WrongKind(Kind),
}

fn defer_free(addr: u64) {
    for slot in &DEFERRED {
        if slot.compare_exchange(0, addr, AcqRel, Relaxed).is_ok() {
            STATS.deferred.fetch_add(1, Relaxed);
            return;
        }
    }
    STATS.bad_frees.fetch_add(1, Relaxed);
    log::error!(
        "vfree({addr:#x}) from interrupt context: {DEFERRED_SLOTS} frees already queued; this area is leaked"
    );
}

/// Does the vfrees queued from interrupt context (process context only).
pub fn run_deferred_frees() {
    // Two loads when nothing is queued (as nearly always), not a swap of
    // every slot; one queued while we look is done on the next call.
    if in_interrupt() || STATS.deferred.load(Acquire) == STATS.deferred_done.load(Acquire) {
        return;
    }
    for slot in &DEFERRED {
        let addr = slot.swap(0, AcqRel);
        if addr != 0 {
            unmap_area(addr, None, Location::caller());
            STATS.deferred_done.fetch_add(1, Relaxed);
        }
    }
}

/// Flushes every CPU's TLB for the lazily freed ranges and makes them
/// free again (Linux's purge_vmap_area_lazy; vm_unmap_aliases forces it).
/// Needs interrupts on (the IPI waits); skipped, and said, otherwise.
pub fn purge_lazy() {
    if in_interrupt() || !x86_64::instructions::interrupts::are_enabled() {
        log::debug!("vmalloc: lazy purge skipped (interrupts off)");
        return;
    }
    let _serial = PURGE.lock();
    let Some(ranges) = with_state(|s| s.space.take_lazy()) else {
        return;
    };
    if ranges.is_empty() {
        return;
    }
    let flush = |_cpu: u32| vmap_pt::flush_local(&ranges);
    if let Err(e) = ipi::on_each_cpu(&flush) {
        // A CPU that did not answer may still hold old translations: keep
        // the ranges out of use rather than risk a stale mapping.
        log::error!(
            "vmalloc: TLB shootdown failed ({e:?}); {} ranges stay unusable",
            ranges.len()
        );
        return;
    }
    let pages: u64 = ranges.iter().map(|r| r.1 / PAGE_SIZE).sum();
    STATS.purges.fetch_add(1, Relaxed);
    STATS.purged_pages.fetch_add(pages, Relaxed);
    with_state(|s| s.space.finish_purge(&ranges));
}

/// Linux's name for "flush every lazy alias now".
pub fn vm_unmap_aliases() {
    purge_lazy();
}

/// Whether `addr` lies in the vmalloc region.
pub fn is_vmalloc_addr(addr: u64) -> bool {
    (VMALLOC_BASE..VMALLOC_BASE + VMALLOC_SIZE).contains(&addr)
}

/// The physical address behind a vmalloc address (Linux's
/// vmalloc_to_page, as an address), from the area's own page list.
pub fn vmalloc_to_phys(addr: u64) -> Option<u64> {
    let state = STATE.lock();
    let s = state.as_ref()?;
    let (&start, area) = s.areas.range(..=addr).next_back()?;
    let off = addr.checked_sub(start)?;
    if off >= area.size {
        return None;
    }
    let phys = area.chunks.get((off / area.chunk) as usize)?;
    Some(phys + off % area.chunk)
}

/// What a vmalloc address is, for fault reports.
pub struct Place {
    addr: u64,
    what: PlaceKind,
}

enum PlaceKind {
    Inside {
        start: u64,
        size: u64,
        caller: &'static Location<'static>,
    },
    Guard {
        start: u64,
        size: u64,
        caller: &'static Location<'static>,
    },
    Unpurged {
        start: u64,
        size: u64,
    },
    Free,
    Busy,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.what {
            PlaceKind::Inside { start, size, caller } => write!(
                f,
                "offset {:#x} in vmalloc area [{start:#x}-{:#x}) of {size} bytes from {caller}",
                self.addr - start,
                start + size
            ),
            PlaceKind::Guard { start, size, caller } => write!(
                f,
                "guard page of vmalloc area [{start:#x}-{:#x}) of {size} bytes from {caller} (access {} bytes past its end)",
                start + size,
                self.addr - (start + size)
            ),
            PlaceKind::Unpurged { start, size } => write!(
                f,
                "in vmalloc area [{start:#x}-{:#x}), already freed (vfree/vunmap; awaiting TLB purge): use after free",
                start + size - PAGE_SIZE
            ),
            PlaceKind::Free => write!(f, "in the vmalloc region, in no area (never allocated or freed)"),
            PlaceKind::Busy => write!(f, "in the vmalloc region (area table busy, not looked up)"),
        }
    }
}

/// Names what lies at `addr` if it is a vmalloc address. Safe in a fault
/// handler: the table is only tried, never waited for.
pub fn describe(addr: u64) -> Option<Place> {
    if !is_vmalloc_addr(addr) {
        return None;
    }
    let Some(state) = STATE.try_lock() else {
        return Some(Place {
            addr,
            what: PlaceKind::Busy,
        });
    };
    let s = state.as_ref()?;
    let what = match s.areas.range(..=addr).next_back() {
        Some((&start, a)) if addr < start + a.size => PlaceKind::Inside {
            start,
            size: a.size,
            caller: a.caller,
        },
        Some((&start, a)) if addr < start + a.size + PAGE_SIZE => PlaceKind::Guard {
            start,
            size: a.size,
            caller: a.caller,
        },
        _ => match s.space.lazy_containing(addr) {
            Some((start, size)) => PlaceKind::Unpurged { start, size },
            None => PlaceKind::Free,
        },
    };
    Some(Place { addr, what })
}

/// Per-area figures for reports and tests: (start, usable size, kind,
/// 4 KiB pages per node).
pub struct AreaInfo {
    pub start: u64,
    pub size: u64,
    pub kind: Kind,
    pub huge: bool,
    pub per_node: [u64; numa::MAX_NUMNODES],
    pub caller: &'static Location<'static>,
}

fn area_info(start: u64, a: &VmArea) -> AreaInfo {
    let mut per_node = [0u64; numa::MAX_NUMNODES];
    for &phys in &a.chunks {
        if let Some(n) = Page::from_pfn(phys / PAGE_SIZE).nid() {
            per_node[n] += a.chunk / PAGE_SIZE;
        }
    }
    AreaInfo {
        start,
        size: a.size,
        kind: a.kind,
        huge: a.chunk == SIZE_2M,
        per_node,
        caller: a.caller,
    }
}

/// The area starting at `addr`, if live.
pub fn find_area(addr: *const u8) -> Option<AreaInfo> {
    let state = STATE.lock();
    let s = state.as_ref()?;
    s.areas
        .get(&(addr as u64))
        .map(|a| area_info(addr as u64, a))
}

/// Lazily freed pages not yet purged.
pub fn lazy_pages() -> u64 {
    with_state(|s| s.space.lazy_pages()).unwrap_or(0)
}

/// /proc/vmallocinfo: every live area, then the unpurged ones.
pub fn vmallocinfo(w: &mut dyn fmt::Write) -> fmt::Result {
    // Collected first (the page lookups take other locks), printed after.
    let (areas, lazy): (Vec<AreaInfo>, Vec<(u64, u64)>) = {
        let state = STATE.lock();
        let Some(s) = state.as_ref() else {
            return Ok(());
        };
        (
            s.areas.iter().map(|(&st, a)| area_info(st, a)).collect(),
            s.space.lazy().to_vec(),
        )
    };
    let nodes = crate::numa::topology().node_count();
    let mut rows: Vec<VmallocRow> = areas
        .iter()
        .map(|a| VmallocRow {
            start: a.start,
            size: a.size + PAGE_SIZE,
            caller: a.caller,
            pages: a.per_node.iter().sum(),
            kind: match a.kind {
                Kind::Vmalloc => "vmalloc",
                Kind::Vmap => "vmap",
            },
            huge: a.huge,
            per_node: &a.per_node[..nodes],
            unpurged: false,
        })
        .collect();
    let none = "";
    rows.extend(lazy.iter().map(|&(start, size)| VmallocRow {
        start,
        size,
        caller: &none,
        pages: 0,
        kind: "",
        huge: false,
        per_node: &[],
        unpurged: true,
    }));
    rows.sort_by_key(|r| r.start);
    mm::report::vmallocinfo(w, &rows)
}

/// Live areas (vmalloc and vmap alike). Test hook: the fail-nth suite's
/// leak check counts them.
pub fn area_count() -> usize {
    with_state(|s| s.areas.len()).unwrap_or(0)
}

/// Page-table pages the vmalloc region has taken (never given back).
/// Test hook: the vmalloc self-tests count it in their leak checks.
pub fn page_table_pages() -> u64 {
    vmap_pt::TABLE_PAGES.load(Relaxed)
}

/// The meminfo lines Linux gives vmalloc.
pub fn meminfo(w: &mut dyn fmt::Write) -> fmt::Result {
    let (used, chunk) = with_state(|s| {
        let used: u64 = s.areas.values().map(|a| a.size).sum();
        (used, s.space.tree().largest())
    })
    .unwrap_or((0, 0));
    writeln!(w, "VmallocTotal:   {:>8} kB", VMALLOC_SIZE >> 10)?;
    writeln!(w, "VmallocUsed:    {:>8} kB", used >> 10)?;
    writeln!(w, "VmallocChunk:   {:>8} kB", chunk >> 10)?;
    writeln!(
        w,
        "VmallocPageTables: {:>5} kB",
        (vmap_pt::TABLE_PAGES.load(Relaxed) * PAGE_SIZE) >> 10
    )?;
    writeln!(
        w,
        "vmalloc: {} allocations, {} frees, {} failures, {} invalid frees, {} lazy purges ({} pages), {} deferred frees ({} done)",
        STATS.allocs.load(Relaxed),
        STATS.frees.load(Relaxed),
        STATS.failures.load(Relaxed),
        STATS.bad_frees.load(Relaxed),
        STATS.purges.load(Relaxed),
        STATS.purged_pages.load(Relaxed),
        STATS.deferred.load(Relaxed),
        STATS.deferred_done.load(Relaxed)
    )
}
