//! kcompactd: one compaction thread per node with memory (Linux's
//! kcompactd in mm/compaction.c), for the work no allocation waits on.
//!
//! - Woken for an order: by kswapd once it has balanced a node that a
//!   high-order request woke it for, or by an allocation that cannot
//!   compact directly (GFP_ATOMIC, GFP_NOWAIT) on a node that is balanced
//!   but has no block of its order. It compacts each zone up to the
//!   request's highest where compaction is suitable, not deferred, and the
//!   block is missing, synchronously; failures defer that zone's next
//!   attempts as direct compaction's do.
//! - Proactive compaction: every 500 ms (Linux's
//!   HPAGE_FRAG_CHECK_INTERVAL_MSEC) with `vm.compaction_proactiveness`
//!   above 0 (default 20), when the node's fragmentation score is above
//!   the high mark (100 - proactiveness + 10) and kswapd is not running,
//!   each zone is compacted whole until its score is down to the low mark.
//!   A pass that does not lower the node's score defers the next 64
//!   checks; setting the proactiveness runs a pass at once regardless.
//!
//! `compact_daemon_wake` counts the wake-ups for an order;
//! `compact_daemon_migrate_scanned` and `compact_daemon_free_scanned` what
//! kcompactd's runs scanned, of either kind.

use super::compaction::{self, Goal, Mode, ZoneCompaction, COMPACT_STAT, DISABLED};
use super::page_alloc::allocator;
use super::vmscan;
use crate::numa::topology;
use crate::sched::{self, Binding, Thread, WaitQueue};
use alloc::sync::Arc;
use cmdline::DEFAULT_COMPACTION_PROACTIVENESS;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering::*};
use mm::compaction::{score_wmarks, COMPACT_MAX_DEFER_SHIFT};
use mm::zone::{ZoneType, NR_ZONES};
use numa::NodeId;
use spin::Once;
use x86_64::instructions::interrupts::without_interrupts;

/// `vm.compaction_proactiveness`: 0 (off) to 100.
static PROACTIVENESS: AtomicU32 = AtomicU32::new(DEFAULT_COMPACTION_PROACTIVENESS);

/// Holders of [`Paused`]: kcompactd does nothing while above 0.
static PAUSED: AtomicU32 = AtomicU32::new(0);

/// Holds every kcompactd off while it lives (once a run in progress has
/// finished): for a self-test whose allocations must see the free blocks
/// it left, not ones compaction made meanwhile. Direct compaction goes on.
pub struct Paused(());

impl Paused {
    pub fn new() -> Self {
        PAUSED.fetch_add(1, AcqRel);
        for k in all().iter().filter(|k| k.thread.get().is_some()) {
            sched::wait_for(10_000_000_000, || !k.busy.load(Acquire));
        }
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
        PAUSED.fetch_sub(1, AcqRel);
    }
}

fn paused() -> bool {
    DISABLED.load(Relaxed) || PAUSED.load(Acquire) > 0
}

/// How often an idle kcompactd checks its node's fragmentation score.
const CHECK_INTERVAL_NS: u64 = 500_000_000;

/// One node's kcompactd.
pub struct Kcompactd {
    thread: Once<Arc<Thread>>,
    wait: WaitQueue,
    /// The largest order asked for since the last run (0: none).
    max_order: AtomicUsize,
    /// The lowest of the requests' highest zones (NR_ZONES - 1 when none).
    highest: AtomicUsize,
    /// A proactive pass was asked for (the proactiveness was set).
    trigger: AtomicBool,
    /// Compacting now.
    busy: AtomicBool,
    /// Checks left to skip after a proactive pass that did not help.
    proactive_defer: AtomicU32,
    /// Runs for an order, and proactive passes.
    pub runs: AtomicU64,
    pub proactive_passes: AtomicU64,
    /// Pages kcompactd's runs migrated.
    pub migrated: AtomicU64,
}

/// One per node, made at init (a wait queue each: not worth carrying in
/// the image for every node a VM could have).
static KCOMPACTD: Once<alloc::vec::Vec<Kcompactd>> = Once::new();
/// What a node without a kcompactd reads: never started, never asked.
static NONE_STARTED: Kcompactd = Kcompactd::new();

