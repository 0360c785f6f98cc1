//! GFP ("get free pages") flags with their Linux meaning and bit values, so
//! a mode printed here reads like a mode printed by Linux
//! (`mode:0xcc0(GFP_KERNEL)`).
//!
//! The flags say three things about an allocation: which zones it may use
//! (the zone modifiers), how hard it may try (reclaim, retry, reserves), and
//! what to do with the result (zeroing, warnings, node binding).

use crate::buddy::MigrateType;
use crate::zone::ZoneType;
use core::fmt;

/// A set of GFP flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Gfp(pub u32);

impl Gfp {
    // Zone modifiers.
    pub const DMA: Gfp = Gfp(0x01);
    pub const HIGHMEM: Gfp = Gfp(0x02);
    pub const DMA32: Gfp = Gfp(0x04);
    pub const MOVABLE: Gfp = Gfp(0x08);
    // Mobility and placement hints.
    pub const RECLAIMABLE: Gfp = Gfp(0x10);
    pub const HARDWALL: Gfp = Gfp(0x10_0000);
    pub const THISNODE: Gfp = Gfp(0x20_0000);
    pub const ACCOUNT: Gfp = Gfp(0x40_0000);
    // Watermark modifiers.
    pub const HIGH: Gfp = Gfp(0x20);
    pub const MEMALLOC: Gfp = Gfp(0x2_0000);
    pub const NOMEMALLOC: Gfp = Gfp(0x8_0000);
    // Reclaim modifiers.
    pub const IO: Gfp = Gfp(0x40);
    pub const FS: Gfp = Gfp(0x80);
    pub const DIRECT_RECLAIM: Gfp = Gfp(0x400);
    pub const KSWAPD_RECLAIM: Gfp = Gfp(0x800);
    pub const RECLAIM: Gfp = Gfp(0x400 | 0x800);
    pub const RETRY_MAYFAIL: Gfp = Gfp(0x4000);
    pub const NOFAIL: Gfp = Gfp(0x8000);
    pub const NORETRY: Gfp = Gfp(0x1_0000);
    // Action modifiers.
    pub const ZERO: Gfp = Gfp(0x100);
    pub const WRITE: Gfp = Gfp(0x1000);
    pub const NOWARN: Gfp = Gfp(0x2000);
    pub const COMP: Gfp = Gfp(0x4_0000);
    /// Ours, not Linux's: never fault-injected. The Rust heap asks with
    /// it, since Box and Vec abort on a failure rather than handle it.
    pub const NOFAULT: Gfp = Gfp(0x8000_0000);

    // The combinations callers use.
    pub const ATOMIC: Gfp = Gfp(Self::HIGH.0 | Self::KSWAPD_RECLAIM.0);
    pub const KERNEL: Gfp = Gfp(Self::RECLAIM.0 | Self::IO.0 | Self::FS.0);
    pub const KERNEL_ACCOUNT: Gfp = Gfp(Self::KERNEL.0 | Self::ACCOUNT.0);
    pub const NOWAIT: Gfp = Gfp(Self::KSWAPD_RECLAIM.0);
    pub const NOIO: Gfp = Gfp(Self::RECLAIM.0);
    pub const NOFS: Gfp = Gfp(Self::RECLAIM.0 | Self::IO.0);
    pub const USER: Gfp = Gfp(Self::KERNEL.0 | Self::HARDWALL.0);
    pub const HIGHUSER: Gfp = Gfp(Self::USER.0 | Self::HIGHMEM.0);
    pub const HIGHUSER_MOVABLE: Gfp = Gfp(Self::HIGHUSER.0 | Self::MOVABLE.0);

    pub const fn union(self, other: Gfp) -> Gfp {
        Gfp(self.0 | other.0)
    }

    pub const fn without(self, other: Gfp) -> Gfp {
        Gfp(self.0 & !other.0)
    }

    pub const fn contains(self, other: Gfp) -> bool {
        self.0 & other.0 == other.0
    }

    /// May the allocation sleep to reclaim memory?
    pub const fn can_direct_reclaim(self) -> bool {
        self.contains(Self::DIRECT_RECLAIM)
    }

