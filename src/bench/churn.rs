//! The churn workload (issue "Fragmentation under churn"; `bench=churn`,
//! not in `bench=all`, since it fills a node): rounds in which a task
//! fills three quarters of the node's free memory with movable pages
//! while long-lived unmovable kmalloc objects (256 B to 2 KiB, one every
//! 64 pages) pile up beside them. Each round then frees the task's older
//! pages and three in four of its new ones (short-lived movable memory),
//! and the older half of the unmovable objects every other round (long-
//! lived, holes in their slabs). After each round, with compaction off,
//! order-9 blocks are taken until one fails: the success share (blocks
//! got over the free pages' worth of blocks) over the rounds says how
//! well grouping by migratetype keeps the unmovable objects out of the
//! way. Two last lines measure after compact_memory (the task's pages
//! still held) and once the task's pages are freed (what the unmovable
//! objects alone cost). One `BENCH` line a round.

use super::fragmentation::{give_back, milli, take_huge, unusable, NoCompaction};
use crate::kprintln;
use crate::mm::compaction;
use crate::mm::page_alloc::{allocator, zone_free_with_lists};
use crate::mm::slab::{kfree, kmalloc_node};
use crate::numa::{numa_node_id, topology};
use crate::sched::task::Task;
use alloc::collections::VecDeque;
use mm::buddy::PAGEBLOCK_ORDER;
use mm::gfp::Gfp;

/// Rounds of `bench=churn`.
pub const ROUNDS: u64 = 8;
/// One long-lived unmovable object per this many movable pages.
const PAGES_PER_OBJECT: u64 = 64;
const OBJECT_SIZES: [usize; 4] = [256, 512, 1024, 2048];

/// Free pages of `node`, those on the CPUs' lists counted.
fn node_free(node: usize) -> u64 {
    allocator()
        .node(node)
        .map_or(0, |n| n.zones.iter().map(zone_free_with_lists).sum())
}

/// One measurement: order-9 blocks got over the free pages' worth.
struct Sample {
    possible: u64,
    got: u64,
    ns: u64,
    unusable: i64,
}

fn measure(node: usize) -> Sample {
    let possible = node_free(node) >> PAGEBLOCK_ORDER;
    let unusable = unusable(node);
    let (blocks, ns) = take_huge(node);
    let got = blocks.len() as u64;
    give_back(blocks);
    Sample {
        possible,
        got,
        ns,
        unusable,
    }
}

pub fn run() {
    let node = topology().mem_node(numa_node_id());
    let Ok(task) = Task::create("churn", 0) else {
        kprintln!("# bench: churn: no task");
        return;
    };
    let mut objects: VecDeque<*mut u8> = VecDeque::new();
    let fill = Gfp::KERNEL | Gfp::THISNODE | Gfp::NORETRY | Gfp::NOWARN;
    let unmovable = Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN;
    let mut index = 0u64;
    let line = |round: u64, s: &Sample, pages: u64, objects: usize, mode: &str| {
        kprintln!(
            "BENCH {{\"bench\":\"churn\",\"order\":9,\"cpus\":1,\"node\":{node},\"ops\":{},\"ns_per_op\":{},\"allocator\":\"ours\",\"round\":{round},\"mode\":\"{mode}\",\"movable_pages\":{pages},\"unmovable_objects\":{objects},\"possible\":{},\"allocated\":{},\"success_share\":{},\"unusable\":{}}}",
            s.got + 1,
            s.ns,
            s.possible,
            s.got,
            milli((s.got * 1000 / s.possible.max(1)) as i64),
            milli(s.unusable.max(0)),
        )
    };
    {
        // Compaction stays off through the rounds: the shares measure
        // the grouping alone.
        let _off = NoCompaction::new();
        for round in 0..ROUNDS {
            let first_of_round = index;
            let target = node_free(node) * 3 / 4;
            let mut added = 0;
            while added < target {
                let i = index;
                if task.alloc_page(fill, node as i32, |w| w[0] = i).is_err() {
                    break;
                }
                index += 1;
                added += 1;
                if added % PAGES_PER_OBJECT == 0 && objects.try_reserve(1).is_ok() {
                    let size =
                        OBJECT_SIZES[(index / PAGES_PER_OBJECT) as usize % OBJECT_SIZES.len()];
                    let p = kmalloc_node(size, unmovable, node);
                    if !p.is_null() {
                        objects.push_back(p);
                    }
                }
            }
            // Short-lived movable memory: the older pages go, and three
            // in four of this round's.
            task.free_pages_where(|_, w| w[0] < first_of_round || w[0] % 4 != 0);
            if round % 2 == 1 {
                for _ in 0..objects.len() / 2 {
                    if let Some(p) = objects.pop_front() {
                        kfree(p);
                    }
                }
            }
            let s = measure(node);
            line(round, &s, task.rss_pages(), objects.len(), "off");
        }
    }
    // compact_memory with the last round's pages still held, then with
    // the movable pages gone: what the unmovable objects alone cost.
    let c = compaction::compact_memory();
    let s = measure(node);
    line(
        ROUNDS,
        &s,
        task.rss_pages(),
        objects.len(),
        "compact_memory",
    );
    task.release_memory();
    let s = measure(node);
    line(ROUNDS + 1, &s, 0, objects.len(), "movable_freed");
    kprintln!(
        "# bench: churn: {ROUNDS} rounds on node {node}, {index} movable pages in all; compact_memory migrated {} pages",
        c.migrated
    );
    for p in objects {
        kfree(p);
    }
    drop(task);
    crate::sched::reap_all_dead(1_000_000_000);
}
