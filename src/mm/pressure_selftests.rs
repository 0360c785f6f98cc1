//! Memory pressure on QEMU: kswapd, direct reclaim's limits and the OOM
//! killer. An explicit suite (it fills memory): `selftest=pressure`, or
//! `workload=pressure`, which adds it to the default suites.

use super::page_alloc::{alloc_pages_node, allocator, drain_all_pages, RECLAIM_CALLS};
use super::pagecache::PageCache;
use super::selftest_support::{CacheGuard, Held};
use super::shrinker::{self, ShrinkControl, Shrinker, ShrinkerStats};
use super::vmscan::{self, VMSTAT};
use crate::arch::x86_64::{percpu, tsc};
use crate::sched::task::{Task, TaskAllocError};
use crate::sched::{self, Binding};
use crate::{kassert, kassert_eq, kprintln, selftest};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};
use mm::gfp::Gfp;
use numa::NodeId;

/// The node with memory whose kswapd runs on a CPU other than this one's
/// if there is one (so it reclaims while this thread fills), else node 0's.
fn pressure_node() -> Option<NodeId> {
    let t = crate::numa::topology();
    let nodes = (0..t.node_count())
        .filter(|&n| t.has_memory(n) && vmscan::kswapd(n).thread.get().is_some());
    let me = percpu::cpu_id();
    let mut first = None;
    for n in nodes {
        first = first.or(Some(n));
        if vmscan::kswapd(n).thread.get().is_some_and(|k| k.cpu != me) {
            return Some(n);
        }
    }
    first
}

fn node_managed(node: NodeId) -> u64 {
    allocator()
        .node(node)
        .map_or(0, |n| n.zones.iter().map(|z| z.managed()).sum())
}

use sched::wait_for;

const THISNODE: Gfp = Gfp(Gfp::THISNODE.0 | Gfp::NOWARN.0);

selftest!(
    explicit "pressure",
    fn kswapd_restores_the_high_watermark_of_a_node_pushed_below_low() {
        let Some(node) = pressure_node() else {
            return Err(crate::selftest::Failure::Skipped("no node with a kswapd"));
        };
        let k = vmscan::kswapd(node);
        // A cache larger than the node: reading it in must cross low.
        let blocks = (node_managed(node) + 4096) as u32;
        let Some(cache) = PageCache::create("selftest-kswapd", blocks) else {
            return Err(crate::selftest::Failure::Skipped("no memory for the cache index"));
        };
        let _guard = CacheGuard(cache);
        k.failures.store(0, Relaxed);
        let wakeups = k.wakeups.load(Relaxed);
        let steal = VMSTAT.pgsteal_kswapd.load(Relaxed);
        let restored = VMSTAT.kswapd_high_wmark_restored.load(Relaxed);
        let below_low = k.woken_below_low.load(Relaxed);
        let mut read = 0;
        while k.wakeups.load(Relaxed) == wakeups && read < blocks {
            if cache.read(read, node, Gfp::KERNEL | THISNODE).is_err() {
                break;
            }
            read += 1;
        }
        kprintln!(
            "    # node {node}: {read} blocks read into the cache until kswapd{node} woke (cpu {})",
            k.thread.get().map_or(0, |t| t.cpu)
        );
        kassert!(k.wakeups.load(Relaxed) > wakeups, "kswapd{node} never woke");
        kassert!(k.woken_below_low.load(Relaxed) > below_low, "woken without a zone below low");
        let balanced = wait_for(20_000_000_000, || vmscan::node_balanced(node) && !k.running.load(Acquire));
        let mut report = alloc::string::String::new();
        let _ = vmscan::watermark_report(&mut report);
        let mine = alloc::format!("Node {node} ");
        let mut in_node = false;
        for line in report.lines() {
            if line.starts_with("Node ") {
                in_node = line.starts_with(&mine);
            }
            if in_node {
                kprintln!("    # {line}");
            }
        }
        kassert!(balanced, "node {node} not back at its high watermark in 20 s");
        kassert!(VMSTAT.pgsteal_kswapd.load(Relaxed) > steal, "kswapd freed nothing");
        kassert!(VMSTAT.kswapd_high_wmark_restored.load(Relaxed) > restored);
        kassert_eq!(cache.stats.corrupt.load(Relaxed), 0);
        // What was dropped, or demoted to a lower tier, reads back with
        // the same bytes.
        for b in 0..read.min(256) {
            kassert_eq!(cache.read(b, node, Gfp::KERNEL), Ok(()));
        }
        kassert_eq!(cache.stats.corrupt.load(Relaxed), 0);
        let demoted = cache.stats.demoted.load(Relaxed);
        if demoted > 0 {
            let tiers = &crate::numa::memory_tiers().tiers;
            let lower = tiers.preferred[node] | tiers.fallback[node];
            let there: u64 = numa::hmat::nodes_of(lower)
                .map(|n| {
                    let (a, i, _, _) = cache.node_counts(n);
                    a + i
                })
                .sum();
            let mut list = alloc::string::String::new();
            let _ = numa::hmat::write_nodelist(&mut list, lower);
            kprintln!(
                "    # {demoted} pages demoted from node {node} to nodes {list} ({there} cached there now); blocks 0-{} read back intact",
                read.min(256) - 1
            );
        }
        Ok(())
    }
);

