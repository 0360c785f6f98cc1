//! Hardware-independent cores of the memory subsystem, testable on the host.
//! Today: the early boot allocator ([`memblock`]), which the kernel uses,
//! and the buddy allocator of one zone ([`buddy`]), which the page-allocator
//! work will wire to real page frames.
#![no_std]
#![forbid(unsafe_code)]

pub mod buddy;
pub mod memblock;
