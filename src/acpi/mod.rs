//! ACPI table access. The `acpi` crate enumerates the tables from the
//! RSDP/XSDT through our [`KernelAcpi`] handler, which maps physical
//! memory through the direct map. Nothing the firmware wrote is trusted
//! before it is checked: the RSDP's checksums, the XSDT/RSDT's length and
//! checksum, and each table's header and checksum (the `acpi-tables` crate)
//! are validated before their fields are read.

pub mod aml;
mod handler;
pub mod memory_hotplug;

use crate::arch::x86_64::paging;
use crate::boot::start_info::BootInfo;
use acpi_tables::{validate, Sig, HEADER_LEN};
pub use handler::KernelAcpi;
use layout::phys_to_virt;

/// The tables the kernel reads, as validated byte slices in the direct map.
pub struct Tables {
    pub srat: Option<&'static [u8]>,
    pub slit: Option<&'static [u8]>,
    pub madt: Option<&'static [u8]>,
    pub fadt: Option<&'static [u8]>,
    pub nfit: Option<&'static [u8]>,
    pub hpet: Option<&'static [u8]>,
    pub hmat: Option<&'static [u8]>,
    /// The AML tables, validated: the DSDT (found through the FADT) and
    /// every SSDT the root table lists.
    pub dsdt: Option<&'static [u8]>,
    pub ssdts: [Option<&'static [u8]>; MAX_SSDTS],
    /// The root table, for the `acpi` crate's own walk (AML setup).
    pub root: Option<(u8, u64)>,
    /// Where the firmware put the tables, for the allocator to reserve them.
    pub extents: [(u64, u64); MAX_TABLES],
    pub extent_count: usize,
}

impl Tables {
    const NONE: Tables = Tables {
        srat: None,
        slit: None,
        madt: None,
        fadt: None,
        nfit: None,
        hpet: None,
        hmat: None,
        dsdt: None,
        ssdts: [None; MAX_SSDTS],
        root: None,
        extents: [(0, 0); MAX_TABLES],
        extent_count: 0,
    };
}

/// Most tables remembered for reservation (QEMU has about ten).
pub const MAX_TABLES: usize = 32;
/// SSDTs loaded into the interpreter (QEMU gives at most a few: NVDIMM, CPU hotplug).
pub const MAX_SSDTS: usize = 8;

/// The bytes at a physical range, wherever the firmware put them: RAM and
/// the first MiB are in the direct map, anything else (E820-reserved, NVS,
/// unlisted) is mapped on demand. The caller keeps the mapping until it
/// calls [`release`]; tables the kernel keeps are never released.
fn phys_bytes(phys: u64, len: u64) -> Option<&'static [u8]> {
    if let Err(e) = paging::map_firmware(phys, len) {
        log::warn!("ACPI: {len} bytes at {phys:#x} cannot be mapped ({e:?})");
        return None;
    }
    // SAFETY: map_firmware made every byte of the range readable at its
    // direct-map address until release; the tables are only read, and
    // nothing else writes to firmware tables.
    Some(unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, len as usize) })
}

/// Lets go of what [`phys_bytes`] mapped for `bytes`.
fn release(bytes: &[u8]) {
    if let Some(phys) = layout::virt_to_phys(bytes.as_ptr() as u64) {
        paging::unmap_firmware(phys, bytes.len() as u64);
    }
}

/// The RSDP: from start_info, else the BIOS-area scan Linux does.
fn find_rsdp(boot: &BootInfo) -> Option<u64> {
    if boot.rsdp != 0 {
        return Some(boot.rsdp);
    }
    log::warn!("ACPI: start_info has no RSDP; scanning the BIOS area");
    // SAFETY: the scan maps the EBDA and 0xE0000-0xFFFFF, both inside the
    // direct-mapped first MiB.
    match unsafe { acpi::rsdp::Rsdp::search_for_on_bios(KernelAcpi) } {
        Ok(m) => Some(m.physical_start as u64),
        Err(e) => {
            log::error!("ACPI: no RSDP found ({e:?})");
            None
        }
    }
}

