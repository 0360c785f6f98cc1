//! The `acpi` crate's [`acpi::Handler`]: physical memory through the direct
//! map (firmware memory outside RAM mapped there on demand), port I/O, PCI configuration space through ports 0xCF8/0xCFC, time.

use crate::arch::x86_64::{paging, tsc};
use acpi::{PciAddress, PhysicalMapping};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering::*};
use layout::phys_to_virt;
use x86_64::instructions::port::Port;

/// One AML mutex: its owning CPU (FREE when none) and how deep.
struct AmlMutex {
    owner: AtomicU32,
    depth: AtomicU32,
}

const FREE: u32 = u32::MAX;
const NO_MUTEX: u32 = u32::MAX;
/// QEMU's DSDT declares a handful; 64 leaves room for firmware with more.
static AML_MUTEXES: [AmlMutex; 64] = [const {
    AmlMutex {
        owner: AtomicU32::new(FREE),
        depth: AtomicU32::new(0),
    }
}; 64];
static NEXT_MUTEX: AtomicU32 = AtomicU32::new(0);

/// Stateless: every mapping is a window into the direct map, counted by
/// paging's firmware mappings where RAM does not back it.
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
        let ptr = match paging::map_firmware(phys, size as u64) {
            Ok(()) => phys_to_virt(phys) as *mut T,
            Err(e) if size <= ZEROES.0.len() => {
                log::warn!(
                    "ACPI: {size} bytes at {phys:#x} cannot be mapped ({e:?}); zeroes given instead"
                );
                ZEROES.0.as_ptr() as *mut T
            }
            Err(e) => {
                // The crate asks for whole tables only after a readable
                // header gave their length; zeroes of that length are more
                // than any firmware table, so the crate's read stops at a
                // zero header instead.
                log::warn!(
                    "ACPI: {size} bytes at {phys:#x} cannot be mapped ({e:?}); a zero header given instead"
                );
                return PhysicalMapping {
                    physical_start: physical_address,
                    virtual_start: NonNull::new(ZEROES.0.as_ptr() as *mut T)
                        .expect("a static is never null"),
                    region_length: ZEROES.0.len(),
                    mapped_length: ZEROES.0.len(),
                    handler: *self,
                };
            }
        };
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start: NonNull::new(ptr).expect("direct-map addresses are never null"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }

    fn unmap_physical_region<T>(region: &PhysicalMapping<Self, T>) {
        let zeroes = ZEROES.0.as_ptr() as usize;
        if region.virtual_start.as_ptr() as usize != zeroes {
            paging::unmap_firmware(region.physical_start as u64, region.mapped_length as u64);
        }
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
    fn create_mutex(&self) -> acpi::Handle {
        let i = NEXT_MUTEX.fetch_add(1, Relaxed);
        if i as usize >= AML_MUTEXES.len() {
            log::error!(
                "ACPI: AML wants more than {} mutexes; the rest do not exclude",
                AML_MUTEXES.len()
            );
            return acpi::Handle(NO_MUTEX);
        }
        acpi::Handle(i)
    }

    fn acquire(&self, mutex: acpi::Handle, timeout: u16) -> Result<(), acpi::aml::AmlError> {
        let Some(m) = AML_MUTEXES.get(mutex.0 as usize) else {
            return Ok(());
        };
        let me = crate::arch::x86_64::cpu_id();
        let start = tsc::ns_since_boot();
        loop {
            // Reentrant, as AML mutexes are: the owner takes it again.
            if m.owner.load(Acquire) == me {
                m.depth.fetch_add(1, Relaxed);
                return Ok(());
            }
            if m.owner.compare_exchange(FREE, me, Acquire, Relaxed).is_ok() {
                m.depth.store(1, Relaxed);
                return Ok(());
            }
            let waited_ms = (tsc::ns_since_boot() - start) / 1_000_000;
            if timeout != 0xffff && waited_ms >= timeout as u64 {
                return Err(acpi::aml::AmlError::MutexAcquireTimeout);
            }
            core::hint::spin_loop();
        }
    }

    fn release(&self, mutex: acpi::Handle) {
        let Some(m) = AML_MUTEXES.get(mutex.0 as usize) else {
            return;
        };
        if m.owner.load(Acquire) != crate::arch::x86_64::cpu_id() {
            log::warn!("ACPI: AML released mutex {} it does not hold", mutex.0);
            return;
        }
        if m.depth.fetch_sub(1, Relaxed) == 1 {
            m.owner.store(FREE, Release);
        }
    }

    fn sleep(&self, milliseconds: u64) {
        // No scheduler yet: sleeping is stalling.
        self.stall(milliseconds * 1000)
    }
}

