//! Fault injection: allocations made to fail on purpose so that their
//! callers' error paths run (Linux's fail_page_alloc, failslab and
//! fail-nth; fail_vmalloc is ours). The decisions are crates/mm's
//! (`mm::fault_inject`); this module holds the three fault types, reads
//! the command line, rolls the dice, asks the scheduler for the current
//! thread's fail-nth (through a hook: the scheduler is above mm) and prints
//! Linux's report.
//!
//! The allocation sites call `alloc_hooks::fault_checks` (slab sites
//! `slab_checks`, which KFENCE's gate also sets) first, one relaxed
//! load, so that nothing else runs on the fast paths unless a fault type
//! is armed or a thread has a fail-nth set. Requests with `__GFP_NOFAULT` (the Rust
//! heap: Box and Vec abort on failure) are never failed.

use core::panic::Location;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use mm::fault_inject::{FailPageAlloc, FailSlab, FailVmalloc, FaultAttr, Nth, Snapshot};
use mm::gfp::Gfp;
use spin::Once;

pub static FAIL_PAGE_ALLOC: FailPageAlloc = FailPageAlloc::new();
pub static FAILSLAB: FailSlab = FailSlab::new();
pub static FAIL_VMALLOC: FailVmalloc = FailVmalloc::new();

/// The scheduler's answer for the current thread (installed at its init).
static NTH: Once<fn() -> Nth> = Once::new();

/// The dice: a xorshift state shared by all CPUs (a lost update between
/// CPUs only repeats a roll).
static DICE: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Installs the scheduler's fail-nth check: it counts the current
/// thread's fail-nth down and says whether this call is the one.
pub fn install_nth_hook(hook: fn() -> Nth) {
    NTH.call_once(|| hook);
}

/// A thread's fail-nth went from unset to set (`true`) or back.
pub fn nth_pending(set: bool) {
    super::alloc_hooks::nth_pending(set);
}

/// Recomputes the hooks' FAULTS_ARMED bit from the three fault types.
pub fn rearm() {
    let armed = [&FAIL_PAGE_ALLOC.attr, &FAILSLAB.attr, &FAIL_VMALLOC.attr]
        .iter()
        .any(|a| a.armed());
    super::alloc_hooks::set(super::alloc_hooks::FAULTS_ARMED, armed);
}

/// The fault types with their names, as debugfs lists them.
fn types() -> [(&'static str, &'static FaultAttr); 3] {
    [
        ("fail_page_alloc", &FAIL_PAGE_ALLOC.attr),
        ("failslab", &FAILSLAB.attr),
        ("fail_vmalloc", &FAIL_VMALLOC.attr),
    ]
}

/// Applies the command line's fault-injection words (before the first
/// allocation that could fail: right after the page allocator exists).
pub fn init(f: &cmdline::FaultSettings) {
    let bools = [
        (f.page_ignore_gfp_wait, &FAIL_PAGE_ALLOC.ignore_gfp_reclaim),
        (
            f.page_ignore_gfp_highmem,
            &FAIL_PAGE_ALLOC.ignore_gfp_highmem,
        ),
        (f.slab_ignore_gfp_wait, &FAILSLAB.ignore_gfp_reclaim),
        (f.slab_cache_filter, &FAILSLAB.cache_filter),
        (f.vmalloc_ignore_gfp_wait, &FAIL_VMALLOC.ignore_gfp_reclaim),
    ];
    for (value, setting) in bools {
        if let Some(v) = value {
            setting.store(v, Relaxed);
        }
    }
    if let Some(o) = f.page_min_order {
        FAIL_PAGE_ALLOC.min_order.store(o, Relaxed);
    }
    let words = [f.page_alloc, f.slab, f.vmalloc];
    for (((name, attr), word), verbose) in types().into_iter().zip(words).zip(f.verbose) {
        if let Some(v) = verbose {
            attr.verbose.store(v, Relaxed);
        }
        let Some(word) = word else { continue };
        if let Err(e) = attr.setup(word) {
            log::warn!(
                "FAULT_INJECTION: failed to parse arguments: {name}={word} ({e}); {name} stays off"
            );
            continue;
        }
        let s = attr.snapshot();
        log::info!(
            "fault injection: {name} interval {}, probability {}, space {}, times {}, verbose {}; {}",
            s.interval,
            s.probability,
            s.space,
            s.times,
            s.verbose,
            Filters(name)
        );
    }
    // Seed the dice from the time stamp counter: runs differ, as Linux's.
    let seed = crate::arch::x86_64::tsc::rdtsc() | 1;
    DICE.store(seed, Relaxed);
    rearm();
}