selftest!(
    explicit "pressure",
    fn an_atomic_allocation_under_pressure_never_sleeps() {
        let Some(node) = pressure_node() else {
            return Err(crate::selftest::Failure::Skipped("no node with a kswapd"));
        };
        let me = sched::current().unwrap();
        // Both indexes first: once the node is drained there may be no
        // memory for them.
        let (mut held, mut atomic) = (Held::new(), Held::new());
        held.take_everything(node as i32, Gfp::KERNEL | THISNODE);
        kassert!(!held.full(), "index too small to drain the node");
        let cpu = percpu::cpu_id();
        let (switches, nvcsw) = (sched::switches(cpu), me.nvcsw.load(Relaxed));
        let bugs = sched::ATOMIC_SLEEP_BUGS.load(Relaxed);
        let passes = RECLAIM_CALLS.direct_reclaim_passes.load(Relaxed);
        let wakeups = RECLAIM_CALLS.kswapd_wakeups.load(Relaxed);
        let t0 = tsc::ns_since_boot();
        atomic.take_everything(node as i32, Gfp::ATOMIC | THISNODE);
        let took = tsc::ns_since_boot() - t0;
        kassert!(!atomic.full(), "index too small to drain the reserve");
        kprintln!(
            "    # node {node}: GFP_ATOMIC got {} pages below GFP_KERNEL's floor in {} us",
            atomic.pages(),
            took / 1000
        );
        kassert!(atomic.pages() > 0, "GFP_ATOMIC has a reserve below min");
        kassert_eq!(sched::switches(cpu), switches, "a context switch during GFP_ATOMIC");
        kassert_eq!(me.nvcsw.load(Relaxed), nvcsw);
        kassert_eq!(sched::ATOMIC_SLEEP_BUGS.load(Relaxed), bugs);
        kassert_eq!(RECLAIM_CALLS.direct_reclaim_passes.load(Relaxed), passes, "GFP_ATOMIC reclaimed");
        kassert!(RECLAIM_CALLS.kswapd_wakeups.load(Relaxed) > wakeups, "but it wakes kswapd");
        drop(atomic);
        drop(held);
        Ok(())
    }
);

/// A shrinker that records the context of every call it gets.
struct Probe {
    io: bool,
    fs: bool,
    armed: AtomicBool,
    /// Calls whose context lacked what the shrinker declared it needs.
    violations: AtomicU64,
    calls: AtomicU64,
}

impl Shrinker for Probe {
    fn name(&self) -> &'static str {
        if self.io {
            "selftest-needs-io"
        } else {
            "selftest-needs-fs"
        }
    }
    fn needs_io(&self) -> bool {
        self.io
    }
    fn needs_fs(&self) -> bool {
        self.fs
    }
    fn count(&self, _sc: &ShrinkControl) -> u64 {
        if self.armed.load(Relaxed) {
            64
        } else {
            0
        }
    }
    fn scan(&self, sc: &ShrinkControl) -> u64 {
        self.calls.fetch_add(1, Relaxed);
        if (self.io && !sc.ctx.may_io) || (self.fs && !sc.ctx.may_fs) {
            self.violations.fetch_add(1, Relaxed);
        }
        0
    }
}

static IO_PROBE: Probe = Probe {
    io: true,
    fs: false,
    armed: AtomicBool::new(false),
    violations: AtomicU64::new(0),
    calls: AtomicU64::new(0),
};
static FS_PROBE: Probe = Probe {
    io: false,
    fs: true,
    armed: AtomicBool::new(false),
    violations: AtomicU64::new(0),
    calls: AtomicU64::new(0),
};
/// Disarms and unregisters the probes however the test ends.
struct ProbesRegistered;

