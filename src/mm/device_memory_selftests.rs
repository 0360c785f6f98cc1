//! Self-tests of coldplugged device memory (pc-dimm, found through AML):
//! it is ZONE_MOVABLE on its node, GFP_KERNEL allocations never land in
//! it, and movable allocations may. Skipped, and said, on a VM without
//! memory devices (`./run-qemu.sh --dimm NODE:SIZE` adds one).

use super::page_alloc::allocator;
use super::{__free_pages, alloc_pages_node, memblock, Gfp, Page};
use crate::numa::topology;
use crate::selftest::Failure;
use crate::{kassert, kassert_eq, selftest};
use alloc::vec::Vec;
use layout::PAGE_SIZE;
use mm::zone::ZoneType;

fn devices() -> Vec<(u64, u64)> {
    memblock::device_memory()
        .iter()
        .map(|d| (d.start, d.end))
        .collect()
}

const NO_DEVICES: &str = "no memory devices in this VM (run-qemu.sh --dimm NODE:SIZE adds one)";

selftest!(
    "device_memory",
    fn device_memory_is_zone_movable_on_its_node() {
        let d = devices();
        if d.is_empty() {
            return Err(Failure::Skipped(NO_DEVICES));
        }
        for (start, end) in d {
            let node = topology().node_of_addr(start);
            kassert!(node.is_some(), "[{start:#x}-{end:#x}) on no node");
            for pfn in [start / PAGE_SIZE, end / PAGE_SIZE - 1] {
                let z = allocator().zone_of(pfn);
                kassert!(z.is_some(), "pfn {pfn:#x} in no zone");
                let z = z.unwrap();
                kassert_eq!(z.kind, ZoneType::Movable, "pfn {pfn:#x}");
                kassert_eq!(Some(z.node), node);
            }
        }
        Ok(())
    }
);

selftest!(
    "device_memory",
    fn gfp_kernel_never_lands_in_device_memory_and_movable_allocations_may() {
        let d = devices();
        if d.is_empty() {
            return Err(Failure::Skipped(NO_DEVICES));
        }
        let inside = |p: Page| d.iter().any(|&(s, e)| p.phys() >= s && p.phys() < e);
        for &(start, _) in &d {
            let node = topology().node_of_addr(start).unwrap() as i32;
            let mut held = Vec::new();
            // Enough to pass the node's per-CPU lists and small free blocks.
            for _ in 0..2048 {
                match alloc_pages_node(node, Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0) {
                    Some(p) => {
                        held.push(p);
                    }
                    None => break,
                }
            }
            let in_device = held.iter().filter(|&&p| inside(p)).count();
            for p in held.drain(..) {
                __free_pages(p, 0);
            }
            kassert_eq!(
                in_device,
                0,
                "GFP_KERNEL pages in device memory on node {node}"
            );
            // A movable allocation prefers ZONE_MOVABLE, the device's memory.
            let p = alloc_pages_node(node, Gfp::HIGHUSER_MOVABLE, 0);
            kassert!(p.is_some());
            let p = p.unwrap();
            let ok = inside(p);
            __free_pages(p, 0);
            kassert!(
                ok,
                "a movable page on node {node} at {:#x}, not in device memory",
                p.phys()
            );
        }
        Ok(())
    }
);