/// A fault type's filters, as its debugfs files name them.
struct Filters(&'static str);

impl core::fmt::Display for Filters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let on = |b: &core::sync::atomic::AtomicBool| b.load(Relaxed) as u8;
        match self.0 {
            "fail_page_alloc" => write!(
                f,
                "min-order {}, ignore-gfp-wait {}, ignore-gfp-highmem {}",
                FAIL_PAGE_ALLOC.min_order.load(Relaxed),
                on(&FAIL_PAGE_ALLOC.ignore_gfp_reclaim),
                on(&FAIL_PAGE_ALLOC.ignore_gfp_highmem)
            ),
            "failslab" => write!(
                f,
                "ignore-gfp-wait {}, cache-filter {}",
                on(&FAILSLAB.ignore_gfp_reclaim),
                on(&FAILSLAB.cache_filter)
            ),
            _ => write!(
                f,
                "ignore-gfp-wait {}",
                on(&FAIL_VMALLOC.ignore_gfp_reclaim)
            ),
        }
    }
}

fn below_100() -> u64 {
    let step = |mut x: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let old = DICE.load(Relaxed);
    let new = step(old);
    DICE.store(new, Relaxed);
    new % 100
}

fn nth() -> Nth {
    NTH.get().map_or(Nth::Unset, |hook| hook())
}

/// fail_page_alloc's check for a request of 2^order pages (Linux's
/// should_fail_alloc_page); true: fail it.
#[cold]
#[inline(never)]
pub fn should_fail_alloc_page(gfp: Gfp, order: u32, caller: &Location) -> bool {
    if gfp.contains(Gfp::NOFAULT) {
        return false;
    }
    let s = FAIL_PAGE_ALLOC.should_fail(gfp, order, nth, below_100);
    failed(
        "fail_page_alloc",
        s,
        gfp,
        caller,
        format_args!("order {order}"),
    )
}

/// failslab's check for an object of `cache` (Linux's should_failslab).
#[cold]
#[inline(never)]
pub fn should_failslab(
    cache: &str,
    object_size: usize,
    marked: bool,
    gfp: Gfp,
    caller: &Location,
) -> bool {
    if gfp.contains(Gfp::NOFAULT) {
        return false;
    }
    let s = FAILSLAB.should_fail(gfp, object_size, marked, nth, below_100);
    failed(
        "failslab",
        s,
        gfp,
        caller,
        format_args!("cache {cache}, {object_size} bytes"),
    )
}

/// fail_vmalloc's check for one of a vmalloc area's pages or page-table
/// pages.
#[cold]
#[inline(never)]
pub fn should_fail_vmalloc(gfp: Gfp, caller: &Location) -> bool {
    if gfp.contains(Gfp::NOFAULT) {
        return false;
    }
    let s = FAIL_VMALLOC.should_fail(gfp, nth, below_100);
    failed("fail_vmalloc", s, gfp, caller, format_args!("a page"))
}

/// Reports a forced failure unless __GFP_NOWARN (Linux's fail_dump):
/// the attributes, then (ours) the request and its caller, and at verbose
/// 2 a backtrace.
fn failed(
    name: &str,
    s: Option<Snapshot>,
    gfp: Gfp,
    caller: &Location,
    what: core::fmt::Arguments,
) -> bool {
    let Some(s) = s else {
        return false;
    };
    if s.times == 1 {
        // That was the last one the attributes allowed.
        rearm();
    }
    if gfp.contains(Gfp::NOWARN) || s.verbose == 0 {
        return true;
    }
    mm::fault_inject::report_lines(name, &s, |line| log::info!("{line}"));
    log::info!("{what}, mode:{gfp:?}, from {caller}");
    if s.verbose > 1 {
        crate::fatal::backtrace(&mut crate::console::Writer);
    }
    true
}

/// The fault types' settings and failures forced (debugfs's files, and
/// the count Linux keeps only in its logs).
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    for (name, attr) in types() {
        let s = attr.snapshot();
        writeln!(
            w,
            "{name}: probability {} interval {} times {} space {} verbose {}; {}; injected {}",
            s.probability,
            s.interval,
            s.times,
            s.space,
            s.verbose,
            Filters(name),
            attr.injected.load(Relaxed)
        )?;
    }
    Ok(())
}