impl Drop for ProbesRegistered {
    fn drop(&mut self) {
        for p in [&IO_PROBE, &FS_PROBE] {
            p.armed.store(false, SeqCst);
            shrinker::unregister_shrinker(p);
        }
    }
}

static IO_STATS: ShrinkerStats = ShrinkerStats::new();
static FS_STATS: ShrinkerStats = ShrinkerStats::new();

selftest!(
    explicit "pressure",
    fn gfp_noio_and_nofs_reclaim_skip_what_needs_io_or_the_filesystem() {
        let Some(node) = pressure_node() else {
            return Err(crate::selftest::Failure::Skipped("no node with a kswapd"));
        };
        kassert!(shrinker::register_shrinker(&IO_PROBE, &IO_STATS).is_ok());
        kassert!(shrinker::register_shrinker(&FS_PROBE, &FS_STATS).is_ok());
        let _probes = ProbesRegistered;
        kassert_eq!(
            shrinker::register_shrinker(&IO_PROBE, &IO_STATS),
            Err(shrinker::RegisterError::AlreadyRegistered)
        );
        let Some(cache) = PageCache::create("selftest-dirty", 64) else {
            return Err(crate::selftest::Failure::Skipped("no memory for the cache index"));
        };
        let guard = CacheGuard(cache);
        // Where a lower tier exists, reclaim would demote the dirty pages
        // (no I/O needed); this case is about writeback, so none here.
        let _no_demotion = DemotionOff::new();
        let mut held = Held::new();
        held.take_everything(node as i32, Gfp::KERNEL | THISNODE);
        kassert!(!held.full(), "index too small to drain the node");
        // kswapd, woken by the hoarding, finds nothing to free and stops.
        let k = vmscan::kswapd(node);
        kassert!(wait_for(10_000_000_000, || !k.running.load(SeqCst)), "kswapd{node} still running");
        // Dirty cache pages on the full node (from the atomic reserve):
        // only reclaim that may do I/O may write them back.
        for b in 0..64 {
            kassert_eq!(cache.write(b, node, Gfp::ATOMIC | THISNODE), Ok(()));
        }
        kassert_eq!(cache.dirty_total(), 64);
        IO_PROBE.armed.store(true, SeqCst);
        FS_PROBE.armed.store(true, SeqCst);
        let calls = |p: &Probe| p.calls.load(SeqCst);
        let skipped = IO_STATS.skipped.load(SeqCst);
        let writebacks = cache.stats.writebacks.load(SeqCst);
        let dirty_skipped = cache.stats.dirty_skipped.load(SeqCst);
        let passes = RECLAIM_CALLS.direct_reclaim_passes.load(SeqCst);

        let p = alloc_pages_node(node as i32, Gfp::NOIO | THISNODE | Gfp::NORETRY, 0);
        kassert!(RECLAIM_CALLS.direct_reclaim_passes.load(SeqCst) > passes, "GFP_NOIO never reached direct reclaim");
        let ctx = RECLAIM_CALLS.last_context.lock().unwrap();
        kassert!(!ctx.may_io && !ctx.may_fs, "{ctx:?}");
        if let Some(p) = p {
            held.push(p, 0);
        }
        kassert!(IO_STATS.skipped.load(SeqCst) > skipped, "the I/O shrinker was not even considered");
        // kswapd (full context) may call both meanwhile; never out of context.
        kassert_eq!(IO_PROBE.violations.load(SeqCst), 0, "an I/O shrinker ran without __GFP_IO");
        kassert_eq!(FS_PROBE.violations.load(SeqCst), 0, "an FS shrinker ran without __GFP_FS");

        // GFP_NOFS may do I/O, not filesystem work.
        let p = alloc_pages_node(node as i32, Gfp::NOFS | THISNODE | Gfp::NORETRY, 0);
        if let Some(p) = p {
            held.push(p, 0);
        }
        kassert_eq!(FS_PROBE.violations.load(SeqCst), 0, "an FS shrinker ran under GFP_NOFS");
        // Under both, the dirty pages were passed over, not written back.
        kassert_eq!(cache.dirty_total(), 64);
        kassert_eq!(cache.stats.writebacks.load(SeqCst), writebacks);
        kassert!(cache.stats.dirty_skipped.load(SeqCst) > dirty_skipped, "reclaim never looked at them");

        // The controls: GFP_KERNEL reclaim writes the dirty pages back...
        let p = alloc_pages_node(node as i32, Gfp::KERNEL | THISNODE | Gfp::NORETRY, 0);
        if let Some(p) = p {
            held.push(p, 0);
        }
        kassert!(cache.stats.writebacks.load(SeqCst) > writebacks, "GFP_KERNEL reclaim wrote nothing back");
        kassert_eq!(cache.stats.corrupt.load(SeqCst), 0);
        // ...and, with nothing left on the LRU lists, its priority falls
        // until it calls both shrinkers.
        drop(guard);
        held.take_everything(node as i32, Gfp::KERNEL | THISNODE);
        let before = (calls(&IO_PROBE), calls(&FS_PROBE));
        let p = alloc_pages_node(node as i32, Gfp::KERNEL | THISNODE | Gfp::NORETRY, 0);
        if let Some(p) = p {
            held.push(p, 0);
        }
        kassert!(calls(&IO_PROBE) > before.0 && calls(&FS_PROBE) > before.1, "GFP_KERNEL reclaim skipped them");
        kassert_eq!(IO_PROBE.violations.load(SeqCst) + FS_PROBE.violations.load(SeqCst), 0);
        drop(held);
        Ok(())
    }
);

