//! The `mempolicy` suite: a task's thread allocates N pages under each
//! policy mode, and both where they land and the numastat deltas are
//! exactly what Linux's rules give (as LTP's set_mempolicy tests check:
//! interleave over k nodes puts N/k on each).

use super::mempolicy::{memory_nodes, weights};
use super::page_alloc::{__free_pages, alloc_pages, allocator, Page};
use crate::bench::policy::PolicyRun;
use crate::numa::topology;
use crate::sched::task::{spawn_for, Task};
use crate::sched::Binding;
use crate::{kassert, kassert_eq, kprintln, selftest};
use mm::gfp::Gfp;
use mm::mempolicy::{MemPolicy, Mode, NodeMask};
use mm::stats::NumaStat;
use spin::Mutex;

const N: usize = 60;

/// The bench's runner (a task thread on CPU 0, numastat around its own
/// allocations), as a test outcome.
fn run_under(p: MemPolicy) -> Result<PolicyRun, crate::selftest::Failure> {
    let r = crate::bench::policy::run_under(p, N, 0).ok_or(crate::selftest::Failure::Failed)?;
    if r.failed > 0 {
        kprintln!("    # {p}: {} of {N} allocations failed", r.failed);
        return Err(crate::selftest::Failure::Failed);
    }
    Ok(r)
}

fn two_nodes_with_memory() -> Result<(usize, usize), crate::selftest::Failure> {
    let m = memory_nodes();
    if m.count_ones() < 2 {
        return Err(crate::selftest::Failure::Skipped(
            "needs two nodes with memory",
        ));
    }
    let a = m.trailing_zeros() as usize;
    let b = (m & !(1 << a)).trailing_zeros() as usize;
    Ok((a, b))
}

fn mask(nodes: &[usize]) -> NodeMask {
    nodes.iter().fold(0, |m, &n| m | 1 << n)
}

fn policy(mode: Mode, nodes: &[usize]) -> MemPolicy {
    MemPolicy::new(mode, mask(nodes), memory_nodes()).expect("a valid test policy")
}

/// CPU 0's node and memory node: where local allocations go.
fn cpu0_nodes() -> (usize, usize) {
    let t = topology();
    let n = t.cpu_to_node(0);
    (n, t.mem_node(n))
}

