//! The console: the COM1 UART behind the `log` facade.
//!
//! Log lines read `[    0.012345] C0 message`: seconds since the boot
//! stub's first instruction (TSC) and the CPU number; warnings and errors
//! say so after the CPU. Filtering follows Linux's console loglevel: a
//! message prints when its Linux level (error 3, warning 4, info 6,
//! debug 7, trace 8) is below `loglevel=`.
//!
//! Self-test KTAP and reports are printed with `kprintln!`, unfiltered and
//! without prefix, so parsers see their lines exactly.

use crate::arch::x86_64::{cpu_id, serial::Uart16550, tsc};
use core::fmt::Write;
use core::sync::atomic::{AtomicU8, Ordering};
use spin::Mutex;

static SERIAL: Mutex<Uart16550> = Mutex::new(Uart16550::com1());
static LOGLEVEL: AtomicU8 = AtomicU8::new(cmdline::LOGLEVEL_DEFAULT);

struct Logger;
static LOGGER: Logger = Logger;

/// Linux's level number for a `log` level.
fn linux_level(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug => 7,
        log::Level::Trace => 8,
    }
}

impl log::Log for Logger {
    fn enabled(&self, meta: &log::Metadata) -> bool {
        linux_level(meta.level()) < LOGLEVEL.load(Ordering::Relaxed)
    }

    fn log(&self, record: &log::Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let ns = tsc::ns_since_boot();
        let tag = match record.level() {
            log::Level::Error => "error: ",
            log::Level::Warn => "warning: ",
            _ => "",
        };
        crate::kprintln!(
            "[{:5}.{:06}] C{} {}{}",
            ns / 1_000_000_000,
            (ns / 1000) % 1_000_000,
            cpu_id(),
            tag,
            record.args()
        );
    }

    fn flush(&self) {}
}

/// Serial output works from here on; so does `log` (at the default level).
pub fn init() {
    SERIAL.lock().init();
    // A second call would fail harmlessly; there is none.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
}

pub fn set_loglevel(level: u8) {
    LOGLEVEL.store(level, Ordering::Relaxed);
}

#[doc(hidden)]
pub fn _print(args: core::fmt::Arguments) {
    let _ = SERIAL.lock().write_fmt(args);
}

/// `core::fmt::Write` onto the console, for reports written by host crates.
pub struct Writer;

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        _print(format_args!("{s}"));
        Ok(())
    }
}

/// For the fatal path: a writer that does not wait for the console lock,
/// which the dying context may hold. Output may interleave; it is the last.
pub fn emergency_writer() -> impl Write {
    Uart16550::com1()
}

#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kprintln {
    () => { $crate::kprint!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}
