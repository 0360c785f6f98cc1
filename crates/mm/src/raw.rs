//! The only unsafe code of the crate: turning memory the kernel carved out
//! of a node (by physical address, through the direct map) into page
//! descriptors and node data. Kept here, small, so that Miri checks it on
//! the host (`./run-tests.sh` runs `cargo miri test -p mm raw::`).

use crate::buddy::PageMeta;
use crate::pcp::PcpLink;
use core::ptr;
use core::sync::atomic::AtomicU8;

/// Clears `count` descriptors at `base` and returns them as a slice; a
/// cleared descriptor is [`PageMeta::RESERVED`] (see the buddy module).
///
/// # Safety
/// `base` must be valid for writes of `count` descriptors, aligned for
/// [`PageMeta`], referenced by nothing else, and stay so for `'a`.
pub unsafe fn page_meta_from_raw<'a>(base: *mut PageMeta, count: usize) -> &'a mut [PageMeta] {
    // SAFETY: the caller gives us the memory; PageMeta is repr(C) of two
    // u32s and two u8s whose all-zero value is valid (the enum's
    // discriminant 0 is Reserved), so after clearing every element is
    // initialised.
    unsafe {
        ptr::write_bytes(base, 0, count);
        core::slice::from_raw_parts_mut(base, count)
    }
}

/// Clears `count` bytes at `base` and returns them as atomic bytes (zero).
///
/// # Safety
/// As for [`page_meta_from_raw`], for `count` bytes.
pub unsafe fn atomic_bytes_from_raw<'a>(base: *mut u8, count: usize) -> &'a [AtomicU8] {
    // SAFETY: the caller gives us the memory; AtomicU8 has the size,
    // alignment and bit validity of u8, so cleared bytes are valid atomics.
    unsafe {
        ptr::write_bytes(base, 0, count);
        core::slice::from_raw_parts(base as *const AtomicU8, count)
    }
}

/// Clears `count` per-CPU list links at `base` and returns them (zero).
///
/// # Safety
/// As for [`page_meta_from_raw`], for `count` links.
pub unsafe fn pcp_links_from_raw<'a>(base: *mut PcpLink, count: usize) -> &'a [PcpLink] {
    // SAFETY: the caller gives us the memory; PcpLink is two AtomicU32s,
    // for which all-zero bytes are a valid value.
    unsafe {
        ptr::write_bytes(base, 0, count);
        core::slice::from_raw_parts(base as *const PcpLink, count)
    }
}

/// Fills `count` slots at `base` with `make()` and returns them.
///
/// # Safety
/// As for [`page_meta_from_raw`], for `count` values of `T`.
pub unsafe fn init_slice<'a, T>(base: *mut T, count: usize, make: impl Fn() -> T) -> &'a mut [T] {
    for i in 0..count {
        // SAFETY: within the caller's memory; each slot written once.
        unsafe { base.add(i).write(make()) };
    }
    // SAFETY: every element was just initialised.
    unsafe { core::slice::from_raw_parts_mut(base, count) }
}

/// Moves `value` into the memory at `slot` and returns it there.
///
/// # Safety
/// As for [`page_meta_from_raw`], for one `T`.
pub unsafe fn place<'a, T>(slot: *mut T, value: T) -> &'a mut T {
    // SAFETY: the caller gives us the memory; writing initialises it.
    unsafe {
        slot.write(value);
        &mut *slot
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::buddy::{Buddy, FreeError, PageState};
    use crate::page_alloc::{Node, Zone};
    use crate::zone::{ZoneSpan, ZoneType};
    use std::alloc::{alloc, dealloc, Layout};

    /// Uninitialised memory (as the kernel gets it) becomes a working
    /// allocator; Miri checks every read is of an initialised, valid value.
    #[test]
    fn descriptors_from_uninitialised_memory_work() {
        let count = 600;
        let layout = Layout::array::<PageMeta>(count).unwrap();
        // SAFETY: the layout is not zero-sized.
        let base = unsafe { alloc(layout) } as *mut PageMeta;
        assert!(!base.is_null());
        {
            // SAFETY: fresh allocation of exactly `count` descriptors, ours alone.
            let meta = unsafe { page_meta_from_raw(base, count) };
            assert!(meta.iter().all(|m| m.state() == PageState::Reserved));
            let mut b = Buddy::new(1000, meta);
            assert_eq!(b.add_free_range(1000, 1500), 500);
            let p = b.alloc(3, crate::buddy::MigrateType::Movable).unwrap();
            let q = b.alloc(0, crate::buddy::MigrateType::Movable).unwrap();
            assert_eq!(
                b.free(p + 1, 0),
                Err(FreeError::NotBlockHead { pfn: p + 1 })
            );
            b.free(p, 3).unwrap();
            b.free(q, 0).unwrap();
            assert_eq!(b.free(1550, 0), Err(FreeError::Reserved { pfn: 1550 }));
            assert_eq!(b.free_pages(), 500);
        }
        // SAFETY: allocated above with this layout; the slice is gone.
        unsafe { dealloc(base as *mut u8, layout) };
    }

    #[test]
    fn node_data_placed_in_raw_memory_is_usable() {
        let layout = Layout::new::<Node<'static>>();
        // SAFETY: Node is not zero-sized.
        let slot = unsafe { alloc(layout) } as *mut Node<'static>;
        assert!(!slot.is_null());
        let zones =
            core::array::from_fn(|i| Zone::new(0, ZoneType::ALL[i], ZoneSpan::default(), None));
        // SAFETY: fresh allocation for one Node, ours alone.
        let node = unsafe { place(slot, Node::new(0, zones)) };
        assert_eq!(node.managed(), 0);
        assert!(node.zonelist.iter().next().is_none());
        // SAFETY: the node was placed there and is not used after this.
        unsafe {
            core::ptr::drop_in_place(slot);
            dealloc(slot as *mut u8, layout);
        }
    }
}