impl Kcompactd {
    const fn new() -> Self {
        Kcompactd {
            thread: Once::new(),
            wait: WaitQueue::new(),
            max_order: AtomicUsize::new(0),
            highest: AtomicUsize::new(NR_ZONES - 1),
            trigger: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            proactive_defer: AtomicU32::new(0),
            runs: AtomicU64::new(0),
            proactive_passes: AtomicU64::new(0),
            migrated: AtomicU64::new(0),
        }
    }
}

fn all() -> &'static [Kcompactd] {
    KCOMPACTD.get().map_or(&[], |v| &v[..])
}

pub fn kcompactd(node: NodeId) -> &'static Kcompactd {
    all().get(node).unwrap_or(&NONE_STARTED)
}

impl Kcompactd {
    /// Nothing asked of it and not compacting.
    pub fn is_idle(&self) -> bool {
        !self.busy.load(Acquire) && self.max_order.load(Acquire) == 0 && !self.trigger.load(Acquire)
    }
}

pub fn proactiveness() -> u32 {
    PROACTIVENESS.load(Relaxed)
}

/// Sets `vm.compaction_proactiveness` (clamped to 100); a value above 0
/// has every kcompactd run a proactive pass now, as writing the sysctl
/// does in Linux.
pub fn set_proactiveness(value: u32) {
    let value = value.min(100);
    PROACTIVENESS.store(value, Relaxed);
    if value == 0 {
        return;
    }
    for k in all().iter().filter(|k| k.thread.get().is_some()) {
        k.trigger.store(true, Release);
        k.wait.wake_all();
    }
}

/// Starts one kcompactd per node with memory, bound to the node's CPUs
/// (the nearest node's for a node without them), with the command line's
/// proactiveness.
pub fn init(proactiveness_at_boot: u32) {
    PROACTIVENESS.store(proactiveness_at_boot.min(100), Relaxed);
    let t = topology();
    KCOMPACTD.call_once(|| (0..t.node_count()).map(|_| Kcompactd::new()).collect());
    let mut started = 0;
    for node in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        let name: &'static str = NAMES.get(node).copied().unwrap_or("kcompactd");
        match sched::spawn(name, Binding::Node(node), None, move || main(node)) {
            Ok(th) => {
                kcompactd(node).thread.call_once(|| th);
                started += 1;
            }
            Err(e) => log::error!("compaction: {name} not started: {e:?}"),
        }
    }
    log::info!(
        "compaction: {started} kcompactd threads, proactiveness {}",
        proactiveness()
    );
}

const NAMES: [&str; 8] = [
    "kcompactd0",
    "kcompactd1",
    "kcompactd2",
    "kcompactd3",
    "kcompactd4",
    "kcompactd5",
    "kcompactd6",
    "kcompactd7",
];

/// The populated zones of `node` up to `highest`.
fn zones(
    node: NodeId,
    highest: usize,
) -> impl Iterator<Item = &'static mm::page_alloc::Zone<'static>> {
    allocator()
        .node(node)
        .into_iter()
        .flat_map(|n| n.zones.iter())
        .filter(move |z| z.is_populated() && z.kind.index() <= highest)
}

/// Whether compacting `zone` for `order` is worth a run: the block is
/// missing, compaction can work there and is not deferred (Linux's
/// kcompactd_node_suitable with compaction_suit_allocation_order).
fn zone_needs(zone: &mm::page_alloc::Zone, order: usize, highest: usize) -> bool {
    let highest = ZoneType::ALL[highest.min(NR_ZONES - 1)];
    !without_interrupts(|| zone.has_free_block(order)) && compaction::suitable(zone, order, highest)
}

/// Asks `node`'s kcompactd to make a block of `order` in its zones up to
/// `highest` (Linux's wakeup_kcompactd). Callable from any context: it
/// only records the request and wakes the thread.
pub fn wakeup(node: NodeId, order: usize, highest: ZoneType) {
    let k = kcompactd(node);
    if order == 0 || k.thread.get().is_none() || DISABLED.load(Relaxed) {
        return;
    }
    k.max_order.fetch_max(order, AcqRel);
    k.highest.fetch_min(highest.index(), AcqRel);
    if !zones(node, highest.index()).any(|z| zone_needs(z, order, highest.index())) {
        return;
    }
    k.wait.wake_all();
}