/// Demotion off while it lives, as it was before after.
struct DemotionOff(bool);

impl DemotionOff {
    fn new() -> Self {
        DemotionOff(super::pagecache::DEMOTION_ENABLED.swap(false, SeqCst))
    }
}

impl Drop for DemotionOff {
    fn drop(&mut self) {
        super::pagecache::DEMOTION_ENABLED.store(self.0, SeqCst);
    }
}

/// Free pages everywhere, per-CPU lists included, once things settled.
fn settled_free_pages() -> u64 {
    drain_all_pages();
    sched::reap_all_dead(2_000_000_000);
    super::vmalloc::purge_lazy();
    drain_all_pages();
    super::selftest_support::free_pages_now()
}

/// Pages in slabs and vmalloc page tables: where kernel bookkeeping (task
/// and thread structs, stacks' page tables) lands.
fn bookkeeping_pages() -> (u64, u64) {
    let (r, u) = super::slab::slab_pages();
    (r + u, super::vmalloc::page_table_pages())
}

static HOG_DONE: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];
static HOG_END: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

const END_TARGET: u64 = 1;
const END_KILLED: u64 = 2;
const END_NOMEM: u64 = 3;

/// A memory-hungry task's thread: `target` pages, each touched, then hold
/// them until `hold_until` says so.
fn hog(task: &Task, slot: usize, target: u64, hold_until: &'static AtomicBool) {
    let mut got = 0;
    let end = loop {
        if got == target {
            break END_TARGET;
        }
        // Touch each page past the chain word, as a program would.
        match task.alloc_page(
            Gfp::KERNEL | Gfp::NOWARN,
            super::page_alloc::NUMA_NO_NODE,
            |w| w[0] = got,
        ) {
            Ok(()) => {
                got += 1;
                HOG_DONE[slot].store(got, Relaxed);
                if got % 64 == 0 {
                    sched::cond_resched();
                }
                // Some kernel objects on its behalf too.
                if got % 256 == 0 {
                    match task.kmalloc(1000, Gfp::KERNEL | Gfp::NOWARN) {
                        Ok(_) => {}
                        Err(TaskAllocError::Killed) => break END_KILLED,
                        Err(TaskAllocError::NoMemory) => break END_NOMEM,
                    }
                }
            }
            Err(TaskAllocError::Killed) => break END_KILLED,
            Err(TaskAllocError::NoMemory) => break END_NOMEM,
        }
    };
    HOG_END[slot].store(end, SeqCst);
    while end == END_TARGET && !hold_until.load(SeqCst) && !task.is_killed() {
        sched::sleep_ns(1_000_000);
    }
}

/// Clears both hog slots for a new case.
fn reset_hogs() {
    for s in 0..2 {
        HOG_DONE[s].store(0, SeqCst);
        HOG_END[s].store(0, SeqCst);
    }
}

/// A thread of `task` (named as the task) on `cpu` running [`hog`] in
/// `slot` up to `target` pages, holding them until `hold_until`.
fn spawn_hog(
    task: &Arc<Task>,
    cpu: u32,
    slot: usize,
    target: u64,
    hold_until: &'static AtomicBool,
) -> Arc<sched::Thread> {
    let t = task.clone();
    crate::sched::task::spawn_for(task, task.name, Binding::Cpu(cpu), move || {
        hog(&t, slot, target, hold_until)
    })
    .expect("a hog thread")
}

