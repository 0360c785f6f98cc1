//! Self-tests of memory hot-add: with `memhp.expect=N` (the launcher's
//! `--hotplug NODE:SIZE` sets it) they wait for the N devices to arrive
//! through ACPI, then check that each range is online as ZONE_MOVABLE on
//! its node, readable and writable through the direct map, that movable
//! allocations bound to the node land there and GFP_KERNEL ones never do.
//! Skipped, and said, without `memhp.expect=`.

use super::memory_hotplug::{added_bytes, EXPECTED};
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
    let handled = || acpi_hotplug::ADDED.load(Relaxed) + acpi_hotplug::REFUSED.load(Relaxed);
    acpi_hotplug::SCANNED.wait_event(|| handled() >= expected, Some(60_000_000_000));
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
