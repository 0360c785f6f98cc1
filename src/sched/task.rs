//! Tasks: the unit that owns memory, as a Linux process owns its mm. A
//! task's threads allocate pages and slab objects charged to it; the OOM
//! killer scores tasks by what they hold and their oom_score_adj, and a
//! killed task's memory comes back when its last thread has stopped.
//!
//! A task's pages are chained through their first word (the next frame
//! number + 1), so charging never allocates: that matters most when
//! memory is short. Its slab objects carry a 16-byte header with the
//! chain link and their size.
//!
//! Task pages are movable, as a Linux process's anonymous memory: no one
//! but the task holds their addresses (the code that fills a page gets it
//! before it is charged, never after), so migration may copy one and
//! re-point its chain link under the task's lock (`migrate_pages`).

use crate::mm::page_alloc::{
    __free_pages, alloc_pages, alloc_pages_node, page_address, Page, NUMA_NO_NODE,
};
use crate::mm::slab::{kfree, kmalloc, ksize};
use crate::sched::WaitQueue;
use alloc::sync::Arc;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::*};
use layout::PAGE_SIZE;
use mm::gfp::Gfp;
use mm::page_chain::{self, Pick, Relinked};
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

/// Tasks that can exist at once.
pub const MAX_TASKS: usize = 32;
/// Words in a page.
const WORDS: usize = (PAGE_SIZE / 8) as usize;
/// Bytes before a charged object: the chain link and the object's size.
const OBJECT_HEADER: usize = 16;

/// A task's chained pages through the direct map, for
/// `mm::page_chain::relink`. Used only under the task's page lock, with
/// frames that are the task's own or fresh migration targets.
struct ChainPages;

impl page_chain::FrameWords for ChainPages {
    fn link(&self, pfn: u64) -> u64 {
        // SAFETY: a page of the chain, held still by the task's lock; its
        // first word is the link.
        unsafe { (page_address(Page::from_pfn(pfn)) as *const u64).read() }
    }

    fn set_link(&mut self, pfn: u64, next: u64) {
        // SAFETY: as in `link`; the walk writes only link words.
        unsafe { (page_address(Page::from_pfn(pfn)) as *mut u64).write(next) }
    }

