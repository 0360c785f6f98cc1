//! The Intel MultiProcessor Specification 1.4 tables: the MP floating
//! pointer ("_MP_", found by a scan of the BIOS areas) and the MP
//! configuration table ("PCMP") it points to. Firmware gives them on
//! machines without ACPI (`-machine pc,acpi=off` under SeaBIOS): their
//! processor entries are then the only list of the machine's CPUs.
//!
//! Validated like the ACPI tables: signature, length and checksum first,
//! every entry's type and size before its fields are read.

use crate::checksum;

/// The floating pointer: 16 bytes, on a 16-byte boundary.
pub const FLOATING_LEN: usize = 16;
const CONFIG_HEADER_LEN: usize = 44;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpError {
    TooShort,
    BadSignature,
    BadChecksum,
    /// Feature byte 1 names a default configuration: no table exists.
    DefaultConfiguration(u8),
    /// An entry of a type the specification does not define, at this offset.
    UnknownEntry {
        offset: usize,
        kind: u8,
    },
}

/// Finds a valid floating pointer in `area` (a scanned BIOS region) and
/// returns the offset it lies at and the configuration table's address.
pub fn find_floating(area: &[u8]) -> Option<(usize, Result<u32, MpError>)> {
    (0..area.len().saturating_sub(FLOATING_LEN - 1))
        .step_by(16)
        .find(|&off| {
            let p = &area[off..off + FLOATING_LEN];
            &p[..4] == b"_MP_" && p[8] == 1 && checksum(p) == 0
        })
        .map(|off| {
            let p = &area[off..off + FLOATING_LEN];
            let table = u32::from_le_bytes(p[4..8].try_into().unwrap());
            if p[11] != 0 {
                (off, Err(MpError::DefaultConfiguration(p[11])))
            } else {
                (off, Ok(table))
            }
        })
}

/// The configuration table's base length, from its header, to map it whole.
pub fn config_length(header: &[u8]) -> Result<usize, MpError> {
    if header.len() < CONFIG_HEADER_LEN {
        return Err(MpError::TooShort);
    }
    if &header[..4] != b"PCMP" {
        return Err(MpError::BadSignature);
    }
    let len = u16::from_le_bytes([header[4], header[5]]) as usize;
    if len < CONFIG_HEADER_LEN {
        return Err(MpError::TooShort);
    }
    Ok(len)
}

/// One processor entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Processor {
    pub apic_id: u8,
    pub enabled: bool,
    pub bootstrap: bool,
}

/// A validated configuration table.
pub struct Config<'a> {
    bytes: &'a [u8],
}

/// Validates a whole configuration table (its base part).
pub fn parse_config(bytes: &[u8]) -> Result<Config<'_>, MpError> {
    let len = config_length(bytes)?;
    let bytes = bytes.get(..len).ok_or(MpError::TooShort)?;
    if checksum(bytes) != 0 {
        return Err(MpError::BadChecksum);
    }
    Ok(Config { bytes })
}

