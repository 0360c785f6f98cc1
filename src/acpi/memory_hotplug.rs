//! ACPI memory hotplug: QEMU's memory devices (pc-dimm) arriving while the
//! kernel runs. QEMU raises general-purpose event 3 on the SCI when a
//! slot changes; the handler acknowledges it and wakes `kacpi_hotplug`,
//! which walks the slots through the registers the DSDT names
//! (`\_SB.PCI0.MHPD.HPMR`: select a slot, read its flags, base, length
//! and proximity), onlines each inserted range on its node through
//! `mm::memory_hotplug`, and reports the outcome to the firmware the way
//! `_OST` does (event and status registers), which QEMU shows in
//! `query-acpi-ospm-status`. Without a GPE block or an I/O APIC the
//! thread polls the slots once a second instead, and says so.
//!
//! A removal request (QEMU's `device_del`) takes the range offline
//! through `mm::memory_hotplug::remove_memory` (its pages migrated off
//! it first); then the device is ejected (`_EJ0`: QEMU unplugs it and
//! sends DEVICE_DELETED) and `_OST` reports success, or, when a page
//! there cannot move, `_OST` reports the device busy and it stays.

use super::aml;
use crate::arch::x86_64::apic;
use crate::arch::x86_64::interrupts::set_sci_handler;
use crate::arch::x86_64::ioapic::{IoApic, Signal};
use crate::sched::{self, Binding, WaitQueue};
use acpi_tables::fadt::GpeBlock;
use acpi_tables::madt::{self, Entry};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use x86_64::instructions::port::Port;

/// QEMU's memory-hotplug GPE (ACPI_MEMORY_HOTPLUG_STATUS).
const MEMORY_HOTPLUG_GPE: u32 = 3;

/// Register offsets in the hotplug block (QEMU's docs/specs/acpi_mem_hotplug).
const REG_SELECTOR: u16 = 0x00; // write
const REG_BASE_LO: u16 = 0x00; // read
const REG_BASE_HI: u16 = 0x04;
const REG_OST_EVENT: u16 = 0x04; // write
const REG_LEN_LO: u16 = 0x08;
const REG_OST_STATUS: u16 = 0x08; // write
const REG_LEN_HI: u16 = 0x0c;
const REG_PROXIMITY: u16 = 0x10;
const REG_FLAGS: u16 = 0x14;
const FLAG_ENABLED: u8 = 1 << 0;
const FLAG_INSERT: u8 = 1 << 1;
const FLAG_REMOVE: u8 = 1 << 2;
/// Written to the control register: eject the selected device (`_EJ0`).
const CONTROL_EJECT: u8 = 1 << 3;

/// _OST source events and status codes (ACPI 6.5, 6.3.5).
const OST_DEVICE_CHECK: u32 = 0x01;
const OST_EJECT_REQUEST: u32 = 0x03;
const OST_SUCCESS: u32 = 0x00;
const OST_FAILURE: u32 = 0x01;
const OST_DEVICE_BUSY: u32 = 0x82;

/// PM1 control: SCI_EN, set once the hardware is in ACPI mode.
const SCI_EN: u16 = 1;

struct Hotplug {
    port: u16,
    slots: u32,
    /// The GPE block when events arrive on the SCI; None when polling.
    gpe: Option<GpeBlock>,
}

static HOTPLUG: spin::Once<Hotplug> = spin::Once::new();
static PENDING: AtomicBool = AtomicBool::new(false);
static WAKE: WaitQueue = WaitQueue::new();
/// SCIs taken with the memory-hotplug event set.
pub static SCI_EVENTS: AtomicU64 = AtomicU64::new(0);
/// Ranges onlined, and insertions refused, since boot.
pub static ADDED: AtomicU64 = AtomicU64::new(0);
pub static REFUSED: AtomicU64 = AtomicU64::new(0);
/// Devices taken offline and ejected, and removals refused, since boot.
pub static REMOVED: AtomicU64 = AtomicU64::new(0);
pub static REMOVAL_REFUSED: AtomicU64 = AtomicU64::new(0);
/// Woken after every slot scan, for whoever waits for memory to arrive.
pub static SCANNED: WaitQueue = WaitQueue::new();

/// Waits up to 60 s for `expected` hot-added devices to be handled
/// (onlined or refused), saying so; returns how many were.
pub fn wait_for_expected(expected: u64) -> u64 {
    let handled = || ADDED.load(Relaxed) + REFUSED.load(Relaxed);
    wait_for_events(&handled, expected, "devices", "memhp.expect=")
}

