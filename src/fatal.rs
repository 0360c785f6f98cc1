//! The end of a failed run: a report of what went wrong, a frame-pointer
//! backtrace, and the failure verdict to QEMU.

use crate::arch::x86_64::{
    cpu_id,
    paging::{self, Mapping},
    qemu_exit::{exit_qemu, Verdict},
    stacks,
};
use core::fmt::Write;
use x86_64::structures::idt::InterruptStackFrame;

/// Reports a fatal CPU exception and fails the run.
pub fn exception(
    name: &str,
    frame: &InterruptStackFrame,
    error_code: Option<u64>,
    detail: core::fmt::Arguments,
) -> ! {
    let mut w = crate::console::emergency_writer();
    let _ = writeln!(w, "\n---[ fatal exception on CPU {}: {name} ]---", cpu_id());
    if let Some(code) = error_code {
        let _ = writeln!(w, "error code: {code:#x}");
    }
    let detail_text = detail;
    let _ = writeln!(w, "{detail_text}");
    let _ = writeln!(
        w,
        "RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}\nRSP: {:#018x}  SS: {:#x}",
        frame.instruction_pointer.as_u64(),
        frame.code_segment.0,
        frame.cpu_flags.bits(),
        frame.stack_pointer.as_u64(),
        frame.stack_segment.0,
    );
    backtrace(&mut w);
    let _ = writeln!(w, "---[ end of report: the run fails ]---");
    exit_qemu(Verdict::Fail)
}

/// Walks the frame-pointer chain (the kernel is built with frame pointers)
/// while each frame lies inside a known stack and is mapped.
pub fn backtrace(w: &mut impl Write) {
    let mut frames = [0u64; 32];
    let n = capture_backtrace(&mut frames);
    let _ = writeln!(w, "backtrace (return addresses):");
    print_frames(w, &frames[..n]);
}

/// Return addresses as `backtrace` prints them.
pub fn print_frames(w: &mut impl Write, frames: &[u64]) {
    for (depth, ret) in frames.iter().enumerate() {
        let _ = writeln!(w, "  #{depth:<2} {ret:#018x}");
    }
}

/// The return addresses of the calling chain, innermost first, into
/// `out`; returns how many (for reports that keep a stack: KFENCE's
/// allocation and free records).
#[inline(never)]
pub fn capture_backtrace(out: &mut [u64]) -> usize {
    let mut rbp: u64;
    // SAFETY: reads the frame pointer register only.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp) };
    let mut n = 0;
    for _ in 0..out.len() {
        let in_stack = stacks::all()
            .iter()
            .any(|s| rbp >= s.bottom && rbp + 16 <= s.top);
        if rbp == 0 || !rbp.is_multiple_of(8) || !in_stack {
            break;
        }
        if !matches!(paging::translate(rbp), Mapping::Mapped { .. }) {
            break;
        }
        // SAFETY: rbp points into a mapped kernel stack; a frame there holds
        // the caller's rbp and the return address.
        let (next, ret) = unsafe { (*(rbp as *const u64), *((rbp + 8) as *const u64)) };
        let image = paging::image_layout();
        if !(image.start..image.text_end).contains(&ret) {
            break; // not a return address: the chain ends here
        }
        out[n] = ret;
        n += 1;
        if next <= rbp {
            break;
        }
        rbp = next;
    }
    n
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    let mut w = crate::console::emergency_writer();
    let _ = writeln!(w, "\n---[ kernel panic on CPU {} ]---", cpu_id());
    if let Some(loc) = info.location() {
        let _ = writeln!(w, "at {}:{}:{}", loc.file(), loc.line(), loc.column());
    }
    let _ = writeln!(w, "{}", info.message());
    backtrace(&mut w);
    let _ = writeln!(w, "---[ end of report: the run fails ]---");
    exit_qemu(Verdict::Fail)
}
