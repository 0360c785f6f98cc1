//! Reclaim: kswapd per node and direct reclaim, over the page cache's LRU
//! lists and the shrinkers (Linux's mm/vmscan.c).
//!
//! - The allocator wakes a node's kswapd when its fast path finds every
//!   zone below the low watermark. kswapd reclaims until each of the node's
//!   DMA32 and NORMAL zones is back at its high watermark, then sleeps. After
//!   MAX_RECLAIM_RETRIES passes that free nothing it stops answering
//!   wake-ups until direct reclaim frees something on that node (Linux's
//!   kswapd_failures).
//! - Direct reclaim runs in the allocating thread when the slow path found
//!   nothing even at the min watermark and the caller may sleep. It walks
//!   the preferred node's zonelist, each node at falling priority (12 to 0:
//!   a 4096th of the lists, then more), until SWAP_CLUSTER_MAX << order
//!   pages are free.
//! - What reclaim may touch follows the caller's flags: without __GFP_IO or
//!   __GFP_FS dirty pages are passed over and the shrinkers that declare the
//!   need are not called.
//! - A thread doing reclaim is marked MEMALLOC, so the allocations of the
//!   code it calls never recurse into reclaim.

use super::page_alloc::{allocator, zone_free_with_lists};
use super::{pagecache, shrinker};
use crate::numa::topology;
use crate::sched::{self, flags, Binding, Thread, WaitQueue};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use mm::gfp::ReclaimContext;
use mm::page_alloc::MAX_RECLAIM_RETRIES;
use mm::zone::{ZoneType, NR_ZONES};
use numa::{NodeId, MAX_NUMNODES};
use spin::Once;

/// Pages one reclaim pass aims to free (Linux's SWAP_CLUSTER_MAX).
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// The gentlest priority: scan a 4096th of the lists.
pub const DEF_PRIORITY: u32 = 12;

/// /proc/vmstat's reclaim lines.
pub struct VmStat {
    pub pgscan_kswapd: AtomicU64,
    pub pgscan_direct: AtomicU64,
    pub pgsteal_kswapd: AtomicU64,
    pub pgsteal_direct: AtomicU64,
    pub slabs_scanned: AtomicU64,
    /// Wake-ups that found kswapd asleep (a sleeping kswapd set running).
    pub kswapd_wakeups: AtomicU64,
    /// Direct reclaim entries (Linux's allocstall).
    pub allocstall: AtomicU64,
    pub kswapd_high_wmark_restored: AtomicU64,
    pub oom_kill: AtomicU64,
    /// Pages reclaim moved to a lower memory tier (Linux's pgdemote_*).
    pub pgdemote_kswapd: AtomicU64,
    pub pgdemote_direct: AtomicU64,
}

pub static VMSTAT: VmStat = VmStat {
    pgscan_kswapd: AtomicU64::new(0),
    pgscan_direct: AtomicU64::new(0),
    pgsteal_kswapd: AtomicU64::new(0),
    pgsteal_direct: AtomicU64::new(0),
    slabs_scanned: AtomicU64::new(0),
    kswapd_wakeups: AtomicU64::new(0),
    allocstall: AtomicU64::new(0),
    kswapd_high_wmark_restored: AtomicU64::new(0),
    oom_kill: AtomicU64::new(0),
    pgdemote_kswapd: AtomicU64::new(0),
    pgdemote_direct: AtomicU64::new(0),
};

/// One node's kswapd.
pub struct Kswapd {
    pub thread: Once<Arc<Thread>>,
    wait: WaitQueue,
    /// A wake-up is pending.
    pending: AtomicBool,
    /// Reclaiming now.
    pub running: AtomicBool,
    /// Passes in a row that freed nothing.
    pub failures: AtomicU32,
    /// Wake-ups of this node's kswapd, and passes it made.
    pub wakeups: AtomicU64,
    pub passes: AtomicU64,
    pub reclaimed: AtomicU64,
    /// Wake-ups that came with a zone of the node below its low watermark.
    pub woken_below_low: AtomicU64,
    /// The largest order and the lowest highest zone of the wake-ups
    /// since the last pass, for kcompactd once the node is balanced.
    order: AtomicUsize,
    highest: AtomicUsize,
}

