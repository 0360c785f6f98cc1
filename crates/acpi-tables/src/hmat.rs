//! HMAT: the Heterogeneous Memory Attribute Table (ACPI 6.5, 5.2.28),
//! revisions 1 (ACPI 6.2) and 2 (ACPI 6.3 on). Three structures matter:
//!
//! - Memory Proximity Domain Attributes (type 0): the initiator a memory
//!   domain is attached to (revision 1 called it the Memory Subsystem
//!   Address Range structure and also had a "memory domain valid" flag);
//! - System Locality Latency and Bandwidth Information (type 1): an
//!   initiator x target matrix of one data type (access, read or write
//!   latency or bandwidth) at one level of the memory hierarchy, each
//!   entry a multiple of the entry base unit, 0 and 0xffff meaning "not
//!   provided";
//! - Memory Side Cache Information (type 2): a cache in front of a memory
//!   domain, its size, level, associativity, write policy and line size.
//!
//! [`parse`] checks the header, the checksum, the revision and every
//! structure (its length against the table and against what its counts
//! imply, with checked arithmetic) before anything is handed out, so that
//! a table it returns can be walked without further errors: a corrupt
//! table is refused whole, never half-trusted.

use crate::{u32_at, u64_at, validate, Error, Header};

/// Bytes between the SDT header and the first structure (reserved).
const FIRST_STRUCTURE: usize = 40;
const STRUCTURE_HEADER: usize = 8;

const TYPE_PROXIMITY: u16 = 0;
const TYPE_LOCALITY: u16 = 1;
const TYPE_CACHE: u16 = 2;

const PROXIMITY_LEN: usize = 40;
const LOCALITY_FIXED: usize = 32;
const CACHE_FIXED: usize = 32;

/// Proximity structure flags: bit 0, the initiator (processor) domain is
/// valid (both revisions); bit 1, the memory domain is valid (revision 1
/// only; revision 2 always names one).
const INITIATOR_VALID: u16 = 1 << 0;
const MEMORY_VALID_REV1: u16 = 1 << 1;

/// Locality data types (ACPI 6.5, table 5.146).
pub const ACCESS_LATENCY: u8 = 0;
pub const READ_LATENCY: u8 = 1;
pub const WRITE_LATENCY: u8 = 2;
pub const ACCESS_BANDWIDTH: u8 = 3;
pub const READ_BANDWIDTH: u8 = 4;
pub const WRITE_BANDWIDTH: u8 = 5;

/// The memory-hierarchy value of a locality's flags (bits 0-3) that
/// describes the memory itself, not a memory-side cache in front of it.
pub const HIERARCHY_MEMORY: u8 = 0;

/// Memory Proximity Domain Attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProximityDomain {
    pub flags: u16,
    /// The initiator the memory is attached to, when the table names one.
    pub initiator: Option<u32>,
    /// The memory's proximity domain (always valid in revision 2).
    pub memory: Option<u32>,
}

/// One System Locality Latency and Bandwidth Information structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Locality<'a> {
    pub flags: u8,
    pub data_type: u8,
    pub base_unit: u64,
    revision: u8,
    initiators: &'a [u8],
    targets: &'a [u8],
    entries: &'a [u8],
}

/// One Memory Side Cache Information structure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cache {
    pub memory: u32,
    pub size: u64,
    pub attributes: u32,
    pub smbios_handles: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structure<'a> {
    Proximity(ProximityDomain),
    Locality(Locality<'a>),
    Cache(Cache),
    /// A type this parser does not know (kept so a count can report it).
    Other {
        kind: u16,
    },
}

pub struct Hmat<'a> {
    pub header: Header,
    body: &'a [u8],
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn bad(offset: usize, kind: u16, length: usize, why: &'static str) -> Error {
    Error::BadEntry {
        offset,
        kind: kind.min(255) as u8,
        length: length.min(255) as u8,
        why,
    }
}

