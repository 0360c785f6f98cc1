//! The PVH entry: QEMU's `-kernel` loader finds the XEN_ELFNOTE_PHYS32_ENTRY
//! note below, loads our ELF segments at their physical addresses and jumps
//! to `pvh_start32` in 32-bit protected mode, paging off, with EBX holding
//! the physical address of an `hvm_start_info`.
//!
//! The stub records the TSC, builds throw-away page tables that identity-map
//! the first 1 GiB with 2 MiB pages (enough for the image, the boot data and
//! the frames the real page tables are built in), turns on long mode with
//! NX and write protection, and calls `kernel_entry` on the boot stack.

use crate::arch::x86_64::stacks::{BOOT_STACK, BOOT_STACK_SIZE, GUARD_SIZE};
use crate::arch::x86_64::tsc::BOOT_TSC;

/// The throw-away tables: PML4, one PDPT, one PD of 512 x 2 MiB.
#[repr(C, align(4096))]
pub struct EarlyTables([[u64; 512]; 3]);

// SAFETY: written only by the boot stub before any Rust code runs, and never
// again once the final page tables are loaded.
#[no_mangle]
static mut EARLY_TABLES: EarlyTables = EarlyTables([[0; 512]; 3]);

/// XEN_ELFNOTE_PHYS32_ENTRY from Xen's public elfnote.h.
const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;

core::arch::global_asm!(
    r#"
    .pushsection .note.pvh, "a"
    .balign 4
    .long 4                 /* name size: "Xen\0" */
    .long 4                 /* descriptor size */
    .long {note_type}
    .asciz "Xen"
    .balign 4
    .long pvh_start32
    .balign 4
    .popsection

    .pushsection .text.boot, "ax"
    .code32
    .global pvh_start32
pvh_start32:
    cli
    cld
    rdtsc
    movl %eax, ({boot_tsc})
    movl %edx, ({boot_tsc}+4)
    movl %ebx, %esi                 /* keep the start_info address */

    /* Zero the three early tables. */
    movl ${tables}, %edi
    xorl %eax, %eax
    movl $(3 * 1024), %ecx
    rep stosl

    /* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] -> i * 2 MiB (present, writable, huge). */
    movl ${tables} + 4096 + 3, %eax
    movl %eax, ({tables})
    movl ${tables} + 8192 + 3, %eax
    movl %eax, ({tables} + 4096)
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax
    movl %eax, ({tables} + 8192)(,%ecx,8)
    incl %ecx
    cmpl $512, %ecx
    jne 1b

    movl ${tables}, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $(1 << 5), %eax             /* PAE */
    movl %eax, %cr4
    movl $0xc0000080, %ecx          /* EFER */
    rdmsr
    orl $((1 << 8) | (1 << 11)), %eax   /* LME, NXE */
    wrmsr
    movl %cr0, %eax
    orl $((1 << 31) | (1 << 16) | 1), %eax  /* PG, WP, PE */
    movl %eax, %cr0

    lgdt early_gdt_pointer
    ljmp $0x08, $pvh_start64

    .code64
pvh_start64:
    movw $0x10, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorw %ax, %ax
    movw %ax, %fs
    movw %ax, %gs
    movabsq ${stack} + {stack_top}, %rsp
    xorl %ebp, %ebp                 /* terminates frame-pointer backtraces */
    movl %esi, %edi                 /* kernel_entry(start_info_phys) */
    call kernel_entry
2:  hlt
    jmp 2b
    .popsection

    .pushsection .rodata
    .balign 16
early_gdt:
    .quad 0
    .quad 0x00af9a000000ffff        /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff        /* 0x10: data */
early_gdt_end:
early_gdt_pointer:
    .word early_gdt_end - early_gdt - 1
    .long early_gdt
    .popsection
    "#,
    note_type = const XEN_ELFNOTE_PHYS32_ENTRY,
    boot_tsc = sym BOOT_TSC,
    tables = sym EARLY_TABLES,
    stack = sym BOOT_STACK,
    stack_top = const GUARD_SIZE + BOOT_STACK_SIZE,
    options(att_syntax)
);