static KSWAPD: [Kswapd; MAX_NUMNODES] = [const {
    Kswapd {
        thread: Once::new(),
        wait: WaitQueue::new(),
        pending: AtomicBool::new(false),
        running: AtomicBool::new(false),
        failures: AtomicU32::new(0),
        wakeups: AtomicU64::new(0),
        passes: AtomicU64::new(0),
        reclaimed: AtomicU64::new(0),
        woken_below_low: AtomicU64::new(0),
        order: AtomicUsize::new(0),
        highest: AtomicUsize::new(NR_ZONES - 1),
    }
}; MAX_NUMNODES];

pub fn kswapd(node: NodeId) -> &'static Kswapd {
    &KSWAPD[node]
}

/// The node's populated zones.
fn node_zones(node: NodeId) -> impl Iterator<Item = &'static mm::page_alloc::Zone<'static>> {
    allocator()
        .node(node)
        .into_iter()
        .flat_map(|n| n.zones.iter())
        .filter(|z| z.is_populated())
}

/// The zones kswapd balances: the node's populated DMA32 and NORMAL.
fn balanced_zones(node: NodeId) -> impl Iterator<Item = &'static mm::page_alloc::Zone<'static>> {
    node_zones(node)
        .filter(|z| z.managed() > 0)
        .filter(|z| matches!(z.kind, ZoneType::Dma32 | ZoneType::Normal))
}

/// What an ordinary allocation may count free in `z`: the buddy
/// allocator's count, as the allocator's own checks (pages on per-CPU lists
/// are not counted, as in Linux's NR_FREE_PAGES), less the highatomic
/// reserve (Linux's __zone_watermark_unusable_free, which kswapd's balance
/// checks use too).
fn usable_free(z: &mm::page_alloc::Zone) -> u64 {
    z.free_pages().saturating_sub(z.reserved_highatomic())
}

/// Every balanced zone of the node is at its high watermark.
pub fn node_balanced(node: NodeId) -> bool {
    balanced_zones(node).all(|z| usable_free(z) >= z.watermarks().high)
}

/// Some zone of the node is at or below its low watermark (where the
/// allocator's fast path stops: it needs free pages above the mark).
pub fn node_below_low(node: NodeId) -> bool {
    balanced_zones(node).any(|z| usable_free(z) <= z.watermarks().low)
}

/// Registers the shrinkers and starts one kswapd per node with memory, bound to the node's CPUs (a
/// node without CPUs borrows the nearest node's, as Linux's kswapd would
/// run wherever it may).
pub fn init() {
    super::shrinker::init_slab_shrinker();
    pagecache::init_shrinkers();
    let t = topology();
    let mut started = 0;
    for node in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        let name: &'static str = KSWAPD_NAMES.get(node).copied().unwrap_or("kswapd");
        let kswapd_flags = flags::KSWAPD | flags::MEMALLOC;
        match sched::spawn_with_flags(name, Binding::Node(node), None, kswapd_flags, move || {
            kswapd_main(node)
        }) {
            Ok(th) => {
                log::info!(
                    "vmscan: {name} on cpu {} (node {})",
                    th.cpu,
                    crate::numa::cpu_to_node(th.cpu as usize)
                );
                KSWAPD[node].thread.call_once(|| th);
                started += 1;
            }
            Err(e) => log::error!("vmscan: {name} not started: {e:?}"),
        }
    }
    log::info!("vmscan: {started} kswapd threads");
}

const KSWAPD_NAMES: [&str; 8] = [
    "kswapd0", "kswapd1", "kswapd2", "kswapd3", "kswapd4", "kswapd5", "kswapd6", "kswapd7",
];

