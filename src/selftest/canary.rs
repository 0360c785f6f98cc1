//! Canaries: suites that fail on purpose, run only when named
//! (`selftest=canary_fail` and so on). The host tests boot them to prove the
//! harness sees a failing case, a page fault and a stack overflow as
//! failures; a harness that passed them would pass anything.

use crate::{kassert_eq, selftest};

selftest!(explicit "canary_fail", fn deliberately_failing_assertion() {
    let answer = core::hint::black_box(41);
    kassert_eq!(answer, 42);
    Ok(())
});

selftest!(explicit "canary_fault", fn deliberate_null_page_write() {
    // An address in page 0, hidden from the optimiser so the write is real.
    let p = core::hint::black_box(0x18usize) as *mut u64;
    // SAFETY: not sound, on purpose: page 0 is never mapped, and the page
    // fault this raises is the point of the test. It never returns.
    unsafe { core::ptr::write_volatile(p, 0xdead) };
    Ok(())
});

selftest!(explicit "canary_overflow", fn deliberate_stack_overflow() {
    #[allow(unconditional_recursion)]
    fn recurse(depth: u64) -> u64 {
        let mut frame = [0u8; 512];
        frame[0] = depth as u8;
        let frame = core::hint::black_box(frame);
        recurse(depth + 1) + frame[0] as u64
    }
    let _ = recurse(core::hint::black_box(0));
    Ok(())
});

selftest!(explicit "canary_hang", fn deliberate_hang() {
    // Never returns: proves run-qemu.sh's timeout ends a stuck kernel with
    // status 2.
    crate::arch::x86_64::halt_forever()
});
