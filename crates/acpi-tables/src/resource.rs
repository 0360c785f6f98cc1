//! ACPI resource templates (ACPI 6.5, 6.4): the byte lists `_CRS` returns.
//! Only the memory ranges are read: 32-bit fixed and ranged memory, and
//! DWord, QWord and extended address spaces of the memory type. Every
//! descriptor's length is checked against the buffer before its fields
//! are read.

/// Why a template could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceError {
    /// A descriptor runs past the end of the buffer, at this offset.
    Truncated(usize),
    /// A descriptor shorter than its type's fields, at this offset.
    TooShort(usize),
    /// More memory ranges than the caller's room.
    TooMany,
}

const SMALL_END_TAG: u8 = 0xf;
const FIXED_MEMORY32: u8 = 0x86;
const MEMORY32: u8 = 0x85;
const DWORD_ADDRESS: u8 = 0x87;
const QWORD_ADDRESS: u8 = 0x8a;
const EXTENDED_ADDRESS: u8 = 0x8b;
/// Resource type of an address-space descriptor that describes memory.
const MEMORY_RANGE: u8 = 0;

fn le(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |v, &x| (v << 8) | x as u64)
}

/// The memory ranges `[start, end)` of a template, into `out`; returns
/// how many. Zero-length ranges are skipped.
pub fn memory_ranges(b: &[u8], out: &mut [(u64, u64)]) -> Result<usize, ResourceError> {
    let mut n = 0;
    let mut at = 0;
    while at < b.len() {
        let tag = b[at];
        if tag & 0x80 == 0 {
            let len = (tag & 7) as usize;
            if (tag >> 3) & 0xf == SMALL_END_TAG {
                break;
            }
            at += 1 + len;
            continue;
        }
        if at + 3 > b.len() {
            return Err(ResourceError::Truncated(at));
        }
        let len = le(&b[at + 1..at + 3]) as usize;
        let body_start = at + 3;
        let Some(body) = b.get(body_start..body_start + len) else {
            return Err(ResourceError::Truncated(at));
        };
        let range = match tag {
            FIXED_MEMORY32 if len >= 9 => Some((le(&body[1..5]), le(&body[5..9]))),
            MEMORY32 if len >= 17 => Some((le(&body[1..5]), le(&body[13..17]))),
            DWORD_ADDRESS if len >= 23 => {
                (body[0] == MEMORY_RANGE).then(|| (le(&body[7..11]), le(&body[19..23])))
            }
            QWORD_ADDRESS if len >= 43 => {
                (body[0] == MEMORY_RANGE).then(|| (le(&body[11..19]), le(&body[35..43])))
            }
            EXTENDED_ADDRESS if len >= 51 => {
                (body[0] == MEMORY_RANGE).then(|| (le(&body[13..21]), le(&body[37..45])))
            }
            FIXED_MEMORY32 | MEMORY32 | DWORD_ADDRESS | QWORD_ADDRESS | EXTENDED_ADDRESS => {
                return Err(ResourceError::TooShort(at))
            }
            _ => None,
        };
        if let Some((start, length)) = range {
            if length > 0 {
                let slot = out.get_mut(n).ok_or(ResourceError::TooMany)?;
                *slot = (start, start.saturating_add(length));
                n += 1;
            }
        }
        at = body_start + len;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's MCRS for a 1 GiB DIMM at 4 GiB + 1 GiB: a QWord memory
    /// descriptor (bytes as iasl assembles the template), then the end tag.
    fn qword(min: u64, len: u64) -> [u8; 48] {
        let mut t = [0u8; 48];
        t[0] = QWORD_ADDRESS;
        t[1] = 43;
        t[3] = MEMORY_RANGE;
        t[4] = 0x0c;
        t[5] = 0x03;
        t[14..22].copy_from_slice(&min.to_le_bytes());
        t[22..30].copy_from_slice(&(min + len - 1).to_le_bytes());
        t[38..46].copy_from_slice(&len.to_le_bytes());
        t[46] = 0x79; // end tag
        t
    }

    #[test]
    fn a_qword_memory_descriptor_gives_its_range() {
        let mut out = [(0, 0); 4];
        let t = qword(0x1_4000_0000, 1 << 30);
        assert_eq!(memory_ranges(&t, &mut out), Ok(1));
        assert_eq!(out[0], (0x1_4000_0000, 0x1_8000_0000));
    }

    #[test]
    fn io_and_zero_length_ranges_are_not_memory() {
        let mut t = qword(0x1000, 0x1000).to_vec();
        t[3] = 1; // I/O range
        let mut out = [(0, 0); 4];
        assert_eq!(memory_ranges(&t, &mut out), Ok(0));
        let mut t = qword(0x1000, 1).to_vec();
        t[38..46].copy_from_slice(&0u64.to_le_bytes());
        assert_eq!(memory_ranges(&t, &mut out), Ok(0));
    }

    #[test]
    fn truncated_and_short_descriptors_are_errors() {
        let t = qword(0x1000, 0x1000);
        let mut out = [(0, 0); 4];
        assert_eq!(
            memory_ranges(&t[..20], &mut out),
            Err(ResourceError::Truncated(0))
        );
        let mut short = t;
        short[1] = 10;
        assert_eq!(
            memory_ranges(&short[..13], &mut out),
            Err(ResourceError::TooShort(0))
        );
        let mut none = [(0, 0); 0];
        assert_eq!(memory_ranges(&t, &mut none), Err(ResourceError::TooMany));
    }

    #[test]
    fn fixed_memory32_and_small_descriptors() {
        // An IO descriptor (small, 7 bytes), then a fixed 32-bit memory range.
        let mut t = [0u8; 8 + 12 + 2];
        t[0] = 0x47; // IO, length 7
        t[8] = FIXED_MEMORY32;
        t[9] = 9;
        t[12..16].copy_from_slice(&0xfed0_0000u32.to_le_bytes());
        t[16..20].copy_from_slice(&0x400u32.to_le_bytes());
        t[20] = 0x79;
        let mut out = [(0, 0); 2];
        assert_eq!(memory_ranges(&t, &mut out), Ok(1));
        assert_eq!(out[0], (0xfed0_0000, 0xfed0_0400));
    }
}