/// The allocator's wake-up for an allocation of `order` whose highest
/// zone is `highest` (Linux's wakeup_kswapd). On a node that is balanced
/// (or hopeless) there is nothing to reclaim, but a high-order request
/// that cannot compact itself (`may_compact` false: it may not reclaim
/// directly) may find its block missing: kcompactd is asked for it.
pub fn wakeup_kswapd(node: NodeId, order: usize, highest: ZoneType, may_compact: bool) {
    let k = &KSWAPD[node];
    if k.thread.get().is_none() {
        return;
    }
    if k.failures.load(Relaxed) >= MAX_RECLAIM_RETRIES || node_balanced(node) {
        if !may_compact {
            super::kcompactd::wakeup(node, order, highest);
        }
        return;
    }
    k.order.fetch_max(order, AcqRel);
    k.highest.fetch_min(highest.index(), AcqRel);
    if !k.pending.swap(true, AcqRel) && !k.running.load(Acquire) {
        VMSTAT.kswapd_wakeups.fetch_add(1, Relaxed);
        k.wakeups.fetch_add(1, Relaxed);
        if node_below_low(node) {
            k.woken_below_low.fetch_add(1, Relaxed);
        }
    }
    k.wait.wake_all();
}

fn kswapd_main(node: NodeId) {
    let k = &KSWAPD[node];
    loop {
        k.wait.wait_event(|| k.pending.load(Acquire), None);
        k.running.store(true, Release);
        k.pending.store(false, Release);
        balance_node(node);
        k.running.store(false, Release);
        // Reclaim made order-0 pages; the blocks a high-order request
        // woke it for are compaction's to make (Linux's kswapd wakes
        // kcompactd before it sleeps).
        let order = k.order.swap(0, AcqRel);
        let highest = k.highest.swap(NR_ZONES - 1, AcqRel);
        if order > 0 && node_balanced(node) {
            super::kcompactd::wakeup(node, order, ZoneType::ALL[highest]);
        }
    }
}

/// kswapd's work: reclaim until the node is balanced or hopeless.
fn balance_node(node: NodeId) {
    let k = &KSWAPD[node];
    let ctx = ReclaimContext {
        may_sleep: true,
        may_io: true,
        may_fs: true,
        wake_kswapd: false,
        this_node: true,
    };
    while !node_balanced(node) {
        if k.failures.load(Relaxed) >= MAX_RECLAIM_RETRIES {
            return;
        }
        k.passes.fetch_add(1, Relaxed);
        let freed = shrink_node(node, ctx, SWAP_CLUSTER_MAX, Who::Kswapd);
        if freed == 0 {
            if k.failures.fetch_add(1, Relaxed) + 1 >= MAX_RECLAIM_RETRIES {
                log::info!(
                    "vmscan: kswapd{node}: {MAX_RECLAIM_RETRIES} passes freed nothing; it sleeps until direct reclaim makes progress here"
                );
                return;
            }
        } else {
            k.failures.store(0, Relaxed);
            k.reclaimed.fetch_add(freed, Relaxed);
        }
        sched::cond_resched();
    }
    VMSTAT.kswapd_high_wmark_restored.fetch_add(1, Relaxed);
}

/// Linux's ZONE_RECLAIM_ACTIVE on every zone of a node while reclaim
/// works on it: frees then keep the per-CPU lists short, so that what
/// reclaim frees reaches the zone's free count.
struct ReclaimActive(NodeId);

impl ReclaimActive {
    fn new(node: NodeId) -> Self {
        for z in node_zones(node) {
            z.reclaim_started();
        }
        ReclaimActive(node)
    }
}

