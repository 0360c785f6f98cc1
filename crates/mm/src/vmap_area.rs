//! The virtual-area allocator of the vmalloc region (Linux's vmap_area
//! machinery in mm/vmalloc.c), without any page tables: which ranges of
//! the region are free, which are busy, and which were freed but still
//! wait for the TLB purge that makes them safe to hand out again.
//!
//! Free space is an AVL tree of free ranges ordered by address, each node
//! augmented with the largest free size in its subtree (Linux keeps the
//! same `subtree_max_size` in its red-black tree). The lowest address that
//! fits a request is found by walking down: a subtree whose largest range
//! is too small is never entered, so with page alignment, where a range
//! that is large enough always fits, the search is O(log n).
//!
//! Freed ranges do not go back to the tree at once. They wait on a lazy
//! list until `lazy_max_pages` worth have piled up (or an allocation finds
//! no room); the caller then flushes every CPU's TLB for them, once, and
//! hands them back with [`VmapSpace::finish_purge`]. Until then nothing
//! can be mapped at an address some CPU may still translate the old way.

extern crate alloc;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// Page size of the region's bookkeeping.
pub const PAGE: u64 = 4096;

const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    start: u64,
    size: u64,
    left: u32,
    right: u32,
    height: u8,
    /// The largest `size` in this node's subtree, itself included.
    subtree_max: u64,
}

/// Free ranges, address-ordered, in an arena (indices, no pointers).
#[derive(Default)]
pub struct FreeTree {
    nodes: Vec<Node>,
    spare: Vec<u32>,
    root: u32,
    len: usize,
}

