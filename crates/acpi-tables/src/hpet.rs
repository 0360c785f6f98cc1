//! HPET (IA-PC High Precision Event Timer table): where the timer block's
//! registers are. The kernel calibrates the TSC against its main counter
//! on machines without an ACPI PM timer.

use crate::{u32_at, u64_at, validate, Error};

/// Offsets in the table (IA-PC HPET specification 1.0a, table 3).
const BLOCK_ID: usize = 36;
const BASE_SPACE_ID: usize = 40;
const BASE_ADDRESS: usize = 44;
const LENGTH: usize = 56;
/// Generic Address Structure space ID of system memory.
const GAS_SYSTEM_MEMORY: u8 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hpet {
    /// Physical address of the 1 KiB register block.
    pub base: u64,
    /// The hardware revision ID, vendor ID and number of comparators.
    pub block_id: u32,
}

/// Parses a whole HPET table. A register block outside system memory, at
/// address 0, or not 1 KiB aligned is refused: the kernel cannot use it.
pub fn parse(bytes: &[u8]) -> Result<Hpet, Error> {
    let (_, table) = validate(bytes, b"HPET")?;
    if table.len() < LENGTH {
        return Err(Error::TooShort {
            have: table.len(),
            need: LENGTH,
        });
    }
    let bad = |why| Error::BadEntry {
        offset: BASE_SPACE_ID,
        kind: table[BASE_SPACE_ID],
        length: 12,
        why,
    };
    if table[BASE_SPACE_ID] != GAS_SYSTEM_MEMORY {
        return Err(bad("register block not in system memory"));
    }
    let base = u64_at(table, BASE_ADDRESS);
    if base == 0 || !base.is_multiple_of(1024) {
        return Err(bad("register block address is 0 or not 1 KiB aligned"));
    }
    let block_id = u32_at(table, BLOCK_ID);
    Ok(Hpet { base, block_id })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fix_checksum;
    use boot_tests::qemu_args::fixture_dir;

    #[test]
    fn qemu_hpet_is_at_0xfed00000() {
        let bytes = std::fs::read(fixture_dir("two-node").join("HPET.bin")).unwrap();
        let h = parse(&bytes).unwrap();
        assert_eq!(h.base, 0xfed0_0000);
        assert_eq!(h.block_id & 0xffff_0000, 0x8086_0000, "{:#x}", h.block_id);
    }

    #[test]
    fn a_block_in_io_space_or_at_zero_is_refused() {
        let good = std::fs::read(fixture_dir("two-node").join("HPET.bin")).unwrap();
        let mut io = good.clone();
        io[BASE_SPACE_ID] = 1;
        fix_checksum(&mut io);
        assert!(matches!(parse(&io), Err(Error::BadEntry { .. })));
        let mut zero = good.clone();
        zero[BASE_ADDRESS..BASE_ADDRESS + 8].copy_from_slice(&[0; 8]);
        fix_checksum(&mut zero);
        assert!(matches!(parse(&zero), Err(Error::BadEntry { .. })));
        let mut short = good[..48].to_vec();
        short[4..8].copy_from_slice(&48u32.to_le_bytes());
        fix_checksum(&mut short);
        assert!(matches!(parse(&short), Err(Error::TooShort { .. })));
    }
}