fn main(node: NodeId) {
    let k = kcompactd(node);
    loop {
        let timeout = (proactiveness() > 0).then_some(CHECK_INTERVAL_NS);
        let requested = || k.max_order.load(Acquire) > 0 || k.trigger.load(Acquire);
        let woken = k.wait.wait_event(requested, timeout);
        k.busy.store(true, Release);
        if woken && !k.trigger.load(Acquire) {
            run_for_order(node);
        } else {
            let triggered = k.trigger.load(Acquire);
            proactive_check(node, triggered);
            k.trigger.store(false, Release);
        }
        k.busy.store(false, Release);
    }
}

/// The proactive part of kcompactd's loop, after a timeout or when the
/// proactiveness was set (`triggered`, which ignores the deferral).
fn proactive_check(node: NodeId, triggered: bool) {
    let k = kcompactd(node);
    if !should_compact_proactively(node) {
        return;
    }
    if !triggered && k.proactive_defer.load(Relaxed) > 0 {
        k.proactive_defer.fetch_sub(1, Relaxed);
        return;
    }
    let before = compaction::node_score(node);
    proactive_pass(node);
    // A pass that did not help waits 64 checks (Linux's proactive_defer).
    let helped = compaction::node_score(node) < before;
    let defer = if helped {
        0
    } else {
        1 << COMPACT_MAX_DEFER_SHIFT
    };
    k.proactive_defer.store(defer, Relaxed);
}

/// Adds what a run scanned and moved to kcompactd's counters.
fn account(k: &Kcompactd, r: ZoneCompaction) {
    COMPACT_STAT
        .compact_daemon_migrate_scanned
        .fetch_add(r.migrate_scanned, Relaxed);
    COMPACT_STAT
        .compact_daemon_free_scanned
        .fetch_add(r.free_scanned, Relaxed);
    k.migrated.fetch_add(r.migrated, Relaxed);
}

/// A run for the order asked (Linux's kcompactd_do_work).
fn run_for_order(node: NodeId) {
    let k = kcompactd(node);
    let order = k.max_order.load(Acquire);
    let highest = k.highest.load(Acquire);
    COMPACT_STAT.compact_daemon_wake.fetch_add(1, Relaxed);
    k.runs.fetch_add(1, Relaxed);
    if !paused() {
        for zone in zones(node, highest) {
            if compaction::deferred(zone, order) || !zone_needs(zone, order, highest) {
                continue;
            }
            let r = compaction::compact_zone(zone, Goal::Order(order), Mode::Sync);
            account(k, r);
            if r.success {
                compaction::defer_reset(zone, order, false);
            } else {
                compaction::defer_compaction(zone, order);
            }
            sched::cond_resched();
        }
    }
    // Done until asked again, whatever came of it; a request for a larger
    // order or a lower zone that came meanwhile stays.
    let _ = k.max_order.compare_exchange(order, 0, AcqRel, Relaxed);
    let _ = k
        .highest
        .compare_exchange(highest, NR_ZONES - 1, AcqRel, Relaxed);
}

/// Linux's should_proactive_compact_node.
fn should_compact_proactively(node: NodeId) -> bool {
    let p = proactiveness();
    if p == 0 || paused() || vmscan::kswapd(node).running.load(Relaxed) {
        return false;
    }
    compaction::node_score(node) > score_wmarks(p).1
}

/// Linux's proactive_compact_node: every zone, whole, down to the low mark.
fn proactive_pass(node: NodeId) {
    let k = kcompactd(node);
    k.proactive_passes.fetch_add(1, Relaxed);
    let (low, _) = score_wmarks(proactiveness());
    for zone in zones(node, NR_ZONES - 1) {
        account(
            k,
            compaction::compact_zone(zone, Goal::Score(low), Mode::Sync),
        );
        sched::cond_resched();
    }
}

/// Per node: kcompactd's runs and the node's fragmentation score.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let p = proactiveness();
    let (low, high) = score_wmarks(p);
    if p == 0 {
        writeln!(w, "compaction_proactiveness 0: no proactive passes")?;
    } else {
        writeln!(
            w,
            "compaction_proactiveness {p}: proactive passes above score {high}, down to {low}"
        )?;
    }
    for node in allocator().nodes().map(|n| n.id) {
        let k = kcompactd(node);
        if k.thread.get().is_none() {
            continue;
        }
        writeln!(
            w,
            "Node {node} kcompactd: runs {} proactive {} migrated {}; fragmentation score {}",
            k.runs.load(Relaxed),
            k.proactive_passes.load(Relaxed),
            k.migrated.load(Relaxed),
            compaction::node_score(node)
        )?;
    }
    Ok(())
}
