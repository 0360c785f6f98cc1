//! Boot: the PVH entry stub and the boot information it hands over.

pub mod pvh;
pub mod start_info;
