//! A page cache over a simulated block device: the reclaimable memory that
//! kswapd and direct reclaim work on.
//!
//! A cache has `blocks` blocks. Reading a block brings its page in (a
//! refill: the page is computed from the block number and the version the
//! "disk" holds); writing makes the page dirty with a new version, and only
//! writeback (which needs I/O) puts that version on the disk. So a clean page
//! can always be dropped and read back with the same bytes, and a dirty one
//! must be written back first: reclaim without __GFP_IO must pass it over.
//!
//! Pages sit on per-node LRU lists, active and inactive, as Linux's file
//! LRUs: new pages start inactive; reclaim scans the inactive tail, moves
//! referenced pages to the active list and drops the rest; the active list
//! is aged into the inactive one when it grows larger. Each cached block
//! has an entry, an object of the SLAB_RECLAIM_ACCOUNT cache
//! "pagecache_entry" (Linux's radix-tree nodes and buffer heads play this
//! part); entries whose page was dropped wait on a per-node idle list for
//! the entry shrinker, which needs the filesystem. A second shrinker,
//! which needs I/O, writes dirty pages back so reclaim can drop them.

use super::page_alloc::{__free_pages, alloc_pages_node, page_address, Page};
use super::shrinker::{self, ShrinkControl, Shrinker, ShrinkerStats};
use super::slab::{kmem_cache_alloc, kmem_cache_create, kmem_cache_free};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::PAGE_SIZE;
use mm::gfp::{Gfp, ReclaimContext};
use mm::slub::{KmemCache, SlabFlags};
use numa::{NodeId, MAX_NUMNODES};
use spin::{Mutex, Once};

const NIL: u32 = u32::MAX;
const WORDS: usize = (PAGE_SIZE / 8) as usize;
const MAX_CACHES: usize = 8;
/// Pages taken off the lists before they are freed outside the lock.
const EVICT_BATCH: usize = 32;

const ACTIVE: usize = 0;
const INACTIVE: usize = 1;
/// Entries without a page.
const IDLE: usize = 2;

const F_REFERENCED: u8 = 1 << 0;
const F_DIRTY: u8 = 1 << 1;

#[repr(C)]
struct Entry {
    block: u32,
    prev: u32,
    next: u32,
    /// Which of the node's lists holds it.
    list: u8,
    node: u8,
    flags: u8,
    version: u64,
    /// Frame number + 1 of the page, 0 for none.
    page: u64,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        len: 0,
    };
}

struct Inner {
    /// Per block: its entry, or null.
    index: *mut *mut Entry,
    /// Per block: the version written back (the disk's contents).
    disk: *mut u64,
    lists: [[List; 3]; MAX_NUMNODES],
    dirty: [u64; MAX_NUMNODES],
    live: bool,
}

// SAFETY: the raw arrays are owned by the cache and only used under its lock.
unsafe impl Send for Inner {}

/// Counters of one cache (Linux's pgpgin, pgactivate, ... for this cache).
pub struct CacheStats {
    pub hits: AtomicU64,
    pub refills: AtomicU64,
    pub evicted: AtomicU64,
    pub activated: AtomicU64,
    pub deactivated: AtomicU64,
    pub writebacks: AtomicU64,
    /// Dirty pages reclaim passed over because it could not do I/O.
    pub dirty_skipped: AtomicU64,
    pub entries_freed: AtomicU64,
    /// Reads whose page did not hold the bytes of its block and version.
    pub corrupt: AtomicU64,
    /// Pages reclaim moved to a lower memory tier instead of dropping.
    pub demoted: AtomicU64,
}

pub struct PageCache {
    pub name: &'static str,
    pub blocks: u32,
    inner: Mutex<Inner>,
    pub stats: CacheStats,
}

static CACHES: Mutex<[Option<&'static PageCache>; MAX_CACHES]> = Mutex::new([None; MAX_CACHES]);
static ENTRIES: Once<Option<&'static KmemCache>> = Once::new();

fn entry_cache() -> Option<&'static KmemCache> {
    *ENTRIES.call_once(|| {
        kmem_cache_create(
            "pagecache_entry",
            core::mem::size_of::<Entry>(),
            8,
            SlabFlags::RECLAIM_ACCOUNT,
            None,
        )
    })
}

