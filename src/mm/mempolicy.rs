//! Memory policies in the kernel: the system-wide default (`mpol=`), one
//! policy per task (set_mempolicy), and the weighted-interleave weights
//! (`mpol.weights=`, or from the HMAT's bandwidths). The page allocator
//! asks [`placement`] where an allocation without a named node goes; the
//! rules themselves are crates/mm's `mempolicy`.
//!
//! As in Linux: an allocation in interrupt context, with __GFP_THISNODE
//! or for a named node ignores policy; a bind or prefer (many) node list
//! applies only to requests that may use the highest zone with memory
//! (`policy_zone`: a DMA or DMA32 request on a machine with ZONE_NORMAL is
//! not policed).
//!
//! The scheduler (a layer up) installs how to find the running thread's
//! task policy ([`set_task_policy_lookup`]); until then, and for threads
//! without a task, the system default applies.

use crate::numa::topology;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed};
use mm::gfp::Gfp;
use mm::mempolicy::{self as pol, InterleaveState, MemPolicy, NodeMask, Placement, MAX_NODES};
use spin::{Mutex, Once};

/// A policy and the interleave position of the threads that use it.
pub struct TaskPolicy {
    state: Mutex<(MemPolicy, InterleaveState)>,
    /// Not the default: lets an allocation skip the lock.
    set: AtomicBool,
}

impl TaskPolicy {
    pub const fn new() -> Self {
        TaskPolicy {
            state: Mutex::new((MemPolicy::DEFAULT, InterleaveState::START)),
            set: AtomicBool::new(false),
        }
    }

    /// set_mempolicy: replaces the policy (an interleave starts again
    /// from its first node, as Linux's does).
    pub fn set(&self, p: MemPolicy) {
        *self.state.lock() = (p, InterleaveState::START);
        self.set.store(!p.is_default(), Relaxed);
        if !p.is_default() {
            IN_USE.store(true, Relaxed);
        }
    }

    pub fn get(&self) -> MemPolicy {
        self.state.lock().0
    }

    fn is_set(&self) -> bool {
        self.set.load(Relaxed)
    }

    fn place(&self, local: usize) -> Placement {
        let mut s = self.state.lock();
        let (p, mut il) = *s;
        let placed = pol::place(&p, &mut il, local, &weights().0);
        s.1 = il;
        placed
    }
}

impl Default for TaskPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// Any non-default policy exists anywhere: until one does, allocations
/// do not look for one (the default costs one load).
static IN_USE: AtomicBool = AtomicBool::new(false);

/// The system-wide default (`mpol=`), for threads without a task policy.
static SYSTEM: TaskPolicy = TaskPolicy::new();

type Lookup = fn() -> Option<&'static TaskPolicy>;
static TASK_POLICY: Once<Lookup> = Once::new();

/// Installed by the scheduler: the running thread's task policy, if the
/// thread belongs to a task.
pub fn set_task_policy_lookup(f: Lookup) {
    TASK_POLICY.call_once(|| f);
}

/// Weighted-interleave weights per node, and whether they came from the
/// HMAT.
pub struct Weights(pub [u8; MAX_NODES], pub WeightSource);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightSource {
    /// `mpol.weights=`.
    User,
    /// From the HMAT's bandwidths (Linux's automatic weights).
    Hmat,
    /// No HMAT bandwidths: every node 1.
    Uniform,
}

static WEIGHTS: Once<Weights> = Once::new();

pub fn weights() -> &'static Weights {
    WEIGHTS.call_once(|| auto_weights().unwrap_or(Weights([1; MAX_NODES], WeightSource::Uniform)))
}

/// The nodes with memory.
pub fn memory_nodes() -> NodeMask {
    let t = topology();
    (0..t.node_count())
        .filter(|&n| t.has_memory(n))
        .fold(0, |m, n| m | 1 << n)
}

