//! The I/O APIC: routes one device interrupt line (a GSI) to a CPU vector.
//! Only what the SCI needs: one redirection entry written, masked or
//! unmasked. Everything else stays as the firmware left it (masked).

use super::paging::{self, PagingError};
use core::ptr::{read_volatile, write_volatile};

/// Register select and data window, as offsets into the register page.
const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const IOAPICVER: u32 = 0x01;
const REDTBL: u32 = 0x10;

const MASKED: u64 = 1 << 16;
const LEVEL: u64 = 1 << 15;
const ACTIVE_LOW: u64 = 1 << 13;

/// How a line signals (the MADT's MPS INTI flags, resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    pub level: bool,
    pub active_low: bool,
}

#[derive(Debug)]
pub enum RouteError {
    Map(PagingError),
    /// The GSI is past this I/O APIC's redirection entries.
    NoSuchPin {
        gsi: u32,
        pins: u32,
    },
}

impl core::fmt::Display for RouteError {
    fn fmt(&self, f: &mut core::fmt::Formatter) -> core::fmt::Result {
        match self {
            RouteError::Map(e) => write!(f, "its registers cannot be mapped ({e:?})"),
            RouteError::NoSuchPin { gsi, pins } => {
                write!(f, "GSI {gsi} is past its {pins} redirection entries")
            }
        }
    }
}

/// One I/O APIC, mapped.
pub struct IoApic {
    regs: u64,
    gsi_base: u32,
    pins: u32,
}

impl IoApic {
    /// Maps the I/O APIC whose registers are at `phys` and serves GSIs
    /// from `gsi_base` on.
    pub fn map(phys: u64, gsi_base: u32) -> Result<IoApic, RouteError> {
        let regs = paging::map_mmio(phys, 0x20).map_err(RouteError::Map)?;
        let mut a = IoApic {
            regs,
            gsi_base,
            pins: 0,
        };
        a.pins = ((a.read(IOAPICVER) >> 16) & 0xff) + 1;
        Ok(a)
    }

    pub fn serves(&self, gsi: u32) -> bool {
        gsi >= self.gsi_base && gsi < self.gsi_base + self.pins
    }

    fn read(&self, reg: u32) -> u32 {
        // SAFETY: `regs` maps this I/O APIC's register page (map_mmio,
        // uncached); IOREGSEL then IOWIN is its access protocol. Callers
        // serialise (routing happens once, at init, on one CPU).
        unsafe {
            write_volatile((self.regs + IOREGSEL) as *mut u32, reg);
            read_volatile((self.regs + IOWIN) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        // SAFETY: as in `read`.
        unsafe {
            write_volatile((self.regs + IOREGSEL) as *mut u32, reg);
            write_volatile((self.regs + IOWIN) as *mut u32, value);
        }
    }

    /// Sends `gsi` to `vector` on the CPU with (8-bit) APIC id `dest`,
    /// fixed delivery, physical destination, unmasked.
    pub fn route(&self, gsi: u32, vector: u8, signal: Signal, dest: u8) -> Result<(), RouteError> {
        if !self.serves(gsi) {
            return Err(RouteError::NoSuchPin {
                gsi,
                pins: self.pins,
            });
        }
        let pin = gsi - self.gsi_base;
        let mut entry = vector as u64;
        if signal.level {
            entry |= LEVEL;
        }
        if signal.active_low {
            entry |= ACTIVE_LOW;
        }
        entry |= (dest as u64) << 56;
        // Masked while the halves are written, so that no half-written
        // entry can deliver.
        self.write(REDTBL + 2 * pin, (entry | MASKED) as u32);
        self.write(REDTBL + 2 * pin + 1, (entry >> 32) as u32);
        self.write(REDTBL + 2 * pin, entry as u32);
        Ok(())
    }
}
