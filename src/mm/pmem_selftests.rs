//! Self-tests of persistent memory (NVDIMM): its pages are ZONE_DEVICE
//! with descriptors on the right node, never handed out by the buddy
//! allocator, claimed by one user at a time; and data written in one boot
//! is read back in the next with the same backing file. Skipped, and
//! said, on a VM without an NVDIMM (`./run-qemu.sh --nvdimm NODE:SIZE`).

use super::page_alloc::allocator;
use super::pmem::{claim, node_of, regions};
use super::{__free_pages, alloc_pages_node, virt_to_page, Gfp};
use crate::selftest::Failure;
use crate::{kassert, kassert_eq, kprintln, selftest};
use alloc::vec::Vec;
use layout::PAGE_SIZE;
use mm::zone::ZoneType;

const NO_PMEM: &str = "no NVDIMM in this VM (run-qemu.sh --nvdimm NODE:SIZE adds one)";

selftest!(
    "pmem",
    fn pmem_pages_are_zone_device_and_never_allocated() {
        let rs = regions();
        if rs.is_empty() {
            return Err(Failure::Skipped(NO_PMEM));
        }
        for r in &rs {
            let node = node_of(r);
            for phys in [r.start, r.end - PAGE_SIZE] {
                let z = allocator().zone_of(phys / PAGE_SIZE);
                kassert!(z.is_some(), "no descriptor for {phys:#x}");
                kassert_eq!(z.unwrap().kind, ZoneType::Device);
                kassert_eq!(z.unwrap().node, node);
                let page = virt_to_page(layout::phys_to_virt(phys) as *const u8);
                kassert_eq!(page.map(|p| p.phys()), Some(phys));
            }
            kassert_eq!(
                allocator().zone_of(r.start / PAGE_SIZE).unwrap().managed(),
                0
            );
            // The highest zones a request may use are tried first: none of
            // them is ZONE_DEVICE.
            let mut held = Vec::new();
            for _ in 0..1024 {
                match alloc_pages_node(node as i32, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN, 0) {
                    Some(p) => held.push(p),
                    None => break,
                }
            }
            let inside = held
                .iter()
                .filter(|p| p.phys() >= r.start && p.phys() < r.end)
                .count();
            for p in held {
                __free_pages(p, 0);
            }
            kassert_eq!(inside, 0, "pages of ZONE_DEVICE handed out");
        }
        let first = claim(0);
        kassert!(first.is_some());
        kassert!(claim(0).is_none(), "claimed twice");
        drop(first);
        kassert!(claim(0).is_some(), "released on drop");
        kassert!(claim(rs.len()).is_none());
        Ok(())
    }
);

/// "NUMAPMEM": the header of the pattern, then the boot number.
const MAGIC: u64 = u64::from_le_bytes(*b"NUMAPMEM");
const PATTERN_BYTES: usize = 1 << 20;

fn pattern_word(boot: u64, i: usize) -> u64 {
    (boot << 40) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

selftest!(
    "pmem",
    fn data_written_in_one_boot_is_read_back_in_the_next() {
        let Some(mut c) = claim(0) else {
            return Err(Failure::Skipped(NO_PMEM));
        };
        let mem = c.as_mut_slice();
        kassert!(mem.len() >= PATTERN_BYTES + 16);
        // SAFETY: the slice is at least 1 MiB + 16 bytes, and the region's
        // start is page aligned, so these u64 views are aligned and in bounds.
        let words = unsafe {
            core::slice::from_raw_parts_mut(mem.as_mut_ptr() as *mut u64, (PATTERN_BYTES + 16) / 8)
        };
        let boot = if words[0] == MAGIC {
            let earlier = words[1];
            let intact = (0..PATTERN_BYTES / 8).all(|i| words[2 + i] == pattern_word(earlier, i));
            kassert!(intact, "the pattern boot {earlier} wrote changed");
            kprintln!(
                "    # pmem: boot {}: the 1 MiB pattern of boot {earlier} read back intact",
                earlier + 1
            );
            earlier + 1
        } else {
            kprintln!("    # pmem: boot 1: no earlier pattern (a fresh backing file)");
            1
        };
        for i in 0..PATTERN_BYTES / 8 {
            words[2 + i] = pattern_word(boot, i);
        }
        words[1] = boot;
        words[0] = MAGIC;
        c.flush(0, PATTERN_BYTES + 16);
        Ok(())
    }
);
