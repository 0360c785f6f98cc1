//! Memory compaction (Linux's mm/compaction.c): when a zone has free memory
//! but no free block of the order asked for, its movable pages are moved
//! from the bottom of the zone into free pages taken from the top, so the
//! freed bottom pageblocks merge into large blocks.
//!
//! Per zone, a migrate scanner walks pageblocks upwards from the zone's
//! start, taking the movable pages there (task memory, from the tasks that
//! own it, and cached pages, from the page caches), and a free scanner
//! walks pageblocks downwards from the zone's end, isolating their free
//! pages (Movable or wholly free pageblocks only) as migration targets;
//! they stop when they meet, or once a block of the order wanted is free.
//! Asynchronous compaction passes over an owner whose lock is held;
//! synchronous compaction waits for it. After a failure a zone's next attempts at that order are
//! deferred as Linux defers them (crates/mm/src/compaction.rs). Direct
//! compaction runs from the allocator's slow path for high-order requests
//! (installed as part of its reclaim hook); `compact_memory` compacts every
//! zone on demand, as writing /proc/sys/vm/compact_memory does.

use super::migrate::MIGRATE_STAT;
use super::page_alloc::{__free_pages, allocator, drain_local_pages, Page};
use crate::sched::task::for_each_task;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use mm::buddy::PAGEBLOCK_PAGES;
use mm::compaction::Defer;
use mm::page_alloc::Zone;
use mm::zone::{ZoneType, NR_ZONES};
use numa::{NodeId, MAX_NUMNODES};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Skip what is busy (Linux's MIGRATE_ASYNC).
    Async,
    /// Wait for it (MIGRATE_SYNC).
    Sync,
}

/// The compaction lines of /proc/vmstat.
pub struct CompactStat {
    pub compact_stall: AtomicU64,
    pub compact_fail: AtomicU64,
    pub compact_success: AtomicU64,
    pub compact_migrate_scanned: AtomicU64,
    pub compact_free_scanned: AtomicU64,
    pub compact_isolated: AtomicU64,
    pub compact_daemon_wake: AtomicU64,
    /// What kcompactd's runs scanned (counted in the totals above too).
    pub compact_daemon_migrate_scanned: AtomicU64,
    pub compact_daemon_free_scanned: AtomicU64,
}

pub static COMPACT_STAT: CompactStat = CompactStat {
    compact_stall: AtomicU64::new(0),
    compact_fail: AtomicU64::new(0),
    compact_success: AtomicU64::new(0),
    compact_migrate_scanned: AtomicU64::new(0),
    compact_free_scanned: AtomicU64::new(0),
    compact_isolated: AtomicU64::new(0),
    compact_daemon_wake: AtomicU64::new(0),
    compact_daemon_migrate_scanned: AtomicU64::new(0),
    compact_daemon_free_scanned: AtomicU64::new(0),
};

/// Off: neither direct compaction nor kcompactd runs (for measuring
/// without them); compact_memory still does.
pub static DISABLED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

static DEFER: Mutex<[[Defer; NR_ZONES]; MAX_NUMNODES]> =
    Mutex::new([[Defer::new(); NR_ZONES]; MAX_NUMNODES]);

/// What a compaction of a zone works towards (Linux's compact_finished
/// checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// A free block of this order, for an allocation (direct compaction,
    /// kcompactd woken for an order); goes on from where the zone's last
    /// compaction stopped.
    Order(usize),
    /// The whole zone from its edges until the scanners meet
    /// (compact_memory).
    WholeZone,
    /// The whole zone from its edges until its fragmentation score is at
    /// most this, or kswapd starts on its node (proactive compaction).
    Score(u64),
}

/// What one zone's compaction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZoneCompaction {
    pub migrated: u64,
    pub failed: u64,
    pub migrate_scanned: u64,
    pub free_scanned: u64,
    /// The goal was met at the end: a free block of the order asked for,
    /// or the score down to its mark (never for a whole-zone run).
    pub success: bool,
}

impl ZoneCompaction {
    /// Sums another zone's result into this one (`success` if either).
    fn add(&mut self, r: ZoneCompaction) {
        self.migrated += r.migrated;
        self.failed += r.failed;
        self.migrate_scanned += r.migrate_scanned;
        self.free_scanned += r.free_scanned;
        self.success |= r.success;
    }
}