/// Reads and checks the RSDP; returns (revision, RSDT/XSDT address).
fn check_rsdp(phys: u64) -> Result<(u8, u64), &'static str> {
    let v1 = phys_bytes(phys, 20).ok_or("RSDP is not in mapped memory")?;
    let v1_bytes: [u8; 20] = v1.try_into().unwrap();
    release(v1);
    let v1 = &v1_bytes;
    if &v1[..8] != b"RSD PTR " {
        return Err("RSDP signature is wrong");
    }
    if acpi_tables::checksum(v1) != 0 {
        return Err("RSDP checksum (first 20 bytes) fails");
    }
    let revision = v1[15];
    if revision == 0 {
        let rsdt = u32::from_le_bytes(v1[16..20].try_into().unwrap());
        return Ok((0, rsdt as u64));
    }
    let v2 = phys_bytes(phys, 36).ok_or("RSDP (ACPI 2.0) is not in mapped memory")?;
    let length = u32::from_le_bytes(v2[20..24].try_into().unwrap()) as u64;
    let xsdt = u64::from_le_bytes(v2[24..32].try_into().unwrap());
    release(v2);
    let full = phys_bytes(phys, length.max(36)).ok_or("RSDP length runs out of mapped memory")?;
    let sum = acpi_tables::checksum(full);
    release(full);
    if sum != 0 {
        return Err("RSDP extended checksum fails");
    }
    Ok((revision, xsdt))
}

/// A validated whole table at `phys` with signature `sig`, mapped until
/// [`release`]d (nothing stays mapped when it fails).
fn table_at(phys: u64, sig: &[u8; 4]) -> Result<&'static [u8], acpi_tables::Error> {
    let head = phys_bytes(phys, HEADER_LEN as u64).ok_or(acpi_tables::Error::TooShort {
        have: 0,
        need: HEADER_LEN,
    })?;
    let len = acpi_tables::peek_length(head);
    release(head);
    let len = len?;
    let bytes = phys_bytes(phys, len as u64).ok_or(acpi_tables::Error::LengthBeyondData {
        length: len,
        available: 0,
    })?;
    validate(bytes, sig)
        .map(|(_, b)| b)
        .inspect_err(|_| release(bytes))
}

static TABLES: spin::Once<Tables> = spin::Once::new();

/// Finds and validates the tables, once. Missing or broken ones are
/// reported and left out; the topology code knows what to do without them.
pub fn init(boot: &BootInfo) -> &'static Tables {
    TABLES.call_once(|| find_tables(boot))
}

/// The tables `init` found (none before it ran).
pub fn tables() -> &'static Tables {
    static NONE: Tables = Tables::NONE;
    TABLES.get().unwrap_or(&NONE)
}

fn find_tables(boot: &BootInfo) -> Tables {
    let mut tables = Tables::NONE;
    let Some(rsdp) = find_rsdp(boot) else {
        return tables;
    };
    let (revision, root) = match check_rsdp(rsdp) {
        Ok(r) => r,
        Err(why) => {
            log::error!("ACPI: {why}; no tables used");
            return tables;
        }
    };
    let root_sig = if revision == 0 { b"RSDT" } else { b"XSDT" };
    // The root table stays mapped: the acpi crate walks it again for AML.
    if let Err(e) = table_at(root, root_sig) {
        log::error!(
            "ACPI: {:?} at {root:#x}: {e}; no tables used",
            Sig(*root_sig)
        );
        return tables;
    }
    log::info!(
        "ACPI: RSDP {rsdp:#x} revision {revision}, {:?} {root:#x}",
        Sig(*root_sig)
    );
    // SAFETY: the root table at `root` was validated just above (signature,
    // length within mapped memory, checksum), so the crate's walk of its
    // entries stays inside it.
    let acpi = match unsafe { acpi::AcpiTables::from_rsdt(KernelAcpi, revision, root as usize) } {
        Ok(t) => t,
        Err(e) => {
            log::error!("ACPI: {e:?}; no tables used");
            return tables;
        }
    };
    for phys in acpi.table_entries().map(|p| p as u64) {
        let Some(head) = phys_bytes(phys, HEADER_LEN as u64) else {
            log::warn!("ACPI: table entry {phys:#x} cannot be mapped; skipped");
            continue;
        };
        let sig: [u8; 4] = head[..4].try_into().unwrap();
        release(head);
        if &sig == b"SSDT" {
            match (
                table_at(phys, &sig),
                tables.ssdts.iter_mut().find(|s| s.is_none()),
            ) {
                (Ok(bytes), Some(slot)) => *slot = Some(bytes), // kept mapped
                (Ok(bytes), None) => {
                    release(bytes);
                    log::warn!("ACPI: more than {MAX_SSDTS} SSDTs; {phys:#x} not loaded")
                }
                (Err(_), _) => {} // reported below
            }
        }
        let slot = match &sig {
            b"SRAT" => Some(&mut tables.srat),
            b"SLIT" => Some(&mut tables.slit),
            b"APIC" => Some(&mut tables.madt),
            b"FACP" => Some(&mut tables.fadt),
            b"NFIT" => Some(&mut tables.nfit),
            b"HPET" => Some(&mut tables.hpet),
            b"HMAT" => Some(&mut tables.hmat),
            _ => None,
        };
        match table_at(phys, &sig) {
            Ok(bytes) => {
                log::info!(
                    "ACPI: {:?} {phys:#010x} {:06x} (v{:02})",
                    Sig(sig),
                    bytes.len(),
                    bytes[8]
                );
                if tables.extent_count < MAX_TABLES {
                    tables.extents[tables.extent_count] = (phys, phys + bytes.len() as u64);
                    tables.extent_count += 1;
                }
                // Tables the kernel keeps stay mapped; the rest are let go.
                match slot {
                    Some(slot) if slot.is_none() => *slot = Some(bytes),
                    Some(_) => {
                        log::warn!(
                            "ACPI: a second {:?} at {phys:#x}; the first is used",
                            Sig(sig)
                        );
                        release(bytes);
                    }
                    None => release(bytes),
                }
            }
            Err(e) => log::warn!("ACPI: {:?} at {phys:#x} rejected: {e}", Sig(sig)),
        }
    }
    tables.root = Some((revision, root));
    find_dsdt(&mut tables);
    tables
}

