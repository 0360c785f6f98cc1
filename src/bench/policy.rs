//! Policy workloads (`bench=policy`): N single pages allocated under each
//! memory policy on each node set, by a thread of a task that has the
//! policy, on CPU 0. One `BENCH_POLICY` line each: the time per page, the
//! pages that landed on each node, what the policy's rule says each node
//! should get, and the numastat deltas per node, measured inside the
//! thread around its own allocations (as LTP's set_mempolicy tests check:
//! interleave over k nodes gives N/k pages on each).

use crate::arch::x86_64::tsc;
use crate::kprintln;
use crate::mm::mempolicy::{memory_nodes, weights};
use crate::mm::page_alloc::{__free_pages, alloc_pages, Page};
use crate::numa::topology;
use crate::sched::task::{spawn_for, Task};
use crate::sched::Binding;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mm::gfp::Gfp;
use mm::mempolicy::{MemPolicy, Mode};
use mm::stats::{NumaStat, NR_NUMA_STATS};
use numa::hmat::nodes_of;
use spin::Mutex;

type Stats = [[u64; NR_NUMA_STATS]; numa::MAX_NUMNODES];

/// What one run under a policy did.
pub struct PolicyRun {
    /// Pages per node (index: node id).
    pub pages: Vec<usize>,
    /// numastat deltas per node around the allocations.
    pub delta: Vec<[u64; NR_NUMA_STATS]>,
    pub failed: usize,
    pub ns: u64,
}

/// Allocates `n` single GFP_KERNEL pages under `policy` in a thread of a
/// new task on `cpu`, frees them, and says where they went. None when no
/// task or thread could be made.
pub fn run_under(policy: MemPolicy, n: usize, cpu: u32) -> Option<PolicyRun> {
    struct Shared {
        pfns: Vec<u64>,
        before: Stats,
        after: Stats,
        ns: u64,
    }
    let task = Task::create("mpol-run", 0).ok()?;
    task.mempolicy.set(policy);
    let shared = Arc::new(Mutex::new(Shared {
        pfns: Vec::with_capacity(n),
        before: [[0; NR_NUMA_STATS]; numa::MAX_NUMNODES],
        after: [[0; NR_NUMA_STATS]; numa::MAX_NUMNODES],
        ns: 0,
    }));
    let inside = shared.clone();
    let thread = spawn_for(&task, "mpol-run", Binding::Cpu(cpu), move || {
        let mut s = inside.lock();
        let mut pfns = core::mem::take(&mut s.pfns);
        s.before = super::node_stats();
        let t0 = tsc::ns_since_boot();
        for _ in 0..n {
            pfns.push(alloc_pages(Gfp::KERNEL, 0).map_or(u64::MAX, |p| p.pfn()));
        }
        s.ns = tsc::ns_since_boot() - t0;
        s.after = super::node_stats();
        s.pfns = pfns;
    })
    .ok()?;
    crate::sched::join(&thread);
    drop(task);
    crate::sched::reap_all_dead(1_000_000_000);
    let s = shared.lock();
    let nodes = topology().node_count();
    let mut run = PolicyRun {
        pages: alloc::vec![0; nodes],
        delta: (0..nodes)
            .map(|k| core::array::from_fn(|i| s.after[k][i] - s.before[k][i]))
            .collect(),
        failed: 0,
        ns: s.ns,
    };
    for &pfn in &s.pfns {
        if pfn == u64::MAX {
            run.failed += 1;
            continue;
        }
        let page = Page::from_pfn(pfn);
        if let Some(node) = page.nid() {
            run.pages[node] += 1;
        }
        __free_pages(page, 0);
    }
    Some(run)
}