/// Validates the table whole: header, checksum, revision 1 or 2, and every
/// structure's length.
pub fn parse(bytes: &[u8]) -> Result<Hmat<'_>, Error> {
    let (header, table) = validate(bytes, b"HMAT")?;
    if header.revision != 1 && header.revision != 2 {
        return Err(Error::BadEntry {
            offset: 8,
            kind: 0,
            length: 0,
            why: "unknown revision (1 and 2 are defined)",
        });
    }
    if table.len() < FIRST_STRUCTURE {
        return Err(Error::TooShort {
            have: table.len(),
            need: FIRST_STRUCTURE,
        });
    }
    let hmat = Hmat {
        header,
        body: table,
    };
    let mut at = FIRST_STRUCTURE;
    while at < table.len() {
        let len = check_structure(table, at)?;
        at += len;
    }
    Ok(hmat)
}

/// Checks the structure at `at`; returns its length.
fn check_structure(b: &[u8], at: usize) -> Result<usize, Error> {
    if at + STRUCTURE_HEADER > b.len() {
        return Err(bad(
            at,
            0,
            0,
            "structure header runs past the end of the table",
        ));
    }
    let kind = u16_at(b, at);
    let len = u32_at(b, at + 4) as usize;
    if len < STRUCTURE_HEADER {
        return Err(bad(
            at,
            kind,
            len,
            "length below the 8-byte structure header",
        ));
    }
    if at.checked_add(len).is_none_or(|end| end > b.len()) {
        return Err(bad(at, kind, len, "runs past the end of the table"));
    }
    let s = &b[at..at + len];
    match kind {
        TYPE_PROXIMITY if len < PROXIMITY_LEN => Err(bad(
            at,
            kind,
            len,
            "shorter than a memory proximity domain attributes structure",
        )),
        TYPE_LOCALITY => {
            if len < LOCALITY_FIXED {
                return Err(bad(at, kind, len, "shorter than a locality structure"));
            }
            let (ni, nt) = (u32_at(s, 12) as usize, u32_at(s, 16) as usize);
            let need = ni
                .checked_add(nt)
                .and_then(|n| n.checked_mul(4))
                .and_then(|lists| {
                    ni.checked_mul(nt)
                        .and_then(|e| e.checked_mul(2))
                        .and_then(|e| e.checked_add(lists))
                })
                .and_then(|v| v.checked_add(LOCALITY_FIXED));
            match need {
                Some(n) if n <= len => Ok(len),
                _ => Err(bad(
                    at,
                    kind,
                    len,
                    "its initiator and target counts need more bytes than it has",
                )),
            }
        }
        TYPE_CACHE => {
            if len < CACHE_FIXED {
                return Err(bad(
                    at,
                    kind,
                    len,
                    "shorter than a memory side cache structure",
                ));
            }
            let handles = u16_at(s, 30) as usize;
            if CACHE_FIXED + handles * 8 > len {
                return Err(bad(
                    at,
                    kind,
                    len,
                    "its SMBIOS handle count needs more bytes than it has",
                ));
            }
            Ok(len)
        }
        _ => Ok(len),
    }
}

impl<'a> Hmat<'a> {
    pub fn revision(&self) -> u8 {
        self.header.revision
    }

    /// Every structure in table order (the table was checked whole by
    /// [`parse`], so the walk cannot fail).
    pub fn structures(&self) -> impl Iterator<Item = Structure<'a>> + 'a {
        let b = self.body;
        let revision = self.header.revision;
        let mut at = FIRST_STRUCTURE;
        core::iter::from_fn(move || {
            if at + STRUCTURE_HEADER > b.len() {
                return None;
            }
            let kind = u16_at(b, at);
            let len = u32_at(b, at + 4) as usize;
            let s = &b[at..at + len];
            at += len;
            Some(match kind {
                TYPE_PROXIMITY => {
                    let flags = u16_at(s, 8);
                    let memory_valid = revision > 1 || flags & MEMORY_VALID_REV1 != 0;
                    Structure::Proximity(ProximityDomain {
                        flags,
                        initiator: (flags & INITIATOR_VALID != 0).then(|| u32_at(s, 12)),
                        memory: memory_valid.then(|| u32_at(s, 16)),
                    })
                }
                TYPE_LOCALITY => {
                    let (ni, nt) = (u32_at(s, 12) as usize, u32_at(s, 16) as usize);
                    let lists = LOCALITY_FIXED;
                    let targets = lists + ni * 4;
                    let entries = targets + nt * 4;
                    Structure::Locality(Locality {
                        flags: s[8],
                        data_type: s[9],
                        base_unit: u64_at(s, 24),
                        revision,
                        initiators: &s[lists..targets],
                        targets: &s[targets..entries],
                        entries: &s[entries..entries + ni * nt * 2],
                    })
                }
                TYPE_CACHE => Structure::Cache(Cache {
                    memory: u32_at(s, 8),
                    size: u64_at(s, 16),
                    attributes: u32_at(s, 24),
                    smbios_handles: u16_at(s, 30),
                }),
                kind => Structure::Other { kind },
            })
        })
    }
}

