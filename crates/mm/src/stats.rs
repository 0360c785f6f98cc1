//! NUMA allocation statistics with Linux's definitions (numastat(8),
//! mm/vmstat.c zone_statistics). Every successful allocation is one event:
//!
//! - numa_hit: counted on the node the memory came from, when it is the
//!   node the allocation preferred (the first node of its zonelist);
//! - numa_miss: counted on the node the memory came from, when another
//!   node was preferred; numa_foreign: counted on that preferred node;
//! - interleave_hit: an interleaved allocation got the node it asked for;
//! - local_node / other_node: counted on the node the memory came from,
//!   by whether the allocating CPU's node is that node.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumaStat {
    Hit = 0,
    Miss = 1,
    Foreign = 2,
    InterleaveHit = 3,
    LocalNode = 4,
    OtherNode = 5,
}

pub const NR_NUMA_STATS: usize = 6;

impl NumaStat {
    pub const ALL: [NumaStat; NR_NUMA_STATS] = [
        NumaStat::Hit,
        NumaStat::Miss,
        NumaStat::Foreign,
        NumaStat::InterleaveHit,
        NumaStat::LocalNode,
        NumaStat::OtherNode,
    ];

    /// The row name numastat prints.
    pub const fn numastat_name(self) -> &'static str {
        match self {
            NumaStat::Hit => "numa_hit",
            NumaStat::Miss => "numa_miss",
            NumaStat::Foreign => "numa_foreign",
            NumaStat::InterleaveHit => "interleave_hit",
            NumaStat::LocalNode => "local_node",
            NumaStat::OtherNode => "other_node",
        }
    }

    /// The name /proc/zoneinfo and /proc/vmstat use.
    pub const fn vmstat_name(self) -> &'static str {
        match self {
            NumaStat::Hit => "numa_hit",
            NumaStat::Miss => "numa_miss",
            NumaStat::Foreign => "numa_foreign",
            NumaStat::InterleaveHit => "numa_interleave",
            NumaStat::LocalNode => "numa_local",
            NumaStat::OtherNode => "numa_other",
        }
    }
}

/// One zone's counters; lock-free so readers never stall allocations.
#[derive(Debug, Default)]
pub struct NumaCounters([AtomicU64; NR_NUMA_STATS]);

impl NumaCounters {
    pub const fn new() -> Self {
        NumaCounters([const { AtomicU64::new(0) }; NR_NUMA_STATS])
    }

    pub fn add(&self, stat: NumaStat, n: u64) {
        self.0[stat as usize].fetch_add(n, Relaxed);
    }

    pub fn get(&self, stat: NumaStat) -> u64 {
        self.0[stat as usize].load(Relaxed)
    }

    pub fn snapshot(&self) -> [u64; NR_NUMA_STATS] {
        core::array::from_fn(|i| self.0[i].load(Relaxed))
    }
}

/// The events one allocation produces: (node the memory came from, stat)
/// pairs, at most three.
pub fn allocation_events(
    got_node: usize,
    preferred_node: usize,
    cpu_node: usize,
) -> impl Iterator<Item = (usize, NumaStat)> {
    let (first, foreign) = if got_node == preferred_node {
        ((got_node, NumaStat::Hit), None)
    } else {
        (
            (got_node, NumaStat::Miss),
            Some((preferred_node, NumaStat::Foreign)),
        )
    };
    let locality = if got_node == cpu_node {
        NumaStat::LocalNode
    } else {
        NumaStat::OtherNode
    };
    [Some(first), foreign, Some((got_node, locality))]
        .into_iter()
        .flatten()
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn events_follow_linux_definitions() {
        let hit_local: Vec<_> = allocation_events(0, 0, 0).collect();
        assert_eq!(hit_local, [(0, NumaStat::Hit), (0, NumaStat::LocalNode)]);
        // Preferred node 0 was full; the memory came from node 1.
        let miss: Vec<_> = allocation_events(1, 0, 0).collect();
        assert_eq!(
            miss,
            [
                (1, NumaStat::Miss),
                (0, NumaStat::Foreign),
                (1, NumaStat::OtherNode)
            ]
        );
        // A CPU on node 2 asked for node 1 explicitly and got it.
        let remote_hit: Vec<_> = allocation_events(1, 1, 2).collect();
        assert_eq!(remote_hit, [(1, NumaStat::Hit), (1, NumaStat::OtherNode)]);
    }

    #[test]
    fn counters_accumulate() {
        let c = NumaCounters::new();
        c.add(NumaStat::Miss, 3);
        c.add(NumaStat::Miss, 2);
        assert_eq!(c.get(NumaStat::Miss), 5);
        assert_eq!(c.snapshot(), [0, 5, 0, 0, 0, 0]);
    }
}
