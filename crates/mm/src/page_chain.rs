//! Pages chained through their first word (a task's memory, whose owner
//! reaches each page only through the chain) and their migration: the
//! walk that copies a page into a new frame and re-points its
//! predecessor's link, so that the owner's view stays the same while the
//! frames change (Linux re-points page tables; the chain is this kernel's
//! handle). The memory itself is behind [`FrameWords`], the direct map in
//! the kernel and an arena in the host tests.

/// Access to the pages of a chain by frame number.
pub trait FrameWords {
    /// Word 0 of frame `pfn`: the link to the next page (frame + 1; 0 ends
    /// the chain).
    fn link(&self, pfn: u64) -> u64;
    fn set_link(&mut self, pfn: u64, next: u64);
    /// Copies frame `from`'s whole page, link included, into frame `to`.
    fn copy_page(&mut self, from: u64, to: u64);
}

/// What to do with a page of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// Move it into this (fresh) frame.
    Move(u64),
    Skip,
    /// End the walk here; the cursor says where to go on.
    Stop,
}

/// What a walk did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relinked {
    pub moved: u64,
    /// `pick` said stop.
    pub stopped: bool,
}

/// Walks the chain whose head is `head` from `cursor` (0: the head; else
/// the frame + 1 whose link comes next), asking `pick` about each page's
/// frame. A page moved is copied into its target, its predecessor's link
/// (or the head) re-pointed at the target, and its old frame handed to
/// `free`; the cursor then stands on the target. The caller holds
/// whatever keeps the chain still (the owner's lock). Allocates nothing.
pub fn relink(
    head: &mut u64,
    cursor: &mut u64,
    mem: &mut impl FrameWords,
    mut pick: impl FnMut(u64) -> Pick,
    mut free: impl FnMut(u64),
) -> Relinked {
    let mut walk = Relinked::default();
    loop {
        let next = if *cursor == 0 {
            *head
        } else {
            mem.link(*cursor - 1)
        };
        if next == 0 {
            return walk;
        }
        let pfn = next - 1;
        match pick(pfn) {
            Pick::Skip => *cursor = next,
            Pick::Stop => {
                walk.stopped = true;
                return walk;
            }
            Pick::Move(target) => {
                mem.copy_page(pfn, target);
                if *cursor == 0 {
                    *head = target + 1;
                } else {
                    mem.set_link(*cursor - 1, target + 1);
                }
                free(pfn);
                walk.moved += 1;
                *cursor = target + 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    const WORDS: usize = 4;

    /// Frames of WORDS words each.
    struct Arena(Vec<[u64; WORDS]>);

    impl FrameWords for Arena {
        fn link(&self, pfn: u64) -> u64 {
            self.0[pfn as usize][0]
        }
        fn set_link(&mut self, pfn: u64, next: u64) {
            self.0[pfn as usize][0] = next;
        }
        fn copy_page(&mut self, from: u64, to: u64) {
            self.0[to as usize] = self.0[from as usize];
        }
    }

    /// The chain's frames and their contents (past the link), in order.
    fn view(head: u64, a: &Arena) -> Vec<(u64, [u64; WORDS - 1])> {
        let mut out = Vec::new();
        let mut at = head;
        while at != 0 && out.len() <= a.0.len() {
            let page = a.0[at as usize - 1];
            out.push((at - 1, [page[1], page[2], page[3]]));
            at = page[0];
        }
        out
    }

    proptest! {
        /// Migration in rounds of a few targets each, as compaction and
        /// migrate_pages do it: the owner's view (its pages' contents, in
        /// order) never changes, every source in the chain ends up moved
        /// and freed once, no frame is in the chain twice, and no target
        /// is lost (unused ones are still free).
        #[test]
        fn migration_keeps_the_owners_view_and_loses_or_doubles_no_page(
            len in 1usize..40,
            order in proptest::collection::vec(any::<u32>(), 40),
            move_mask in proptest::collection::vec(any::<bool>(), 40),
            per_round in 1usize..8,
        ) {
            let frames = 128usize;
            let mut a = Arena((0..frames).map(|i| [0, i as u64 * 7, i as u64 ^ 0x55, 3]).collect());
            // The chain: `len` frames of the first 64 in a random order.
            let mut chain: Vec<u64> = (0..64).collect();
            chain.sort_by_key(|&f| order[f as usize % 40] ^ f as u32);
            chain.truncate(len);
            let mut head = 0;
            for &f in chain.iter().rev() {
                a.set_link(f, head);
                head = f + 1;
            }
            let before: Vec<_> = view(head, &a).into_iter().map(|(_, c)| c).collect();
            let sources: BTreeSet<u64> =
                chain.iter().copied().filter(|&f| move_mask[f as usize % 40]).collect();
            // Targets: the upper 64 frames.
            let mut free_targets: Vec<u64> = (64..frames as u64).collect();
            let mut freed = Vec::new();
            let mut cursor = 0;
            let mut moved = 0;
            loop {
                let mut round: Vec<u64> = (0..per_round).filter_map(|_| free_targets.pop()).collect();
                let w = relink(&mut head, &mut cursor, &mut a, |pfn| {
                    if !sources.contains(&pfn) {
                        return Pick::Skip;
                    }
                    round.pop().map_or(Pick::Stop, Pick::Move)
                }, |pfn| freed.push(pfn));
                free_targets.extend(round);
                moved += w.moved;
                if !w.stopped {
                    break;
                }
            }
            let after = view(head, &a);
            prop_assert_eq!(after.iter().map(|(_, c)| *c).collect::<Vec<_>>(), before);
            let frames_after: BTreeSet<u64> = after.iter().map(|(f, _)| *f).collect();
            prop_assert_eq!(frames_after.len(), after.len(), "a frame twice in the chain");
            prop_assert!(frames_after.is_disjoint(&sources), "a source still in the chain");
            prop_assert_eq!(moved as usize, sources.len());
            let freed_set: BTreeSet<u64> = freed.iter().copied().collect();
            prop_assert_eq!(freed.len(), freed_set.len(), "a frame freed twice");
            prop_assert_eq!(freed_set, sources.clone());
            // Every target is either in the chain now or still free.
            prop_assert_eq!(free_targets.len() + sources.len(), frames - 64);
            for f in &free_targets {
                prop_assert!(!frames_after.contains(f));
            }
        }
    }

    #[test]
    fn a_walk_resumes_where_it_stopped() {
        let mut a = Arena((0..8).map(|i| [0, i, 0, 0]).collect());
        // Chain 0 -> 1 -> 2.
        a.set_link(0, 2);
        a.set_link(1, 3);
        let mut head = 1;
        let mut cursor = 0;
        let w = relink(&mut head, &mut cursor, &mut a, |_| Pick::Stop, |_| {});
        assert_eq!(
            (w, cursor),
            (
                Relinked {
                    moved: 0,
                    stopped: true
                },
                0
            )
        );
        let w = relink(
            &mut head,
            &mut cursor,
            &mut a,
            |p| if p == 1 { Pick::Move(5) } else { Pick::Skip },
            |f| assert_eq!(f, 1),
        );
        assert_eq!(w.moved, 1);
        assert_eq!(
            view(head, &a).iter().map(|p| p.0).collect::<Vec<_>>(),
            [0, 5, 2]
        );
    }
}