fn u32s(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

impl<'a> Locality<'a> {
    /// The level of the memory hierarchy the matrix describes (flags
    /// bits 0-3): [`HIERARCHY_MEMORY`], or 1-3 for a memory-side cache
    /// level.
    pub fn hierarchy(&self) -> u8 {
        self.flags & 0x0f
    }

    pub fn initiators(&self) -> impl Iterator<Item = u32> + 'a {
        u32s(self.initiators)
    }

    pub fn targets(&self) -> impl Iterator<Item = u32> + 'a {
        u32s(self.targets)
    }

    pub fn initiator_count(&self) -> usize {
        self.initiators.len() / 4
    }

    pub fn target_count(&self) -> usize {
        self.targets.len() / 4
    }

    /// The raw entry for the `i`-th initiator and `t`-th target.
    pub fn entry(&self, i: usize, t: usize) -> Option<u16> {
        let k = i.checked_mul(self.target_count())?.checked_add(t)?;
        let at = k.checked_mul(2)?;
        let e = self.entries.get(at..at + 2)?;
        Some(u16::from_le_bytes([e[0], e[1]]))
    }

    pub fn is_latency(&self) -> bool {
        matches!(
            self.data_type,
            ACCESS_LATENCY | READ_LATENCY | WRITE_LATENCY
        )
    }

    /// The entry for initiator domain `initiator` and target domain
    /// `target` in nanoseconds (latencies) or MB/s (bandwidths), or 0 when
    /// the table does not provide it: either domain not in the lists, an
    /// entry of 0 or 0xffff, or a product that does not fit 32 bits.
    /// Normalised as Linux does: revision 2 latencies are picoseconds,
    /// rounded up to nanoseconds; revision 1 values are in tenths (of a
    /// nanosecond, of a MB/s), rounded up, and a value below 10 is 0.
    pub fn value(&self, initiator: u32, target: u32) -> u32 {
        let i = self.initiators().position(|p| p == initiator);
        let t = self.targets().position(|p| p == target);
        match (i, t) {
            (Some(i), Some(t)) => self.entry(i, t).map_or(0, |e| {
                normalise(e, self.base_unit, self.data_type, self.revision)
            }),
            _ => 0,
        }
    }
}

/// One entry in the units Linux reports (see [`Locality::value`]).
pub fn normalise(entry: u16, base_unit: u64, data_type: u8, revision: u8) -> u32 {
    if entry == 0 || entry == 0xffff {
        return 0;
    }
    let Some(value) = (entry as u64)
        .checked_mul(base_unit)
        .filter(|&v| v <= u32::MAX as u64)
    else {
        return 0;
    };
    let latency = matches!(data_type, ACCESS_LATENCY | READ_LATENCY | WRITE_LATENCY);
    let value = match revision {
        1 if value < 10 => 0,
        1 => value.div_ceil(10),
        _ if latency => value.div_ceil(1000),
        _ => value,
    };
    value as u32
}

/// Cache associativity (attribute bits 8-11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Associativity {
    None,
    Direct,
    Complex,
    Reserved(u8),
}

/// Cache write policy (attribute bits 12-15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WritePolicy {
    None,
    WriteBack,
    WriteThrough,
    Reserved(u8),
}

impl Cache {
    /// The cache's level (1 is nearest the memory's user), bits 4-7.
    pub fn level(&self) -> u8 {
        ((self.attributes >> 4) & 0xf) as u8
    }

    /// How many cache levels the memory domain has, bits 0-3.
    pub fn total_levels(&self) -> u8 {
        (self.attributes & 0xf) as u8
    }

    pub fn associativity(&self) -> Associativity {
        match ((self.attributes >> 8) & 0xf) as u8 {
            0 => Associativity::None,
            1 => Associativity::Direct,
            2 => Associativity::Complex,
            n => Associativity::Reserved(n),
        }
    }

