//! The kernel's page allocator: the `mm` crate's allocator built on this
//! machine's nodes, with page descriptors and node data on each node's own
//! memory, behind Linux's interface (alloc_pages, __free_pages, ...).
//!
//! What the crate leaves to the kernel is done here: zeroing through the
//! direct map (__GFP_ZERO), the failure report unless __GFP_NOWARN, the
//! "Bad page state" report for an invalid free, and calling the reclaim
//! the layer above installs (`set_reclaim`; kswapd, direct reclaim and the
//! OOM killer, in mm/reclaim.rs) with interrupts as the caller had them.

use crate::arch::x86_64::percpu::{CpuPageLists, PerCpu};
use crate::arch::x86_64::tsc;
use crate::mm::{fault_inject, memblock};
use crate::numa::{numa_node_id, topology};
use core::fmt;
use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::{phys_to_virt, virt_to_phys, PAGE_SIZE};
use mm::buddy::{PageMeta, MAX_ORDER};
use mm::gfp::{Gfp, ReclaimContext};
use mm::mempolicy::{NodeMask, Placement};
use mm::movable::CoreSize;
use mm::page_alloc::{AllocError, NoReclaim, Node, PageAllocator, Reclaim, Request};
use mm::pcp::{PcpSet, PerCpuPages};
use mm::setup::{self, NodeStorage, Setup};
use mm::zone::ZoneType;
use numa::NodeId;
use spin::{Mutex, Once};

static PAGE_ALLOC: Once<PageAllocator<'static>> = Once::new();

/// Linux's "no node preference": allocate on the caller's node.
pub const NUMA_NO_NODE: i32 = -1;

pub fn allocator() -> &'static PageAllocator<'static> {
    PAGE_ALLOC
        .get()
        .expect("the page allocator is set up at boot")
}

pub fn is_ready() -> bool {
    PAGE_ALLOC.get().is_some()
}

/// A page frame, as Linux's `struct page *` names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Page(u64);

impl Page {
    pub fn from_pfn(pfn: u64) -> Page {
        Page(pfn)
    }

    pub fn pfn(self) -> u64 {
        self.0
    }

    pub fn phys(self) -> u64 {
        self.0 * PAGE_SIZE
    }

    /// The node whose memory holds the page (page_to_nid).
    pub fn nid(self) -> Option<NodeId> {
        allocator().zone_of(self.0).map(|z| z.node)
    }

    pub fn zone(self) -> Option<ZoneType> {
        allocator().zone_of(self.0).map(|z| z.kind)
    }
}

/// The page's address in the direct map.
pub fn page_address(page: Page) -> *mut u8 {
    phys_to_virt(page.phys()) as *mut u8
}

/// The page holding a direct-map address.
pub fn virt_to_page(addr: *const u8) -> Option<Page> {
    virt_to_phys(addr as u64).map(|p| Page(p / PAGE_SIZE))
}

/// Allocates 2^order pages where the caller's memory policy sends them:
/// by default on the caller's node, falling back by distance.
#[track_caller]
#[inline(always)]
pub fn alloc_pages(gfp: Gfp, order: u32) -> Option<Page> {
    if super::alloc_hooks::fault_checks()
        && fault_inject::should_fail_alloc_page(gfp, order, Location::caller())
    {
        return None;
    }
    if super::mempolicy::in_force() {
        return alloc_under_policy(gfp, order, Location::caller());
    }
    alloc_on(NUMA_NO_NODE, gfp, order, Location::caller())
}

/// alloc_pages once some policy is in force (this request may still
/// ignore it: then the local path).
#[inline(never)]
fn alloc_under_policy(gfp: Gfp, order: u32, caller: &'static Location) -> Option<Page> {
    match super::mempolicy::placement(gfp) {
        None => alloc_on(NUMA_NO_NODE, gfp, order, caller),
        Some(p) => alloc_placed(p, gfp, order, caller),
    }
}

/// An allocation under a policy: interleaved ones and node lists take the
/// full path (it counts interleave_hit and honours the list); prefer (many)
/// tries its nodes without reclaim first, then anywhere.
#[inline(never)]
fn alloc_placed(p: Placement, gfp: Gfp, order: u32, caller: &'static Location) -> Option<Page> {
    if p.allowed.is_none() && !p.interleave {
        return alloc(Some(p.node), gfp, order, false, caller);
    }
    if p.then_anywhere {
        let first = (gfp | Gfp::NOWARN).without(Gfp::DIRECT_RECLAIM.union(Gfp::NOFAIL));
        if let Some(page) = alloc_slow(Some(p.node), first, order, false, p.allowed, caller) {
            return Some(page);
        }
        return alloc_slow(Some(p.node), gfp, order, false, None, caller);
    }
    alloc_slow(Some(p.node), gfp, order, p.interleave, p.allowed, caller)
}

