//! CPU exceptions: a handler for every vector the CPU defines. A page fault
//! says what lies at the faulting address; a double fault, which runs on its
//! own IST stack, recognises a stack overflow. Every one of them is fatal
//! here: the report is printed and QEMU exits with the failure verdict.

use super::gdt::{DOUBLE_FAULT_IST, MACHINE_CHECK_IST, NMI_IST};
use super::paging::{self, Mapping};
use super::stacks;
use crate::fatal;
use spin::Once;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode};

static IDT: Once<InterruptDescriptorTable> = Once::new();

macro_rules! fatal_handler {
    ($fn:ident, $name:literal) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame) {
            fatal::exception($name, &frame, None, format_args!(""));
        }
    };
    ($fn:ident, $name:literal, error_code) => {
        extern "x86-interrupt" fn $fn(frame: InterruptStackFrame, code: u64) {
            fatal::exception($name, &frame, Some(code), format_args!(""));
        }
    };
}

fatal_handler!(divide_error, "#DE divide error");
fatal_handler!(debug, "#DB debug");
fatal_handler!(nmi, "NMI");
fatal_handler!(breakpoint, "#BP breakpoint");
fatal_handler!(overflow, "#OF overflow");
fatal_handler!(bound_range, "#BR bound range exceeded");
fatal_handler!(invalid_opcode, "#UD invalid opcode");
fatal_handler!(device_not_available, "#NM device not available");
fatal_handler!(invalid_tss, "#TS invalid TSS", error_code);
fatal_handler!(segment_not_present, "#NP segment not present", error_code);
fatal_handler!(stack_segment, "#SS stack-segment fault", error_code);
fatal_handler!(general_protection, "#GP general protection", error_code);
fatal_handler!(x87_floating_point, "#MF x87 floating point");
fatal_handler!(alignment_check, "#AC alignment check", error_code);
fatal_handler!(simd_floating_point, "#XM SIMD floating point");
fatal_handler!(virtualization, "#VE virtualization");
fatal_handler!(control_protection, "#CP control protection", error_code);
fatal_handler!(hv_injection, "#HV hypervisor injection");
fatal_handler!(vmm_communication, "#VC VMM communication", error_code);
fatal_handler!(security, "#SX security", error_code);

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    fatal::exception("#MC machine check", &frame, None, format_args!(""));
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    // CR2 still holds the address of the page fault that could not be
    // delivered, if that is how we got here.
    let cr2 = Cr2::read_raw();
    if let Some((cpu, name, (bottom, top))) = super::percpu::stack_guard_of(cr2) {
        fatal::exception(
            "#DF double fault",
            &frame,
            Some(code),
            format_args!("stack overflow: CR2 {cr2:#x} is in the guard page of CPU {cpu}'s {name} [{bottom:#x}-{top:#x})"),
        );
    }
    match stacks::guard_page_of(cr2) {
        Some(s) => fatal::exception(
            "#DF double fault",
            &frame,
            Some(code),
            format_args!(
                "stack overflow: CR2 {cr2:#x} is in the guard page of the {} [{:#x}-{:#x})",
                s.name, s.bottom, s.top
            ),
        ),
        None => fatal::exception(
            "#DF double fault",
            &frame,
            Some(code),
            format_args!("CR2 {cr2:#x}"),
        ),
    }
}

/// A higher layer's handler for faults at addresses it owns (KFENCE's
/// pool): it reports the access, makes the page accessible and returns
/// true, and the faulting instruction runs again.
pub type FaultFixer = fn(addr: u64, write: bool, rip: u64) -> bool;

static FIXER: spin::Once<FaultFixer> = spin::Once::new();

/// Installs the fault fixer (once; KFENCE at its init).
pub fn set_fault_fixer(fixer: FaultFixer) {
    FIXER.call_once(|| fixer);
}

extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let addr = Cr2::read_raw();
    let rip = frame.instruction_pointer.as_u64();
    let write = code.contains(PageFaultErrorCode::CAUSED_BY_WRITE);
    if FIXER.get().is_some_and(|fix| fix(addr, write, rip)) {
        return;
    }
    if let Some(fixup) = super::fault_probe::fixup_for(rip, addr, code.bits()) {
        // A probe that may fault: the same report, then back to the probe.
        crate::kprintln!(
            "#PF page fault (expected by a fault probe) at {addr:#x}, error code {:#x}: {}",
            code.bits(),
            Describe(addr)
        );
        // SAFETY: the probe's fixup is a valid instruction of the same
        // routine with the same stack, made to be resumed at (fault_probe).
        unsafe {
            frame
                .as_mut()
                .update(|f| f.instruction_pointer = x86_64::VirtAddr::new(fixup))
        };
        return;
    }
    let access = if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
        "instruction fetch"
    } else if code.contains(PageFaultErrorCode::CAUSED_BY_WRITE) {
        "write"
    } else {
        "read"
    };
    let present = code.contains(PageFaultErrorCode::PROTECTION_VIOLATION);
    fatal::exception(
        "#PF page fault",
        &frame,
        Some(code.bits()),
        format_args!(
            "{access} at {addr:#x} ({}): {}",
            if present {
                "protection violation"
            } else {
                "page not present"
            },
            Describe(addr)
        ),
    );
}

/// Says what a higher layer keeps at an address (vmalloc: which area,
/// its guard page, a freed one): Some when the address is its own.
pub type Describer = fn(u64, &mut core::fmt::Formatter<'_>) -> Option<core::fmt::Result>;

static DESCRIBER: spin::Once<Describer> = spin::Once::new();

/// Installs the describer fault reports ask (once; vmalloc at init).
pub fn set_describer(describer: Describer) {
    DESCRIBER.call_once(|| describer);
}

/// What lies at a virtual address, in words, for fault reports.
pub struct Describe(pub u64);

impl core::fmt::Display for Describe {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let addr = self.0;
        if addr < layout::PAGE_SIZE {
            return write!(f, "null page (page 0 is never mapped)");
        }
        if let Some(s) = stacks::guard_page_of(addr) {
            return write!(
                f,
                "guard page of the {} (stack [{:#x}-{:#x})): stack overflow",
                s.name, s.bottom, s.top
            );
        }
        if let Some((cpu, name, (bottom, top))) = super::percpu::stack_guard_of(addr) {
            return write!(
                f,
                "guard page of CPU {cpu}'s {name} (stack [{bottom:#x}-{top:#x})): stack overflow"
            );
        }
        if let Some(said) = DESCRIBER.get().and_then(|d| d(addr, f)) {
            return said;
        }
        match paging::translate(addr) {
            Mapping::NotMapped => write!(f, "unmapped"),
            Mapping::Mapped {
                phys,
                page_size,
                writable,
                executable,
            } => write!(
                f,
                "mapped to phys {phys:#x} by a {} KiB page, {}{}",
                page_size / 1024,
                if writable { "writable" } else { "read-only" },
                if executable {
                    ", executable"
                } else {
                    ", no-execute"
                }
            ),
        }
    }
}

pub fn init() {
    let idt = IDT.call_once(|| {
        let mut idt = InterruptDescriptorTable::new();
        idt.divide_error.set_handler_fn(divide_error);
        idt.debug.set_handler_fn(debug);
        idt.breakpoint.set_handler_fn(breakpoint);
        idt.overflow.set_handler_fn(overflow);
        idt.bound_range_exceeded.set_handler_fn(bound_range);
        idt.invalid_opcode.set_handler_fn(invalid_opcode);
        idt.device_not_available
            .set_handler_fn(device_not_available);
        idt.invalid_tss.set_handler_fn(invalid_tss);
        idt.segment_not_present.set_handler_fn(segment_not_present);
        idt.stack_segment_fault.set_handler_fn(stack_segment);
        idt.general_protection_fault
            .set_handler_fn(general_protection);
        idt.page_fault.set_handler_fn(page_fault);
        idt.x87_floating_point.set_handler_fn(x87_floating_point);
        idt.alignment_check.set_handler_fn(alignment_check);
        idt.simd_floating_point.set_handler_fn(simd_floating_point);
        idt.virtualization.set_handler_fn(virtualization);
        idt.cp_protection_exception
            .set_handler_fn(control_protection);
        idt.hv_injection_exception.set_handler_fn(hv_injection);
        idt.vmm_communication_exception
            .set_handler_fn(vmm_communication);
        idt.security_exception.set_handler_fn(security);
        idt[super::apic::CALL_FUNCTION_VECTOR].set_handler_fn(super::interrupts::call_function);
        idt[super::apic::TIMER_VECTOR].set_handler_fn(super::interrupts::timer);
        idt[super::apic::SCI_VECTOR].set_handler_fn(super::interrupts::sci);
        idt[super::apic::SPURIOUS_VECTOR].set_handler_fn(super::interrupts::spurious);
        // SAFETY: the IST indices name stacks set up in the TSS by gdt::init,
        // each used by this one vector only.
        unsafe {
            idt.double_fault
                .set_handler_fn(double_fault)
                .set_stack_index(DOUBLE_FAULT_IST);
            idt.non_maskable_interrupt
                .set_handler_fn(nmi)
                .set_stack_index(NMI_IST);
            idt.machine_check
                .set_handler_fn(machine_check)
                .set_stack_index(MACHINE_CHECK_IST);
        }
        idt
    });
    idt.load();
}