    pub fn write_policy(&self) -> WritePolicy {
        match ((self.attributes >> 12) & 0xf) as u8 {
            0 => WritePolicy::None,
            1 => WritePolicy::WriteBack,
            2 => WritePolicy::WriteThrough,
            n => WritePolicy::Reserved(n),
        }
    }

    /// Line size in bytes, bits 16-31.
    pub fn line_size(&self) -> u16 {
        (self.attributes >> 16) as u16
    }
}

/// The name ACPI gives a locality data type, as Linux's boot log does.
pub fn data_type_name(data_type: u8) -> &'static str {
    match data_type {
        ACCESS_LATENCY => "Access Latency",
        READ_LATENCY => "Read Latency",
        WRITE_LATENCY => "Write Latency",
        ACCESS_BANDWIDTH => "Access Bandwidth",
        READ_BANDWIDTH => "Read Bandwidth",
        WRITE_BANDWIDTH => "Write Bandwidth",
        _ => "Reserved",
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fix_checksum;
    use boot_tests::qemu_args::fixture_dir;
    use std::vec::Vec;

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(fixture_dir(name).join("HMAT.bin")).unwrap()
    }

    #[test]
    fn qemu_tiered_table_names_initiators_latencies_bandwidths_and_caches() {
        let bytes = fixture("tiered");
        let h = parse(&bytes).unwrap();
        assert_eq!(h.revision(), 2);
        let all: Vec<_> = h.structures().collect();
        let prox: Vec<_> = all
            .iter()
            .filter_map(|s| match s {
                Structure::Proximity(p) => Some((p.initiator, p.memory)),
                _ => None,
            })
            .collect();
        assert_eq!(
            prox,
            [
                (Some(0), Some(0)),
                (Some(1), Some(1)),
                (Some(0), Some(2)),
                (Some(1), Some(3))
            ]
        );
        let locs: Vec<_> = all
            .iter()
            .filter_map(|s| match s {
                Structure::Locality(l) => Some(*l),
                _ => None,
            })
            .collect();
        assert_eq!(locs.len(), 2);
        let (lat, bw) = (locs[0], locs[1]);
        assert_eq!(
            (lat.data_type, lat.hierarchy()),
            (ACCESS_LATENCY, HIERARCHY_MEMORY)
        );
        assert_eq!(bw.data_type, ACCESS_BANDWIDTH);
        assert_eq!((lat.initiator_count(), lat.target_count()), (2, 4));
        // Linux 6.1's boot log for the same table (fixtures' linux-6.1.txt):
        // Initiator-Target[0-2]:160 nsec, [1-2]:210 nsec, [0-0]:20480 MB/s.
        assert_eq!(lat.value(0, 2), 160);
        assert_eq!(lat.value(1, 2), 210);
        assert_eq!(lat.value(1, 1), 80);
        assert_eq!(bw.value(0, 0), 20480);
        assert_eq!(bw.value(1, 3), 5120);
        // A domain the matrix does not list is "not provided".
        assert_eq!(lat.value(2, 0), 0);
        let caches: Vec<_> = all
            .iter()
            .filter_map(|s| match s {
                Structure::Cache(c) => Some(*c),
                _ => None,
            })
            .collect();
        assert_eq!(caches.len(), 2);
        let c = caches[0];
        assert_eq!((c.memory, c.size, c.attributes), (2, 16 << 20, 0x0040_1111));
        assert_eq!((c.level(), c.total_levels(), c.line_size()), (1, 1, 64));
        assert_eq!(c.associativity(), Associativity::Direct);
        assert_eq!(c.write_policy(), WritePolicy::WriteBack);
    }

    #[test]
    fn qemu_read_write_table_has_every_separate_data_type() {
        let bytes = fixture("hmat-rw");
        let h = parse(&bytes).unwrap();
        let types: Vec<_> = h
            .structures()
            .filter_map(|s| match s {
                Structure::Locality(l) => Some(l.data_type),
                _ => None,
            })
            .collect();
        assert_eq!(
            types,
            [READ_LATENCY, WRITE_LATENCY, READ_BANDWIDTH, WRITE_BANDWIDTH]
        );
        let c = h
            .structures()
            .find_map(|s| match s {
                Structure::Cache(c) => Some(c),
                _ => None,
            })
            .unwrap();
        assert_eq!(c.associativity(), Associativity::Complex);
        assert_eq!(c.write_policy(), WritePolicy::WriteThrough);
        assert_eq!(c.line_size(), 128);
    }

    #[test]
    fn normalisation_follows_the_revision() {
        // Revision 2: latency base in picoseconds, rounded up to ns.
        assert_eq!(normalise(8, 10_000, ACCESS_LATENCY, 2), 80);
        assert_eq!(normalise(1, 1_500, READ_LATENCY, 2), 2);
        assert_eq!(normalise(20, 1024, ACCESS_BANDWIDTH, 2), 20480);
        // 0 and 0xffff are "not provided"; an overflowing product too.
        assert_eq!(normalise(0, 1000, ACCESS_LATENCY, 2), 0);
        assert_eq!(normalise(0xffff, 1000, ACCESS_LATENCY, 2), 0);
        assert_eq!(normalise(2, u32::MAX as u64, ACCESS_BANDWIDTH, 2), 0);
        // Revision 1: tenths, rounded up; below 10 is nothing.
        assert_eq!(normalise(1, 9, ACCESS_LATENCY, 1), 0);
        assert_eq!(normalise(1, 801, ACCESS_LATENCY, 1), 81);
        assert_eq!(normalise(3, 100, WRITE_BANDWIDTH, 1), 30);
    }

    fn first_structure_of(bytes: &[u8], kind: u16) -> usize {
        let mut at = FIRST_STRUCTURE;
        while u16_at(bytes, at) != kind {
            at += u32_at(bytes, at + 4) as usize;
        }
        at
    }

    #[test]
    fn corrupt_tables_are_refused_whole() {
        let good = fixture("tiered");
        let corrupt = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            f(&mut b);
            fix_checksum(&mut b);
            parse(&b).err()
        };
        // Checksum.
        let mut b = good.clone();
        b[50] ^= 1;
        assert!(matches!(parse(&b), Err(Error::BadChecksum { .. })));
        // Revision 3 is unknown.
        assert!(corrupt(&|b| b[8] = 3).is_some());
        // A structure length of 0 (the walk would never advance).
        assert!(corrupt(&|b| b[FIRST_STRUCTURE + 4..FIRST_STRUCTURE + 8].fill(0)).is_some());
        // A length past the end of the table.
        assert!(corrupt(&|b| b[FIRST_STRUCTURE + 6] = 0x10).is_some());
        // A locality whose target count needs more bytes than it has.
        let loc = first_structure_of(&good, TYPE_LOCALITY);
        assert!(corrupt(&|b| b[loc + 16] = 200).is_some());
        // Counts whose product overflows.
        assert!(corrupt(&|b| {
            b[loc + 12..loc + 16].copy_from_slice(&u32::MAX.to_le_bytes());
            b[loc + 16..loc + 20].copy_from_slice(&u32::MAX.to_le_bytes());
        })
        .is_some());
        // A cache claiming SMBIOS handles it has no room for.
        let cache = first_structure_of(&good, TYPE_CACHE);
        assert!(corrupt(&|b| b[cache + 30] = 9).is_some());
        // A proximity structure cut short.
        assert!(corrupt(&|b| b[FIRST_STRUCTURE + 4] = 20).is_some());
        // Truncated below the first structure.
        let mut b = good[..38].to_vec();
        b[4..8].copy_from_slice(&38u32.to_le_bytes());
        fix_checksum(&mut b);
        assert!(parse(&b).is_err());
    }

    #[test]
    fn every_byte_flip_and_truncation_is_handled() {
        // No corruption of a real table may panic or read out of range.
        let good = fixture("hmat-rw");
        for i in 0..good.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = good.clone();
                b[i] ^= bit;
                fix_checksum(&mut b);
                if let Ok(h) = parse(&b) {
                    for s in h.structures() {
                        if let Structure::Locality(l) = s {
                            for i in l.initiators() {
                                for t in l.targets() {
                                    let _ = l.value(i, t);
                                }
                            }
                        }
                    }
                }
            }
        }
        for n in 0..good.len() {
            let _ = parse(&good[..n]);
        }
    }
}