/// Allocates 2^order pages preferring node `nid` (NUMA_NO_NODE: the
/// caller's node). None when the request cannot be met; reported unless
/// __GFP_NOWARN.
#[track_caller]
#[inline(always)]
pub fn alloc_pages_node(nid: i32, gfp: Gfp, order: u32) -> Option<Page> {
    if super::alloc_hooks::fault_checks()
        && fault_inject::should_fail_alloc_page(gfp, order, Location::caller())
    {
        return None;
    }
    alloc_on(nid, gfp, order, Location::caller())
}

/// alloc_pages_node past its fault-injection check.
#[inline(always)]
fn alloc_on(nid: i32, gfp: Gfp, order: u32, caller: &'static Location) -> Option<Page> {
    let node = node_arg(nid, "alloc_pages_node", caller)?;
    alloc(node, gfp, order, false, caller)
}

/// A caller's node number: Some(None) for NUMA_NO_NODE, Some(Some(n))
/// for a node that exists; None (reported) for any other value.
#[inline(always)]
fn node_arg(nid: i32, what: &str, caller: &Location) -> Option<Option<NodeId>> {
    match nid {
        NUMA_NO_NODE => Some(None),
        n if n >= 0 && (n as usize) < topology().node_count() => Some(Some(n as usize)),
        n => {
            no_such_node(n, what, caller);
            None
        }
    }
}

#[cold]
fn no_such_node(n: i32, what: &str, caller: &Location) {
    log::error!(
        "{what}: no node {n} (nodes 0-{}) from {caller}",
        topology().node_count() - 1,
    );
}

/// An interleaved allocation: round robin over the nodes with memory,
/// counted as interleave_hit when it lands where it was sent.
/// Test hook: only the page_alloc self-tests call it (no caller sets an
/// interleave policy yet).
#[track_caller]
pub fn alloc_pages_interleave(gfp: Gfp, order: u32) -> Option<Page> {
    if super::alloc_hooks::fault_checks()
        && fault_inject::should_fail_alloc_page(gfp, order, Location::caller())
    {
        return None;
    }
    let node = allocator().next_interleave_node()?;
    alloc_slow(Some(node), gfp, order, true, None, Location::caller())
}

/// Linux's alloc_pages_bulk_array_node: `count` order-0 pages preferring
/// node `nid` (NUMA_NO_NODE: the caller's), each handed to `put`. Most come
/// from the CPU's list in one pass (refilled from the zone as it runs dry,
/// or straight from the zone while the list is empty, interrupts masked
/// once per 64 pages); the rest, if the fast path stops,
/// one by one through the full path. Returns how many were given: fewer
/// than `count` only when an allocation failed (reported unless
/// __GFP_NOWARN), and the caller owns those it got.
#[track_caller]
pub fn alloc_pages_bulk_node(nid: i32, gfp: Gfp, count: usize, mut put: impl FnMut(Page)) -> usize {
    // One more than the largest per-CPU batch (63): a chunk that finds
    // the list empty takes its pages from the zone directly.
    const CHUNK: usize = 64;
    // One check for the call, as Linux's prepare_alloc_pages.
    if super::alloc_hooks::fault_checks()
        && fault_inject::should_fail_alloc_page(gfp, 0, Location::caller())
    {
        return 0;
    }
    let Some(node) = node_arg(nid, "alloc_pages_bulk_node", Location::caller()) else {
        return 0;
    };
    if node.is_none() && super::mempolicy::applies(gfp) {
        // Under a policy each page is placed as the policy says (Linux's
        // alloc_pages_bulk_mempolicy), one by one.
        let mut given = 0;
        while given < count {
            match alloc_pages(gfp, 0) {
                Some(p) => put(p),
                None => break,
            }
            given += 1;
        }
        return given;
    }
    let mut given = 0;
    let local = this_cpu_lists();
    might_sleep_fast(gfp, Location::caller(), local);
    if let Some(LocalLists {
        pcp,
        node: cpu_node,
        allocator: a,
        ..
    }) = local
    {
        let target = node.unwrap_or(cpu_node);
        let mut chunk = [0u64; CHUNK];
        while given < count {
            let want = (count - given).min(CHUNK);
            let mut n = 0;
            x86_64::instructions::interrupts::without_interrupts(|| {
                a.alloc_bulk(pcp, cpu_node, target, gfp, want, |pfn| {
                    chunk[n] = pfn;
                    n += 1;
                })
            });
            // Zeroing and the caller's code run with interrupts as they were.
            for &pfn in &chunk[..n] {
                if gfp.contains(Gfp::ZERO) {
                    zero_block(Page(pfn), 0);
                }
                put(Page(pfn));
            }
            given += n;
            if n < want {
                break;
            }
        }
    }
    while given < count {
        match alloc(node, gfp, 0, false, Location::caller()) {
            Some(page) => put(page),
            None => break,
        }
        given += 1;
    }
    given
}

