//! The benchmark of ../shared/BENCH-SPEC.md, run on request (`bench=all`,
//! `bench=slab`, `bench=page`, `bench=vmalloc`, or workload names), after
//! the self-tests; `peers` adds the peer allocators on the same
//! workloads, `matrix` the access matrix, `policy` the memory-policy
//! workloads, `fragmentation` the fragmentation workload, `churn` the
//! churn workload (`all` includes none of them).
//!
//! Output, one JSON object a line, each line prefixed so that it can be
//! grepped out of the console:
//! - `BENCH_META`: clock, hypervisor, CPUs, nodes, scale;
//! - `BENCH`: one workload's figure (the spec's fields, plus `allocator`;
//!   a peer's line also has `ours_ns_per_op` and `peer_over_ours`);
//! - `BENCH_LOCALITY`: per node, the numastat counters a workload of ours
//!   moved and the share of the allocations that preferred the node (the
//!   requesting CPU's, under the default policy) that it served;
//! - `BENCH_MATRIX` and `BENCH_NOTE`: the access matrix (`matrix`);
//! - `BENCH_POLICY`: pages per node and numastat deltas under each memory
//!   policy (`policy`, see policy.rs);
//! - `# bench [i/n] ...` progress lines before each workload.
//!
//! `bench.scale=N` divides every operation count by N (the `ops` field
//! says what ran).

mod allocators;
pub mod churn;
pub mod fragmentation;
mod matrix;
pub mod policy;
mod workloads;

/// The bench= words that run only when named (`all` is the spec's
/// workloads, none of these).
const NAMED_ONLY: [&str; 6] = [
    "peers",
    "matrix",
    "policy",
    "fragmentation",
    "churn",
    "kfence",
];

use crate::arch::x86_64::{percpu, tsc};
use crate::kprintln;
use crate::mm::page_alloc::allocator;
use crate::numa::{numa_node_id, topology};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use allocators::{BenchAlloc, Ours};
use mm::slub::SlabFlags;
use mm::stats::{NumaStat, NR_NUMA_STATS};

pub use allocators::reserve_region;

/// One workload with its parameters, as the spec lists them.
#[derive(Clone, Copy, Debug)]
enum Step {
    SlabPair {
        size: usize,
        ops: u64,
    },
    SlabBatch {
        size: usize,
        batch: usize,
        rounds: u64,
    },
    SlabRemoteFree {
        size: usize,
        batch: usize,
        rounds: u64,
    },
    CachePair {
        ops: u64,
    },
    PagePair {
        order: u32,
        ops: u64,
    },
    PageBatch {
        batch: usize,
        rounds: u64,
    },
    PageNode {
        target: usize,
        ops: u64,
    },
    VmallocPair {
        size: usize,
        ops: u64,
    },
    Parallel {
        slab: bool,
        cpus: u32,
        ops: u64,
    },
}