selftest!(
    explicit "pressure",
    fn the_oom_killer_takes_the_plus_500_task_and_spares_the_protected_one() {
        // Different CPUs where there are two, or both here taking turns.
        let cpus: alloc::vec::Vec<u32> = percpu::online().map(|c| c.cpu).collect();
        let (ca, cb) = (cpus[cpus.len() - 1], cpus[cpus.len().saturating_sub(2)]);
        // Warm up: the same tasks and threads once, so slab caches and the
        // stacks' page tables are in place before the balance is taken.
        for _ in 0..2 {
            let a = Task::create("warmup-a", 0).unwrap();
            let b = Task::create("warmup-b", 0).unwrap();
            let ta = crate::sched::task::spawn_for(&a, "warmup-a", Binding::Cpu(ca), || {}).unwrap();
            let tb = crate::sched::task::spawn_for(&b, "warmup-b", Binding::Cpu(cb), || {}).unwrap();
            sched::join(&ta);
            sched::join(&tb);
        }
        drop(cpus);
        let before = settled_free_pages();
        let books_before = bookkeeping_pages();
        let total = crate::sched::task::totalpages();
        let target = total * 6 / 10;
        let kills = VMSTAT.oom_kill.load(SeqCst);
        let stalls = VMSTAT.allocstall.load(SeqCst);
        static RELEASE: AtomicBool = AtomicBool::new(false);
        RELEASE.store(false, SeqCst);
        reset_hogs();
        let protected = Task::create("hog-protected", -1000).unwrap();
        let victim = Task::create("hog-victim", 500).unwrap();
        kassert!(protected.set_oom_score_adj(-1001).is_err(), "adj below -1000 accepted");
        kassert!(victim.set_oom_score_adj(1001).is_err(), "adj above 1000 accepted");
        kassert_eq!(protected.oom_score_adj(), -1000);
        kprintln!(
            "    # {total} pages of RAM; each task wants {target}; protected on cpu {ca}, victim on cpu {cb}"
        );
        let pt = spawn_hog(&protected, ca, 0, target, &RELEASE);
        let vt = spawn_hog(&victim, cb, 1, target, &RELEASE);
        let settled = wait_for(120_000_000_000, || {
            HOG_END[0].load(SeqCst) != 0 && HOG_END[1].load(SeqCst) != 0
        });
        let mut tasks = alloc::string::String::new();
        let _ = crate::sched::task::report(&mut tasks);
        for line in tasks.lines() {
            kprintln!("    # {line}");
        }
        RELEASE.store(true, SeqCst);
        kassert!(settled, "the tasks did not finish in 120 s: {} and {} pages", HOG_DONE[0].load(SeqCst), HOG_DONE[1].load(SeqCst));
        sched::join(&pt);
        sched::join(&vt);
        kprintln!(
            "    # protected got {} pages (end {}), victim {} (end {}); victim gave back {} pages",
            HOG_DONE[0].load(SeqCst),
            HOG_END[0].load(SeqCst),
            HOG_DONE[1].load(SeqCst),
            HOG_END[1].load(SeqCst),
            victim.pages_released.load(SeqCst)
        );
        // The victim is killed while it still allocates, or, where a busy
        // host let it reach its target first, while it holds its memory.
        let victim_end = HOG_END[1].load(SeqCst);
        kassert!(
            victim_end == END_KILLED || (victim_end == END_TARGET && victim.is_killed()),
            "the +500 task was not killed (end {victim_end})"
        );
        kassert_eq!(HOG_END[0].load(SeqCst), END_TARGET, "the protected task did not get its memory");
        kassert!(victim.is_killed() && !protected.is_killed());
        kassert_eq!(VMSTAT.oom_kill.load(SeqCst) - kills, 1, "one kill");
        kassert!(VMSTAT.allocstall.load(SeqCst) > stalls, "no direct reclaim before the kill");
        kassert_eq!(victim.pages_released.load(SeqCst), HOG_DONE[1].load(SeqCst));
        kassert_eq!(protected.pages_released.load(SeqCst), target);
        kassert_eq!(victim.rss_pages() + protected.rss_pages(), 0);
        kassert_eq!(victim.slab_bytes() + protected.slab_bytes(), 0, "charged objects left");
        drop((pt, vt, protected, victim));
        let after = settled_free_pages();
        let books_after = bookkeeping_pages();
        kprintln!(
            "    # free pages before {before}, after {after}; slab pages {} -> {}, vmalloc page tables {} -> {}",
            books_before.0, books_after.0, books_before.1, books_after.1
        );
        // Every page is free again or in the kernel's own bookkeeping.
        kassert_eq!(
            after + books_after.0 + books_after.1,
            before + books_before.0 + books_before.1,
            "pages lost or gained across the kill"
        );
        Ok(())
    }
);

