//! Building the page allocator from the topology: zones per node,
//! page descriptors and node data placed on the node they describe, the
//! free memory handed to the buddy allocators, then watermarks and
//! zonelists.

use crate::buddy::PageMeta;
use crate::movable::{movable_starts, CoreSize};
use crate::page_alloc::{Node, PageAllocator, Zone, ZoneFrames};
use crate::pcp::PcpLink;
use crate::zone::{node_zone_spans, pfn_range, ZoneSpan, ZoneType, NR_ZONES};
use core::sync::atomic::AtomicU8;
use numa::{NodeId, Topology, MAX_MEMBLKS, MAX_NUMNODES};

/// The command-line settings that shape the zones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    pub kernelcore: Option<CoreSize>,
    pub movablecore: Option<CoreSize>,
    pub min_free_kbytes: Option<u64>,
    /// Hot-pluggable memory (coldplugged memory devices): (node, first
    /// frame). A node's ZONE_MOVABLE starts there at the latest, so that
    /// memory only ever holds movable allocations (Linux onlines such
    /// memory as movable).
    pub movable_from: [(NodeId, u64); MAX_MOVABLE_FROM],
    pub nr_movable_from: usize,
    /// Device memory (persistent memory): (node, first frame, end frame).
    /// It becomes the node's ZONE_DEVICE: descriptors, never free pages.
    pub device: [(NodeId, u64, u64); MAX_MOVABLE_FROM],
    pub nr_device: usize,
}

pub const MAX_MOVABLE_FROM: usize = 16;

/// Storage per frame: descriptor, allocation-state byte, per-CPU list link.
pub const PER_FRAME_BYTES: usize =
    core::mem::size_of::<PageMeta>() + 1 + core::mem::size_of::<PcpLink>();

/// Where node data and page descriptors live. The kernel takes them from
/// the node's own memory; host tests from the heap.
pub trait NodeStorage<'a> {
    /// Room for `count` descriptors on `node`, each set to reserved.
    fn page_meta(&mut self, node: NodeId, count: usize) -> &'a mut [PageMeta];
    /// `count` allocation-state bytes on `node`, each zero.
    fn page_state(&mut self, node: NodeId, count: usize) -> &'a [AtomicU8];
    /// `count` per-CPU list links on `node`, each zero.
    fn pcp_links(&mut self, node: NodeId, count: usize) -> &'a [PcpLink];
    /// Storage for `count` frames of memory that may be hot-added, on
    /// `node` (descriptors, state bytes and links, zeroed). The default
    /// takes it as boot storage; None means no hot-add there.
    fn hotplug_frames(&mut self, node: NodeId, count: usize) -> Option<ZoneFrames<'a>> {
        Some(ZoneFrames {
            meta: self.page_meta(node, count),
            state: self.page_state(node, count),
            links: self.pcp_links(node, count),
        })
    }
    /// Moves a node's data onto `node`'s memory.
    fn node(&mut self, node: NodeId, data: Node<'a>) -> &'a mut Node<'a>;
}

/// What the setup cost, for the boot log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetupCost {
    pub descriptor_bytes: u64,
    pub node_bytes: u64,
    pub present_pages: u64,
}

impl SetupCost {
    /// Descriptor and node bytes per 10000 bytes of RAM (basis points).
    pub fn overhead_basis_points(&self) -> u64 {
        let ram = self.present_pages * layout::PAGE_SIZE;
        ((self.descriptor_bytes + self.node_bytes) * 10_000)
            .checked_div(ram)
            .unwrap_or(0)
    }
}

/// Reports each free range of RAM (start, end), in bytes.
pub type FreeRanges<'f> = &'f mut dyn FnMut(&mut dyn FnMut(u64, u64));

