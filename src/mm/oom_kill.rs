//! The OOM killer: when reclaim makes no progress, the task with the
//! highest badness (never one at oom_score_adj -1000) is killed, its
//! memory comes back once its threads stop, and the allocation is retried
//! (Linux's mm/oom_kill.c, with its report).
//!
//! One kill at a time: while a victim has not yet given its memory back,
//! other allocations wait for it instead of choosing another (Linux's
//! oom_lock and its skip of tasks already dying). A task whose thread is
//! the one allocating when it is chosen fails that allocation and stops.

use super::page_alloc::{allocator, zone_free_with_lists};
use super::vmscan::VMSTAT;
use crate::sched;
use crate::sched::task::{self, Task};
use alloc::sync::Arc;
use core::sync::atomic::Ordering::Relaxed;
use layout::PAGE_SIZE;
use mm::gfp::Gfp;
use spin::Mutex;

/// How long an allocation waits for a victim's memory before it tries
/// again anyway (Linux's oom reaper gives up after about a second).
const VICTIM_WAIT_NS: u64 = 5_000_000_000;

/// The victim whose memory is still coming back, if any.
static PENDING_VICTIM: Mutex<Option<Arc<Task>>> = Mutex::new(None);
static OOM_LOCK: Mutex<()> = Mutex::new(());

/// Called by the allocator as its last resort. True: retry the allocation.
/// `allowed`: the nodes a bind policy confines the failing allocation to
/// (Linux's CONSTRAINT_MEMORY_POLICY): only tasks that may hold memory
/// there are candidates, and the scores are against those nodes' pages.
pub fn out_of_memory(gfp: Gfp, order: usize, allowed: Option<mm::mempolicy::NodeMask>) -> bool {
    // A list that covers every node with memory constrains nothing.
    let memory = super::mempolicy::memory_nodes();
    let allowed = allowed.filter(|&m| memory & !m != 0);
    if task::current_killed() {
        // The victim itself: its allocation fails and it stops.
        return false;
    }
    if !sched::can_sleep() {
        return false;
    }
    if wait_for_pending_victim() {
        return true;
    }
    let Some(_guard) = OOM_LOCK.try_lock() else {
        // Another thread is choosing; give it a tick and retry.
        sched::sleep_ns(1_000_000);
        return true;
    };
    if PENDING_VICTIM.lock().is_some() {
        return true;
    }
    let total = match allowed {
        Some(m) => allocator()
            .nodes()
            .filter(|n| m & 1 << n.id != 0)
            .map(|n| n.managed())
            .sum::<u64>()
            .max(1),
        None => task::totalpages(),
    };
    // Under a bind constraint only tasks whose own policy may use those
    // nodes (any policy but a bind elsewhere) can give memory back there.
    let in_domain = |t: &Task| {
        allowed.is_none_or(|m| {
            let p = t.mempolicy.get();
            p.mode != mm::mempolicy::Mode::Bind || p.nodes & m != 0
        })
    };
    let mut chosen: Option<Arc<Task>> = None;
    {
        let mut candidates: [Option<(Arc<Task>, Option<i64>)>; task::MAX_TASKS] =
            [const { None }; task::MAX_TASKS];
        let mut n = 0;
        task::for_each_task(|t| {
            if !t.is_killed() && in_domain(t) && n < candidates.len() {
                candidates[n] = Some((t.clone(), task::badness(t)));
                n += 1;
            }
        });
        let pick = mm::oom::choose_victim(candidates[..n].iter().map(|c| c.as_ref().unwrap().1));
        if let Some(i) = pick {
            chosen = candidates[i].take().map(|c| c.0);
        }
    }
    report_header(gfp, order);
    dump_tasks(total, in_domain);
    let Some(victim) = chosen else {
        crate::kprintln!(
            "Out of memory and no killable processes... ({} tasks, every one at oom_score_adj -1000 or none)",
            task::live_tasks()
        );
        return false;
    };
    let who = sched::current_task();
    let allocating = who.map_or(sched::current().map_or("?", |t| t.name), |t| t.name);
    match allowed {
        None => crate::kprintln!(
            "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),global_oom,task={},pid={},uid=0,allocating={allocating}",
            victim.name,
            victim.pid,
        ),
        Some(m) => {
            let mut nodes = NodeList(m);
            crate::kprintln!(
                "oom-kill:constraint=CONSTRAINT_MEMORY_POLICY,nodemask={},task={},pid={},uid=0,allocating={allocating}",
                &mut nodes,
                victim.name,
                victim.pid,
            );
        }
    }
    crate::kprintln!(
        "Out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:{}",
        victim.pid,
        victim.name,
        victim.charged_pages() * (PAGE_SIZE / 1024),
        victim.rss_pages() * (PAGE_SIZE / 1024),
        victim.oom_score_adj()
    );
    VMSTAT.oom_kill.fetch_add(1, Relaxed);
    *PENDING_VICTIM.lock() = Some(victim.clone());
    victim.kill();
    drop(_guard);
    if who.is_some_and(|t| core::ptr::eq(t, &*victim)) {
        // The allocating task chose itself: it fails and stops, and its
        // exit gives the memory back.
        return false;
    }
    wait_for_pending_victim();
    true
}

