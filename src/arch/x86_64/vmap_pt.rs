//! Page tables of the vmalloc region: mapping runs of 4 KiB pages or
//! 2 MiB pages at an area's address, unmapping them, and flushing this
//! CPU's TLB for a range. Table pages come from the page allocator on the
//! area's node and stay once made (Linux keeps vmalloc page tables too),
//! so the region's upper levels are shared by every later area.
//!
//! Unmapping does not flush: the vmalloc layer flushes lazily, for many
//! freed areas at once, before any of their addresses is reused.

use super::paging::{with_live_pml4, PagingError};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::{phys_to_virt, PAGE_SIZE, SIZE_2M, VMALLOC_BASE, VMALLOC_SIZE};
use x86_64::structures::paging::{PageTable, PageTableFlags as F};
use x86_64::PhysAddr;

/// Page-table pages made for the region so far.
pub static TABLE_PAGES: AtomicU64 = AtomicU64::new(0);

/// Leaf rights of every vmalloc mapping: kernel data, never executable.
const LEAF: F = F::PRESENT.union(F::WRITABLE).union(F::NO_EXECUTE);
/// Upper levels leave the rights to the leaves.
const TABLE: F = F::PRESENT.union(F::WRITABLE);

/// More pages than this and a flush reloads CR3 instead of one `invlpg`
/// each (Linux's tlb_single_page_flush_ceiling is 33).
const FLUSH_CEILING_PAGES: u64 = 33;

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 511) as usize
}

/// # Safety
/// `phys` is a page-table page of the live tables (RAM, direct-mapped),
/// and the page-table lock is held.
unsafe fn table_at(phys: u64) -> &'static mut PageTable {
    // SAFETY: the caller's contract.
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

/// The table one level below entry `i` of `t`, made (zeroed, on `node`)
/// if missing. Fails on a huge leaf where a table should be.
fn next_table(
    t: &mut PageTable,
    i: usize,
    node: i32,
) -> Result<&'static mut PageTable, PagingError> {
    let e = &mut t[i];
    if e.is_unused() {
        let page = super::paging::table_frames()
            .and_then(|f| f.alloc_vmalloc_table(node))
            .ok_or(PagingError::OutOfFrames)?;
        TABLE_PAGES.fetch_add(1, Relaxed);
        e.set_addr(PhysAddr::new(page), TABLE);
    } else if e.flags().contains(F::HUGE_PAGE) {
        return Err(PagingError::MapFailed(0));
    }
    // SAFETY: a present non-huge entry of the live tables names a table
    // page, and the caller holds the page-table lock (with_live_pml4).
    Ok(unsafe { table_at(e.addr().as_u64()) })
}

fn in_region(virt: u64, len: u64) -> bool {
    virt >= VMALLOC_BASE
        && virt
            .checked_add(len)
            .is_some_and(|e| e <= VMALLOC_BASE + VMALLOC_SIZE)
}

/// Maps `chunks.len()` pieces of `chunk` bytes (4 KiB or 2 MiB) from
/// `virt` on: piece `k` to physical `chunks[k]`. Every target entry must be
/// empty. Tables are taken from `node`. On failure, what was mapped stays
/// mapped and the caller unmaps the whole range.
pub fn map(virt: u64, chunks: &[u64], chunk: u64, node: i32) -> Result<(), PagingError> {
    let len = chunks.len() as u64 * chunk;
    if !in_region(virt, len)
        || (chunk != PAGE_SIZE && chunk != SIZE_2M)
        || !virt.is_multiple_of(chunk)
    {
        return Err(PagingError::MapFailed(virt));
    }
    with_live_pml4(|pml4| {
        let mut k = 0;
        while k < chunks.len() {
            let at = virt + k as u64 * chunk;
            let pdpt = next_table(pml4, index(at, 4), node)?;
            let pd = next_table(pdpt, index(at, 3), node)?;
            if chunk == SIZE_2M {
                let e = &mut pd[index(at, 2)];
                if !e.is_unused() && !e.flags().contains(F::HUGE_PAGE) {
                    // A page table left by earlier small areas: empty, or
                    // the range would not be free. Its translations were
                    // flushed by the purge that freed the range.
                    let table = e.addr().as_u64();
                    // SAFETY: a present non-huge entry names a table page.
                    if unsafe { table_at(table) }.iter().any(|x| !x.is_unused()) {
                        return Err(PagingError::MapFailed(at));
                    }
                    e.set_unused();
                    if let Some(f) = super::paging::table_frames() {
                        f.free_table(table);
                    }
                    TABLE_PAGES.fetch_sub(1, Relaxed);
                }
                if !e.is_unused() {
                    return Err(PagingError::MapFailed(at));
                }
                e.set_addr(PhysAddr::new(chunks[k]), LEAF | F::HUGE_PAGE);
                k += 1;
                continue;
            }
            // One page-table walk, then every page up to the next 2 MiB.
            let pt = next_table(pd, index(at, 2), node)?;
            let mut i = index(at, 1);
            while i < 512 && k < chunks.len() {
                let e = &mut pt[i];
                if !e.is_unused() {
                    return Err(PagingError::MapFailed(virt + k as u64 * chunk));
                }
                e.set_addr(PhysAddr::new(chunks[k]), LEAF);
                i += 1;
                k += 1;
            }
        }
        Ok(())
    })?
}

