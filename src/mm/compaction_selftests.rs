//! The fragmentation workload as a self-test (kselftest compaction_test's
//! criterion): a node filled with movable task pages, three of every four
//! freed, leaves almost no free 2 MiB block; compaction must then make at
//! least a third of the node allocatable as order-9 blocks.

use super::compaction::{self, COMPACT_STAT, DISABLED};
use super::migrate::MIGRATE_STAT;
use super::page_alloc::{__free_pages, alloc_pages_node, allocator, Page};
use super::selftest_support::free_counts;
use crate::arch::x86_64::tsc;
use crate::numa::{numa_node_id, topology};
use crate::sched::task::Task;
use crate::{kassert, kassert_eq, kprintln, selftest};
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;
use mm::buddy::PAGEBLOCK_ORDER;
use mm::gfp::Gfp;

/// Turns direct compaction off until dropped.
struct NoCompaction;

impl NoCompaction {
    fn new() -> Self {
        DISABLED.store(true, Relaxed);
        NoCompaction
    }
}

impl Drop for NoCompaction {
    fn drop(&mut self) {
        DISABLED.store(false, Relaxed);
    }
}

/// Order-9 blocks taken on `node` until one fails; returns them and the
/// mean nanoseconds an allocation took.
fn take_huge(node: usize) -> (Vec<Page>, u64) {
    let gfp = Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY | Gfp::NOWARN;
    let mut got = Vec::new();
    let t0 = tsc::ns_since_boot();
    let mut tries = 0;
    while let Some(p) = alloc_pages_node(node as i32, gfp, PAGEBLOCK_ORDER as u32) {
        got.push(p);
        tries += 1;
    }
    tries += 1;
    let ns = (tsc::ns_since_boot() - t0) / tries;
    (got, ns)
}

fn give_back(blocks: Vec<Page>) {
    for p in blocks {
        __free_pages(p, PAGEBLOCK_ORDER as u32);
    }
}

/// The workload on `node`, filling at most `limit` pages: (pages filled,
/// pages kept, order-9 blocks without compaction and the ns an attempt
/// took, with direct compaction and its ns, compaction stalls, pages
/// migrated).
struct Run {
    filled: u64,
    kept: u64,
    without: u64,
    ns_off: u64,
    with: u64,
    ns_on: u64,
    stalls: u64,
    migrated: u64,
}

fn fragment_and_compact(node: usize, limit: u64) -> Result<Run, crate::selftest::Failure> {
    let task = Task::create("fragmenter", 0).map_err(|_| crate::selftest::Failure::Failed)?;
    // Fill the node with movable pages, each holding its index.
    let fill = Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY | Gfp::NOWARN;
    let mut filled = 0u64;
    while filled < limit
        && task
            .alloc_page(fill, node as i32, |w| w[0] = filled)
            .is_ok()
    {
        filled += 1;
    }
    // Three pages of every four go: each pageblock keeps a quarter.
    let kept = filled - task.free_pages_where(|pfn, _| pfn % 4 != 0);
    if limit != u64::MAX {
        // The small round: compact the whole node once, as compact_memory.
        compaction::compact_node(node, None, compaction::Mode::Sync);
    }
    let (none, ns_off) = {
        let _off = NoCompaction::new();
        take_huge(node)
    };
    let without = none.len() as u64;
    give_back(none);
    let (stall0, migrated0) = (
        COMPACT_STAT.compact_stall.load(Relaxed),
        MIGRATE_STAT.pgmigrate_success.load(Relaxed),
    );
    let (huge, ns_on) = take_huge(node);
    let run = Run {
        filled,
        kept,
        without,
        ns_off,
        with: huge.len() as u64,
        ns_on,
        stalls: COMPACT_STAT.compact_stall.load(Relaxed) - stall0,
        migrated: MIGRATE_STAT.pgmigrate_success.load(Relaxed) - migrated0,
    };
    // The kept pages are intact where they moved to.
    let mut intact = 0u64;
    task.for_each_page(|_, w| intact += (w[0] < filled) as u64);
    give_back(huge);
    kassert_eq!(intact, kept, "contents after migration");
    kassert_eq!(task.release_memory(), kept);
    drop(task);
    crate::sched::reap_all_dead(1_000_000_000);
    Ok(run)
}

selftest!(
    explicit "compaction",
    fn a_fragmented_node_gives_a_third_of_itself_as_huge_pages_after_compaction() {
        let node = topology().mem_node(numa_node_id());
        let managed: u64 = allocator().node(node).unwrap().zones.iter().map(|z| z.managed()).sum();
        let blocks = managed >> PAGEBLOCK_ORDER;
        // A small round first, so the caches the bookkeeping uses exist
        // before the balance is taken.
        fragment_and_compact(node, 8192)?;
        let before = free_counts();
        let r = fragment_and_compact(node, u64::MAX)?;
        kprintln!(
            "    # node {node}: {} pages filled, {} kept; order-9 blocks: {} of {blocks} without compaction ({} ns an attempt), {} with direct compaction ({} ns an attempt, {} stalls, {} pages migrated)",
            r.filled, r.kept, r.without, r.ns_off, r.with, r.ns_on, r.stalls, r.migrated
        );
        kassert!(r.kept * 5 > r.filled, "a quarter kept: {} of {}", r.kept, r.filled);
        kassert!(r.without * 20 <= blocks, "near zero without compaction: {} of {blocks}", r.without);
        kassert!(r.with * 3 >= blocks, "a third of the node with compaction: {} of {blocks}", r.with);
        kassert!(r.migrated > 0 && r.stalls > 0);
        let after = free_counts();
        for (n, (b, a)) in before.iter().zip(after.iter()).enumerate() {
            kassert_eq!(a, b, "node {n}: no page lost or leaked");
        }
        // compact_memory on the now free memory finds nothing to move.
        let c = compaction::compact_memory();
        kassert_eq!(c.migrated, 0);
        Ok(())
    }
);
