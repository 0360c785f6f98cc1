//! Memory management: memblock at boot, then the page allocator (zones,
//! buddy allocators, GFP, zonelists, watermarks, NUMA statistics) with
//! Linux's interface, and the reports in Linux's formats.

pub mod alloc_hooks;
pub mod compaction;
mod compaction_selftests;
mod device_memory_selftests;
pub mod early_heap;
pub mod fault_inject;
mod fault_inject_selftests;
pub mod kcompactd;
pub mod kfence;
mod kfence_selftests;
pub mod memblock;
pub mod memory_hotplug;
mod memory_hotplug_selftests;
pub mod memory_offline;
pub mod mempolicy;
mod mempolicy_selftests;
pub mod migrate;
pub mod oom_kill;
pub mod page_alloc;
mod page_alloc_selftests;
pub mod pagecache;
pub mod pmem;
mod pmem_selftests;
mod pressure_selftests;
pub mod reclaim;
mod selftest_support;
pub mod shrinker;
pub mod slab;
mod slub_selftests;
pub mod vmalloc;
mod vmalloc_selftests;
pub mod vmscan;
mod vmscan_selftests;

pub use memblock::MEMBLOCK;
pub use mm::gfp::Gfp;
pub use page_alloc::{
    __free_pages, __get_free_pages, alloc_pages, alloc_pages_bulk_node, alloc_pages_node,
    free_pages, get_zeroed_page, page_address, virt_to_page, Page, NUMA_NO_NODE,
};