/// 2^order pages' direct-map address, or 0.
#[track_caller]
pub fn __get_free_pages(gfp: Gfp, order: u32) -> usize {
    alloc(None, gfp, order, false, Location::caller()).map_or(0, |p| page_address(p) as usize)
}

/// One zeroed page's direct-map address, or 0.
#[track_caller]
pub fn get_zeroed_page(gfp: Gfp) -> usize {
    __get_free_pages(gfp | Gfp::ZERO, 0)
}

/// Frees 2^order pages. An invalid free (double free, reserved page, wrong
/// order, not a page of any zone) is reported and changes nothing.
#[track_caller]
#[inline(always)]
pub fn __free_pages(page: Page, order: u32) {
    if let Some(local) = this_cpu_lists() {
        if local
            .allocator
            .free_fast(local.pcp, page.pfn(), order as usize)
        {
            return;
        }
    }
    free_pages_slow(page, order, Location::caller())
}

/// Everything a free does beyond the CPU's list: trimming it, zones
/// without lists, orders above 3, and the report of a bad free.
#[inline(never)]
fn free_pages_slow(page: Page, order: u32, caller: &Location) {
    let result = x86_64::instructions::interrupts::without_interrupts(|| {
        allocator().free(page.pfn(), order as usize, this_cpu_pcp())
    });
    if let Err(e) = result {
        log::error!(
            "BUG: Bad page state: {e}; __free_pages(pfn {:#x}, order {order}) from {caller} ignored",
            page.pfn(),
        );
    }
}

/// Frees the pages at a direct-map address from __get_free_pages; 0 is ignored.
#[track_caller]
pub fn free_pages(addr: usize, order: u32) {
    if addr == 0 {
        return;
    }
    match virt_to_page(addr as *const u8) {
        Some(page) if (addr as u64).is_multiple_of(PAGE_SIZE) => __free_pages(page, order),
        _ => log::error!(
            "BUG: free_pages({addr:#x}, {order}) from {}: not a page of the direct map; ignored",
            Location::caller()
        ),
    }
}

/// What the allocator asked of reclaim, for the self-tests and reports.
pub struct ReclaimCalls {
    pub kswapd_wakeups: AtomicU64,
    pub direct_reclaim_passes: AtomicU64,
    pub nofail_waits: AtomicU64,
    pub last_context: Mutex<Option<ReclaimContext>>,
}

pub static RECLAIM_CALLS: ReclaimCalls = ReclaimCalls {
    kswapd_wakeups: AtomicU64::new(0),
    direct_reclaim_passes: AtomicU64::new(0),
    nofail_waits: AtomicU64::new(0),
    last_context: Mutex::new(None),
};

/// The running CPU's page lists (none before its per-CPU area exists).
#[inline(always)]
fn this_cpu_pcp() -> Option<PcpSet<'static>> {
    this_cpu_lists().map(|l| l.pcp)
}

/// What a fast path works with: the running CPU's lists, its node, and
/// the allocator (found with the lists, so it takes no check of its own).
#[derive(Clone, Copy)]
struct LocalLists {
    cpu: &'static PerCpu,
    pcp: PcpSet<'static>,
    node: NodeId,
    allocator: &'static PageAllocator<'static>,
}

/// The running CPU's [`LocalLists`], once it has lists.
#[inline(always)]
fn this_cpu_lists() -> Option<LocalLists> {
    let cpu = crate::arch::x86_64::percpu::this_cpu()?;
    let set = cpu.pcp.get()?;
    Some(LocalLists {
        // SAFETY: these are the running CPU's own lists, and nothing moves
        // a thread to another CPU (there is no preemption); interrupt
        // handlers on this CPU reach them only through the same busy flag.
        pcp: unsafe { PcpSet::new(set.lists) },
        node: cpu.node,
        allocator: set.allocator,
        cpu,
    })
}

/// A zone's free pages counting those parked on every CPU's lists (what
/// a conservation check must compare; the zone's own count leaves them out).
pub fn zone_free_with_lists(zone: &mm::page_alloc::Zone) -> u64 {
    zone.free_pages() + allocator().parked_pages(zone)
}

