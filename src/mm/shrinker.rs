//! Shrinkers: caches outside the LRU lists that can give memory back when
//! reclaim asks (Linux's register_shrinker, count_objects, scan_objects).
//!
//! A shrinker says whether it needs I/O or the filesystem to free; reclaim
//! for GFP_NOIO skips the first kind and GFP_NOFS the second, the way
//! Linux's shrinkers bail out when `__GFP_IO` / `__GFP_FS` are missing,
//! except that here reclaim itself enforces it.
//!
//! The pressure a shrinker gets follows reclaim's priority as in Linux's
//! do_shrink_slab: `count >> priority` objects are scanned, in batches.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use mm::gfp::ReclaimContext;
use numa::NodeId;
use spin::Mutex;

pub const MAX_SHRINKERS: usize = 32;
/// Objects handed to one `scan` call (Linux's SHRINK_BATCH).
pub const SHRINK_BATCH: u64 = 128;

/// What reclaim asks of one shrinker.
#[derive(Clone, Copy, Debug)]
pub struct ShrinkControl {
    pub ctx: ReclaimContext,
    /// The node being reclaimed.
    pub node: NodeId,
    pub nr_to_scan: u64,
}

pub trait Shrinker: Sync {
    fn name(&self) -> &'static str;
    /// Freeing needs I/O (writeback): not for GFP_NOIO reclaim.
    fn needs_io(&self) -> bool {
        false
    }
    /// Freeing needs the filesystem: not for GFP_NOFS or GFP_NOIO reclaim.
    fn needs_fs(&self) -> bool {
        false
    }
    /// Objects that could be freed on `sc.node` now.
    fn count(&self, sc: &ShrinkControl) -> u64;
    /// Frees up to `sc.nr_to_scan` objects; returns how many it freed
    /// (reclaim measures the pages that gives back itself).
    fn scan(&self, sc: &ShrinkControl) -> u64;
}

/// Calls and results per shrinker, for the reports and the tests.
pub struct ShrinkerStats {
    pub calls: AtomicU64,
    pub freed: AtomicU64,
    /// Times reclaim passed it over for lack of __GFP_IO / __GFP_FS.
    pub skipped: AtomicU64,
}

struct Registered {
    shrinker: &'static dyn Shrinker,
    stats: &'static ShrinkerStats,
}

static SHRINKERS: Mutex<[Option<Registered>; MAX_SHRINKERS]> =
    Mutex::new([const { None }; MAX_SHRINKERS]);

#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    Full,
    /// A shrinker of that name is registered.
    AlreadyRegistered,
}

pub fn register_shrinker(
    shrinker: &'static dyn Shrinker,
    stats: &'static ShrinkerStats,
) -> Result<(), RegisterError> {
    let mut list = SHRINKERS.lock();
    // Names identify shrinkers (zero-sized ones may share an address).
    if list
        .iter()
        .flatten()
        .any(|r| r.shrinker.name() == shrinker.name())
    {
        return Err(RegisterError::AlreadyRegistered);
    }
    let slot = list
        .iter_mut()
        .find(|s| s.is_none())
        .ok_or(RegisterError::Full)?;
    *slot = Some(Registered { shrinker, stats });
    Ok(())
}

/// Unregisters; a reclaim pass already running may still call it once
/// more, so a shrinker's data must outlive this (they are 'static here).
/// Only the self-tests unregister today (the kernel's shrinkers live for
/// the whole boot).
pub fn unregister_shrinker(shrinker: &'static dyn Shrinker) {
    for s in SHRINKERS.lock().iter_mut() {
        if s.as_ref()
            .is_some_and(|r| r.shrinker.name() == shrinker.name())
        {
            *s = None;
        }
    }
}

impl ShrinkerStats {
    pub const fn new() -> Self {
        ShrinkerStats {
            calls: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

impl Default for ShrinkerStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs every shrinker the context allows for `node` at `priority`
/// (12 = gentle, 0 = everything); returns objects freed.
pub fn shrink_slab(node: NodeId, ctx: ReclaimContext, priority: u32) -> u64 {
    let mut picked: [Option<(&'static dyn Shrinker, &'static ShrinkerStats)>; MAX_SHRINKERS] =
        [None; MAX_SHRINKERS];
    for (i, r) in SHRINKERS.lock().iter().enumerate() {
        picked[i] = r.as_ref().map(|r| (r.shrinker, r.stats));
    }
    let mut freed = 0;
    for (s, stats) in picked.iter().flatten() {
        if (s.needs_io() && !ctx.may_io) || (s.needs_fs() && !ctx.may_fs) {
            stats.skipped.fetch_add(1, Relaxed);
            continue;
        }
        let probe = ShrinkControl {
            ctx,
            node,
            nr_to_scan: 0,
        };
        let count = s.count(&probe);
        if count == 0 {
            continue;
        }
        let mut todo = (count >> priority).max(if priority == 0 { count } else { 0 });
        while todo > 0 {
            let batch = todo.min(SHRINK_BATCH);
            stats.calls.fetch_add(1, Relaxed);
            let got = s.scan(&ShrinkControl {
                nr_to_scan: batch,
                ..probe
            });
            stats.freed.fetch_add(got, Relaxed);
            freed += got;
            todo -= batch;
            crate::sched::cond_resched();
        }
    }
    freed
}

/// One line per shrinker for the reports.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(
        w,
        "shrinker                  needs  calls  freed_pages  skipped"
    )?;
    for r in SHRINKERS.lock().iter().flatten() {
        let needs = match (r.shrinker.needs_io(), r.shrinker.needs_fs()) {
            (true, true) => "io,fs",
            (true, false) => "io",
            (false, true) => "fs",
            (false, false) => "-",
        };
        writeln!(
            w,
            "{:<25} {:<6} {:>5} {:>14} {:>8}",
            r.shrinker.name(),
            needs,
            r.stats.calls.load(Relaxed),
            r.stats.freed.load(Relaxed),
            r.stats.skipped.load(Relaxed)
        )?;
    }
    Ok(())
}

/// The shrinker of every SLAB_RECLAIM_ACCOUNT cache: it frees their empty
/// slabs (their users' own shrinkers free the objects).
struct ReclaimableSlabShrinker;

pub static SLAB_SHRINKER_STATS: ShrinkerStats = ShrinkerStats::new();

fn reclaimable_caches() -> impl Iterator<Item = &'static mm::slub::KmemCache> {
    super::slab::caches().filter(|c| c.flags.contains(mm::slub::SlabFlags::RECLAIM_ACCOUNT))
}

impl Shrinker for ReclaimableSlabShrinker {
    fn name(&self) -> &'static str {
        "slab-reclaimable"
    }
    /// Free objects counted in whole slabs; scan frees empty slabs.
    fn count(&self, _sc: &ShrinkControl) -> u64 {
        reclaimable_caches()
            .map(|c| {
                let (active, total, _) = c.usage();
                (total - active) / c.layout.objects.max(1) as u64
            })
            .sum()
    }
    fn scan(&self, _sc: &ShrinkControl) -> u64 {
        reclaimable_caches()
            .map(|c| super::slab::kmem_cache_shrink(c) >> c.layout.order)
            .sum()
    }
}

/// Registers the reclaimable-slab shrinker (slab sits below reclaim, so
/// its shrinker lives here, calling down).
pub fn init_slab_shrinker() {
    if let Err(e) = register_shrinker(&ReclaimableSlabShrinker, &SLAB_SHRINKER_STATS) {
        log::error!("slab: shrinker not registered: {e:?}");
    }
}
