//! The area allocator against a plain model: random allocations (various
//! sizes and alignments) and frees, purged now and then.

extern crate std;
use super::*;
use boot_tests::XorShift;
use std::vec;

const BASE: u64 = 0xffff_c900_0000_0000;

/// The lowest aligned fit, found by looking at every free range.
fn model_lowest_fit(free: &[(u64, u64)], size: u64, align: u64) -> Option<u64> {
    free.iter().find_map(|&(s, z)| {
        let a = (s + align - 1) & !(align - 1);
        (a + size <= s + z).then_some(a)
    })
}

#[test]
fn random_allocations_never_overlap_take_the_lowest_fit_and_merge_back() {
    let pages = 4096u64;
    let mut v = VmapSpace::new(BASE, BASE + pages * PAGE, 64);
    let mut rng = XorShift(0x5eed);
    let mut live: Vec<(u64, u64)> = Vec::new();
    for step in 0..20_000 {
        if live.is_empty() || !rng.next_u64().is_multiple_of(3) {
            let size = (1 + rng.next_u64() % 16) * PAGE + PAGE; // plus a guard page
            let align = PAGE << (rng.next_u64() % 4 * (rng.next_u64() % 2));
            let expect = model_lowest_fit(&v.free_ranges(), size, align);
            match v.alloc(size, align) {
                Ok(a) => {
                    assert_eq!(Some(a), expect, "step {step}: not the lowest fit");
                    assert_eq!(a % align, 0);
                    assert!(a >= BASE && a + size <= BASE + pages * PAGE);
                    for &(s, z) in &live {
                        assert!(a + size <= s || s + z <= a, "step {step}: overlap");
                    }
                    live.push((a, size));
                }
                Err(VmapError::NoSpace) => {
                    assert_eq!(expect, None, "step {step}: room was left");
                    let ranges = v.take_lazy();
                    v.finish_purge(&ranges);
                }
                Err(e) => panic!("{e:?}"),
            }
        } else {
            let k = (rng.next_u64() as usize) % live.len();
            let (a, size) = live.swap_remove(k);
            assert_eq!(v.free_lazy(a), Ok(size));
            // A lazily freed range is not handed out before its purge.
            assert_eq!(v.lazy_containing(a), Some((a, size)));
            if v.purge_due() {
                let ranges = v.take_lazy();
                v.finish_purge(&ranges);
            }
        }
        v.tree().check().unwrap();
        // Free ranges never touch: merging is complete.
        let free = v.free_ranges();
        assert_eq!(
            v.tree().largest(),
            free.iter().map(|r| r.1).max().unwrap_or(0)
        );
        for w in free.windows(2) {
            assert!(
                w[0].0 + w[0].1 < w[1].0,
                "step {step}: unmerged neighbours {w:?}"
            );
        }
        // Free + busy + lazy cover the region exactly.
        let total: u64 = free.iter().map(|r| r.1).sum::<u64>()
            + v.busy().map(|r| r.1).sum::<u64>()
            + v.lazy().iter().map(|r| r.1).sum::<u64>();
        assert_eq!(total, pages * PAGE);
    }
    for (a, _) in live {
        v.free_lazy(a).unwrap();
    }
    let ranges = v.take_lazy();
    v.finish_purge(&ranges);
    assert_eq!(
        v.free_ranges(),
        vec![(BASE, pages * PAGE)],
        "everything merged back"
    );
}

#[test]
fn a_freed_range_waits_for_its_purge_before_reuse() {
    let mut v = VmapSpace::new(BASE, BASE + 64 * PAGE, 1000);
    let a = v.alloc(2 * PAGE, PAGE).unwrap();
    assert_eq!(a, BASE);
    v.free_lazy(a).unwrap();
    assert!(!v.purge_due());
    // Not reused while lazy: the next area lies above it.
    let b = v.alloc(2 * PAGE, PAGE).unwrap();
    assert_eq!(b, BASE + 2 * PAGE);
    let r = v.take_lazy();
    assert_eq!(r, vec![(a, 2 * PAGE)]);
    v.finish_purge(&r);
    assert_eq!(v.alloc(2 * PAGE, PAGE), Ok(a), "reused after the purge");
}

#[test]
fn bad_frees_and_requests_are_refused_without_change() {
    let mut v = VmapSpace::new(BASE, BASE + 64 * PAGE, 1000);
    let a = v.alloc(3 * PAGE, PAGE).unwrap();
    assert_eq!(
        v.free_lazy(a + PAGE),
        Err(VmapError::NotAllocated(a + PAGE))
    );
    v.free_lazy(a).unwrap();
    assert_eq!(
        v.free_lazy(a),
        Err(VmapError::NotAllocated(a)),
        "double free"
    );
    assert_eq!(v.alloc(0, PAGE), Err(VmapError::BadRequest));
    assert_eq!(v.alloc(100, PAGE), Err(VmapError::BadRequest));
    assert_eq!(v.alloc(PAGE, 3 * PAGE), Err(VmapError::BadRequest));
    assert_eq!(v.alloc(65 * PAGE, PAGE), Err(VmapError::NoSpace));
    assert_eq!(v.lazy(), &[(a, 3 * PAGE)]);
    assert_eq!(v.busy().count(), 0);
}

#[test]
fn large_alignment_finds_the_aligned_hole() {
    let two_mib = 512 * PAGE;
    let mut v = VmapSpace::new(BASE + PAGE, BASE + 8 * two_mib, 1000);
    let a = v.alloc(two_mib, two_mib).unwrap();
    assert_eq!(a, BASE + two_mib, "first 2 MiB boundary above the start");
    // The hole below stays free for small areas.
    assert_eq!(v.alloc(PAGE, PAGE), Ok(BASE + PAGE));
}

#[test]
fn the_tree_stays_balanced_with_many_ranges() {
    let mut t = FreeTree::new();
    for i in 0..10_000u64 {
        t.insert(i * 2 * PAGE, PAGE);
    }
    t.check().unwrap();
    assert!(t.nodes[t.root as usize].height <= 20, "AVL height bound");
    for i in (0..10_000u64).step_by(3) {
        assert_eq!(t.remove(i * 2 * PAGE), Some(PAGE));
    }
    t.check().unwrap();
    assert_eq!(t.len(), 10_000 - 3334);
    assert_eq!(t.remove(PAGE), None);
}

#[test]
fn lazy_max_pages_grows_with_the_cpu_count_as_linux() {
    assert_eq!(lazy_max_pages(1), 8192);
    assert_eq!(lazy_max_pages(2), 16384);
    assert_eq!(lazy_max_pages(16), 5 * 8192);
}
