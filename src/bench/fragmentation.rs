//! The fragmentation workload (issue "Fragmentation under churn"; not in
//! `bench=all`, since it fills a node): a node filled with movable task
//! pages, three of every four freed, then order-9 blocks taken until one
//! fails, with direct compaction off, with it on, and after compact_memory.
//! `bench=fragmentation` prints one `BENCH` line a mode with the success
//! share, the nanoseconds an order-9 attempt took and the node's unusable
//! index at order 9 before and after; the `compaction` self-test checks
//! the same workload against kselftest compaction_test's criterion.

use crate::arch::x86_64::tsc;
use crate::kassert_eq;
use crate::kprintln;
use crate::mm::compaction::{self, COMPACT_STAT, DISABLED};
use crate::mm::migrate::MIGRATE_STAT;
use crate::mm::page_alloc::{__free_pages, alloc_pages_node, allocator, Page};
use crate::numa::{numa_node_id, topology};
use crate::sched::task::Task;
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;
use mm::buddy::PAGEBLOCK_ORDER;
use mm::gfp::Gfp;

/// Turns direct compaction and kcompactd off until dropped (then back to
/// what they were, so guards nest).
pub struct NoCompaction(bool);

impl NoCompaction {
    pub fn new() -> Self {
        NoCompaction(DISABLED.swap(true, Relaxed))
    }
}

impl Drop for NoCompaction {
    fn drop(&mut self) {
        DISABLED.store(self.0, Relaxed);
    }
}

/// Order-9 blocks taken on `node` until one fails; returns them and the
/// mean nanoseconds an allocation took.
pub fn take_huge(node: usize) -> (Vec<Page>, u64) {
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

pub fn give_back(blocks: Vec<Page>) {
    for p in blocks {
        __free_pages(p, PAGEBLOCK_ORDER as u32);
    }
}

/// How many order-9 blocks `node` gives with direct compaction off (each
/// given back at once) and the ns an attempt took.
fn huge_without_compaction(node: usize) -> (u64, u64) {
    let (blocks, ns) = {
        let _off = NoCompaction::new();
        take_huge(node)
    };
    let n = blocks.len() as u64;
    give_back(blocks);
    (n, ns)
}

/// The workload on `node`, filling at most `limit` pages: (pages filled,
/// pages kept, order-9 blocks without compaction and the ns an attempt
/// took, with direct compaction and its ns, compaction stalls, pages
/// migrated).
pub struct Run {
    pub filled: u64,
    pub kept: u64,
    pub without: u64,
    pub ns_off: u64,
    pub with: u64,
    pub ns_on: u64,
    pub stalls: u64,
    pub migrated: u64,
    /// The node's unusable free space index at order 9 (thousandths),
    /// after the frees, and after direct compaction (its blocks given
    /// back).
    pub unusable_before: i64,
    pub unusable_after: i64,
}

/// A task holding a fragmented `node`: the node filled (at most `limit`
/// pages) with its movable pages, each holding its index, then three of
/// every four freed, so that each pageblock keeps a quarter. Returns the
/// task, the pages filled and the pages kept. The caller holds
/// [`NoCompaction`] if kcompactd must not repair it yet.
pub fn fragmented(node: usize, limit: u64) -> Option<(alloc::sync::Arc<Task>, u64, u64)> {
    let task = Task::create("fragmenter", 0).ok()?;
    let fill = Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY | Gfp::NOWARN;
    let mut filled = 0u64;
    while filled < limit
        && task
            .alloc_page(fill, node as i32, |w| w[0] = filled)
            .is_ok()
    {
        filled += 1;
    }
    let kept = filled - task.free_pages_where(|pfn, _| pfn % 4 != 0);
    Some((task, filled, kept))
}

pub fn fragment_and_compact(node: usize, limit: u64) -> Result<Run, crate::selftest::Failure> {
    // kcompactd stays off until the blocks without compaction are counted.
    let off = NoCompaction::new();
    let (task, filled, kept) = fragmented(node, limit).ok_or(crate::selftest::Failure::Failed)?;
    if limit != u64::MAX {
        // The small round: compact the whole node once, as compact_memory.
        compaction::compact_node(node, compaction::Goal::WholeZone, compaction::Mode::Sync);
    }
    let unusable_before = unusable(node);
    let (without, ns_off) = huge_without_compaction(node);
    drop(off);
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
        unusable_before,
        unusable_after: 0,
    };
    let mut run = run;
    // The kept pages are intact where they moved to.
    let mut intact = 0u64;
    task.for_each_page(|_, w| intact += (w[0] < filled) as u64);
    give_back(huge);
    // With the blocks back, the free memory as compaction left it.
    run.unusable_after = unusable(node);
    kassert_eq!(intact, kept, "contents after migration");
    kassert_eq!(task.release_memory(), kept);
    drop(task);
    crate::sched::reap_all_dead(1_000_000_000);
    Ok(run)
}

/// The unusable free space index at order 9 of `node`'s free memory (its
/// zones' free blocks summed), in thousandths.
pub fn unusable(node: usize) -> i64 {
    let mut blocks = [0usize; mm::buddy::MAX_ORDER + 1];
    for z in allocator()
        .node(node)
        .unwrap()
        .zones
        .iter()
        .filter(|z| z.is_populated())
    {
        for (b, n) in blocks.iter_mut().zip(z.free_state().1) {
            *b += n;
        }
    }
    mm::extfrag::unusable_index(&blocks, PAGEBLOCK_ORDER)
}

/// Thousandths as Linux prints its indices.
pub fn milli(v: i64) -> alloc::string::String {
    alloc::format!(
        "{}{}.{:03}",
        if v < 0 { "-" } else { "" },
        v.abs() / 1000,
        v.abs() % 1000
    )
}

