//! What the PVH loader hands us: `hvm_start_info` (Xen's public
//! arch-x86/hvm/start_info.h), read and copied into kernel-owned storage
//! before any boot memory is reused.

use layout::PAGE_SIZE;

/// "xEn3" with the 0x80 bit set in each byte, per start_info.h.
const HVM_START_MAGIC: u32 = 0x336e_c578;

/// How many memory-map entries we keep (QEMU gives fewer than 10).
pub const MAX_E820: usize = 128;
/// Longest command line kept; longer ones are cut with a warning.
pub const MAX_CMDLINE: usize = 4096;

#[repr(C)]
#[derive(Clone, Copy)]
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct HvmMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

/// The E820 memory types (ACPI spec, "Address Range Types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum E820Kind {
    Ram,
    Reserved,
    AcpiReclaimable,
    AcpiNvs,
    Unusable,
    Persistent,
    Other(u32),
}

impl E820Kind {
    fn from_raw(raw: u32) -> Self {
        match raw {
            1 => E820Kind::Ram,
            2 => E820Kind::Reserved,
            3 => E820Kind::AcpiReclaimable,
            4 => E820Kind::AcpiNvs,
            5 => E820Kind::Unusable,
            7 => E820Kind::Persistent,
            n => E820Kind::Other(n),
        }
    }

    /// Linux's names, as in its "BIOS-e820:" boot lines.
    pub fn name(self) -> &'static str {
        match self {
            E820Kind::Ram => "usable",
            E820Kind::Reserved => "reserved",
            E820Kind::AcpiReclaimable => "ACPI data",
            E820Kind::AcpiNvs => "ACPI NVS",
            E820Kind::Unusable => "unusable",
            E820Kind::Persistent => "persistent (type 7)",
            E820Kind::Other(_) => "type ?",
        }
    }

    /// Whether the direct map covers it (RAM and firmware tables, never MMIO holes).
    pub fn direct_mapped(self) -> bool {
        matches!(
            self,
            E820Kind::Ram | E820Kind::AcpiReclaimable | E820Kind::AcpiNvs
        )
    }
}

#[derive(Clone, Copy, Debug)]
pub struct E820Entry {
    pub start: u64,
    pub end: u64,
    pub kind: E820Kind,
}

/// The boot information, owned by the kernel.
pub struct BootInfo {
    pub rsdp: u64,
    pub e820: [E820Entry; MAX_E820],
    pub e820_len: usize,
    pub e820_dropped: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    pub cmdline_truncated: bool,
    pub cmdline_invalid_utf8: bool,
}

impl BootInfo {
    pub fn memory_map(&self) -> &[E820Entry] {
        &self.e820[..self.e820_len]
    }

    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Highest end address of any RAM range.
    pub fn max_ram_end(&self) -> u64 {
        self.memory_map()
            .iter()
            .filter(|e| e.kind == E820Kind::Ram)
            .map(|e| e.end)
            .max()
            .unwrap_or(0)
    }
}

/// Why the start_info could not be used: boot cannot go on without memory.
#[derive(Debug)]
#[expect(
    dead_code,
    reason = "the values, for the `{:?}` of the boot-failure panic"
)]
pub enum StartInfoError {
    BadMagic(u32),
    NoMemoryMap { version: u32 },
}

/// Reads the start_info at physical `phys` (identity-mapped by the boot stub)
/// and copies it into `out`.
///
/// # Safety
/// `phys` must be the address the PVH loader passed in EBX, still
/// identity-mapped, with the loader's data intact.
pub unsafe fn copy_from(phys: u64, out: &mut BootInfo) -> Result<(), StartInfoError> {
    // SAFETY: per the function contract the structure is mapped and intact;
    // read_unaligned because the loader promises only 8-byte alignment.
    let info = unsafe { core::ptr::read_unaligned(phys as *const HvmStartInfo) };
    if info.magic != HVM_START_MAGIC {
        return Err(StartInfoError::BadMagic(info.magic));
    }
    if info.version < 1 || info.memmap_paddr == 0 || info.memmap_entries == 0 {
        return Err(StartInfoError::NoMemoryMap {
            version: info.version,
        });
    }
    out.rsdp = info.rsdp_paddr;
    let n = info.memmap_entries as usize;
    out.e820_dropped = n.saturating_sub(MAX_E820);
    out.e820_len = n.min(MAX_E820);
    for i in 0..out.e820_len {
        let p = info.memmap_paddr as usize + i * core::mem::size_of::<HvmMemmapEntry>();
        // SAFETY: the loader's table has memmap_entries entries at memmap_paddr.
        let e = unsafe { core::ptr::read_unaligned(p as *const HvmMemmapEntry) };
        out.e820[i] = E820Entry {
            start: e.addr,
            end: e.addr.saturating_add(e.size),
            kind: E820Kind::from_raw(e.kind),
        };
    }
    out.e820[..out.e820_len].sort_unstable_by_key(|e| e.start);
    if info.cmdline_paddr != 0 {
        let mut len = 0;
        // SAFETY: the loader's command line is a NUL-terminated string at
        // cmdline_paddr; we stop at the NUL or at our buffer's end.
        unsafe {
            let src = info.cmdline_paddr as *const u8;
            while len < MAX_CMDLINE && *src.add(len) != 0 {
                out.cmdline[len] = *src.add(len);
                len += 1;
            }
            out.cmdline_truncated = len == MAX_CMDLINE && *src.add(len) != 0;
        }
        out.cmdline_len = len;
        if core::str::from_utf8(&out.cmdline[..len]).is_err() {
            out.cmdline_invalid_utf8 = true;
            out.cmdline_len = 0;
        }
    }
    Ok(())
}

impl BootInfo {
    pub const fn empty() -> Self {
        BootInfo {
            rsdp: 0,
            e820: [E820Entry {
                start: 0,
                end: 0,
                kind: E820Kind::Reserved,
            }; MAX_E820],
            e820_len: 0,
            e820_dropped: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            cmdline_truncated: false,
            cmdline_invalid_utf8: false,
        }
    }

    /// The RAM range holding `addr`, page-aligned inward.
    pub fn ram_range_containing(&self, addr: u64) -> Option<(u64, u64)> {
        self.memory_map()
            .iter()
            .find(|e| e.kind == E820Kind::Ram && e.start <= addr && addr < e.end)
            .map(|e| {
                (
                    layout::align_up(e.start, PAGE_SIZE),
                    layout::align_down(e.end, PAGE_SIZE),
                )
            })
    }
}
