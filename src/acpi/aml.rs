//! AML: the DSDT and SSDTs loaded into the `acpi` crate's interpreter
//! (which performs the port, memory and PCI-configuration accesses AML
//! asks for through [`KernelAcpi`]), the namespace initialised (`_STA`,
//! `_INI`), and what the kernel asks of it: the sleep type of `\_S5` for
//! a clean power-off, and the ACPI memory devices (PNP0C80) with their
//! ranges, proximity domains and status.
//!
//! Nothing here is fatal: a table the interpreter cannot load, or a method
//! it cannot run, is reported by name and the kernel goes on without it.

use super::{KernelAcpi, Tables};
use acpi::aml::namespace::AmlName;
use acpi::aml::object::{Object, WrappedObject};
use acpi::aml::Interpreter;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::str::FromStr;
use spin::Mutex;

/// The interpreter; its objects are reference-counted without atomics, so
/// it is only touched under this lock.
struct Aml(Interpreter<KernelAcpi>);

// SAFETY: the interpreter is only reached through `AML`'s lock, so one CPU
// at a time uses it and its non-atomic reference counts.
unsafe impl Send for Aml {}

static AML: Mutex<Option<Aml>> = Mutex::new(None);

/// What the power-off needs from the FADT, kept from boot.
static PM1_CONTROL: Mutex<(Option<u16>, Option<u16>)> = Mutex::new((None, None));

/// Loads the DSDT and SSDTs and initialises the namespace. Needs the heap
/// (after `mm::slab::init`).
pub fn init(tables: &Tables) {
    if let Some(f) = tables.fadt.and_then(|b| acpi_tables::fadt::parse(b).ok()) {
        *PM1_CONTROL.lock() = (f.pm1a_control, f.pm1b_control);
    }
    let (Some(dsdt), Some((revision, root))) = (tables.dsdt, tables.root) else {
        log::warn!(
            "ACPI: AML: no DSDT; no AML namespace (power-off falls back to QEMU's exit device)"
        );
        return;
    };
    let start = crate::arch::x86_64::tsc::ns_since_boot();
    // SAFETY: the root table was validated by `acpi::init` (signature,
    // length, checksum), so the crate's walk of its entries stays inside.
    let crate_tables =
        match unsafe { acpi::AcpiTables::from_rsdt(KernelAcpi, revision, root as usize) } {
            Ok(t) => t,
            Err(e) => {
                log::error!("ACPI: AML: the root table: {e:?}; no AML namespace");
                return;
            }
        };
    let Some(fadt) = crate_tables.find_table::<acpi::sdt::fadt::Fadt>() else {
        log::error!("ACPI: AML: no FADT; no AML namespace");
        return;
    };
    let registers = match acpi::registers::FixedRegisters::new(&fadt, KernelAcpi) {
        // The crate's interface takes an Arc; like the interpreter that
        // holds it, it is only used under AML's lock.
        #[allow(clippy::arc_with_non_send_sync)]
        Ok(r) => Arc::new(r),
        Err(e) => {
            log::error!("ACPI: AML: the FADT's fixed registers: {e:?}; no AML namespace");
            return;
        }
    };
    let interpreter = Interpreter::new(KernelAcpi, dsdt[8], registers, None);
    let mut loaded = 0;
    let header = acpi_tables::HEADER_LEN;
    for (name, bytes) in
        core::iter::once(("DSDT", dsdt)).chain(tables.ssdts.iter().flatten().map(|b| ("SSDT", *b)))
    {
        match interpreter.load_table(&bytes[header..]) {
            Ok(()) => loaded += 1,
            Err(e) => log::error!(
                "ACPI: AML: {name} ({} bytes) did not load whole: {e:?}; the definitions after the failure are missing",
                bytes.len()
            ),
        }
    }
    interpreter.initialize_namespace();
    replace_qemu_mcrs(&interpreter);
    let ms = (crate::arch::x86_64::tsc::ns_since_boot() - start) / 1_000_000;
    let (heap_used, heap_size) = crate::mm::early_heap::usage();
    log::info!(
        "ACPI: AML: {loaded} of {} tables loaded ({} bytes of AML), namespace initialised in {ms} ms; early heap {} of {} KiB in use",
        1 + tables.ssdts.iter().flatten().count(),
        dsdt.len() + tables.ssdts.iter().flatten().map(|b| b.len()).sum::<usize>(),
        heap_used >> 10,
        heap_size >> 10
    );
    *AML.lock() = Some(Aml(interpreter));
}

