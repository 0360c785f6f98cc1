//! What the host tests share: node storage on the heap and the allocator of
//! a fixture VM (its real ACPI tables and the memory map qboot gives it).

extern crate std;
use crate::buddy::PageMeta;
use crate::page_alloc::{Node, PageAllocator};
use crate::pcp::PcpLink;
use crate::setup::{build, NodeStorage, Setup};
use boot_tests::qemu_args;
use core::sync::atomic::AtomicU8;
use numa::{NodeId, Topology};
use std::boxed::Box;
use std::vec::Vec;
use std::{format, vec};

/// Descriptors and node data leaked from the heap (tests live briefly).
pub struct Heap;

impl NodeStorage<'static> for Heap {
    fn page_meta(&mut self, _node: NodeId, count: usize) -> &'static mut [PageMeta] {
        Box::leak(vec![PageMeta::RESERVED; count].into_boxed_slice())
    }
    fn page_state(&mut self, _node: NodeId, count: usize) -> &'static [AtomicU8] {
        Box::leak(
            (0..count)
                .map(|_| AtomicU8::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    }
    fn pcp_links(&mut self, _node: NodeId, count: usize) -> &'static [PcpLink] {
        Box::leak(
            (0..count)
                .map(|_| PcpLink::new())
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        )
    }
    fn node(&mut self, _node: NodeId, data: Node<'static>) -> &'static mut Node<'static> {
        Box::leak(Box::new(data))
    }
}

/// The topology the kernel builds for a fixture VM, and the VM's RAM.
pub fn topology(fixture: &str) -> (Topology, Vec<(u64, u64)>) {
    let table =
        |sig: &str| std::fs::read(qemu_args::fixture_dir(fixture).join(format!("{sig}.bin"))).ok();
    let (srat, slit, madt) = (table("SRAT"), table("SLIT"), table("APIC"));
    let ram = qemu_args::qboot_e820(qemu_args::load(fixture).total_ram);
    let inputs = numa::Inputs {
        srat: srat.as_deref(),
        mp_cpus: &[],
        slit: slit.as_deref(),
        madt: madt.as_deref(),
        ram: &ram,
        boot_apic_id: 0,
        numa_off: false,
    };
    (numa::build(&inputs, &mut |_, _| {}), ram)
}

/// The allocator of a fixture VM: all RAM above the first MiB is free.
pub fn allocator(fixture: &str, setup: Setup) -> (PageAllocator<'static>, Topology) {
    let (topo, ram) = topology(fixture);
    let (alloc, _) = build(&topo, &setup, &mut Heap, &mut |add| {
        for &(s, e) in &ram {
            let s = s.max(1 << 20);
            if s < e {
                add(s, e);
            }
        }
    });
    (alloc, topo)
}