/// Loads the shared IDT on the running CPU (application processors).
pub fn load_idt() {
    IDT.get().expect("built by the boot CPU").load();
}

mod selftests {
    use super::*;
    use crate::{kassert, kassert_eq, selftest};
    use x86_64::instructions::tables::sidt;

    selftest!(
        "exceptions",
        fn idt_is_loaded_with_a_handler_for_every_exception() {
            let idt = IDT.get().expect("initialised at boot");
            kassert_eq!(sidt().base.as_u64(), idt as *const _ as u64);
            // Every architecturally defined vector below 32 that the CPU can
            // raise has a present gate (the reserved ones stay empty).
            let gates = [
                idt.divide_error.handler_addr(),
                idt.debug.handler_addr(),
                idt.non_maskable_interrupt.handler_addr(),
                idt.breakpoint.handler_addr(),
                idt.overflow.handler_addr(),
                idt.bound_range_exceeded.handler_addr(),
                idt.invalid_opcode.handler_addr(),
                idt.device_not_available.handler_addr(),
                idt.double_fault.handler_addr(),
                idt.invalid_tss.handler_addr(),
                idt.segment_not_present.handler_addr(),
                idt.stack_segment_fault.handler_addr(),
                idt.general_protection_fault.handler_addr(),
                idt.page_fault.handler_addr(),
                idt.x87_floating_point.handler_addr(),
                idt.alignment_check.handler_addr(),
                idt.machine_check.handler_addr(),
                idt.simd_floating_point.handler_addr(),
                idt.virtualization.handler_addr(),
                idt.cp_protection_exception.handler_addr(),
                idt.hv_injection_exception.handler_addr(),
                idt.vmm_communication_exception.handler_addr(),
                idt.security_exception.handler_addr(),
            ];
            for (i, g) in gates.iter().enumerate() {
                kassert!(g.as_u64() != 0, "gate {i} empty");
            }
            Ok(())
        }
    );

    selftest!(
        "exceptions",
        fn fault_reports_describe_the_address() {
            use core::fmt::Write;
            struct Buf([u8; 160], usize);
            impl Write for Buf {
                fn write_str(&mut self, s: &str) -> core::fmt::Result {
                    let n = s.len().min(self.0.len() - self.1);
                    self.0[self.1..self.1 + n].copy_from_slice(&s.as_bytes()[..n]);
                    self.1 += n;
                    Ok(())
                }
            }
            let describe = |addr| {
                let mut b = Buf([0; 160], 0);
                let _ = write!(b, "{}", Describe(addr));
                b
            };
            let b = describe(8);
            kassert!(b.0.starts_with(b"null page"));
            let guard = stacks::all()[0].guard;
            let b = describe(guard + 100);
            kassert!(b.0.starts_with(b"guard page of the boot CPU kernel stack"));
            let b = describe(0x4000_0000_0000);
            kassert!(b.0.starts_with(b"unmapped"));
            Ok(())
        }
    );
}