/// QEMU's memory-hotplug method `\_SB.MHPC.MCRS(slot)` builds a DIMM
/// slot's `_CRS` with arithmetic on buffer fields, which the acpi crate
/// 6.1.1 cannot do (its maths takes only integers: "expected Integer, got
/// BufferField"), so no DIMM's range could be read. This native method
/// does exactly what that AML does, through the same operation region
/// (`\_SB.PCI0.MHPD.HPMR`, from the namespace): write the slot to MSEL
/// (offset 0), read base and length (MRBL/MRBH at 0/4, MRLL/MRLH at 8/12)
/// and return the same QWord memory descriptor. Installed only where that
/// method and region exist as QEMU describes them.
/// QEMU's memory-hotplug registers: the port of `\_SB.PCI0.MHPD.HPMR`
/// (0 until the namespace names it).
static HOTPLUG_PORT: core::sync::atomic::AtomicU16 = core::sync::atomic::AtomicU16::new(0);

/// Held across a select-then-read of the hotplug registers (the native
/// MCRS and the hotplug worker both select slots).
pub static HOTPLUG_REGISTERS: Mutex<()> = Mutex::new(());

/// Where QEMU's memory-hotplug registers are and how many slots they
/// select among (`\_SB.MHPC.MDNR`), from the namespace; None where
/// the DSDT describes no such device.
pub fn memory_hotplug_registers() -> Option<(u16, u32)> {
    let port = HOTPLUG_PORT.load(core::sync::atomic::Ordering::Relaxed);
    if port == 0 {
        return None;
    }
    let guard = AML.lock();
    let aml = guard.as_ref()?;
    let slots = ["\\_SB.MHPC.MDNR", "\\_SB.PCI0.MHPD.MDNR"]
        .iter()
        .find_map(|path| evaluate(aml, path).and_then(|o| to_integer(&o)))?;
    Some((port, slots.min(256) as u32))
}

fn replace_qemu_mcrs(interpreter: &Interpreter<KernelAcpi>) {
    let (Some(mcrs), Some(hpmr)) = (name("\\_SB.MHPC.MCRS"), name("\\_SB.PCI0.MHPD.HPMR")) else {
        return;
    };
    let mut ns = interpreter.namespace.lock();
    if !matches!(ns.get(mcrs.clone()).as_deref(), Ok(Object::Method { .. })) {
        return;
    }
    let port = match ns.get(hpmr).as_deref() {
        Ok(Object::OpRegion(r))
            if r.space == acpi::aml::op_region::RegionSpace::SystemIO && r.length >= 0x18 =>
        {
            r.base as u16
        }
        _ => return,
    };
    HOTPLUG_PORT.store(port, core::sync::atomic::Ordering::Relaxed);
    let native = Object::native_method(1, move |args| {
        // MCRS converts its argument with ToInteger: QEMU passes the
        // slot's _UID, a string such as "0x00".
        let slot = args
            .first()
            .and_then(to_integer)
            .ok_or(acpi::aml::AmlError::MethodArgCountIncorrect)?;
        let reg = |off: u16| x86_64::instructions::port::Port::<u32>::new(port + off);
        let _regs = HOTPLUG_REGISTERS.lock();
        // SAFETY: the ports are QEMU's memory-hotplug registers, named by
        // the DSDT's HPMR region; this is the access sequence MCRS makes.
        let (base, len) = unsafe {
            reg(0).write(slot as u32);
            let lo = reg(0).read() as u64;
            let hi = reg(4).read() as u64;
            let llo = reg(8).read() as u64;
            let lhi = reg(12).read() as u64;
            ((hi << 32) | lo, (lhi << 32) | llo)
        };
        Ok(WrappedObject::new(Object::Buffer(qword_memory_template(
            base, len,
        ))))
    });
    match ns.insert(mcrs, WrappedObject::new(native)) {
        Ok(()) => log::info!(
            "ACPI: AML: \\_SB.MHPC.MCRS replaced by a native method (the interpreter cannot run its buffer-field arithmetic); hotplug registers at port {port:#x}"
        ),
        Err(e) => log::warn!("ACPI: AML: could not replace \\_SB.MHPC.MCRS: {e:?}"),
    }
}

/// A resource template with one QWord memory descriptor and the end tag.
fn qword_memory_template(base: u64, len: u64) -> Vec<u8> {
    let mut t = vec![0u8; 48];
    t[0] = 0x8a; // QWord address space
    t[1] = 43;
    t[3] = 0; // memory
    t[4] = 0x0c; // min and max fixed
    t[5] = 0x01; // read-write
    t[14..22].copy_from_slice(&base.to_le_bytes());
    t[22..30].copy_from_slice(&base.wrapping_add(len).wrapping_sub(1).to_le_bytes());
    t[38..46].copy_from_slice(&len.to_le_bytes());
    t[46] = 0x79; // end tag
    t
}

fn name(path: &str) -> Option<AmlName> {
    AmlName::from_str(path).ok()
}

