//! FADT ("FACP"): the fixed hardware the kernel reads directly: the ACPI
//! PM timer, a 3.579545 MHz counter at a port, 24 or 32 bits wide (ACPI
//! 6.5, 5.2.9 and 4.8.3.3), the fixed-rate clock the TSC is calibrated
//! against; the PM1a/PM1b control ports a sleep state is entered through
//! (4.8.3.2); where the DSDT is; and what general-purpose events need:
//! the SCI's interrupt, the SMI command that hands the hardware to the OS
//! (ACPI mode), and the GPE0 block's status and enable registers (5.6.4).

use crate::{u32_at, u64_at, validate, Error, Header};

/// The PM timer's frequency, fixed by the ACPI specification.
pub const PM_TIMER_HZ: u64 = 3_579_545;

const DSDT: usize = 40;
const SCI_INT: usize = 46;
const SMI_CMD: usize = 48;
const ACPI_ENABLE: usize = 52;
const PM1A_EVT_BLK: usize = 56;
const GPE0_BLK: usize = 80;
const GPE0_BLK_LEN: usize = 92;
const X_GPE0_BLK: usize = 220;
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
    /// The system interrupt the SCI arrives on (an ISA IRQ, 8259 numbering).
    pub sci_int: u16,
    /// Writing `acpi_enable` to the SMI command port puts the hardware in
    /// ACPI mode (SCI_EN set); no port means it is always in ACPI mode.
    pub smi_cmd: Option<u16>,
    pub acpi_enable: u8,
    pub pm1a_event: Option<u16>,
    /// GPE0: status registers at `port`, the enable registers after them;
    /// each half is `len / 2` bytes (one bit per event).
    pub gpe0: Option<GpeBlock>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GpeBlock {
    pub port: u16,
    pub len: u8,
}

impl GpeBlock {
    /// Events the block has (8 per status byte).
    pub fn events(&self) -> u32 {
        self.len as u32 / 2 * 8
    }

    /// The status register port and bit of event `n`, if the block has it.
    pub fn status_bit(&self, n: u32) -> Option<(u16, u8)> {
        (n < self.events()).then(|| (self.port + (n / 8) as u16, 1 << (n % 8)))
    }

    /// The enable register port and bit of event `n`.
    pub fn enable_bit(&self, n: u32) -> Option<(u16, u8)> {
        (n < self.events()).then(|| {
            (
                self.port + self.len as u16 / 2 + (n / 8) as u16,
                1 << (n % 8),
            )
        })
    }
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
        sci_int: if table.len() >= SCI_INT + 2 {
            u16::from_le_bytes([table[SCI_INT], table[SCI_INT + 1]])
        } else {
            0
        },
        smi_cmd: (table.len() >= SMI_CMD + 4)
            .then(|| u32_at(table, SMI_CMD))
            .filter(|&p| p != 0 && p <= u16::MAX as u32)
            .map(|p| p as u16),
        acpi_enable: table.get(ACPI_ENABLE).copied().unwrap_or(0),
        pm1a_event: (table.len() >= PM1A_EVT_BLK + 4)
            .then(|| u32_at(table, PM1A_EVT_BLK))
            .filter(|&p| p != 0 && p <= u16::MAX as u32)
            .map(|p| p as u16),
        gpe0: gpe0_block(table),
    })
}

/// GPE0's block: its port (the 32-bit field, or the extended address when
/// that is system I/O) and length, which must be even and non-zero.
fn gpe0_block(table: &[u8]) -> Option<GpeBlock> {
    let len = *table.get(GPE0_BLK_LEN)?;
    if len == 0 || len % 2 != 0 {
        return None;
    }
    let port = control_port(table, GPE0_BLK, X_GPE0_BLK)?;
    (port as u32 + len as u32 <= u16::MAX as u32 + 1).then_some(GpeBlock { port, len })
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
    fn qemu_q35_gpe0_is_16_bytes_at_0x620_and_the_sci_is_irq_9() {
        let bytes = std::fs::read(fixture_dir("two-node").join("FACP.bin")).unwrap();
        let f = parse(&bytes).unwrap();
        let g = f.gpe0.unwrap();
        assert_eq!((g.port, g.len, f.sci_int), (0x620, 16, 9));
        assert_eq!(f.smi_cmd, Some(0xb2));
        assert_eq!(f.pm1a_event, Some(0x600));
        // QEMU's memory hotplug is GPE 3: status bit 3 of the first byte,
        // enable bit 3 eight bytes on.
        assert_eq!(g.status_bit(3), Some((0x620, 8)));
        assert_eq!(g.enable_bit(3), Some((0x628, 8)));
        assert_eq!(g.enable_bit(64), None);
    }

    #[test]
    fn an_odd_or_zero_gpe0_length_means_no_block() {
        let mut bytes = std::fs::read(fixture_dir("two-node").join("FACP.bin")).unwrap();
        bytes[GPE0_BLK_LEN] = 3;
        fix_checksum(&mut bytes);
        assert_eq!(parse(&bytes).unwrap().gpe0, None);
        bytes[GPE0_BLK_LEN] = 0;
        fix_checksum(&mut bytes);
        assert_eq!(parse(&bytes).unwrap().gpe0, None);
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
