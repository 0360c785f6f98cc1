//! Validating parsers for the firmware tables that describe the machine's
//! NUMA topology: the common system description table header, the SRAT
//! (System Resource Affinity Table), the SLIT (System Locality Information
//! Table) and the MADT (Multiple APIC Description Table).
//!
//! Every parser takes the table as a byte slice and trusts nothing in it:
//! the header's length is checked against the slice, the checksum is
//! verified, every sub-table's length is checked before its fields are read,
//! and sizes computed from table fields use checked arithmetic. A malformed
//! table gives an [`Error`], never a panic and never a read past the slice.
//!
//! No allocation: entries are yielded by iterators over the borrowed bytes.
#![no_std]
#![forbid(unsafe_code)]

pub mod fadt;
pub mod hmat;
pub mod hpet;
pub mod madt;
pub mod mptable;
pub mod nfit;
pub mod resource;
pub mod slit;
pub mod srat;

use core::fmt;

/// Size of the common table header (ACPI 6.5, 5.2.6).
pub const HEADER_LEN: usize = 36;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header needs.
    TooShort { have: usize, need: usize },
    /// The signature is not the one asked for.
    WrongSignature { found: [u8; 4], want: [u8; 4] },
    /// The header's length field is smaller than the header itself.
    LengthTooSmall { length: u32 },
    /// The header's length field claims more bytes than were mapped.
    LengthBeyondData { length: u32, available: usize },
    /// The bytes do not sum to zero.
    BadChecksum { sum: u8 },
    /// A sub-table (SRAT/MADT entry) is malformed.
    BadEntry {
        offset: usize,
        kind: u8,
        length: u8,
        why: &'static str,
    },
    /// The SLIT's N x N matrix does not fit the table.
    SlitMatrixOverflow { localities: u64, length: u32 },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooShort { have, need } => {
                write!(f, "table truncated: {have} bytes, need at least {need}")
            }
            Error::WrongSignature { found, want } => write!(
                f,
                "signature {:?} where {:?} was expected",
                Sig(*found),
                Sig(*want)
            ),
            Error::LengthTooSmall { length } => {
                write!(f, "length field {length} is smaller than the 36-byte header")
            }
            Error::LengthBeyondData { length, available } => write!(
                f,
                "length field {length} is larger than the {available} bytes available"
            ),
            Error::BadChecksum { sum } => write!(f, "checksum fails (bytes sum to {sum:#04x}, not 0)"),
            Error::BadEntry {
                offset,
                kind,
                length,
                why,
            } => write!(
                f,
                "entry at offset {offset} (type {kind}, length {length}): {why}"
            ),
            Error::SlitMatrixOverflow { localities, length } => write!(
                f,
                "{localities} localities need a {localities}x{localities} matrix that a {length}-byte table cannot hold"
            ),
        }
    }
}

/// A table signature, printed as text where it is printable.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sig(pub [u8; 4]);

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(&self.0) {
            Ok(s) if s.bytes().all(|b| b.is_ascii_graphic()) => write!(f, "{s}"),
            _ => write!(f, "{:02x?}", self.0),
        }
    }
}

/// The validated common header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub signature: [u8; 4],
    pub length: u32,
    pub revision: u8,
    pub oem_id: [u8; 6],
    pub oem_table_id: [u8; 8],
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

pub(crate) fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(v)
}

/// Reads just the length field, for callers that must map the header
/// before they know how much more to map.
pub fn peek_length(bytes: &[u8]) -> Result<u32, Error> {
    if bytes.len() < HEADER_LEN {
        return Err(Error::TooShort {
            have: bytes.len(),
            need: HEADER_LEN,
        });
    }
    Ok(u32_at(bytes, 4))
}

/// Validates a whole table: signature, length against the bytes at hand,
/// checksum over `length` bytes. Returns the header and exactly the
/// table's bytes (trailing bytes beyond `length` are dropped).
pub fn validate<'a>(bytes: &'a [u8], want: &[u8; 4]) -> Result<(Header, &'a [u8]), Error> {
    let length = peek_length(bytes)?;
    let mut signature = [0u8; 4];
    signature.copy_from_slice(&bytes[0..4]);
    if &signature != want {
        return Err(Error::WrongSignature {
            found: signature,
            want: *want,
        });
    }
    if (length as usize) < HEADER_LEN {
        return Err(Error::LengthTooSmall { length });
    }
    if length as usize > bytes.len() {
        return Err(Error::LengthBeyondData {
            length,
            available: bytes.len(),
        });
    }
    let table = &bytes[..length as usize];
    let sum = checksum(table);
    if sum != 0 {
        return Err(Error::BadChecksum { sum });
    }
    let mut oem_id = [0u8; 6];
    oem_id.copy_from_slice(&table[10..16]);
    let mut oem_table_id = [0u8; 8];
    oem_table_id.copy_from_slice(&table[16..24]);
    Ok((
        Header {
            signature,
            length,
            revision: table[8],
            oem_id,
            oem_table_id,
        },
        table,
    ))
}

/// Checks that sub-table `e` (at `offset` in its table) has at least the
/// `n` bytes its type defines before any field is read.
pub(crate) fn require_len(e: &[u8], offset: usize, n: usize) -> Result<(), Error> {
    if e.len() < n {
        Err(Error::BadEntry {
            offset,
            kind: e[0],
            length: e.len() as u8,
            why: "shorter than its type requires",
        })
    } else {
        Ok(())
    }
}