/// Every zone's free pages with those parked on the CPUs' lists: the
/// total a leak check compares before and after.
pub fn free_pages_with_lists() -> u64 {
    allocator().zones().map(zone_free_with_lists).sum()
}

/// When each CPU last decayed its lists' `high` (ns since boot).
static PCP_DECAYED_NS: [AtomicU64; numa::MAX_CPUS] = [const { AtomicU64::new(0) }; numa::MAX_CPUS];
/// How often a CPU decays its lists' `high`: Linux's vmstat interval.
const PCP_DECAY_INTERVAL_NS: u64 = 1_000_000_000;

/// Linux's decay_pcp_high from its vmstat worker, here from the CPU's idle
/// loop: at most once a second, each of this CPU's lists has its `high`
/// brought an eighth of the way back to high_min and the pages past it
/// trimmed, so that a CPU that once freed in bulk does not keep them for
/// good.
pub fn decay_pcp_high() {
    if !is_ready() {
        return;
    }
    let Some(own) = this_cpu_pcp() else {
        return;
    };
    let Some(last) = PCP_DECAYED_NS.get(crate::arch::x86_64::percpu::cpu_id() as usize) else {
        return;
    };
    let now = tsc::ns_since_boot();
    if now.saturating_sub(last.load(Relaxed)) < PCP_DECAY_INTERVAL_NS {
        return;
    }
    last.store(now, Relaxed);
    x86_64::instructions::interrupts::without_interrupts(|| allocator().decay_pcp(own));
}

/// Gives this CPU's page lists back to the buddy allocators (Linux's
/// drain_local_pages): compaction calls it after migrating, so that the
/// pages it freed merge into the blocks it is making instead of waiting
/// on its lists. False when an interrupted user on this CPU had them.
pub fn drain_local_pages() -> bool {
    this_cpu_pcp().is_none_or(|own| {
        x86_64::instructions::interrupts::without_interrupts(|| allocator().drain_pcp(own))
    })
}

/// Gives every CPU's page lists back to the buddy allocators, each CPU
/// draining its own, by IPI (Linux's drain_all_pages). A CPU whose IPI
/// landed inside its own fast path cannot drain then; it is asked again
/// (the fast path is a few instructions long, and nothing preempts it).
pub fn drain_all_pages() {
    for _ in 0..1000 {
        let busy = AtomicU64::new(0);
        let r = crate::arch::x86_64::ipi::on_each_cpu(&|_| {
            if !drain_local_pages() {
                busy.fetch_add(1, Relaxed);
            }
        });
        if let Err(e) = r {
            log::error!("drain_all_pages: {e:?}");
            return;
        }
        if busy.load(Relaxed) == 0 {
            return;
        }
        core::hint::spin_loop();
    }
    log::error!("drain_all_pages: a CPU stayed inside its page fast path; its lists were kept");
}

/// Gives CPU `cpu`'s lists a home on its node: one list set per populated
/// zone, registered with the allocator for the reports.
pub fn alloc_pcp_lists(cpu: usize, node: NodeId) -> Option<CpuPageLists> {
    let count = allocator().nr_pcp_zones();
    let bytes = (count * core::mem::size_of::<PerCpuPages>()) as u64;
    let order = bytes
        .div_ceil(PAGE_SIZE)
        .next_power_of_two()
        .trailing_zeros();
    let page = alloc_pages_node(node as i32, Gfp::KERNEL, order)?;
    // SAFETY: a fresh block large enough for `count` lists, never freed.
    let lists: &'static [PerCpuPages] = unsafe {
        mm::raw::init_slice(
            page_address(page) as *mut PerCpuPages,
            count,
            PerCpuPages::new,
        )
    };
    if !allocator().register_pcp(cpu, lists) {
        log::warn!("CPU {cpu}: its page lists are not counted in the reports");
    }
    Some(CpuPageLists {
        lists,
        allocator: allocator(),
    })
}

/// The reclaim the allocator calls when memory is short (kswapd, direct
/// reclaim, the OOM killer, waiting), installed by the reclaim layer at
/// init; none before (the allocator then just fails or spins).
static RECLAIM: Once<&'static (dyn Reclaim + Sync)> = Once::new();

/// Installs the allocator's reclaim (once; `mm::reclaim::init`).
pub fn set_reclaim(reclaim: &'static (dyn Reclaim + Sync)) {
    RECLAIM.call_once(|| reclaim);
}

/// The installed reclaim as one allocation sees it: each call counted,
/// and work that may sleep run with interrupts as the caller had them
/// (the allocator itself runs with them off).
struct AsCaller {
    irqs_on: bool,
    reclaim: &'static (dyn Reclaim + Sync),
}