/// Waits for the pending victim's memory; true if there was one.
fn wait_for_pending_victim() -> bool {
    let Some(v) = PENDING_VICTIM.lock().clone() else {
        return false;
    };
    let done = task::MEMORY_RELEASED.wait_event(|| v.is_released(), Some(VICTIM_WAIT_NS));
    if !done {
        // Stuck (it never reaches an allocation): stop waiting for it. It
        // stays killed, so the next choice is someone else (Linux's
        // MMF_OOM_SKIP once the reaper gives up).
        log::warn!(
            "oom: victim {} ({}) has not given its memory back in {} s; the next kill may choose another",
            v.pid,
            v.name,
            VICTIM_WAIT_NS / 1_000_000_000
        );
    }
    let mut p = PENDING_VICTIM.lock();
    if p.as_ref().is_some_and(|x| Arc::ptr_eq(x, &v)) {
        *p = None;
    }
    true
}

fn report_header(gfp: Gfp, order: usize) {
    let (name, adj) = match sched::current_task() {
        Some(t) => (t.name, t.oom_score_adj()),
        None => (sched::current().map_or("?", |t| t.name), 0),
    };
    crate::kprintln!(
        "{name} invoked oom-killer: gfp_mask={gfp:?}, order={order}, oom_score_adj={adj}"
    );
    crate::kprintln!("Mem-Info:");
    for node in allocator().nodes() {
        let free: u64 = node.zones.iter().map(zone_free_with_lists).sum();
        let (a, i) = super::pagecache::lru_pages(node.id);
        crate::kprintln!(
            "Node {} free:{}kB active_file:{}kB inactive_file:{}kB",
            node.id,
            free * (PAGE_SIZE / 1024),
            a * (PAGE_SIZE / 1024),
            i * (PAGE_SIZE / 1024)
        );
    }
}

/// Linux's dump_tasks table: under a bind constraint only the tasks that
/// may hold memory on its nodes (`eligible`), as Linux's dump_task skips
/// the others.
fn dump_tasks(total: u64, eligible: impl Fn(&Task) -> bool) {
    crate::kprintln!("Tasks state (memory values in pages):");
    crate::kprintln!(
        "[  pid  ]   uid  tgid total_vm      rss  slab_kB oom_score_adj oom_score name"
    );
    task::for_each_task(|t| {
        if !eligible(t) {
            return;
        }
        crate::kprintln!(
            "[{:>7}] {:>5} {:>5} {:>8} {:>8} {:>8} {:>13} {:>9} {}",
            t.pid,
            0,
            t.pid,
            t.charged_pages(),
            t.rss_pages(),
            t.slab_bytes() / 1024,
            t.oom_score_adj(),
            mm::oom::oom_score(task::badness(t), total),
            t.name
        );
    });
}

/// A node mask printed as Linux's `%*pbl` (`0-1,3`).
struct NodeList(mm::mempolicy::NodeMask);

impl core::fmt::Display for NodeList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        mm::mempolicy::write_nodelist(f, self.0)
    }
}
