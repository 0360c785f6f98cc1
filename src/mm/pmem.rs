//! Persistent memory (NVDIMM): the NFIT's persistent-memory ranges, each
//! direct-mapped and made its node's ZONE_DEVICE before the zones are
//! built. The pages have descriptors (page_address, virt_to_page and
//! zone lookups work) but the buddy allocator never hands them out; a
//! user claims a whole region through [`claim`], as a Linux driver gets
//! device pages from devm_memremap_pages.

use crate::acpi::Tables;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering::*};
use layout::PAGE_SIZE;
use spin::Mutex;

/// One persistent-memory range.
#[derive(Clone, Copy, Debug)]
pub struct PmemRegion {
    pub start: u64,
    pub end: u64,
    pub pxm: Option<u32>,
}

const MAX_REGIONS: usize = 8;
static REGIONS: Mutex<Vec<PmemRegion>> = Mutex::new(Vec::new());
static CLAIMED: [AtomicBool; MAX_REGIONS] = [const { AtomicBool::new(false) }; MAX_REGIONS];

/// Reads the NFIT and direct-maps every persistent-memory range (after
/// the early heap, before `numa::init`). Bad structures are reported.
pub fn init(tables: &Tables) {
    let Some(bytes) = tables.nfit else {
        return;
    };
    let nfit = match acpi_tables::nfit::parse(bytes) {
        Ok(n) => n,
        Err(e) => {
            log::error!("NFIT: {e}; no persistent memory used");
            return;
        }
    };
    let mut regions = REGIONS.lock();
    for r in nfit.spa_ranges() {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                log::error!("NFIT: {e}; the structures after it are not read");
                break;
            }
        };
        if !r.persistent {
            log::info!(
                "NFIT: SPA range {} is not persistent memory; not used",
                r.index
            );
            continue;
        }
        let (start, end) = (r.base, r.base.saturating_add(r.length));
        if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 || start >= end {
            log::warn!(
                "NFIT: SPA range {} [{start:#x}-{end:#x}) is not whole pages; not used",
                r.index
            );
            continue;
        }
        if regions.len() == MAX_REGIONS {
            log::warn!("NFIT: more than {MAX_REGIONS} persistent-memory ranges; [{start:#x}-{end:#x}) not used");
            continue;
        }
        if let Err(e) = crate::arch::x86_64::paging::extend_direct_map_early(start, end) {
            log::error!("NFIT: [{start:#x}-{end:#x}) could not be mapped ({e:?}); not used");
            continue;
        }
        log::info!(
            "NFIT: persistent memory [mem {start:#018x}-{:#018x}] {} MiB, PXM {}",
            end - 1,
            (end - start) >> 20,
            r.pxm.map_or(-1, |p| p as i64)
        );
        regions.push(PmemRegion {
            start,
            end,
            pxm: r.pxm,
        });
    }
}

/// Every persistent-memory region.
pub fn regions() -> Vec<PmemRegion> {
    REGIONS.lock().clone()
}

/// The node a region belongs to: its NFIT proximity domain's, else node 0.
pub fn node_of(r: &PmemRegion) -> usize {
    r.pxm
        .and_then(|p| crate::numa::topology().node_of_pxm(p))
        .unwrap_or(0)
}

/// A claimed region: the memory is the claimant's until it drops this.
pub struct PmemClaim {
    index: usize,
    pub region: PmemRegion,
}

impl PmemClaim {
    /// The region through the direct map.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = (self.region.end - self.region.start) as usize;
        // SAFETY: the range was direct-mapped at boot, is device memory no
        // allocator hands out, and this claim is its only user (CLAIMED).
        unsafe {
            core::slice::from_raw_parts_mut(layout::phys_to_virt(self.region.start) as *mut u8, len)
        }
    }

    /// Writes the caches' copies of `[offset, offset + len)` back to the
    /// media (clflush, then a fence), so the data outlives a power loss.
    pub fn flush(&mut self, offset: usize, len: usize) {
        let base = layout::phys_to_virt(self.region.start) as usize;
        let mut line = (base + offset) & !63;
        while line < base + offset + len {
            // SAFETY: a line of the claimed, mapped region.
            unsafe { core::arch::x86_64::_mm_clflush(line as *const u8) };
            line += 64;
        }
        // SAFETY: a fence has no memory-safety requirement.
        unsafe { core::arch::x86_64::_mm_sfence() };
    }
}

impl Drop for PmemClaim {
    fn drop(&mut self) {
        CLAIMED[self.index].store(false, Release);
    }
}

/// Claims region `index` for exclusive use; None if it does not exist or
/// is claimed already.
pub fn claim(index: usize) -> Option<PmemClaim> {
    let region = *REGIONS.lock().get(index)?;
    CLAIMED[index]
        .compare_exchange(false, true, AcqRel, Relaxed)
        .ok()?;
    Some(PmemClaim { index, region })
}