impl AsCaller {
    fn new(irqs_on: bool) -> Self {
        static NONE: NoReclaim = NoReclaim;
        AsCaller {
            irqs_on,
            reclaim: RECLAIM.get().copied().unwrap_or(&NONE),
        }
    }

    /// Runs `f` with interrupts as the caller had them.
    fn as_caller<R>(&self, f: impl FnOnce() -> R) -> R {
        if self.irqs_on {
            x86_64::instructions::interrupts::enable();
            let r = f();
            x86_64::instructions::interrupts::disable();
            r
        } else {
            f()
        }
    }
}

impl Reclaim for AsCaller {
    fn wake_kswapd(&self, node: NodeId, order: usize, highest: ZoneType, gfp: Gfp) {
        RECLAIM_CALLS.kswapd_wakeups.fetch_add(1, Relaxed);
        self.reclaim.wake_kswapd(node, order, highest, gfp);
    }

    fn direct_reclaim(&self, ctx: ReclaimContext, order: usize, node: NodeId) -> u64 {
        RECLAIM_CALLS.direct_reclaim_passes.fetch_add(1, Relaxed);
        *RECLAIM_CALLS.last_context.lock() = Some(ctx);
        self.as_caller(|| self.reclaim.direct_reclaim(ctx, order, node))
    }

    fn out_of_memory(&self, gfp: Gfp, order: usize, allowed: Option<NodeMask>) -> bool {
        self.irqs_on && self.as_caller(|| self.reclaim.out_of_memory(gfp, order, allowed))
    }

    /// Every CPU's lists by IPI when the caller had interrupts on (one
    /// with them off could wait forever on a CPU that waits for it; Linux
    /// drains others only from direct reclaim). The allocator has drained
    /// this CPU's lists just before.
    fn drain_all_pages(&self) {
        if self.irqs_on && crate::preempt::scheduling() {
            self.as_caller(drain_all_pages);
        }
    }

    /// Compaction runs with the caller's interrupts, as direct reclaim.
    fn compact(&self, order: usize, node: NodeId, highest: ZoneType, sync: bool) -> Option<bool> {
        if !self.irqs_on {
            return None;
        }
        self.as_caller(|| self.reclaim.compact(order, node, highest, sync))
    }

    fn compaction_outcome(&self, got_page: bool) {
        self.reclaim.compaction_outcome(got_page);
    }

    fn nofail_wait(&self, attempt: u64) {
        RECLAIM_CALLS.nofail_waits.fetch_add(1, Relaxed);
        if attempt.is_power_of_two() && attempt >= 1 << 16 {
            log::warn!("page allocation stalls: __GFP_NOFAIL retried {attempt} times");
        }
        if self.irqs_on {
            // The reclaim layer sleeps if this context may.
            self.as_caller(|| self.reclaim.nofail_wait(attempt));
        } else {
            core::hint::spin_loop();
        }
    }
}

/// Allocation-failure reports and warnings, counted even when not printed
/// (the count rate-limits the printing; the self-tests read it to see that
/// a warning fired).
pub static FAILURE_REPORTS: AtomicU64 = AtomicU64::new(0);
/// __GFP_NOFAIL above order 1 warnings (the first is printed).
pub static NOFAIL_ORDER_WARNINGS: AtomicU64 = AtomicU64::new(0);
/// Full reports printed before they are only counted (Linux rate-limits too).
const FAILURE_REPORT_BURST: u64 = 10;

/// Might-sleep warnings: a GFP_KERNEL-style allocation (one that may
/// reclaim) with interrupts off or inside an interrupt handler.
pub static MIGHT_SLEEP_WARNINGS: AtomicU64 = AtomicU64::new(0);

///
/// The fast path checks only for interrupt context (one per-CPU load);
/// reading the interrupt flag (pushf) costs more than the rest of the fast
/// path under TCG, so "interrupts off in process context" is caught where
/// the allocation could really sleep: on the slow path (Linux checks
/// neither without CONFIG_DEBUG_ATOMIC_SLEEP).
/// `fast`: the fast path's check; else the slow path's, which looks at
/// interrupt context too unless the fast path did (`fast_checked`).
#[inline(always)]
fn might_sleep(gfp: Gfp, caller: &Location, fast: bool, fast_checked: bool) {
    if !gfp.can_direct_reclaim() || !crate::preempt::scheduling() {
        return;
    }
    if crate::arch::x86_64::interrupts::in_interrupt() {
        if !fast_checked {
            might_sleep_warning(gfp, caller, true);
        }
    } else if !fast && !x86_64::instructions::interrupts::are_enabled() {
        might_sleep_warning(gfp, caller, false);
    }
}

