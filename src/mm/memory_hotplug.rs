//! Memory hot-add: a range of RAM that arrived while the kernel runs
//! (an ACPI memory device), checked against what the firmware said could
//! arrive, then onlined on its node.

use core::fmt;
use numa::NodeId;

/// What onlining did.
#[derive(Clone, Copy, Debug)]
pub struct Added {
    pub pages: u64,
}

impl fmt::Display for Added {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} pages online in ZONE_MOVABLE", self.pages)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// The range is not one the SRAT marks hot-pluggable.
    NotHotpluggable,
    /// The range overlaps memory the kernel already manages.
    AlreadyPresent,
    /// Onlining at runtime is not implemented yet.
    OnliningNotImplemented,
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            HotplugError::NotHotpluggable => "the SRAT lists no hot-pluggable range holding it",
            HotplugError::AlreadyPresent => "it overlaps memory already online",
            HotplugError::OnliningNotImplemented => {
                "onlining memory at runtime is not implemented yet (the zones are fixed at boot)"
            }
        })
    }
}

/// Onlines `[start, start + len)` on `node`.
pub fn add_memory(node: NodeId, start: u64, len: u64) -> Result<Added, HotplugError> {
    let end = start.saturating_add(len);
    let t = crate::numa::topology();
    if !t.hotpluggable().any(|m| m.start <= start && end <= m.end) {
        return Err(HotplugError::NotHotpluggable);
    }
    let a = super::page_alloc::allocator();
    if a.zones().any(|z| {
        z.is_populated()
            && z.span.start_pfn * layout::PAGE_SIZE < end
            && start < z.span.end_pfn * layout::PAGE_SIZE
    }) {
        return Err(HotplugError::AlreadyPresent);
    }
    let _ = node;
    Err(HotplugError::OnliningNotImplemented)
}