impl FreeTree {
    pub fn new() -> FreeTree {
        FreeTree {
            nodes: Vec::new(),
            spare: Vec::new(),
            root: NIL,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn height(&self, n: u32) -> u8 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].height
        }
    }

    fn max(&self, n: u32) -> u64 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].subtree_max
        }
    }

    /// Recomputes height and the augmented maximum from the children.
    fn update(&mut self, n: u32) {
        let (l, r, size) = {
            let x = &self.nodes[n as usize];
            (x.left, x.right, x.size)
        };
        let h = 1 + self.height(l).max(self.height(r));
        let m = size.max(self.max(l)).max(self.max(r));
        let x = &mut self.nodes[n as usize];
        x.height = h;
        x.subtree_max = m;
    }

    fn rotate_right(&mut self, n: u32) -> u32 {
        let l = self.nodes[n as usize].left;
        self.nodes[n as usize].left = self.nodes[l as usize].right;
        self.nodes[l as usize].right = n;
        self.update(n);
        self.update(l);
        l
    }

    fn rotate_left(&mut self, n: u32) -> u32 {
        let r = self.nodes[n as usize].right;
        self.nodes[n as usize].right = self.nodes[r as usize].left;
        self.nodes[r as usize].left = n;
        self.update(n);
        self.update(r);
        r
    }

    /// Restores the AVL balance at `n` after one of its subtrees changed
    /// height by one; returns the subtree's new root.
    fn rebalance(&mut self, n: u32) -> u32 {
        self.update(n);
        let (l, r) = (self.nodes[n as usize].left, self.nodes[n as usize].right);
        let balance = self.height(l) as i32 - self.height(r) as i32;
        if balance > 1 {
            let ll = self.nodes[l as usize].left;
            let lr = self.nodes[l as usize].right;
            if self.height(ll) < self.height(lr) {
                let nl = self.rotate_left(l);
                self.nodes[n as usize].left = nl;
            }
            return self.rotate_right(n);
        }
        if balance < -1 {
            let rl = self.nodes[r as usize].left;
            let rr = self.nodes[r as usize].right;
            if self.height(rr) < self.height(rl) {
                let nr = self.rotate_right(r);
                self.nodes[n as usize].right = nr;
            }
            return self.rotate_left(n);
        }
        n
    }

    fn new_node(&mut self, start: u64, size: u64) -> u32 {
        let node = Node {
            start,
            size,
            left: NIL,
            right: NIL,
            height: 1,
            subtree_max: size,
        };
        match self.spare.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn insert_at(&mut self, n: u32, new: u32) -> u32 {
        if n == NIL {
            return new;
        }
        if self.nodes[new as usize].start < self.nodes[n as usize].start {
            let l = self.insert_at(self.nodes[n as usize].left, new);
            self.nodes[n as usize].left = l;
        } else {
            let r = self.insert_at(self.nodes[n as usize].right, new);
            self.nodes[n as usize].right = r;
        }
        self.rebalance(n)
    }

    /// Adds the free range `[start, start + size)`; the caller guarantees
    /// it overlaps no other free range.
    pub fn insert(&mut self, start: u64, size: u64) {
        let new = self.new_node(start, size);
        self.root = self.insert_at(self.root, new);
        self.len += 1;
    }

    /// Unlinks the smallest node of subtree `n`; returns (new subtree, it).
    fn take_min(&mut self, n: u32) -> (u32, u32) {
        let l = self.nodes[n as usize].left;
        if l == NIL {
            return (self.nodes[n as usize].right, n);
        }
        let (nl, min) = self.take_min(l);
        self.nodes[n as usize].left = nl;
        (self.rebalance(n), min)
    }

    fn remove_at(&mut self, n: u32, start: u64, found: &mut Option<u64>) -> u32 {
        if n == NIL {
            return NIL;
        }
        let here = self.nodes[n as usize].start;
        if start < here {
            let l = self.remove_at(self.nodes[n as usize].left, start, found);
            self.nodes[n as usize].left = l;
        } else if start > here {
            let r = self.remove_at(self.nodes[n as usize].right, start, found);
            self.nodes[n as usize].right = r;
        } else {
            *found = Some(self.nodes[n as usize].size);
            self.spare.push(n);
            let (l, r) = (self.nodes[n as usize].left, self.nodes[n as usize].right);
            if l == NIL {
                return r;
            }
            if r == NIL {
                return l;
            }
            let (nr, succ) = self.take_min(r);
            self.nodes[succ as usize].left = l;
            self.nodes[succ as usize].right = nr;
            return self.rebalance(succ);
        }
        self.rebalance(n)
    }

    /// Removes the free range starting at `start`; returns its size.
    pub fn remove(&mut self, start: u64) -> Option<u64> {
        let mut found = None;
        self.root = self.remove_at(self.root, start, &mut found);
        if found.is_some() {
            self.len -= 1;
        }
        found
    }

    /// The free range with the greatest start at or below `addr`.
    pub fn at_or_below(&self, addr: u64) -> Option<(u64, u64)> {
        let (mut n, mut best) = (self.root, None);
        while n != NIL {
            let x = &self.nodes[n as usize];
            if x.start <= addr {
                best = Some((x.start, x.size));
                n = x.right;
            } else {
                n = x.left;
            }
        }
        best
    }

    /// The free range with the smallest start at or above `addr`.
    pub fn at_or_above(&self, addr: u64) -> Option<(u64, u64)> {
        let (mut n, mut best) = (self.root, None);
        while n != NIL {
            let x = &self.nodes[n as usize];
            if x.start >= addr {
                best = Some((x.start, x.size));
                n = x.left;
            } else {
                n = x.right;
            }
        }
        best
    }

    /// The lowest `align`-aligned address where `size` bytes fit in one
    /// free range, and the range's start.
    pub fn lowest_fit(&self, size: u64, align: u64) -> Option<(u64, u64)> {
        self.lowest_fit_in(self.root, size, align)
    }

    fn lowest_fit_in(&self, n: u32, size: u64, align: u64) -> Option<(u64, u64)> {
        if n == NIL || self.nodes[n as usize].subtree_max < size {
            return None;
        }
        let x = self.nodes[n as usize];
        if let Some(found) = self.lowest_fit_in(x.left, size, align) {
            return Some(found);
        }
        let aligned = x.start.checked_add(align - 1)? & !(align - 1);
        if aligned - x.start <= x.size && x.size - (aligned - x.start) >= size {
            return Some((aligned, x.start));
        }
        self.lowest_fit_in(x.right, size, align)
    }

    /// The largest free range's size: the root's augmented maximum.
    pub fn largest(&self) -> u64 {
        self.max(self.root)
    }

    /// Every free range in address order.
    pub fn ranges(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::with_capacity(self.len);
        let mut stack = Vec::new();
        let mut n = self.root;
        while n != NIL || !stack.is_empty() {
            while n != NIL {
                stack.push(n);
                n = self.nodes[n as usize].left;
            }
            let top = stack.pop().expect("non-empty");
            out.push((
                self.nodes[top as usize].start,
                self.nodes[top as usize].size,
            ));
            n = self.nodes[top as usize].right;
        }
        out
    }

    /// Checks the AVL shape and the augmented maxima (tests).
    pub fn check(&self) -> Result<(), &'static str> {
        fn walk(t: &FreeTree, n: u32) -> Result<(u8, u64), &'static str> {
            if n == NIL {
                return Ok((0, 0));
            }
            let x = t.nodes[n as usize];
            let (hl, ml) = walk(t, x.left)?;
            let (hr, mr) = walk(t, x.right)?;
            if (hl as i32 - hr as i32).abs() > 1 {
                return Err("unbalanced");
            }
            if x.height != 1 + hl.max(hr) {
                return Err("stale height");
            }
            if x.subtree_max != x.size.max(ml).max(mr) {
                return Err("stale subtree maximum");
            }
            Ok((x.height, x.subtree_max))
        }
        walk(self, self.root).map(|_| ())
    }
}

/// What the allocator refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapError {
    /// No free range is large enough (after any purge).
    NoSpace,
    /// Zero size, a size that is not whole pages, or an alignment that is
    /// not a power of two of at least a page.
    BadRequest,
    /// Free of an address where no busy area starts (double or wild free).
    NotAllocated(u64),
}

