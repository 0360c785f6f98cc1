//! Page migration: moving a page's contents to another frame and pointing
//! its owner at the new one, as Linux's mm/migrate.c does for the pages
//! whose owners can be re-pointed (here: task memory, reached only through
//! its task). The owner does the isolating and re-pointing under its own
//! lock; this module gives it the target pages and keeps the counters
//! /proc/vmstat shows (`pgmigrate_success`, `pgmigrate_fail`).

use super::page_alloc::{alloc_pages_node, page_address, Page};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::PAGE_SIZE;
use mm::gfp::Gfp;
use numa::NodeId;

pub struct MigrateStat {
    pub pgmigrate_success: AtomicU64,
    pub pgmigrate_fail: AtomicU64,
}

pub static MIGRATE_STAT: MigrateStat = MigrateStat {
    pgmigrate_success: AtomicU64::new(0),
    pgmigrate_fail: AtomicU64::new(0),
};

/// A page to migrate into on `node` (Linux's alloc_migration_target for a
/// node: movable, that node only, allowed to fail rather than OOM-kill,
/// silent: a migration that finds no room counts a failure and goes on).
pub fn migration_target(node: NodeId) -> Option<Page> {
    let gfp = Gfp::KERNEL | Gfp::MOVABLE | Gfp::THISNODE | Gfp::RETRY_MAYFAIL | Gfp::NOWARN;
    alloc_pages_node(node as i32, gfp, 0)
}

/// Copies one page's bytes to another.
///
/// # Safety
/// Both pages are the caller's (allocated, not in use by anyone else while
/// it copies).
pub unsafe fn copy_page(from: Page, to: Page) {
    // SAFETY: two distinct allocated pages, each PAGE_SIZE bytes in the
    // direct map, as the caller promises.
    unsafe {
        core::ptr::copy_nonoverlapping(
            page_address(from) as *const u8,
            page_address(to),
            PAGE_SIZE as usize,
        )
    };
}

/// The migration lines of /proc/vmstat.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    let s = &MIGRATE_STAT;
    writeln!(w, "pgmigrate_success {}", s.pgmigrate_success.load(Relaxed))?;
    writeln!(w, "pgmigrate_fail {}", s.pgmigrate_fail.load(Relaxed))
}
