//! SRAT: which proximity domain each CPU and each memory range belongs to
//! (ACPI 6.5, 5.2.16).

use crate::{require_len, subtables, u32_at, u64_at, validate, Error, Header};

/// Sub-tables start after the header and 12 reserved bytes.
const ENTRIES_OFFSET: usize = 48;

pub const TYPE_LOCAL_APIC: u8 = 0;
pub const TYPE_MEMORY: u8 = 1;
pub const TYPE_X2APIC: u8 = 2;

/// Memory affinity flags (Table 5.59).
pub const MEM_ENABLED: u32 = 1 << 0;
pub const MEM_HOT_PLUGGABLE: u32 = 1 << 1;
pub const MEM_NON_VOLATILE: u32 = 1 << 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Type 0: a local APIC (xAPIC) CPU.
    LocalApic {
        apic_id: u32,
        domain: u32,
        enabled: bool,
    },
    /// Type 2: a local x2APIC CPU.
    X2Apic {
        apic_id: u32,
        domain: u32,
        enabled: bool,
    },
    /// Type 1: a physical address range.
    Memory {
        base: u64,
        length: u64,
        domain: u32,
        enabled: bool,
        hot_pluggable: bool,
        non_volatile: bool,
    },
    /// Any other type: not used here, reported by its type and length.
    Other { kind: u8, length: u8 },
}

pub struct Srat<'a> {
    pub header: Header,
    table: &'a [u8],
}

/// Validates the SRAT's header and checksum.
pub fn parse(bytes: &[u8]) -> Result<Srat<'_>, Error> {
    let (header, table) = validate(bytes, b"SRAT")?;
    if table.len() < ENTRIES_OFFSET {
        return Err(Error::TooShort {
            have: table.len(),
            need: ENTRIES_OFFSET,
        });
    }
    Ok(Srat { header, table })
}

impl<'a> Srat<'a> {
    /// The entries in table order. A malformed entry yields an error and
    /// ends the walk; entries before it stay valid.
    pub fn entries(&self) -> impl Iterator<Item = Result<Entry, Error>> + 'a {
        let revision = self.header.revision;
        subtables(self.table, ENTRIES_OFFSET).map(move |r| {
            let (offset, kind, e) = r?;
            let need = |n: usize| require_len(e, offset, n);
            Ok(match kind {
                TYPE_LOCAL_APIC => {
                    need(16)?;
                    // The three high bytes of the domain count only from
                    // SRAT revision 2 on, as Linux reads them.
                    let mut domain = e[2] as u32;
                    if revision >= 2 {
                        domain |= (e[9] as u32) << 8 | (e[10] as u32) << 16 | (e[11] as u32) << 24;
                    }
                    Entry::LocalApic {
                        apic_id: e[3] as u32,
                        domain,
                        enabled: u32_at(e, 4) & 1 != 0,
                    }
                }
                TYPE_MEMORY => {
                    need(40)?;
                    let flags = u32_at(e, 28);
                    Entry::Memory {
                        domain: u32_at(e, 2),
                        base: u64_at(e, 8),
                        length: u64_at(e, 16),
                        enabled: flags & MEM_ENABLED != 0,
                        hot_pluggable: flags & MEM_HOT_PLUGGABLE != 0,
                        non_volatile: flags & MEM_NON_VOLATILE != 0,
                    }
                }
                TYPE_X2APIC => {
                    need(24)?;
                    Entry::X2Apic {
                        domain: u32_at(e, 4),
                        apic_id: u32_at(e, 8),
                        enabled: u32_at(e, 12) & 1 != 0,
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

    fn entries(t: &[u8]) -> Vec<Result<Entry, Error>> {
        parse(t).unwrap().entries().collect()
    }

    #[test]
    fn memless_cpuless_fixture_reads_as_decoded() {
        let t = fixture("memless-cpuless", "SRAT").unwrap();
        let es: Vec<Entry> = entries(&t).into_iter().map(|e| e.unwrap()).collect();
        assert_eq!(es.len(), 9);
        assert_eq!(
            es[2],
            Entry::LocalApic {
                apic_id: 2,
                domain: 1,
                enabled: true
            }
        );
        assert_eq!(
            es[6],
            Entry::Memory {
                base: 0x4000_0000,
                length: 0x2000_0000,
                domain: 2,
                enabled: true,
                hot_pluggable: false,
                non_volatile: false
            }
        );
        assert!(matches!(
            es[7],
            Entry::Memory {
                enabled: false,
                length: 0,
                ..
            }
        ));
    }

    #[test]
    fn nvdimm_and_hotplug_flags_are_read() {
        let t = fixture("nvdimm", "SRAT").unwrap();
        let es: Vec<Entry> = entries(&t).into_iter().map(|e| e.unwrap()).collect();
        assert!(es.iter().any(|e| matches!(
            e,
            Entry::Memory {
                base: 0x1_0000_0000,
                length: 0x1000_0000,
                non_volatile: true,
                enabled: true,
                domain: 1,
                ..
            }
        )));
        assert!(es.iter().any(|e| matches!(
            e,
            Entry::Memory {
                hot_pluggable: true,
                enabled: true,
                ..
            }
        )));
    }

    fn one_entry(kind: u8, len: u8) -> Vec<u8> {
        let mut body = std::vec![0u8; 12];
        // At least the 2-byte prefix, whatever length it claims.
        let mut e = std::vec![0u8; (len as usize).max(2)];
        e[0] = kind;
        e[1] = len;
        body.extend_from_slice(&e);
        table(b"SRAT", 3, &body)
    }

    #[test]
    fn zero_length_entry_is_an_error_not_a_hang() {
        let es = entries(&one_entry(1, 0));
        assert_eq!(es.len(), 1);
        assert!(matches!(es[0], Err(Error::BadEntry { length: 0, .. })));
    }

    #[test]
    fn entry_shorter_than_its_type_is_an_error() {
        let es = entries(&one_entry(1, 16));
        assert!(matches!(
            es[0],
            Err(Error::BadEntry {
                why: "shorter than its type requires",
                ..
            })
        ));
    }

    #[test]
    fn entry_running_past_the_table_is_an_error() {
        let mut t = one_entry(0, 16);
        t[49] = 200; // length of the entry at offset 48
        fix_checksum(&mut t);
        let es = entries(&t);
        assert!(matches!(
            es[0],
            Err(Error::BadEntry {
                why: "runs past the end of the table",
                ..
            })
        ));
    }

    #[test]
    fn unknown_types_are_reported_not_fatal() {
        let es = entries(&one_entry(7, 32));
        assert_eq!(
            es[0],
            Ok(Entry::Other {
                kind: 7,
                length: 32
            })
        );
    }

    #[test]
    fn revision_2_reads_the_high_domain_bytes() {
        let mut body = std::vec![0u8; 12];
        let mut e = [0u8; 16];
        e[0] = 0;
        e[1] = 16;
        e[2] = 5;
        e[4] = 1;
        e[9] = 1; // domain bit 8
        body.extend_from_slice(&e);
        let t = table(b"SRAT", 2, &body);
        assert_eq!(
            entries(&t)[0],
            Ok(Entry::LocalApic {
                apic_id: 0,
                domain: 0x105,
                enabled: true
            })
        );
        let t = table(b"SRAT", 1, &body);
        assert_eq!(
            entries(&t)[0],
            Ok(Entry::LocalApic {
                apic_id: 0,
                domain: 5,
                enabled: true
            })
        );
    }
}
