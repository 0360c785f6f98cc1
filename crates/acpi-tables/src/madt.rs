//! MADT: the interrupt controllers, and with them the list of CPUs
//! (ACPI 6.5, 5.2.12).

use crate::{require_len, subtables, u32_at, u64_at, validate, Error, Header};

/// Sub-tables start after the header, the local APIC address and flags.
const ENTRIES_OFFSET: usize = 44;

pub const TYPE_LOCAL_APIC: u8 = 0;
pub const TYPE_IO_APIC: u8 = 1;
pub const TYPE_INTERRUPT_OVERRIDE: u8 = 2;
pub const TYPE_LOCAL_APIC_ADDRESS_OVERRIDE: u8 = 5;
pub const TYPE_LOCAL_X2APIC: u8 = 9;

/// Local APIC flags (Table 5.23).
const ENABLED: u32 = 1 << 0;
const ONLINE_CAPABLE: u32 = 1 << 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A CPU (type 0 for xAPIC, type 9 for x2APIC).
    Cpu {
        apic_id: u32,
        processor_uid: u32,
        enabled: bool,
        online_capable: bool,
        x2apic: bool,
    },
    IoApic {
        id: u8,
        address: u32,
        gsi_base: u32,
    },
    LocalApicAddressOverride {
        address: u64,
    },
    /// An ISA IRQ that arrives on another GSI or with other signalling
    /// than ISA's edge, active high (ACPI 6.5, 5.2.12.5).
    InterruptOverride {
        irq: u8,
        gsi: u32,
        /// MPS INTI flags: bits 0-1 polarity (3 = active low), bits 2-3
        /// trigger mode (3 = level); 0 in either means "as the bus does".
        flags: u16,
    },
    Other {
        kind: u8,
        length: u8,
    },
}

pub struct Madt<'a> {
    pub header: Header,
    pub local_apic_address: u32,
    pub flags: u32,
    table: &'a [u8],
}

pub fn parse(bytes: &[u8]) -> Result<Madt<'_>, Error> {
    let (header, table) = validate(bytes, b"APIC")?;
    if table.len() < ENTRIES_OFFSET {
        return Err(Error::TooShort {
            have: table.len(),
            need: ENTRIES_OFFSET,
        });
    }
    Ok(Madt {
        header,
        local_apic_address: u32_at(table, 36),
        flags: u32_at(table, 40),
        table,
    })
}

impl<'a> Madt<'a> {
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, Error>> + 'a {
        subtables(self.table, ENTRIES_OFFSET).map(|r| {
            let (offset, kind, e) = r?;
            let need = |n: usize| require_len(e, offset, n);
            Ok(match kind {
                TYPE_LOCAL_APIC => {
                    need(8)?;
                    let flags = u32_at(e, 4);
                    Entry::Cpu {
                        processor_uid: e[2] as u32,
                        apic_id: e[3] as u32,
                        enabled: flags & ENABLED != 0,
                        online_capable: flags & ONLINE_CAPABLE != 0,
                        x2apic: false,
                    }
                }
                TYPE_LOCAL_X2APIC => {
                    need(16)?;
                    let flags = u32_at(e, 8);
                    Entry::Cpu {
                        apic_id: u32_at(e, 4),
                        processor_uid: u32_at(e, 12),
                        enabled: flags & ENABLED != 0,
                        online_capable: flags & ONLINE_CAPABLE != 0,
                        x2apic: true,
                    }
                }
                TYPE_IO_APIC => {
                    need(12)?;
                    Entry::IoApic {
                        id: e[2],
                        address: u32_at(e, 4),
                        gsi_base: u32_at(e, 8),
                    }
                }
                TYPE_LOCAL_APIC_ADDRESS_OVERRIDE => {
                    need(12)?;
                    Entry::LocalApicAddressOverride {
                        address: u64_at(e, 4),
                    }
                }
                TYPE_INTERRUPT_OVERRIDE => {
                    need(10)?;
                    Entry::InterruptOverride {
                        irq: e[3],
                        gsi: u32_at(e, 4),
                        flags: u16::from_le_bytes([e[8], e[9]]),
                    }
                }
                kind => Entry::Other {
                    kind,
                    length: e.len() as u8,
                },
            })
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::testutil::*;
    use std::vec::Vec;

    #[test]
    fn eight_node_big_lists_sixteen_enabled_cpus_in_order() {
        let t = fixture("eight-node-big", "APIC").unwrap();
        let m = parse(&t).unwrap();
        assert_eq!(m.local_apic_address, 0xfee0_0000);
        let cpus: Vec<u32> = m
            .entries()
            .filter_map(|e| match e.unwrap() {
                Entry::Cpu {
                    apic_id,
                    enabled: true,
                    ..
                } => Some(apic_id),
                _ => None,
            })
            .collect();
        assert_eq!(cpus, (0..16).collect::<Vec<_>>());
        assert!(m.entries().any(|e| matches!(
            e,
            Ok(Entry::IoApic {
                address: 0xfec0_0000,
                ..
            })
        )));
    }

    #[test]
    fn qemu_routes_the_sci_irq_9_level_triggered_active_high() {
        let t = fixture("two-node", "APIC").unwrap();
        let m = parse(&t).unwrap();
        let sci = m.entries().find_map(|e| match e.unwrap() {
            Entry::InterruptOverride { irq: 9, gsi, flags } => Some((gsi, flags)),
            _ => None,
        });
        // Polarity 1 (active high), trigger 3 (level).
        assert_eq!(sci, Some((9, 0x000d)));
    }

    #[test]
    fn truncated_and_zero_length_entries_are_errors() {
        let mut body = std::vec![0u8; 8];
        body.extend_from_slice(&[0, 0]); // type 0, length 0
        let t = table(b"APIC", 1, &body);
        let es: Vec<_> = parse(&t).unwrap().entries().collect();
        assert_eq!(es.len(), 1);
        assert!(es[0].is_err());
        let mut body = std::vec![0u8; 8];
        body.extend_from_slice(&[9, 8, 0, 0, 1, 0, 0, 0]); // x2APIC needs 16
        let t = table(b"APIC", 1, &body);
        assert!(parse(&t).unwrap().entries().next().unwrap().is_err());
    }
}
