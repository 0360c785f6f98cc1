//! SLUB: object caches carved from slabs (naturally aligned blocks of
//! 2^order pages), after Linux's mm/slub.c.
//!
//! - Each CPU has an active slab and a free list taken from it: the fast
//!   paths (allocate from it, free an object of it) touch only that CPU's
//!   slot, with no lock (the caller runs on that CPU with interrupts off).
//! - Every other slab state lives under its node's lock: the slab's own
//!   free list (where frees from other CPUs go), in-use counts, and the
//!   node's list of partial slabs. An object always goes back to its own
//!   slab, on its own node, whoever frees it.
//! - Slabs come from the page allocator on the requesting CPU's node. A
//!   header at the start of each slab names its cache (there is no room in
//!   our 12-byte page descriptors for Linux's struct slab).
//! - Free pointers are hardened as CONFIG_SLAB_FREELIST_HARDENED does
//!   (stored XOR a per-cache secret XOR the byte-swapped slot address), and
//!   freeing the object at the head of the free list again is caught.
//! - Debug (`slub_debug` letters): F sanity checks (double free, foreign
//!   pointer, cache mismatch), Z red zones left and right of each object, P
//!   poisoning of free objects (checked on allocation: a write after free),
//!   U the last allocation and free call sites. Every finding is reported
//!   with the cache, the object, the offset and the call sites, and the
//!   object is left alone (never corrupting the slab further).
//!
//! This module holds the crate's raw-memory code for slabs; its host tests
//! run under Miri.

#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::fmt;
use core::ptr;
use core::sync::atomic::{
    compiler_fence, AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed,
    Ordering::SeqCst,
};
use numa::{MAX_CPUS, MAX_NUMNODES};
use spin::Mutex;

mod exact_div;
use exact_div::ExactDivisor;

const PAGE: usize = layout::PAGE_SIZE as usize;

/// kmalloc's size classes, as Linux's (with the 96 and 192 classes).
pub const KMALLOC_SIZES: [usize; 13] = [
    8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192,
];

/// The kmalloc class of sizes 1 to 192 in steps of 8 (Linux's size_index):
/// the smallest of KMALLOC_SIZES that holds them.
const SMALL_CLASS: [u8; 24] = {
    let mut t = [0u8; 24];
    let mut k = 0;
    while k < 24 {
        let size = (k + 1) * 8;
        let mut c = 0;
        while KMALLOC_SIZES[c] < size {
            c += 1;
        }
        t[k] = c as u8;
        k += 1;
    }
    t
};

/// The kmalloc class of `size` (1 to 8192), for the natural 8-byte
/// alignment: a table up to 192, the bit length above.
#[inline(always)]
pub fn kmalloc_index(size: usize) -> usize {
    if size <= 192 {
        SMALL_CLASS[(size - 1) / 8] as usize
    } else {
        (usize::BITS - (size - 1).leading_zeros()) as usize - 1
    }
}

/// Cache flags, Linux's SLAB_* names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlabFlags(pub u32);

impl SlabFlags {
    /// F: sanity checks on every free.
    pub const CONSISTENCY_CHECKS: SlabFlags = SlabFlags(1 << 0);
    /// Z: red zones around every object.
    pub const RED_ZONE: SlabFlags = SlabFlags(1 << 1);
    /// P: poison free objects.
    pub const POISON: SlabFlags = SlabFlags(1 << 2);
    /// U: record allocation and free call sites.
    pub const STORE_USER: SlabFlags = SlabFlags(1 << 3);
    /// Align objects to cache lines.
    pub const HWCACHE_ALIGN: SlabFlags = SlabFlags(1 << 4);
    /// Creation failure is fatal.
    pub const PANIC: SlabFlags = SlabFlags(1 << 5);
    /// Pages count as reclaimable (SReclaimable).
    pub const RECLAIM_ACCOUNT: SlabFlags = SlabFlags(1 << 6);
    /// Objects may be looked at after free until a grace period passes.
    pub const TYPESAFE_BY_RCU: SlabFlags = SlabFlags(1 << 7);
    /// A: failslab's cache filter lets this cache fail (not a debug check:
    /// the fast path stays).
    pub const FAILSLAB: SlabFlags = SlabFlags(1 << 8);

    pub const DEBUG: SlabFlags = SlabFlags(0b1111);

    pub const fn contains(self, f: SlabFlags) -> bool {
        self.0 & f.0 == f.0
    }

    pub const fn union(self, f: SlabFlags) -> SlabFlags {
        SlabFlags(self.0 | f.0)
    }

    /// Parses slub_debug letters (F, Z, P, U, A); unknown letters are returned.
    pub fn from_letters(letters: &str) -> Result<SlabFlags, char> {
        let mut f = SlabFlags(0);
        for c in letters.chars() {
            f = f.union(match c.to_ascii_uppercase() {
                'F' => Self::CONSISTENCY_CHECKS,
                'Z' => Self::RED_ZONE,
                'P' => Self::POISON,
                'U' => Self::STORE_USER,
                'A' => Self::FAILSLAB,
                '-' => SlabFlags(0),
                other => return Err(other),
            });
        }
        Ok(f)
    }
}

impl core::ops::BitOr for SlabFlags {
    type Output = SlabFlags;
    fn bitor(self, rhs: SlabFlags) -> SlabFlags {
        self.union(rhs)
    }
}

/// Linux's byte patterns, so hex dumps read the same.
pub const RED_INACTIVE: u8 = 0xbb;
pub const RED_ACTIVE: u8 = 0xcc;
pub const POISON_FREE: u8 = 0x6b;
pub const POISON_END: u8 = 0xa5;
const CACHE_LINE: usize = 64;
const SLAB_MAGIC: u64 = 0x51ab_cafe_f00d;
const STATE_ALLOCATED: u64 = 0xa110_ca7e;
const STATE_FREE: u64 = 0xf4ee_d0b1;
/// Partial slabs a node keeps even when empty (Linux's min_partial floor).
const MIN_PARTIAL: u32 = 5;
/// Largest slab: 2^3 pages, as Linux's slub_max_order.
pub const MAX_SLAB_ORDER: u32 = 3;

/// Where slabs come from.
pub trait SlabPages {
    /// A naturally aligned block of 2^order pages, preferably on `node`;
    /// returns its address and the node it is on.
    fn alloc(&self, node: usize, order: u32) -> Option<(*mut u8, usize)>;
    fn free(&self, block: *mut u8, order: u32);
}

/// What a debug check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlabError {
    /// The pointer is not an object of any slab of this cache.
    ForeignPointer {
        addr: usize,
    },
    /// Inside an object, not at its start.
    NotObjectStart {
        addr: usize,
        offset: usize,
    },
    DoubleFree {
        addr: usize,
    },
    /// The bytes after (or before) the object were written.
    RedZoneOverwritten {
        addr: usize,
        offset: isize,
        found: u8,
    },
    /// A free object was written after it was freed.
    WriteAfterFree {
        addr: usize,
        offset: usize,
        found: u8,
    },
}

/// A report: what was found, in which cache, and the recorded call sites.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabReport {
    pub cache: &'static str,
    pub error: SlabError,
    pub alloc_caller: u64,
    pub free_caller: u64,
}

impl fmt::Display for SlabReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BUG {}: ", self.cache)?;
        match self.error {
            SlabError::ForeignPointer { addr } => write!(f, "{addr:#x} is not an object of this cache")?,
            SlabError::NotObjectStart { addr, offset } => {
                write!(f, "{addr:#x} points {offset} bytes into an object, not at its start")?
            }
            SlabError::DoubleFree { addr } => write!(f, "double free of object {addr:#x}")?,
            SlabError::RedZoneOverwritten { addr, offset, found } => write!(
                f,
                "red zone overwritten at offset {offset} of object {addr:#x} (found {found:#04x})"
            )?,
            SlabError::WriteAfterFree { addr, offset, found } => write!(
                f,
                "object {addr:#x} written after free at offset {offset} (found {found:#04x}, poison {POISON_FREE:#04x})"
            )?,
        }
        if self.alloc_caller != 0 || self.free_caller != 0 {
            write!(
                f,
                "; last allocated from {:#x}, last freed from {:#x}",
                self.alloc_caller, self.free_caller
            )?;
        }
        Ok(())
    }
}

/// The start of every slab.
#[repr(C)]
struct SlabHeader {
    magic: u64,
    cache: *const KmemCache,
    /// Free objects not handed to a CPU (encoded chain).
    freelist: *mut u8,
    next: *mut SlabHeader,
    prev: *mut SlabHeader,
    /// Objects not on `freelist` (allocated, or on the owning CPU's list).
    inuse: u32,
    node: u32,
    /// 1 + the CPU that has it as its active slab, else 0.
    frozen: u32,
    on_partial: u32,
}