    /// The migratetype of an allocation with this mask (Linux's
    /// gfp_migratetype): __GFP_MOVABLE, __GFP_RECLAIMABLE, else unmovable.
    /// Both at once is a bad mask Linux warns about; here it counts as
    /// movable.
    #[inline]
    pub fn migratetype(self) -> MigrateType {
        if self.contains(Self::MOVABLE) {
            MigrateType::Movable
        } else if self.contains(Self::RECLAIMABLE) {
            MigrateType::Reclaimable
        } else {
            MigrateType::Unmovable
        }
    }

    /// The highest zone the allocation may use (Linux's gfp_zone), or an
    /// error for a combination that names two zones at once.
    #[inline]
    pub fn zone(self) -> Result<ZoneType, BadGfp> {
        if self.0 & (Self::DMA.0 | Self::DMA32.0 | Self::HIGHMEM.0) == 0 {
            return Ok(ZoneType::Normal);
        }
        let dma = self.contains(Self::DMA);
        let dma32 = self.contains(Self::DMA32);
        let highmem = self.contains(Self::HIGHMEM);
        let movable = self.contains(Self::MOVABLE);
        match (dma, dma32, highmem) {
            (true, false, false) => Ok(ZoneType::Dma),
            (false, true, false) => Ok(ZoneType::Dma32),
            // On 64-bit there is no high memory: HIGHMEM means NORMAL,
            // and with MOVABLE it opens ZONE_MOVABLE.
            (false, false, true) if movable => Ok(ZoneType::Movable),
            (false, false, _) => Ok(ZoneType::Normal),
            _ => Err(BadGfp(self)),
        }
    }

    /// What reclaim may do on behalf of this allocation.
    pub const fn reclaim_context(self) -> ReclaimContext {
        ReclaimContext {
            may_sleep: self.can_direct_reclaim(),
            may_io: self.contains(Self::IO),
            may_fs: self.contains(Self::FS),
            wake_kswapd: self.contains(Self::KSWAPD_RECLAIM),
            this_node: self.contains(Self::THISNODE),
        }
    }
}

impl core::ops::BitOr for Gfp {
    type Output = Gfp;
    fn bitor(self, rhs: Gfp) -> Gfp {
        self.union(rhs)
    }
}

/// A GFP mask that names more than one zone (say GFP_DMA | GFP_DMA32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadGfp(pub Gfp);

impl fmt::Display for BadGfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid zone modifiers in gfp mask {:?}", self.0)
    }
}

/// The limits a reclaim pass runs under (GFP_NOIO forbids starting I/O,
/// GFP_NOFS forbids calling into filesystems, GFP_ATOMIC forbids sleeping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReclaimContext {
    pub may_sleep: bool,
    pub may_io: bool,
    pub may_fs: bool,
    pub wake_kswapd: bool,
    /// __GFP_THISNODE: only the preferred node's pages can satisfy the
    /// request, so reclaim elsewhere would free memory it cannot use.
    pub this_node: bool,
}

