//! KFENCE: a sampling memory-error detector cheap enough to stay on
//! (Linux's mm/kfence, Documentation/dev-tools/kfence.rst). Every
//! `kfence.sample_interval` ms (default 100; 0 off) the next slab
//! allocation of up to a page (kmalloc or kmem_cache_alloc, from a cache
//! without debug flags or constructor) is served from a 2 MiB pool of 255
//! object pages, each between guard pages, in the vmalloc region. The
//! object sits at the left or right edge of its page at random, the rest
//! of the page holds a canary pattern. A read or write into a guard page
//! (out of bounds) or into a freed object's page (use after free) faults
//! and is reported; a free of an address that is not a live object's start
//! (invalid or double free) and a changed canary byte (found on free) are
//! reported too. After a report the page is made accessible and the
//! kernel carries on, as Linux's does. The layout and the checks are
//! crates/mm's (`mm::kfence`); this module has the pool, the sampling,
//! the slab hooks and the reports.

use super::page_alloc::Page;
use super::{alloc_pages_node, Gfp};
use crate::arch::x86_64::{percpu, tsc, vmap_pt};
use core::fmt::Write;
use core::panic::Location;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use mm::kfence::{self as pool, Spot, NUM_OBJECTS, PAGE, POOL_PAGES, POOL_SIZE};
use mm::slub::KmemCache;
use spin::{Mutex, Once};
use x86_64::instructions::interrupts::without_interrupts;

/// The pool's address in the vmalloc region (0: KFENCE is off).
static POOL: AtomicUsize = AtomicUsize::new(0);
/// `kfence.sample_interval` in ms.
static INTERVAL_MS: AtomicU64 = AtomicU64::new(0);
/// Every allocation is sampled (the benchmark's third mode and the KFENCE
/// self-tests), not one an interval.
static EVERY: AtomicBool = AtomicBool::new(false);
/// Holders of [`Paused`]: no interval sampling while above 0.
static PAUSED: AtomicU32 = AtomicU32::new(0);

/// Holds interval sampling off while it lives: the self-test runner
/// holds one around each case, whose exact counts of a cache's objects
/// a sampled object (counted by no cache) would upset, as Linux's slab
/// KUnit tests create their caches with SLAB_SKIP_KFENCE. `set_every`
/// still samples.
pub struct Paused(());

impl Paused {
    pub fn new() -> Self {
        PAUSED.fetch_add(1, Relaxed);
        Paused(())
    }
}

impl Default for Paused {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        PAUSED.fetch_sub(1, Relaxed);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Unused,
    Allocated,
    Freed,
}

/// Who allocated or freed an object, where and when.
#[derive(Clone, Copy)]
struct Track {
    tid: u32,
    cpu: u32,
    ns: u64,
    caller: Option<&'static Location<'static>>,
    frames: [u64; 8],
    depth: usize,
}

impl Track {
    const NONE: Track = Track {
        tid: 0,
        cpu: 0,
        ns: 0,
        caller: None,
        frames: [0; 8],
        depth: 0,
    };

    fn now(caller: &'static Location<'static>) -> Track {
        let mut t = Track {
            tid: current().0,
            cpu: percpu::cpu_id(),
            ns: tsc::ns_since_boot(),
            caller: Some(caller),
            ..Track::NONE
        };
        t.depth = crate::fatal::capture_backtrace(&mut t.frames);
        t
    }
}

#[derive(Clone, Copy)]
struct Meta {
    state: State,
    addr: usize,
    size: usize,
    cache: Option<&'static KmemCache>,
    alloc: Track,
    free: Track,
}

const UNUSED: Meta = Meta {
    state: State::Unused,
    addr: 0,
    size: 0,
    cache: None,
    alloc: Track::NONE,
    free: Track::NONE,
};

/// The objects' records (56 KiB), allocated with the pool: a VM without
/// KFENCE (a small one) does not carry them in its image.
static META_STORE: Once<Mutex<alloc::boxed::Box<[Meta; NUM_OBJECTS]>>> = Once::new();

struct MetaRef;