const HEADER: usize = core::mem::size_of::<SlabHeader>();

/// One node's slabs of one cache.
struct NodeSlabs {
    partial: *mut SlabHeader,
    nr_partial: u32,
    nr_slabs: u64,
}

// SAFETY: the raw pointers are slabs owned by the cache; they are only
// followed under this node's lock.
unsafe impl Send for NodeSlabs {}

#[derive(Clone, Copy)]
struct CpuSlab {
    slab: *mut SlabHeader,
    freelist: *mut u8,
    /// This CPU's partial slabs (frozen to it, linked through `next`):
    /// slabs a free on this CPU turned from full to partial, used before
    /// the node's list (Linux's cpu_partial).
    partial: *mut SlabHeader,
    nr_partial: u8,
    /// The node this CPU's plain allocations take slabs from (u32::MAX
    /// until its first one): only that node's slabs become its partial
    /// slabs, so a remote free does not pull remote memory into this
    /// CPU's allocations.
    home: u32,
    /// Objects of `home`'s slabs (not the active one) freed on this CPU and
    /// not yet given back to their slabs, chained through their free
    /// pointers (Linux's sheaves, as a list): a free costs a push, the
    /// next allocations take them back first, and a full list goes to its
    /// slabs in one batch.
    deferred: *mut u8,
    nr_deferred: u8,
    /// Objects of other nodes' slabs freed on this CPU, kept the same way
    /// until the list is full and then given back to their own slabs (on
    /// their own nodes) in one batch, a node lock per run of one node's
    /// objects: allocations never take them, so a remote free moves no
    /// memory across nodes.
    remote: *mut u8,
    nr_remote: u8,
}

impl CpuSlab {
    /// The deferred list (`remote`: the remote list) and its length.
    #[inline(always)]
    fn list(&mut self, remote: bool) -> (&mut *mut u8, &mut u8) {
        if remote {
            (&mut self.remote, &mut self.nr_remote)
        } else {
            (&mut self.deferred, &mut self.nr_deferred)
        }
    }
}

/// The deferred list's bound in bytes (and 8 to 64 objects).
const DEFER_BYTES: usize = 32 << 10;

/// Slabs a CPU keeps on its partial list before they go to the node's.
/// Linux sizes its list in objects (30 for objects under 256 bytes, fewer
/// above) and turns that into slabs at about half full; with most of our
/// slabs holding 15 to 63 objects, 8 slabs keeps the same order of
/// magnitude without a per-size table.
const CPU_PARTIAL_SLABS: u8 = 8;

/// One CPU's slot; touched only by that CPU with interrupts off.
///
/// Its count of objects allocated minus freed on this CPU is written only
/// by this CPU (a plain load and store, no locked instruction), and the
/// cache's total is their sum. Each slot has a cache line of its own, so
/// CPUs running their fast paths at once do not write the same line.
#[repr(align(64))]
struct CpuSlot {
    slab: UnsafeCell<CpuSlab>,
    active: AtomicI64,
    /// Set while the CPU is inside [`KmemCache::alloc_fast`] or
    /// [`KmemCache::free_fast`] (Linux's local_trylock: a plain per-CPU
    /// flag, no atomic instruction, no interrupt masking). An interrupt
    /// handler on the same CPU that finds it set must not touch the slot:
    /// its slow path bypasses it.
    busy: AtomicBool,
}

impl CpuSlot {
    /// Adds `d` to this CPU's count; only the slot's CPU calls it.
    #[inline(always)]
    fn count(&self, d: i64) {
        self.active.store(self.active.load(Relaxed) + d, Relaxed);
    }
}

// SAFETY: each slot is used by one CPU at a time (the callers' contract on
// `alloc`/`free`/`flush_cpu`), never concurrently.
unsafe impl Sync for CpuSlot {}

/// Sizes and offsets of one cache's objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectLayout {
    /// Stride between objects.
    pub size: usize,
    /// Bytes before the object (left red zone).
    pub red_left: usize,
    /// Where the free pointer sits, from the object's start.
    pub fp_offset: usize,
    /// Where the debug words (state, alloc and free callers) sit.
    pub track_offset: usize,
    /// Offset of the first object slot in the slab.
    pub first: usize,
    pub objects: usize,
    pub order: u32,
}

/// A cache of equal objects (Linux's struct kmem_cache).
pub struct KmemCache {
    pub name: &'static str,
    pub object_size: usize,
    pub align: usize,
    pub flags: SlabFlags,
    pub layout: ObjectLayout,
    ctor: Option<fn(*mut u8)>,
    random: u64,
    /// The fast paths apply: no debug flag and no constructor (those
    /// caches keep every check on the slow path).
    fast: bool,
    /// `layout.size` prepared for exact division: an object's index from
    /// its offset, and the start check, by one multiply (no division on a
    /// free).
    stride: ExactDivisor,
    /// `!(slab bytes - 1)`: a slab's address from any of its objects'.
    slab_mask: usize,
    /// Offset of the first object in its slab (`layout.first +
    /// layout.red_left`), kept whole: the free path's start check, `locate`
    /// and `object` all start from it.
    object_base: usize,
    /// Objects allocated minus freed by slow paths that found their CPU's
    /// slot busy (an interrupt over a fast path): they cannot count in
    /// the slot, whose count the interrupted code is updating.
    bypass_active: AtomicI64,
    /// Slow-path operations that found their CPU's slot busy (each an
    /// interrupt that came over a fast path), for the self-tests.
    pub bypasses: AtomicU64,
    /// Most objects a CPU's deferred list holds (0: frees are never
    /// deferred, as in debug caches).
    defer_max: u8,
    nodes: [Mutex<NodeSlabs>; MAX_NUMNODES],
    cpus: [CpuSlot; MAX_CPUS],
    /// CPU and node ids in use are below these (Linux's nr_cpu_ids and
    /// nr_node_ids): walks over every slot stop there, not at the
    /// compile-time maxima, which a small VM would pay for on each walk.
    nr_cpu_ids: usize,
    nr_node_ids: usize,
    slabs: AtomicU64,
    pub reports: AtomicU64,
    /// The tag the kernel gave the cache when it registered it (its
    /// registry slot, from 1), so that the frames of its slabs can name it.
    pub owner_tag: AtomicU32,
}

/// How many CPU and node ids a cache must serve (ids are dense from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdLimits {
    pub cpus: usize,
    pub nodes: usize,
}

impl IdLimits {
    /// Every id the crate supports.
    pub const MAX: IdLimits = IdLimits {
        cpus: MAX_CPUS,
        nodes: MAX_NUMNODES,
    };
}

/// Why a cache cannot be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    ZeroSize,
    BadAlign(usize),
    /// Even the largest slab holds no object of this size.
    TooLarge(usize),
}

fn align_up(x: usize, a: usize) -> usize {
    (x + a - 1) & !(a - 1)
}

/// Computes where everything goes: the object, its red zones, the free
/// pointer (inside the object unless debug needs the object's bytes), the
/// debug words, and the slab order: the smallest that holds
/// `min_objects` (see [`min_objects`]) and wastes little.
pub fn object_layout(
    object_size: usize,
    align: usize,
    flags: SlabFlags,
    min_objects: usize,
) -> Result<ObjectLayout, CreateError> {
    if object_size == 0 {
        return Err(CreateError::ZeroSize);
    }
    let mut align = align.max(8);
    if !align.is_power_of_two() {
        return Err(CreateError::BadAlign(align));
    }
    if flags.contains(SlabFlags::HWCACHE_ALIGN) && object_size > CACHE_LINE / 2 {
        align = align.max(CACHE_LINE);
    }
    let red = flags.contains(SlabFlags::RED_ZONE);
    let red_left = if red { align } else { 0 };
    let object = align_up(object_size.max(8), 8);
    let debug = flags.0 & SlabFlags::DEBUG.0 != 0;
    let needs_own_fp =
        flags.contains(SlabFlags::POISON) || flags.contains(SlabFlags::TYPESAFE_BY_RCU) || red;
    let mut end = object;
    if red {
        end += 8; // right red zone
    }
    let fp_offset = if needs_own_fp {
        let o = end;
        end += 8;
        o
    } else {
        0
    };
    let track_offset = end;
    if debug {
        end += 24; // state, alloc caller, free caller
    }
    let size = align_up(red_left + end, align);
    let first = align_up(HEADER, align);
    // Objects a slab of `order` holds (0 when not even one fits).
    let objects = |order: u32| (PAGE << order).saturating_sub(first) / size;
    if objects(MAX_SLAB_ORDER) == 0 {
        return Err(CreateError::TooLarge(object_size));
    }
    let layout = |order: u32| ObjectLayout {
        size,
        red_left,
        fp_offset,
        track_offset,
        first,
        objects: objects(order),
        order,
    };
    // Linux's calculate_order: at least `min_objects` a slab (as many as
    // the largest order holds, if fewer), in the smallest order whose
    // leftover is at most 1/16 of the slab, else 1/8, 1/4, 1/2.
    let min_objects = min_objects.clamp(1, objects(MAX_SLAB_ORDER));
    for fraction in [16, 8, 4, 2] {
        for order in 0..=MAX_SLAB_ORDER {
            let bytes = PAGE << order;
            let n = objects(order);
            if n >= min_objects && bytes - n * size <= bytes / fraction {
                return Ok(layout(order));
            }
        }
    }
    Ok(layout(MAX_SLAB_ORDER))
}

