//! Memory hot-add: a range of RAM that arrived while the kernel runs (an
//! ACPI memory device), checked against what the firmware said could
//! arrive, direct-mapped, and onlined on its node as ZONE_MOVABLE (Linux's
//! `online_movable`): only movable allocations land there, so that it
//! could be emptied again. Watermarks, per-CPU list bounds, zonelists and
//! the reports follow (the page allocator rebuilds them).
//!
//! Hot-remove's steps on the allocator's side are here too (isolate,
//! take offline once empty, or give back); `memory_offline` drives them
//! with the migration that empties the range, which needs the pages'
//! owners (tasks, the page cache) from the layer above.

use super::page_alloc::allocator;
use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::PAGE_SIZE;
use mm::buddy::MAX_ORDER;
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
pub fn whole_blocks(start: u64, end: u64) -> Option<(u64, u64)> {
    let block = 1u64 << MAX_ORDER;
    let s = start.div_ceil(PAGE_SIZE).div_ceil(block) * block;
    let e = end / PAGE_SIZE / block * block;
    (s < e).then_some((s, e))
}

/// Memory hotplug's lock, for an operation of several steps (a removal).
pub fn serialized() -> spin::MutexGuard<'static, ()> {
    HOTPLUG_LOCK.lock()
}

/// Pages hot-removed per node since boot.
static REMOVED_PAGES: [AtomicU64; MAX_NUMNODES] = [const { AtomicU64::new(0) }; MAX_NUMNODES];

/// Bytes hot-removed from `node` since boot.
pub fn removed_bytes(node: NodeId) -> u64 {
    REMOVED_PAGES.get(node).map_or(0, |a| a.load(Relaxed)) * PAGE_SIZE
}

/// Step 1 of a removal: nothing more is allocated from `[s, e)` (frames),
/// an online range of `node`'s hot-plug zone.
pub fn isolate(node: NodeId, s: u64, e: u64) -> Result<(), OfflineError> {
    without_interrupts(|| allocator().isolate_range(node, s, e))
}

/// A refused removal: the range is in use again.
pub fn undo_isolate(node: NodeId, s: u64, e: u64) -> Result<(), OfflineError> {
    without_interrupts(|| allocator().undo_isolate_range(node, s, e))
}

/// The last step, once the range is empty (its users migrated, the
/// CPUs' lists drained): it leaves the allocator, then the direct map.
/// Returns the pages taken; Busy with the first frame still in use.
pub fn offline(node: NodeId, s: u64, e: u64) -> Result<u64, OfflineError> {
    let t = crate::numa::topology();
    let pages = without_interrupts(|| allocator().offline_range(node, s, e, t))?;
    // Nothing in the range is reachable now: its mappings go too.
    if let Err(err) = crate::arch::x86_64::paging::remove_direct_map(s * PAGE_SIZE, e * PAGE_SIZE) {
        log::error!("memory hotplug: the direct map over the removed range stays: {err:?}");
    }
    REMOVED_PAGES[node].fetch_add(pages, Relaxed);
    ADDED_PAGES[node].fetch_sub(pages, Relaxed);
    Ok(pages)
}
