//! Per-CPU page lists (Linux's per_cpu_pages): each CPU keeps a few free
//! blocks of orders 0 to 3 per zone, so most allocations and frees touch
//! only that CPU's list. A list is refilled from the buddy allocator
//! `batch` pages at a time and trimmed back by `batch` once it holds more
//! than `high` pages; draining gives everything back.
//!
//! Besides those, one list keeps pageblock-order blocks (order 9, 2 MiB:
//! a transparent huge page's size), as Linux has kept since 5.13: a huge
//! block freed and allocated again on the same CPU skips the zone lock.
//! It holds at most [`PCP_HUGE_HIGH`] blocks, outside `high` (one block is
//! already more pages than `high` allows), and is refilled by frees only.
//!
//! Sizes follow Linux (mm/page_alloc.c, zone_batchsize and zone_highsize):
//! batch is a quarter of the zone's managed pages / 1024 (at most 1 MiB's
//! worth), rounded to 2^n - 1; high is the zone's low watermark shared
//! among the CPUs of its node, at least 4 x batch. Here high is also capped
//! by the lists' fixed capacity.
//!
//! Only the owning CPU touches its lists, so they need no lock and no
//! atomic instruction: a busy flag (Linux's local_trylock) set around each
//! use keeps an interrupt handler that lands in the middle off them (it
//! finds the flag set and goes to the buddy allocator instead). Other CPUs
//! read only the published page count and the NUMA event counters; they
//! have a CPU's lists drained by asking that CPU (an IPI).

use crate::buddy::{MAX_ORDER, MIGRATE_PCPTYPES};
use crate::stats::{NumaStat, NR_NUMA_STATS};
use core::cell::UnsafeCell;
use core::sync::atomic::{
    compiler_fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering::*,
};
use numa::MAX_CPUS;

/// Orders kept on the lists: up to Linux's PAGE_ALLOC_COSTLY_ORDER.
pub const PCP_MAX_ORDER: usize = 3;
/// Blocks one list can hold.
pub const PCP_LIST_CAPACITY: usize = 256;
/// The order of the huge list: Linux's pageblock_order on x86_64.
pub const PCP_HUGE_ORDER: usize = 9;
/// Huge blocks one CPU keeps per zone (2 MiB each).
pub const PCP_HUGE_HIGH: usize = 1;
/// Whether the lists keep blocks of `order`.
#[inline(always)]
pub const fn keeps(order: usize) -> bool {
    order <= PCP_MAX_ORDER || order == PCP_HUGE_ORDER
}

/// Linux's zone_batchsize.
pub fn batch_size(managed: u64) -> u32 {
    let mut batch = (managed >> 10).min((1 << 20) / layout::PAGE_SIZE) / 4;
    batch = batch.max(1);
    let b = batch + batch / 2;
    ((1u64 << (63 - b.leading_zeros())) - 1).max(1) as u32
}

/// Linux's zone_highsize, capped by what the lists can hold.
pub fn high_size(low_watermark: u64, batch: u32, cpus_on_node: u32, cpus_online: u32) -> u32 {
    let split = if cpus_on_node > 0 {
        cpus_on_node
    } else {
        cpus_online.max(1)
    };
    let high = (low_watermark / split as u64).max((batch as u64) << 2);
    high.min((PCP_LIST_CAPACITY as u64) - batch as u64) as u32
}

/// One list per order of free blocks, as frame offsets from the zone start:
/// a ring, so that allocations and frees use the newest (cache-hot) end
/// and trimming takes from the oldest, as Linux's lists do.
#[derive(Clone, Copy)]
struct List {
    blocks: [u32; PCP_LIST_CAPACITY],
    /// Where the oldest block is.
    head: u16,
    len: u16,
}

impl List {
    /// The slot `k` blocks after the oldest; the capacity is a power of
    /// two, so the wrap is a mask and needs no bounds check.
    #[inline(always)]
    fn slot(&self, k: u16) -> usize {
        (self.head as usize + k as usize) % PCP_LIST_CAPACITY
    }