/// Waits up to 60 s until `expected` removal requests in all have been
/// handled since boot (ejected or refused), saying so if they do not come.
pub fn wait_for_removals(expected: u64) {
    let handled = || REMOVED.load(Relaxed) + REMOVAL_REFUSED.load(Relaxed);
    wait_for_events(&handled, expected, "removal requests", "memhp.unplug=");
}

/// Waits on the slot scans until `handled()` reaches `expected`, at most
/// 60 s; says what it waits for (`what`, set by `word`) and what came.
fn wait_for_events(handled: &dyn Fn() -> u64, expected: u64, what: &str, word: &str) -> u64 {
    if handled() >= expected {
        return handled();
    }
    log::info!("ACPI: memory hotplug: waiting for {expected} {what} ({word})");
    SCANNED.wait_event(|| handled() >= expected, Some(60_000_000_000));
    let got = handled();
    if got < expected {
        log::warn!("ACPI: memory hotplug: {got} of {expected} expected {what} came in 60 s");
    }
    got
}

/// How events reach the kernel.
pub fn mode() -> Option<&'static str> {
    HOTPLUG
        .get()
        .map(|h| if h.gpe.is_some() { "sci" } else { "polling" })
}

/// Sets up hotplug where the DSDT has QEMU's memory-hotplug device: ACPI
/// mode, the SCI routed through the I/O APIC, GPE 3 enabled, and the
/// thread that does the work. Needs the scheduler.
pub fn init(tables: &super::Tables) {
    let Some((port, slots)) = aml::memory_hotplug_registers() else {
        log::info!("ACPI: memory hotplug: no memory-hotplug device in the DSDT");
        return;
    };
    if slots == 0 {
        log::info!("ACPI: memory hotplug: the VM has no memory slots (QEMU's -m ...,slots=)");
        return;
    }
    let gpe = match route_sci(tables) {
        Ok(g) => Some(g),
        Err(why) => {
            log::warn!("ACPI: memory hotplug: {why}; polling the slots once a second instead");
            None
        }
    };
    HOTPLUG.call_once(|| Hotplug { port, slots, gpe });
    if let Err(e) = sched::spawn("kacpi_hotplug", Binding::Cpu(0), None, worker) {
        log::error!(
            "ACPI: memory hotplug: no worker thread ({e:?}); hot-added memory stays offline"
        );
        return;
    }
    log::info!(
        "ACPI: memory hotplug: ready: {slots} slots at port {port:#x}, events by {}",
        mode().unwrap_or("?")
    );
}

/// Puts the hardware in ACPI mode, routes the SCI to this CPU and enables
/// the memory-hotplug GPE; the GPE block on success.
fn route_sci(tables: &super::Tables) -> Result<GpeBlock, &'static str> {
    let fadt = tables
        .fadt
        .and_then(|b| acpi_tables::fadt::parse(b).ok())
        .ok_or("no FADT")?;
    let gpe = fadt.gpe0.ok_or("the FADT has no GPE0 block")?;
    let (sts_port, bit) = gpe
        .status_bit(MEMORY_HOTPLUG_GPE)
        .ok_or("GPE0 is too short for event 3")?;
    let (en_port, _) = gpe
        .enable_bit(MEMORY_HOTPLUG_GPE)
        .ok_or("GPE0 is too short")?;
    let madt = tables
        .madt
        .and_then(|b| madt::parse(b).ok())
        .ok_or("no MADT (no I/O APIC to route the SCI through)")?;
    // The SCI is level-triggered and active low unless an override says
    // otherwise (ACPI 6.5, 5.2.9: "sharable, level, active low").
    let (mut gsi, mut signal) = (
        fadt.sci_int as u32,
        Signal {
            level: true,
            active_low: true,
        },
    );
    let mut ioapics = alloc::vec::Vec::new();
    for e in madt.entries().flatten() {
        match e {
            Entry::InterruptOverride { irq, gsi: g, flags } if irq as u16 == fadt.sci_int => {
                gsi = g;
                match flags & 3 {
                    1 => signal.active_low = false,
                    3 => signal.active_low = true,
                    _ => {}
                }
                match (flags >> 2) & 3 {
                    1 => signal.level = false,
                    3 => signal.level = true,
                    _ => {}
                }
            }
            Entry::IoApic {
                address, gsi_base, ..
            } => ioapics.push((address, gsi_base)),
            _ => {}
        }
    }
    enable_acpi_mode(&fadt);
    let ioapic = ioapics
        .iter()
        .filter_map(|&(addr, base)| {
            IoApic::map(addr as u64, base)
                .map_err(|e| log::warn!("ACPI: I/O APIC at {addr:#x}: {e}"))
                .ok()
        })
        .find(|a| a.serves(gsi))
        .ok_or("no I/O APIC serves the SCI's GSI")?;
    set_sci_handler(sci);
    // SAFETY: the GPE0 registers are the FADT's; writing a status bit
    // clears it, and only event 3's enable bit is changed.
    unsafe {
        Port::<u8>::new(sts_port).write(bit);
        let mut en = Port::<u8>::new(en_port);
        let v = en.read();
        en.write(v | bit);
    }
    ioapic
        .route(gsi, apic::SCI_VECTOR, signal, apic::id() as u8)
        .map_err(|e| {
            log::warn!("ACPI: the SCI cannot be routed: {e}");
            "the I/O APIC refused the SCI's route"
        })?;
    log::info!(
        "ACPI: SCI on GSI {gsi} ({}, active {}), vector {:#x}; GPE0 at port {:#x}, event {MEMORY_HOTPLUG_GPE} enabled",
        if signal.level { "level" } else { "edge" },
        if signal.active_low { "low" } else { "high" },
        apic::SCI_VECTOR,
        gpe.port
    );
    Ok(gpe)
}