    fn copy_page(&mut self, from: u64, to: u64) {
        // SAFETY: `from` is the task's page (its lock keeps everyone else
        // off it) and `to` a fresh page given for it.
        unsafe { crate::mm::migrate::copy_page(Page::from_pfn(from), Page::from_pfn(to)) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskAllocError {
    /// The OOM killer chose this task: it must stop.
    Killed,
    /// The allocation failed (the caller's flags allowed failing).
    NoMemory,
}

pub struct Task {
    pub pid: u32,
    pub name: &'static str,
    adj: AtomicI32,
    /// Pages charged (Linux's rss counters).
    rss: AtomicU64,
    /// Bytes of slab objects charged.
    slab_bytes: AtomicU64,
    /// Threads still running for the task.
    pub threads: AtomicU32,
    killed: AtomicBool,
    released: AtomicBool,
    /// Head of the page chain: frame number + 1, 0 for none.
    pages: Mutex<u64>,
    /// Head of the object chain (header address), 0 for none.
    objects: Mutex<usize>,
    /// Pages given back (`release_memory`, `free_pages_where`), for the
    /// balance checks.
    pub pages_released: AtomicU64,
    /// The task's memory policy (set_mempolicy); its threads allocate
    /// under it, and a task created by one of them starts with a copy.
    pub mempolicy: crate::mm::mempolicy::TaskPolicy,
}

static TASKS: Mutex<[Option<Arc<Task>>; MAX_TASKS]> = Mutex::new([const { None }; MAX_TASKS]);
static NEXT_PID: AtomicU32 = AtomicU32::new(100);
/// Woken whenever a task gives its memory back.
pub static MEMORY_RELEASED: WaitQueue = WaitQueue::new();

#[derive(Debug, PartialEq, Eq)]
pub enum TaskError {
    TooManyTasks,
    BadAdj(mm::oom::AdjOutOfRange),
}

impl Task {
    /// A new task in the task table, with oom_score_adj `adj`.
    pub fn create(name: &'static str, adj: i64) -> Result<Arc<Task>, TaskError> {
        let adj = mm::oom::check_adj(adj).map_err(TaskError::BadAdj)?;
        let t = Arc::new(Task {
            pid: NEXT_PID.fetch_add(1, Relaxed),
            name,
            adj: AtomicI32::new(adj),
            rss: AtomicU64::new(0),
            slab_bytes: AtomicU64::new(0),
            threads: AtomicU32::new(0),
            killed: AtomicBool::new(false),
            released: AtomicBool::new(false),
            pages: Mutex::new(0),
            objects: Mutex::new(0),
            pages_released: AtomicU64::new(0),
            mempolicy: crate::mm::mempolicy::TaskPolicy::new(),
        });
        if let Some(parent) = crate::sched::current_task() {
            let p = parent.mempolicy.get();
            if !p.is_default() {
                t.mempolicy.set(p);
            }
        }
        let mut table = TASKS.lock();
        let slot = table
            .iter_mut()
            .find(|s| s.is_none())
            .ok_or(TaskError::TooManyTasks)?;
        *slot = Some(t.clone());
        Ok(t)
    }

    pub fn oom_score_adj(&self) -> i32 {
        self.adj.load(Relaxed)
    }

    /// A write to /proc/<pid>/oom_score_adj: values outside [-1000, 1000]
    /// are refused and change nothing.
    pub fn set_oom_score_adj(&self, v: i64) -> Result<(), mm::oom::AdjOutOfRange> {
        self.adj.store(mm::oom::check_adj(v)?, Relaxed);
        Ok(())
    }

    pub fn rss_pages(&self) -> u64 {
        self.rss.load(Relaxed)
    }

    pub fn slab_bytes(&self) -> u64 {
        self.slab_bytes.load(Relaxed)
    }

    /// What the OOM killer counts: pages, and slab objects in pages.
    pub fn charged_pages(&self) -> u64 {
        self.rss_pages() + self.slab_bytes().div_ceil(PAGE_SIZE)
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Acquire)
    }

    pub fn is_released(&self) -> bool {
        self.released.load(Acquire)
    }

    /// Marks the task killed (SIGKILL): its threads fail their next
    /// allocation and stop. A task without threads is reaped at once.
    pub fn kill(&self) {
        self.killed.store(true, Release);
        if self.threads.load(Acquire) == 0 {
            self.release_memory();
        }
    }

    /// One page, on `node` (NUMA_NO_NODE: where the calling task's memory
    /// policy puts it, as Linux places anonymous memory), charged to the
    /// task: movable, like Linux's anonymous memory. `fill` writes its
    /// contents (all but the first 8 bytes, the task's chain link) before
    /// the page joins the task; from then on only the task reaches it,
    /// so migration can move it.
    pub fn alloc_page(
        &self,
        gfp: Gfp,
        node: i32,
        fill: impl FnOnce(&mut [u64]),
    ) -> Result<(), TaskAllocError> {
        let mut fill = Some(fill);
        self.alloc_page_filled(gfp, node, &mut |w| {
            if let Some(f) = fill.take() {
                f(w)
            }
        })
    }

    /// `alloc_page` past its closure: one copy of the allocation and the
    /// charging for every caller.
    #[inline(never)]
    fn alloc_page_filled(
        &self,
        gfp: Gfp,
        node: i32,
        fill: &mut dyn FnMut(&mut [u64]),
    ) -> Result<(), TaskAllocError> {
        if self.is_killed() {
            return Err(TaskAllocError::Killed);
        }
        let gfp = gfp | Gfp::MOVABLE;
        let page = if node == NUMA_NO_NODE {
            alloc_pages(gfp, 0)
        } else {
            alloc_pages_node(node, gfp, 0)
        };
        let Some(page) = page else {
            return Err(if self.is_killed() {
                TaskAllocError::Killed
            } else {
                TaskAllocError::NoMemory
            });
        };
        let link = page_address(page) as *mut u64;
        // SAFETY: a fresh page, this caller's alone until charged below.
        fill(unsafe { core::slice::from_raw_parts_mut(link.add(1), WORDS - 1) });
        without_interrupts(|| {
            let mut head = self.pages.lock();
            // SAFETY: the page was just allocated to this task; its first
            // word is the chain link from now until release_memory.
            unsafe { link.write(*head) };
            *head = page.pfn() + 1;
            self.rss.fetch_add(1, Relaxed);
        });
        Ok(())
    }

    /// Calls `f` with the contents (after the chain word) and the frame of
    /// each of the task's pages, newest first, under the task's lock with
    /// interrupts off: `f` must not allocate.
    pub fn for_each_page(&self, mut f: impl FnMut(u64, &[u64])) {
        without_interrupts(|| {
            let head = self.pages.lock();
            let mut at = *head;
            while at != 0 {
                let p = Page::from_pfn(at - 1);
                let words = page_address(p) as *const u64;
                // SAFETY: a page of this task's chain; the lock keeps it
                // from being moved or freed while `f` reads it.
                unsafe { f(at - 1, core::slice::from_raw_parts(words.add(1), WORDS - 1)) };
                // SAFETY: its first word is the chain link.
                at = unsafe { words.read() };
            }
        });
    }

    /// The task's pages per node (numa_maps' N<node>= counts).
    pub fn pages_per_node(&self) -> [u64; numa::MAX_NUMNODES] {
        let mut n = [0; numa::MAX_NUMNODES];
        self.for_each_page(|pfn, _| {
            if let Some(node) = Page::from_pfn(pfn).nid() {
                n[node] += 1;
            }
        });
        n
    }

    /// Frees the task's pages for which `drop(frame, contents)` says so (a
    /// program unmapping part of its memory); returns how many.
    pub fn free_pages_where(&self, mut drop: impl FnMut(u64, &[u64]) -> bool) -> u64 {
        let mut n = 0u64;
        without_interrupts(|| {
            let mut head = self.pages.lock();
            let mut link: *mut u64 = &mut *head;
            loop {
                // SAFETY: the head or a chain page's link word, under the lock.
                let next = unsafe { link.read() };
                if next == 0 {
                    break;
                }
                let page = Page::from_pfn(next - 1);
                let words = page_address(page) as *mut u64;
                // SAFETY: a page of this chain, held by the lock.
                let contents = unsafe { core::slice::from_raw_parts(words.add(1), WORDS - 1) };
                if drop(next - 1, contents) {
                    // SAFETY: unlink it: its predecessor takes its link.
                    unsafe { link.write(words.read()) };
                    // Freeing takes only the zone lock, below this one.
                    __free_pages(page, 0);
                    n += 1;
                } else {
                    link = words;
                }
            }
            self.rss.fetch_sub(n, Relaxed);
        });
        self.pages_released.fetch_add(n, Relaxed);
        n
    }

    /// Linux's migrate_pages(2) for this task: every page on a node of
    /// `from` moves to the node `remap_node` gives in `to`. Target pages
    /// are taken outside the task's lock, a batch a destination at a time;
    /// under the lock each page is copied and its chain link re-pointed,
    /// then the old pages are freed. A page with no target (its node full)
    /// stays and counts as a failure. Returns (moved, failed).
    pub fn migrate_pages(
        &self,
        from: mm::mempolicy::NodeMask,
        to: mm::mempolicy::NodeMask,
    ) -> (u64, u64) {
        use crate::mm::migrate::{migration_target, MIGRATE_STAT};
        use mm::mempolicy::remap_node;
        const BATCH: usize = 32;
        let (mut moved, mut failed) = (0u64, 0u64);
        let mut cursor = 0u64;
        loop {
            // Targets for this round: BATCH per destination node in `to`.
            let mut targets: alloc::vec::Vec<(usize, Page)> = alloc::vec::Vec::new();
            // Room reserved up front: a failure (memory is short) ends the
            // migration instead of stopping the kernel.
            if targets
                .try_reserve_exact(BATCH * to.count_ones() as usize)
                .is_err()
            {
                break;
            }
            for node in (0..mm::mempolicy::MAX_NODES).filter(|&n| to & (1 << n) != 0) {
                for _ in 0..BATCH {
                    match migration_target(node) {
                        Some(p) => targets.push((node, p)),
                        None => break,
                    }
                }
            }
            let mut had = [false; numa::MAX_NUMNODES];
            for &(n, _) in &targets {
                had[n] = true;
            }
            // Never busy: the lock is waited for.
            let walk = self.relink(&mut cursor, false, |page| {
                let Some(d) = page.nid().and_then(|n| remap_node(n, from, to)) else {
                    return Pick::Skip;
                };
                if Some(d) == page.nid() {
                    return Pick::Skip;
                }
                match targets.iter().position(|&(n, _)| n == d) {
                    Some(i) => Pick::Move(targets.swap_remove(i).1.pfn()),
                    // This round's targets for `d` are used up: next round.
                    None if had[d] => Pick::Stop,
                    // `d` had no room at all: the page stays.
                    None => {
                        failed += 1;
                        Pick::Skip
                    }
                }
            });
            let walk = walk.unwrap_or_default();
            moved += walk.moved;
            for (_, p) in targets {
                __free_pages(p, 0);
            }
            if !walk.stopped {
                break;
            }
        }
        MIGRATE_STAT.pgmigrate_success.fetch_add(moved, Relaxed);
        MIGRATE_STAT.pgmigrate_fail.fetch_add(failed, Relaxed);
        (moved, failed)
    }

    /// Compaction's migration for this task: each of its pages whose frame
    /// is in `sources` (sorted) moves to a page `target` gives, while it
    /// gives one. With `try_lock` (asynchronous compaction) a task whose
    /// lock is held elsewhere is passed over (None). Returns the pages
    /// moved (counted in pgmigrate_success by the caller).
    pub fn migrate_frames(
        &self,
        sources: &[u64],
        target: &mut dyn FnMut() -> Option<Page>,
        try_lock: bool,
    ) -> Option<u64> {
        let mut cursor = 0;
        let walk = self.relink(&mut cursor, try_lock, |page| {
            if sources.binary_search(&page.pfn()).is_err() {
                return Pick::Skip;
            }
            target().map_or(Pick::Stop, |t| Pick::Move(t.pfn()))
        });
        walk.map(|w| w.moved)
    }

    /// Walks the page chain from `cursor` (0: the head; else the frame + 1
    /// whose link comes next) under the task's lock, asking `pick` what to
    /// do with each page: move it into the target it gives (copied, its
    /// link re-pointed, the old page freed), skip it, or stop (the cursor
    /// then says where to go on): `mm::page_chain::relink` over the direct
    /// map. None when `try_lock` found the lock held elsewhere
    /// (asynchronous compaction). Nothing here allocates: this runs when
    /// memory is short.
    fn relink(
        &self,
        cursor: &mut u64,
        try_lock: bool,
        mut pick: impl FnMut(Page) -> Pick,
    ) -> Option<Relinked> {
        without_interrupts(|| {
            let mut head = if try_lock {
                self.pages.try_lock()?
            } else {
                self.pages.lock()
            };
            Some(page_chain::relink(
                &mut head,
                cursor,
                &mut ChainPages,
                |pfn| pick(Page::from_pfn(pfn)),
                // Freeing takes only the zone lock, below this one.
                |pfn| __free_pages(Page::from_pfn(pfn), 0),
            ))
        })
    }

    /// `size` bytes from kmalloc, charged to the task until it exits.
    pub fn kmalloc(&self, size: usize, gfp: Gfp) -> Result<*mut u8, TaskAllocError> {
        if self.is_killed() {
            return Err(TaskAllocError::Killed);
        }
        let p = kmalloc(size + OBJECT_HEADER, gfp);
        if p.is_null() {
            // The allocation may have picked this very task as the OOM
            // victim: then it was killed, not refused.
            return Err(if self.is_killed() {
                TaskAllocError::Killed
            } else {
                TaskAllocError::NoMemory
            });
        }
        let bytes = ksize(p) as u64;
        without_interrupts(|| {
            let mut head = self.objects.lock();
            // SAFETY: a fresh object of at least OBJECT_HEADER bytes,
            // kmalloc-aligned (8 or more).
            unsafe {
                (p as *mut usize).write(*head);
                (p as *mut usize).add(1).write(bytes as usize);
            }
            *head = p as usize;
            self.slab_bytes.fetch_add(bytes, Relaxed);
        });
        // SAFETY: inside the object, after its header.
        Ok(unsafe { p.add(OBJECT_HEADER) })
    }

    /// Gives back everything charged to the task (its exit, or the OOM
    /// reaper for a task without threads). Returns the pages freed.
    pub fn release_memory(&self) -> u64 {
        let (mut page, mut obj) = without_interrupts(|| {
            (
                core::mem::take(&mut *self.pages.lock()),
                core::mem::take(&mut *self.objects.lock()),
            )
        });
        let mut freed = 0u64;
        while page != 0 {
            let p = Page::from_pfn(page - 1);
            // SAFETY: a page of this task's chain, its link word intact.
            page = unsafe { (page_address(p) as *const u64).read() };
            __free_pages(p, 0);
            freed += 1;
        }
        while obj != 0 {
            // SAFETY: an object of this task's chain, its header intact.
            let (next, bytes) = unsafe {
                let h = obj as *const usize;
                (h.read(), h.add(1).read())
            };
            self.slab_bytes.fetch_sub(bytes as u64, Relaxed);
            kfree(obj as *mut u8);
            obj = next;
        }
        self.rss.fetch_sub(freed, Relaxed);
        self.pages_released.fetch_add(freed, Relaxed);
        if self.is_killed() {
            crate::kprintln!(
                "oom_reaper: process {} ({}) gave back {} kB; now anon-rss:{}kB",
                self.pid,
                self.name,
                freed * (PAGE_SIZE / 1024),
                self.rss_pages() * (PAGE_SIZE / 1024)
            );
        }
        self.released.store(true, Release);
        MEMORY_RELEASED.wake_all();
        freed
    }

    /// Removes the task from the table (after its threads stopped).
    pub fn unregister(&self) {
        for s in TASKS.lock().iter_mut() {
            if s.as_ref().is_some_and(|t| core::ptr::eq(&**t, self)) {
                *s = None;
            }
        }
    }
}

/// Every task in the table, in pid order (the order Linux walks them).
pub fn for_each_task(f: impl FnMut(&Arc<Task>)) {
    tasks_by_pid().iter().flatten().for_each(f);
}

/// The table's tasks sorted by pid: out of line, so that the sort is
/// compiled once and not into every caller of `for_each_task`.
#[inline(never)]
fn tasks_by_pid() -> [Option<Arc<Task>>; MAX_TASKS] {
    let mut list: [Option<Arc<Task>>; MAX_TASKS] = [const { None }; MAX_TASKS];
    {
        let table = TASKS.lock();
        for (i, t) in table.iter().enumerate() {
            list[i] = t.clone();
        }
    }
    list.sort_unstable_by_key(|t| t.as_ref().map_or(u32::MAX, |t| t.pid));
    list
}

/// Every page the OOM killer may consider: all managed RAM (no swap).
pub fn totalpages() -> u64 {
    crate::mm::page_alloc::allocator()
        .zones()
        .map(|z| z.managed())
        .sum()
}

pub fn badness(t: &Task) -> Option<i64> {
    mm::oom::badness(t.charged_pages(), t.oom_score_adj(), totalpages())
}

/// /proc/<pid>/oom_score and /proc/<pid>/oom_score_adj for every task.
pub fn report(w: &mut dyn fmt::Write) -> fmt::Result {
    let total = totalpages();
    let mut r = Ok(());
    for_each_task(|t| {
        if r.is_ok() {
            r = (|| {
                writeln!(w, "==> /proc/{}/oom_score <==", t.pid)?;
                writeln!(w, "{}", mm::oom::oom_score(badness(t), total))?;
                writeln!(w, "==> /proc/{}/oom_score_adj <==", t.pid)?;
                writeln!(w, "{}", t.oom_score_adj())?;
                write!(w, "numactl --show ({} pid {}): ", t.name, t.pid)?;
                let local = crate::numa::numa_node_id();
                crate::mm::mempolicy::write_show(w, &t.mempolicy.get(), local)?;
                writeln!(w)
            })();
        }
    });
    r?;
    write!(w, "numactl --show (system default, mpol=): ")?;
    let local = crate::numa::numa_node_id();
    crate::mm::mempolicy::write_show(w, &crate::mm::mempolicy::system_policy().get(), local)?;
    writeln!(w)?;
    writeln!(w, "tasks: {} live", live_tasks())
}

pub fn live_tasks() -> usize {
    TASKS.lock().iter().flatten().count()
}

/// The current thread's task has been killed (Linux's fatal_signal_pending).
pub fn current_killed() -> bool {
    crate::sched::current_task().is_some_and(|t| t.is_killed())
}

/// Starts a thread for `task` that runs `f` (the task's memory is
/// released when its last thread ends). Only the self-tests start task
/// threads today (the OOM and reclaim suites).
pub fn spawn_for(
    task: &Arc<Task>,
    name: &'static str,
    binding: crate::sched::Binding,
    f: impl FnOnce() + Send + 'static,
) -> Result<Arc<crate::sched::Thread>, crate::sched::SpawnError> {
    crate::sched::spawn(name, binding, Some(task.clone()), f)
}
