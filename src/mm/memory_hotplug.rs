//! Memory hot-add: a range of RAM that arrived while the kernel runs (an
//! ACPI memory device), checked against what the firmware said could
//! arrive, direct-mapped, and onlined on its node as ZONE_MOVABLE (Linux's
//! `online_movable`): only movable allocations land there, so that it
//! could be emptied again. Watermarks, per-CPU list bounds, zonelists and
//! the reports follow (the page allocator rebuilds them).
//!
//! Hot-remove is the way back (Linux's offline_pages): the range is
//! isolated (nothing more is allocated from it), every CPU's page lists
//! are drained, the pages tasks and the page cache own there are migrated
//! to the node's other memory (their owners re-point them), and once every
//! frame is free the range leaves the allocator and the direct map. A page
//! nobody can move (a movable allocation without an owner that can
//! re-point it) refuses the removal, and the range goes back to use.

use super::migrate::{migration_target, MIGRATE_STAT};
use super::page_alloc::{
    __free_pages, alloc_pages_node, allocator, drain_all_pages, drain_local_pages, Page,
};
use crate::sched::task::for_each_task;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::PAGE_SIZE;
use mm::buddy::MAX_ORDER;
use mm::gfp::Gfp;
use mm::page_alloc::{OfflineError, OnlineError};
use mm::zone::ZoneType;
use numa::{NodeId, MAX_NUMNODES};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

/// What onlining did.
#[derive(Clone, Copy, Debug)]
pub struct Added {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub pages: u64,
}

impl fmt::Display for Added {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} pages online in ZONE_MOVABLE (pfn {:#x}-{:#x})",
            self.pages,
            self.start_pfn,
            self.end_pfn - 1
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// The range is not one the SRAT marks hot-pluggable.
    NotHotpluggable,
    /// Smaller than one whole MAX_ORDER block once aligned.
    TooSmall,
    /// The node has no zone for hot-added memory.
    NoZone(NodeId),
    /// Past what the node's hot-plug zone has descriptors for.
    BeyondCapacity {
        end_pfn: u64,
    },
    /// The direct map could not be extended over it.
    Map,
    Online(OnlineError),
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            HotplugError::NotHotpluggable => {
                f.write_str("the SRAT lists no hot-pluggable range holding it")
            }
            HotplugError::TooSmall => f.write_str("it holds no whole 4 MiB block"),
            HotplugError::NoZone(n) => write!(
                f,
                "node {n} has no zone for hot-added memory (its ZONE_MOVABLE holds boot memory, or the node does not exist)"
            ),
            HotplugError::BeyondCapacity { end_pfn } => write!(
                f,
                "this node's hot-plug zone has descriptors up to pfn {end_pfn:#x} only (1/64 of the node's RAM, reserved at boot)"
            ),
            HotplugError::Map => f.write_str("the direct map could not be extended over it"),
            HotplugError::Online(OnlineError::Overlaps) => {
                f.write_str("it overlaps memory already online")
            }
            HotplugError::Online(e) => write!(f, "the page allocator refused it ({e:?})"),
        }
    }
}

/// Memory devices the launcher said it would hot-add (`memhp.expect=`),
/// for the self-tests to wait for.
pub static EXPECTED: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Of those, how many the launcher will ask to remove (`memhp.unplug=`).
pub static EXPECTED_REMOVALS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// Memory hotplug is one operation at a time (Linux's mem_hotplug_lock).
static HOTPLUG_LOCK: Mutex<()> = Mutex::new(());
/// Pages hot-added per node since boot.
static ADDED_PAGES: [AtomicU64; MAX_NUMNODES] = [const { AtomicU64::new(0) }; MAX_NUMNODES];

/// Bytes hot-added to `node` since boot and still online.
pub fn added_bytes(node: NodeId) -> u64 {
    ADDED_PAGES.get(node).map_or(0, |a| a.load(Relaxed)) * PAGE_SIZE
}