/// Weights from each node's access1 bandwidth (the smaller of read and
/// write), None without HMAT bandwidths.
fn auto_weights() -> Option<Weights> {
    let m = crate::numa::memory_tiers();
    let mut bw = [0u32; MAX_NODES];
    let mut any = false;
    for (n, b) in bw.iter_mut().enumerate().take(topology().node_count()) {
        if let Some(t) = m.perf.target(n) {
            let p = t.access[1];
            *b = p.read_bandwidth.min(p.write_bandwidth);
            any |= *b != 0;
        }
    }
    any.then(|| Weights(pol::auto_weights(&bw, memory_nodes()), WeightSource::Hmat))
}

/// Reads `mpol=` and `mpol.weights=`; a bad value is reported and
/// changes nothing (the default policy stays).
pub fn init(mpol: Option<&str>, weights_arg: Option<&str>) {
    refresh_policy_zone();
    let memory = memory_nodes();
    match weights_arg {
        Some(w) if w != "auto" => {
            let mut out = [1u8; MAX_NODES];
            let n = topology().node_count();
            let given: usize = w.split(',').count();
            if given != n {
                log::warn!(
                    "mpol.weights={w}: {given} weights for {n} nodes; the automatic weights are used"
                );
            } else {
                for (slot, v) in out.iter_mut().zip(w.split(',')) {
                    *slot = v.parse().unwrap_or(1);
                }
                WEIGHTS.call_once(|| Weights(out, WeightSource::User));
            }
        }
        _ => {}
    }
    let w = weights();
    // After SLUB is up: a String will do.
    let mut line = alloc::string::String::new();
    for n in (0..topology().node_count()).filter(|&n| memory & 1 << n != 0) {
        let _ = core::fmt::Write::write_fmt(&mut line, format_args!(" node{n}={}", w.0[n]));
    }
    log::info!(
        "mempolicy: weighted interleave weights ({:?}):{}",
        w.1,
        line.as_str()
    );
    if let Some(s) = mpol {
        match MemPolicy::parse(s, memory) {
            Ok(p) => {
                SYSTEM.set(p);
                log::info!("mempolicy: system default policy {p} (mpol={s})");
            }
            Err(e) => log::warn!("mpol={s}: {e}; the default (local) policy stays"),
        }
    }
}

/// The system-wide default policy.
pub fn system_policy() -> &'static TaskPolicy {
    &SYSTEM
}

/// The policy the running thread allocates under.
fn current_policy() -> &'static TaskPolicy {
    TASK_POLICY
        .get()
        .and_then(|f| f())
        .filter(|p| p.is_set())
        .unwrap_or(&SYSTEM)
}

/// Whether a request would be placed by a policy (without taking a
/// placement: an interleave does not advance).
pub fn applies(gfp: Gfp) -> bool {
    IN_USE.load(Relaxed)
        && !gfp.contains(Gfp::THISNODE)
        && !crate::arch::x86_64::interrupts::in_interrupt()
        && current_policy().is_set()
}

/// Whether any policy is in force (a thread's or the system's): the
/// allocators' fast paths look no further when none is.
#[inline(always)]
pub fn in_force() -> bool {
    IN_USE.load(Relaxed)
}

/// Where an allocation with no named node goes, or None for the plain
/// local path (no policy in force, or one this request ignores).
/// The running CPU's node is looked up only when a policy is in force.
#[inline(always)]
pub fn placement(gfp: Gfp) -> Option<Placement> {
    if !IN_USE.load(Relaxed) {
        return None;
    }
    placement_slow(gfp, crate::numa::numa_node_id())
}

/// As [`placement`], for a caller on node `local`.
#[inline(always)]
fn placement_on(gfp: Gfp, local: usize) -> Option<Placement> {
    if !IN_USE.load(Relaxed) {
        return None;
    }
    placement_slow(gfp, local)
}