/// Writes the FADT's ACPI_ENABLE to its SMI command port when SCI_EN is
/// clear, and waits (up to 100 ms) for the hardware to set it.
fn enable_acpi_mode(fadt: &acpi_tables::fadt::Fadt) {
    let (Some(smi), Some(cnt)) = (fadt.smi_cmd, fadt.pm1a_control) else {
        return;
    };
    // SAFETY: PM1a_CNT is the FADT's control register; reading it has no
    // effect.
    let sci_en = || unsafe { Port::<u16>::new(cnt).read() } & SCI_EN != 0;
    if sci_en() || fadt.acpi_enable == 0 {
        return;
    }
    // SAFETY: the FADT's SMI command port and value for entering ACPI mode.
    unsafe { Port::<u8>::new(smi).write(fadt.acpi_enable) };
    let deadline = crate::arch::x86_64::tsc::ns_since_boot() + 100_000_000;
    while !sci_en() && crate::arch::x86_64::tsc::ns_since_boot() < deadline {
        core::hint::spin_loop();
    }
    log::info!(
        "ACPI: ACPI mode {} (SMI command {:#x} to port {smi:#x})",
        if sci_en() { "entered" } else { "not entered" },
        fadt.acpi_enable
    );
}

/// The SCI: acknowledges the memory-hotplug event and wakes the worker.
/// Other events are not enabled, so this one is the only cause.
fn sci() {
    let Some(gpe) = HOTPLUG.get().and_then(|h| h.gpe) else {
        return;
    };
    let Some((port, bit)) = gpe.status_bit(MEMORY_HOTPLUG_GPE) else {
        return;
    };
    // SAFETY: GPE0's status register; writing the bit back clears it (the
    // line is level-triggered and stays asserted until then).
    let set = unsafe {
        let mut p = Port::<u8>::new(port);
        let set = p.read() & bit != 0;
        if set {
            p.write(bit);
        }
        set
    };
    if set {
        SCI_EVENTS.fetch_add(1, Relaxed);
        PENDING.store(true, Relaxed);
        WAKE.wake_all();
    }
}

fn worker() {
    let Some(h) = HOTPLUG.get() else { return };
    loop {
        let timeout = if h.gpe.is_some() {
            None
        } else {
            Some(1_000_000_000)
        };
        WAKE.wait_event(|| PENDING.load(Relaxed), timeout);
        PENDING.store(false, Relaxed);
        scan(h);
        SCANNED.wake_all();
    }
}

/// One slot's registers, selected.
struct Slot<'h> {
    h: &'h Hotplug,
}

impl Slot<'_> {
    fn read(&self, off: u16) -> u32 {
        // SAFETY: QEMU's memory-hotplug block, as the DSDT's HPMR names it;
        // reads of a selected slot have no side effects.
        unsafe { Port::<u32>::new(self.h.port + off).read() }
    }

    fn write(&self, off: u16, v: u32) {
        // SAFETY: as above; the writes are the selector, the _OST
        // registers and the event-clear bits.
        unsafe { Port::<u32>::new(self.h.port + off).write(v) }
    }

    fn flags(&self) -> u8 {
        // SAFETY: as in `read`, one byte at the flags offset.
        unsafe { Port::<u8>::new(self.h.port + REG_FLAGS).read() }
    }

    /// Writes the control register: an event bit clears that event,
    /// the eject bit ejects the device.
    fn control(&self, bits: u8) {
        // SAFETY: the control register at the flags offset; the bits
        // written are the documented event-clear and eject bits.
        unsafe { Port::<u8>::new(self.h.port + REG_FLAGS).write(bits) }
    }

    fn ost(&self, event: u32, status: u32) {
        self.write(REG_OST_EVENT, event);
        self.write(REG_OST_STATUS, status);
    }
}

