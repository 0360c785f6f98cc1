//! The COM1 16550 UART: polled output, no interrupts, 115200 8N1.

use x86_64::instructions::port::Port;

/// I/O port base of COM1.
const COM1: u16 = 0x3f8;

pub struct Uart16550 {
    base: u16,
}

impl Uart16550 {
    pub const fn com1() -> Self {
        Uart16550 { base: COM1 }
    }

    fn port(&self, offset: u16) -> Port<u8> {
        Port::new(self.base + offset)
    }

    /// Programs the UART: interrupts off, divisor 1 (115200 baud), 8N1, FIFOs on.
    pub fn init(&self) {
        // SAFETY: COM1's registers are the standard 16550 layout at 0x3f8;
        // nothing else in the kernel drives this port.
        unsafe {
            self.port(1).write(0x00); // IER: no interrupts
            self.port(3).write(0x80); // LCR: DLAB on
            self.port(0).write(0x01); // DLL: divisor 1
            self.port(1).write(0x00); // DLM
            self.port(3).write(0x03); // LCR: 8N1, DLAB off
            self.port(2).write(0xc7); // FCR: enable and clear FIFOs
            self.port(4).write(0x03); // MCR: DTR, RTS
        }
    }

    pub fn write_byte(&self, byte: u8) {
        // SAFETY: as in init; reading LSR and writing THR have no other effect.
        unsafe {
            // Wait for the transmit holding register to empty (LSR bit 5).
            let mut spins = 0u32;
            while self.port(5).read() & 0x20 == 0 && spins < 100_000 {
                spins += 1;
                core::hint::spin_loop();
            }
            self.port(0).write(byte);
        }
    }
}

impl core::fmt::Write for Uart16550 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