/// AML's ToInteger of an integer, a string ("0x1f" or "31") or a buffer.
fn to_integer(o: &WrappedObject) -> Option<u64> {
    match **o {
        Object::Integer(v) => Some(v),
        Object::String(ref s) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => t.parse().ok(),
            }
        }
        Object::Buffer(ref b) => Some(b.iter().take(8).rev().fold(0, |v, &x| (v << 8) | x as u64)),
        _ => None,
    }
}

/// Evaluates `path` (a method is run with no arguments), reporting a
/// failure by name; None if absent or failed.
fn evaluate(aml: &Aml, path: &str) -> Option<WrappedObject> {
    let n = name(path)?;
    match aml.0.evaluate_if_present(n, vec![]) {
        Ok(v) => v,
        Err(e) => {
            log::warn!("ACPI: AML: {path} could not run: {e:?}; skipped");
            None
        }
    }
}

/// The SLP_TYPa and SLP_TYPb values of a sleep state's package (`\_S5`).
pub fn sleep_type(state: &str) -> Option<(u8, u8)> {
    let guard = AML.lock();
    let aml = guard.as_ref()?;
    let obj = evaluate(aml, state)?;
    let Object::Package(ref elems) = *obj else {
        log::warn!("ACPI: AML: {state} is not a package");
        return None;
    };
    let a = elems.first().and_then(to_integer)?;
    let b = elems.get(1).and_then(to_integer).unwrap_or(a);
    Some((a as u8, b as u8))
}

/// Bit 13 of PM1 control: enter the sleep state SLP_TYP names.
const SLP_EN: u16 = 1 << 13;
const SLP_TYP_SHIFT: u16 = 10;
const SLP_TYP_MASK: u16 = 7 << SLP_TYP_SHIFT;

/// Powers the machine off the ACPI way: `\_PTS(5)` if present, then
/// SLP_TYPa/b of `\_S5` with SLP_EN into PM1a/PM1b control. Returns only
/// if that did not stop the machine (with why).
pub fn power_off() -> Result<(), &'static str> {
    let (typ_a, typ_b) = sleep_type("\\_S5").ok_or("no usable \\_S5 package")?;
    let (pm1a, pm1b) = *PM1_CONTROL.lock();
    let pm1a = pm1a.ok_or("the FADT has no PM1a control block")?;
    if let Some(aml) = AML.lock().as_ref() {
        if let Some(pts) = name("\\_PTS") {
            let five = WrappedObject::new(Object::Integer(5));
            if let Err(e) = aml.0.evaluate_if_present(pts, vec![five]) {
                log::warn!("ACPI: AML: \\_PTS(5) could not run: {e:?}; going on");
            }
        }
    }
    // Printed whatever the loglevel: run-qemu.sh reads it to tell a clean
    // power-off from a reset (QEMU exits 0 for both under -no-reboot).
    crate::kprintln!("reboot: Power down (ACPI S5: SLP_TYPa {typ_a}, SLP_TYPb {typ_b}, PM1a control port {pm1a:#x})");
    for (port, typ) in [(Some(pm1a), typ_a), (pm1b, typ_b)] {
        let Some(port) = port else { continue };
        let mut p = x86_64::instructions::port::Port::<u16>::new(port);
        // SAFETY: the FADT names this port as PM1 control; writing the
        // sleep type and SLP_EN is what the specification asks for S5.
        unsafe {
            let v = (p.read() & !(SLP_TYP_MASK | SLP_EN)) | ((typ as u16) << SLP_TYP_SHIFT);
            p.write(v);
            p.write(v | SLP_EN);
        }
    }
    // The write takes effect at once under QEMU; give real hardware a moment.
    let start = crate::arch::x86_64::tsc::ns_since_boot();
    while crate::arch::x86_64::tsc::ns_since_boot() - start < 1_000_000_000 {
        core::hint::spin_loop();
    }
    Err("the machine is still running one second after SLP_EN")
}

/// One ACPI memory device (PNP0C80), as AML describes it.
#[derive(Clone, Debug)]
pub struct MemoryDevice {
    pub path: String,
    /// `_STA`: present, enabled, shown, functioning (0xf); absent if 0.
    pub status: u64,
    /// `_PXM`: the proximity domain.
    pub pxm: Option<u32>,
    /// `_CRS` memory ranges: [start, end).
    pub ranges: Vec<(u64, u64)>,
}

static MEMORY_DEVICES: spin::Once<Vec<MemoryDevice>> = spin::Once::new();

/// Every PNP0C80 device in the namespace with its `_STA`, `_PXM` and the
/// memory ranges of its `_CRS`, evaluated once (after `init`): coldplugged
/// devices do not change, and under a slow accelerator each evaluation
/// costs. A device whose methods fail is reported and listed with what
/// could be read.
pub fn memory_devices() -> &'static [MemoryDevice] {
    MEMORY_DEVICES.call_once(find_memory_devices)
}