/// The fast path's check, `might_sleep(.., true, false)` on the CPU its
/// lists came with (no second look at the per-CPU pointer).
#[inline(always)]
fn might_sleep_fast(gfp: Gfp, caller: &Location, local: Option<LocalLists>) {
    match local {
        Some(l) => {
            if gfp.can_direct_reclaim()
                && l.cpu.irq_depth.load(Relaxed) > 0
                && crate::preempt::scheduling()
            {
                might_sleep_warning(gfp, caller, true);
            }
        }
        None => might_sleep(gfp, caller, true, false),
    }
}

#[cold]
fn might_sleep_warning(gfp: Gfp, caller: &Location, in_irq: bool) {
    // Counted every time, said once.
    if MIGHT_SLEEP_WARNINGS.fetch_add(1, Relaxed) == 0 {
        log::warn!(
            "BUG: sleeping function called from invalid context at {caller}: {:?} with {}",
            gfp,
            if in_irq {
                "an interrupt handler running"
            } else {
                "interrupts disabled"
            }
        );
    }
}

#[inline(always)]
fn alloc(
    node: Option<NodeId>,
    gfp: Gfp,
    order: u32,
    interleave: bool,
    caller: &Location,
) -> Option<Page> {
    if gfp.contains(Gfp::NOFAIL) && order > 1 {
        nofail_order_warning(order, caller);
    }
    if !interleave {
        let local = this_cpu_lists();
        might_sleep_fast(gfp, caller, local);
        if let Some(LocalLists {
            pcp,
            node: cpu_node,
            allocator: a,
            ..
        }) = local
        {
            let target = node.unwrap_or(cpu_node);
            // Orders 0 to 3 and huge blocks from the CPU's lists; other
            // orders, and a huge block the lists lack, from the zone.
            let got = a
                .alloc_fast(pcp, cpu_node, target, gfp, order as usize)
                .or_else(|| {
                    (order as usize > mm::pcp::PCP_MAX_ORDER).then(|| {
                        x86_64::instructions::interrupts::without_interrupts(|| {
                            a.alloc_buddy_fast(pcp, cpu_node, target, gfp, order as usize)
                        })
                    })?
                });
            if let Some(pfn) = got {
                let page = Page(pfn);
                if gfp.contains(Gfp::ZERO) {
                    zero_block(page, order);
                }
                return Some(page);
            }
        }
    }
    alloc_slow(node, gfp, order, interleave, None, caller)
}

#[cold]
fn nofail_order_warning(order: u32, caller: &Location) {
    // Linux warns once: large blocks cannot be promised.
    if NOFAIL_ORDER_WARNINGS.fetch_add(1, Relaxed) == 0 {
        log::warn!("__GFP_NOFAIL allocation of order {order} (above 1) from {caller}");
    }
}

fn zero_block(page: Page, order: u32) {
    // SAFETY: the block was just allocated to this caller, so nothing
    // else refers to it, and all RAM is in the direct map.
    unsafe { core::ptr::write_bytes(page_address(page), 0, (PAGE_SIZE << order) as usize) };
}

/// Everything beyond the CPU's list: refills, other zones, named nodes,
/// interleave, reclaim, and the failure report.
#[inline(never)]
fn alloc_slow(
    node: Option<NodeId>,
    gfp: Gfp,
    order: u32,
    interleave: bool,
    allowed: Option<NodeMask>,
    caller: &Location,
) -> Option<Page> {
    might_sleep(gfp, caller, false, !interleave);
    let req = Request {
        gfp,
        order: order as usize,
        node,
        cpu_node: numa_node_id(),
        interleave,
        allowed,
        pcp: this_cpu_pcp(),
    };
    // A caller that may not sleep must not: any attempt is a "scheduling
    // while atomic" bug report instead of a sleep.
    let _atomic = (!gfp.can_direct_reclaim()).then(crate::preempt::atomic_section);
    let reclaim = AsCaller::new(x86_64::instructions::interrupts::are_enabled());
    // Interrupt handlers allocate too: no zone lock is ever held with
    // interrupts on (Linux's spin_lock_irqsave on zone->lock).
    let result =
        x86_64::instructions::interrupts::without_interrupts(|| allocator().alloc(req, &reclaim));
    match result {
        Ok(got) => {
            let page = Page(got.pfn);
            if gfp.contains(Gfp::ZERO) {
                zero_block(page, order);
            }
            Some(page)
        }
        Err(e) => {
            report_failure(&req, e, caller);
            None
        }
    }
}