/// Pageblocks the migrate scanner takes in one round (one walk of each
/// owner's pages).
const WINDOW_BLOCKS: u64 = 4;
const WINDOW: usize = (WINDOW_BLOCKS * PAGEBLOCK_PAGES) as usize;

/// The scanners' buffers: compaction runs when memory is short, so it
/// allocates nothing; one compaction runs at a time.
struct Scan {
    sources: [u64; WINDOW],
    /// Isolated free pages: up to a window's worth and one pageblock more.
    targets: [u64; WINDOW + PAGEBLOCK_PAGES as usize],
    /// Per zone, where the scanners stopped last time (Linux's
    /// compact_cached_migrate_pfn and compact_cached_free_pfn); (0, 0)
    /// for the zone's edges.
    cached: [[(u64, u64); NR_ZONES]; MAX_NUMNODES],
}

static SCAN: Mutex<Scan> = Mutex::new(Scan {
    sources: [0; WINDOW],
    targets: [0; WINDOW + PAGEBLOCK_PAGES as usize],
    cached: [[(0, 0); NR_ZONES]; MAX_NUMNODES],
});

/// Linux's compact_zone: compacts `zone` towards `goal`. For an order,
/// the scanners go on from where the last compaction of the zone left
/// them; once they meet they start again from the zone's edges.
pub fn compact_zone(zone: &Zone, goal: Goal, mode: Mode) -> ZoneCompaction {
    let mut r = ZoneCompaction::default();
    let met = |z: &Zone| match goal {
        Goal::Order(o) => without_interrupts(|| z.has_free_block(o)),
        Goal::WholeZone => false,
        Goal::Score(low) => zone_score(z) <= low,
    };
    // Proactive compaction yields to reclaim (Linux's
    // COMPACT_PARTIAL_SKIPPED when kswapd runs).
    let yields =
        || matches!(goal, Goal::Score(_)) && super::vmscan::kswapd(zone.node).running.load(Relaxed);
    if !zone.is_populated() || met(zone) {
        r.success = goal != Goal::WholeZone;
        return r;
    }
    let block = |pfn: u64| pfn & !(PAGEBLOCK_PAGES - 1);
    let (zone_first, zone_last) = (block(zone.span.start_pfn), block(zone.span.end_pfn - 1));
    let mut scan = SCAN.lock();
    let Scan {
        sources,
        targets,
        cached,
    } = &mut *scan;
    let slot = &mut cached[zone.node][zone.kind.index()];
    // A whole-zone compaction (compact_memory, proactive) starts from the
    // edges, as Linux's whole_zone does; one for an order goes on where
    // the last left off.
    let (mut migrate_pfn, mut free_pfn) = match *slot {
        c if c != (0, 0) && matches!(goal, Goal::Order(_)) => c,
        _ => (zone_first, zone_last),
    };
    let mut ntargets = 0usize;
    while migrate_pfn < free_pfn && !met(zone) && !yields() {
        let window_end = (migrate_pfn + WINDOW as u64).min(free_pfn);
        // The migrate scanner: the window's movable pages, from their owners.
        let mut n = 0;
        for_each_task(|t| {
            t.for_each_page(|pfn, _| {
                if (migrate_pfn..window_end).contains(&pfn) && n < WINDOW {
                    sources[n] = pfn;
                    n += 1;
                }
            })
        });
        super::pagecache::for_each_page_in(migrate_pfn, window_end, |pfn| {
            if n < WINDOW {
                sources[n] = pfn;
                n += 1;
            }
        });
        r.migrate_scanned += window_end - migrate_pfn;
        if n == 0 {
            migrate_pfn = window_end;
            continue;
        }
        let round = &mut sources[..n];
        round.sort_unstable();
        // The free scanner: targets from the top, above this window.
        while ntargets < n && free_pfn >= window_end {
            let before = ntargets;
            without_interrupts(|| {
                zone.isolate_free_pageblock(free_pfn, |p| {
                    targets[ntargets] = p;
                    ntargets += 1;
                })
            });
            COMPACT_STAT
                .compact_isolated
                .fetch_add((ntargets - before) as u64, Relaxed);
            r.free_scanned += PAGEBLOCK_PAGES;
            free_pfn -= PAGEBLOCK_PAGES;
        }
        if ntargets == 0 {
            break;
        }
        // With fewer targets than sources the scanners have met: only as
        // many sources as there are targets are tried (the rest were never
        // isolated, and are not failures).
        let tried = n.min(ntargets);
        let round = &round[..tried];
        let mut moved = 0;
        let mut take = || {
            ntargets = ntargets.checked_sub(1)?;
            Some(Page::from_pfn(targets[ntargets]))
        };
        for_each_task(|t| {
            // Async passes a busy task over; its pages count as failed.
            moved += t
                .migrate_frames(round, &mut take, mode == Mode::Async)
                .unwrap_or(0);
        });
        moved += super::pagecache::migrate_frames(round, &mut take, mode == Mode::Async);
        COMPACT_STAT.compact_isolated.fetch_add(moved, Relaxed);
        if moved > 0 {
            // The sources went to this CPU's lists: merged now, they make
            // the free blocks compaction is for (Linux drains the local
            // lists after each migrated block too).
            drain_local_pages();
        }
        r.migrated += moved;
        r.failed += tried as u64 - moved.min(tried as u64);
        if moved < n as u64 && ntargets == 0 {
            // Out of targets with pages left: the scanners have met.
            break;
        }
        migrate_pfn = window_end;
    }
    // Isolated pages not used go back.
    for &p in &targets[..ntargets] {
        __free_pages(Page::from_pfn(p), 0);
    }
    if ntargets > 0 {
        drain_local_pages();
    }
    *slot = if migrate_pfn >= free_pfn {
        (0, 0)
    } else {
        (migrate_pfn, free_pfn)
    };
    drop(scan);
    r.success = goal != Goal::WholeZone && met(zone);
    COMPACT_STAT
        .compact_migrate_scanned
        .fetch_add(r.migrate_scanned, Relaxed);
    COMPACT_STAT
        .compact_free_scanned
        .fetch_add(r.free_scanned, Relaxed);
    MIGRATE_STAT
        .pgmigrate_success
        .fetch_add(r.migrated, Relaxed);
    MIGRATE_STAT.pgmigrate_fail.fetch_add(r.failed, Relaxed);
    r
}

