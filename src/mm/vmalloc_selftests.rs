//! Boot-time self-tests of vmalloc: areas of 4 KiB to 64 MiB written and
//! read back page by page, pages on the requested node, 2 MiB mappings,
//! a guard-page access caught and named, lazy frees that a purge flushes
//! on every CPU (no CPU ever sees a stale mapping), vfree from interrupt
//! context, and bad frees refused.

use super::page_alloc::{allocator, Page};
use super::selftest_support::needs_free_memory;
use super::vmalloc::*;
use super::{__free_pages, alloc_pages_node, page_address, Gfp};
use crate::arch::x86_64::fault_probe::probe_read;
use crate::arch::x86_64::paging::{translate, Mapping};
use crate::arch::x86_64::tsc;
use crate::arch::x86_64::{ipi, percpu, vmap_pt};
use crate::numa::topology;
use crate::selftest::{Failure, Outcome};
use crate::{kassert, kassert_eq, kprintln, selftest};
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use layout::{PAGE_SIZE, SIZE_2M};
use numa::MAX_CPUS;

/// Free pages (parked ones included), slab pages and the region's page
/// tables: what a vmalloc and its vfree must leave as they found it.
fn pages_accounted() -> u64 {
    let free = super::selftest_support::free_pages_now();
    let (r, u) = super::slab::slab_pages();
    free + r + u + vmap_pt::TABLE_PAGES.load(Relaxed)
}

fn pattern(addr: u64, page: u64) -> u64 {
    addr ^ (page << 12) ^ 0x005e_ed0f_0a11_0c00
}

/// Writes a word into every page of a fresh area of `size` bytes, reads
/// them all back, checks the mapping, frees it and checks every page came
/// back.
fn write_and_read_back_every_page(size: usize) -> Outcome {
    let before = pages_accounted();
    let p = vmalloc(size);
    kassert!(!p.is_null(), "vmalloc({size})");
    let a = p as u64;
    let info = find_area(p);
    kassert!(info.is_some());
    let info = info.unwrap();
    kassert_eq!(info.size, size as u64);
    kassert_eq!(info.kind, Kind::Vmalloc);
    let pages = size as u64 / PAGE_SIZE;
    kassert_eq!(info.per_node.iter().sum::<u64>(), pages);
    for i in 0..pages {
        let word = (a + i * PAGE_SIZE + (i * 8) % PAGE_SIZE) as *mut u64;
        // SAFETY: inside the area, which is ours until vfree.
        unsafe { word.write_volatile(pattern(a, i)) };
    }
    for i in 0..pages {
        let word = (a + i * PAGE_SIZE + (i * 8) % PAGE_SIZE) as *const u64;
        // SAFETY: as above.
        let got = unsafe { word.read_volatile() };
        kassert_eq!(got, pattern(a, i), "page {i} of a {size}-byte area");
    }
    // Mapped where its page list says, writable, never executable.
    for i in [0, pages / 2, pages - 1] {
        let v = a + i * PAGE_SIZE;
        match translate(v) {
            Mapping::Mapped {
                phys,
                writable,
                executable,
                ..
            } => {
                kassert_eq!(Some(phys), vmalloc_to_phys(v));
                kassert!(writable && !executable);
            }
            Mapping::NotMapped => kassert!(false, "page {i} of {a:#x} not mapped"),
        }
    }
    kassert_eq!(translate(a + size as u64), Mapping::NotMapped, "guard page");
    vfree(p);
    kassert!(find_area(p).is_none());
    kassert_eq!(pages_accounted(), before, "pages back after vfree({size})");
    Ok(())
}

/// Nanoseconds a page cost in the small sizes' run (vmalloc, write, read,
/// vfree), to project the large sizes' cost.
static NS_PER_PAGE: AtomicU64 = AtomicU64::new(0);

/// The large sizes may take this long; beyond it they are skipped, and
/// say why. Under TCG a page costs about 5 us; under this machine's
/// nested KVM, which emulates every page-table write, about 850 us.
const LARGE_AREAS_BUDGET_NS: u64 = 10_000_000_000;