/// The word `i` of block `block` at `version`.
fn word(block: u32, version: u64, i: usize) -> u64 {
    let x = (block as u64) << 32 ^ version.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ i as u64;
    x.wrapping_mul(0xff51_afd7_ed55_8ccd) ^ (x >> 29)
}

fn fill(page: Page, block: u32, version: u64) {
    let p = page_address(page) as *mut u64;
    for i in 0..WORDS {
        // SAFETY: the page belongs to the cache entry being filled and is
        // in the direct map; i < 512 words of 4 KiB.
        unsafe { p.add(i).write(word(block, version, i)) };
    }
}

fn holds(page: Page, block: u32, version: u64) -> bool {
    let p = page_address(page) as *const u64;
    [0, 1, WORDS / 2, WORDS - 1].iter().all(|&i| {
        // SAFETY: as in `fill`, read only.
        unsafe { p.add(i).read() == word(block, version, i) }
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheError {
    OutOfRange(u32),
    NoMemory,
    /// The page did not hold its block's bytes: a bug, said loudly.
    Corrupt(u32),
    Destroyed,
}

impl Inner {
    /// # Safety (for the helpers below)
    /// The caller holds the cache lock, `block` is in range, and an entry
    /// exists for every block on a list.
    unsafe fn entry(&mut self, block: u32) -> &mut Entry {
        // SAFETY: see above.
        unsafe { &mut **self.index.add(block as usize) }
    }

    unsafe fn unlink(&mut self, block: u32) {
        // SAFETY: under the lock, `block` is on the list its entry names.
        unsafe {
            let e = self.entry(block);
            let (prev, next, node, list) = (e.prev, e.next, e.node as usize, e.list as usize);
            if prev == NIL {
                self.lists[node][list].head = next;
            } else {
                self.entry(prev).next = next;
            }
            if next == NIL {
                self.lists[node][list].tail = prev;
            } else {
                self.entry(next).prev = prev;
            }
            self.lists[node][list].len -= 1;
        }
    }

    /// Writeback of a dirty block: the disk now holds its version.
    unsafe fn write_back_one(&mut self, block: u32) {
        // SAFETY: under the lock, the block has an entry (see above).
        unsafe {
            let e = self.entry(block);
            e.flags &= !F_DIRTY;
            let (v, node) = (e.version, e.node as usize);
            *self.disk.add(block as usize) = v;
            self.dirty[node] -= 1;
        }
    }

    unsafe fn push_head(&mut self, block: u32, list: usize) {
        // SAFETY: under the lock; the entry is on no list.
        unsafe {
            let node = self.entry(block).node as usize;
            let old = self.lists[node][list].head;
            let e = self.entry(block);
            e.prev = NIL;
            e.next = old;
            e.list = list as u8;
            if old == NIL {
                self.lists[node][list].tail = block;
            } else {
                self.entry(old).prev = block;
            }
            let l = &mut self.lists[node][list];
            l.head = block;
            l.len += 1;
        }
    }
}

impl PageCache {
    /// A cache of `blocks` blocks, registered for reclaim.
    pub fn create(name: &'static str, blocks: u32) -> Option<&'static PageCache> {
        init_shrinkers();
        let bytes = blocks as usize * 8;
        let index = super::vmalloc::vzalloc(bytes) as *mut *mut Entry;
        let disk = super::vmalloc::vzalloc(bytes) as *mut u64;
        if index.is_null() || disk.is_null() {
            super::vmalloc::vfree(index as *const u8);
            super::vmalloc::vfree(disk as *const u8);
            return None;
        }
        let cache: &'static PageCache =
            alloc::boxed::Box::leak(alloc::boxed::Box::new(PageCache {
                name,
                blocks,
                inner: Mutex::new(Inner {
                    index,
                    disk,
                    lists: [[List::EMPTY; 3]; MAX_NUMNODES],
                    dirty: [0; MAX_NUMNODES],
                    live: true,
                }),
                stats: CacheStats {
                    hits: AtomicU64::new(0),
                    refills: AtomicU64::new(0),
                    evicted: AtomicU64::new(0),
                    activated: AtomicU64::new(0),
                    deactivated: AtomicU64::new(0),
                    writebacks: AtomicU64::new(0),
                    dirty_skipped: AtomicU64::new(0),
                    entries_freed: AtomicU64::new(0),
                    corrupt: AtomicU64::new(0),
                    demoted: AtomicU64::new(0),
                },
            }));
        let mut list = CACHES.lock();
        match list.iter_mut().find(|s| s.is_none()) {
            Some(s) => *s = Some(cache),
            None => {
                drop(list);
                cache.destroy();
                return None;
            }
        }
        Some(cache)
    }

    /// Reads `block`, bringing its page in on `node` with `gfp` when it is
    /// not cached. Checks the bytes either way.
    pub fn read(&self, block: u32, node: NodeId, gfp: Gfp) -> Result<(), CacheError> {
        if block >= self.blocks {
            return Err(CacheError::OutOfRange(block));
        }
        let mut spare_entry: *mut Entry = core::ptr::null_mut();
        let result = loop {
            let inner = self.inner.lock();
            if !inner.live {
                break Err(CacheError::Destroyed);
            }
            // SAFETY: block < blocks, the index has `blocks` slots.
            let slot = unsafe { inner.index.add(block as usize) };
            // SAFETY: under the lock.
            let e = unsafe { *slot };
            if !e.is_null() {
                // SAFETY: a live entry of this cache, under the lock.
                let e = unsafe { &mut *e };
                if e.page != 0 {
                    e.flags |= F_REFERENCED;
                    self.stats.hits.fetch_add(1, Relaxed);
                    let ok = holds(Page::from_pfn(e.page - 1), block, e.version);
                    break self.checked(ok, block);
                }
            }
            if e.is_null() && spare_entry.is_null() {
                drop(inner);
                let Some(ec) = entry_cache() else {
                    break Err(CacheError::NoMemory);
                };
                spare_entry = kmem_cache_alloc(ec, gfp) as *mut Entry;
                if spare_entry.is_null() {
                    break Err(CacheError::NoMemory);
                }
                continue;
            }
            let version = if e.is_null() {
                // SAFETY: the disk has `blocks` words.
                unsafe { *inner.disk.add(block as usize) }
            } else {
                // SAFETY: as above.
                unsafe { (*e).version }
            };
            drop(inner);
            // Cache pages are movable (reclaim can drop or demote them), as
            // Linux's page cache allocates them.
            let Some(page) = alloc_pages_node(node as i32, gfp | Gfp::MOVABLE, 0) else {
                break Err(CacheError::NoMemory);
            };
            fill(page, block, version);
            let mut inner = self.inner.lock();
            if !inner.live {
                drop(inner);
                __free_pages(page, 0);
                break Err(CacheError::Destroyed);
            }
            // SAFETY: under the lock, in range.
            let cur = unsafe { *slot };
            // Someone else brought it in (or changed it) meanwhile: retry.
            let changed = if cur.is_null() {
                false
            } else {
                // SAFETY: a live entry under the lock.
                unsafe { (*cur).page != 0 || (*cur).version != version }
            };
            if changed {
                drop(inner);
                __free_pages(page, 0);
                continue;
            }
            let page_node = page.nid().unwrap_or(node);
            // SAFETY: under the lock; the entry is either the idle one for
            // this block (taken off its list) or the fresh spare.
            unsafe {
                if cur.is_null() {
                    spare_entry.write(Entry {
                        block,
                        prev: NIL,
                        next: NIL,
                        list: IDLE as u8,
                        node: page_node as u8,
                        flags: 0,
                        version,
                        page: 0,
                    });
                    *slot = spare_entry;
                    spare_entry = core::ptr::null_mut();
                } else {
                    inner.unlink(block);
                }
                let e = inner.entry(block);
                e.node = page_node as u8;
                e.page = page.pfn() + 1;
                e.flags &= !F_REFERENCED;
                inner.push_head(block, INACTIVE);
            }
            self.stats.refills.fetch_add(1, Relaxed);
            break Ok(());
        };
        if !spare_entry.is_null() {
            if let Some(ec) = entry_cache() {
                kmem_cache_free(ec, spare_entry as *mut u8);
            }
        }
        result
    }

    fn checked(&self, ok: bool, block: u32) -> Result<(), CacheError> {
        if ok {
            return Ok(());
        }
        self.stats.corrupt.fetch_add(1, Relaxed);
        log::error!(
            "BUG: pagecache {}: block {block} does not hold its bytes",
            self.name
        );
        Err(CacheError::Corrupt(block))
    }

    /// Writes `block`: a new version in its page, which becomes dirty.
    pub fn write(&self, block: u32, node: NodeId, gfp: Gfp) -> Result<(), CacheError> {
        loop {
            self.read(block, node, gfp)?;
            let mut inner = self.inner.lock();
            // SAFETY: block is in range (read checked it); under the lock.
            let e = unsafe { *inner.index.add(block as usize) };
            if e.is_null() {
                continue;
            }
            // SAFETY: a live entry under the lock.
            let e = unsafe { &mut *e };
            if e.page == 0 {
                continue; // reclaimed between the read and now
            }
            e.version += 1;
            fill(Page::from_pfn(e.page - 1), block, e.version);
            if e.flags & F_DIRTY == 0 {
                e.flags |= F_DIRTY;
                let n = e.node as usize;
                inner.dirty[n] += 1;
            }
            return Ok(());
        }
    }

    /// Pages cached on `node`: (active, inactive, dirty, idle entries).
    pub fn node_counts(&self, node: NodeId) -> (u64, u64, u64, u64) {
        let i = self.inner.lock();
        let l = &i.lists[node];
        (l[ACTIVE].len, l[INACTIVE].len, i.dirty[node], l[IDLE].len)
    }

    /// Dirty pages on every node.
    pub fn dirty_total(&self) -> u64 {
        self.inner.lock().dirty.iter().sum()
    }

    pub fn cached_pages(&self) -> u64 {
        let i = self.inner.lock();
        i.lists
            .iter()
            .map(|l| l[ACTIVE].len + l[INACTIVE].len)
            .sum()
    }

    /// One reclaim pass over `node`'s lists: ages the active list, then
    /// scans up to `nr_to_scan` inactive pages. With `demote`, a page that
    /// would be dropped moves to a lower memory tier instead when one has
    /// room (the cache keeps it; this node gets its frame back). Returns
    /// (scanned, freed from `node`, of which demoted).
    pub fn shrink_lru(
        &self,
        node: NodeId,
        nr_to_scan: u64,
        ctx: ReclaimContext,
        demote: bool,
    ) -> (u64, u64, u64) {
        let (mut scanned, mut freed, mut demoted) = (0, 0, 0);
        let demote = demote && demotion_possible(node);
        while scanned < nr_to_scan {
            let mut batch = [0u64; EVICT_BATCH];
            let mut n = 0;
            {
                let mut inner = self.inner.lock();
                if !inner.live {
                    break;
                }
                // SAFETY: (the whole block) under the lock; every block on
                // a list has an entry.
                unsafe {
                    // Keep the inactive list at least as long as the active.
                    let mut aged = 0;
                    while inner.lists[node][ACTIVE].len > inner.lists[node][INACTIVE].len
                        && aged < EVICT_BATCH
                    {
                        let b = inner.lists[node][ACTIVE].tail;
                        inner.unlink(b);
                        let e = inner.entry(b);
                        if e.flags & F_REFERENCED != 0 {
                            e.flags &= !F_REFERENCED;
                            inner.push_head(b, ACTIVE);
                        } else {
                            inner.push_head(b, INACTIVE);
                            self.stats.deactivated.fetch_add(1, Relaxed);
                        }
                        aged += 1;
                    }
                    // Each page at most once a round: rotated ones go back to the head.
                    let round = inner.lists[node][INACTIVE].len;
                    let mut looked = 0;
                    while n < EVICT_BATCH && scanned < nr_to_scan && looked < round {
                        let b = inner.lists[node][INACTIVE].tail;
                        if b == NIL {
                            break;
                        }
                        scanned += 1;
                        looked += 1;
                        inner.unlink(b);
                        let e = inner.entry(b);
                        if e.flags & F_REFERENCED != 0 {
                            e.flags &= !F_REFERENCED;
                            inner.push_head(b, ACTIVE);
                            self.stats.activated.fetch_add(1, Relaxed);
                            continue;
                        }
                        let old = e.page - 1;
                        let dirty = e.flags & F_DIRTY != 0;
                        // Demotion comes before writeback, as in Linux's
                        // shrink_folio_list: a migration needs no I/O, so
                        // a dirty page moves down dirty.
                        if let Some(new) = demote.then(|| demotion_copy(node, old)).flatten() {
                            // The block stays cached, on the lower tier's
                            // inactive list; its old frame is freed below.
                            let to = new.nid().unwrap_or(node);
                            e.page = new.pfn() + 1;
                            e.node = to as u8;
                            if dirty {
                                inner.dirty[node] -= 1;
                                inner.dirty[to] += 1;
                            }
                            inner.push_head(b, INACTIVE);
                            batch[n] = old;
                            n += 1;
                            demoted += 1;
                            continue;
                        }
                        if dirty {
                            if !(ctx.may_io && ctx.may_fs) {
                                inner.push_head(b, INACTIVE);
                                self.stats.dirty_skipped.fetch_add(1, Relaxed);
                                continue;
                            }
                            inner.write_back_one(b);
                            self.stats.writebacks.fetch_add(1, Relaxed);
                        }
                        inner.entry(b).page = 0;
                        batch[n] = old;
                        n += 1;
                        inner.push_head(b, IDLE);
                    }
                }
            }
            if n == 0 {
                // An empty list, or only referenced or unwritable pages.
                break;
            }
            for &pfn in &batch[..n] {
                __free_pages(Page::from_pfn(pfn), 0);
            }
            freed += n as u64;
        }
        self.stats.evicted.fetch_add(freed - demoted, Relaxed);
        self.stats.demoted.fetch_add(demoted, Relaxed);
        (scanned, freed, demoted)
    }

    /// Frees up to `nr` idle entries of `node`; returns how many.
    fn free_idle_entries(&self, node: NodeId, nr: u64) -> u64 {
        let Some(ec) = entry_cache() else { return 0 };
        let mut done = 0;
        while done < nr {
            let victim = {
                let mut inner = self.inner.lock();
                let b = inner.lists[node][IDLE].tail;
                if !inner.live || b == NIL {
                    break;
                }
                // SAFETY: under the lock; the idle entry has no page and a
                // dirty one never reaches this list (writeback came first).
                unsafe {
                    inner.unlink(b);
                    let slot = inner.index.add(b as usize);
                    let e = *slot;
                    *slot = core::ptr::null_mut();
                    e
                }
            };
            kmem_cache_free(ec, victim as *mut u8);
            done += 1;
        }
        self.stats.entries_freed.fetch_add(done, Relaxed);
        done
    }

    /// Writes back up to `nr` dirty pages of `node`; returns how many.
    fn write_back(&self, node: NodeId, nr: u64) -> u64 {
        let mut inner = self.inner.lock();
        if !inner.live {
            return 0;
        }
        let mut done = 0;
        for list in [INACTIVE, ACTIVE] {
            let mut b = inner.lists[node][list].tail;
            while b != NIL && done < nr {
                // SAFETY: under the lock, on a list, so it has an entry.
                unsafe {
                    let e = inner.entry(b);
                    let prev = e.prev;
                    if e.flags & F_DIRTY != 0 {
                        inner.write_back_one(b);
                        done += 1;
                    }
                    b = prev;
                }
            }
        }
        self.stats.writebacks.fetch_add(done, Relaxed);
        done
    }

    /// Drops every clean page and idle entry (echo 3 > drop_caches, after
    /// a sync when `sync`). Returns pages freed.
    pub fn drop_all(&self, sync: bool) -> u64 {
        let full = ReclaimContext {
            may_sleep: true,
            may_io: sync,
            may_fs: sync,
            wake_kswapd: false,
            this_node: true,
        };
        let mut freed = 0;
        for node in 0..MAX_NUMNODES {
            loop {
                let (a, i, _, _) = self.node_counts(node);
                if a + i == 0 {
                    break;
                }
                // Twice the list: referenced pages rotate once first.
                let (_, got, _) = self.shrink_lru(node, 2 * (a + i), full, false);
                freed += got;
                if got == 0 {
                    break;
                }
            }
            self.free_idle_entries(node, u64::MAX);
        }
        freed
    }

    /// Drops everything and unregisters; the arrays are freed. The small
    /// struct itself stays (a reclaim pass may still hold a reference).
    pub fn destroy(&'static self) {
        for s in CACHES.lock().iter_mut() {
            if s.is_some_and(|c| core::ptr::eq(c, self)) {
                *s = None;
            }
        }
        self.drop_all(true);
        let mut inner = self.inner.lock();
        inner.live = false;
        super::vmalloc::vfree(inner.index as *const u8);
        super::vmalloc::vfree(inner.disk as *const u8);
    }
}

/// Every registered cache.
fn caches() -> [Option<&'static PageCache>; MAX_CACHES] {
    *CACHES.lock()
}

/// Compaction's view of the page cache: the frames of every cached page
/// in `[lo, hi)`, handed to `f` under each cache's lock (`f` must not
/// allocate).
pub fn for_each_page_in(lo: u64, hi: u64, mut f: impl FnMut(u64)) {
    for cache in caches().into_iter().flatten() {
        let inner = cache.inner.lock();
        for block in 0..cache.blocks as usize {
            // SAFETY: block < blocks; entries are the cache's, under its lock.
            let e = unsafe { *inner.index.add(block) };
            if e.is_null() {
                continue;
            }
            // SAFETY: a live entry, under the lock.
            let page = unsafe { (*e).page };
            if page != 0 && (lo..hi).contains(&(page - 1)) {
                f(page - 1);
            }
        }
    }
}

/// Compaction's migration of cached pages: each whose frame is in
/// `sources` (sorted) is copied into a page `target` gives and its entry
/// re-pointed, under the cache's lock (readers check a page's bytes under
/// it too, so none sees the move); the old page is freed. With
/// `try_lock`, a cache whose lock is held is passed over. Returns the
/// pages moved.
pub fn migrate_frames(
    sources: &[u64],
    target: &mut dyn FnMut() -> Option<Page>,
    try_lock: bool,
) -> u64 {
    let mut moved = 0;
    for cache in caches().into_iter().flatten() {
        let inner = if try_lock {
            match cache.inner.try_lock() {
                Some(i) => i,
                None => continue,
            }
        } else {
            cache.inner.lock()
        };
        for block in 0..cache.blocks as usize {
            // SAFETY: as in `for_each_page_in`.
            let e = unsafe { *inner.index.add(block) };
            if e.is_null() {
                continue;
            }
            // SAFETY: a live entry, under the lock.
            let e = unsafe { &mut *e };
            if e.page == 0 || sources.binary_search(&(e.page - 1)).is_err() {
                continue;
            }
            let Some(new) = target() else {
                return moved;
            };
            let old = Page::from_pfn(e.page - 1);
            // SAFETY: the cached page is held under the lock; `new` is fresh.
            unsafe { super::migrate::copy_page(old, new) };
            e.page = new.pfn() + 1;
            __free_pages(old, 0);
            moved += 1;
        }
    }
    moved
}

/// Reclaim's LRU pass over every cache's lists on `node`, demoting where
/// a lower tier exists. Returns (scanned, freed, of which demoted).
pub fn shrink_node_lru(node: NodeId, nr_to_scan: u64, ctx: ReclaimContext) -> (u64, u64, u64) {
    let (mut scanned, mut freed, mut demoted) = (0, 0, 0);
    for c in caches().iter().flatten() {
        let (s, f, d) = c.shrink_lru(node, nr_to_scan.saturating_sub(freed), ctx, true);
        scanned += s;
        freed += f;
        demoted += d;
        if freed >= nr_to_scan {
            break;
        }
    }
    (scanned, freed, demoted)
}

/// Demotion on or off (`numa.demotion_enabled=`; on by default, where
/// Linux's /sys/kernel/mm/numa/demotion_enabled starts off).
pub static DEMOTION_ENABLED: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(true);

fn demotion_possible(node: NodeId) -> bool {
    DEMOTION_ENABLED.load(Relaxed) && crate::numa::memory_tiers().tiers.can_demote(node)
}

/// A copy of the page at `pfn` (of `node`) on a lower tier: the preferred
/// demotion targets first, then the rest of the lower tiers, each without
/// reclaim or warning (Linux's alloc_demote_folio); None when all are
/// full, and the page is dropped instead.
fn demotion_copy(node: NodeId, pfn: u64) -> Option<Page> {
    let tiers = &crate::numa::memory_tiers().tiers;
    let gfp = Gfp::NOWAIT | Gfp::MOVABLE | Gfp::THISNODE | Gfp::NOWARN;
    let preferred = tiers.preferred[node];
    let order = numa::hmat::nodes_of(preferred)
        .chain(numa::hmat::nodes_of(tiers.fallback[node] & !preferred));
    for target in order {
        if let Some(new) = alloc_pages_node(target as i32, gfp, 0) {
            // SAFETY: `pfn` is a cached page the caller holds under the
            // cache lock (no reader can see it change: it is copied, not
            // written), `new` was just allocated to us, and both are
            // whole pages in the direct map.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    page_address(Page::from_pfn(pfn)),
                    page_address(new),
                    PAGE_SIZE as usize,
                )
            };
            return Some(new);
        }
    }
    None
}

/// LRU pages on `node`: (active, inactive), over every cache.
pub fn lru_pages(node: NodeId) -> (u64, u64) {
    caches().iter().flatten().fold((0, 0), |(a, i), c| {
        let (ca, ci, _, _) = c.node_counts(node);
        (a + ca, i + ci)
    })
}

/// Dirty pages on `node`, over every cache.
pub fn dirty_pages(node: NodeId) -> u64 {
    caches()
        .iter()
        .flatten()
        .map(|c| c.node_counts(node).2)
        .sum()
}

/// Runs `work(cache, node, budget)` over the caches until `sc.nr_to_scan`
/// objects are done; returns how many were.
fn share_out(sc: &ShrinkControl, work: fn(&PageCache, NodeId, u64) -> u64) -> u64 {
    let mut left = sc.nr_to_scan;
    for c in caches().iter().flatten() {
        left -= work(c, sc.node, left);
    }
    sc.nr_to_scan - left
}

/// Frees idle entries (it would need the filesystem to look them up again).
struct EntryShrinker;
/// Writes dirty pages back so the LRU pass can drop them (it needs I/O).
struct WritebackShrinker;

pub static ENTRY_SHRINKER_STATS: ShrinkerStats = ShrinkerStats::new();
pub static WRITEBACK_SHRINKER_STATS: ShrinkerStats = ShrinkerStats::new();

impl Shrinker for EntryShrinker {
    fn name(&self) -> &'static str {
        "pagecache-entries"
    }
    fn needs_fs(&self) -> bool {
        true
    }
    fn count(&self, sc: &ShrinkControl) -> u64 {
        caches()
            .iter()
            .flatten()
            .map(|c| c.node_counts(sc.node).3)
            .sum()
    }
    fn scan(&self, sc: &ShrinkControl) -> u64 {
        share_out(sc, PageCache::free_idle_entries)
    }
}

impl Shrinker for WritebackShrinker {
    fn name(&self) -> &'static str {
        "pagecache-writeback"
    }
    fn needs_io(&self) -> bool {
        true
    }
    fn needs_fs(&self) -> bool {
        true
    }
    fn count(&self, sc: &ShrinkControl) -> u64 {
        dirty_pages(sc.node)
    }
    fn scan(&self, sc: &ShrinkControl) -> u64 {
        share_out(sc, PageCache::write_back)
    }
}