/// Clears every leaf in `[virt, virt + len)` (4 KiB or 2 MiB entries);
/// returns how many 4 KiB pages were mapped there. No TLB flush.
pub fn unmap(virt: u64, len: u64) -> u64 {
    if !in_region(virt, len) {
        return 0;
    }
    with_live_pml4(|pml4| {
        let mut cleared = 0;
        let mut at = virt;
        while at < virt + len {
            let e4 = &pml4[index(at, 4)];
            if e4.is_unused() {
                at = (at | ((1 << 39) - 1)) + 1;
                continue;
            }
            // SAFETY: present entries of the live tables name table pages;
            // the lock is held.
            let pdpt = unsafe { table_at(e4.addr().as_u64()) };
            let e3 = &pdpt[index(at, 3)];
            if e3.is_unused() {
                at = (at | ((1 << 30) - 1)) + 1;
                continue;
            }
            // SAFETY: as above.
            let pd = unsafe { table_at(e3.addr().as_u64()) };
            let e2 = &mut pd[index(at, 2)];
            if e2.is_unused() {
                at = (at | (SIZE_2M - 1)) + 1;
                continue;
            }
            if e2.flags().contains(F::HUGE_PAGE) {
                e2.set_unused();
                cleared += SIZE_2M / PAGE_SIZE;
                at = (at | (SIZE_2M - 1)) + 1;
                continue;
            }
            // SAFETY: as above.
            let pt = unsafe { table_at(e2.addr().as_u64()) };
            let run_end = ((at | (SIZE_2M - 1)) + 1).min(virt + len);
            while at < run_end {
                let e = &mut pt[index(at, 1)];
                if !e.is_unused() {
                    e.set_unused();
                    cleared += 1;
                }
                at += PAGE_SIZE;
            }
        }
        cleared
    })
    .unwrap_or(0)
}

/// Makes the 4 KiB page at `virt`, mapped with `map`, present or not
/// present, keeping its frame (KFENCE's guard and freed pages), and drops
/// this CPU's translation of it. Takes no lock, so it may run in a fault
/// handler or an interrupt: it only flips the present bit of a leaf that
/// exists, and the region's tables are never freed. False when `virt` has
/// no 4 KiB leaf.
pub fn set_present(virt: u64, present: bool) -> bool {
    if !in_region(virt, PAGE_SIZE) {
        return false;
    }
    // The running tables (every CPU runs the kernel's), from CR3: no lock.
    let mut table = x86_64::registers::control::Cr3::read()
        .0
        .start_address()
        .as_u64();
    for level in [4, 3, 2] {
        // SAFETY: `table` is a page-table page of the live tables (the
        // PML4, then tables named by present entries), direct-mapped.
        let e = unsafe { &table_at(table)[index(virt, level)] };
        if e.is_unused() || e.flags().contains(F::HUGE_PAGE) {
            return false;
        }
        table = e.addr().as_u64();
    }
    // SAFETY: the leaf table of `virt`; its entry is a u64 the CPU reads
    // atomically, changed here with one atomic operation.
    let entry =
        unsafe { &*((phys_to_virt(table) as *const u64).add(index(virt, 1)) as *const AtomicU64) };
    if entry.load(Relaxed) & !F::PRESENT.bits() == 0 {
        return false; // never mapped
    }
    if present {
        entry.fetch_or(F::PRESENT.bits(), Relaxed);
    } else {
        entry.fetch_and(!F::PRESENT.bits(), Relaxed);
    }
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
    true
}

/// Drops this CPU's translations of `[virt, virt + len)`: one `invlpg` a
/// page for small ranges, a CR3 reload (non-global entries, which every
/// vmalloc mapping is) above the ceiling.
pub fn flush_local(ranges: &[(u64, u64)]) {
    let pages: u64 = ranges.iter().map(|r| r.1 / PAGE_SIZE).sum();
    if pages > FLUSH_CEILING_PAGES {
        x86_64::instructions::tlb::flush_all();
        return;
    }
    for &(start, len) in ranges {
        let mut at = start;
        while at < start + len {
            x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(at));
            at += PAGE_SIZE;
        }
    }
}
