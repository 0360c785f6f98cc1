//! Sizing ZONE_MOVABLE from `kernelcore=` and `movablecore=`, with Linux's
//! rules (mm/mm_init.c, find_zone_movable_pfns_for_nodes):
//!
//! - `kernelcore=` is the memory kept for allocations that cannot move; it
//!   is spread evenly over the nodes with memory, each node's share taken
//!   from its lowest addresses; the rest of each node becomes ZONE_MOVABLE.
//!   A node too small for its share passes what it lacks to the others.
//! - `movablecore=` is the memory for ZONE_MOVABLE; it sets kernelcore to
//!   the rest of RAM (the larger kernelcore wins when both are given).
//! - Memory below the zone ZONE_MOVABLE is carved from (the highest zone
//!   under it that has memory) always counts as kernelcore.
//! - Each node's ZONE_MOVABLE starts on a MAX_ORDER block boundary.

use crate::buddy::MAX_ORDER;
use numa::{NodeId, MAX_NUMNODES};

/// A size as `kernelcore=` / `movablecore=` take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSize {
    Pages(u64),
    /// Percent of all RAM (0 to 100).
    Percent(u8),
}

impl CoreSize {
    fn pages(self, total: u64) -> u64 {
        match self {
            CoreSize::Pages(p) => p,
            CoreSize::Percent(pc) => total * pc as u64 / 100,
        }
    }
}

/// The first frame of each node's ZONE_MOVABLE (`None`: the node has none).
pub type MovableStarts = [Option<u64>; MAX_NUMNODES];

/// `ram` is every node's RAM as (node, start frame, end frame), ascending
/// within each node. `usable_start` is the first frame of the zone
/// ZONE_MOVABLE is taken from.
pub fn movable_starts(
    ram: &[(NodeId, u64, u64)],
    kernelcore: Option<CoreSize>,
    movablecore: Option<CoreSize>,
    usable_start: u64,
) -> MovableStarts {
    const BLOCK: u64 = 1 << MAX_ORDER;
    let mut starts: MovableStarts = [None; MAX_NUMNODES];
    let total: u64 = ram.iter().map(|&(_, s, e)| e - s).sum();
    let mut required_kernel = kernelcore.map_or(0, |k| k.pages(total));
    if let Some(m) = movablecore {
        let movable = m.pages(total).next_multiple_of(BLOCK).min(total);
        required_kernel = required_kernel.max(total - movable);
    }
    if required_kernel == 0 || required_kernel >= total {
        return starts;
    }
    let mut has_memory = [false; MAX_NUMNODES];
    for &(n, s, e) in ram {
        has_memory[n] |= e > s;
    }
    let mut usable_nodes = has_memory.iter().filter(|&&m| m).count() as u64;
    // Where each node's kernel share ends so far (0: not yet placed).
    let mut kernel_end = [0u64; MAX_NUMNODES];
    loop {
        let mut per_node = required_kernel / usable_nodes;
        for nid in (0..MAX_NUMNODES).filter(|&n| has_memory[n]) {
            if required_kernel < per_node {
                per_node = required_kernel / usable_nodes;
            }
            let mut remaining = per_node;
            for &(_, s, e) in ram.iter().filter(|r| r.0 == nid) {
                let mut s = s.max(kernel_end[nid]);
                if s >= e {
                    continue;
                }
                if s < usable_start {
                    let kernel_pages = e.min(usable_start) - s;
                    remaining -= kernel_pages.min(remaining);
                    required_kernel -= kernel_pages.min(required_kernel);
                    if e <= usable_start {
                        kernel_end[nid] = e;
                        continue;
                    }
                    s = usable_start;
                }
                let size = (e - s).min(remaining);
                kernel_end[nid] = s + size;
                required_kernel -= size.min(required_kernel);
                remaining -= size;
                if remaining == 0 {
                    break;
                }
            }
        }
        usable_nodes -= 1;
        if usable_nodes == 0 || required_kernel <= usable_nodes {
            break;
        }
    }
    for &(nid, _, e) in ram {
        let node_end = e;
        let start = kernel_end[nid].next_multiple_of(BLOCK);
        // The last range of the node decides whether anything is left.
        starts[nid] = (start < node_end).then_some(start);
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 18; // frames

    #[test]
    fn nothing_requested_means_no_movable_zone() {
        let ram = [(0, 256, 2 * GIB)];
        assert!(movable_starts(&ram, None, None, 4096)
            .iter()
            .all(|s| s.is_none()));
        // kernelcore as large as RAM leaves nothing movable either.
        assert!(
            movable_starts(&ram, Some(CoreSize::Pages(4 * GIB)), None, 4096)
                .iter()
                .all(|s| s.is_none())
        );
    }

    #[test]
    fn kernelcore_is_spread_evenly_over_the_nodes() {
        // Two 2 GiB nodes above 4 GiB; kernelcore=1G: 512 MiB on each.
        let ram = [(0, 4 * GIB, 6 * GIB), (1, 6 * GIB, 8 * GIB)];
        let s = movable_starts(&ram, Some(CoreSize::Pages(GIB)), None, 4 * GIB);
        assert_eq!(s[0], Some(4 * GIB + GIB / 2));
        assert_eq!(s[1], Some(6 * GIB + GIB / 2));
    }

    #[test]
    fn a_small_node_passes_its_missing_share_on() {
        // Node 0 has 256 MiB, node 1 has 2 GiB; kernelcore=1G wants 512
        // MiB from each: node 0 gives all it has, node 1 the rest.
        let ram = [(0, 4 * GIB, 4 * GIB + GIB / 4), (1, 5 * GIB, 7 * GIB)];
        let s = movable_starts(&ram, Some(CoreSize::Pages(GIB)), None, 4 * GIB);
        assert_eq!(s[0], None, "node 0 is all kernel memory");
        assert_eq!(s[1], Some(5 * GIB + 3 * GIB / 4));
    }

    #[test]
    fn movablecore_sets_kernelcore_to_the_rest() {
        let ram = [(0, 4 * GIB, 6 * GIB), (1, 6 * GIB, 8 * GIB)];
        let s = movable_starts(&ram, None, Some(CoreSize::Percent(50)), 4 * GIB);
        assert_eq!(s[0], Some(5 * GIB));
        assert_eq!(s[1], Some(7 * GIB));
        // Both given: the larger kernelcore wins.
        let s = movable_starts(
            &ram,
            Some(CoreSize::Pages(3 * GIB)),
            Some(CoreSize::Pages(3 * GIB)),
            4 * GIB,
        );
        assert_eq!(s[0], Some(5 * GIB + GIB / 2));
    }

    #[test]
    fn memory_below_the_movable_source_zone_is_always_kernel() {
        // One node: 2 GiB below 4 GiB, 2 GiB above; ZONE_MOVABLE comes from
        // NORMAL, so kernelcore=1G is already met below 4 GiB.
        let ram = [(0, 256, 2 * GIB), (0, 4 * GIB, 6 * GIB)];
        let s = movable_starts(&ram, Some(CoreSize::Pages(GIB)), None, 4 * GIB);
        assert_eq!(s[0], Some(4 * GIB));
    }

    #[test]
    fn movable_start_is_block_aligned() {
        let ram = [(0, 4096, 4096 + 10_000)];
        let s = movable_starts(&ram, Some(CoreSize::Pages(1000)), None, 4096);
        assert_eq!(s[0], Some(5120));
        assert!(s[0].unwrap().is_multiple_of(1 << MAX_ORDER));
    }
}