impl MetaRef {
    fn lock(&self) -> spin::MutexGuard<'static, alloc::boxed::Box<[Meta; NUM_OBJECTS]>> {
        META_STORE
            .get()
            .expect("kfence: records exist once the pool does")
            .lock()
    }
}

/// Reached only once the pool exists (POOL is set after the records).
static META: MetaRef = MetaRef;

/// Linux's /sys/kernel/debug/kfence/stats.
pub struct Stats {
    pub allocated: AtomicU64,
    pub allocs: AtomicU64,
    pub frees: AtomicU64,
    pub bugs: AtomicU64,
    pub skipped_incompatible: AtomicU64,
    pub skipped_capacity: AtomicU64,
}

pub static STATS: Stats = Stats {
    allocated: AtomicU64::new(0),
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    bugs: AtomicU64::new(0),
    skipped_incompatible: AtomicU64::new(0),
    skipped_capacity: AtomicU64::new(0),
};

/// The current thread's id and name (the scheduler's, through a hook: it
/// is above mm).
static CURRENT: Once<fn() -> (u32, &'static str)> = Once::new();

pub fn install_current_hook(hook: fn() -> (u32, &'static str)) {
    CURRENT.call_once(|| hook);
}

fn current() -> (u32, &'static str) {
    CURRENT.get().map_or((0, "swapper"), |h| h())
}

/// Sets the pool up (an order-9 block mapped page by page into the
/// vmalloc region, its guard pages not present) when `interval_ms` is not
/// 0. The sampling thread is the caller's to start (`sample`).
pub fn init(interval_ms: u64) {
    INTERVAL_MS.store(interval_ms, Relaxed);
    if interval_ms == 0 {
        log::info!("kfence: off (kfence.sample_interval=0)");
        return;
    }
    // Not where the pool would be more than a 32nd of memory: on a small
    // VM its 2 MiB block is one a huge mapping or a DMA buffer needs.
    let total = super::page_alloc::allocator().totalram_pages() as usize;
    if total < POOL_PAGES * 32 {
        log::info!(
            "kfence: off: {} MiB of memory is less than 32 pools ({} MiB)",
            (total * PAGE) >> 20,
            (POOL_SIZE * 32) >> 20
        );
        return;
    }
    let node = crate::numa::numa_node_id() as i32;
    let order = POOL_PAGES.trailing_zeros();
    let Some(block) = alloc_pages_node(node, Gfp::KERNEL | Gfp::ZERO | Gfp::NOWARN, order) else {
        log::warn!("kfence: no 2 MiB block for the pool; off");
        return;
    };
    let pages: alloc::vec::Vec<Page> = (0..POOL_PAGES as u64)
        .map(|i| Page::from_pfn(block.pfn() + i))
        .collect();
    META_STORE.call_once(|| Mutex::new(alloc::boxed::Box::new([UNUSED; NUM_OBJECTS])));
    let base = super::vmalloc::vmap(&pages) as usize;
    if base == 0 {
        super::__free_pages(block, order);
        log::warn!("kfence: the pool could not be mapped; off");
        return;
    }
    for page in 0..POOL_PAGES {
        if !page.is_multiple_of(2) || page < 2 {
            vmap_pt::set_present((base + page * PAGE) as u64, false);
        }
    }
    POOL.store(base, Relaxed);
    crate::arch::x86_64::exceptions::set_fault_fixer(handle_fault);
    log::info!(
        "kfence: initialized - using {POOL_SIZE} bytes for {NUM_OBJECTS} objects at {base:#x}-{:#x}, sample interval {interval_ms} ms",
        base + POOL_SIZE
    );
}

/// The sampling loop (Linux's toggle_allocation_gate), run by a kernel
/// thread: every interval the gate opens for the next slab allocation.
pub fn sample(sleep_ms: fn(u64)) -> ! {
    loop {
        sleep_ms(INTERVAL_MS.load(Relaxed).max(1));
        if POOL.load(Relaxed) != 0 {
            super::alloc_hooks::set(super::alloc_hooks::KFENCE_GATE, true);
        }
    }
}

/// Samples every allocation (true) or one an interval: the benchmark's
/// modes.
pub fn set_every(on: bool) {
    EVERY.store(on, Relaxed);
    super::alloc_hooks::set(super::alloc_hooks::KFENCE_GATE, on);
}

pub fn sample_interval_ms() -> u64 {
    INTERVAL_MS.load(Relaxed)
}

pub fn enabled() -> bool {
    POOL.load(Relaxed) != 0
}

/// Whether `addr` lies in the pool.
#[inline]
pub fn is_kfence_address(addr: *const u8) -> bool {
    let base = POOL.load(Relaxed);
    base != 0 && (addr as usize).wrapping_sub(base) < POOL_SIZE
}

fn dice() -> bool {
    tsc::rdtsc() & 0x10 != 0
}

/// An object of `cache` from the pool when the gate is open (and this
/// allocation is the one that closes it); None otherwise.
pub fn alloc(
    cache: &'static KmemCache,
    gfp: Gfp,
    caller: &'static Location<'static>,
) -> Option<*mut u8> {
    use super::alloc_hooks::{take, KFENCE_GATE};
    let base = POOL.load(Relaxed);
    let every = EVERY.load(Relaxed);
    if base == 0 || !(every || take(KFENCE_GATE)) || (!every && PAUSED.load(Relaxed) > 0) {
        return None;
    }
    if cache.object_size > PAGE || !cache.is_fast() {
        STATS.skipped_incompatible.fetch_add(1, Relaxed);
        return None;
    }
    let track = Track::now(caller);
    without_interrupts(|| {
        let mut meta = META.lock();
        // A slot never used, else the one freed longest ago (Linux's
        // freelist keeps freed objects at its tail, so use after free is
        // caught for as long as possible).
        let i = meta
            .iter()
            .position(|m| m.state == State::Unused)
            .or_else(|| {
                (0..NUM_OBJECTS)
                    .filter(|&i| meta[i].state == State::Freed)
                    .min_by_key(|&i| meta[i].free.ns)
            });
        let Some(i) = i else {
            STATS.skipped_capacity.fetch_add(1, Relaxed);
            return None;
        };
        let page = base + pool::object_page(i) * PAGE;
        let addr = pool::place(page, cache.object_size, cache.align, dice());
        vmap_pt::set_present(page as u64, true);
        // Its guard pages guard again (a report made one accessible).
        vmap_pt::set_present((page - PAGE) as u64, false);
        vmap_pt::set_present((page + PAGE) as u64, false);
        // SAFETY: the object's page is the pool's and present; nothing
        // else uses it while its slot is not allocated.
        let bytes = unsafe { core::slice::from_raw_parts_mut(page as *mut u8, PAGE) };
        pool::fill_canary(bytes, page, addr, cache.object_size);
        if gfp.contains(Gfp::ZERO) {
            bytes[addr - page..addr - page + cache.object_size].fill(0);
        }
        meta[i] = Meta {
            state: State::Allocated,
            addr,
            size: cache.object_size,
            cache: Some(cache),
            alloc: track,
            free: Track::NONE,
        };
        STATS.allocs.fetch_add(1, Relaxed);
        STATS.allocated.fetch_add(1, Relaxed);
        Some(addr as *mut u8)
    })
}

/// The object size of a pool object (ksize), None outside the pool.
pub fn ksize(obj: *const u8) -> Option<usize> {
    if !is_kfence_address(obj) {
        return None;
    }
    let off = obj as usize - POOL.load(Relaxed);
    match pool::spot(off) {
        Some(Spot::Object(i)) => Some(without_interrupts(|| META.lock()[i].size)),
        _ => Some(0),
    }
}

/// Frees `obj` if it is in the pool (true: handled, reported if wrong).
pub fn free(obj: *mut u8, caller: &'static Location<'static>) -> bool {
    if !is_kfence_address(obj) {
        return false;
    }
    let base = POOL.load(Relaxed);
    let addr = obj as usize;
    let track = Track::now(caller);
    without_interrupts(|| {
        let mut meta = META.lock();
        let i = match pool::spot(addr - base) {
            Some(Spot::Object(i)) => i,
            _ => {
                report_free_elsewhere(addr, caller);
                return;
            }
        };
        let m = meta[i];
        if m.state != State::Allocated || m.addr != addr {
            report(
                Bug::InvalidFree,
                addr,
                i,
                &m,
                format_args!("Invalid free of {addr:#x} (in kfence-#{i}):"),
                Some(caller),
                None,
            );
            return;
        }
        let page = base + pool::object_page(i) * PAGE;
        // SAFETY: the allocated object's page is present and the pool's.
        let bytes = unsafe { core::slice::from_raw_parts(page as *const u8, PAGE) };
        if let Some(bad) = pool::first_corrupt(bytes, page, m.addr, m.size) {
            let mut shown = Line::new();
            let _ = pool::write_corruption(&mut shown, bytes, page, bad, m.addr);
            report(
                Bug::Corruption,
                bad,
                i,
                &m,
                format_args!(
                    "Corrupted memory at {bad:#x} {} (in kfence-#{i}):",
                    shown.as_str()
                ),
                Some(caller),
                None,
            );
        }
        meta[i].state = State::Freed;
        meta[i].free = track;
        vmap_pt::set_present(page as u64, false);
        STATS.frees.fetch_add(1, Relaxed);
        STATS.allocated.fetch_sub(1, Relaxed);
    });
    true
}

fn report_free_elsewhere(addr: usize, caller: &'static Location<'static>) {
    STATS.bugs.fetch_add(1, Relaxed);
    log::error!("==================================================================");
    log::error!("BUG: KFENCE: invalid free in {caller}");
    log::error!("");
    log::error!("Invalid free of {addr:#x} (a guard page of the pool):");
    crate::fatal::backtrace(&mut crate::console::Writer);
    log::error!("==================================================================");
}

/// The page-fault hook: a fault in the pool is reported, its page made
/// accessible, and the access runs again.
fn handle_fault(addr: u64, write: bool, rip: u64) -> bool {
    let addr = addr as usize;
    if !is_kfence_address(addr as *const u8) {
        return false;
    }
    let base = POOL.load(Relaxed);
    let rw = if write { "write" } else { "read" };
    let meta = META.lock();
    let page = addr & !(PAGE - 1);
    match pool::spot(addr - base) {
        Some(Spot::Guard { left, right }) => {
            let info = |i: Option<usize>| i.map(|i| (i, &meta[i]));
            let (l, r) = (info(left), info(right));
            let live = |m: &Meta| m.state == State::Allocated;
            let left_of = l.map(|(_, m)| (m.addr + m.size, live(m)));
            let right_of = r.map(|(_, m)| (m.addr, live(m)));
            let blame = if pool::blame_left(addr, left_of, right_of) {
                l
            } else {
                r
            };
            if let Some((i, m)) = blame {
                let (n, side) = if addr >= m.addr + m.size {
                    (addr - (m.addr + m.size) + 1, "right")
                } else {
                    (m.addr - addr, "left")
                };
                report(
                    Bug::OutOfBounds(rw),
                    addr,
                    i,
                    m,
                    format_args!("Out-of-bounds {rw} at {addr:#x} ({n}B {side} of kfence-#{i}):"),
                    None,
                    Some(rip),
                );
            }
        }
        Some(Spot::Object(i)) if meta[i].state == State::Freed => report(
            Bug::UseAfterFree(rw),
            addr,
            i,
            &meta[i],
            format_args!("Use-after-free {rw} at {addr:#x} (in kfence-#{i}):"),
            None,
            Some(rip),
        ),
        Some(Spot::Object(i)) => report(
            Bug::Invalid(rw),
            addr,
            i,
            &meta[i],
            format_args!("Invalid {rw} at {addr:#x}:"),
            None,
            Some(rip),
        ),
        None => return false,
    }
    vmap_pt::set_present(page as u64, true);
    true
}

#[derive(Clone, Copy)]
enum Bug {
    OutOfBounds(&'static str),
    UseAfterFree(&'static str),
    Invalid(&'static str),
    InvalidFree,
    Corruption,
}

/// What the last report was about (kind, object), for the self-tests.
/// Test hook.
pub static LAST_REPORT: Mutex<Option<(&'static str, usize)>> = Mutex::new(None);

/// Linux's report: the title, the access or free and its stack, the
/// object, who allocated (and freed) it, and the CPU and thread.
fn report(
    bug: Bug,
    _addr: usize,
    i: usize,
    m: &Meta,
    what: core::fmt::Arguments,
    free_caller: Option<&'static Location<'static>>,
    rip: Option<u64>,
) {
    STATS.bugs.fetch_add(1, Relaxed);
    let title = match bug {
        Bug::OutOfBounds(rw) => ("out-of-bounds", rw),
        Bug::UseAfterFree(rw) => ("use-after-free", rw),
        Bug::Invalid(rw) => ("invalid", rw),
        Bug::InvalidFree => ("invalid free", ""),
        Bug::Corruption => ("memory corruption", ""),
    };
    *LAST_REPORT.lock() = Some((title.0, i));
    let mut w = crate::console::Writer;
    let _ = writeln!(
        w,
        "=================================================================="
    );
    let sep = if title.1.is_empty() { "" } else { " " };
    match (rip, free_caller) {
        (Some(rip), _) => {
            let _ = writeln!(w, "BUG: KFENCE: {}{sep}{} in {rip:#x}", title.0, title.1);
        }
        (None, Some(c)) => {
            let _ = writeln!(w, "BUG: KFENCE: {}{sep}{} in {c}", title.0, title.1);
        }
        (None, None) => {
            let _ = writeln!(w, "BUG: KFENCE: {}", title.0);
        }
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "{what}");
    crate::fatal::backtrace(&mut w);
    let _ = writeln!(w);
    let cache = m.cache.map_or("?", |c| c.name);
    let _ = writeln!(
        w,
        "kfence-#{i}: {:#x}-{:#x}, size={}, cache={cache}",
        m.addr,
        m.addr + m.size.max(1) - 1,
        m.size
    );
    for (verb, t) in [("allocated", &m.alloc), ("freed", &m.free)] {
        let Some(caller) = t.caller else { continue };
        let _ = writeln!(w);
        let _ = writeln!(
            w,
            "{verb} by task {} on cpu {} at {}.{:06}s:",
            t.tid,
            t.cpu,
            t.ns / 1_000_000_000,
            t.ns % 1_000_000_000 / 1000
        );
        let _ = writeln!(w, "  at {caller}");
        crate::fatal::print_frames(&mut w, &t.frames[..t.depth]);
    }
    let (tid, name) = current();
    let _ = writeln!(w);
    let _ = writeln!(w, "CPU: {} PID: {tid} Comm: {name}", percpu::cpu_id());
    let _ = writeln!(
        w,
        "=================================================================="
    );
}

/// A line of at most 128 bytes on the stack (reports allocate nothing).
struct Line {
    buf: [u8; 128],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Line {
            buf: [0; 128],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// `kfence stats` (Linux's /sys/kernel/debug/kfence/stats).
pub fn report_stats(w: &mut dyn Write) -> core::fmt::Result {
    let s = &STATS;
    writeln!(w, "enabled: {}", enabled() as u8)?;
    writeln!(w, "currently allocated: {}", s.allocated.load(Relaxed))?;
    writeln!(w, "total allocations: {}", s.allocs.load(Relaxed))?;
    writeln!(w, "total frees: {}", s.frees.load(Relaxed))?;
    writeln!(w, "zombie allocations: 0")?;
    writeln!(w, "total bugs: {}", s.bugs.load(Relaxed))?;
    writeln!(
        w,
        "skipped allocations (incompatible): {}",
        s.skipped_incompatible.load(Relaxed)
    )?;
    writeln!(
        w,
        "skipped allocations (capacity): {}",
        s.skipped_capacity.load(Relaxed)
    )
}
