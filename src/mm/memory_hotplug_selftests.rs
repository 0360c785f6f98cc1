//! Self-tests of memory hot-add: with `memhp.expect=N` (the launcher's
//! `--hotplug NODE:SIZE` sets it) they wait for the N devices to arrive
//! through ACPI, then check that each range is online as ZONE_MOVABLE on
//! its node, readable and writable through the direct map, that movable
//! allocations bound to the node land there and GFP_KERNEL ones never do.
//! Skipped, and said, without `memhp.expect=`.
//!
//! With `memhp.unplug=N` too (the launcher's `--hotunplug`), the last case
//! places task pages on the first N ranges, and on the Nth (N >= 2) also a
//! page nobody can migrate, prints "memory hotplug: ready for removal"
//! (the launcher's cue for its device_del commands) and waits: the first
//! N-1 (all N when N = 1) must go offline with their task pages migrated
//! intact, the pinned one must be refused and stay online.

use super::memory_hotplug::{added_bytes, removed_bytes, EXPECTED, EXPECTED_REMOVALS};
use super::page_alloc::allocator;
use super::{__free_pages, alloc_pages_node, Gfp, Page};
use crate::acpi::memory_hotplug as acpi_hotplug;
use crate::selftest::Failure;
use crate::{kassert, kassert_eq, selftest};
use alloc::vec::Vec;
use core::sync::atomic::Ordering::Relaxed;
use mm::zone::ZoneType;

const NOT_EXPECTED: &str =
    "no memory hot-add expected (run-qemu.sh --hotplug NODE:SIZE sets memhp.expect=)";

/// Waits up to 60 s for the expected devices to be handled.
fn wait_for_devices() -> Result<u64, Failure> {
    let expected = EXPECTED.load(Relaxed) as u64;
    if expected == 0 {
        return Err(Failure::Skipped(NOT_EXPECTED));
    }
    acpi_hotplug::wait_for_expected(expected);
    Ok(expected)
}

/// The hot-plug zones with memory online: (node, ranges).
fn onlined() -> Vec<(numa::NodeId, Vec<(u64, u64)>)> {
    allocator()
        .zones()
        .filter(|z| z.is_hotplug() && z.is_populated())
        .map(|z| (z.node, z.online_ranges().collect()))
        .collect()
}

selftest!(
    "hotplug",
    fn hot_added_memory_arrives_through_acpi_and_is_zone_movable_on_its_node() {
        let expected = wait_for_devices()?;
        kassert_eq!(acpi_hotplug::REFUSED.load(Relaxed), 0, "devices refused");
        kassert_eq!(acpi_hotplug::ADDED.load(Relaxed), expected);
        let zones = onlined();
        kassert!(!zones.is_empty(), "no hot-plug zone has memory online");
        for (node, ranges) in &zones {
            let pages: u64 = ranges.iter().map(|(s, e)| e - s).sum();
            kassert_eq!(added_bytes(*node), pages * layout::PAGE_SIZE);
            for &(s, e) in ranges {
                for pfn in [s, (s + e) / 2, e - 1] {
                    let z = allocator().zone_of(pfn);
                    kassert!(z.is_some(), "pfn {pfn:#x} in no zone");
                    let z = z.unwrap();
                    kassert_eq!((z.node, z.kind), (*node, ZoneType::Movable));
                }
            }
            // The node's zonelist now starts with the new zone for
            // movable requests.
            let n = allocator().node(*node).unwrap();
            let first = n.zonelist_thisnode.iter().next();
            kassert_eq!(
                first.map(|r| (r.node as usize, r.zone)),
                Some((*node, ZoneType::Movable))
            );
        }
        Ok(())
    }
);

