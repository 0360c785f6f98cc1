//! Firmware AML through the acpi crate's interpreter, on the host.
//!
//! [`NoHardware`] answers every access the AML makes as an empty machine
//! would (memory and ports read all ones, writes go nowhere, PCI
//! configuration space is absent) and keeps a real clock in which the
//! stalls and sleeps the AML asks for pass at once. [`run`] loads tables the way the kernel does (DSDT, then the
//! SSDTs), initialises the namespace (`_STA`, `_INI` of every device) and
//! evaluates `\_S5`, and says what failed. The interpreter must return from
//! all of it, whatever the bytes: the fuzz target (fuzz/fuzz_targets/aml.rs)
//! and this crate's bounded fuzz test check exactly that.

use acpi::aml::{AmlError, Interpreter};
use acpi::{Handle, PciAddress, PhysicalMapping};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// A machine with nothing behind its buses.
#[derive(Clone, Debug)]
pub struct NoHardware {
    /// When the machine started: its clock is real time since then ...
    start: Instant,
    /// ... plus the stalls and sleeps the AML asked for, which pass at once.
    skipped_ns: Arc<AtomicU64>,
}

impl Default for NoHardware {
    fn default() -> Self {
        NoHardware {
            start: Instant::now(),
            skipped_ns: Arc::default(),
        }
    }
}

impl acpi::Handler for NoHardware {
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        // Zeroed memory that lives as long as the process: the mapping
        // outlives nothing here, and the tables the interpreter asks for by
        // address (none in `run`) would read as absent.
        let bytes: &'static mut [u64] = Vec::leak(vec![0u64; size.div_ceil(8).max(1)]);
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start: NonNull::new(bytes.as_mut_ptr() as *mut T).unwrap(),
            region_length: size,
            mapped_length: size,
            handler: self.clone(),
        }
    }
    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, _: usize) -> u8 {
        !0
    }
    fn read_u16(&self, _: usize) -> u16 {
        !0
    }
    fn read_u32(&self, _: usize) -> u32 {
        !0
    }
    fn read_u64(&self, _: usize) -> u64 {
        !0
    }
    fn write_u8(&self, _: usize, _: u8) {}
    fn write_u16(&self, _: usize, _: u16) {}
    fn write_u32(&self, _: usize, _: u32) {}
    fn write_u64(&self, _: usize, _: u64) {}
    fn read_io_u8(&self, _: u16) -> u8 {
        !0
    }
    fn read_io_u16(&self, _: u16) -> u16 {
        !0
    }
    fn read_io_u32(&self, _: u16) -> u32 {
        !0
    }
    fn write_io_u8(&self, _: u16, _: u8) {}
    fn write_io_u16(&self, _: u16, _: u16) {}
    fn write_io_u32(&self, _: u16, _: u32) {}
    fn read_pci_u8(&self, _: PciAddress, _: u16) -> u8 {
        !0
    }
    fn read_pci_u16(&self, _: PciAddress, _: u16) -> u16 {
        !0
    }
    fn read_pci_u32(&self, _: PciAddress, _: u16) -> u32 {
        !0
    }
    fn write_pci_u8(&self, _: PciAddress, _: u16, _: u8) {}
    fn write_pci_u16(&self, _: PciAddress, _: u16, _: u16) {}
    fn write_pci_u32(&self, _: PciAddress, _: u16, _: u32) {}

    fn nanos_since_boot(&self) -> u64 {
        (self.start.elapsed().as_nanos() as u64).saturating_add(self.skipped_ns.load(Relaxed))
    }
    fn stall(&self, microseconds: u64) {
        self.skipped_ns
            .fetch_add(microseconds.saturating_mul(1000), Relaxed);
    }
    fn sleep(&self, milliseconds: u64) {
        self.skipped_ns
            .fetch_add(milliseconds.saturating_mul(1_000_000), Relaxed);
    }
    fn create_mutex(&self) -> Handle {
        Handle(0)
    }
    fn acquire(&self, _: Handle, _: u16) -> Result<(), AmlError> {
        Ok(())
    }
    fn release(&self, _: Handle) {}
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Tables loaded whole.
    pub loaded: usize,
    /// Tables whose load stopped at an error, with it.
    pub load_errors: Vec<AmlError>,
    /// `\_S5`'s evaluation: Ok, or why not.
    pub s5: Option<Result<(), AmlError>>,
}

/// The ACPI table header's length; the AML follows it.
pub const HEADER_LEN: usize = 36;

/// Loads `tables` (whole tables, headers included; shorter ones are
/// skipped), initialises the namespace and evaluates `\_S5`.
pub fn run(fadt: &[u8], tables: &[&[u8]]) -> Outcome {
    let handler = NoHardware::default();
    // The interpreter's interface takes an Arc; this run is one thread's.
    #[allow(clippy::arc_with_non_send_sync)]
    let registers = Arc::new(fixed_registers(fadt, handler.clone()));
    let revision = tables.first().and_then(|t| t.get(8)).copied().unwrap_or(2);
    let interpreter = Interpreter::new(handler, revision, registers, None);
    let mut outcome = Outcome::default();
    for table in tables.iter().filter(|t| t.len() >= HEADER_LEN) {
        match interpreter.load_table(&table[HEADER_LEN..]) {
            Ok(()) => outcome.loaded += 1,
            Err(e) => outcome.load_errors.push(e),
        }
    }
    interpreter.initialize_namespace();
    if let Ok(name) = "\\_S5".parse() {
        outcome.s5 = Some(interpreter.evaluate(name, vec![]).map(|_| ()));
    }
    outcome
}

/// The fixed registers from a real FADT (QEMU's: its PM1 blocks are
/// ports, which [`NoHardware`] answers).
fn fixed_registers(
    fadt: &[u8],
    handler: NoHardware,
) -> acpi::registers::FixedRegisters<NoHardware> {
    let len = std::mem::size_of::<acpi::sdt::fadt::Fadt>();
    let mut words = vec![0u64; len.div_ceil(8)];
    // SAFETY: `words` holds `len` bytes, 8-byte aligned; the FADT is a
    // plain repr(C, packed) struct of integers, valid for any bytes.
    let fadt = unsafe {
        let bytes = std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, len);
        let n = fadt.len().min(len);
        bytes[..n].copy_from_slice(&fadt[..n]);
        &*(words.as_ptr() as *const acpi::sdt::fadt::Fadt)
    };
    acpi::registers::FixedRegisters::new(fadt, handler)
        .expect("QEMU's FADT gives its fixed registers")
}