    #[inline(always)]
    fn pop_oldest(&mut self) -> Option<u32> {
        self.len = self.len.checked_sub(1)?;
        let off = self.blocks[self.slot(0)];
        self.head = (self.head + 1) % PCP_LIST_CAPACITY as u16;
        Some(off)
    }
}

/// The huge blocks' list.
#[derive(Clone, Copy)]
struct HugeList {
    blocks: [u32; PCP_HUGE_HIGH],
    len: u8,
}

/// Lists of orders 0 to 3, one per order and migratetype (Linux's
/// NR_PCP_LISTS without the huge one).
pub const NR_PCP_LISTS: usize = (PCP_MAX_ORDER + 1) * MIGRATE_PCPTYPES;

/// The list of `order` and migratetype `mt` (Linux's order_to_pindex).
#[inline(always)]
fn pindex(order: usize, mt: usize) -> usize {
    debug_assert!(mt < MIGRATE_PCPTYPES);
    order * MIGRATE_PCPTYPES + mt
}

/// The lists themselves, reached through a [`PcpGuard`].
pub struct Lists {
    lists: [List; NR_PCP_LISTS],
    huge: HugeList,
    /// Pages on the lists of orders 0 to 3 (what `high` bounds).
    count: u32,
    /// The list the next trim starts at.
    next_trim: u8,
}

impl Lists {
    const EMPTY: Lists = Lists {
        lists: [List {
            blocks: [0; PCP_LIST_CAPACITY],
            head: 0,
            len: 0,
        }; NR_PCP_LISTS],
        huge: HugeList {
            blocks: [0; PCP_HUGE_HIGH],
            len: 0,
        },
        count: 0,
        next_trim: 0,
    };

    /// Pages on the lists of orders 0 to 3 (the huge list is not bounded
    /// by `high`).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Pages on every list, the huge one included.
    pub fn total(&self) -> u32 {
        self.count + ((self.huge.len as u32) << PCP_HUGE_ORDER)
    }

