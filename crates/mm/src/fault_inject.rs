//! What fault injection decides (Linux's lib/fault-inject.c with
//! mm/fail_page_alloc.c and mm/failslab.c, as their documentation in
//! Documentation/fault-injection/fault-injection.rst describes them): whether
//! the allocation at hand is made to fail on purpose, so that the callers'
//! error paths run. The kernel's mm/fault_inject.rs owns the attributes,
//! supplies the random numbers and the thread's fail-nth, and prints the
//! report.
//!
//! An attribute set ([`FaultAttr`]) is `interval,probability,space,times`
//! (the boot syntax `fail_page_alloc=1,10,0,-1`): fail with `probability`
//! percent, only every `interval`-th eligible call, once `space` bytes of
//! requests have gone by, at most `times` times (-1: no limit). A thread's
//! fail-nth comes before all of that: its N-th eligible call fails whatever
//! the attributes say.

use crate::gfp::Gfp;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

/// One fault type's attributes (Linux's struct fault_attr), with Linux's
/// defaults: probability 0 (off), interval 1, times 1, space 0, verbose 2.
pub struct FaultAttr {
    /// Percent of eligible calls that fail (100 and above: all).
    pub probability: AtomicU64,
    /// Only every interval-th eligible call may fail (0 and 1: each).
    pub interval: AtomicU64,
    /// Failures left; -1 for no limit.
    pub times: AtomicI64,
    /// Bytes of requests let through before failures start.
    pub space: AtomicI64,
    /// 0: no report; 1: the report; 2: the report and a backtrace.
    pub verbose: AtomicU32,
    /// Eligible calls counted against the interval.
    count: AtomicU64,
    /// Failures forced (what debugfs does not show; the kernel's report).
    pub injected: AtomicU64,
}

/// The attributes as one failure saw them (for its report).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub interval: u64,
    pub probability: u64,
    pub space: i64,
    pub times: i64,
    pub verbose: u32,
}

/// The calling thread's fail-nth, as the kernel found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nth {
    /// Not set, or not in a thread (interrupt context).
    Unset,
    /// Set and counted down by this call; not yet at its call.
    Counted,
    /// This call is the N-th: it fails.
    Now,
}

/// A boot argument that is not `interval,probability,space,times`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetupError;

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("expected <interval>,<probability>,<space>,<times>")
    }
}

impl Default for FaultAttr {
    fn default() -> Self {
        Self::new()
    }
}

impl FaultAttr {
    pub const fn new() -> Self {
        FaultAttr {
            probability: AtomicU64::new(0),
            interval: AtomicU64::new(1),
            times: AtomicI64::new(1),
            space: AtomicI64::new(0),
            verbose: AtomicU32::new(2),
            count: AtomicU64::new(0),
            injected: AtomicU64::new(0),
        }
    }

    /// Parses Linux's boot syntax, `<interval>,<probability>,<space>,<times>`
    /// (setup_fault_attr); on an error nothing changes.
    pub fn setup(&self, s: &str) -> Result<(), SetupError> {
        let mut it = s.split(',').map(str::trim);
        let mut next = || it.next().ok_or(SetupError);
        let interval: u64 = next()?.parse().map_err(|_| SetupError)?;
        let probability: u64 = next()?.parse().map_err(|_| SetupError)?;
        let space: i32 = next()?.parse().map_err(|_| SetupError)?;
        let times: i32 = next()?.parse().map_err(|_| SetupError)?;
        if it.next().is_some() {
            return Err(SetupError);
        }
        self.interval.store(interval, Relaxed);
        self.probability.store(probability, Relaxed);
        self.space.store(space as i64, Relaxed);
        self.times.store(times as i64, Relaxed);
        Ok(())
    }

