//! Hardware-independent cores of the memory subsystem, testable on the host.
//! Today: the buddy allocator of one zone ([`buddy`]). The kernel wires it
//! to real page frames with the page-allocator issue.
#![no_std]
#![forbid(unsafe_code)]

pub mod buddy;