impl Step {
    fn name(self) -> &'static str {
        match self {
            Step::SlabPair { .. } => "slab_pair",
            Step::SlabBatch { .. } => "slab_batch",
            Step::SlabRemoteFree { .. } => "slab_remote_free",
            Step::CachePair { .. } => "cache_pair",
            Step::PagePair { .. } => "page_pair",
            Step::PageBatch { .. } => "page_batch",
            Step::PageNode { .. } => "page_node",
            Step::VmallocPair { .. } => "vmalloc_pair",
            Step::Parallel { slab: true, .. } => "parallel_slab",
            Step::Parallel { slab: false, .. } => "parallel_page",
        }
    }

    /// The spec's size field: (key, value).
    fn size_field(self) -> (&'static str, u64) {
        match self {
            Step::SlabPair { size, .. }
            | Step::SlabBatch { size, .. }
            | Step::SlabRemoteFree { size, .. }
            | Step::VmallocPair { size, .. } => ("size", size as u64),
            Step::CachePair { .. } => ("size", 192),
            Step::Parallel { slab: true, .. } => ("size", 64),
            Step::PagePair { order, .. } => ("order", order as u64),
            Step::PageBatch { .. } | Step::PageNode { .. } | Step::Parallel { .. } => ("order", 0),
        }
    }

    fn cpus(self) -> u32 {
        match self {
            Step::Parallel { cpus, .. } => cpus,
            _ => 1,
        }
    }

    /// Operations per CPU, as the spec counts them (objects for batches).
    fn ops(self) -> u64 {
        match self {
            Step::SlabPair { ops, .. }
            | Step::CachePair { ops }
            | Step::PagePair { ops, .. }
            | Step::PageNode { ops, .. }
            | Step::VmallocPair { ops, .. }
            | Step::Parallel { ops, .. } => ops,
            Step::SlabBatch { batch, rounds, .. }
            | Step::SlabRemoteFree { batch, rounds, .. }
            | Step::PageBatch { batch, rounds } => batch as u64 * rounds,
        }
    }

    /// Whether a peer can run it (peers have no nodes and no vmalloc).
    fn peers_can_run(self) -> bool {
        !matches!(self, Step::PageNode { .. } | Step::VmallocPair { .. })
    }

    fn key(self) -> String {
        let (k, v) = self.size_field();
        format!("{}/{k}={v}/cpus={}", self.name(), self.cpus())
    }
}

/// The spec's workloads that `wanted` selects, with counts divided by `scale`.
fn plan(wanted: &dyn Fn(&str, &str) -> bool, scale: u64) -> Vec<Step> {
    let mut p = Vec::new();
    let by = |n: u64| (n / scale).max(1);
    if wanted("slab_pair", "slab") {
        for size in [8, 64, 256, 1024, 4096] {
            p.push(Step::SlabPair {
                size,
                ops: by(1_000_000),
            });
        }
    }
    if wanted("slab_batch", "slab") {
        for size in [64, 1024] {
            p.push(Step::SlabBatch {
                size,
                batch: 10_000,
                rounds: by(100),
            });
        }
    }
    if wanted("slab_remote_free", "slab") {
        p.push(Step::SlabRemoteFree {
            size: 256,
            batch: 10_000,
            rounds: by(100),
        });
    }
    if wanted("cache_pair", "slab") {
        p.push(Step::CachePair { ops: by(1_000_000) });
    }
    if wanted("page_pair", "page") {
        for order in [0, 1, 3] {
            p.push(Step::PagePair {
                order,
                ops: by(1_000_000),
            });
        }
        p.push(Step::PagePair {
            order: 9,
            ops: by(10_000),
        });
    }
    if wanted("page_batch", "page") {
        p.push(Step::PageBatch {
            batch: 10_000,
            rounds: by(100),
        });
    }
    if wanted("page_node", "page") {
        let t = topology();
        for target in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
            p.push(Step::PageNode {
                target,
                ops: by(100_000),
            });
        }
    }
    if wanted("vmalloc_pair", "vmalloc") {
        for (size, ops) in [
            (4 << 10, 10_000),
            (64 << 10, 10_000),
            (1 << 20, 10_000),
            (4 << 20, 1_000),
        ] {
            p.push(Step::VmallocPair { size, ops: by(ops) });
        }
    }
    for (slab, name, group) in [
        (true, "parallel_slab", "slab"),
        (false, "parallel_page", "page"),
    ] {
        if wanted(name, group) {
            for cpus in workloads::cpu_counts() {
                p.push(Step::Parallel {
                    slab,
                    cpus,
                    ops: by(1_000_000),
                });
            }
        }
    }
    p
}

