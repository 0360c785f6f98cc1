//! The page allocator's state in the formats Linux users read:
//! /proc/buddyinfo, /proc/pagetypeinfo, /proc/zoneinfo, numastat(8), and
//! the report Linux prints when an allocation fails (warn_alloc and
//! show_mem).

use crate::buddy::{MigrateType, MAX_ORDER, PAGEBLOCK_ORDER, PAGEBLOCK_PAGES};
use crate::gfp::Gfp;
use crate::page_alloc::{PageAllocator, Zone};
use crate::stats::{NumaStat, NR_NUMA_STATS};
use core::fmt::{self, Write};

const PAGE_KIB: u64 = layout::PAGE_SIZE / 1024;

/// `Node 0, zone    DMA32    112     54 ...`: free blocks per order of
/// every populated zone.
pub fn buddyinfo(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    for z in a.zones().filter(|z| z.is_populated()) {
        write!(w, "Node {}, zone {:>8} ", z.node, z.kind.name())?;
        for count in z.free_state().1 {
            write!(w, "{count:>6} ")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// /proc/pagetypeinfo as Linux's mm/vmstat.c prints it: the pageblock
/// size, free blocks per order of each migratetype of every populated
/// zone, then how many pageblocks each type holds (each zone's row read
/// under its lock; a zone's free counts sum to its buddyinfo row when
/// nothing allocates in between).
pub fn pagetypeinfo(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    writeln!(w, "Page block order: {PAGEBLOCK_ORDER}")?;
    writeln!(w, "Pages per block:  {PAGEBLOCK_PAGES}")?;
    writeln!(w)?;
    write!(w, "{:<43} ", "Free pages count per migrate type at order")?;
    for order in 0..=MAX_ORDER {
        write!(w, "{order:6} ")?;
    }
    writeln!(w)?;
    for z in a.zones().filter(|z| z.is_populated()) {
        let (free, _) = z.pagetype_state();
        for mt in MigrateType::ALL {
            write!(
                w,
                "Node {:4}, zone {:>8}, type {:>12} ",
                z.node,
                z.kind.name(),
                mt.name()
            )?;
            for per_order in &free {
                write!(w, "{:6} ", per_order[mt as usize])?;
            }
            writeln!(w)?;
        }
    }
    write!(w, "\n{:<23}", "Number of blocks type ")?;
    for mt in MigrateType::ALL {
        write!(w, "{:>12} ", mt.name())?;
    }
    writeln!(w)?;
    for z in a.zones().filter(|z| z.is_populated()) {
        let (_, blocks) = z.pagetype_state();
        write!(w, "Node {}, zone {:>8} ", z.node, z.kind.name())?;
        for n in blocks {
            write!(w, "{n:12} ")?;
        }
        writeln!(w)?;
    }
    Ok(())
}

/// Every zone of every node; empty zones stop after their protection line,
/// as Linux's do; the pagesets are the page lists of every CPU registered.
pub fn zoneinfo(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    for z in a.zones() {
        let (free, _) = z.free_state();
        let wm = z.watermarks();
        writeln!(w, "Node {}, zone {:>8}", z.node, z.kind.name())?;
        writeln!(w, "  pages free     {free}")?;
        writeln!(w, "        boost    0")?;
        writeln!(w, "        min      {}", wm.min)?;
        writeln!(w, "        low      {}", wm.low)?;
        writeln!(w, "        high     {}", wm.high)?;
        writeln!(w, "        spanned  {}", z.reported_span().spanned())?;
        writeln!(w, "        present  {}", z.present())?;
        writeln!(w, "        managed  {}", z.managed())?;
        writeln!(w, "        cma      0")?;
        write!(w, "        protection: (")?;
        for (i, r) in z.lowmem_reserve().iter().enumerate() {
            write!(w, "{}{r}", if i == 0 { "" } else { ", " })?;
        }
        writeln!(w, ")")?;
        if !z.is_populated() {
            continue;
        }
        writeln!(w, "      {:<12} {free}", "nr_free_pages")?;
        for (stat, v) in NumaStat::ALL.iter().zip(a.zone_stats(z)) {
            writeln!(w, "      {:<12} {v}", stat.vmstat_name())?;
        }
        writeln!(w, "  pagesets")?;
        for (cpu, lists) in a.pcp_sets() {
            let set = lists.get(z.pcp_index);
            let count = set.map_or(0, |l| l.count());
            // Not tuned yet: it starts from high_min.
            let high = set.map_or(0, |l| l.high()).max(z.pcp_high_min());
            writeln!(w, "    cpu: {cpu}")?;
            writeln!(w, "              count:    {count}")?;
            writeln!(w, "              high:     {high}")?;
            writeln!(w, "              batch:    {}", z.pcp_batch())?;
            writeln!(w, "              high_min: {}", z.pcp_high_min())?;
            writeln!(w, "              high_max: {}", z.pcp_high_max())?;
        }
        writeln!(w, "  start_pfn:           {}", z.reported_span().start_pfn)?;
    }
    Ok(())
}

/// numastat's default table: one column per node, counts of allocations.
pub fn numastat(w: &mut dyn Write, a: &PageAllocator) -> fmt::Result {
    write!(w, "{:<16}", "")?;
    for n in a.nodes() {
        write!(w, "{:>16}", NodeName(n.id))?;
    }
    writeln!(w)?;
    let per_node: [[u64; NR_NUMA_STATS]; numa::MAX_NUMNODES] =
        core::array::from_fn(|n| a.node_stats(n));
    for stat in NumaStat::ALL {
        write!(w, "{:<16}", stat.numastat_name())?;
        for n in a.nodes() {
            write!(w, "{:>16}", per_node[n.id][stat as usize])?;
        }
        writeln!(w)?;
    }
    Ok(())
}

struct NodeName(usize);
impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Padding applies to the whole name, so build it first.
        let mut buf = [0u8; 24];
        let mut cursor = Cursor(&mut buf, 0);
        write!(cursor, "node{}", self.0)?;
        let len = cursor.1;
        f.pad(core::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

struct Cursor<'b>(&'b mut [u8], usize);
impl Write for Cursor<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.1 + s.len();
        self.0
            .get_mut(self.1..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}

fn zone_line(w: &mut dyn Write, z: &Zone) -> fmt::Result {
    let wm = z.watermarks();
    writeln!(
        w,
        "Node {} {} free:{}kB boost:0kB min:{}kB low:{}kB high:{}kB present:{}kB managed:{}kB",
        z.node,
        z.kind.name(),
        z.free_pages() * PAGE_KIB,
        wm.min * PAGE_KIB,
        wm.low * PAGE_KIB,
        wm.high * PAGE_KIB,
        z.present() * PAGE_KIB,
        z.managed() * PAGE_KIB
    )?;
    write!(w, "lowmem_reserve[]:")?;
    for r in z.lowmem_reserve() {
        write!(w, " {r}")?;
    }
    writeln!(w)
}

fn buddy_line(w: &mut dyn Write, z: &Zone) -> fmt::Result {
    let (_, blocks) = z.free_state();
    write!(w, "Node {} {}:", z.node, z.kind.name())?;
    let mut total = 0;
    for (order, count) in blocks.iter().enumerate().take(MAX_ORDER + 1) {
        let kib = PAGE_KIB << order;
        total += *count as u64 * kib;
        write!(w, " {count}*{kib}kB")?;
    }
    writeln!(w, " = {total}kB")
}

/// What Linux prints when an allocation fails: the request, then each
/// zone's free memory against its watermarks, and its free blocks.
pub fn allocation_failure(
    w: &mut dyn Write,
    a: &PageAllocator,
    who: &str,
    gfp: Gfp,
    order: usize,
    node: Option<usize>,
    why: &dyn fmt::Display,
) -> fmt::Result {
    write!(
        w,
        "{who}: page allocation failure: order:{order}, mode:{gfp:?}, nodemask=(null)"
    )?;
    match node {
        Some(n) => writeln!(w, ", node={n}: {why}")?,
        None => writeln!(w, ", node=local: {why}")?,
    }
    writeln!(w, "Mem-Info:")?;
    for z in a.zones().filter(|z| z.is_populated()) {
        zone_line(w, z)?;
    }
    for z in a.zones().filter(|z| z.is_populated()) {
        buddy_line(w, z)?;
    }
    let present: u64 = a.zones().map(|z| z.present()).sum();
    let managed: u64 = a.zones().map(|z| z.managed()).sum();
    writeln!(w, "{present} pages RAM")?;
    writeln!(w, "{} pages reserved", present - managed)
}

/// What /proc/vmallocinfo shows of one area.
#[derive(Clone)]
pub struct VmallocRow<'a> {
    pub start: u64,
    /// Bytes, the guard page included (as Linux's `vm_struct.size`).
    pub size: u64,
    /// Where it was made (Linux prints the caller's symbol; we have the
    /// source location).
    pub caller: &'a dyn fmt::Display,
    pub pages: u64,
    /// "vmalloc" or "vmap".
    pub kind: &'static str,
    /// Mapped with 2 MiB pages.
    pub huge: bool,
    /// 4 KiB pages per node, by node id (zero counts are not printed).
    pub per_node: &'a [u64],
    /// Freed and unmapped, waiting for the lazy TLB purge.
    pub unpurged: bool,
}

/// `0xffffc90000000000-0xffffc90000005000   20480 src/x.rs:10 pages=4 vmalloc N0=4`,
/// one line per area in address order, as Linux prints them.
pub fn vmallocinfo(w: &mut dyn Write, rows: &[VmallocRow]) -> fmt::Result {
    for r in rows {
        write!(
            w,
            "{:#018x}-{:#018x} {:>7}",
            r.start,
            r.start + r.size,
            r.size
        )?;
        if r.unpurged {
            writeln!(w, " unpurged vm_area")?;
            continue;
        }
        write!(w, " {}", r.caller)?;
        if r.pages > 0 {
            write!(w, " pages={}", r.pages)?;
        }
        write!(w, " {}", r.kind)?;
        if r.huge {
            write!(w, " huge")?;
        }
        for (node, &n) in r.per_node.iter().enumerate() {
            if n > 0 {
                write!(w, " N{node}={n}")?;
            }
        }
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::page_alloc::{NoReclaim, Request};
    use crate::setup::{build, Setup};
    use crate::test_support::Heap;
    use std::string::String;

    /// Two nodes of 64 MiB without firmware tables: one node (numa=off
    /// style), since only the layout of the text is under test here.
    fn small() -> PageAllocator<'static> {
        let ram = [(0u64, 0x9fc00u64), (0x10_0000, 0x800_0000)];
        let inputs = numa::Inputs {
            srat: None,
            mp_cpus: &[],
            slit: None,
            madt: None,
            ram: &ram,
            boot_apic_id: 0,
            numa_off: true,
        };
        let topo = numa::build(&inputs, &mut |_, _| {});
        build(&topo, &Setup::default(), &mut Heap, &mut |add| {
            add(0x10_0000, 0x800_0000)
        })
        .0
    }

    #[test]
    fn buddyinfo_has_linux_columns() {
        let a = small();
        let mut s = String::new();
        buddyinfo(&mut s, &a).unwrap();
        let lines: std::vec::Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("Node 0, zone      DMA "), "{s}");
        assert!(lines[1].starts_with("Node 0, zone    DMA32 "), "{s}");
        // 11 orders, 7 characters each.
        assert_eq!(lines[0].len(), "Node 0, zone      DMA ".len() + 11 * 7);
        // DMA: 1 MiB to 16 MiB = 15 MiB = three 4 MiB blocks + 2 + 1 MiB.
        assert!(lines[0].ends_with("     1      1      3 "), "{s}");
    }

    #[test]
    fn pagetypeinfo_has_linux_layout_and_agrees_with_buddyinfo() {
        let a = small();
        let mut s = String::new();
        pagetypeinfo(&mut s, &a).unwrap();
        let mut b = String::new();
        buddyinfo(&mut b, &a).unwrap();
        let lines: std::vec::Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Page block order: 9");
        assert_eq!(lines[1], "Pages per block:  512");
        assert!(
            lines[3].starts_with("Free pages count per migrate type at order       0      1 "),
            "{s}"
        );
        assert!(
            lines[4].starts_with("Node    0, zone      DMA, type    Unmovable "),
            "{s}"
        );
        // Two zones x five types, a blank line, the block table's header
        // and one row a zone.
        assert_eq!(lines.len(), 4 + 10 + 2 + 2, "{s}");
        assert_eq!(lines[15], "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate ");
        assert!(lines[16].starts_with("Node 0, zone      DMA "), "{s}");
        // Per zone, the types' free counts add up to buddyinfo's row.
        for (zone, row) in b.lines().enumerate() {
            let buddy: std::vec::Vec<u64> = row
                .split_whitespace()
                .skip(4)
                .map(|c| c.parse().unwrap())
                .collect();
            let mut sum = std::vec![0u64; MAX_ORDER + 1];
            for line in &lines[4 + zone * 5..9 + zone * 5] {
                for (o, c) in line.split_whitespace().skip(6).enumerate() {
                    sum[o] += c.parse::<u64>().unwrap();
                }
            }
            assert_eq!(sum, buddy, "{s}\n{b}");
        }
        // Every pageblock starts movable: DMA spans 4096 frames (8 blocks).
        assert!(
            lines[16]
                .ends_with("           0            8            0            0            0 "),
            "{s}"
        );
    }

    #[test]
    fn zoneinfo_has_every_zone_and_linux_field_names() {
        let a = small();
        let mut s = String::new();
        zoneinfo(&mut s, &a).unwrap();
        for zone in ["DMA", "DMA32", "Normal", "Movable", "Device"] {
            assert!(
                s.contains(&std::format!("Node 0, zone {zone:>8}\n")),
                "{zone}"
            );
        }
        for field in [
            "pages free",
            "min",
            "low",
            "high",
            "spanned",
            "present",
            "managed",
        ] {
            assert!(s.contains(&std::format!("  {field} ")), "{field}");
        }
        assert!(s.contains("        protection: (0, "));
        assert!(s.contains("      numa_hit     0\n"));
        assert_eq!(s.matches("start_pfn:").count(), 2, "only populated zones");
    }

    #[test]
    fn numastat_columns_are_sixteen_wide() {
        let a = small();
        let r = Request {
            gfp: Gfp::KERNEL,
            order: 0,
            node: None,
            cpu_node: 0,
            interleave: false,
            allowed: None,
            pcp: None,
        };
        a.alloc(r, &NoReclaim).unwrap();
        let mut s = String::new();
        numastat(&mut s, &a).unwrap();
        let expected = "                           node0\n\
                        numa_hit                       1\n\
                        numa_miss                      0\n\
                        numa_foreign                   0\n\
                        interleave_hit                 0\n\
                        local_node                     1\n\
                        other_node                     0\n";
        assert_eq!(s, expected);
    }

    #[test]
    fn failure_report_names_the_mode_and_every_zone() {
        let a = small();
        let mut s = String::new();
        allocation_failure(
            &mut s,
            &a,
            "selftest",
            Gfp::KERNEL,
            10,
            Some(0),
            &"no memory",
        )
        .unwrap();
        assert!(s.starts_with(
            "selftest: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null), node=0: no memory\n"
        ));
        assert!(s.contains("Node 0 DMA32 free:"));
        assert!(s.contains("lowmem_reserve[]: 0 "));
        assert!(s.contains("Node 0 DMA: 0*4kB 0*8kB 0*16kB"));
        assert!(s.contains(" = 15360kB\n"));
    }

    #[test]
    fn vmallocinfo_lines_read_as_linux_prints_them() {
        let caller = "src/mm/vmalloc.rs:42";
        let rows = [
            VmallocRow {
                start: 0xffff_c900_0000_0000,
                size: 0x5000,
                caller: &caller,
                pages: 4,
                kind: "vmalloc",
                huge: false,
                per_node: &[3, 0, 1],
                unpurged: false,
            },
            VmallocRow {
                start: 0xffff_c900_0000_6000,
                size: 0x2000,
                caller: &caller,
                pages: 1,
                kind: "vmap",
                huge: false,
                per_node: &[],
                unpurged: true,
            },
        ];
        let mut s = String::new();
        vmallocinfo(&mut s, &rows).unwrap();
        assert_eq!(
            s,
            "0xffffc90000000000-0xffffc90000005000   20480 src/mm/vmalloc.rs:42 pages=4 vmalloc N0=3 N2=1\n\
             0xffffc90000006000-0xffffc90000008000    8192 unpurged vm_area\n"
        );
    }
}