/// The byte sum of `bytes`, modulo 256: zero for an intact ACPI structure
/// (tables, and the RSDP over its 20- and its full-length parts).
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Sets a table's checksum byte (offset 9) so that all its bytes sum to
/// zero, as firmware does when it builds a table.
pub fn fix_checksum(table: &mut [u8]) {
    if table.len() < 10 {
        return;
    }
    table[9] = 0;
    table[9] = 0u8.wrapping_sub(checksum(table));
}

/// Walks the type/length sub-tables that follow a table's fixed part
/// (SRAT and MADT share this layout). Each item is `(offset, type, body)`
/// where `body` is the whole sub-table including its 2-byte prefix; a
/// malformed sub-table ends the walk with an error.
pub(crate) fn subtables(
    table: &[u8],
    start: usize,
) -> impl Iterator<Item = Result<(usize, u8, &[u8]), Error>> {
    let mut off = start;
    let mut failed = false;
    core::iter::from_fn(move || {
        if failed || off >= table.len() {
            return None;
        }
        if off + 2 > table.len() {
            failed = true;
            return Some(Err(Error::BadEntry {
                offset: off,
                kind: table[off],
                length: 0,
                why: "sub-table header runs past the end of the table",
            }));
        }
        let (kind, len) = (table[off], table[off + 1]);
        let bad = |why| Error::BadEntry {
            offset: off,
            kind,
            length: len,
            why,
        };
        if len < 2 {
            failed = true;
            return Some(Err(bad("length below 2 (the walk would never advance)")));
        }
        if off + len as usize > table.len() {
            failed = true;
            return Some(Err(bad("runs past the end of the table")));
        }
        let item = (off, kind, &table[off..off + len as usize]);
        off += len as usize;
        Some(Ok(item))
    })
}

#[cfg(test)]
pub(crate) mod testutil {
    extern crate std;
    use std::vec::Vec;

    pub use crate::fix_checksum;

    /// A table with a header, the given fixed part and sub-tables.
    pub fn table(sig: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(sig);
        t.extend_from_slice(&((36 + body.len()) as u32).to_le_bytes());
        t.push(revision);
        t.push(0);
        t.extend_from_slice(b"TESTID");
        t.extend_from_slice(b"TESTTBL ");
        t.extend_from_slice(&[0; 12]);
        t.extend_from_slice(body);
        fix_checksum(&mut t);
        t
    }

    pub fn fixture(topology: &str, sig: &str) -> Option<Vec<u8>> {
        let path = std::format!(
            "{}/../../fixtures/qemu-acpi/{topology}/{sig}.bin",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).ok()
    }

    pub use boot_tests::qemu_args::FIXTURES as TOPOLOGIES;
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn every_fixture_table_validates() {
        for topo in TOPOLOGIES {
            for sig in [
                "APIC", "SRAT", "SLIT", "FACP", "DSDT", "HPET", "MCFG", "HMAT",
            ] {
                if let Some(t) = fixture(topo, sig) {
                    let want: [u8; 4] = sig.as_bytes().try_into().unwrap();
                    let (h, body) =
                        validate(&t, &want).unwrap_or_else(|e| panic!("{topo}/{sig}: {e}"));
                    assert_eq!(h.length as usize, t.len());
                    assert_eq!(body.len(), t.len());
                }
            }
        }
    }

    #[test]
    fn header_corruptions_are_errors() {
        let good = table(b"TEST", 1, &[1, 2, 3, 4]);
        assert!(validate(&good, b"TEST").is_ok());
        // Truncated below the header.
        assert!(matches!(
            validate(&good[..20], b"TEST"),
            Err(Error::TooShort { .. })
        ));
        // Truncated below its length.
        assert!(matches!(
            validate(&good[..38], b"TEST"),
            Err(Error::LengthBeyondData { .. })
        ));
        // Bad checksum.
        let mut t = good.clone();
        t[37] ^= 0xff;
        assert!(matches!(
            validate(&t, b"TEST"),
            Err(Error::BadChecksum { .. })
        ));
        // Length field larger than the table.
        let mut t = good.clone();
        t[4..8].copy_from_slice(&1000u32.to_le_bytes());
        fix_checksum(&mut t);
        assert!(matches!(
            validate(&t, b"TEST"),
            Err(Error::LengthBeyondData { length: 1000, .. })
        ));
        // Length field smaller than the header.
        let mut t = good.clone();
        t[4..8].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(
            validate(&t, b"TEST"),
            Err(Error::LengthTooSmall { .. })
        ));
        // Wrong signature.
        assert!(matches!(
            validate(&good, b"SRAT"),
            Err(Error::WrongSignature { .. })
        ));
    }

    #[test]
    fn errors_print_their_cause() {
        extern crate std;
        use std::string::ToString;
        let e = Error::BadChecksum { sum: 3 };
        assert!(e.to_string().contains("checksum"));
        let e = Error::SlitMatrixOverflow {
            localities: 1 << 40,
            length: 60,
        };
        assert!(e.to_string().contains("cannot hold"));
    }
}
