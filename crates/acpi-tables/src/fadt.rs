//! FADT ("FACP"): the fixed hardware the kernel reads directly: the ACPI
//! PM timer, a 3.579545 MHz counter at a port, 24 or 32 bits wide (ACPI
//! 6.5, 5.2.9 and 4.8.3.3), the fixed-rate clock the TSC is calibrated
//! against; the PM1a/PM1b control ports a sleep state is entered through
//! (4.8.3.2); and where the DSDT is.

use crate::{u32_at, u64_at, validate, Error, Header};

/// The PM timer's frequency, fixed by the ACPI specification.
pub const PM_TIMER_HZ: u64 = 3_579_545;

const DSDT: usize = 40;
const PM1A_CNT_BLK: usize = 64;
const PM1B_CNT_BLK: usize = 68;
const PM_TMR_BLK: usize = 76;
const X_DSDT: usize = 140;
const X_PM1A_CNT_BLK: usize = 172;
const X_PM1B_CNT_BLK: usize = 184;
/// Generic Address Structure space ID of system I/O.
const GAS_SYSTEM_IO: u8 = 1;
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
    /// Physical address of the DSDT (X_DSDT when set, else DSDT).
    pub dsdt: Option<u64>,
    /// PM1a and PM1b control register ports (SLP_TYP and SLP_EN live there).
    pub pm1a_control: Option<u16>,
    pub pm1b_control: Option<u16>,
}

/// A control block's port: the 32-bit field, or its 64-bit GAS twin when
/// that describes system I/O. Port 0 and ports past 0xffff mean none.
fn control_port(table: &[u8], legacy: usize, gas: usize) -> Option<u16> {
    let port = |p: u64| (p != 0 && p <= u16::MAX as u64).then_some(p as u16);
    if table.len() >= legacy + 4 {
        if let Some(p) = port(u32_at(table, legacy) as u64) {
            return Some(p);
        }
    }
    if table.len() >= gas + 12 && table[gas] == GAS_SYSTEM_IO {
        return port(u64_at(table, gas + 4));
    }
    None
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
    let x_dsdt = (table.len() >= X_DSDT + 8)
        .then(|| u64_at(table, X_DSDT))
        .filter(|&a| a != 0);
    let dsdt = x_dsdt.or_else(|| {
        (table.len() >= DSDT + 4)
            .then(|| u32_at(table, DSDT) as u64)
            .filter(|&a| a != 0)
    });
    Ok(Fadt {
        header,
        pm_timer,
        dsdt,
        pm1a_control: control_port(table, PM1A_CNT_BLK, X_PM1A_CNT_BLK),
        pm1b_control: control_port(table, PM1B_CNT_BLK, X_PM1B_CNT_BLK),
    })
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
    fn qemu_q35_controls_sleep_at_0x604_and_names_its_dsdt() {
        for preset in ["two-node", "eight-node-big", "hotplug-dimm", "nvdimm"] {
            let bytes = std::fs::read(fixture_dir(preset).join("FACP.bin")).unwrap();
            let f = parse(&bytes).unwrap();
            assert_eq!(
                (f.pm1a_control, f.pm1b_control),
                (Some(0x604), None),
                "{preset}"
            );
            assert!(f.dsdt.is_some_and(|a| a != 0), "{preset}");
        }
    }

    #[test]
    fn a_zero_legacy_port_falls_back_to_the_extended_block() {
        let mut bytes = std::fs::read(fixture_dir("two-node").join("FACP.bin")).unwrap();
        bytes[PM1A_CNT_BLK..PM1A_CNT_BLK + 4].copy_from_slice(&[0; 4]);
        fix_checksum(&mut bytes);
        let f = parse(&bytes).unwrap();
        // QEMU fills X_PM1a_CNT_BLK with the same port.
        assert_eq!(f.pm1a_control, Some(0x604));
        bytes[X_PM1A_CNT_BLK] = 0; // system memory: not a port
        fix_checksum(&mut bytes);
        assert_eq!(parse(&bytes).unwrap().pm1a_control, None);
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