/// Names in the order Linux prints them: combinations before single flags,
/// so a mask is shown by the fewest names that cover it.
const NAMES: &[(Gfp, &str)] = &[
    (Gfp::HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (Gfp::HIGHUSER, "GFP_HIGHUSER"),
    (Gfp::USER, "GFP_USER"),
    (Gfp::KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (Gfp::KERNEL, "GFP_KERNEL"),
    (Gfp::NOFS, "GFP_NOFS"),
    (Gfp::ATOMIC, "GFP_ATOMIC"),
    (Gfp::NOIO, "GFP_NOIO"),
    (Gfp::NOWAIT, "GFP_NOWAIT"),
    (Gfp::DMA, "GFP_DMA"),
    (Gfp::HIGHMEM, "__GFP_HIGHMEM"),
    (Gfp::DMA32, "GFP_DMA32"),
    (Gfp::HIGH, "__GFP_HIGH"),
    (Gfp::IO, "__GFP_IO"),
    (Gfp::FS, "__GFP_FS"),
    (Gfp::ZERO, "__GFP_ZERO"),
    (Gfp::DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (Gfp::KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (Gfp::WRITE, "__GFP_WRITE"),
    (Gfp::NOWARN, "__GFP_NOWARN"),
    (Gfp::RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (Gfp::NOFAIL, "__GFP_NOFAIL"),
    (Gfp::NORETRY, "__GFP_NORETRY"),
    (Gfp::MEMALLOC, "__GFP_MEMALLOC"),
    (Gfp::COMP, "__GFP_COMP"),
    (Gfp::NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (Gfp::HARDWALL, "__GFP_HARDWALL"),
    (Gfp::THISNODE, "__GFP_THISNODE"),
    (Gfp::ACCOUNT, "__GFP_ACCOUNT"),
    (Gfp::MOVABLE, "__GFP_MOVABLE"),
    (Gfp::RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (Gfp::NOFAULT, "__GFP_NOFAULT"),
];

/// `0xcc0(GFP_KERNEL)`; bits without a name are printed as a hex remainder.
impl fmt::Debug for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}(", self.0)?;
        let mut left = self.0;
        let mut first = true;
        for &(flag, name) in NAMES {
            if left & flag.0 == flag.0 && left & flag.0 != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
                left &= !flag.0;
            }
        }
        if left != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "{left:#x}")?;
        } else if first {
            f.write_str("none")?;
        }
        f.write_str(")")
    }
}

impl fmt::Display for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn masks_have_linux_values_and_names() {
        assert_eq!(format!("{:?}", Gfp::KERNEL), "0xcc0(GFP_KERNEL)");
        assert_eq!(format!("{:?}", Gfp::ATOMIC), "0x820(GFP_ATOMIC)");
        assert_eq!(format!("{:?}", Gfp::NOIO), "0xc00(GFP_NOIO)");
        assert_eq!(format!("{:?}", Gfp::NOFS), "0xc40(GFP_NOFS)");
        assert_eq!(
            format!("{:?}", Gfp::KERNEL | Gfp::NOWARN | Gfp::ZERO),
            "0x2dc0(GFP_KERNEL|__GFP_ZERO|__GFP_NOWARN)"
        );
        assert_eq!(
            format!("{:?}", Gfp::KERNEL | Gfp::DMA32),
            "0xcc4(GFP_KERNEL|GFP_DMA32)"
        );
        assert_eq!(format!("{:?}", Gfp(0)), "0x0(none)");
        assert_eq!(
            format!("{:?}", Gfp(0x4000_0000 | 0x20)),
            "0x40000020(__GFP_HIGH|0x40000000)"
        );
        assert_eq!(
            format!("{:?}", Gfp::KERNEL | Gfp::NOFAULT),
            "0x80000cc0(GFP_KERNEL|__GFP_NOFAULT)"
        );
    }

    #[test]
    fn zone_modifiers_pick_the_highest_zone() {
        assert_eq!(Gfp::KERNEL.zone(), Ok(ZoneType::Normal));
        assert_eq!((Gfp::KERNEL | Gfp::DMA).zone(), Ok(ZoneType::Dma));
        assert_eq!((Gfp::KERNEL | Gfp::DMA32).zone(), Ok(ZoneType::Dma32));
        assert_eq!(Gfp::HIGHUSER_MOVABLE.zone(), Ok(ZoneType::Movable));
        assert_eq!((Gfp::KERNEL | Gfp::MOVABLE).zone(), Ok(ZoneType::Normal));
        assert_eq!((Gfp::DMA | Gfp::MOVABLE).zone(), Ok(ZoneType::Dma));
        assert!((Gfp::DMA | Gfp::DMA32).zone().is_err());
        assert!((Gfp::DMA32 | Gfp::HIGHMEM).zone().is_err());
    }

    #[test]
    fn reclaim_context_carries_noio_and_nofs() {
        let k = Gfp::KERNEL.reclaim_context();
        assert!(k.may_sleep && k.may_io && k.may_fs);
        let noio = Gfp::NOIO.reclaim_context();
        assert!(noio.may_sleep && !noio.may_io && !noio.may_fs);
        let nofs = Gfp::NOFS.reclaim_context();
        assert!(nofs.may_sleep && nofs.may_io && !nofs.may_fs);
        let atomic = Gfp::ATOMIC.reclaim_context();
        assert!(!atomic.may_sleep && atomic.wake_kswapd);
        assert!(!k.this_node && (Gfp::KERNEL | Gfp::THISNODE).reclaim_context().this_node);
    }
}
