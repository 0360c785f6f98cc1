//! NFIT: the NVDIMM Firmware Interface Table (ACPI 6.5, 5.2.26). Only the
//! System Physical Address range structures are read: where persistent
//! memory lies and on which proximity domain. Each structure's length is
//! checked against the table and its type's size before it is read.

use crate::{u32_at, u64_at, validate, Error, Header};

/// Bytes between the SDT header and the first structure (reserved).
const FIRST_STRUCTURE: usize = 40;
const SPA_RANGE: u16 = 0;
const SPA_RANGE_LEN: usize = 56;
/// Flags bit 1: the proximity domain field is valid.
const PXM_VALID: u16 = 1 << 1;

/// The persistent-memory range type GUID, 66F0D379-B4F3-4074-AC43-0D3318B78CDB,
/// in the table's byte order (first three fields little-endian).
pub const PERSISTENT_MEMORY: [u8; 16] = [
    0x79, 0xd3, 0xf0, 0x66, 0xf3, 0xb4, 0x74, 0x40, 0xac, 0x43, 0x0d, 0x33, 0x18, 0xb7, 0x8c, 0xdb,
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaRange {
    pub index: u16,
    pub pxm: Option<u32>,
    pub persistent: bool,
    pub base: u64,
    pub length: u64,
}

pub struct Nfit<'a> {
    pub header: Header,
    body: &'a [u8],
}

/// Validates the table (header, checksum).
pub fn parse(bytes: &[u8]) -> Result<Nfit<'_>, Error> {
    let (header, table) = validate(bytes, b"NFIT")?;
    Ok(Nfit {
        header,
        body: table,
    })
}

impl<'a> Nfit<'a> {
    /// The SPA range structures; a structure whose length is zero, runs
    /// past the table or is short for its type ends the walk with an
    /// error.
    pub fn spa_ranges(&self) -> impl Iterator<Item = Result<SpaRange, Error>> + 'a {
        let b = self.body;
        let mut at = FIRST_STRUCTURE;
        let mut done = false;
        core::iter::from_fn(move || loop {
            if done || at + 4 > b.len() {
                return None;
            }
            let kind = u16::from_le_bytes([b[at], b[at + 1]]);
            let len = u16::from_le_bytes([b[at + 2], b[at + 3]]) as usize;
            if len < 4 || at + len > b.len() {
                done = true;
                return Some(Err(Error::BadEntry {
                    offset: at,
                    kind: kind as u8,
                    length: len.min(255) as u8,
                    why: "zero length or past the table's end",
                }));
            }
            let s = &b[at..at + len];
            at += len;
            if kind != SPA_RANGE {
                continue;
            }
            if len < SPA_RANGE_LEN {
                done = true;
                return Some(Err(Error::BadEntry {
                    offset: at - len,
                    kind: kind as u8,
                    length: len as u8,
                    why: "shorter than a SPA range structure",
                }));
            }
            let flags = u16::from_le_bytes([s[6], s[7]]);
            return Some(Ok(SpaRange {
                index: u16::from_le_bytes([s[4], s[5]]),
                pxm: (flags & PXM_VALID != 0).then(|| u32_at(s, 12)),
                persistent: s[16..32] == PERSISTENT_MEMORY,
                base: u64_at(s, 32),
                length: u64_at(s, 40),
            }));
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fix_checksum;
    use boot_tests::qemu_args::fixture_dir;
    use std::vec::Vec;

    #[test]
    fn qemu_nvdimm_fixture_has_256_mib_of_pmem_on_pxm_1() {
        let bytes = std::fs::read(fixture_dir("nvdimm").join("NFIT.bin")).unwrap();
        let n = parse(&bytes).unwrap();
        let r: Vec<_> = n.spa_ranges().collect::<Result<_, _>>().unwrap();
        assert_eq!(
            r,
            [SpaRange {
                index: 2,
                pxm: Some(1),
                persistent: true,
                base: 0x1_0000_0000,
                length: 256 << 20,
            }]
        );
    }

    #[test]
    fn bad_structure_lengths_are_errors_not_hangs() {
        let mut bytes = std::fs::read(fixture_dir("nvdimm").join("NFIT.bin")).unwrap();
        bytes[FIRST_STRUCTURE + 2] = 0; // SPA length 0
        bytes[FIRST_STRUCTURE + 3] = 0;
        fix_checksum(&mut bytes);
        let n = parse(&bytes).unwrap();
        let r: Vec<_> = n.spa_ranges().collect();
        assert_eq!(r.len(), 1);
        assert!(r[0].is_err());
        let mut bytes = std::fs::read(fixture_dir("nvdimm").join("NFIT.bin")).unwrap();
        bytes[FIRST_STRUCTURE + 2] = 20; // shorter than a SPA range
        fix_checksum(&mut bytes);
        assert!(parse(&bytes).unwrap().spa_ranges().next().unwrap().is_err());
    }
}