/// The DSDT, through the FADT's pointer, validated like every table.
fn find_dsdt(tables: &mut Tables) {
    let Some(fadt) = tables.fadt.and_then(|b| acpi_tables::fadt::parse(b).ok()) else {
        return;
    };
    let Some(phys) = fadt.dsdt else {
        log::warn!("ACPI: the FADT names no DSDT; no AML");
        return;
    };
    match table_at(phys, b"DSDT") {
        Ok(bytes) => {
            log::info!(
                "ACPI: DSDT {phys:#010x} {:06x} (v{:02})",
                bytes.len(),
                bytes[8]
            );
            if tables.extent_count < MAX_TABLES {
                tables.extents[tables.extent_count] = (phys, phys + bytes.len() as u64);
                tables.extent_count += 1;
            }
            tables.dsdt = Some(bytes);
        }
        Err(e) => log::warn!("ACPI: DSDT at {phys:#x} rejected: {e}; no AML"),
    }
}

/// The enabled processors' APIC IDs from the MP table, for a machine
/// without an MADT (no ACPI): the floating pointer is searched where the
/// MP specification puts it (the EBDA's first KiB, the last KiB of base
/// memory, the BIOS ROM), all inside the direct-mapped first MiB.
pub fn mp_table_cpus(out: &mut [u32]) -> usize {
    use acpi_tables::mptable;
    let bios = |start: u64, len: u64| phys_bytes(start, len);
    // The BIOS data area word at 0x40E is the EBDA's segment.
    let ebda = bios(0x40e, 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as u64) << 4;
    let mut areas = [(0x9fc00, 0x400), (0xf0000, 0x10000), (0, 0)];
    if (0x80000..0xa0000).contains(&ebda) {
        areas[2] = (ebda, 0x400);
    }
    let found = areas.iter().filter(|a| a.1 > 0).find_map(|&(start, len)| {
        let area = bios(start, len)?;
        mptable::find_floating(area).map(|(off, table)| (start + off as u64, table))
    });
    let Some((at, table)) = found else {
        log::warn!("MP table: none found (no ACPI, no MP table): only the boot CPU is known");
        return 0;
    };
    let table = match table {
        Ok(t) => t as u64,
        Err(e) => {
            log::warn!("MP table: floating pointer at {at:#x}: {e:?}; not used");
            return 0;
        }
    };
    let Some(config) = phys_bytes(table, 44)
        .and_then(|h| mptable::config_length(h).ok())
        .and_then(|len| phys_bytes(table, len as u64))
    else {
        log::warn!("MP table at {table:#x} (pointer at {at:#x}) unreadable; not used");
        return 0;
    };
    let config = match mptable::parse_config(config) {
        Ok(c) => c,
        Err(e) => {
            log::warn!("MP table at {table:#x}: {e:?}; not used");
            return 0;
        }
    };
    let mut n = 0;
    for p in config.processors() {
        match p {
            Ok(p) if p.enabled && n < out.len() => {
                out[n] = p.apic_id as u32;
                n += 1;
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("MP table at {table:#x}: {e:?}; later entries ignored");
                break;
            }
        }
    }
    log::info!("MP table at {table:#x} (pointer at {at:#x}): {n} processors");
    n
}