/// Linux's default slub_min_objects: 4 x (fls(CPUs) + 1), so that a slab
/// outlasts a few allocations on every CPU (12 with 2 CPUs, 24 with 16).
pub fn min_objects(cpus: usize) -> usize {
    let fls = usize::BITS - cpus.max(1).leading_zeros();
    4 * (fls as usize + 1)
}

impl KmemCache {
    /// A cache (not yet usable: it must not move once objects exist, so
    /// the caller puts it where it will live, then uses it). CPU and node
    /// ids are below `ids` (each clamped to the compile-time maximum).
    /// The cache is tens of KiB (its per-CPU and per-node arrays): the
    /// kernel builds it in place with [`init_at`](Self::init_at) instead.
    pub fn new(
        name: &'static str,
        object_size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
        random: u64,
        ids: IdLimits,
    ) -> Result<KmemCache, CreateError> {
        let mut cache = core::mem::MaybeUninit::<KmemCache>::uninit();
        // SAFETY: `cache` is room for one KmemCache; init_at writes every
        // field when it returns Ok.
        unsafe {
            Self::init_at(
                cache.as_mut_ptr(),
                name,
                object_size,
                align,
                flags,
                ctor,
                random,
                ids,
            )?;
            Ok(cache.assume_init())
        }
    }

    /// Builds a cache at `dst`, field by field, with no copy of it on the
    /// stack. On an error nothing is written.
    ///
    /// # Safety
    /// `dst` is valid for writes of one KmemCache and suitably aligned;
    /// whatever it held is overwritten without being dropped.
    #[allow(clippy::too_many_arguments)]
    pub unsafe fn init_at(
        dst: *mut KmemCache,
        name: &'static str,
        object_size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
        random: u64,
        ids: IdLimits,
    ) -> Result<(), CreateError> {
        use core::ptr::addr_of_mut as at;
        // Every field is written below: this pattern names them all, so a
        // new field that is not written here does not compile.
        let _every_field = |c: &KmemCache| {
            let KmemCache {
                name: _,
                object_size: _,
                align: _,
                flags: _,
                layout: _,
                ctor: _,
                random: _,
                fast: _,
                stride: _,
                slab_mask: _,
                object_base: _,
                bypass_active: _,
                bypasses: _,
                defer_max: _,
                nodes: _,
                cpus: _,
                nr_cpu_ids: _,
                nr_node_ids: _,
                slabs: _,
                reports: _,
                owner_tag: _,
            } = c;
        };
        let layout = object_layout(object_size, align, flags, min_objects(ids.cpus))?;
        let fast = flags.0 & SlabFlags::DEBUG.0 == 0 && ctor.is_none();
        // SAFETY: the caller's contract; each write is to a field of `dst`.
        unsafe {
            at!((*dst).name).write(name);
            at!((*dst).object_size).write(object_size);
            at!((*dst).align).write(align.max(8));
            at!((*dst).flags).write(flags);
            at!((*dst).layout).write(layout);
            at!((*dst).ctor).write(ctor);
            at!((*dst).random).write(random | 1);
            at!((*dst).fast).write(fast);
            at!((*dst).stride).write(ExactDivisor::new(layout.size as u64));
            at!((*dst).slab_mask).write(!((PAGE << layout.order) - 1));
            at!((*dst).object_base).write(layout.first + layout.red_left);
            at!((*dst).bypass_active).write(AtomicI64::new(0));
            at!((*dst).bypasses).write(AtomicU64::new(0));
            at!((*dst).defer_max).write(if fast {
                (DEFER_BYTES / layout.size).clamp(8, 64) as u8
            } else {
                0
            });
            let nodes = at!((*dst).nodes) as *mut Mutex<NodeSlabs>;
            for i in 0..MAX_NUMNODES {
                nodes.add(i).write(Mutex::new(NodeSlabs {
                    partial: ptr::null_mut(),
                    nr_partial: 0,
                    nr_slabs: 0,
                }));
            }
            let cpus = at!((*dst).cpus) as *mut CpuSlot;
            for i in 0..MAX_CPUS {
                cpus.add(i).write(CpuSlot {
                    slab: UnsafeCell::new(CpuSlab {
                        slab: ptr::null_mut(),
                        freelist: ptr::null_mut(),
                        partial: ptr::null_mut(),
                        nr_partial: 0,
                        home: u32::MAX,
                        deferred: ptr::null_mut(),
                        nr_deferred: 0,
                        remote: ptr::null_mut(),
                        nr_remote: 0,
                    }),
                    active: AtomicI64::new(0),
                    busy: AtomicBool::new(false),
                });
            }
            at!((*dst).nr_cpu_ids).write(ids.cpus.clamp(1, MAX_CPUS));
            at!((*dst).nr_node_ids).write(ids.nodes.clamp(1, MAX_NUMNODES));
            at!((*dst).slabs).write(AtomicU64::new(0));
            at!((*dst).reports).write(AtomicU64::new(0));
            at!((*dst).owner_tag).write(AtomicU32::new(u32::MAX));
        }
        Ok(())
    }

    /// Whether the cache's fast paths apply (no debug flag, no
    /// constructor): KFENCE samples only such caches.
    pub fn is_fast(&self) -> bool {
        self.fast
    }

    /// The slots of the CPUs that can exist.
    fn possible_cpus(&self) -> &[CpuSlot] {
        &self.cpus[..self.nr_cpu_ids]
    }

    /// Objects handed out and not yet freed, over every CPU.
    pub fn active_objects(&self) -> u64 {
        let sum: i64 = self
            .possible_cpus()
            .iter()
            .map(|c| c.active.load(Relaxed))
            .sum();
        (sum + self.bypass_active.load(Relaxed)).max(0) as u64
    }

    // --- fast paths ---------------------------------------------------------

    /// One object from CPU `cpu`'s list, or null: then call the slow path
    /// (`alloc_cached`, interrupts off), which also handles debug caches,
    /// constructors, named nodes and refills.
    ///
    /// # Safety
    /// Runs on CPU `cpu` and is not moved off it meanwhile (no preemption);
    /// interrupts may be on. The cache does not move.
    #[inline(always)]
    pub unsafe fn alloc_fast(&self, cpu: usize) -> *mut u8 {
        let slot = &self.cpus[cpu];
        if !self.fast || slot.busy.load(Relaxed) {
            return ptr::null_mut();
        }
        slot.busy.store(true, Relaxed);
        // Only this CPU's interrupt handlers race with us: a compiler
        // fence orders the flag against the slot's accesses for them.
        compiler_fence(SeqCst);
        // SAFETY: the slot is this CPU's and marked busy, so no handler
        // that interrupts us touches it.
        let c = unsafe { &mut *slot.slab.get() };
        let mut obj = c.freelist;
        if !obj.is_null() {
            // SAFETY: objects on the CPU list belong to its active slab.
            c.freelist = unsafe { self.get_fp(obj) };
            slot.count(1);
        } else {
            obj = self.pop_deferred(c);
            if !obj.is_null() {
                slot.count(1);
            }
        }
        compiler_fence(SeqCst);
        slot.busy.store(false, Relaxed);
        obj
    }