    /// Whether failures can come from the attributes (fail-nth aside).
    pub fn armed(&self) -> bool {
        self.probability.load(Relaxed) > 0 && self.times.load(Relaxed) != 0
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            interval: self.interval.load(Relaxed),
            probability: self.probability.load(Relaxed),
            space: self.space.load(Relaxed),
            times: self.times.load(Relaxed),
            verbose: self.verbose.load(Relaxed),
        }
    }

    /// Linux's should_fail_ex for a request of `size` bytes: Some(the
    /// attributes as they were) when it fails. The checks run in Linux's
    /// order: the thread's fail-nth (`nth`, asked only here), probability
    /// 0, times used up, space, interval, then the dice (`below_100`, a
    /// random number under 100, rolled only if it gets that far).
    pub fn should_fail(
        &self,
        size: u64,
        nth: impl FnOnce() -> Nth,
        below_100: impl FnOnce() -> u64,
    ) -> Option<Snapshot> {
        match nth() {
            Nth::Now => return Some(self.fail()),
            Nth::Counted => return None,
            Nth::Unset => {}
        }
        if self.probability.load(Relaxed) == 0 || self.times.load(Relaxed) == 0 {
            return None;
        }
        let size = size.min(i64::MAX as u64) as i64;
        if self.space.load(Relaxed) > size {
            self.space.fetch_sub(size, Relaxed);
            return None;
        }
        let interval = self.interval.load(Relaxed);
        if interval > 1 && !(self.count.fetch_add(1, Relaxed) + 1).is_multiple_of(interval) {
            return None;
        }
        if self.probability.load(Relaxed) <= below_100() {
            return None;
        }
        Some(self.fail())
    }

    /// A failure: the snapshot for the report, then one of `times` used.
    fn fail(&self) -> Snapshot {
        let s = self.snapshot();
        self.injected.fetch_add(1, Relaxed);
        // atomic_dec_not_zero, unless unlimited.
        let _ = self
            .times
            .fetch_update(Relaxed, Relaxed, |t| (t > 0).then(|| t - 1));
        s
    }
}

/// Linux's `FAULT_INJECTION: forcing a failure.` report (fail_dump), for
/// the fault type `name`, a line at a time to `line` (the kernel logs
/// each; nothing is allocated); the kernel adds the caller and a
/// backtrace at verbose 2.
pub fn report_lines(name: &str, s: &Snapshot, mut line: impl FnMut(fmt::Arguments)) {
    line(format_args!("FAULT_INJECTION: forcing a failure."));
    line(format_args!(
        "name {name}, interval {}, probability {}, space {}, times {}",
        s.interval, s.probability, s.space, s.times
    ));
}

/// fail_page_alloc: the page allocator's fault type, with Linux's
/// defaults (min-order 1, ignore-gfp-wait and ignore-gfp-highmem on).
pub struct FailPageAlloc {
    pub attr: FaultAttr,
    /// Requests that may reclaim directly are never failed.
    pub ignore_gfp_reclaim: AtomicBool,
    pub ignore_gfp_highmem: AtomicBool,
    /// Orders below this are never failed.
    pub min_order: AtomicU32,
}

impl Default for FailPageAlloc {
    fn default() -> Self {
        Self::new()
    }
}

impl FailPageAlloc {
    pub const fn new() -> Self {
        FailPageAlloc {
            attr: FaultAttr::new(),
            ignore_gfp_reclaim: AtomicBool::new(true),
            ignore_gfp_highmem: AtomicBool::new(true),
            min_order: AtomicU32::new(1),
        }
    }

    /// Linux's should_fail_alloc_page: order, __GFP_NOFAIL, the ignore
    /// settings, then the attributes with the block's size in pages (as
    /// Linux counts its space: `1 << order`).
    pub fn should_fail(
        &self,
        gfp: Gfp,
        order: u32,
        nth: impl FnOnce() -> Nth,
        below_100: impl FnOnce() -> u64,
    ) -> Option<Snapshot> {
        if order < self.min_order.load(Relaxed) || gfp.contains(Gfp::NOFAIL) {
            return None;
        }
        if self.ignore_gfp_highmem.load(Relaxed) && gfp.contains(Gfp::HIGHMEM) {
            return None;
        }
        if self.ignore_gfp_reclaim.load(Relaxed) && gfp.can_direct_reclaim() {
            return None;
        }
        self.attr.should_fail(1 << order.min(63), nth, below_100)
    }
}

