//! FADT ("FACP"): the fixed hardware the kernel reads directly. Today the
//! ACPI PM timer: a 3.579545 MHz counter at a port, 24 or 32 bits wide
//! (ACPI 6.5, 5.2.9 and 4.8.3.3), the fixed-rate clock the TSC is
//! calibrated against.

use crate::{u32_at, validate, Error, Header};

/// The PM timer's frequency, fixed by the ACPI specification.
pub const PM_TIMER_HZ: u64 = 3_579_545;

const PM_TMR_BLK: usize = 76;
const FLAGS: usize = 112;
const TMR_VAL_EXT: u32 = 1 << 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PmTimer {
    pub port: u16,
    /// The counter is 32 bits wide (else 24).
    pub bits32: bool,
}

pub struct Fadt {
    pub header: Header,
    pub pm_timer: Option<PmTimer>,
}

/// Validates the table; a PM timer block of 0 or above the port range, or
/// a table too short to hold it, means no PM timer.
pub fn parse(bytes: &[u8]) -> Result<Fadt, Error> {
    let (header, table) = validate(bytes, b"FACP")?;
    let pm_timer = (table.len() >= FLAGS + 4)
        .then(|| (u32_at(table, PM_TMR_BLK), u32_at(table, FLAGS)))
        .filter(|&(port, _)| port != 0 && port <= u16::MAX as u32)
        .map(|(port, flags)| PmTimer {
            port: port as u16,
            bits32: flags & TMR_VAL_EXT != 0,
        });
    Ok(Fadt { header, pm_timer })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fix_checksum;
    use boot_tests::qemu_args::fixture_dir;

    #[test]
    fn qemu_q35_pm_timer_is_at_0x608() {
        let bytes = std::fs::read(fixture_dir("two-node").join("FACP.bin")).unwrap();
        let f = parse(&bytes).unwrap();
        let t = f.pm_timer.unwrap();
        assert_eq!(t.port, 0x608);
    }

    #[test]
    fn zero_port_or_short_table_means_no_timer() {
        let mut bytes = std::fs::read(fixture_dir("two-node").join("FACP.bin")).unwrap();
        bytes[PM_TMR_BLK..PM_TMR_BLK + 4].copy_from_slice(&[0; 4]);
        fix_checksum(&mut bytes);
        assert_eq!(parse(&bytes).unwrap().pm_timer, None);
        let mut short = bytes[..100].to_vec();
        short[4..8].copy_from_slice(&100u32.to_le_bytes());
        fix_checksum(&mut short);
        assert_eq!(parse(&short).unwrap().pm_timer, None);
    }
}