selftest!(
    "mempolicy",
    fn interleave_puts_n_over_k_pages_on_each_node() {
        let (a, b) = two_nodes_with_memory()?;
        let r = run_under(policy(Mode::Interleave, &[a, b]))?;
        kprintln!(
            "    # interleave {a},{b}: {} / {} pages",
            r.pages[a],
            r.pages[b]
        );
        kassert_eq!(r.failed, 0);
        kassert_eq!(r.pages[a], N / 2);
        kassert_eq!(r.pages[b], N / 2);
        // Every page landed where it was sent: interleave_hit and numa_hit.
        for n in [a, b] {
            kassert_eq!(
                r.delta[n][NumaStat::InterleaveHit as usize],
                (N / 2) as u64,
                "node {n}"
            );
            kassert_eq!(
                r.delta[n][NumaStat::Hit as usize],
                (N / 2) as u64,
                "node {n}"
            );
            kassert_eq!(r.delta[n][NumaStat::Miss as usize], 0, "node {n}");
        }
        // local_node/other_node are against the allocating CPU's node.
        let (cpu_node, _) = cpu0_nodes();
        let local: u64 = [a, b]
            .iter()
            .filter(|&&n| n == cpu_node)
            .map(|&n| r.delta[n][NumaStat::LocalNode as usize])
            .sum();
        let other: u64 = [a, b]
            .iter()
            .map(|&n| r.delta[n][NumaStat::OtherNode as usize])
            .sum();
        kassert_eq!(local + other, N as u64);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn bind_keeps_every_page_on_its_nodes() {
        let (a, b) = two_nodes_with_memory()?;
        let (_, local_mem) = cpu0_nodes();
        // Bind to a node that is not CPU 0's memory node: every page there,
        // each one a numa_hit of that node (the first allowed node of CPU 0's
        // zonelist is the preferred one) and an other_node.
        let target = if local_mem == a { b } else { a };
        let r = run_under(policy(Mode::Bind, &[target]))?;
        kprintln!(
            "    # bind:{target} from CPU 0: {} pages there, {} elsewhere, {} failed",
            r.pages[target],
            N - r.pages[target] - r.failed,
            r.failed
        );
        kassert_eq!(r.failed, 0);
        kassert_eq!(r.pages[target], N);
        kassert_eq!(r.delta[target][NumaStat::Hit as usize], N as u64);
        kassert_eq!(r.delta[target][NumaStat::OtherNode as usize], N as u64);
        kassert_eq!(r.delta[target][NumaStat::Miss as usize], 0);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn prefer_sends_pages_to_its_node() {
        let (a, b) = two_nodes_with_memory()?;
        let (_, local_mem) = cpu0_nodes();
        let target = if local_mem == a { b } else { a };
        let r = run_under(policy(Mode::Preferred, &[target]))?;
        kassert_eq!(r.pages[target], N);
        kassert_eq!(r.delta[target][NumaStat::Hit as usize], N as u64);
        let many = run_under(policy(Mode::PreferredMany, &[target]))?;
        kassert_eq!(many.pages[target], N);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn default_and_local_stay_on_the_cpus_node() {
        let (_, local_mem) = cpu0_nodes();
        // A task's "default" is the system default: local unless mpol=
        // says otherwise; "local" is local whatever mpol= says.
        let system_is_local = super::mempolicy::system_policy().get().is_default();
        let modes: &[Mode] = if system_is_local {
            &[Mode::Default, Mode::Local]
        } else {
            &[Mode::Local]
        };
        for &mode in modes {
            let r = run_under(policy(mode, &[]))?;
            kassert_eq!(r.pages[local_mem], N, "{mode:?}");
            kassert_eq!(
                r.delta[local_mem][NumaStat::Hit as usize],
                N as u64,
                "{mode:?}"
            );
        }
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn weighted_interleave_shares_follow_the_weights() {
        let (a, b) = two_nodes_with_memory()?;
        let w = weights();
        let (wa, wb) = (w.0[a].max(1) as usize, w.0[b].max(1) as usize);
        let p = policy(Mode::WeightedInterleave, &[a, b]);
        let r = run_under(p)?;
        // Whole rounds of wa + wb pages, then the start of the next round
        // (node a's share first).
        let want = crate::bench::policy::expected(&p, N);
        let (want_a, want_b) = (want[a], want[b]);
        kassert_eq!(want_a + want_b, N);
        kprintln!(
            "    # weights {a}:{wa} {b}:{wb} ({:?}): {} / {} pages",
            w.1,
            r.pages[a],
            r.pages[b]
        );
        kassert_eq!(r.pages[a], want_a);
        kassert_eq!(r.pages[b], want_b);
        kassert_eq!(r.delta[a][NumaStat::InterleaveHit as usize], want_a as u64);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn dma32_requests_are_not_policed_on_a_machine_with_normal_memory() {
        // Linux polices only the highest zone: a bind policy does not confine
        // a GFP_DMA32 request when some node has ZONE_NORMAL.
        let a = allocator();
        let has_normal = a
            .zones()
            .any(|z| z.is_populated() && z.kind == mm::zone::ZoneType::Normal);
        if !has_normal {
            return Err(crate::selftest::Failure::Skipped(
                "no ZONE_NORMAL: DMA32 is the policed zone",
            ));
        }
        let dma32_nodes: NodeMask = a
            .zones()
            .filter(|z| z.is_populated() && z.kind == mm::zone::ZoneType::Dma32)
            .fold(0, |m, z| m | 1 << z.node);
        let memory = memory_nodes();
        let Some(elsewhere) = (0..topology().node_count())
            .find(|&n| memory & 1 << n != 0 && dma32_nodes & 1 << n == 0)
        else {
            return Err(crate::selftest::Failure::Skipped(
                "every node has DMA32 memory",
            ));
        };
        let task = Task::create("mpol-dma32", 0).map_err(|_| crate::selftest::Failure::Failed)?;
        task.mempolicy.set(policy(Mode::Bind, &[elsewhere]));
        static GOT: Mutex<Option<u64>> = Mutex::new(None);
        let t = spawn_for(&task, "mpol-dma32", Binding::Cpu(0), || {
            *GOT.lock() = alloc_pages(Gfp::KERNEL | Gfp::DMA32, 0).map(|p| p.pfn());
        })
        .map_err(|_| crate::selftest::Failure::Failed)?;
        crate::sched::join(&t);
        let pfn = GOT.lock().take();
        kassert!(pfn.is_some(), "a DMA32 page under bind:{elsewhere}");
        let page = Page::from_pfn(pfn.unwrap());
        kassert!(page.nid().is_some_and(|n| dma32_nodes & 1 << n != 0));
        __free_pages(page, 0);
        drop(task);
        crate::sched::reap_all_dead(1_000_000_000);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn a_task_started_by_a_policy_thread_inherits_the_policy() {
        let (a, b) = two_nodes_with_memory()?;
        let parent =
            Task::create("mpol-parent", 0).map_err(|_| crate::selftest::Failure::Failed)?;
        let p = policy(Mode::Interleave, &[a, b]);
        parent.mempolicy.set(p);
        static CHILD: Mutex<Option<MemPolicy>> = Mutex::new(None);
        let t = spawn_for(&parent, "mpol-parent", Binding::Cpu(0), || {
            let child = Task::create("mpol-child", 0).ok();
            *CHILD.lock() = child.as_ref().map(|c| c.mempolicy.get());
            if let Some(c) = child {
                c.unregister();
            }
        })
        .map_err(|_| crate::selftest::Failure::Failed)?;
        crate::sched::join(&t);
        kassert_eq!(CHILD.lock().take(), Some(p));
        drop(parent);
        crate::sched::reap_all_dead(1_000_000_000);
        Ok(())
    }
);

selftest!(
    "mempolicy",
    fn new_slabs_follow_the_policy() {
        use super::slab::{
            kmem_cache_alloc, kmem_cache_create, kmem_cache_destroy, kmem_cache_free,
        };
        let (a, b) = two_nodes_with_memory()?;
        let (_, local_mem) = cpu0_nodes();
        let target = if local_mem == a { b } else { a };
        let Some(cache) = kmem_cache_create(
            "mpol-slab",
            512,
            8,
            mm::slub::SlabFlags::HWCACHE_ALIGN,
            None,
        ) else {
            return Err(crate::selftest::Failure::Skipped("no memory for a cache"));
        };
        let task = Task::create("mpol-slab", 0).map_err(|_| crate::selftest::Failure::Failed)?;
        task.mempolicy.set(policy(Mode::Bind, &[target]));
        const OBJECTS: usize = 64;
        static ON: Mutex<[usize; 2]> = Mutex::new([0; 2]);
        let t = spawn_for(&task, "mpol-slab", Binding::Cpu(0), move || {
            let mut objs = [core::ptr::null_mut::<u8>(); OBJECTS];
            let mut on = [0usize; 2];
            for o in objs.iter_mut() {
                *o = kmem_cache_alloc(cache, Gfp::KERNEL);
                let node = super::page_alloc::virt_to_page(*o).and_then(|p| p.nid());
                on[usize::from(node != Some(target))] += 1;
            }
            for o in objs {
                if !o.is_null() {
                    kmem_cache_free(cache, o);
                }
            }
            *ON.lock() = on;
        })
        .map_err(|_| crate::selftest::Failure::Failed)?;
        crate::sched::join(&t);
        drop(task);
        crate::sched::reap_all_dead(1_000_000_000);
        let on = *ON.lock();
        kprintln!(
            "    # bind:{target}: {} of {OBJECTS} objects from slabs on node {target}",
            on[0]
        );
        let _ = kmem_cache_destroy(cache);
        kassert_eq!(on, [OBJECTS, 0]);
        Ok(())
    }
);

/// A task with `n` pages on `node`, each holding its index and the
/// index's complement at both ends.
fn task_with_pages(
    name: &'static str,
    node: usize,
    n: u64,
) -> Result<alloc::sync::Arc<Task>, crate::selftest::Failure> {
    let task = Task::create(name, 0).map_err(|_| crate::selftest::Failure::Failed)?;
    for i in 0..n {
        let filled = task.alloc_page(Gfp::KERNEL | Gfp::NOWARN, node as i32, |w| {
            w[0] = i;
            let last = w.len() - 1;
            w[last] = !i;
        });
        kassert!(filled.is_ok(), "page {i} on node {node}");
    }
    Ok(task)
}

/// The pages' indices, each checked against its complement.
fn task_page_indices(task: &Task) -> alloc::vec::Vec<u64> {
    // Sized first: the walk runs under the task's lock, which must not
    // allocate.
    let mut got = alloc::vec::Vec::with_capacity(task.rss_pages() as usize);
    task.for_each_page(|_, w| {
        if w[w.len() - 1] == !w[0] && got.len() < got.capacity() {
            got.push(w[0]);
        }
    });
    got.sort_unstable();
    got
}

selftest!(
    "mempolicy",
    fn migrate_pages_moves_a_tasks_pages_and_their_contents_to_the_other_node() {
        use super::migrate::MIGRATE_STAT;
        use core::sync::atomic::Ordering::Relaxed;
        let (a, b) = two_nodes_with_memory()?;
        const N: u64 = 300;
        // Once to warm the caches migration's bookkeeping uses, then counted.
        for round in 0..2 {
            let before = super::selftest_support::free_counts();
            let (ok0, fail0) = (
                MIGRATE_STAT.pgmigrate_success.load(Relaxed),
                MIGRATE_STAT.pgmigrate_fail.load(Relaxed),
            );
            let task = task_with_pages("migrate", a, N)?;
            kassert_eq!(task.pages_per_node()[a], N);
            kassert_eq!(task.migrate_pages(mask(&[a]), mask(&[b])), (N, 0));
            let per_node = task.pages_per_node();
            kassert_eq!((per_node[a], per_node[b]), (0, N), "all on node {b} now");
            kassert_eq!(
                task_page_indices(&task),
                (0..N).collect::<alloc::vec::Vec<_>>(),
                "contents intact"
            );
            kassert_eq!(task.rss_pages(), N);
            // Nothing left on `a`: a second call moves nothing.
            kassert_eq!(task.migrate_pages(mask(&[a]), mask(&[b])), (0, 0));
            kassert_eq!(MIGRATE_STAT.pgmigrate_success.load(Relaxed) - ok0, N);
            kassert_eq!(MIGRATE_STAT.pgmigrate_fail.load(Relaxed), fail0);
            // A node without memory takes nothing: every page stays, each
            // counted as a failure.
            let memless = (0..topology().node_count()).find(|&n| memory_nodes() & 1 << n == 0);
            if let Some(m) = memless {
                kassert_eq!(task.migrate_pages(mask(&[b]), mask(&[m])), (0, N));
                kassert_eq!(task.pages_per_node()[b], N);
                kassert_eq!(task_page_indices(&task).len() as u64, N);
            } else if round == 1 {
                kprintln!("    # no memory-less node: the failing migration not checked");
            }
            kassert_eq!(task.release_memory(), N);
            drop(task);
            crate::sched::reap_all_dead(1_000_000_000);
            if round == 1 {
                kassert_eq!(
                    super::selftest_support::free_counts(),
                    before,
                    "no page lost or leaked"
                );
            }
        }
        Ok(())
    }
);