/// Onlines the whole MAX_ORDER blocks of `[start, start + len)` on `node`.
pub fn add_memory(node: NodeId, start: u64, len: u64) -> Result<Added, HotplugError> {
    let end = start.saturating_add(len);
    let t = crate::numa::topology();
    if !t.hotpluggable().any(|m| m.start <= start && end <= m.end) {
        return Err(HotplugError::NotHotpluggable);
    }
    let (s, e) = whole_blocks(start, end).ok_or(HotplugError::TooSmall)?;
    let a = allocator();
    let zone = a
        .node(node)
        .map(|n| n.zone(ZoneType::Movable))
        .filter(|z| z.is_hotplug())
        .ok_or(HotplugError::NoZone(node))?;
    if e > zone.span.end_pfn || s < zone.span.start_pfn {
        return Err(HotplugError::BeyondCapacity {
            end_pfn: zone.span.end_pfn,
        });
    }
    let _serial = HOTPLUG_LOCK.lock();
    if a.zones().any(|z| z.contains(s) || z.contains(e - 1)) {
        return Err(HotplugError::Online(OnlineError::Overlaps));
    }
    crate::arch::x86_64::paging::extend_direct_map(s * PAGE_SIZE, e * PAGE_SIZE, node as i32)
        .map_err(|e| {
            log::error!("memory hotplug: direct map: {e:?}");
            HotplugError::Map
        })?;
    let pages =
        without_interrupts(|| a.online_range(node, s, e, t)).map_err(HotplugError::Online)?;
    ADDED_PAGES[node].fetch_add(pages, Relaxed);
    Ok(Added {
        start_pfn: s,
        end_pfn: e,
        pages,
    })
}

/// The frames of the whole MAX_ORDER blocks inside `[start, end)` (bytes).
fn whole_blocks(start: u64, end: u64) -> Option<(u64, u64)> {
    let block = 1u64 << MAX_ORDER;
    let s = start.div_ceil(PAGE_SIZE).div_ceil(block) * block;
    let e = end / PAGE_SIZE / block * block;
    (s < e).then_some((s, e))
}

/// What offlining did.
#[derive(Clone, Copy, Debug)]
pub struct Removed {
    pub start_pfn: u64,
    pub end_pfn: u64,
    pub pages: u64,
    /// Pages whose owners were moved elsewhere first.
    pub migrated: u64,
}

impl fmt::Display for Removed {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} pages offline (pfn {:#x}-{:#x}), {} migrated off it first",
            self.pages,
            self.start_pfn,
            self.end_pfn - 1,
            self.migrated
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveError {
    /// Not memory that came online as a whole through hot-add.
    NotOnline,
    /// A page still in use that nothing can migrate (Linux's -EBUSY).
    Busy {
        pfn: u64,
        owned: bool,
    },
    Offline(OfflineError),
}

impl fmt::Display for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            RemoveError::NotOnline => {
                f.write_str("it is not memory that was hot-added and is online")
            }
            RemoveError::Busy { pfn, owned: false } => write!(
                f,
                "pfn {pfn:#x} is in use by an allocation no owner can move (unmovable in practice); the range stays online"
            ),
            RemoveError::Busy { pfn, owned: true } => write!(
                f,
                "pfn {pfn:#x} stayed in use through {MIGRATE_PASSES} migration passes (its owner kept it busy); the range stays online"
            ),
            RemoveError::Offline(e) => write!(f, "the page allocator refused it ({e:?})"),
        }
    }
}

/// Pages hot-removed per node since boot.
static REMOVED_PAGES: [AtomicU64; MAX_NUMNODES] = [const { AtomicU64::new(0) }; MAX_NUMNODES];

/// Bytes hot-removed from `node` since boot.
pub fn removed_bytes(node: NodeId) -> u64 {
    REMOVED_PAGES.get(node).map_or(0, |a| a.load(Relaxed)) * PAGE_SIZE
}

/// How often a range whose owned pages came back busy is tried again.
const MIGRATE_PASSES: usize = 5;