    /// Blocks of `order` and migratetype `mt` on the list (0 for an order
    /// not kept; the huge list has one for all types).
    pub fn len(&self, order: usize, mt: usize) -> usize {
        match order {
            0..=PCP_MAX_ORDER => self.lists[pindex(order, mt)].len as usize,
            PCP_HUGE_ORDER => self.huge.len as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// A block of `order` (0 to 3, or [`PCP_HUGE_ORDER`]) and migratetype
    /// `mt` (below [`MIGRATE_PCPTYPES`]), if the list has one.
    #[inline(always)]
    pub fn pop(&mut self, order: usize, mt: usize) -> Option<u32> {
        if order > PCP_MAX_ORDER {
            return self.pop_huge(order);
        }
        let l = &mut self.lists[pindex(order, mt)];
        l.len = l.len.checked_sub(1)?;
        self.count -= 1 << order;
        Some(l.blocks[l.slot(l.len)])
    }

    #[inline(always)]
    fn pop_huge(&mut self, order: usize) -> Option<u32> {
        if order != PCP_HUGE_ORDER {
            return None;
        }
        let h = &mut self.huge;
        h.len = h.len.checked_sub(1)?;
        h.blocks.get(h.len as usize).copied()
    }

    /// Whether a block of `order` and `mt` fits on its list.
    #[inline(always)]
    pub fn has_room(&self, order: usize, mt: usize) -> bool {
        match order {
            0..=PCP_MAX_ORDER => (self.lists[pindex(order, mt)].len as usize) < PCP_LIST_CAPACITY,
            PCP_HUGE_ORDER => (self.huge.len as usize) < PCP_HUGE_HIGH,
            _ => false,
        }
    }

    /// False when the list is full (or the order is not kept).
    #[inline(always)]
    pub fn push(&mut self, order: usize, mt: usize, offset: u32) -> bool {
        if order > PCP_MAX_ORDER {
            return self.push_huge(order, offset);
        }
        let l = &mut self.lists[pindex(order, mt)];
        if l.len as usize == PCP_LIST_CAPACITY {
            return false;
        }
        let at = l.slot(l.len);
        l.blocks[at] = offset;
        l.len += 1;
        self.count += 1 << order;
        true
    }

    #[inline(always)]
    fn push_huge(&mut self, order: usize, offset: u32) -> bool {
        let h = &mut self.huge;
        let Some(slot) = h.blocks.get_mut(h.len as usize) else {
            return false;
        };
        if order != PCP_HUGE_ORDER {
            return false;
        }
        *slot = offset;
        h.len += 1;
        true
    }

    /// Takes every block off every list, the huge one included (a drain),
    /// handing each to `give` with its order.
    pub fn take_all(&mut self, mut give: impl FnMut(usize, u32)) {
        while let Some(off) = self.pop_huge(PCP_HUGE_ORDER) {
            give(PCP_HUGE_ORDER, off);
        }
        self.take_pages(u32::MAX, give);
    }

    /// Takes blocks of orders 0 to 3 worth at least `pages` pages off the
    /// lists and hands each to `give`: as Linux's free_pcppages_bulk, the
    /// nonempty lists in turn, the oldest blocks of each first, a list
    /// emptied (or the count reached) before the next. Each trim starts
    /// where the last one stopped, so a list nobody allocates from is
    /// trimmed too, rather than the busy list being emptied and refilled
    /// over and over while the other holds most of `high`.
    pub fn take_pages(&mut self, pages: u32, mut give: impl FnMut(usize, u32)) {
        let mut taken = 0;
        let mut p = self.next_trim as usize % NR_PCP_LISTS;
        while taken < pages && self.count > 0 {
            // `count` > 0: some list is not empty, so this ends.
            while self.lists[p].len == 0 {
                p = (p + 1) % NR_PCP_LISTS;
            }
            let order = p / MIGRATE_PCPTYPES;
            let l = &mut self.lists[p];
            while taken < pages {
                let Some(off) = l.pop_oldest() else { break };
                taken += 1 << order;
                self.count -= 1 << order;
                give(order, off);
            }
            p = (p + 1) % NR_PCP_LISTS;
        }
        self.next_trim = p as u8;
    }
}

/// One CPU's lists for one zone, with what other CPUs may read of them.
pub struct PerCpuPages {
    /// Set while the owner (or an interrupt handler on its CPU that found
    /// it clear) uses the lists.
    busy: AtomicBool,
    /// `Lists::count` as of the last use, for readers on other CPUs.
    count: AtomicU32,
    lists: UnsafeCell<Lists>,
    /// NUMA events of allocations served from these lists (the zone's own
    /// counters take the others); only the owner adds, anyone reads.
    events: [AtomicU64; NR_NUMA_STATS],
}

// SAFETY: `lists` is only reached through `enter`, whose contract keeps
// every user on the owning CPU and the busy flag keeps two of those
// (a thread and the interrupt handler over it) apart; the rest is atomic.
unsafe impl Sync for PerCpuPages {}

impl core::fmt::Debug for PerCpuPages {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PerCpuPages {{ count: {} }}", self.count())
    }
}

impl Default for PerCpuPages {
    fn default() -> Self {
        Self::new()
    }
}

impl PerCpuPages {
    pub const fn new() -> Self {
        PerCpuPages {
            busy: AtomicBool::new(false),
            count: AtomicU32::new(0),
            lists: UnsafeCell::new(Lists::EMPTY),
            events: [const { AtomicU64::new(0) }; NR_NUMA_STATS],
        }
    }