/// Pages per node the policy's rule gives `n` allocations from CPU 0,
/// with room everywhere.
pub fn expected(p: &MemPolicy, n: usize) -> Vec<usize> {
    let t = topology();
    let mut e = alloc::vec![0; t.node_count()];
    let local = t.mem_node(t.cpu_to_node(0));
    match p.mode {
        Mode::Default | Mode::Local => e[local] = n,
        Mode::Preferred => e[p.nodes.trailing_zeros() as usize] = n,
        Mode::Bind | Mode::PreferredMany => {
            // The first allowed node of CPU 0's zonelist (or the home node).
            let from = p.home_node.unwrap_or(t.cpu_to_node(0));
            let mut used = [true; numa::MAX_NUMNODES];
            for k in nodes_of(p.nodes) {
                used[k] = false;
            }
            if let Some(first) = t.next_best_node(from, &used) {
                e[first] = n;
            }
        }
        Mode::Interleave => {
            let k = p.nodes.count_ones() as usize;
            for (i, node) in nodes_of(p.nodes).enumerate() {
                e[node] = n / k + usize::from(i < n % k);
            }
        }
        Mode::WeightedInterleave => {
            let w = &weights().0;
            let round: usize = nodes_of(p.nodes).map(|k| w[k].max(1) as usize).sum();
            let mut rest = n % round;
            for node in nodes_of(p.nodes) {
                let wk = w[node].max(1) as usize;
                e[node] = n / round * wk + rest.min(wk);
                rest -= rest.min(wk);
            }
        }
    }
    e
}

/// The policies the workload runs on this machine: default, then prefer
/// and bind for each node with memory, bind and interleave over all of
/// them, interleave over the first two, weighted interleave over all.
fn policies() -> Vec<MemPolicy> {
    let memory = memory_nodes();
    let mk = |mode, nodes| MemPolicy::new(mode, nodes, memory).ok();
    let mut v: Vec<MemPolicy> = Vec::new();
    v.extend(mk(Mode::Default, 0));
    for n in nodes_of(memory) {
        v.extend(mk(Mode::Preferred, 1 << n));
        v.extend(mk(Mode::Bind, 1 << n));
    }
    if memory.count_ones() > 1 {
        v.extend(mk(Mode::Bind, memory));
        v.extend(mk(Mode::Interleave, memory));
        v.extend(mk(Mode::WeightedInterleave, memory));
    }
    if memory.count_ones() > 2 {
        let two = nodes_of(memory).take(2).fold(0, |m, n| m | 1 << n);
        v.extend(mk(Mode::Interleave, two));
    }
    v
}

fn list(values: impl Iterator<Item = u64>) -> String {
    let v: Vec<String> = values.map(|x| format!("{x}")).collect();
    format!("[{}]", v.join(","))
}

/// Runs every policy with `n` pages and prints its `BENCH_POLICY` line.
pub fn run(n: usize) {
    let nodes = topology().node_count();
    for p in policies() {
        let Some(r) = run_under(p, n, 0) else {
            kprintln!("# bench: policy {p}: no task or thread could be started");
            continue;
        };
        let want = expected(&p, n);
        let stat = |s: NumaStat| list((0..nodes).map(|k| r.delta[k][s as usize]));
        let tenths = r.ns * 10 / n.max(1) as u64;
        kprintln!(
            "BENCH_POLICY {{\"bench\":\"policy_pages\",\"policy\":\"{p}\",\"cpus\":1,\"node\":{},\"ops\":{n},\"ns_per_op\":{}.{},\"allocator\":\"ours\",\"failed\":{},\"pages_per_node\":{},\"expected_per_node\":{},\"matches\":{},\"numa_hit\":{},\"numa_miss\":{},\"numa_foreign\":{},\"interleave_hit\":{},\"local_node\":{},\"other_node\":{}}}",
            topology().cpu_to_node(0),
            tenths / 10,
            tenths % 10,
            r.failed,
            list(r.pages.iter().map(|&x| x as u64)),
            list(want.iter().map(|&x| x as u64)),
            r.pages == want,
            stat(NumaStat::Hit),
            stat(NumaStat::Miss),
            stat(NumaStat::Foreign),
            stat(NumaStat::InterleaveHit),
            stat(NumaStat::LocalNode),
            stat(NumaStat::OtherNode),
        );
    }
}