impl Config<'_> {
    /// The processor entries in table order; an undefined entry type or
    /// one running past the table ends the walk with an error. The walk
    /// goes by the table's length, not its entry count, as Linux's does:
    /// qboot leaves the count 0.
    pub fn processors(&self) -> impl Iterator<Item = Result<Processor, MpError>> + '_ {
        let mut off = CONFIG_HEADER_LEN;
        let mut done = false;
        core::iter::from_fn(move || loop {
            if done || off >= self.bytes.len() {
                return None;
            }
            let kind = self.bytes[off];
            let size = match kind {
                0 => 20,
                1..=4 => 8,
                _ => {
                    done = true;
                    return Some(Err(MpError::UnknownEntry { offset: off, kind }));
                }
            };
            let Some(e) = self.bytes.get(off..off + size) else {
                done = true;
                return Some(Err(MpError::TooShort));
            };
            off += size;
            if kind == 0 {
                return Some(Ok(Processor {
                    apic_id: e[1],
                    enabled: e[3] & 1 != 0,
                    bootstrap: e[3] & 2 != 0,
                }));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A configuration table as SeaBIOS builds one: `cpus` processors
    /// (the first the bootstrap one), a bus and an I/O APIC.
    fn config(cpus: u8) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(b"PCMP");
        t.extend_from_slice(&[0, 0, 4, 0]);
        t.extend_from_slice(b"BOCHSCPU0.1         ");
        t.extend_from_slice(&[0; 6]);
        t.extend_from_slice(&(cpus as u16 + 2).to_le_bytes());
        t.extend_from_slice(&0xfee0_0000u32.to_le_bytes());
        t.extend_from_slice(&[0; 4]);
        assert_eq!(t.len(), CONFIG_HEADER_LEN);
        for i in 0..cpus {
            let flags = 1 | if i == 0 { 2 } else { 0 };
            t.extend_from_slice(&[0, i, 0x14, flags]);
            t.extend_from_slice(&[0; 16]);
        }
        t.extend_from_slice(&[1, 0, b'I', b'S', b'A', b' ', b' ', b' ']);
        t.extend_from_slice(&[2, cpus, 0x11, 1, 0, 0, 0xc0, 0xfe]);
        let len = t.len() as u16;
        t[4..6].copy_from_slice(&len.to_le_bytes());
        let sum = checksum(&t);
        t[7] = 0u8.wrapping_sub(sum);
        t
    }

    #[test]
    fn processors_are_read_in_order_with_their_flags() {
        let t = config(3);
        let c = parse_config(&t).unwrap();
        let p: Vec<_> = c.processors().map(Result::unwrap).collect();
        assert_eq!(p.len(), 3);
        assert!(p[0].bootstrap && p[0].enabled && !p[1].bootstrap);
        assert_eq!(p.iter().map(|p| p.apic_id).collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn bad_checksum_signature_and_unknown_entries_are_refused() {
        let mut t = config(2);
        t[50] ^= 1;
        assert_eq!(parse_config(&t).err(), Some(MpError::BadChecksum));
        let mut t = config(2);
        t[0] = b'X';
        assert_eq!(parse_config(&t).err(), Some(MpError::BadSignature));
        let mut t = config(2);
        t[CONFIG_HEADER_LEN + 20] = 9; // the second processor becomes type 9
        let sum = checksum(&t);
        t[7] = t[7].wrapping_sub(sum);
        let c = parse_config(&t).unwrap();
        let r: Vec<_> = c.processors().collect();
        assert!(matches!(
            r.last(),
            Some(Err(MpError::UnknownEntry { kind: 9, .. }))
        ));
        // The entry count is not trusted (qboot leaves it 0): the length is.
        let mut t = config(2);
        t[34] = 0;
        let sum = checksum(&t);
        t[7] = t[7].wrapping_sub(sum);
        assert_eq!(parse_config(&t).unwrap().processors().count(), 2);
        // An entry cut by the table's end is an error, not a read past it.
        let mut t = config(2);
        t.truncate(t.len() - 4);
        let len = t.len() as u16;
        t[4..6].copy_from_slice(&len.to_le_bytes());
        t[7] = 0;
        let sum = checksum(&t);
        t[7] = 0u8.wrapping_sub(sum);
        let r: Vec<_> = parse_config(&t).unwrap().processors().collect();
        assert_eq!(r.last(), Some(&Err(MpError::TooShort)));
    }

    #[test]
    fn the_floating_pointer_is_found_on_a_16_byte_boundary() {
        let mut area = std::vec![0u8; 256];
        let mut p = [0u8; 16];
        p[..4].copy_from_slice(b"_MP_");
        p[4..8].copy_from_slice(&0x000f_1234u32.to_le_bytes());
        p[8] = 1;
        p[9] = 4;
        p[10] = 0u8.wrapping_sub(checksum(&p));
        area[0x50..0x60].copy_from_slice(&p);
        assert_eq!(find_floating(&area), Some((0x50, Ok(0x000f_1234))));
        area[0x51] = b'X';
        assert_eq!(find_floating(&area), None);
    }
}