    /// Pages on the lists at their last use (any CPU may ask).
    pub fn count(&self) -> u32 {
        self.count.load(Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// NUMA events counted here, by [`NumaStat`] index.
    pub fn events(&self) -> [u64; NR_NUMA_STATS] {
        core::array::from_fn(|i| self.events[i].load(Relaxed))
    }

    /// The lists, unless they are in use on this CPU already (this is an
    /// interrupt handler over their user): then None, and the caller goes
    /// to the buddy allocator.
    ///
    /// # Safety
    /// The caller runs on the CPU that owns these lists and stays on it
    /// until the guard is dropped, and everything else on that CPU that
    /// can run in between (interrupt handlers) reaches them only through
    /// `enter` too. A CPU that is gone, or a single-threaded test, owns
    /// them trivially.
    #[inline(always)]
    pub unsafe fn enter(&self) -> Option<PcpGuard<'_>> {
        if self.busy.load(Relaxed) {
            return None;
        }
        self.busy.store(true, Relaxed);
        // Only this CPU's interrupt handlers can race with us, and they
        // see our stores in program order: keeping the compiler from
        // moving list accesses above the flag is all that is needed.
        compiler_fence(SeqCst);
        Some(PcpGuard { pcp: self })
    }
}

/// The lists while in use; dropping it publishes the count and clears
/// the busy flag.
pub struct PcpGuard<'p> {
    pcp: &'p PerCpuPages,
}

impl PcpGuard<'_> {
    /// Counts a NUMA event of an allocation served from the lists.
    #[inline(always)]
    pub fn count_event(&mut self, stat: NumaStat) {
        let e = &self.pcp.events[stat as usize];
        // Only the owner writes, so a load and a store (no locked add).
        e.store(e.load(Relaxed) + 1, Relaxed);
    }
}

impl core::ops::Deref for PcpGuard<'_> {
    type Target = Lists;
    fn deref(&self) -> &Lists {
        // SAFETY: the busy flag is ours (see `enter`).
        unsafe { &*self.pcp.lists.get() }
    }
}

impl core::ops::DerefMut for PcpGuard<'_> {
    fn deref_mut(&mut self) -> &mut Lists {
        // SAFETY: the busy flag is ours (see `enter`).
        unsafe { &mut *self.pcp.lists.get() }
    }
}

impl Drop for PcpGuard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        let count = self.total();
        self.pcp.count.store(count, Relaxed);
        compiler_fence(SeqCst);
        self.pcp.busy.store(false, Relaxed);
    }
}

/// The calling CPU's own per-CPU page lists (one per populated zone,
/// indexed by `Zone::pcp_index`): holding one is the promise that the
/// code runs on that CPU, which makes using the lists sound.
#[derive(Clone, Copy)]
pub struct PcpSet<'p>(&'p [PerCpuPages]);

impl<'p> PcpSet<'p> {
    /// # Safety
    /// The caller runs on the CPU that owns `lists`, and stays on it while
    /// the value (or a copy) is in use, as [`PerCpuPages::enter`] requires.
    #[inline(always)]
    pub unsafe fn new(lists: &'p [PerCpuPages]) -> Self {
        PcpSet(lists)
    }

    pub fn lists(self) -> &'p [PerCpuPages] {
        self.0
    }

    /// Zone `index`'s lists, unless an interrupted user on this CPU has
    /// them (or the set has no such zone).
    #[inline(always)]
    pub(crate) fn enter(self, index: usize) -> Option<PcpGuard<'p>> {
        // SAFETY: `new`'s contract: we are on the owning CPU.
        unsafe { self.0.get(index)?.enter() }
    }
}

/// A test's "CPU" lists: a host test is one thread, owning every set.
#[cfg(test)]
pub(crate) fn single_threaded(lists: &[PerCpuPages]) -> PcpSet<'_> {
    // SAFETY: one thread uses the lists, and nothing interrupts it.
    unsafe { PcpSet::new(lists) }
}

/// Every CPU's lists, as registered when each CPU got them: what reports
/// and conservation checks read (counts and events only).
pub struct PcpRegistry<'a> {
    sets: [AtomicPtr<PerCpuPages>; MAX_CPUS],
    /// Lists in every set (one per populated zone).
    len: usize,
    _sets: core::marker::PhantomData<&'a [PerCpuPages]>,
}

impl<'a> PcpRegistry<'a> {
    pub const fn new(len: usize) -> Self {
        PcpRegistry {
            sets: [const { AtomicPtr::new(core::ptr::null_mut()) }; MAX_CPUS],
            len,
            _sets: core::marker::PhantomData,
        }
    }

    /// Records CPU `cpu`'s lists; false (nothing kept) for a CPU number
    /// out of range or a set shorter than the zones need.
    pub fn register(&self, cpu: usize, lists: &'a [PerCpuPages]) -> bool {
        match self.sets.get(cpu) {
            Some(slot) if lists.len() >= self.len => {
                slot.store(lists.as_ptr() as *mut PerCpuPages, Release);
                true
            }
            _ => false,
        }
    }