/// Builds every node's zones. `free_ranges` is called once all storage is
/// taken and must report every free byte range (start, end) of RAM; those
/// become the managed pages.
pub fn build<'a>(
    topology: &Topology,
    setup: &Setup,
    storage: &mut dyn NodeStorage<'a>,
    free_ranges: FreeRanges,
) -> (PageAllocator<'a>, SetupCost) {
    let mut ram = [(0usize, 0u64, 0u64); MAX_MEMBLKS];
    let mut nram = 0;
    for node in 0..topology.node_count() {
        for m in topology.memory_of(node) {
            let (s, e) = pfn_range(m.start, m.end);
            if s < e && nram < MAX_MEMBLKS {
                ram[nram] = (node, s, e);
                nram += 1;
            }
        }
    }
    let ram = &ram[..nram];
    // ZONE_MOVABLE is carved from the highest zone below it that has memory.
    let max_pfn = ram.iter().map(|r| r.2).max().unwrap_or(0);
    let usable_start = [ZoneType::Normal, ZoneType::Dma32, ZoneType::Dma]
        .into_iter()
        .filter_map(|z| z.pfn_bounds())
        .map(|(lo, _)| lo)
        .find(|&lo| lo < max_pfn)
        .unwrap_or(0);
    let mut movable = movable_starts(ram, setup.kernelcore, setup.movablecore, usable_start);
    for &(node, pfn) in &setup.movable_from[..setup.nr_movable_from.min(MAX_MOVABLE_FROM)] {
        // On a MAX_ORDER block boundary, as every ZONE_MOVABLE start.
        let start = pfn & !((1u64 << crate::buddy::MAX_ORDER) - 1);
        if node < MAX_NUMNODES {
            movable[node] = Some(movable[node].map_or(start, |m| m.min(start)));
        }
    }

    let mut cost = SetupCost::default();
    let mut nodes: [Option<&'a mut Node<'a>>; MAX_NUMNODES] = core::array::from_fn(|_| None);
    for (id, slot) in nodes.iter_mut().enumerate().take(topology.node_count()) {
        let mut ranges = [(0u64, 0u64); MAX_MEMBLKS];
        let mut n = 0;
        for &(_, s, e) in ram.iter().filter(|r| r.0 == id) {
            ranges[n] = (s, e);
            n += 1;
        }
        let mut device = [(0u64, 0u64); MAX_MOVABLE_FROM];
        let mut nd = 0;
        for &(node, s, e) in &setup.device[..setup.nr_device.min(MAX_MOVABLE_FROM)] {
            if node == id {
                device[nd] = (s, e);
                nd += 1;
            }
        }
        let spans = node_zone_spans(&ranges[..n], movable[id], &device[..nd]);
        // A node without ZONE_MOVABLE at boot gets one for hot-added
        // memory, its descriptors taken now for as much of the hot-plug
        // span as 1/64 of its home node's RAM can describe.
        let home_pages: u64 = ram
            .iter()
            .filter(|r| r.0 == topology.mem_node(id))
            .map(|r| r.2 - r.1)
            .sum();
        let mut hotplug = hotplug_span(topology)
            .filter(|_| spans[ZoneType::Movable.index()].is_empty())
            .map(|span| capped_hotplug_span(span, home_pages))
            .filter(|span| span.spanned() > 0)
            .and_then(|span| {
                let n = span.spanned() as usize;
                cost.descriptor_bytes += (n * PER_FRAME_BYTES) as u64;
                Some((span, storage.hotplug_frames(topology.mem_node(id), n)?))
            });
        // A memory-less node keeps its data on its nearest node with memory.
        let home = topology.mem_node(id);
        let zones: [Zone<'a>; NR_ZONES] = core::array::from_fn(|i| {
            let span = spans[i];
            let meta = (!span.is_empty()).then(|| {
                let n = span.spanned() as usize;
                cost.descriptor_bytes += (n * PER_FRAME_BYTES) as u64;
                ZoneFrames {
                    meta: storage.page_meta(home, n),
                    state: storage.page_state(home, n),
                    links: storage.pcp_links(home, n),
                }
            });
            cost.present_pages += span.present;
            match hotplug.take() {
                Some((span, frames)) if ZoneType::ALL[i] == ZoneType::Movable => {
                    Zone::new_hotplug(id, span, frames)
                }
                other => {
                    hotplug = other;
                    Zone::new(id, ZoneType::ALL[i], span, meta)
                }
            }
        });
        cost.node_bytes += core::mem::size_of::<Node>() as u64;
        *slot = Some(storage.node(home, Node::new(id, zones)));
    }
    free_ranges(&mut |start, end| {
        let (s, e) = pfn_range(start, end);
        for node in nodes.iter_mut().flatten() {
            for zone in node.zones.iter_mut() {
                if zone.is_populated() {
                    zone.add_free_range(s, e);
                }
            }
        }
    });
    (
        PageAllocator::new(nodes, topology, setup.min_free_kbytes),
        cost,
    )
}

/// Where memory may be hot-added, as one span: the SRAT's hot-pluggable
/// ranges from the lowest to the highest, widened to whole MAX_ORDER
/// blocks (hot-added ranges come online in whole blocks).
pub fn hotplug_span(topology: &Topology) -> Option<ZoneSpan> {
    let block = 1u64 << crate::buddy::MAX_ORDER;
    let start = topology
        .hotpluggable()
        .map(|m| m.start / layout::PAGE_SIZE)
        .min()?;
    let end = topology
        .hotpluggable()
        .map(|m| m.end.div_ceil(layout::PAGE_SIZE))
        .max()?;
    let (start, end) = (start & !(block - 1), end.div_ceil(block) * block);
    (start < end).then_some(ZoneSpan {
        start_pfn: start,
        end_pfn: end,
        present: 0,
    })
}

/// At most this share (1/N) of a node's RAM holds descriptors for memory
/// that may be hot-added to it: about what Linux's own memmap costs.
const HOTPLUG_STORAGE_SHARE: u64 = 64;

/// The part of the hot-plug span whose descriptors 1/64 of `home_pages`
/// of RAM hold, from its start, in whole MAX_ORDER blocks.
pub fn capped_hotplug_span(span: ZoneSpan, home_pages: u64) -> ZoneSpan {
    let block = 1u64 << crate::buddy::MAX_ORDER;
    let affordable =
        home_pages * layout::PAGE_SIZE / HOTPLUG_STORAGE_SHARE / PER_FRAME_BYTES as u64;
    let frames = span.spanned().min(affordable) & !(block - 1);
    ZoneSpan {
        end_pfn: span.start_pfn + frames,
        ..span
    }
}