/// Runs `f` with no compaction in progress, none starting until it
/// returns: a compaction holds free pages it isolated as targets, so
/// counts of free pages taken meanwhile would be short by them.
pub fn quiesced<R>(f: impl FnOnce() -> R) -> R {
    let _scan = SCAN.lock();
    f()
}

/// Linux's __compaction_suitable for an allocation whose highest zone is
/// `highest`: compaction needs free pages to migrate into, so the zone
/// must have, at order 0, its low watermark (min for orders up to
/// PAGE_ALLOC_COSTLY_ORDER) plus its lowmem reserve against `highest` plus
/// twice the block asked for (compact_gap) free; below that, reclaim has to
/// come first (and a block behind the reserve would not serve anyway).
pub fn suitable(zone: &Zone, order: usize, highest: ZoneType) -> bool {
    let marks = zone.watermarks();
    let mark = if order > mm::buddy::COSTLY_ORDER {
        marks.low
    } else {
        marks.min
    };
    let floor = mark + zone.reserve_for(highest.index()) + (2u64 << order);
    without_interrupts(|| zone.free_pages()) > floor
}

/// Compacts every populated zone of `node` towards `goal`; returns the
/// zones' results summed, `success` when any zone met it.
pub fn compact_node(node: NodeId, goal: Goal, mode: Mode) -> ZoneCompaction {
    let mut sum = ZoneCompaction::default();
    let Some(n) = allocator().node(node) else {
        return sum;
    };
    for zone in n.zones.iter().filter(|z| z.is_populated()) {
        sum.add(compact_zone(zone, goal, mode));
    }
    sum
}

/// Every zone of every node, whole (writing /proc/sys/vm/compact_memory).
pub fn compact_memory() -> ZoneCompaction {
    let mut sum = ZoneCompaction::default();
    for node in allocator().nodes().map(|n| n.id) {
        // A whole-zone run never reports success; `add` keeps it false.
        sum.add(compact_node(node, Goal::WholeZone, Mode::Sync));
    }
    sum
}