    /// (cpu, lists) for every CPU registered.
    pub fn iter(&self) -> impl Iterator<Item = (usize, &'a [PerCpuPages])> + '_ {
        self.sets.iter().enumerate().filter_map(|(cpu, p)| {
            let p = p.load(Acquire);
            // SAFETY: `register` stored the start of a slice of at least
            // `len` lists that lives for 'a, published with Release.
            (!p.is_null()).then(|| (cpu, unsafe { core::slice::from_raw_parts(p, self.len) }))
        })
    }
}

const _: () = assert!(PCP_MAX_ORDER < PCP_HUGE_ORDER && PCP_HUGE_ORDER <= MAX_ORDER);
const _: () = assert!(PCP_LIST_CAPACITY.is_power_of_two() && PCP_HUGE_HIGH <= PCP_LIST_CAPACITY);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_and_high_follow_linux() {
        // A 768 MiB zone: managed 196608 >> 10 = 192, / 4 = 48, 48 + 24 = 72 -> 63.
        assert_eq!(batch_size(196_608), 63);
        // 4 GiB and more: capped at 1 MiB worth = 256 / 4 = 64 -> 96 -> 63.
        assert_eq!(batch_size(1 << 20), 63);
        assert_eq!(batch_size(100), 1);
        // high: low watermark over the node's CPUs, at least 4 x batch.
        assert_eq!(
            high_size(1000, 7, 2, 8),
            256 - 7,
            "500, capped by the lists"
        );
        assert_eq!(high_size(40, 7, 2, 8), 28);
        assert_eq!(
            high_size(800, 31, 0, 4),
            200,
            "a CPU-less node shares with all"
        );
    }

    #[test]
    fn lists_count_pages_and_give_back_round_robin() {
        let pcp = PerCpuPages::new();
        // SAFETY: one thread.
        let mut p = unsafe { pcp.enter() }.unwrap();
        assert!(p.push(0, 0, 1) && p.push(0, 0, 2) && p.push(2, 0, 8) && p.push(3, 0, 16));
        // Another migratetype's list is apart.
        assert!(p.push(0, 1, 5));
        assert_eq!(p.pop(0, 1), Some(5));
        assert_eq!(p.pop(0, 1), None);
        assert_eq!(p.count(), 1 + 1 + 4 + 8);
        let mut got = [(0usize, 0u32); 4];
        let mut n = 0;
        p.take_pages(6, |o, off| {
            got[n] = (o, off);
            n += 1;
        });
        // Order 0's list first, oldest first and emptied; then order 2's.
        assert_eq!(&got[..n], &[(0, 1), (0, 2), (2, 8)]);
        assert_eq!(p.count(), 8);
        assert_eq!(p.pop(3, 0), Some(16));
        assert_eq!(p.pop(0, 0), None);
        // The ring wraps: newest at the top, oldest trimmed first.
        for i in 0..PCP_LIST_CAPACITY as u32 + 10 {
            if !p.push(0, 0, i) {
                let mut first = None;
                p.take_pages(1, |_, off| first = Some(off));
                assert_eq!(first, Some(i - PCP_LIST_CAPACITY as u32), "the oldest");
                assert!(p.push(0, 0, i));
            }
        }
        assert_eq!(
            p.pop(0, 0),
            Some(PCP_LIST_CAPACITY as u32 + 9),
            "the newest"
        );
        p.take_all(|_, _| {});
        // SAFETY: one thread; the set is in use, so a second user (an
        // interrupt handler) is turned away.
        assert!(unsafe { pcp.enter() }.is_none());
        drop(p);
        assert_eq!(pcp.count(), 0, "published when the guard goes");
        let full_set = PerCpuPages::new();
        // SAFETY: one thread.
        let mut full = unsafe { full_set.enter() }.unwrap();
        for i in 0..PCP_LIST_CAPACITY as u32 {
            assert!(full.push(1, 0, i));
        }
        assert!(!full.push(1, 0, 999));
    }
}
