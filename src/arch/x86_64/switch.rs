//! The context switch: the callee-saved registers pushed on the old
//! thread's stack, the stack pointer swapped, the new thread's registers
//! popped. Everything else the System V ABI lets a call clobber, so the
//! compiler has already saved it around the call. The kernel is built
//! without SSE, so there is no FPU state to carry.
//!
//! A new thread's stack is laid out as if it had been switched away from
//! just before its first instruction: six register slots (r12 carries the
//! start argument) and a return address pointing at [`thread_trampoline`].

/// The words [`prepare_stack`] writes below a stack's top.
const INITIAL_FRAME_WORDS: u64 = 9;

/// Saves this thread's registers and stack pointer into `*save_rsp` and
/// resumes the thread whose stack pointer is `next_rsp`.
///
/// # Safety
/// Interrupts must be off. `next_rsp` must be a value this function saved
/// (or [`prepare_stack`] made) for a thread that is not running anywhere,
/// and `save_rsp` must stay valid until the current thread is resumed.
#[unsafe(naked)]
pub unsafe extern "C" fn switch_stack(save_rsp: *mut u64, next_rsp: u64) {
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "mov [rdi], rsp",
        "mov rsp, rsi",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "ret",
    )
}

/// Where a new thread's first switch returns to: calls `entry(arg)` with
/// the argument [`prepare_stack`] left in r12, on a 16-byte aligned stack.
#[unsafe(naked)]
unsafe extern "C" fn thread_trampoline() -> ! {
    core::arch::naked_asm!("mov rdi, r12", "call r13", "ud2",)
}

/// Builds a new thread's first frame below `top` (16-byte aligned) so that
/// switching to the returned stack pointer calls `entry(arg)`, which must
/// never return.
///
/// # Safety
/// `[top - 72, top)` must be writable memory of the new thread's stack.
pub unsafe fn prepare_stack(top: u64, entry: extern "C" fn(u64) -> !, arg: u64) -> u64 {
    debug_assert!(top.is_multiple_of(16));
    let rsp = top - INITIAL_FRAME_WORDS * 8;
    let frame = rsp as *mut u64;
    // Popped in this order by switch_stack: r15, r14, r13, r12, rbx, rbp,
    // then `ret` takes the trampoline; a zero return address above it ends
    // backtraces. After `ret` rsp is top - 16: aligned for the call.
    let words = [
        0,
        0,
        entry as *const () as usize as u64,
        arg,
        0,
        0,
        thread_trampoline as *const () as usize as u64,
        0,
        0,
    ];
    for (i, w) in words.iter().enumerate() {
        // SAFETY: inside the range the caller vouches for.
        unsafe { frame.add(i).write(*w) };
    }
    rsp
}