struct Why(AllocError);
impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AllocError::OrderTooLarge => write!(f, "order above MAX_ORDER {MAX_ORDER}"),
            AllocError::BadMask(b) => write!(f, "{b}"),
            AllocError::NoEligibleZone => write!(f, "no zone this mask may use on this node"),
            AllocError::NoMemory { reclaim_passes } => {
                write!(
                    f,
                    "all eligible zones at their watermarks after {reclaim_passes} reclaim passes"
                )
            }
        }
    }
}

fn report_failure(req: &Request, e: AllocError, caller: &Location) {
    // An invalid mask is a bug in the caller: said even under NOWARN.
    let invalid = matches!(e, AllocError::BadMask(_));
    if req.gfp.contains(Gfp::NOWARN) && !invalid {
        return;
    }
    let n = FAILURE_REPORTS.fetch_add(1, Relaxed);
    if n >= FAILURE_REPORT_BURST {
        if n == FAILURE_REPORT_BURST {
            log::warn!("page allocation failure reports: further ones only counted");
        }
        return;
    }
    let mut who = heapless_name::Name::new();
    let _ = fmt::Write::write_fmt(&mut who, format_args!("{caller}"));
    let mut out = crate::console::Writer;
    let _ = mm::report::allocation_failure(
        &mut out,
        allocator(),
        who.as_str(),
        req.gfp,
        req.order,
        req.node,
        &Why(e),
    );
}

mod heapless_name {
    /// A short caller name without a heap.
    pub struct Name {
        buf: [u8; 96],
        len: usize,
    }
    impl Name {
        pub fn new() -> Self {
            Name {
                buf: [0; 96],
                len: 0,
            }
        }
        pub fn as_str(&self) -> &str {
            core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
        }
    }
    impl core::fmt::Write for Name {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &b in s.as_bytes() {
                if self.len < self.buf.len() {
                    self.buf[self.len] = b;
                    self.len += 1;
                }
            }
            Ok(())
        }
    }
}

/// Page-table pages once the allocator exists: zeroed order-0 pages on
/// the node the mapping serves.
struct PageTables;

impl crate::arch::x86_64::paging::TableFrames for PageTables {
    fn alloc_table(&self, node: i32) -> Option<u64> {
        alloc_pages_node(node, Gfp::KERNEL | Gfp::ZERO, 0).map(Page::phys)
    }

    fn alloc_vmalloc_table(&self, node: i32) -> Option<u64> {
        let gfp = Gfp::KERNEL | Gfp::ZERO;
        if super::alloc_hooks::fault_checks()
            && fault_inject::should_fail_vmalloc(gfp, Location::caller())
        {
            return None;
        }
        self.alloc_table(node)
    }

    fn free_table(&self, phys: u64) {
        __free_pages(Page(phys / PAGE_SIZE), 0);
    }

    fn is_page_allocator(&self) -> bool {
        true
    }
}

/// Page descriptors and node data from each node's own memory.
struct NodeLocal;

impl NodeLocal {
    fn place<T>(node: NodeId, count: usize) -> *mut T {
        let size = (core::mem::size_of::<T>() * count) as u64;
        let align = core::mem::align_of::<T>() as u64;
        match memblock::alloc_on_node(node, size, align) {
            Ok(phys) => phys_to_virt(phys) as *mut T,
            Err(e) => panic!("no memory for {size} bytes of page-allocator data: {e:?}"),
        }
    }
}

impl NodeStorage<'static> for NodeLocal {
    fn page_meta(&mut self, node: NodeId, count: usize) -> &'static mut [PageMeta] {
        let p = Self::place::<PageMeta>(node, count);
        // SAFETY: memblock reserved this memory for good: RAM in the direct
        // map, aligned for PageMeta, room for `count` of them, never handed
        // to anyone else.
        unsafe { mm::raw::page_meta_from_raw(p, count) }
    }

    fn page_state(
        &mut self,
        node: NodeId,
        count: usize,
    ) -> &'static [core::sync::atomic::AtomicU8] {
        let p = Self::place::<u8>(node, count);
        // SAFETY: as above, for `count` bytes.
        unsafe { mm::raw::atomic_bytes_from_raw(p, count) }
    }

    fn pcp_links(&mut self, node: NodeId, count: usize) -> &'static [mm::pcp::PcpLink] {
        let p = Self::place::<mm::pcp::PcpLink>(node, count);
        // SAFETY: as above, for `count` links.
        unsafe { mm::raw::pcp_links_from_raw(p, count) }
    }

    fn node(&mut self, node: NodeId, data: Node<'static>) -> &'static mut Node<'static> {
        let p = Self::place::<Node<'static>>(node, 1);
        // SAFETY: as above, for one Node.
        unsafe { mm::raw::place(p, data) }
    }
}

