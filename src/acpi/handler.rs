//! The `acpi` crate's [`acpi::Handler`]: physical memory through the direct
//! map, port I/O, PCI configuration space through ports 0xCF8/0xCFC, time.

use crate::arch::x86_64::{paging, tsc};
use acpi::{PciAddress, PhysicalMapping};
use core::ptr::NonNull;
use layout::phys_to_virt;
use x86_64::instructions::port::Port;

/// Stateless: every mapping is a window into the direct map.
#[derive(Clone, Copy, Debug)]
pub struct KernelAcpi;

/// Handed out for a region the direct map does not cover, so that a bad
/// firmware pointer reads zeros (an invalid signature) instead of faulting.
#[repr(C, align(4096))]
struct Zeroes([u8; 4096]);
static ZEROES: Zeroes = Zeroes([0; 4096]);

impl acpi::Handler for KernelAcpi {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let phys = physical_address as u64;
        let ptr = if paging::direct_mapped(phys, size as u64) {
            phys_to_virt(phys) as *mut T
        } else {
            log::warn!(
                "ACPI: {size} bytes at {phys:#x} are not in the direct map; zeroes given instead"
            );
            assert!(
                size <= ZEROES.0.len(),
                "ACPI asked for {size} unmapped bytes"
            );
            ZEROES.0.as_ptr() as *mut T
        };
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start: NonNull::new(ptr).expect("direct-map addresses are never null"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {
        // The direct map stays; nothing to undo.
    }

    fn read_u8(&self, address: usize) -> u8 {
        read(address)
    }
    fn read_u16(&self, address: usize) -> u16 {
        read(address)
    }
    fn read_u32(&self, address: usize) -> u32 {
        read(address)
    }
    fn read_u64(&self, address: usize) -> u64 {
        read(address)
    }
    fn write_u8(&self, address: usize, value: u8) {
        write(address, value)
    }
    fn write_u16(&self, address: usize, value: u16) {
        write(address, value)
    }
    fn write_u32(&self, address: usize, value: u32) {
        write(address, value)
    }
    fn write_u64(&self, address: usize, value: u64) {
        write(address, value)
    }

    fn read_io_u8(&self, port: u16) -> u8 {
        // SAFETY: AML asked for this port; firmware owns the meaning.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        // SAFETY: as read_io_u8.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        // SAFETY: as read_io_u8.
        unsafe { Port::new(port).read() }
    }
    fn write_io_u8(&self, port: u16, value: u8) {
        // SAFETY: as read_io_u8.
        unsafe { Port::new(port).write(value) }
    }
    fn write_io_u16(&self, port: u16, value: u16) {
        // SAFETY: as read_io_u8.
        unsafe { Port::new(port).write(value) }
    }
    fn write_io_u32(&self, port: u16, value: u32) {
        // SAFETY: as read_io_u8.
        unsafe { Port::new(port).write(value) }
    }

    fn read_pci_u8(&self, address: PciAddress, offset: u16) -> u8 {
        (pci_read(address, offset) >> ((offset & 3) * 8)) as u8
    }
    fn read_pci_u16(&self, address: PciAddress, offset: u16) -> u16 {
        (pci_read(address, offset) >> ((offset & 2) * 8)) as u16
    }
    fn read_pci_u32(&self, address: PciAddress, offset: u16) -> u32 {
        pci_read(address, offset)
    }
    fn write_pci_u8(&self, address: PciAddress, offset: u16, value: u8) {
        let shift = (offset & 3) * 8;
        let old = pci_read(address, offset) & !(0xff << shift);
        pci_write(address, offset, old | (value as u32) << shift)
    }
    fn write_pci_u16(&self, address: PciAddress, offset: u16, value: u16) {
        let shift = (offset & 2) * 8;
        let old = pci_read(address, offset) & !(0xffff << shift);
        pci_write(address, offset, old | (value as u32) << shift)
    }
    fn write_pci_u32(&self, address: PciAddress, offset: u16, value: u32) {
        pci_write(address, offset, value)
    }

    fn nanos_since_boot(&self) -> u64 {
        tsc::ns_since_boot()
    }
    fn stall(&self, microseconds: u64) {
        let until = tsc::ns_since_boot() + microseconds * 1000;
        while tsc::ns_since_boot() < until {
            core::hint::spin_loop();
        }
    }
    fn sleep(&self, milliseconds: u64) {
        // No scheduler yet: sleeping is stalling.
        self.stall(milliseconds * 1000)
    }
}

/// Reads firmware memory at a physical address, or all-ones (what a read of
/// nothing returns on a PC bus) where the direct map does not reach.
fn read<T: Copy + From<u8>>(phys: usize) -> T {
    let size = core::mem::size_of::<T>() as u64;
    if !paging::direct_mapped(phys as u64, size) {
        log::warn!("ACPI: read of {phys:#x} outside the direct map; all-ones returned");
        // All bytes 0xff.
        let mut v = T::from(0xff);
        // SAFETY: T is a plain integer; filling its bytes with 0xff is valid.
        unsafe { core::ptr::write_bytes(&mut v as *mut T as *mut u8, 0xff, size as usize) };
        return v;
    }
    // SAFETY: the address is covered by the direct map (checked above).
    unsafe { core::ptr::read_volatile(phys_to_virt(phys as u64) as *const T) }
}

fn write<T: Copy>(phys: usize, value: T) {
    let size = core::mem::size_of::<T>() as u64;
    if !paging::direct_mapped(phys as u64, size) {
        log::warn!("ACPI: write to {phys:#x} outside the direct map; dropped");
        return;
    }
    // SAFETY: the address is covered by the direct map (checked above); AML
    // owns the meaning of firmware memory it writes.
    unsafe { core::ptr::write_volatile(phys_to_virt(phys as u64) as *mut T, value) }
}

/// Configuration mechanism #1: address to 0xCF8, data at 0xCFC.
fn pci_config_address(address: PciAddress, offset: u16) -> u32 {
    0x8000_0000
        | (address.bus() as u32) << 16
        | (address.device() as u32) << 11
        | (address.function() as u32) << 8
        | (offset as u32 & 0xfc)
}

fn pci_read(address: PciAddress, offset: u16) -> u32 {
    // SAFETY: 0xCF8/0xCFC are the PCI configuration ports on every PC
    // chipset QEMU emulates; interrupts are off, so the pair is not split.
    unsafe {
        Port::<u32>::new(0xcf8).write(pci_config_address(address, offset));
        Port::<u32>::new(0xcfc).read()
    }
}

fn pci_write(address: PciAddress, offset: u16, value: u32) {
    // SAFETY: as pci_read.
    unsafe {
        Port::<u32>::new(0xcf8).write(pci_config_address(address, offset));
        Port::<u32>::new(0xcfc).write(value)
    }
}