    /// Frees `obj` onto CPU `cpu`'s lists: the active slab's list if it
    /// lies there, else the deferred list (a slab of the CPU's home node)
    /// or the remote list (any other node), while that list has room; an
    /// object start, not the list's head (the naive double-free check).
    /// False: call the slow path ([`free`](Self::free)), which gives a
    /// full list back to its slabs and handles everything else.
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast); besides, the caller knows
    /// (from its own records of slab pages) that `obj` lies in a live slab
    /// of this cache, so its header may be read.
    #[inline(always)]
    pub unsafe fn free_fast_tagged(&self, cpu: usize, obj: *mut u8) -> bool {
        let slot = &self.cpus[cpu];
        if !self.fast || slot.busy.load(Relaxed) {
            return false;
        }
        let base = self.slab_base(obj);
        slot.busy.store(true, Relaxed);
        compiler_fence(SeqCst);
        // SAFETY: as in alloc_fast.
        let c = unsafe { &mut *slot.slab.get() };
        let mut ours = self.is_object_start(base, obj);
        if ours && ptr::eq(c.slab as *mut u8, base) {
            ours = c.freelist != obj;
            if ours {
                // SAFETY: an object of the active slab, which is live.
                unsafe { self.set_fp(obj, c.freelist) };
                c.freelist = obj;
            }
        } else if ours {
            // SAFETY: `base` is a live slab of this cache (the caller's contract).
            let home = unsafe { ptr::addr_of!((*(base as *mut SlabHeader)).node).read() };
            let (list, len) = c.list(home != c.home);
            ours = *len < self.defer_max && *list != obj;
            if ours {
                // SAFETY: an object of a live slab, now free.
                unsafe { self.push_object(list, len, obj) };
            }
        }
        if ours {
            slot.count(-1);
        }
        compiler_fence(SeqCst);
        slot.busy.store(false, Relaxed);
        ours
    }

    /// Frees `obj` onto CPU `cpu`'s list if it lies in the CPU's active
    /// slab of this cache (which proves it is an object of this cache: no
    /// header is read) at an object's start and is not the list's head (the
    /// naive double-free check). False: call the slow path, which handles
    /// and reports everything else.
    ///
    /// # Safety
    /// As for [`alloc_fast`](Self::alloc_fast).
    #[inline(always)]
    pub unsafe fn free_fast(&self, cpu: usize, obj: *mut u8) -> bool {
        let slot = &self.cpus[cpu];
        if !self.fast || slot.busy.load(Relaxed) {
            return false;
        }
        let base = self.slab_base(obj);
        slot.busy.store(true, Relaxed);
        compiler_fence(SeqCst);
        // SAFETY: as in alloc_fast.
        let c = unsafe { &mut *slot.slab.get() };
        let ours = ptr::eq(c.slab as *mut u8, base)
            && !base.is_null()
            && self.is_object_start(base, obj)
            && c.freelist != obj;
        if ours {
            // SAFETY: an object of the active slab, which is live.
            unsafe { self.set_fp(obj, c.freelist) };
            c.freelist = obj;
            slot.count(-1);
        }
        compiler_fence(SeqCst);
        slot.busy.store(false, Relaxed);
        ours
    }

    /// The slab `obj` would lie in: slabs are naturally aligned blocks.
    #[inline(always)]
    fn slab_base(&self, obj: *mut u8) -> *mut u8 {
        obj.map_addr(|a| a & self.slab_mask)
    }

    /// Pushes the free object `obj` onto a slot's list (`list`, of `len`
    /// objects): its deferred or its remote one.
    ///
    /// # Safety
    /// `obj` is a free object of a live slab of this cache, on no list.
    #[inline(always)]
    unsafe fn push_object(&self, list: &mut *mut u8, len: &mut u8, obj: *mut u8) {
        // SAFETY: the caller's contract.
        unsafe { self.set_fp(obj, *list) };
        *list = obj;
        *len += 1;
    }

    /// Takes the last object pushed on a slot's list, or null.
    #[inline(always)]
    fn pop_object(&self, list: &mut *mut u8, len: &mut u8) -> *mut u8 {
        let obj = *list;
        if !obj.is_null() {
            // SAFETY: the lists hold free objects of live slabs, chained
            // by this slot's CPU.
            *list = unsafe { self.get_fp(obj) };
            *len -= 1;
        }
        obj
    }

    /// Takes the last object on slot `c`'s deferred list (`remote`: its
    /// remote list), or null.
    #[inline(always)]
    fn pop_list(&self, c: &mut CpuSlab, remote: bool) -> *mut u8 {
        let (list, len) = c.list(remote);
        self.pop_object(list, len)
    }

    /// Takes the last object deferred on slot `c`, or null.
    #[inline(always)]
    fn pop_deferred(&self, c: &mut CpuSlab) -> *mut u8 {
        self.pop_list(c, false)
    }

    /// Whether `obj` is the start of an object slot of the slab at `base`:
    /// the exact quotient of its offset from the first object is below the
    /// slab's count only for an object's start (an offset below the first
    /// object wraps and fails the same compare).
    #[inline(always)]
    fn is_object_start(&self, base: *mut u8, obj: *mut u8) -> bool {
        let off = (obj as usize).wrapping_sub(base as usize + self.object_base);
        self.stride.quotient(off as u64) < self.layout.objects as u64
    }

    /// One object from a partial slab of `node` without touching CPU
    /// `cpu`'s slot (an interrupt found it busy). Ok(None): no partial
    /// slab; add one and call again.
    ///
    /// # Safety
    /// As for `alloc_cached`; the cache is a fast one (no debug, no ctor).
    unsafe fn alloc_bypass(&self, node: usize) -> Result<Option<*mut u8>, SlabReport> {
        let mut n = self.nodes[node].lock();
        loop {
            let s = n.partial;
            if s.is_null() {
                return Ok(None);
            }
            // SAFETY: list members are live slabs of this node, under its lock.
            unsafe {
                let obj = (*s).freelist;
                if obj.is_null() {
                    // Frozen slabs are not on the list; an empty list here
                    // means full: it leaves the list, a free brings it back.
                    Self::unlink_partial(&mut n, s);
                    continue;
                }
                (*s).freelist = self.get_fp(obj);
                (*s).inuse += 1;
                if (*s).freelist.is_null() {
                    Self::unlink_partial(&mut n, s);
                }
                self.bypass_active.fetch_add(1, Relaxed);
                self.bypasses.fetch_add(1, Relaxed);
                return Ok(Some(obj));
            }
        }
    }

    pub fn total_slabs(&self) -> u64 {
        self.slabs.load(Relaxed)
    }

    fn debug(&self) -> bool {
        self.flags.0 & SlabFlags::DEBUG.0 != 0
    }

    // --- raw object helpers -------------------------------------------------

    /// The user pointer of object `i` of `slab`.
    fn object(&self, slab: *mut SlabHeader, i: usize) -> *mut u8 {
        let l = &self.layout;
        (slab as *mut u8).wrapping_add(self.object_base + i * l.size)
    }

    /// The stored form of a free pointer: its address (provenance exposed,
    /// to be recovered on decode) XOR the secret XOR the swapped slot address.
    #[inline(always)]
    fn encode(&self, next: *mut u8, slot: usize) -> usize {
        encode_fp(next, slot, self.random as usize)
    }

    /// # Safety
    /// `obj` is an object of this cache in a live slab.
    #[inline(always)]
    unsafe fn get_fp(&self, obj: *mut u8) -> *mut u8 {
        let slot = obj.wrapping_add(self.layout.fp_offset) as *mut usize;
        // SAFETY: the free-pointer slot lies within the object's stride.
        let stored = unsafe { slot.read_unaligned() };
        ptr::with_exposed_provenance_mut(
            stored ^ self.random as usize ^ (slot as usize).swap_bytes(),
        )
    }

    /// # Safety
    /// As for `get_fp`.
    #[inline(always)]
    unsafe fn set_fp(&self, obj: *mut u8, next: *mut u8) {
        let slot = obj.wrapping_add(self.layout.fp_offset) as *mut usize;
        // SAFETY: as in get_fp.
        unsafe { slot.write_unaligned(self.encode(next, slot as usize)) };
    }

    fn track(&self, obj: *mut u8) -> *mut u64 {
        obj.wrapping_add(self.layout.track_offset) as *mut u64
    }

    /// # Safety
    /// `obj` is an object of this cache in a live slab.
    unsafe fn callers(&self, obj: *mut u8) -> (u64, u64) {
        if !self.flags.contains(SlabFlags::STORE_USER) {
            return (0, 0);
        }
        let t = self.track(obj);
        // SAFETY: the debug words follow the object within its stride.
        unsafe { (t.add(1).read(), t.add(2).read()) }
    }

    fn report(&self, obj: *mut u8, error: SlabError) -> SlabReport {
        self.reports.fetch_add(1, Relaxed);
        // SAFETY: only called with objects found inside this cache's slabs.
        let (alloc_caller, free_caller) = unsafe { self.callers(obj) };
        SlabReport {
            cache: self.name,
            error,
            alloc_caller,
            free_caller,
        }
    }

    /// Marks a fresh or freed object free: poison, red zones, state.
    ///
    /// # Safety
    /// `obj` is an object of this cache in a live slab, not in use.
    unsafe fn init_free_object(&self, obj: *mut u8) {
        let l = &self.layout;
        // SAFETY: every write stays within the object's stride.
        unsafe {
            if self.flags.contains(SlabFlags::POISON) {
                ptr::write_bytes(obj, POISON_FREE, self.object_size - 1);
                obj.add(self.object_size - 1).write(POISON_END);
            }
            if self.flags.contains(SlabFlags::RED_ZONE) {
                ptr::write_bytes(obj.sub(l.red_left), RED_INACTIVE, l.red_left);
                let right = align_up(self.object_size.max(8), 8) + 8 - self.object_size;
                ptr::write_bytes(obj.add(self.object_size), RED_INACTIVE, right);
            }
            if self.debug() {
                self.track(obj).write(STATE_FREE);
            }
        }
    }

    /// Checks red zones equal `expect`.
    ///
    /// # Safety
    /// As for `init_free_object`.
    unsafe fn check_red_zones(&self, obj: *mut u8, expect: u8) -> Result<(), SlabError> {
        if !self.flags.contains(SlabFlags::RED_ZONE) {
            return Ok(());
        }
        let l = &self.layout;
        let right = align_up(self.object_size.max(8), 8) + 8 - self.object_size;
        // SAFETY: within the stride.
        unsafe {
            for i in 0..l.red_left {
                let b = obj.sub(l.red_left - i).read();
                if b != expect {
                    return Err(SlabError::RedZoneOverwritten {
                        addr: obj as usize,
                        offset: -((l.red_left - i) as isize),
                        found: b,
                    });
                }
            }
            for i in 0..right {
                let b = obj.add(self.object_size + i).read();
                if b != expect {
                    return Err(SlabError::RedZoneOverwritten {
                        addr: obj as usize,
                        offset: (self.object_size + i) as isize,
                        found: b,
                    });
                }
            }
        }
        Ok(())
    }

    /// Debug checks on an object leaving the free list.
    ///
    /// # Safety
    /// As for `init_free_object`.
    unsafe fn check_on_alloc(&self, obj: *mut u8) -> Result<(), SlabError> {
        // SAFETY: within the stride.
        unsafe {
            if self.flags.contains(SlabFlags::POISON) {
                let skip = if self.layout.fp_offset < self.object_size {
                    8
                } else {
                    0
                };
                for i in skip..self.object_size {
                    let want = if i == self.object_size - 1 {
                        POISON_END
                    } else {
                        POISON_FREE
                    };
                    let b = obj.add(i).read();
                    if b != want {
                        return Err(SlabError::WriteAfterFree {
                            addr: obj as usize,
                            offset: i,
                            found: b,
                        });
                    }
                }
            }
            self.check_red_zones(obj, RED_INACTIVE)
        }
    }

    /// # Safety
    /// As for `init_free_object`, the object now in use.
    unsafe fn mark_allocated(&self, obj: *mut u8, caller: u64) {
        // SAFETY: within the stride.
        unsafe {
            if self.flags.contains(SlabFlags::RED_ZONE) {
                let l = &self.layout;
                ptr::write_bytes(obj.sub(l.red_left), RED_ACTIVE, l.red_left);
                let right = align_up(self.object_size.max(8), 8) + 8 - self.object_size;
                ptr::write_bytes(obj.add(self.object_size), RED_ACTIVE, right);
            }
            if self.debug() {
                self.track(obj).write(STATE_ALLOCATED);
            }
            if self.flags.contains(SlabFlags::STORE_USER) {
                self.track(obj).add(1).write(caller);
            }
            if let Some(ctor) = self.ctor {
                ctor(obj);
            }
        }
    }

    /// The slab and object index of `addr`, checked.
    fn locate(&self, addr: *mut u8) -> Result<(*mut SlabHeader, usize), SlabError> {
        let a = addr as usize;
        let slab = self.slab_base(addr) as *mut SlabHeader;
        // SAFETY: a slab of this cache starts with a header; for a foreign
        // pointer this reads the block's first words, which the caller
        // guarantees are mapped (it found the block through the page
        // allocator), and the magic check rejects them.
        let magic = unsafe { ptr::addr_of!((*slab).magic).read() };
        let cache = unsafe { ptr::addr_of!((*slab).cache).read() };
        if magic != self.slab_magic() || !core::ptr::eq(cache, self) {
            return Err(SlabError::ForeignPointer { addr: a });
        }
        let first = slab as usize + self.object_base;
        let from_first = a.wrapping_sub(first);
        let i = self.stride.quotient(from_first as u64);
        if i < self.layout.objects as u64 {
            return Ok((slab, i as usize));
        }
        // Not a start (rare, so a division is fine here): inside the
        // objects, the report says how far into one it points.
        let k = from_first / self.layout.size;
        if a >= first && k < self.layout.objects {
            let offset = from_first - k * self.layout.size;
            return Err(SlabError::NotObjectStart { addr: a, offset });
        }
        Err(SlabError::ForeignPointer { addr: a })
    }

    /// Turns a fresh block of 2^order pages on `node` into a slab with
    /// every object free, on the node's partial list.
    ///
    /// # Safety
    /// `block` is a naturally aligned block of `PAGE << layout.order`
    /// bytes that nothing else uses, and the cache does not move.
    pub unsafe fn add_slab(&self, block: *mut u8, node: usize) {
        let slab = block as *mut SlabHeader;
        // SAFETY: the header and every object lie inside the block.
        unsafe {
            slab.write(self.fresh_header(node, 0, 0));
            if self.debug() {
                for i in (0..self.layout.objects).rev() {
                    let obj = self.object(slab, i);
                    // No call sites yet: the words are read by reports.
                    ptr::write_bytes(self.track(obj), 0, 3);
                    self.init_free_object(obj);
                    self.set_fp(obj, (*slab).freelist);
                    (*slab).freelist = obj;
                }
            } else {
                (*slab).freelist = self.chain_objects(slab);
            }
            let mut n = self.nodes[node].lock();
            n.nr_slabs += 1;
            Self::push_partial(&mut n, slab);
        }
        self.slabs.fetch_add(1, Relaxed);
    }

    /// What a slab of this cache holds in its header's `magic`: the
    /// constant mixed with the cache's address, so a slab of another
    /// cache (or a stale one) does not pass for ours.
    fn slab_magic(&self) -> u64 {
        SLAB_MAGIC ^ (self as *const _ as u64)
    }

    /// The header of a fresh slab on `node`, on no list, with no free
    /// list of its own yet.
    fn fresh_header(&self, node: usize, inuse: u32, frozen: u32) -> SlabHeader {
        SlabHeader {
            magic: self.slab_magic(),
            cache: self,
            freelist: ptr::null_mut(),
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            inuse,
            node: node as u32,
            frozen,
            on_partial: 0,
        }
    }

    /// Makes the fresh `block` on `node` CPU `cpu`'s active slab and takes
    /// its first object, when the slot is free for it: a fast cache, no
    /// fast path under us, no active slab (the caller's `alloc_cached`
    /// found none with room and no interrupt installed one since), and
    /// `node` the one `want_node` names if any. This skips the node's
    /// partial list and a second `alloc_cached`. Otherwise the slab goes
    /// onto the node's partial list as [`add_slab`](Self::add_slab) puts
    /// it, and None says: call `alloc_cached` again.
    ///
    /// # Safety
    /// As for `add_slab` and `alloc_cached`.
    pub unsafe fn add_slab_active(
        &self,
        cpu: usize,
        block: *mut u8,
        node: usize,
        want_node: Option<usize>,
    ) -> Option<*mut u8> {
        let slot = &self.cpus[cpu];
        // SAFETY: this CPU's slot (the caller's contract); only read
        // unless it is free for the slab.
        let c = unsafe { &mut *slot.slab.get() };
        if !self.fast
            || slot.busy.load(Relaxed)
            || !c.slab.is_null()
            || !c.freelist.is_null()
            || want_node.is_some_and(|w| w != node)
        {
            // SAFETY: the caller's contract.
            unsafe { self.add_slab(block, node) };
            return None;
        }
        let slab = block as *mut SlabHeader;
        // SAFETY: the block is fresh and ours (the caller's contract);
        // frozen to this CPU, the slab is on no list.
        let obj = unsafe {
            slab.write(self.fresh_header(node, self.layout.objects as u32, cpu as u32 + 1));
            let head = self.chain_objects(slab);
            c.freelist = self.get_fp(head);
            head
        };
        c.slab = slab;
        if want_node.is_none() {
            c.home = node as u32;
        }
        self.nodes[node].lock().nr_slabs += 1;
        self.slabs.fetch_add(1, Relaxed);
        slot.count(1);
        Some(obj)
    }

    /// Chains every object of the fresh `slab` of a fast cache (nothing to
    /// poison or mark) in address order; the head. Built from locals,
    /// walking up by the stride, with one pointer and its bound live in
    /// the loop: the layout's fields would be reloaded after every store
    /// through an object pointer, and a loop counted separately was
    /// unrolled into a pointer per lane, spilled (20 instructions an
    /// object instead of 8).
    ///
    /// # Safety
    /// `slab` is a fresh block of this cache's slab size that nothing else uses.
    #[inline(always)]
    unsafe fn chain_objects(&self, slab: *mut SlabHeader) -> *mut u8 {
        let (random, fp, size) = (
            self.random as usize,
            self.layout.fp_offset,
            self.layout.size,
        );
        let first = self.object(slab, 0);
        let last = self.object(slab, self.layout.objects - 1);
        let mut obj = first;
        while obj != last {
            let next = obj.wrapping_add(size);
            let slot = obj.wrapping_add(fp) as *mut usize;
            // SAFETY: every slot lies inside the block (the caller's contract).
            // The free pointer as `set_fp` stores it.
            unsafe { slot.write_unaligned(encode_fp(next, slot as usize, random)) };
            obj = next;
        }
        let slot = last.wrapping_add(fp) as *mut usize;
        // SAFETY: as above; the last object ends the chain.
        unsafe { slot.write_unaligned(encode_fp(ptr::null_mut(), slot as usize, random)) };
        first
    }

    /// # Safety
    /// Under the node lock, `slab` on this node's list.
    unsafe fn unlink_partial(n: &mut NodeSlabs, slab: *mut SlabHeader) {
        // SAFETY: list members are live slabs of this node.
        unsafe {
            let (prev, next) = ((*slab).prev, (*slab).next);
            if prev.is_null() {
                n.partial = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            (*slab).on_partial = 0;
        }
        n.nr_partial -= 1;
    }

    /// # Safety
    /// Under the node lock, `slab` a slab of this node not on the list.
    unsafe fn push_partial(n: &mut NodeSlabs, slab: *mut SlabHeader) {
        // SAFETY: as above.
        unsafe {
            (*slab).prev = ptr::null_mut();
            (*slab).next = n.partial;
            if !n.partial.is_null() {
                (*n.partial).prev = slab;
            }
            (*slab).on_partial = 1;
        }
        n.partial = slab;
        n.nr_partial += 1;
    }

    /// Allocates one object for CPU `cpu`, taking a new slab from `pages`
    /// when no slab has room: `alloc_cached` then `add_slab`, as the
    /// kernel does with interrupts on between the two.
    ///
    /// # Safety
    /// As for `alloc_cached`.
    pub unsafe fn alloc(
        &self,
        cpu: usize,
        node: usize,
        pages: &dyn SlabPages,
        caller: u64,
    ) -> Result<Option<*mut u8>, SlabReport> {
        let mut node = node;
        loop {
            // SAFETY: the caller's contract.
            if let Some(obj) = unsafe { self.alloc_cached(cpu, node, None, caller)? } {
                return Ok(Some(obj));
            }
            let Some((block, got)) = pages.alloc(node, self.layout.order) else {
                return Ok(None);
            };
            // SAFETY: the caller's contract; the block is fresh.
            if let Some(obj) = unsafe { self.add_slab_active(cpu, block, got, None) } {
                return Ok(Some(obj));
            }
            node = got;
        }
    }

    /// Allocates one object for CPU `cpu` from the slabs the cache has:
    /// the CPU's active slab (when `want_node` is None or its node), else
    /// a partial slab of `node` (the CPU's active slab is given back
    /// first). `Ok(None)` means no slab has room: add one and call again.
    /// `caller` is recorded with STORE_USER.
    ///
    /// # Safety
    /// Runs on CPU `cpu` with interrupts off (or, on the host, `cpu` is
    /// used by one thread), and the cache does not move.
    pub unsafe fn alloc_cached(
        &self,
        cpu: usize,
        node: usize,
        want_node: Option<usize>,
        caller: u64,
    ) -> Result<Option<*mut u8>, SlabReport> {
        if self.cpus[cpu].busy.load(Relaxed) {
            // An interrupt over this CPU's fast path: the slot is not ours.
            // SAFETY: the caller's contract; fast caches only set `busy`.
            return unsafe { self.alloc_bypass(want_node.unwrap_or(node)) };
        }
        // SAFETY: this CPU's slot, by the caller's contract.
        let c = unsafe { &mut *self.cpus[cpu].slab.get() };
        if want_node.is_none() {
            c.home = node as u32;
        }
        // An allocation for a named node does not take the active slab of
        // another node (Linux's node_match).
        if let Some(want) = want_node {
            // SAFETY: the active slab is live.
            if !c.slab.is_null() && unsafe { (*c.slab).node } as usize != want {
                // SAFETY: the caller's contract covers the slot; the slab
                // stays on its node's list even if empty (no pages here).
                unsafe { self.flush_slot(c, false) };
            }
        }
        // Deferred objects are of `home`'s slabs, never in debug caches.
        if want_node.is_none_or(|w| w as u32 == c.home) {
            let obj = self.pop_deferred(c);
            if !obj.is_null() {
                self.cpus[cpu].count(1);
                return Ok(Some(obj));
            }
        }
        loop {
            if !c.freelist.is_null() {
                let obj = c.freelist;
                // SAFETY: objects on the CPU list belong to its active slab.
                unsafe {
                    c.freelist = self.get_fp(obj);
                    if self.debug() {
                        if let Err(e) = self.check_on_alloc(obj) {
                            // Leave the damaged object out of circulation.
                            return Err(self.report(obj, e));
                        }
                    }
                    self.mark_allocated(obj, caller);
                }
                self.cpus[cpu].count(1);
                return Ok(Some(obj));
            }
            if !c.slab.is_null() {
                // The active slab's own list: objects other CPUs freed.
                // SAFETY: the active slab is live; its list is under its node's lock.
                unsafe {
                    let slab = c.slab;
                    let n = self.nodes[(*slab).node as usize].lock();
                    if !(*slab).freelist.is_null() {
                        c.freelist = (*slab).freelist;
                        (*slab).freelist = ptr::null_mut();
                        (*slab).inuse = self.layout.objects as u32;
                        continue;
                    }
                    // Full: it leaves this CPU and no list holds it.
                    (*slab).frozen = 0;
                    drop(n);
                }
                c.slab = ptr::null_mut();
            }
            // This CPU's own partial slabs first (already frozen to it).
            if !c.partial.is_null() {
                // SAFETY: the CPU's partial slabs are live, frozen to it.
                let (slab, slab_node) = unsafe { (c.partial, (*c.partial).node as usize) };
                if want_node.unwrap_or(node) == slab_node {
                    // SAFETY: as above; its free list is under its node's lock.
                    unsafe {
                        c.partial = (*slab).next;
                        c.nr_partial -= 1;
                        let _n = self.nodes[slab_node].lock();
                        (*slab).next = ptr::null_mut();
                        c.freelist = (*slab).freelist;
                        (*slab).freelist = ptr::null_mut();
                        (*slab).inuse = self.layout.objects as u32;
                    }
                    c.slab = slab;
                    continue;
                }
            }
            // A partial slab of this node.
            // SAFETY: list members are live slabs; taken under the lock, and
            // frozen for this CPU before the lock is dropped.
            let slab = unsafe {
                let mut n = self.nodes[node].lock();
                let s = n.partial;
                if s.is_null() {
                    return Ok(None);
                }
                Self::unlink_partial(&mut n, s);
                (*s).frozen = cpu as u32 + 1;
                c.freelist = (*s).freelist;
                (*s).freelist = ptr::null_mut();
                (*s).inuse = self.layout.objects as u32;
                s
            };
            c.slab = slab;
        }
    }

    /// Frees `obj` from CPU `cpu`. A bad free is reported and changes nothing.
    ///
    /// # Safety
    /// As for `alloc`; `obj` must lie in memory that is mapped (the kernel
    /// found it through the page allocator or the caller owns it).
    pub unsafe fn free(
        &self,
        cpu: usize,
        obj: *mut u8,
        pages: &dyn SlabPages,
        caller: u64,
    ) -> Result<(), SlabReport> {
        let (slab, _) = self.locate(obj).map_err(|e| {
            self.reports.fetch_add(1, Relaxed);
            SlabReport {
                cache: self.name,
                error: e,
                alloc_caller: 0,
                free_caller: 0,
            }
        })?;
        // SAFETY: `obj` is an object of a live slab of this cache (checked).
        unsafe {
            if self.debug() {
                if self.track(obj).read() != STATE_ALLOCATED {
                    return Err(self.report(obj, SlabError::DoubleFree { addr: obj as usize }));
                }
                if let Err(e) = self.check_red_zones(obj, RED_ACTIVE) {
                    return Err(self.report(obj, e));
                }
                if self.flags.contains(SlabFlags::STORE_USER) {
                    self.track(obj).add(2).write(caller);
                }
                self.init_free_object(obj);
            }
            if self.cpus[cpu].busy.load(Relaxed) {
                // An interrupt over this CPU's fast path: the slot is not
                // ours; the object goes to its slab under the node lock.
                return self.free_bypass(obj, slab, pages);
            }
            let c = &mut *self.cpus[cpu].slab.get();
            if c.slab == slab {
                // Back onto this CPU's list.
                if c.freelist == obj {
                    return Err(self.report(obj, SlabError::DoubleFree { addr: obj as usize }));
                }
                self.set_fp(obj, c.freelist);
                c.freelist = obj;
                self.cpus[cpu].count(-1);
                return Ok(());
            }
            if self.defer_max > 0 {
                // The fast path found the list full (or was not tried): a
                // home-node object onto the deferred list, another node's
                // (or one freed on a CPU that has not allocated here yet)
                // onto the remote list.
                return self.defer_slow(cpu, c, (*slab).node != c.home, obj, pages);
            }
            self.free_to_slab(cpu, c, obj, slab, pages)?;
            self.cpus[cpu].count(-1);
        }
        Ok(())
    }

    /// Pushes `obj` onto slot `c`'s deferred list (`remote`: its remote
    /// list), giving a full list back to its slabs first. The naive
    /// double-free check comes before the flush, which would empty the list
    /// the check looks at.
    ///
    /// # Safety
    /// As for [`free_to_slab`](Self::free_to_slab): `obj` is an object of a
    /// live slab of this cache, not the slot's active one.
    unsafe fn defer_slow(
        &self,
        cpu: usize,
        c: &mut CpuSlab,
        remote: bool,
        obj: *mut u8,
        pages: &dyn SlabPages,
    ) -> Result<(), SlabReport> {
        let (head, len) = c.list(remote);
        let (head, len) = (*head, *len);
        if head == obj {
            return Err(self.report(obj, SlabError::DoubleFree { addr: obj as usize }));
        }
        let flushed = if len >= self.defer_max {
            // SAFETY: the caller's contract.
            unsafe { self.flush_list(cpu, c, remote, pages) }
        } else {
            Ok(())
        };
        let (list, len) = c.list(remote);
        // SAFETY: a free object of a live slab, on no list now.
        unsafe { self.push_object(list, len, obj) };
        self.cpus[cpu].count(-1);
        flushed
    }

    /// Puts `obj` back on its `slab`'s own list; `slab` is not the active
    /// slab of CPU `cpu`'s slot `c`. A full slab becomes the CPU's partial
    /// slab, an empty one may go back to the page allocator.
    ///
    /// # Safety
    /// `c` is CPU `cpu`'s slot, used by it alone; `obj` is an object of the
    /// live `slab` of this cache that is on no free list.
    unsafe fn free_to_slab(
        &self,
        cpu: usize,
        c: &mut CpuSlab,
        obj: *mut u8,
        slab: *mut SlabHeader,
        pages: &dyn SlabPages,
    ) -> Result<(), SlabReport> {
        // SAFETY: the caller's contract; the slab's list and counts are
        // under its node's lock.
        unsafe {
            let mut n = self.nodes[(*slab).node as usize].lock();
            self.push_locked(obj, slab, &mut n)?;
            self.settle_freed(cpu, c, slab, n, pages);
        }
        Ok(())
    }

    /// After frees into `slab` on CPU `cpu` (slot `c`): a slab a CPU holds
    /// is left to it; one that was full (on no list) and is of the CPU's
    /// home node becomes its partial slab, even if the frees emptied it,
    /// as Linux's __slab_free freezes a slab that had no free object; any
    /// other is settled. The lock comes back unless the slab was discarded.
    ///
    /// # Safety
    /// `n` is the lock of the live `slab`'s node; the slot is the running
    /// CPU's.
    unsafe fn settle_freed<'n>(
        &'n self,
        cpu: usize,
        c: &mut CpuSlab,
        slab: *mut SlabHeader,
        n: spin::MutexGuard<'n, NodeSlabs>,
        pages: &dyn SlabPages,
    ) -> Option<spin::MutexGuard<'n, NodeSlabs>> {
        // SAFETY: the caller's contract; the slab's list and counts are
        // under its node's lock.
        unsafe {
            if (*slab).frozen != 0 {
                return Some(n); // its CPU will find it
            }
            if (*slab).on_partial == 0 && (*slab).node == c.home && c.nr_partial < CPU_PARTIAL_SLABS
            {
                // It was full: it becomes this CPU's partial slab, taken
                // again without the node's list (Linux's put_cpu_partial).
                (*slab).frozen = cpu as u32 + 1;
                (*slab).next = c.partial;
                c.partial = slab;
                c.nr_partial += 1;
                return Some(n);
            }
            self.settle(n, slab, pages)
        }
    }

    /// Pushes `obj` onto `slab`'s own list under its node's lock, which it
    /// returns held; the naive double-free check first.
    ///
    /// # Safety
    /// `obj` is an object of the live `slab` of this cache.
    unsafe fn push_to_slab(
        &self,
        obj: *mut u8,
        slab: *mut SlabHeader,
    ) -> Result<spin::MutexGuard<'_, NodeSlabs>, SlabReport> {
        // SAFETY: the caller's contract.
        let mut n = unsafe { self.nodes[(*slab).node as usize].lock() };
        // SAFETY: as above, with the slab's node locked.
        unsafe { self.push_locked(obj, slab, &mut n) }?;
        Ok(n)
    }

    /// The list push of `push_to_slab`, with `slab`'s node locked.
    ///
    /// # Safety
    /// As for `push_to_slab`; the caller holds `slab`'s node lock.
    unsafe fn push_locked(
        &self,
        obj: *mut u8,
        slab: *mut SlabHeader,
        _locked: &mut spin::MutexGuard<'_, NodeSlabs>,
    ) -> Result<(), SlabReport> {
        // SAFETY: the caller's contract.
        unsafe {
            if (*slab).freelist == obj {
                return Err(self.report(obj, SlabError::DoubleFree { addr: obj as usize }));
            }
            self.set_fp(obj, (*slab).freelist);
            (*slab).freelist = obj;
            (*slab).inuse -= 1;
        }
        Ok(())
    }

    /// Gives every object on CPU `cpu`'s deferred list (`remote`: its
    /// remote list) back to its slab. A double free found on the way is
    /// reported (the first is returned) and the rest still go back.
    ///
    /// # Safety
    /// As for [`free_to_slab`](Self::free_to_slab), for the slot `c`.
    unsafe fn flush_list(
        &self,
        cpu: usize,
        c: &mut CpuSlab,
        remote: bool,
        pages: &dyn SlabPages,
    ) -> Result<(), SlabReport> {
        let mut first_error = Ok(());
        let mut record = |r: Result<(), SlabReport>| {
            if first_error.is_ok() {
                first_error = r;
            }
        };
        // One node lock for a run of objects of the same node (most of
        // a batch), not one an object.
        let mut held: Option<(u32, spin::MutexGuard<'_, NodeSlabs>)> = None;
        loop {
            let (list, len) = c.list(remote);
            let obj = *list;
            if obj.is_null() || *len == 0 {
                *list = ptr::null_mut();
                *len = 0;
                break;
            }
            // SAFETY: deferred objects are free objects of live slabs of
            // this cache.
            unsafe {
                let slab = self.slab_base(obj) as *mut SlabHeader;
                let node = (*slab).node;
                let mut n = match held.take() {
                    Some((h, n)) if h == node => n,
                    other => {
                        drop(other);
                        self.nodes[node as usize].lock()
                    }
                };
                if c.slab == slab {
                    // Its slab became the active one since: onto the
                    // active slab's own list, as a remote free would.
                    let obj = self.pop_list(c, remote);
                    record(self.push_locked(obj, slab, &mut n));
                    held = Some((node, n));
                    continue;
                }
                // The run at the list's head (objects freed in allocation
                // order share their slab) goes onto the slab's list whole,
                // then the slab takes its state change once.
                if let Err(e) = self.splice_run(c, remote, slab, &mut n) {
                    record(Err(e));
                    held = Some((node, n));
                    continue;
                }
                held = self.settle_freed(cpu, c, slab, n, pages).map(|n| (node, n));
            }
        }
        first_error
    }

    /// Moves the objects at the head of slot `c`'s deferred list (`remote`:
    /// its remote list) that lie in `slab` onto the slab's own list in one
    /// splice. They are chained already: a free pointer encodes only the
    /// next object and its own slot's address, not the list it is on. The
    /// walk is bounded by the list's length, so a list a double free
    /// looped still ends. The naive double-free check of the one new link
    /// (the run's last object onto the slab's head) comes first; a run
    /// that fails it is left out whole and reported.
    ///
    /// # Safety
    /// As for [`push_locked`](Self::push_locked); the list's objects are
    /// free objects of live slabs of this cache.
    unsafe fn splice_run(
        &self,
        c: &mut CpuSlab,
        remote: bool,
        slab: *mut SlabHeader,
        _locked: &mut spin::MutexGuard<'_, NodeSlabs>,
    ) -> Result<(), SlabReport> {
        let (list, len) = c.list(remote);
        let head = *list;
        // The end of the list (null) fails the slab test too.
        let (max, mask, base) = (*len, self.slab_mask, slab as usize);
        let (mut tail, mut cur, mut count) = (ptr::null_mut(), head, 0u8);
        while count < max && cur as usize & mask == base {
            tail = cur;
            // SAFETY: a free object of a live slab (the caller's contract).
            cur = unsafe { self.get_fp(cur) };
            count += 1;
        }
        if count == 0 {
            return Ok(());
        }
        *list = cur;
        *len -= count;
        // SAFETY: the caller's contract: the slab is live, its list and
        // counts under its node's lock (`_locked`).
        unsafe {
            if (*slab).freelist == tail || (*slab).freelist == head {
                return Err(self.report(
                    tail,
                    SlabError::DoubleFree {
                        addr: tail as usize,
                    },
                ));
            }
            self.set_fp(tail, (*slab).freelist);
            (*slab).freelist = head;
            (*slab).inuse -= u32::from(count);
        }
        Ok(())
    }

    /// After a free into `slab`, which no CPU holds: an empty slab beyond
    /// the node's MIN_PARTIAL goes back to the page allocator, one that
    /// was full joins the node's partial list.
    ///
    /// # Safety
    /// `n` is the locked list of `slab`'s node; `slab` is live, not frozen.
    unsafe fn settle<'n>(
        &self,
        mut n: spin::MutexGuard<'n, NodeSlabs>,
        slab: *mut SlabHeader,
        pages: &dyn SlabPages,
    ) -> Option<spin::MutexGuard<'n, NodeSlabs>> {
        // SAFETY: the caller's contract.
        unsafe {
            if (*slab).inuse == 0 && n.nr_partial >= MIN_PARTIAL {
                if (*slab).on_partial != 0 {
                    Self::unlink_partial(&mut n, slab);
                }
                n.nr_slabs -= 1;
                drop(n);
                self.discard(slab, pages);
                return None;
            } else if (*slab).on_partial == 0 {
                Self::push_partial(&mut n, slab);
            }
            Some(n)
        }
    }

    /// Frees `obj` of `slab` to the slab itself, never to a CPU's slot or
    /// partial list (the running CPU's slot is busy under us).
    ///
    /// # Safety
    /// As for `free`, with `obj` located in `slab`.
    unsafe fn free_bypass(
        &self,
        obj: *mut u8,
        slab: *mut SlabHeader,
        pages: &dyn SlabPages,
    ) -> Result<(), SlabReport> {
        // SAFETY: `slab` is a live slab of this cache; its list and counts
        // are under its node's lock.
        unsafe {
            let n = self.push_to_slab(obj, slab)?;
            self.bypass_active.fetch_sub(1, Relaxed);
            self.bypasses.fetch_add(1, Relaxed);
            if (*slab).frozen != 0 {
                return Ok(()); // its CPU will find it
            }
            self.settle(n, slab, pages);
        }
        Ok(())
    }

    /// # Safety
    /// `slab` is off every list and has no object in use.
    unsafe fn discard(&self, slab: *mut SlabHeader, pages: &dyn SlabPages) {
        // SAFETY: the header is ours; clearing the magic makes stale
        // pointers into this block foreign from now on.
        unsafe { ptr::addr_of_mut!((*slab).magic).write(0) };
        self.slabs.fetch_sub(1, Relaxed);
        pages.free(slab as *mut u8, self.layout.order);
    }

    /// Gives CPU `cpu`'s active slab back to its node. False, and nothing
    /// done, when the call interrupted a fast path on that CPU (an IPI):
    /// the caller asks again.
    ///
    /// # Safety
    /// As for `alloc_cached`.
    #[must_use]
    pub unsafe fn flush_cpu(&self, cpu: usize, pages: &dyn SlabPages) -> bool {
        if self.cpus[cpu].busy.load(Relaxed) {
            return false;
        }
        // SAFETY: this CPU's slot, by the caller's contract.
        let c = unsafe { &mut *self.cpus[cpu].slab.get() };
        // Deferred objects first (a double free found among them was
        // counted in `reports`).
        // SAFETY: as above.
        let _ = unsafe { self.flush_list(cpu, c, false, pages) };
        // SAFETY: as above.
        let _ = unsafe { self.flush_list(cpu, c, true, pages) };
        // SAFETY: as above.
        if let Some(empty) = unsafe { self.flush_slot(c, true) } {
            // SAFETY: off every list, no object in use.
            unsafe { self.discard(empty, pages) };
        }
        // The CPU's partial slabs go to their nodes (or back, if empty).
        while !c.partial.is_null() {
            let slab = c.partial;
            // SAFETY: the CPU's partial slabs are live and frozen to it.
            unsafe {
                c.partial = (*slab).next;
                c.nr_partial -= 1;
                let mut n = self.nodes[(*slab).node as usize].lock();
                (*slab).frozen = 0;
                (*slab).next = ptr::null_mut();
                if (*slab).inuse == 0 && n.nr_partial >= MIN_PARTIAL {
                    n.nr_slabs -= 1;
                    drop(n);
                    self.discard(slab, pages);
                } else {
                    Self::push_partial(&mut n, slab);
                }
            }
        }
        true
    }

    /// Returns the slot's objects to its slab and unfreezes it; with
    /// `may_discard`, an empty slab beyond the node's MIN_PARTIAL is handed
    /// back to be discarded, else it joins the partial list.
    ///
    /// # Safety
    /// The slot is the running CPU's.
    unsafe fn flush_slot(&self, c: &mut CpuSlab, may_discard: bool) -> Option<*mut SlabHeader> {
        let slab = c.slab;
        if slab.is_null() {
            return None;
        }
        // SAFETY: the slab is live and frozen by this slot.
        unsafe {
            let mut n = self.nodes[(*slab).node as usize].lock();
            while !c.freelist.is_null() {
                let obj = c.freelist;
                c.freelist = self.get_fp(obj);
                self.set_fp(obj, (*slab).freelist);
                (*slab).freelist = obj;
                (*slab).inuse -= 1;
            }
            (*slab).frozen = 0;
            c.slab = ptr::null_mut();
            if may_discard && (*slab).inuse == 0 && n.nr_partial >= MIN_PARTIAL {
                n.nr_slabs -= 1;
                return Some(slab);
            }
            if !(*slab).freelist.is_null() {
                Self::push_partial(&mut n, slab);
            }
        }
        None
    }

    /// Frees every empty slab (after every CPU was flushed). Returns the
    /// objects still in use (a leak when destroying the cache).
    ///
    /// # Safety
    /// No CPU uses the cache meanwhile.
    pub unsafe fn shrink(&self, pages: &dyn SlabPages) -> u64 {
        for node in &self.nodes[..self.nr_node_ids] {
            loop {
                let mut n = node.lock();
                // SAFETY: list members are live slabs of this node.
                let empty = unsafe {
                    let mut s = n.partial;
                    while !s.is_null() && (*s).inuse != 0 {
                        s = (*s).next;
                    }
                    s
                };
                if empty.is_null() {
                    break;
                }
                // SAFETY: found on the list under the lock, no object in use.
                unsafe { Self::unlink_partial(&mut n, empty) };
                n.nr_slabs -= 1;
                drop(n);
                // SAFETY: off every list, empty.
                unsafe { self.discard(empty, pages) };
            }
        }
        self.active_objects()
    }

    /// slabinfo numbers: (active objects, all objects, slabs).
    pub fn usage(&self) -> (u64, u64, u64) {
        let slabs = self.slabs.load(Relaxed);
        (
            self.active_objects(),
            slabs * self.layout.objects as u64,
            slabs,
        )
    }
}

/// A hardened free pointer: `next`'s address (provenance exposed, to be
/// recovered on decode) XOR the cache's secret XOR its slot's swapped
/// address.
#[inline(always)]
fn encode_fp(next: *mut u8, slot: usize, random: usize) -> usize {
    next.expose_provenance() ^ random ^ slot.swap_bytes()
}

#[cfg(test)]
mod tests;

// A slot fits its cache line: 512 of them are 32 KiB a cache.
const _: () = assert!(core::mem::size_of::<CpuSlot>() == 64);