selftest!(
    "vmalloc",
    fn areas_from_4k_to_4m_hold_what_is_written_page_by_page() {
        // The largest area, its page tables and room for the watermarks.
        needs_free_memory(8 << 20, 0)?;
        let t0 = tsc::ns_since_boot();
        let mut pages = 0;
        for size in [4usize << 10, 16 << 10, 64 << 10, 1 << 20, 4 << 20] {
            write_and_read_back_every_page(size)?;
            pages += size as u64 / PAGE_SIZE;
        }
        NS_PER_PAGE.store((tsc::ns_since_boot() - t0) / pages, Relaxed);
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn areas_of_16m_and_64m_hold_what_is_written_page_by_page() {
        let pages = (80u64 << 20) / PAGE_SIZE;
        let per_page = NS_PER_PAGE.load(Relaxed);
        if per_page == 0 {
            return Err(Failure::Skipped(
                "needs the 4 KiB to 4 MiB case's timing, which did not run",
            ));
        }
        if per_page * pages > LARGE_AREAS_BUDGET_NS {
            kprintln!(
                "    # {} us a page measured on the small areas: 16 and 64 MiB would take about {} s here",
                per_page / 1000,
                per_page * pages / 1_000_000_000
            );
            return Err(Failure::Skipped(
                "page-table writes too slow under this accelerator (nested KVM's shadow paging); TCG runs them",
            ));
        }
        needs_free_memory(72 << 20, 0)?;
        write_and_read_back_every_page(16 << 20)?;
        write_and_read_back_every_page(64 << 20)
    }
);

selftest!(
    "vmalloc",
    fn vmalloc_node_takes_its_pages_from_the_node() {
        needs_free_memory(4 << 20, 0)?;
        for node in 0..topology().node_count() {
            let p = vmalloc_node(1 << 20, node as i32);
            kassert!(!p.is_null(), "vmalloc_node(1 MiB, {node})");
            // A node without usable memory falls back as its zonelist says.
            let want = allocator().preferred_node(node, Gfp::KERNEL);
            let info = find_area(p).unwrap();
            kassert_eq!(
                info.per_node[want],
                256,
                "pages of vmalloc_node(1 MiB, {node}) on {want}"
            );
            vfree(p);
        }
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn a_guard_page_access_faults_and_the_report_names_the_area() {
        let p = vzalloc(16 << 10);
        kassert!(!p.is_null());
        let a = p as u64;
        kassert_eq!(probe_read(a + 100), Ok(0), "inside the area");
        let guard = a + (16 << 10) + 8;
        let fault = probe_read(guard);
        kassert!(fault.is_err(), "a read of the guard page must fault");
        kassert_eq!(fault.unwrap_err().addr, guard);
        let text = format!("{}", describe(guard).unwrap());
        kassert!(
            text.contains("guard page of vmalloc area") && text.contains("vmalloc_selftests.rs"),
            "{text}"
        );
        let inside = format!("{}", describe(a + 0x1234).unwrap());
        kassert!(inside.contains("offset 0x1234 in vmalloc area"), "{inside}");
        vfree(p);
        // After vfree the address names no live area.
        let after = format!("{}", describe(a).unwrap());
        kassert!(!after.contains("offset"), "{after}");
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn huge_vmalloc_maps_2mib_pages() {
        needs_free_memory(8 << 20, 9)?;
        // Two free 2 MiB blocks at least (an order-10 block is two): with
        // one only, vmalloc_huge rightly falls back to 4 KiB pages.
        let blocks_2m: usize = allocator()
            .zones()
            .map(|z| {
                let free = z.free_state().1;
                free[9] + 2 * free[10]
            })
            .sum();
        if blocks_2m < 2 {
            return Err(crate::selftest::Failure::Skipped(
                "fewer than two free 2 MiB blocks",
            ));
        }
        let before = pages_accounted();
        let p = vmalloc_huge(4 << 20, Gfp::KERNEL);
        kassert!(!p.is_null());
        let a = p as u64;
        kassert_eq!(a % SIZE_2M, 0, "2 MiB aligned");
        kassert!(find_area(p).unwrap().huge);
        match translate(a + SIZE_2M + 0x3000) {
            Mapping::Mapped {
                page_size, phys, ..
            } => {
                kassert_eq!(page_size, SIZE_2M);
                kassert_eq!(Some(phys), vmalloc_to_phys(a + SIZE_2M + 0x3000));
            }
            Mapping::NotMapped => kassert!(false, "not mapped"),
        }
        for i in 0..(4 << 20) / PAGE_SIZE {
            // SAFETY: inside the area.
            unsafe { ((a + i * PAGE_SIZE) as *mut u64).write_volatile(pattern(a, i)) };
        }
        for i in 0..(4 << 20) / PAGE_SIZE {
            // SAFETY: as above.
            let got = unsafe { ((a + i * PAGE_SIZE) as *const u64).read_volatile() };
            kassert_eq!(got, pattern(a, i));
        }
        // A size below 2 MiB gets small pages.
        let q = vmalloc_huge(64 << 10, Gfp::KERNEL);
        kassert!(!find_area(q).unwrap().huge);
        vfree(q);
        vfree(p);
        kassert_eq!(pages_accounted(), before);
        Ok(())
    }
);

/// What each CPU read through the vmap'd address, one bit per wrong page.
static SEEN: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

fn every_cpu_reads(addr: u64, pages: u64, want: u8) -> Result<(), ipi::CallError> {
    for s in &SEEN {
        s.store(0, Relaxed);
    }
    ipi::on_each_cpu(&|cpu| {
        let mut wrong = 0u64;
        for i in 0..pages {
            // SAFETY: the area is mapped for the whole call.
            let b = unsafe { ((addr + i * PAGE_SIZE) as *const u8).read_volatile() };
            if b != want {
                wrong |= 1 << i;
            }
        }
        SEEN[cpu as usize].store(wrong | 1 << 63, Relaxed);
    })
}

selftest!(
    "vmalloc",
    fn after_vfree_and_reuse_every_cpu_sees_the_new_mapping() {
        const N: usize = 4;
        let mut old = [None; N];
        let mut new = [None; N];
        for i in 0..N {
            old[i] = alloc_pages_node(super::NUMA_NO_NODE, Gfp::KERNEL, 0);
            new[i] = alloc_pages_node(super::NUMA_NO_NODE, Gfp::KERNEL, 0);
        }
        kassert!(old.iter().chain(new.iter()).all(|p| p.is_some()));
        let old: Vec<Page> = old.iter().map(|p| p.unwrap()).collect();
        let new: Vec<Page> = new.iter().map(|p| p.unwrap()).collect();
        for p in &old {
            // SAFETY: our page, through the direct map.
            unsafe { core::ptr::write_bytes(page_address(*p), 0xaa, PAGE_SIZE as usize) };
        }
        for p in &new {
            // SAFETY: as above.
            unsafe { core::ptr::write_bytes(page_address(*p), 0xbb, PAGE_SIZE as usize) };
        }
        vm_unmap_aliases(); // start with nothing lazy
        let a = vmap(&old) as u64;
        kassert!(a != 0);
        // Every CPU now caches a translation of the old pages.
        kassert_eq!(every_cpu_reads(a, N as u64, 0xaa), Ok(()));
        vunmap(a as *const u8);
        kassert!(lazy_pages() > 0, "vunmap is lazy");
        // While lazy, the range is not handed out again.
        let b = vmap(&new) as u64;
        kassert!(
            b != 0 && b != a,
            "a lazily freed range was reused before its purge"
        );
        vunmap(b as *const u8);
        let purges = STATS.purges.load(Relaxed);
        vm_unmap_aliases();
        kassert_eq!(STATS.purges.load(Relaxed), purges + 1);
        kassert_eq!(lazy_pages(), 0);
        // The lowest fit is the old address again, now for the new pages.
        let c = vmap(&new) as u64;
        kassert_eq!(c, a, "the purged range is reused");
        kassert_eq!(every_cpu_reads(c, N as u64, 0xbb), Ok(()));
        for cpu in percpu::online() {
            let seen = SEEN[cpu.cpu as usize].load(Relaxed);
            kassert!(seen & 1 << 63 != 0, "CPU {} did not read", cpu.cpu);
            kassert_eq!(
                seen & !(1 << 63),
                0,
                "CPU {} saw a stale mapping (bits: wrong pages)",
                cpu.cpu
            );
        }
        vunmap(c as *const u8);
        for p in old.iter().chain(new.iter()) {
            __free_pages(*p, 0);
        }
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn vfree_in_interrupt_context_is_deferred() {
        let me = percpu::cpu_id();
        let Some(other) = percpu::online().map(|c| c.cpu).find(|&c| c != me) else {
            return Err(Failure::Skipped(
                "one CPU: no other CPU to run an interrupt handler on",
            ));
        };
        let p = vmalloc(8 << 10);
        kassert!(!p.is_null());
        let queued = STATS.deferred.load(Relaxed);
        let addr = p as u64;
        kassert_eq!(ipi::call_on(other, &|_| vfree(addr as *const u8)), Ok(()));
        kassert_eq!(STATS.deferred.load(Relaxed), queued + 1);
        kassert!(
            find_area(p).is_some(),
            "queued, not freed, in interrupt context"
        );
        let done = STATS.deferred_done.load(Relaxed);
        run_deferred_frees();
        kassert!(find_area(p).is_none());
        kassert_eq!(STATS.deferred_done.load(Relaxed), done + 1);
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn bad_requests_and_frees_are_refused_and_change_nothing() {
        let p = vmalloc(3 * PAGE_SIZE as usize);
        kassert!(!p.is_null());
        let bad = STATS.bad_frees.load(Relaxed);
        vfree(p.wrapping_add(4096)); // inside an area, not its start
        vunmap(p); // a vmalloc area is vfree's
        vfree((layout::VMALLOC_BASE + (1 << 40)) as *const u8); // no area there
        kassert_eq!(STATS.bad_frees.load(Relaxed), bad + 3);
        kassert!(find_area(p).is_some(), "the area is intact");
        // SAFETY: still ours.
        unsafe { p.add(3 * 4096 - 1).write_volatile(1) };
        vfree(p);
        vfree(p); // double free (still on the lazy list)
        kassert_eq!(STATS.bad_frees.load(Relaxed), bad + 4);
        let failures = STATS.failures.load(Relaxed);
        kassert!(vmalloc(0).is_null());
        kassert!(__vmalloc_node(1 << 50, Gfp::KERNEL | Gfp::NOWARN, -1).is_null());
        kassert!(vmap(&[]).is_null());
        kassert_eq!(STATS.failures.load(Relaxed), failures + 3);
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn vzalloc_memory_is_zeroed() {
        let size = 256 << 10;
        let p = vmalloc(size);
        kassert!(!p.is_null());
        // SAFETY: ours; leaves junk behind for the next allocation.
        unsafe { core::ptr::write_bytes(p, 0x77, size) };
        vfree(p);
        let q = vzalloc(size);
        kassert!(!q.is_null());
        // SAFETY: ours.
        let s = unsafe { core::slice::from_raw_parts(q as *const u64, size / 8) };
        kassert!(s.iter().all(|&w| w == 0), "vzalloc returned dirty memory");
        vfree(q);
        Ok(())
    }
);

selftest!(
    "vmalloc",
    fn vmallocinfo_lists_each_area_with_its_pages_per_node() {
        let nodes = topology().node_count();
        let mut areas = Vec::new();
        for node in 0..nodes {
            let p = vmalloc_node(64 << 10, node as i32);
            kassert!(!p.is_null());
            areas.push((p as u64, allocator().preferred_node(node, Gfp::KERNEL)));
        }
        let mut text = alloc::string::String::new();
        kassert!(vmallocinfo(&mut text).is_ok());
        for &(a, node) in &areas {
            let start = format!("{a:#018x}-{:#018x}", a + (64 << 10) + PAGE_SIZE);
            let line = text.lines().find(|l| l.starts_with(&start));
            kassert!(line.is_some(), "no line for {start} in\n{text}");
            let words: Vec<&str> = line.unwrap().split_whitespace().collect();
            kassert_eq!(words[1], "69632", "size with the guard page");
            kassert!(
                words[2].contains("vmalloc_selftests.rs"),
                "caller {}",
                words[2]
            );
            kassert_eq!(words[3], "pages=16");
            kassert_eq!(words[4], "vmalloc");
            let per_node = format!("N{node}=16");
            kassert_eq!(words.get(5).copied(), Some(per_node.as_str()));
        }
        for (a, _) in areas {
            vfree(a as *const u8);
        }
        Ok(())
    }
);