selftest!(
    "hotplug",
    fn movable_allocations_on_the_node_land_in_hot_added_memory_and_gfp_kernel_never_does() {
        wait_for_devices()?;
        for (node, ranges) in onlined() {
            let inside = |p: Page| {
                let pfn = p.phys() / layout::PAGE_SIZE;
                ranges.iter().any(|&(s, e)| s <= pfn && pfn < e)
            };
            let mut held = Vec::new();
            for _ in 0..2048 {
                match alloc_pages_node(node as i32, Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0) {
                    Some(p) => held.push(p),
                    None => break,
                }
            }
            let wrong = held.iter().filter(|&&p| inside(p)).count();
            for p in held.drain(..) {
                __free_pages(p, 0);
            }
            kassert_eq!(
                wrong,
                0,
                "GFP_KERNEL pages in hot-added memory on node {node}"
            );
            // Movable pages bound to the node come from the new memory,
            // and it holds what is written to it.
            for i in 0..256u64 {
                let p = alloc_pages_node(node as i32, Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE, 0);
                kassert!(p.is_some(), "movable page {i} on node {node}");
                let p = p.unwrap();
                held.push(p);
                // SAFETY: the page was just allocated to us and is mapped
                // (the direct map covers hot-added memory once online).
                unsafe { (super::page_address(p) as *mut u64).write_volatile(p.phys() ^ 0x5a5a) };
            }
            let outside = held.iter().filter(|&&p| !inside(p)).count();
            // SAFETY: as above; each page is still ours.
            let intact = held
                .iter()
                .all(|p| unsafe { (super::page_address(*p) as *const u64).read_volatile() } == p.phys() ^ 0x5a5a);
            for p in held.drain(..) {
                __free_pages(p, 0);
            }
            kassert_eq!(
                outside,
                0,
                "movable pages outside hot-added memory on node {node}"
            );
            kassert!(intact, "hot-added memory did not keep what was written");
        }
        Ok(())
    }
);