#[inline(never)]
fn placement_slow(gfp: Gfp, local: usize) -> Option<Placement> {
    if !applies(gfp) {
        return None;
    }
    let mut placed = current_policy().place(local);
    // Only bind's list is limited to the policed zone (Linux's
    // apply_policy_zone); prefer (many) keeps its list for any request.
    if placed.allowed.is_some() && !placed.then_anywhere && !policed_zone(gfp) {
        placed.allowed = None;
    }
    Some(placed)
}

/// The node a new slab for a caller on `local` should come from under
/// its policy (SLUB's new slab pages follow the policy; objects of slabs
/// the CPU already has do not): the interleave or preferred node, or the
/// nearest allowed node of a bind or prefer (many) list.
pub fn slab_node(gfp: Gfp, local: usize) -> usize {
    let Some(p) = placement_on(gfp, local) else {
        return local;
    };
    match p.allowed {
        Some(mask) => {
            let t = topology();
            let mut used = [true; numa::MAX_NUMNODES];
            for (n, u) in used.iter_mut().enumerate().take(t.node_count()) {
                *u = mask & 1 << n == 0;
            }
            t.next_best_node(p.node, &used).unwrap_or(p.node)
        }
        None => p.node,
    }
}

/// Linux's policy_zone as a zone index, or NO_POLICY_ZONE before
/// [`refresh_policy_zone`] found one (then every request is policed).
static POLICY_ZONE: AtomicU8 = AtomicU8::new(NO_POLICY_ZONE);
const NO_POLICY_ZONE: u8 = u8::MAX;

/// Recomputes policy_zone, the highest zone type any node has populated,
/// Movable and Device aside, as Linux's check_highest_zone does while it
/// builds the zonelists; whoever changes the zones (memory onlined at run
/// time) calls it again.
pub fn refresh_policy_zone() {
    use mm::zone::ZoneType::{Device, Movable};
    let highest = crate::mm::page_alloc::allocator()
        .zones()
        .filter(|z| z.is_populated() && z.kind != Movable && z.kind != Device)
        .map(|z| z.kind.index() as u8)
        .max();
    POLICY_ZONE.store(highest.unwrap_or(NO_POLICY_ZONE), Relaxed);
}

/// Whether a request may use policy_zone (Linux's apply_policy_zone).
fn policed_zone(gfp: Gfp) -> bool {
    let Ok(highest) = gfp.zone() else {
        return false;
    };
    let zone = POLICY_ZONE.load(Relaxed);
    zone == NO_POLICY_ZONE || highest.index() >= zone as usize
}

/// `numactl --show` for a policy, on one line: `policy: bind preferred
/// node: 0 membind: 1` (the nodes as numactl lists them, space-separated).
pub fn write_show(w: &mut dyn core::fmt::Write, p: &MemPolicy, local: usize) -> core::fmt::Result {
    use mm::mempolicy::Mode;
    let memory = memory_nodes();
    let list = |w: &mut dyn core::fmt::Write, m: NodeMask| -> core::fmt::Result {
        for n in (0..MAX_NODES).filter(|&n| m & 1 << n != 0) {
            write!(w, "{n} ")?;
        }
        Ok(())
    };
    let name = match p.mode {
        Mode::Default | Mode::Local => "default",
        Mode::Preferred => "preferred",
        Mode::Bind => "bind",
        Mode::Interleave => "interleave",
        Mode::PreferredMany => "preferred-many",
        Mode::WeightedInterleave => "weighted-interleave",
    };
    write!(w, "policy: {name} ")?;
    match p.mode {
        Mode::Preferred => write!(w, "preferred node: {} ", p.nodes.trailing_zeros())?,
        Mode::Interleave | Mode::WeightedInterleave => {
            w.write_str("interleavemask: ")?;
            list(w, p.nodes)?;
        }
        _ => write!(w, "preferred node: current ({local}) ")?,
    }
    w.write_str("membind: ")?;
    list(
        w,
        if p.mode == Mode::Bind {
            p.nodes
        } else {
            memory
        },
    )?;
    if let Some(h) = p.home_node {
        write!(w, "home node: {h}")?;
    }
    Ok(())
}
