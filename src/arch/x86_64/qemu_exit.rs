//! Ending the VM with a verdict through QEMU's isa-debug-exit device
//! (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`): QEMU exits with
//! status `(value << 1) | 1`.
//!
//! The values are chosen so that neither verdict can be confused with QEMU's
//! own exit statuses (0 after a normal shutdown, 1 on a start-up error):
//! pass is 33, fail is 35. run-qemu.sh maps them to 0 and 1.

use x86_64::instructions::port::Port;

const DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Verdict {
    Pass = 0x10,
    Fail = 0x11,
}

pub fn exit_qemu(verdict: Verdict) -> ! {
    // SAFETY: writing the debug-exit port ends the VM; if the device is
    // absent the write is ignored and we halt below.
    unsafe { Port::<u32>::new(DEBUG_EXIT_PORT).write(verdict as u32) };
    super::halt_forever()
}