/// Runs `step` through `a`; the timed nanoseconds, or None when it
/// cannot run here (said on the console).
fn execute(a: &dyn BenchAlloc, step: Step) -> Option<(u64, String)> {
    let mut extra = String::new();
    let ns = match step {
        Step::SlabPair { size, ops } => workloads::slab_pair(a, size, ops),
        Step::SlabBatch {
            size,
            batch,
            rounds,
        } => {
            extra = format!(",\"batch\":{batch}");
            workloads::slab_batch(a, size, batch, rounds)
        }
        Step::SlabRemoteFree {
            size,
            batch,
            rounds,
        } => {
            let Some(remote) = workloads::remote_cpu() else {
                kprintln!("# bench: slab_remote_free: one CPU only; skipped");
                return None;
            };
            let me = numa_node_id();
            extra = format!(
                ",\"batch\":{batch},\"free_cpu\":{},\"free_node\":{},\"distance\":{}",
                remote.cpu,
                remote.node,
                topology().distance(me, remote.node)
            );
            workloads::slab_remote_free(a, remote.cpu, size, batch, rounds)
        }
        Step::CachePair { ops } => workloads::cache_pair(a, ops),
        Step::PagePair { order, ops } => workloads::page_pair(a, order, ops),
        Step::PageBatch { batch, rounds } => {
            extra = format!(",\"batch\":{batch}");
            workloads::page_batch(a, batch, rounds)
        }
        Step::PageNode { target, ops } => {
            extra = format!(
                ",\"target_node\":{target},\"distance\":{}",
                topology().distance(numa_node_id(), target)
            );
            workloads::page_node(target, ops)
        }
        Step::VmallocPair { size, ops } => {
            let before = crate::mm::vmalloc::STATS
                .purges
                .load(core::sync::atomic::Ordering::Relaxed);
            let ns = workloads::vmalloc_pair(size, ops);
            let after = crate::mm::vmalloc::STATS
                .purges
                .load(core::sync::atomic::Ordering::Relaxed);
            extra = format!(",\"lazy_purges\":{}", after - before);
            ns
        }
        Step::Parallel { slab, cpus, ops } => workloads::parallel(a, slab, cpus, ops),
    };
    Some((ns, extra))
}

