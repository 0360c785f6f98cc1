//! Reads that are allowed to fault: the self-tests use them to prove that
//! a guard page really is unmapped, and that the fault report names it.
//!
//! `probe_read` is a tiny assembly routine with one load at a known
//! address. When a page fault hits exactly that instruction, the page-fault
//! handler prints its report as usual, marks it expected, and resumes at
//! the routine's fixup, which returns "faulted" (Linux's exception tables
//! work the same way). A fault anywhere else stays fatal.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

core::arch::global_asm!(
    ".pushsection .text.fault_probe, \"ax\"",
    ".global fault_probe_read",
    "fault_probe_read:",
    "    xor edx, edx",
    ".global fault_probe_load",
    "fault_probe_load:",
    "    movzx eax, byte ptr [rdi]",
    "    ret",
    ".global fault_probe_fixup",
    "fault_probe_fixup:",
    "    xor eax, eax",
    "    mov edx, 1",
    "    ret",
    ".popsection",
);

#[repr(C)]
struct ProbeResult {
    value: u64,
    faulted: u64,
}

extern "sysv64" {
    fn fault_probe_read(addr: u64) -> ProbeResult;
    static fault_probe_load: u8;
    static fault_probe_fixup: u8;
}

/// Faults taken by probes, and the last one's address and error code.
pub static PROBE_FAULTS: AtomicU64 = AtomicU64::new(0);
static LAST_ADDR: AtomicU64 = AtomicU64::new(0);
static LAST_CODE: AtomicU64 = AtomicU64::new(0);

/// What a faulting probe saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    pub addr: u64,
    pub error_code: u64,
}

/// Reads the byte at `addr`, or reports the page fault it took.
pub fn probe_read(addr: u64) -> Result<u8, ProbeFault> {
    // SAFETY: the routine only loads from `addr`; a page fault there is
    // turned into a return by the page-fault handler (see `fixup_for`).
    // Any other fault is fatal as always. The load may hit device memory
    // only if the caller points it there; the self-tests do not.
    let r = unsafe { fault_probe_read(addr) };
    if r.faulted != 0 {
        return Err(ProbeFault {
            addr: LAST_ADDR.load(Relaxed),
            error_code: LAST_CODE.load(Relaxed),
        });
    }
    Ok(r.value as u8)
}

/// Called by the page-fault handler: where to resume when the fault hit
/// the probe's load (recording it), else None.
pub fn fixup_for(rip: u64, addr: u64, error_code: u64) -> Option<u64> {
    // SAFETY: only the addresses of the assembly labels are taken.
    let (load, fixup) = unsafe {
        (
            &fault_probe_load as *const u8 as u64,
            &fault_probe_fixup as *const u8 as u64,
        )
    };
    if rip != load {
        return None;
    }
    LAST_ADDR.store(addr, Relaxed);
    LAST_CODE.store(error_code, Relaxed);
    PROBE_FAULTS.fetch_add(1, Relaxed);
    Some(fixup)
}