/// Device pages AML touched, mapped uncached once each in the MMIO window
/// (physical page, virtual address); QEMU's DSDT reads the HPET's.
static DEVICE_PAGES: spin::Mutex<[(u64, u64); 16]> = spin::Mutex::new([(u64::MAX, 0); 16]);

/// Where an access of `size` bytes at `phys` goes: the direct map for RAM
/// and firmware tables, an uncached mapping for device memory, or None
/// (said once per access) when neither can be had.
fn access_ptr(phys: u64, size: u64) -> Option<u64> {
    if paging::direct_mapped(phys, size) {
        return Some(phys_to_virt(phys));
    }
    let page = phys & !(layout::PAGE_SIZE - 1);
    if (phys + size - 1) & !(layout::PAGE_SIZE - 1) != page {
        log::warn!("ACPI: AML access of {size} bytes at {phys:#x} crosses a page; refused");
        return None;
    }
    let mut pages = DEVICE_PAGES.lock();
    if let Some(&(_, virt)) = pages.iter().find(|p| p.0 == page) {
        return Some(virt + (phys - page));
    }
    let Some(slot) = pages.iter_mut().find(|p| p.0 == u64::MAX) else {
        log::warn!("ACPI: AML touches more than 16 device pages; {phys:#x} refused");
        return None;
    };
    if !paging::table_frames().is_some_and(|f| f.is_page_allocator()) {
        // Boot-time AML runs before the page allocator: the page is mapped
        // uncached at its direct-map address with early page tables (as
        // the firmware tables are), and stays mapped like the others.
        return match paging::map_firmware_registers(page, layout::PAGE_SIZE) {
            Ok(()) => {
                *slot = (page, phys_to_virt(page));
                log::info!("ACPI: AML device memory {page:#x} mapped uncached (boot-time AML)");
                Some(phys_to_virt(phys))
            }
            Err(e) => {
                log::warn!("ACPI: AML device memory {page:#x} could not be mapped ({e:?}): all-ones read, writes dropped");
                None
            }
        };
    }
    match paging::map_mmio(page, layout::PAGE_SIZE) {
        Ok(virt) => {
            *slot = (page, virt);
            log::info!("ACPI: AML device memory {page:#x} mapped uncached at {virt:#x}");
            Some(virt + (phys - page))
        }
        Err(e) => {
            log::warn!("ACPI: AML device memory {page:#x} could not be mapped ({e:?})");
            None
        }
    }
}

/// Reads memory AML names, or all-ones (what a read of nothing returns on
/// a PC bus) where it cannot be reached.
fn read<T: Copy + From<u8>>(phys: usize) -> T {
    let size = core::mem::size_of::<T>() as u64;
    let Some(virt) = access_ptr(phys as u64, size) else {
        let mut v = T::from(0xff);
        // SAFETY: T is a plain integer; filling its bytes with 0xff is valid.
        unsafe { core::ptr::write_bytes(&mut v as *mut T as *mut u8, 0xff, size as usize) };
        return v;
    };
    // SAFETY: `virt` maps the bytes (direct map or a fresh uncached
    // device mapping, checked by access_ptr).
    unsafe { core::ptr::read_volatile(virt as *const T) }
}

fn write<T: Copy>(phys: usize, value: T) {
    let size = core::mem::size_of::<T>() as u64;
    let Some(virt) = access_ptr(phys as u64, size) else {
        log::warn!("ACPI: AML write to {phys:#x} dropped");
        return;
    };
    // SAFETY: as in `read`; AML owns the meaning of what it writes.
    unsafe { core::ptr::write_volatile(virt as *mut T, value) }
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