impl Drop for ReclaimActive {
    fn drop(&mut self) {
        for z in node_zones(self.0) {
            z.reclaim_ended();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Kswapd,
    Direct,
}

/// Reclaims up to `target` pages from `node`, priority falling until it
/// has them: LRU pages first, then the shrinkers. Returns pages freed.
fn shrink_node(node: NodeId, ctx: ReclaimContext, target: u64, who: Who) -> u64 {
    let _active = ReclaimActive::new(node);
    let mut freed = 0;
    for priority in (0..=DEF_PRIORITY).rev() {
        let (a, i) = pagecache::lru_pages(node);
        let nr = ((a + i) >> priority).max(SWAP_CLUSTER_MAX);
        let (scanned, got, demoted) = pagecache::shrink_node_lru(node, nr, ctx);
        let slab_before = super::slab::slab_pages().0;
        let objects = shrinker::shrink_slab(node, ctx, priority);
        let slab_freed = slab_before.saturating_sub(super::slab::slab_pages().0);
        VMSTAT.slabs_scanned.fetch_add(objects, Relaxed);
        let (scan, steal, demote) = match who {
            Who::Kswapd => (
                &VMSTAT.pgscan_kswapd,
                &VMSTAT.pgsteal_kswapd,
                &VMSTAT.pgdemote_kswapd,
            ),
            Who::Direct => (
                &VMSTAT.pgscan_direct,
                &VMSTAT.pgsteal_direct,
                &VMSTAT.pgdemote_direct,
            ),
        };
        scan.fetch_add(scanned, Relaxed);
        demote.fetch_add(demoted, Relaxed);
        steal.fetch_add(got, Relaxed);
        freed += got + slab_freed;
        if freed >= target {
            break;
        }
        sched::cond_resched();
    }
    freed
}

/// Direct reclaim by the allocating thread (Linux's try_to_free_pages).
pub fn direct_reclaim(ctx: ReclaimContext, order: usize, preferred: NodeId) -> u64 {
    let me = sched::current();
    if me.is_some_and(|t| t.has_flag(flags::MEMALLOC)) {
        return 0;
    }
    let Some(node) = allocator().node(preferred) else {
        return 0;
    };
    VMSTAT.allocstall.fetch_add(1, Relaxed);
    if let Some(t) = me {
        t.set_flag(flags::MEMALLOC);
    }
    let target = SWAP_CLUSTER_MAX << order;
    let mut freed = 0;
    for n in node.zonelist.nodes() {
        if ctx.this_node && n != preferred {
            continue;
        }
        let got = shrink_node(n, ctx, target - freed, Who::Direct);
        if got > 0 {
            KSWAPD[n].failures.store(0, Relaxed);
        }
        freed += got;
        if freed >= target {
            break;
        }
    }
    if let Some(t) = me {
        t.clear_flag(flags::MEMALLOC);
    }
    freed
}

/// /proc/vmstat's reclaim lines and each zone's watermark state.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let v = &VMSTAT;
    for (name, c) in [
        ("pgscan_kswapd", &v.pgscan_kswapd),
        ("pgscan_direct", &v.pgscan_direct),
        ("pgsteal_kswapd", &v.pgsteal_kswapd),
        ("pgsteal_direct", &v.pgsteal_direct),
        ("slabs_scanned", &v.slabs_scanned),
        ("kswapd_wakeups", &v.kswapd_wakeups),
        ("kswapd_high_wmark_restored", &v.kswapd_high_wmark_restored),
        ("allocstall", &v.allocstall),
        ("oom_kill", &v.oom_kill),
        ("pgdemote_kswapd", &v.pgdemote_kswapd),
        ("pgdemote_direct", &v.pgdemote_direct),
    ] {
        writeln!(w, "{name} {}", c.load(Relaxed))?;
    }
    Ok(())
}

/// Per node: kswapd's state and each zone's free pages against its marks.
pub fn watermark_report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    for node in allocator().nodes() {
        let k = &KSWAPD[node.id];
        let (active, inactive) = pagecache::lru_pages(node.id);
        writeln!(
            w,
            "Node {} kswapd: {} wakeups {} passes {} reclaimed {} failures {}; lru active {} inactive {} dirty {}",
            node.id,
            k.thread.get().map_or("none", |_| if k.running.load(Relaxed) { "running" } else { "sleeping" }),
            k.wakeups.load(Relaxed),
            k.passes.load(Relaxed),
            k.reclaimed.load(Relaxed),
            k.failures.load(Relaxed),
            active,
            inactive,
            pagecache::dirty_pages(node.id)
        )?;
        for z in node
            .zones
            .iter()
            .filter(|z| z.is_populated() && z.managed() > 0)
        {
            let free = z.free_pages();
            let m = &z.watermarks();
            let state = if free < m.min {
                "below min"
            } else if free < m.low {
                "below low"
            } else if free < m.high {
                "below high"
            } else {
                "ok"
            };
            writeln!(
                w,
                "  zone {:<7} free {:>8} (+{} on per-CPU lists) min {:>6} low {:>6} high {:>6}: {state}",
                z.kind.name(),
                free,
                zone_free_with_lists(z) - free,
                m.min,
                m.low,
                m.high
            )?;
        }
    }
    Ok(())
}