/// `bench=fragmentation`: the workload on this CPU's node, then once more
/// with compact_memory instead of direct compaction.
pub fn run() {
    let node = topology().mem_node(numa_node_id());
    let managed: u64 = allocator()
        .node(node)
        .unwrap()
        .zones
        .iter()
        .map(|z| z.managed())
        .sum();
    let blocks = managed >> PAGEBLOCK_ORDER;
    let Ok(r) = fragment_and_compact(node, u64::MAX) else {
        kprintln!("# bench: fragmentation: the workload did not complete");
        return;
    };
    let line = |mode: &str, got: u64, ns: u64, before: i64, after: i64| {
        kprintln!(
            "BENCH {{\"bench\":\"fragmentation\",\"order\":9,\"cpus\":1,\"node\":{node},\"ops\":{},\"ns_per_op\":{ns},\"allocator\":\"ours\",\"mode\":\"{mode}\",\"filled\":{},\"kept\":{},\"blocks\":{blocks},\"allocated\":{got},\"success_share\":{},\"unusable_before\":{},\"unusable_after\":{}}}",
            got + 1,
            r.filled,
            r.kept,
            milli((got * 1000 / blocks.max(1)) as i64),
            milli(before),
            milli(after)
        )
    };
    line(
        "off",
        r.without,
        r.ns_off,
        r.unusable_before,
        r.unusable_before,
    );
    line(
        "direct",
        r.with,
        r.ns_on,
        r.unusable_before,
        r.unusable_after,
    );
    // compact_memory, then the order-9 blocks with direct compaction off.
    let off = NoCompaction::new();
    let Some((task, _, _)) = fragmented(node, u64::MAX) else {
        return;
    };
    let before = unusable(node);
    let t0 = tsc::ns_since_boot();
    let c = compaction::compact_memory();
    let took = tsc::ns_since_boot() - t0;
    let after = unusable(node);
    let (n, ns) = huge_without_compaction(node);
    line("compact_memory", n, ns, before, after);
    kprintln!(
        "# bench: fragmentation: compact_memory took {} us and migrated {} pages",
        took / 1000,
        c.migrated
    );
    task.release_memory();
    drop(task);
    crate::sched::reap_all_dead(1_000_000_000);
    drop(off);
    // Proactive compaction: kcompactd's pass, started by setting the
    // proactiveness, then the order-9 blocks with compaction off.
    let Some(p) = proactive_round(node, BENCH_PROACTIVENESS) else {
        kprintln!("# bench: fragmentation: kcompactd's proactive pass did not finish");
        return;
    };
    let (n, ns) = huge_without_compaction(node);
    line("proactive", n, ns, p.unusable_before, p.unusable_after);
    kprintln!(
        "# bench: fragmentation: kcompactd's proactive pass (proactiveness {BENCH_PROACTIVENESS}) took {} us and migrated {} pages; fragmentation score {} -> {} (marks {}/{})",
        p.took_ns / 1000,
        p.migrated,
        p.score_before,
        p.score_after,
        p.marks.1,
        p.marks.0
    );
    p.task.release_memory();
    drop(p.task);
    crate::sched::reap_all_dead(1_000_000_000);
}

/// The proactiveness of the benchmark's proactive pass: the most, so that
/// the pass runs on any VM (at Linux's default 20 it starts only above a
/// score of 90, which a small node's leftover blocks keep it under).
const BENCH_PROACTIVENESS: u32 = 100;

/// What a proactive pass of kcompactd did to a fragmented node.
pub struct Proactive {
    /// The task holding the kept pages (the caller releases it).
    pub task: alloc::sync::Arc<Task>,
    pub took_ns: u64,
    pub migrated: u64,
    pub score_before: u64,
    pub score_after: u64,
    /// The proactiveness' (low, high) score marks.
    pub marks: (u64, u64),
    pub unusable_before: i64,
    pub unusable_after: i64,
}

/// Fragments `node` with kcompactd held off, then sets the proactiveness
/// to `p` so that kcompactd runs a pass at once (where the score is above
/// the high mark), and waits up to a minute for it; the proactiveness is
/// then what it was. None if no pass came.
pub fn proactive_round(node: usize, p: u32) -> Option<Proactive> {
    use crate::mm::kcompactd;
    let was = kcompactd::proactiveness();
    let (task, _, _) = {
        let _off = NoCompaction::new();
        // Off too, so that the pass below is the one set_proactiveness asks.
        kcompactd::set_proactiveness(0);
        fragmented(node, u64::MAX)?
    };
    let (score_before, unusable_before) = (compaction::node_score(node), unusable(node));
    if score_before <= mm::compaction::score_wmarks(p).1 {
        kprintln!(
            "# node {node}: fragmentation score {score_before} is not above proactiveness {p}'s high mark; no pass"
        );
        kcompactd::set_proactiveness(was);
        task.release_memory();
        return None;
    }
    let k = kcompactd::kcompactd(node);
    let (passes, migrated) = (k.proactive_passes.load(Relaxed), k.migrated.load(Relaxed));
    let t0 = tsc::ns_since_boot();
    kcompactd::set_proactiveness(p);
    let done = crate::sched::wait_for(60_000_000_000, || {
        k.proactive_passes.load(Relaxed) > passes && k.is_idle()
    });
    let took_ns = tsc::ns_since_boot() - t0;
    kcompactd::set_proactiveness(was);
    if !done {
        task.release_memory();
        return None;
    }
    Some(Proactive {
        task,
        took_ns,
        migrated: k.migrated.load(Relaxed) - migrated,
        score_before,
        score_after: compaction::node_score(node),
        marks: mm::compaction::score_wmarks(p),
        unusable_before,
        unusable_after: unusable(node),
    })
}