fn find_memory_devices() -> Vec<MemoryDevice> {
    let guard = AML.lock();
    let Some(aml) = guard.as_ref() else {
        return Vec::new();
    };
    let mut paths: Vec<String> = Vec::new();
    let pnp0c80 = eisa_id("PNP0C80");
    // The paths first, under the namespace lock; the methods run after it
    // is dropped (they take it themselves).
    let mut namespace = aml.0.namespace.lock();
    let _ = namespace.traverse(|path, level| {
        let hid_seg = acpi::aml::namespace::NameSeg::from_bytes(*b"_HID")?;
        if let Some(hid) = level.values.get(&hid_seg) {
            let is_memory = match *hid.1 {
                Object::Integer(v) => v == pnp0c80 as u64,
                Object::String(ref s) => s == "PNP0C80",
                _ => false,
            };
            if is_memory {
                paths.push(alloc::format!("{path}"));
            }
        }
        Ok(true)
    });
    drop(namespace);
    paths
        .into_iter()
        .map(|path| {
            let status = evaluate(aml, &alloc::format!("{path}._STA"))
                .and_then(|o| to_integer(&o))
                .unwrap_or(0xf);
            let pxm = evaluate(aml, &alloc::format!("{path}._PXM"))
                .and_then(|o| to_integer(&o))
                .map(|v| v as u32);
            let mut ranges = Vec::new();
            // An absent device's _CRS describes nothing (QEMU's is empty).
            let crs = if status != 0 {
                evaluate(aml, &alloc::format!("{path}._CRS"))
            } else {
                None
            };
            if let Some(o) = crs {
                match *o {
                    Object::Buffer(ref b) => {
                        let mut out = [(0, 0); 8];
                        match acpi_tables::resource::memory_ranges(b, &mut out) {
                            Ok(0) => {
                                log::warn!("ACPI: AML: {path}._CRS has no memory range: {b:02x?}")
                            }
                            Ok(n) => ranges.extend_from_slice(&out[..n]),
                            Err(e) => {
                                log::warn!("ACPI: AML: {path}._CRS: {e:?}; its ranges skipped")
                            }
                        }
                    }
                    ref other => log::warn!("ACPI: AML: {path}._CRS gave {other}, not a buffer"),
                }
            }
            MemoryDevice {
                path,
                status,
                pxm,
                ranges,
            }
        })
        .collect()
}

/// A compressed EISA ID ("PNP0C80") as AML stores it in `_HID`.
fn eisa_id(id: &str) -> u32 {
    let b = id.as_bytes();
    let c = |x: u8| (x - b'@') as u32 & 0x1f;
    let hex = |x: u8| (x as char).to_digit(16).unwrap_or(0);
    let mfg = (c(b[0]) << 10) | (c(b[1]) << 5) | c(b[2]);
    let prod = (hex(b[3]) << 12) | (hex(b[4]) << 8) | (hex(b[5]) << 4) | hex(b[6]);
    // Stored little-endian with the manufacturer's two bytes swapped.
    let v = (mfg << 16) | prod;
    ((v >> 24) & 0xff) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff_0000) | ((v << 24) & 0xff00_0000)
}

/// Adds the memory of every present ACPI memory device to memblock, where
/// the zones will find it (as ZONE_MOVABLE).
pub fn add_memory_devices(mem_limit: Option<u64>) {
    for d in memory_devices().iter().filter(|d| d.status != 0) {
        for &(start, end) in &d.ranges {
            crate::mm::memblock::add_device_memory(start, end, d.pxm, mem_limit);
        }
    }
}

/// Logs every ACPI memory device (PNP0C80) AML describes: where its
/// memory is, on which node, and whether it is present.
pub fn report_memory_devices() {
    for d in memory_devices().iter() {
        let node = d.pxm.and_then(|p| crate::numa::topology().node_of_pxm(p));
        if d.status == 0 {
            log::info!("ACPI: memory device {}: not present (_STA 0)", d.path);
            continue;
        }
        if d.ranges.is_empty() {
            log::warn!(
                "ACPI: memory device {}: present (_STA {:#x}), PXM {}, node {}, but no memory range could be read from its _CRS; its memory is not used",
                d.path,
                d.status,
                d.pxm.map_or(-1, |p| p as i64),
                node.map_or(-1, |n| n as i64)
            );
        }
        for &(start, end) in &d.ranges {
            log::info!(
                "ACPI: memory device {}: [mem {start:#018x}-{:#018x}] {} MiB, PXM {}, node {}, _STA {:#x}",
                d.path,
                end - 1,
                (end - start) >> 20,
                d.pxm.map_or(-1, |p| p as i64),
                node.map_or(-1, |n| n as i64),
                d.status
            );
        }
    }
}