fn scan(h: &Hotplug) {
    for n in 0..h.slots {
        let slot = Slot { h };
        // Select and read under the register lock; the onlining itself
        // (which allocates and may sleep) happens outside it.
        let (flags, base, len, pxm) = {
            let _regs = aml::HOTPLUG_REGISTERS.lock();
            slot.write(REG_SELECTOR, n);
            let flags = slot.flags();
            let base = (slot.read(REG_BASE_HI) as u64) << 32 | slot.read(REG_BASE_LO) as u64;
            let len = (slot.read(REG_LEN_HI) as u64) << 32 | slot.read(REG_LEN_LO) as u64;
            (flags, base, len, slot.read(REG_PROXIMITY))
        };
        if flags & FLAG_INSERT != 0 {
            let status = insert(n, base, len, pxm, flags & FLAG_ENABLED != 0);
            let _regs = aml::HOTPLUG_REGISTERS.lock();
            slot.write(REG_SELECTOR, n);
            slot.ost(OST_DEVICE_CHECK, status);
            slot.control(FLAG_INSERT);
        }
        if flags & FLAG_REMOVE != 0 {
            {
                let _regs = aml::HOTPLUG_REGISTERS.lock();
                slot.write(REG_SELECTOR, n);
                slot.control(FLAG_REMOVE);
            }
            let ejected = remove(n, base, len, pxm);
            let _regs = aml::HOTPLUG_REGISTERS.lock();
            slot.write(REG_SELECTOR, n);
            if ejected {
                // _OST first, while the slot still names its device.
                slot.ost(OST_EJECT_REQUEST, OST_SUCCESS);
                slot.control(CONTROL_EJECT);
            } else {
                slot.ost(OST_EJECT_REQUEST, OST_DEVICE_BUSY);
            }
        }
    }
}

/// Onlines one inserted device; the _OST status to report.
fn insert(slot: u32, base: u64, len: u64, pxm: u32, enabled: bool) -> u32 {
    let end = base.saturating_add(len);
    let refuse = |why: &dyn core::fmt::Display| {
        log::error!(
            "ACPI: memory hotplug: slot {slot}: [mem {base:#018x}-{:#018x}] (PXM {pxm}) refused: {why}",
            end.saturating_sub(1)
        );
        REFUSED.fetch_add(1, Relaxed);
        OST_FAILURE
    };
    if !enabled || len == 0 {
        return refuse(&"the slot reports no enabled memory");
    }
    let Some(node) = crate::numa::topology().node_of_pxm(pxm) else {
        return refuse(&"its proximity domain names no node of the SRAT");
    };
    match crate::mm::memory_hotplug::add_memory(node, base, len) {
        Ok(added) => {
            log::info!(
                "ACPI: memory hotplug: slot {slot}: [mem {base:#018x}-{:#018x}] on node {node} (PXM {pxm}): {added}",
                end - 1
            );
            ADDED.fetch_add(1, Relaxed);
            crate::numa::print_numactl();
            OST_SUCCESS
        }
        Err(e) => refuse(&e),
    }
}

/// Takes one device's memory offline for its ejection; whether it may go.
fn remove(slot: u32, base: u64, len: u64, pxm: u32) -> bool {
    let end = base.saturating_add(len).saturating_sub(1);
    let Some(node) = crate::numa::topology().node_of_pxm(pxm) else {
        log::error!("ACPI: memory hotplug: slot {slot}: removal refused: PXM {pxm} names no node");
        REMOVAL_REFUSED.fetch_add(1, Relaxed);
        return false;
    };
    log::info!(
        "ACPI: memory hotplug: slot {slot}: [mem {base:#018x}-{end:#018x}] on node {node}: removal requested"
    );
    match crate::mm::memory_offline::remove_memory(node, base, len) {
        Ok(removed) => {
            log::info!(
                "ACPI: memory hotplug: slot {slot}: [mem {base:#018x}-{end:#018x}] on node {node}: {removed}; ejecting"
            );
            REMOVED.fetch_add(1, Relaxed);
            crate::numa::print_numactl();
            true
        }
        Err(e) => {
            log::error!(
                "ACPI: memory hotplug: slot {slot}: [mem {base:#018x}-{end:#018x}] on node {node}: removal refused: {e}"
            );
            REMOVAL_REFUSED.fetch_add(1, Relaxed);
            false
        }
    }
}