selftest!(
    explicit "pressure",
    fn a_bind_task_out_of_memory_is_killed_within_its_nodes_and_a_task_bound_elsewhere_is_spared() {
        // Linux's CONSTRAINT_MEMORY_POLICY: a bind allocation that runs
        // out reclaims and kills within its nodes; a task bound to other
        // nodes cannot give memory back there, so even at +1000 it is no
        // candidate.
        let t = crate::numa::topology();
        let mut memory = (0..t.node_count()).filter(|&n| t.has_memory(n) && node_managed(n) > 0);
        let (Some(first), Some(second)) = (memory.next(), memory.next()) else {
            return Err(crate::selftest::Failure::Skipped("needs two nodes with memory"));
        };
        // Fill the smaller of the two.
        let (full, other) = if node_managed(second) < node_managed(first) {
            (second, first)
        } else {
            (first, second)
        };
        let bind = |n: NodeId| {
            mm::mempolicy::MemPolicy::new(
                mm::mempolicy::Mode::Bind,
                1 << n,
                super::mempolicy::memory_nodes(),
            )
            .expect("a node with memory")
        };
        let cpus: alloc::vec::Vec<u32> = percpu::online().map(|c| c.cpu).collect();
        let (ca, cb) = (cpus[cpus.len() - 1], cpus[cpus.len().saturating_sub(2)]);
        drop(cpus);
        let before = settled_free_pages();
        let books_before = bookkeeping_pages();
        let kills = VMSTAT.oom_kill.load(SeqCst);
        static RELEASE: AtomicBool = AtomicBool::new(false);
        RELEASE.store(false, SeqCst);
        reset_hogs();
        let bound = Task::create("hog-bound", 0).unwrap();
        bound.mempolicy.set(bind(full));
        let bystander = Task::create("bystander", 1000).unwrap();
        bystander.mempolicy.set(bind(other));
        let more_than_the_node = node_managed(full) + 1;
        kprintln!(
            "    # hog-bound (bind:{full}) wants {more_than_the_node} pages; bystander (bind:{other}, oom_score_adj 1000) holds 64"
        );
        let bt = spawn_hog(&bystander, cb, 1, 64, &RELEASE);
        kassert!(wait_for(10_000_000_000, || HOG_END[1].load(SeqCst) != 0), "the bystander got no memory");
        let ht = spawn_hog(&bound, ca, 0, more_than_the_node, &RELEASE);
        let ended = wait_for(120_000_000_000, || HOG_END[0].load(SeqCst) != 0);
        RELEASE.store(true, SeqCst);
        kassert!(ended, "hog-bound still running after 120 s ({} pages)", HOG_DONE[0].load(SeqCst));
        sched::join(&ht);
        sched::join(&bt);
        kprintln!(
            "    # hog-bound got {} pages before its end ({}); bystander {} (end {})",
            HOG_DONE[0].load(SeqCst),
            HOG_END[0].load(SeqCst),
            HOG_DONE[1].load(SeqCst),
            HOG_END[1].load(SeqCst)
        );
        kassert_eq!(HOG_END[0].load(SeqCst), END_KILLED, "the bound task was not killed");
        kassert!(bound.is_killed());
        kassert!(!bystander.is_killed(), "a task bound to node {other} was killed for node {full}");
        kassert_eq!(HOG_END[1].load(SeqCst), END_TARGET);
        kassert_eq!(VMSTAT.oom_kill.load(SeqCst) - kills, 1, "one kill");
        kassert_eq!(bound.rss_pages() + bystander.rss_pages(), 0);
        drop((ht, bt, bound, bystander));
        let after = settled_free_pages();
        let books_after = bookkeeping_pages();
        kassert_eq!(
            after + books_after.0 + books_after.1,
            before + books_before.0 + books_before.1,
            "pages lost or gained across the kill"
        );
        Ok(())
    }
);