/// ns_per_op with one decimal, as a JSON number.
fn per_op(ns: u64, ops: u64) -> String {
    let tenths = ns * 10 / ops.max(1);
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn bench_line(step: Step, allocator: &str, ns: u64, extra: &str) -> String {
    let (key, size) = step.size_field();
    format!(
        "BENCH {{\"bench\":\"{}\",\"{key}\":{size},\"cpus\":{},\"node\":{},\"ops\":{},\"ns_per_op\":{},\"allocator\":\"{allocator}\"{extra}}}",
        step.name(),
        step.cpus(),
        numa_node_id(),
        step.ops(),
        per_op(ns, step.ops())
    )
}

fn node_stats() -> [[u64; NR_NUMA_STATS]; numa::MAX_NUMNODES] {
    let a = allocator();
    core::array::from_fn(|n| a.node_stats(n))
}

/// The numastat counters `step` moved, per node.
fn print_locality(step: Step, before: &[[u64; NR_NUMA_STATS]], after: &[[u64; NR_NUMA_STATS]]) {
    let (key, size) = step.size_field();
    for node in 0..topology().node_count() {
        let d: [u64; NR_NUMA_STATS] = core::array::from_fn(|s| after[node][s] - before[node][s]);
        if d.iter().all(|&x| x == 0) {
            continue;
        }
        let hit = d[NumaStat::Hit as usize];
        let preferred = hit + d[NumaStat::Foreign as usize];
        let share = match (hit * 1000).checked_div(preferred) {
            None => String::from("null"),
            Some(permille) => format!("{}.{:03}", permille / 1000, permille % 1000),
        };
        kprintln!(
            "BENCH_LOCALITY {{\"bench\":\"{}\",\"{key}\":{size},\"cpus\":{},\"node\":{node},\"numa_hit\":{hit},\"numa_miss\":{},\"numa_foreign\":{},\"interleave_hit\":{},\"local_node\":{},\"other_node\":{},\"local_share\":{share}}}",
            step.name(),
            step.cpus(),
            d[NumaStat::Miss as usize],
            d[NumaStat::Foreign as usize],
            d[NumaStat::InterleaveHit as usize],
            d[NumaStat::LocalNode as usize],
            d[NumaStat::OtherNode as usize],
        );
    }
}

/// Whether `selection` names any of `words`.
fn with_any(selection: &str, words: &[&str]) -> bool {
    selection.split(',').any(|w| words.contains(&w))
}

/// Runs the selected workloads (each on ours, then on each peer),
/// then the access matrix if selected.
pub fn run(selection: &str, scale: u64) {
    let scale = scale.max(1);
    // Every name and group the plan asks about, to name the words that
    // match none of them.
    let known = core::cell::RefCell::new(Vec::<String>::new());
    let wanted = |name: &str, group: &str| {
        known.borrow_mut().extend([name.into(), group.into()]);
        selection
            .split(',')
            .any(|w| w == "all" || w == name || w == group)
    };
    kprintln!(
        "BENCH_META {{\"clock\":\"{}\",\"tsc_khz\":{},\"hypervisor\":\"{}\",\"cpus\":{},\"nodes\":{},\"scale\":{scale}}}",
        tsc::clock_source(),
        tsc::tsc_khz(),
        hypervisor(),
        percpu::nr_online(),
        topology().node_count()
    );
    let steps = plan(&wanted, scale);
    let names: Vec<String> = known.borrow().iter().step_by(2).cloned().collect();
    for word in selection.split(',') {
        let special = word == "all" || NAMED_ONLY.contains(&word);
        if !special && !known.borrow().iter().any(|k| k == word) {
            log::warn!(
                "bench: no workload or group named '{word}' (workloads: {}; groups: slab, page, vmalloc; also all, {}); ignored",
                names.join(", "),
                NAMED_ONLY.join(", ")
            );
        }
    }
    if steps.is_empty() && !with_any(selection, &NAMED_ONLY) {
        kprintln!("# bench: bench={selection} names no workload; nothing to run");
    }
    // Named only: `all` is the spec's workloads.
    let with_peers = selection.split(',').any(|w| w == "peers");
    let with_matrix = selection.split(',').any(|w| w == "matrix");
    let with_policy = selection.split(',').any(|w| w == "policy");
    let with_fragmentation = selection.split(',').any(|w| w == "fragmentation");
    let with_churn = selection.split(',').any(|w| w == "churn");
    let with_kfence = selection.split(',').any(|w| w == "kfence");
    let Some(cache) =
        crate::mm::slab::kmem_cache_create("bench-192", 192, 8, SlabFlags::HWCACHE_ALIGN, None)
    else {
        kprintln!("# bench: kmem_cache_create(bench-192) failed; no benchmark run");
        return;
    };
    let ours = Ours { cache };
    let peer_steps = if with_peers {
        steps.iter().filter(|s| s.peers_can_run()).count() * 3
    } else {
        0
    };
    let total = steps.len()
        + peer_steps
        + with_matrix as usize
        + with_policy as usize
        + with_fragmentation as usize
        + with_churn as usize
        + with_kfence as usize;
    let mut done = 0;
    let mut progress = |what: &str| {
        done += 1;
        kprintln!("# bench [{done}/{total}] {what}");
    };
    // Each workload runs on ours and then at once on each peer (set up
    // afresh on its region for it), so that a ratio compares runs seconds
    // apart: a shared host's speed drifts over the minutes a whole pass
    // of the workloads takes.
    for &step in &steps {
        progress(&format!("{} ({}) ours", step.name(), step.key()));
        let before = node_stats();
        let ours_ps = execute(&ours, step).map(|(ns, extra)| {
            let after = node_stats();
            kprintln!("{}", bench_line(step, "ours", ns, &extra));
            print_locality(step, &before, &after);
            ns * 1000 / step.ops().max(1)
        });
        if !with_peers || !step.peers_can_run() {
            continue;
        }
        allocators::for_each_peer(|peer| {
            progress(&format!("{} ({}) {}", step.name(), step.key(), peer.name()));
            let Some((ns, mut extra)) = execute(peer, step) else {
                return;
            };
            let peer_ps = ns * 1000 / step.ops().max(1);
            if let Some(ours_ps) = ours_ps {
                let ratio_milli = peer_ps * 1000 / ours_ps.max(1);
                extra.push_str(&format!(
                    ",\"ours_ns_per_op\":{}.{},\"peer_over_ours\":{}.{:03}",
                    ours_ps / 1000,
                    ours_ps % 1000 / 100,
                    ratio_milli / 1000,
                    ratio_milli % 1000
                ));
            }
            kprintln!("{}", bench_line(step, peer.name(), ns, &extra));
        });
    }
    if with_matrix {
        progress("access matrix (latency and bandwidth per CPU node x memory node)");
        matrix::run(scale);
    }
    if with_policy {
        progress("memory policies (pages per node under each policy)");
        policy::run((6000 / scale as usize).max(60));
    }
    if with_fragmentation {
        progress("fragmentation (a node filled, three pages in four freed, order-9 blocks taken)");
        fragmentation::run();
    }
    if with_churn {
        progress("churn (movable pages and long-lived unmovable objects, order-9 blocks after each round)");
        churn::run();
    }
    if with_kfence {
        progress(
            "kfence (slab_pair 64 with the detector off, sampling, sampling every allocation)",
        );
        kfence_cost(&ours, (1_000_000 / scale).max(1));
    }
    let _ = crate::mm::slab::kmem_cache_destroy(cache);
    kprintln!("# bench: done");
}

/// KFENCE's cost: slab_pair 64 with interval sampling held off, with it
/// as booted (`kfence.sample_interval`), and with every allocation
/// sampled (a guarded page each, for a bound: no one runs it so).
fn kfence_cost(ours: &Ours, ops: u64) {
    use crate::mm::kfence;
    if !kfence::enabled() {
        kprintln!("# bench: kfence: off (kfence.sample_interval=0); skipped");
        return;
    }
    let step = Step::SlabPair { size: 64, ops };
    for mode in ["off", "interval", "every"] {
        let paused = (mode == "off").then(kfence::Paused::new);
        kfence::set_every(mode == "every");
        let allocs = kfence::STATS
            .allocs
            .load(core::sync::atomic::Ordering::Relaxed);
        let ns = workloads::slab_pair(ours, 64, ops);
        kfence::set_every(false);
        drop(paused);
        let sampled = kfence::STATS
            .allocs
            .load(core::sync::atomic::Ordering::Relaxed)
            - allocs;
        let extra = format!(
            ",\"kfence\":\"{mode}\",\"sample_interval_ms\":{},\"sampled\":{sampled}",
            kfence::sample_interval_ms()
        );
        kprintln!("{}", bench_line(step, "ours", ns, &extra));
    }
}

/// The hypervisor's CPUID signature ("KVMKVMKVM", "TCGTCGTCGTCG", ...).
fn hypervisor() -> &'static str {
    if core::arch::x86_64::__cpuid(1).ecx & (1 << 31) == 0 {
        return "none";
    }
    let r = core::arch::x86_64::__cpuid(0x4000_0000);
    let mut sig = [0u8; 12];
    sig[..4].copy_from_slice(&r.ebx.to_le_bytes());
    sig[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    sig[8..].copy_from_slice(&r.edx.to_le_bytes());
    match &sig {
        b"KVMKVMKVM\0\0\0" => "KVMKVMKVM",
        b"TCGTCGTCGTCG" => "TCGTCGTCGTCG",
        _ => "other",
    }
}