fn core_size(a: cmdline::MemAmount) -> CoreSize {
    match a {
        cmdline::MemAmount::Bytes(b) => CoreSize::Pages(b / PAGE_SIZE),
        cmdline::MemAmount::Percent(p) => CoreSize::Percent(p),
    }
}

/// Builds the zones of every node, hands memblock's free memory to them
/// and logs the result as Linux's boot log does.
pub fn init(settings: &cmdline::Settings) {
    let topo = topology();
    let mut setup = Setup {
        kernelcore: settings.kernelcore.map(core_size),
        movablecore: settings.movablecore.map(core_size),
        min_free_kbytes: settings.min_free_kbytes,
        ..Setup::default()
    };
    // Persistent memory: each region its node's ZONE_DEVICE.
    for r in super::pmem::regions() {
        if setup.nr_device < setup.device.len() {
            setup.device[setup.nr_device] = (
                super::pmem::node_of(&r),
                r.start / PAGE_SIZE,
                r.end / PAGE_SIZE,
            );
            setup.nr_device += 1;
        }
    }
    // Coldplugged memory devices: ZONE_MOVABLE from their first page.
    for d in memblock::device_memory() {
        if let Some(node) = topo.node_of_addr(d.start) {
            if setup.nr_movable_from < setup.movable_from.len() {
                setup.movable_from[setup.nr_movable_from] = (node, d.start / PAGE_SIZE);
                setup.nr_movable_from += 1;
            }
        }
    }
    // The slab frame map, for the RAM present now (from memblock, before
    // it hands its memory over).
    let end_pfn = topo.memory().iter().map(|r| r.end).max().unwrap_or(0) / PAGE_SIZE;
    super::slab::reserve_slab_map(end_pfn);
    let start = tsc::ns_since_boot();
    let (built, cost) = setup::build(topo, &setup, &mut NodeLocal, &mut |give| {
        memblock::retire(give)
    });
    let a = PAGE_ALLOC.call_once(|| built);
    // Page tables take their pages from here on.
    crate::arch::x86_64::paging::set_table_frames(&PageTables);
    let took_us = (tsc::ns_since_boot() - start) / 1000;
    for node in a.nodes() {
        for z in node.zones.iter().filter(|z| z.is_populated()) {
            log::info!(
                "  node {} {:<7} [mem {:#018x}-{:#018x}] present {} managed {} pages",
                node.id,
                z.kind.name(),
                z.span.start_pfn * PAGE_SIZE,
                z.span.end_pfn * PAGE_SIZE - 1,
                z.present(),
                z.managed()
            );
        }
    }
    for z in a.zones().filter(|z| z.is_hotplug()) {
        log::info!(
            "  node {} Movable for hot-added memory: [mem {:#018x}-{:#018x}], descriptors {} KiB reserved",
            z.node,
            z.span.start_pfn * PAGE_SIZE,
            z.span.end_pfn * PAGE_SIZE - 1,
            (z.span.spanned() * mm::setup::PER_FRAME_BYTES as u64) >> 10
        );
    }
    for node in a.nodes() {
        let mut order = heapless_name::Name::new();
        for n in node.zonelist.nodes() {
            let _ = fmt::Write::write_fmt(&mut order, format_args!(" {n}"));
        }
        log::info!("Fallback order for Node {}:{}", node.id, order.as_str());
    }
    let bp = cost.overhead_basis_points();
    log::info!(
        "page descriptors: {} KiB ({} + 1 state byte + {} of per-CPU list link a page) + node data {} KiB for {} MiB of RAM: {}.{:02}% (Linux's 64-byte struct page: 1.56%)",
        cost.descriptor_bytes >> 10,
        core::mem::size_of::<PageMeta>(),
        core::mem::size_of::<mm::pcp::PcpLink>(),
        cost.node_bytes >> 10,
        (cost.present_pages * PAGE_SIZE) >> 20,
        bp / 100,
        bp % 100
    );
    if let Some(asked) = setup.min_free_kbytes.filter(|&k| k != a.min_free_kbytes()) {
        log::warn!(
            "min_free_kbytes={asked} would leave too little memory to run; clamped to {} (an eighth of kernel-usable memory)",
            a.min_free_kbytes()
        );
    }
    let managed: u64 = a.zones().map(|z| z.managed()).sum();
    log::info!(
        "Built {} zonelists. Total pages: {managed}; min_free_kbytes {}{}; set up in {took_us} us",
        a.nodes().count(),
        a.min_free_kbytes(),
        if setup.min_free_kbytes.is_some() {
            " (min_free_kbytes=)"
        } else {
            ""
        }
    );
}