/// The whole region: free tree, busy areas and the lazy list.
pub struct VmapSpace {
    pub start: u64,
    pub end: u64,
    free: FreeTree,
    /// Busy areas: start -> size (the guard page included).
    busy: BTreeMap<u64, u64>,
    /// Freed, unmapped, not yet purged: (start, size).
    lazy: Vec<(u64, u64)>,
    lazy_pages: u64,
    /// When the lazy list reaches this many pages, a purge is due.
    pub lazy_max_pages: u64,
}

/// Linux's lazy_max_pages(): 32 MiB of pages for each bit of the number
/// of online CPUs (fls), so that a purge, which interrupts every CPU,
/// comes rarer as it gets dearer.
pub fn lazy_max_pages(online_cpus: u32) -> u64 {
    let fls = 32 - online_cpus.max(1).leading_zeros() as u64;
    fls * ((32 << 20) / PAGE)
}

impl VmapSpace {
    /// The region `[start, end)`, all free, page-aligned.
    pub fn new(start: u64, end: u64, lazy_max_pages: u64) -> VmapSpace {
        assert!(start.is_multiple_of(PAGE) && end.is_multiple_of(PAGE) && start < end);
        let mut free = FreeTree::new();
        free.insert(start, end - start);
        VmapSpace {
            start,
            end,
            free,
            busy: BTreeMap::new(),
            lazy: Vec::new(),
            lazy_pages: 0,
            lazy_max_pages,
        }
    }

    /// Reserves the lowest `align`-aligned range of `size` bytes (whole
    /// pages: the caller adds the guard page). `NoSpace` means a purge of
    /// the lazy list might help: see [`VmapSpace::purge_due`].
    pub fn alloc(&mut self, size: u64, align: u64) -> Result<u64, VmapError> {
        if size == 0 || !size.is_multiple_of(PAGE) || !align.is_power_of_two() || align < PAGE {
            return Err(VmapError::BadRequest);
        }
        let (addr, range_start) = self
            .free
            .lowest_fit(size, align)
            .ok_or(VmapError::NoSpace)?;
        let range_size = self.free.remove(range_start).expect("found in the tree");
        // What is left on either side goes back.
        if addr > range_start {
            self.free.insert(range_start, addr - range_start);
        }
        let tail = range_start + range_size - (addr + size);
        if tail > 0 {
            self.free.insert(addr + size, tail);
        }
        self.busy.insert(addr, size);
        Ok(addr)
    }

    /// The busy area containing `addr`: (start, size).
    pub fn busy_containing(&self, addr: u64) -> Option<(u64, u64)> {
        let (&s, &size) = self.busy.range(..=addr).next_back()?;
        (addr < s + size).then_some((s, size))
    }

    /// The lazily freed range containing `addr`, if any.
    pub fn lazy_containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.lazy
            .iter()
            .copied()
            .find(|&(s, size)| addr >= s && addr < s + size)
    }

    /// Moves the busy area at `start` to the lazy list (its pages are
    /// unmapped by the caller, TLBs not yet flushed). Returns its size.
    pub fn free_lazy(&mut self, start: u64) -> Result<u64, VmapError> {
        let size = self
            .busy
            .remove(&start)
            .ok_or(VmapError::NotAllocated(start))?;
        self.lazy.push((start, size));
        self.lazy_pages += size / PAGE;
        Ok(size)
    }

    pub fn purge_due(&self) -> bool {
        self.lazy_pages >= self.lazy_max_pages
    }

    pub fn lazy_pages(&self) -> u64 {
        self.lazy_pages
    }

    /// The lazy ranges, taken off the list: flush them from every TLB,
    /// then give them to `finish_purge`. Ranges taken stay unusable.
    pub fn take_lazy(&mut self) -> Vec<(u64, u64)> {
        self.lazy_pages = 0;
        core::mem::take(&mut self.lazy)
    }

    /// Returns flushed ranges to the free tree, merged with their
    /// neighbours.
    pub fn finish_purge(&mut self, ranges: &[(u64, u64)]) {
        for &(start, size) in ranges {
            self.release(start, size);
        }
    }

    fn release(&mut self, mut start: u64, mut size: u64) {
        if let Some((ps, psize)) = self.free.at_or_below(start) {
            debug_assert!(ps + psize <= start, "freed range overlaps free space");
            if ps + psize == start {
                self.free.remove(ps);
                start = ps;
                size += psize;
            }
        }
        if let Some((ns, nsize)) = self.free.at_or_above(start + size) {
            if ns == start + size {
                self.free.remove(ns);
                size += nsize;
            }
        }
        self.free.insert(start, size);
    }

    pub fn free_ranges(&self) -> Vec<(u64, u64)> {
        self.free.ranges()
    }

    pub fn busy(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.busy.iter().map(|(&s, &z)| (s, z))
    }

    pub fn lazy(&self) -> &[(u64, u64)] {
        &self.lazy
    }

    pub fn tree(&self) -> &FreeTree {
        &self.free
    }
}

#[cfg(test)]
mod tests;