/// The pattern of a task page: its index and a word derived from it.
fn pattern(index: u64, word: usize) -> u64 {
    (index << 20 | word as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

selftest!(
    "hotplug",
    fn removal_migrates_owned_pages_off_and_refuses_a_page_nobody_can_move() {
        use crate::sched::task::Task;
        const PER_RANGE: u64 = 64;
        wait_for_devices()?;
        let unplug = EXPECTED_REMOVALS.load(Relaxed) as usize;
        if unplug == 0 {
            return Err(Failure::Skipped(
                "no hot-remove expected (run-qemu.sh --hotunplug ID sets memhp.unplug=)",
            ));
        }
        let zones = onlined();
        kassert!(!zones.is_empty(), "no hot-added memory to remove");
        let (node, ranges) = zones[0].clone();
        kassert!(
            ranges.len() >= unplug,
            "{} ranges online on node {node}, {unplug} to remove",
            ranges.len()
        );
        let targets = &ranges[..unplug];
        let pinned_range = (unplug >= 2).then(|| targets[unplug - 1]);
        let range_of = |pfn: u64| targets.iter().position(|&(s, e)| s <= pfn && pfn < e);
        // A task's pages, PER_RANGE in each range to remove: it allocates
        // until each has its share, then lets the rest go.
        let task = Task::create("hotremove", 0).map_err(|_| Failure::Failed)?;
        let movable = Gfp::HIGHUSER_MOVABLE | Gfp::THISNODE | Gfp::NOWARN;
        let mut index = 0u64;
        let mut placed = [0u64; 64];
        let pages: u64 = targets.iter().map(|(s, e)| e - s).sum();
        while placed[..unplug].iter().any(|&c| c < PER_RANGE) && index < pages {
            let i = index;
            let filled = task.alloc_page(movable, node as i32, |w| {
                let pfn = super::virt_to_page(w.as_ptr() as *const u8).map(|p| p.pfn());
                if let Some(r) = pfn.and_then(range_of) {
                    placed[r] += 1;
                }
                for (k, x) in w.iter_mut().enumerate() {
                    *x = pattern(i, k);
                }
            });
            if filled.is_err() {
                break;
            }
            index += 1;
        }
        let mut kept = [0u64; 64];
        task.free_pages_where(|pfn, _| match range_of(pfn) {
            Some(r) if kept[r] < PER_RANGE => {
                kept[r] += 1;
                false
            }
            _ => true,
        });
        kassert!(
            kept[..unplug].iter().all(|&c| c == PER_RANGE),
            "task pages per range {:?}",
            &kept[..unplug]
        );
        // A page without an owner that could re-point it, in the last range.
        let mut pinned = None;
        if let Some((s, e)) = pinned_range {
            let mut spare = Vec::new();
            while let Some(p) = alloc_pages_node(node as i32, movable, 0) {
                if (s..e).contains(&p.pfn()) {
                    // SAFETY: just allocated to us; direct-mapped.
                    unsafe { (super::page_address(p) as *mut u64).write_volatile(0xfeed_f00d) };
                    pinned = Some(p);
                    break;
                }
                spare.push(p);
            }
            for p in spare {
                __free_pages(p, 0);
            }
            kassert!(pinned.is_some(), "no page came from the last range");
        }
        let (removed0, refused0) = (
            acpi_hotplug::REMOVED.load(Relaxed),
            acpi_hotplug::REMOVAL_REFUSED.load(Relaxed),
        );
        let removed_before = removed_bytes(node);
        crate::kprintln!(
            "memory hotplug: ready for removal ({unplug} {} on node {node}; {PER_RANGE} task pages on each{})",
            if unplug == 1 { "device" } else { "devices" },
            if pinned.is_some() { ", one page nobody can move on the last" } else { "" }
        );
        acpi_hotplug::wait_for_removals(removed0 + refused0 + unplug as u64);
        let removed = acpi_hotplug::REMOVED.load(Relaxed) - removed0;
        let refused = acpi_hotplug::REMOVAL_REFUSED.load(Relaxed) - refused0;
        let want_refused = pinned.is_some() as u64;
        let gone = &targets[..unplug - want_refused as usize];
        // Every task page is intact, and none is in memory that went.
        let (mut seen, mut bad, mut stranded) = (0u64, 0u64, 0u64);
        let mut indices = Vec::new();
        task.for_each_page(|pfn, w| {
            seen += 1;
            let i = w[0].wrapping_mul(0xf1de_83e1_9937_733d) >> 20;
            if w.iter().enumerate().any(|(k, &x)| x != pattern(i, k)) {
                bad += 1;
            }
            if gone.iter().any(|&(s, e)| s <= pfn && pfn < e) {
                stranded += 1;
            }
            indices.push(i);
        });
        indices.sort_unstable();
        indices.dedup();
        let pinned_intact = pinned.map(|p| {
            // SAFETY: still ours; its range must still be online and mapped.
            let word = unsafe { (super::page_address(p) as *const u64).read_volatile() };
            word == 0xfeed_f00d
        });
        if let Some(p) = pinned {
            __free_pages(p, 0);
        }
        task.release_memory();
        drop(task);
        kassert_eq!(
            (removed, refused),
            (unplug as u64 - want_refused, want_refused)
        );
        kassert_eq!(
            seen,
            PER_RANGE * unplug as u64,
            "task pages after the removal"
        );
        kassert_eq!(indices.len() as u64, seen, "every task page once");
        kassert_eq!(bad, 0, "task pages whose contents changed");
        kassert_eq!(stranded, 0, "task pages left in removed memory");
        kassert!(pinned_intact != Some(false), "the pinned page changed");
        let online: Vec<(u64, u64)> = onlined()
            .into_iter()
            .filter(|(n, _)| *n == node)
            .flat_map(|(_, r)| r)
            .collect();
        for &(s, e) in gone {
            kassert!(!online.contains(&(s, e)), "[{s:#x}, {e:#x}) still online");
            kassert!(
                allocator().zone_of(s).is_none(),
                "pfn {s:#x} still in a zone"
            );
        }
        if let Some(r) = pinned_range {
            kassert!(online.contains(&r), "the refused range went offline");
        }
        let gone_pages: u64 = gone.iter().map(|(s, e)| e - s).sum();
        kassert_eq!(
            removed_bytes(node) - removed_before,
            gone_pages * layout::PAGE_SIZE
        );
        Ok(())
    }
);
