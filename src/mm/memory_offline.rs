//! Memory hot-remove (Linux's offline_pages and its callers): the range
//! is isolated (nothing more is allocated from it), every CPU's page
//! lists are drained, the pages tasks and the page cache own there are
//! migrated to the node's other memory (their owners re-point them), and
//! once every frame is free the range leaves the allocator and the direct
//! map. A page nobody can move (a movable allocation without an owner
//! that can re-point it) refuses the removal, and the range goes back to
//! use. The allocator's steps are `memory_hotplug`'s; this module brings
//! the owners, which live above it.

use super::memory_hotplug;
use super::migrate::{migration_target, MIGRATE_STAT};
use super::page_alloc::{__free_pages, alloc_pages_node, drain_all_pages, drain_local_pages, Page};
use crate::sched::task::for_each_task;
use core::fmt;
use core::sync::atomic::Ordering::Relaxed;
use mm::gfp::Gfp;
use mm::page_alloc::OfflineError;
use numa::NodeId;

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

/// How often a range whose owned pages came back busy is tried again.
const MIGRATE_PASSES: usize = 5;

/// Takes the hot-added memory `[start, start + len)` of `node` offline:
/// isolated, emptied by migration, removed from the allocator and the
/// direct map. Refused (and the range back in use) when a page in it
/// cannot be moved.
pub fn remove_memory(node: NodeId, start: u64, len: u64) -> Result<Removed, RemoveError> {
    let (s, e) = memory_hotplug::whole_blocks(start, start.saturating_add(len))
        .ok_or(RemoveError::NotOnline)?;
    let _serial = memory_hotplug::serialized();
    memory_hotplug::isolate(node, s, e).map_err(|e| match e {
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
        outcome = match memory_hotplug::offline(node, s, e) {
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
    match outcome {
        Ok(pages) => Ok(Removed {
            start_pfn: s,
            end_pfn: e,
            pages,
            migrated,
        }),
        Err(err) => {
            if let Err(e) = memory_hotplug::undo_isolate(node, s, e) {
                log::error!("memory hotplug: the refused range could not be given back: {e:?}");
            }
            Err(err)
        }
    }
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