/// Direct compaction for an allocation of `order` that may sleep, over the
/// zones of `node`'s zonelist (Linux's try_to_compact_pages), zones whose
/// compaction at this order is deferred passed over. None when every zone
/// was passed over; else whether a zone has a free block of `order`
/// afterwards (a compaction stall either way).
pub fn try_to_compact_pages(
    order: usize,
    node: NodeId,
    highest: ZoneType,
    mode: Mode,
) -> Option<bool> {
    if DISABLED.load(Relaxed) {
        return None;
    }
    let a = allocator();
    let n = a.node(node)?;
    let mut ran = false;
    for r in n.zonelist.iter().filter(|r| r.zone <= highest) {
        let Some(zone) = a.node(r.node as NodeId).map(|n| n.zone(r.zone)) else {
            continue;
        };
        if !zone.is_populated() || !suitable(zone, order, highest) || deferred(zone, order) {
            continue;
        }
        if !ran {
            COMPACT_STAT.compact_stall.fetch_add(1, Relaxed);
            ran = true;
        }
        if compact_zone(zone, Goal::Order(order), mode).success {
            defer_reset(zone, order, true);
            return Some(true);
        }
        defer_compaction(zone, order);
    }
    ran.then_some(false)
}

/// Whether compaction of `zone` at `order` should be skipped this time
/// (Linux's compaction_deferred; each call counts as an attempt).
pub fn deferred(zone: &Zone, order: usize) -> bool {
    DEFER.lock()[zone.node][zone.kind.index()].deferred(order)
}

/// Compaction of `zone` at `order` failed: defer the next attempts.
pub fn defer_compaction(zone: &Zone, order: usize) {
    DEFER.lock()[zone.node][zone.kind.index()].failed(order);
}

/// Compaction of `zone` made `order` available (`alloc_success`: and an
/// allocation got it, which ends the waiting).
pub fn defer_reset(zone: &Zone, order: usize, alloc_success: bool) {
    DEFER.lock()[zone.node][zone.kind.index()].reset(order, alloc_success);
}

/// A zone's fragmentation score (Linux's fragmentation_score_zone): the
/// percentage of its free memory not in huge-page-sized blocks.
pub fn zone_score(zone: &Zone) -> u64 {
    let blocks = without_interrupts(|| zone.free_state().1);
    mm::compaction::extfrag_for_order(&blocks, mm::compaction::COMPACTION_HPAGE_ORDER)
}

/// A node's fragmentation score: its zones' scores weighted by their
/// present pages (Linux's fragmentation_score_node).
pub fn node_score(node: NodeId) -> u64 {
    let Some(n) = allocator().node(node) else {
        return 0;
    };
    let zones = n.zones.iter().filter(|z| z.is_populated());
    mm::compaction::node_score(
        zones.map(|z| (z.present(), without_interrupts(|| z.free_state().1))),
    )
}

/// The outcome of an allocation direct compaction ran for (Linux counts
/// compact_success when the allocation then got its page).
pub fn count_outcome(got_page: bool) {
    let c = if got_page {
        &COMPACT_STAT.compact_success
    } else {
        &COMPACT_STAT.compact_fail
    };
    c.fetch_add(1, Relaxed);
}

/// The compaction lines of /proc/vmstat.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let s = &COMPACT_STAT;
    for (name, c) in [
        ("compact_migrate_scanned", &s.compact_migrate_scanned),
        ("compact_free_scanned", &s.compact_free_scanned),
        ("compact_isolated", &s.compact_isolated),
        ("compact_stall", &s.compact_stall),
        ("compact_fail", &s.compact_fail),
        ("compact_success", &s.compact_success),
        ("compact_daemon_wake", &s.compact_daemon_wake),
        (
            "compact_daemon_migrate_scanned",
            &s.compact_daemon_migrate_scanned,
        ),
        (
            "compact_daemon_free_scanned",
            &s.compact_daemon_free_scanned,
        ),
    ] {
        writeln!(w, "{name} {}", c.load(Relaxed))?;
    }
    Ok(())
}