/// failslab: the slab allocator's fault type, with Linux's defaults
/// (ignore-gfp-wait on, cache-filter off).
pub struct FailSlab {
    pub attr: FaultAttr,
    pub ignore_gfp_reclaim: AtomicBool,
    /// Only caches marked for it (`slub_debug=A`) fail.
    pub cache_filter: AtomicBool,
}

impl Default for FailSlab {
    fn default() -> Self {
        Self::new()
    }
}

impl FailSlab {
    pub const fn new() -> Self {
        FailSlab {
            attr: FaultAttr::new(),
            ignore_gfp_reclaim: AtomicBool::new(true),
            cache_filter: AtomicBool::new(false),
        }
    }

    /// Linux's should_failslab for a cache of `object_size`-byte objects
    /// (`marked`: it carries SLAB_FAILSLAB): __GFP_NOFAIL, ignore-gfp-wait,
    /// the cache filter, then the attributes.
    pub fn should_fail(
        &self,
        gfp: Gfp,
        object_size: usize,
        marked: bool,
        nth: impl FnOnce() -> Nth,
        below_100: impl FnOnce() -> u64,
    ) -> Option<Snapshot> {
        if gfp.contains(Gfp::NOFAIL) {
            return None;
        }
        if self.ignore_gfp_reclaim.load(Relaxed) && gfp.can_direct_reclaim() {
            return None;
        }
        if self.cache_filter.load(Relaxed) && !marked {
            return None;
        }
        self.attr.should_fail(object_size as u64, nth, below_100)
    }
}

/// fail_vmalloc (ours; Linux has none): the vmalloc region's pages and
/// page-table pages. ignore-gfp-wait starts off, since vmalloc's
/// allocations may all sleep.
pub struct FailVmalloc {
    pub attr: FaultAttr,
    pub ignore_gfp_reclaim: AtomicBool,
}

impl Default for FailVmalloc {
    fn default() -> Self {
        Self::new()
    }
}

impl FailVmalloc {
    pub const fn new() -> Self {
        FailVmalloc {
            attr: FaultAttr::new(),
            ignore_gfp_reclaim: AtomicBool::new(false),
        }
    }