/// Registers the cache's shrinkers (at boot, and before a first cache).
pub fn init_shrinkers() {
    static ONCE: Once<()> = Once::new();
    ONCE.call_once(|| {
        for (s, stats) in [
            (
                &EntryShrinker as &'static dyn Shrinker,
                &ENTRY_SHRINKER_STATS,
            ),
            (&WritebackShrinker, &WRITEBACK_SHRINKER_STATS),
        ] {
            if let Err(e) = shrinker::register_shrinker(s, stats) {
                log::error!("pagecache: shrinker {} not registered: {e:?}", s.name());
            }
        }
    });
}

/// One line per cache for the reports.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(w, "cache            blocks  cached  hits  refills  evicted  demoted  writebacks  dirty_skipped  corrupt")?;
    for c in caches().iter().flatten() {
        let s = &c.stats;
        writeln!(
            w,
            "{:<16} {:>6} {:>7} {:>5} {:>8} {:>8} {:>8} {:>11} {:>14} {:>8}",
            c.name,
            c.blocks,
            c.cached_pages(),
            s.hits.load(Relaxed),
            s.refills.load(Relaxed),
            s.evicted.load(Relaxed),
            s.demoted.load(Relaxed),
            s.writebacks.load(Relaxed),
            s.dirty_skipped.load(Relaxed),
            s.corrupt.load(Relaxed)
        )?;
    }
    Ok(())
}
