//! Hardware-independent cores of the memory subsystem, testable on the host:
//! the early boot allocator ([`memblock`]), zones ([`zone`], [`movable`]),
//! the buddy allocator of one zone ([`buddy`]), the page allocator over all
//! nodes ([`page_alloc`], built by [`setup`]), GFP flags ([`gfp`]),
//! watermarks ([`watermark`]), NUMA statistics ([`stats`]) and the Linux
//! format reports ([`report`]), the vmalloc region's area allocator
//! ([`vmap_area`]), the OOM killer's scoring ([`oom`]) and reclaim's
//! policy ([`vmscan`]); [`raw`] turns node memory into descriptors.
#![no_std]
// Unsafe code lives in `raw`, `pcp` and `slub` alone, where Miri checks it.
#![deny(unsafe_code)]

pub mod buddy;
pub mod compaction;
pub mod extfrag;
pub mod fault_inject;
pub mod gfp;
pub mod kfence;
pub mod memblock;
pub mod mempolicy;
pub mod movable;
pub mod oom;
pub mod page_alloc;
pub mod page_chain;
#[allow(unsafe_code)]
pub mod pcp;
#[allow(unsafe_code)]
pub mod raw;
pub mod report;
pub mod setup;
pub mod slub;
pub mod stats;
#[cfg(test)]
mod test_support;
pub mod vmap_area;
pub mod watermark;
pub mod zone;