    /// __GFP_NOFAIL, ignore-gfp-wait, then the attributes, a page a call.
    pub fn should_fail(
        &self,
        gfp: Gfp,
        nth: impl FnOnce() -> Nth,
        below_100: impl FnOnce() -> u64,
    ) -> Option<Snapshot> {
        if gfp.contains(Gfp::NOFAIL)
            || (self.ignore_gfp_reclaim.load(Relaxed) && gfp.can_direct_reclaim())
        {
            return None;
        }
        self.attr.should_fail(layout::PAGE_SIZE, nth, below_100)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    /// A seeded random source (xorshift), as the kernel's dice.
    struct Dice(u64);
    impl Dice {
        fn below_100(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % 100
        }
    }

    fn unset() -> Nth {
        Nth::Unset
    }

    #[test]
    fn defaults_are_linuxs_and_inject_nothing() {
        let a = FaultAttr::new();
        let s = a.snapshot();
        assert_eq!(
            (s.interval, s.probability, s.space, s.times, s.verbose),
            (1, 0, 0, 1, 2)
        );
        assert!(!a.armed());
        let mut d = Dice(1);
        assert!((0..1000).all(|_| a.should_fail(8, unset, || d.below_100()).is_none()));
        let p = FailPageAlloc::new();
        assert_eq!(p.min_order.load(Relaxed), 1);
        assert!(p.ignore_gfp_reclaim.load(Relaxed) && p.ignore_gfp_highmem.load(Relaxed));
        let s = FailSlab::new();
        assert!(s.ignore_gfp_reclaim.load(Relaxed) && !s.cache_filter.load(Relaxed));
        let v = FailVmalloc::new();
        v.attr.setup("1,100,0,1").unwrap();
        assert!(v
            .should_fail(Gfp::KERNEL | Gfp::NOFAIL, unset, || 0)
            .is_none());
        assert!(
            v.should_fail(Gfp::KERNEL, unset, || 0).is_some(),
            "vmalloc may sleep"
        );
    }

    #[test]
    fn the_boot_syntax_is_four_numbers_and_a_bad_one_changes_nothing() {
        let a = FaultAttr::new();
        a.setup("1,10,0,-1").unwrap();
        let s = a.snapshot();
        assert_eq!(
            (s.interval, s.probability, s.space, s.times),
            (1, 10, 0, -1)
        );
        for bad in [
            "",
            "1,10,0",
            "1,10,0,-1,5",
            "x,10,0,1",
            "1,10,0,99999999999",
            "-1,1,0,1",
        ] {
            assert_eq!(a.setup(bad), Err(SetupError), "{bad}");
            assert_eq!(a.snapshot(), s, "{bad} left the attributes alone");
        }
        a.setup(" 100 , 100 , 4096 , 3 ").unwrap();
        assert_eq!(a.snapshot().space, 4096);
    }

    #[test]
    fn probability_100_fails_every_call_until_times_runs_out() {
        let a = FaultAttr::new();
        a.setup("1,100,0,3").unwrap();
        let mut d = Dice(7);
        let fails: Vec<bool> = (0..6)
            .map(|_| a.should_fail(64, unset, || d.below_100()).is_some())
            .collect();
        assert_eq!(fails, [true, true, true, false, false, false]);
        assert_eq!(a.injected.load(Relaxed), 3);
        assert_eq!(a.times.load(Relaxed), 0);
        // The report shows the attributes before the failure used one.
        a.setup("1,100,0,2").unwrap();
        assert_eq!(a.should_fail(64, unset, || 0).unwrap().times, 2);
        assert_eq!(a.should_fail(64, unset, || 0).unwrap().times, 1);
        // Unlimited stays unlimited.
        a.setup("1,100,0,-1").unwrap();
        for _ in 0..100 {
            assert_eq!(a.should_fail(64, unset, || 0).unwrap().times, -1);
        }
    }

    #[test]
    fn space_lets_its_bytes_through_first_then_interval_picks_every_nth() {
        let a = FaultAttr::new();
        a.setup("1,100,1000,-1").unwrap();
        // 1000 bytes of space: 300-byte requests pass while space > 300.
        let fails: Vec<bool> = (0..5)
            .map(|_| a.should_fail(300, unset, || 0).is_some())
            .collect();
        assert_eq!(fails, [false, false, false, true, true]);
        assert_eq!(a.space.load(Relaxed), 100);
        let b = FaultAttr::new();
        b.setup("3,100,0,-1").unwrap();
        let fails: Vec<bool> = (0..9)
            .map(|_| b.should_fail(8, unset, || 0).is_some())
            .collect();
        assert_eq!(
            fails,
            [false, false, true, false, false, true, false, false, true]
        );
    }

    #[test]
    fn fail_nth_comes_first_and_ignores_probability_zero() {
        let a = FaultAttr::new(); // probability 0
        assert!(a
            .should_fail(8, || Nth::Counted, || unreachable!())
            .is_none());
        assert!(a.should_fail(8, || Nth::Now, || unreachable!()).is_some());
        // The dice are not rolled for a call that stops earlier.
        assert!(a.should_fail(8, unset, || unreachable!()).is_none());
        a.setup("1,50,0,-1").unwrap();
        assert!(
            a.should_fail(8, || Nth::Counted, || 0).is_none(),
            "counted calls do not fail"
        );
    }

    #[test]
    fn page_and_slab_filters_run_before_the_attributes_in_linuxs_order() {
        let p = FailPageAlloc::new();
        p.attr.setup("1,100,0,-1").unwrap();
        let never = || -> Nth { panic!("fail-nth asked for a call filtered out") };
        assert!(
            p.should_fail(Gfp::ATOMIC, 0, never, || 0).is_none(),
            "below min-order"
        );
        assert!(p
            .should_fail(Gfp::ATOMIC | Gfp::NOFAIL, 3, never, || 0)
            .is_none());
        assert!(
            p.should_fail(Gfp::KERNEL, 3, never, || 0).is_none(),
            "ignore-gfp-wait"
        );
        assert!(p
            .should_fail(Gfp::ATOMIC | Gfp::HIGHMEM, 3, never, || 0)
            .is_none());
        assert!(p.should_fail(Gfp::ATOMIC, 1, unset, || 0).is_some());
        p.ignore_gfp_reclaim.store(false, Relaxed);
        p.min_order.store(0, Relaxed);
        assert!(p.should_fail(Gfp::KERNEL, 0, unset, || 0).is_some());
        // Space counts pages for the page allocator.
        p.attr.setup("1,100,8,-1").unwrap();
        assert!(p.should_fail(Gfp::KERNEL, 2, unset, || 0).is_none());
        assert_eq!(p.attr.space.load(Relaxed), 4);

        let s = FailSlab::new();
        s.attr.setup("1,100,0,-1").unwrap();
        assert!(s.should_fail(Gfp::KERNEL, 64, false, never, || 0).is_none());
        assert!(s
            .should_fail(Gfp::ATOMIC | Gfp::NOFAIL, 64, false, never, || 0)
            .is_none());
        assert!(s.should_fail(Gfp::ATOMIC, 64, false, unset, || 0).is_some());
        s.cache_filter.store(true, Relaxed);
        assert!(s.should_fail(Gfp::ATOMIC, 64, false, never, || 0).is_none());
        assert!(s.should_fail(Gfp::ATOMIC, 64, true, unset, || 0).is_some());
    }

    #[test]
    fn the_report_reads_as_linuxs() {
        let a = FaultAttr::new();
        a.setup("1,10,0,-1").unwrap();
        let mut out = std::string::String::new();
        report_lines("fail_page_alloc", &a.snapshot(), |l| {
            out.push_str(&std::format!("{l}\n"))
        });
        assert_eq!(
            out,
            "FAULT_INJECTION: forcing a failure.\nname fail_page_alloc, interval 1, probability 10, space 0, times -1\n"
        );
    }

    proptest! {
        /// Over many calls with a seeded source, the share that fails is
        /// the probability (of the calls the interval lets through), and
        /// never more than `times`.
        #[test]
        fn failures_follow_probability_interval_and_times(
            probability in 0u64..=100,
            interval in 1u64..5,
            times in prop_oneof![Just(-1i32), 0i32..50],
            seed in 1u64..u64::MAX,
        ) {
            let a = FaultAttr::new();
            a.setup(&std::format!("{interval},{probability},0,{times}")).unwrap();
            let mut d = Dice(seed);
            const CALLS: u64 = 20_000;
            let failed = (0..CALLS)
                .filter(|_| a.should_fail(8, unset, || d.below_100()).is_some())
                .count() as u64;
            prop_assert_eq!(failed, a.injected.load(Relaxed));
            if times >= 0 {
                prop_assert!(failed <= times as u64);
            }
            if times == -1 {
                let eligible = CALLS / interval;
                let expected = eligible * probability / 100;
                // Within 5 percentage points of the eligible calls.
                prop_assert!(failed.abs_diff(expected) <= eligible / 20 + 1,
                    "{} failed, {} expected", failed, expected);
            }
        }
    }
}