/// Takes the hot-added memory `[start, start + len)` of `node` offline:
/// isolated, emptied by migration, removed from the allocator and the
/// direct map. Refused (and the range back in use) when a page in it
/// cannot be moved.
pub fn remove_memory(node: NodeId, start: u64, len: u64) -> Result<Removed, RemoveError> {
    let (s, e) = whole_blocks(start, start.saturating_add(len)).ok_or(RemoveError::NotOnline)?;
    let a = allocator();
    let t = crate::numa::topology();
    let _serial = HOTPLUG_LOCK.lock();
    without_interrupts(|| a.isolate_range(node, s, e)).map_err(|e| match e {
        OfflineError::NotOnline | OfflineError::NoHotplugZone => RemoveError::NotOnline,
        e => RemoveError::Offline(e),
    })?;
    // Pages parked on the CPUs' lists go back to the (isolated) blocks.
    drain_all_pages();
    let mut migrated = 0;
    let mut outcome = Err(RemoveError::NotOnline);
    for pass in 0..MIGRATE_PASSES {
        migrated += migrate_out(node, s, e);
        drain_all_pages();
        outcome = match without_interrupts(|| a.offline_range(node, s, e, t)) {
            Ok(pages) => Ok(pages),
            Err(OfflineError::Busy { pfn }) => {
                let owned = is_owned(pfn);
                if owned && pass + 1 < MIGRATE_PASSES {
                    continue;
                }
                Err(RemoveError::Busy { pfn, owned })
            }
            Err(e) => Err(RemoveError::Offline(e)),
        };
        break;
    }
    let pages = match outcome {
        Ok(pages) => pages,
        Err(err) => {
            if let Err(e) = without_interrupts(|| a.undo_isolate_range(node, s, e)) {
                log::error!("memory hotplug: the refused range could not be given back: {e:?}");
            }
            return Err(err);
        }
    };
    // Nothing in the range is reachable now: its mappings go too.
    if let Err(err) = crate::arch::x86_64::paging::remove_direct_map(s * PAGE_SIZE, e * PAGE_SIZE) {
        log::error!("memory hotplug: the direct map over the removed range stays: {err:?}");
    }
    REMOVED_PAGES[node].fetch_add(pages, Relaxed);
    ADDED_PAGES[node].fetch_sub(pages, Relaxed);
    Ok(Removed {
        start_pfn: s,
        end_pfn: e,
        pages,
        migrated,
    })
}

/// Whether a task or the page cache owns frame `pfn` (so migration could
/// move it).
fn is_owned(pfn: u64) -> bool {
    let mut owned = false;
    for_each_task(|t| t.for_each_page(|p, _| owned |= p == pfn));
    super::pagecache::for_each_page_in(pfn, pfn + 1, |_| owned = true);
    owned
}

/// Migrates every page tasks and the page cache own in `[s, e)` to other
/// memory of `node` (or, when it has none left, the nearest node with
/// room), a batch at a time, targets taken before each batch so that
/// no freed source comes back as a target. Returns the pages moved.
fn migrate_out(node: NodeId, s: u64, e: u64) -> u64 {
    const BATCH: usize = 64;
    let mut moved = 0;
    loop {
        let mut sources = [0u64; BATCH];
        let mut n = 0;
        let mut collect = |pfn: u64| {
            if (s..e).contains(&pfn) && n < BATCH {
                sources[n] = pfn;
                n += 1;
            }
        };
        for_each_task(|t| t.for_each_page(|pfn, _| collect(pfn)));
        super::pagecache::for_each_page_in(s, e, &mut collect);
        if n == 0 {
            return moved;
        }
        let sources = &mut sources[..n];
        sources.sort_unstable();
        let mut targets = [Page::from_pfn(0); BATCH];
        let mut have = 0;
        let anywhere = Gfp::KERNEL | Gfp::MOVABLE | Gfp::RETRY_MAYFAIL | Gfp::NOWARN;
        while have < n {
            let Some(p) =
                migration_target(node).or_else(|| alloc_pages_node(node as i32, anywhere, 0))
            else {
                break;
            };
            targets[have] = p;
            have += 1;
        }
        let mut used = 0;
        let mut take = || {
            (used < have).then(|| {
                used += 1;
                targets[used - 1]
            })
        };
        let mut m = 0;
        for_each_task(|t| m += t.migrate_frames(sources, &mut take, false).unwrap_or(0));
        m += super::pagecache::migrate_frames(sources, &mut take, false);
        for &p in &targets[used..have] {
            __free_pages(p, 0);
        }
        // The sources went to this CPU's lists: back to their isolated
        // blocks now, where nothing allocates them again.
        drain_local_pages();
        MIGRATE_STAT.pgmigrate_success.fetch_add(m, Relaxed);
        MIGRATE_STAT
            .pgmigrate_fail
            .fetch_add(n as u64 - m.min(n as u64), Relaxed);
        moved += m;
        if m == 0 {
            // Nothing moved (no room, or every owner busy): the caller
            // finds the range busy and says which page.
            return moved;
        }
    }
}
