//! The memory reports on the console, each under a `==> /proc/<file> <==`
//! header (as `head` prints several files) so people and scripts can find
//! them: at boot with `mm.report`, and at the end of every run.

use crate::console::Writer;
use crate::kprintln;
use crate::mm::page_alloc::{allocator, RECLAIM_CALLS};
use core::sync::atomic::Ordering::Relaxed;

pub fn print_all(when: &str) {
    let a = allocator();
    kprintln!("mm: reports ({when})");
    kprintln!("==> /proc/buddyinfo <==");
    let _ = mm::report::buddyinfo(&mut Writer, a);
    kprintln!();
    kprintln!("==> /proc/pagetypeinfo <==");
    let _ = mm::report::pagetypeinfo(&mut Writer, a);
    kprintln!();
    kprintln!("==> /proc/zoneinfo <==");
    let _ = mm::report::zoneinfo(&mut Writer, a);
    kprintln!();
    kprintln!("==> /sys/kernel/debug/extfrag/unusable_index <==");
    let _ = mm::extfrag::write_unusable_index(&mut Writer, a);
    kprintln!();
    kprintln!("==> /sys/kernel/debug/extfrag/extfrag_index <==");
    let _ = mm::extfrag::write_extfrag_index(&mut Writer, a);
    kprintln!();
    kprintln!("==> /proc/slabinfo <==");
    let _ = crate::mm::slab::slabinfo(&mut Writer);
    kprintln!();
    kprintln!("==> /proc/meminfo (slab lines) <==");
    let _ = crate::mm::slab::meminfo(&mut Writer);
    kprintln!();
    kprintln!("==> /proc/vmallocinfo <==");
    let _ = crate::mm::vmalloc::vmallocinfo(&mut Writer);
    kprintln!();
    kprintln!("==> /proc/meminfo (vmalloc lines) <==");
    let _ = crate::mm::vmalloc::meminfo(&mut Writer);
    kprintln!();
    kprintln!("==> /proc/vmstat (reclaim lines) <==");
    let _ = crate::mm::vmscan::report(&mut Writer);
    kprintln!();
    kprintln!("==> /proc/vmstat (migration and compaction lines) <==");
    let _ = crate::mm::migrate::report(&mut Writer);
    let _ = crate::mm::compaction::report(&mut Writer);
    kprintln!();
    kprintln!("==> kcompactd per node <==");
    let _ = crate::mm::kcompactd::report(&mut Writer);
    kprintln!();
    kprintln!("==> watermarks and kswapd per node <==");
    let _ = crate::mm::vmscan::watermark_report(&mut Writer);
    kprintln!();
    kprintln!("==> /sys/kernel/debug/kfence/stats <==");
    let _ = crate::mm::kfence::report_stats(&mut Writer);
    kprintln!();
    kprintln!("==> fault injection <==");
    let _ = crate::mm::fault_inject::report(&mut Writer);
    kprintln!();
    kprintln!("==> shrinkers <==");
    let _ = crate::mm::shrinker::report(&mut Writer);
    kprintln!();
    kprintln!("==> page caches <==");
    let _ = crate::mm::pagecache::report(&mut Writer);
    kprintln!();
    kprintln!("==> tasks <==");
    let _ = crate::sched::task::report(&mut Writer);
    kprintln!();
    kprintln!("==> run queues <==");
    let _ = crate::sched::report(&mut Writer);
    kprintln!();
    kprintln!("==> numastat <==");
    let _ = mm::report::numastat(&mut Writer, a);
    kprintln!();
    kprintln!(
        "mm: allocation failures {}, invalid frees {}, kswapd wake-up calls {} (see kswapd_wakeups for those that woke it), direct reclaim passes {}",
        a.failures.load(Relaxed),
        a.bad_frees.load(Relaxed),
        RECLAIM_CALLS.kswapd_wakeups.load(Relaxed),
        RECLAIM_CALLS.direct_reclaim_passes.load(Relaxed)
    );
}
