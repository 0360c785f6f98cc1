//! Running a function on other CPUs: Linux's smp_call_function_single,
//! smp_call_function and on_each_cpu. The caller puts the function in the
//! target's call slot, sends the CALL_FUNCTION vector, and waits until the
//! target says it ran it.
//!
//! Callers must not hold a lock the function takes; the function runs in
//! interrupt context on the target (interrupts off) and must not sleep.

use super::apic;
use super::percpu::{self, PerCpu};
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

type CallFn = dyn Fn(u32) + Sync;

/// One CPU's mailbox: a pending function, and how many it has completed.
pub struct CallSlot {
    pending: Mutex<Option<*const CallFn>>,
    completed: AtomicU64,
}

// SAFETY: the pointer is only dereferenced by the target while the sender
// waits for completion, so the function outlives every use; `CallFn` is Sync.
unsafe impl Send for CallSlot {}
unsafe impl Sync for CallSlot {}

impl CallSlot {
    pub const fn new() -> Self {
        CallSlot {
            pending: Mutex::new(None),
            completed: AtomicU64::new(0),
        }
    }
}

/// How long a target may take before the caller reports it (TSC ns).
const CALL_TIMEOUT_NS: u64 = 10_000_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum CallError {
    /// The CPU does not exist or is not online.
    Offline(u32),
    /// The CPU did not run the function in time.
    Timeout(u32),
}

fn post(target: &PerCpu, f: &CallFn) -> u64 {
    let before = target.call.completed.load(Ordering::Acquire);
    // Erase the borrow's lifetime: the caller waits for completion.
    let f: *const CallFn = f;
    // SAFETY: only changes the lifetime in the type; see CallSlot.
    let f: *const CallFn = unsafe { core::mem::transmute::<*const CallFn, *const CallFn>(f) };
    loop {
        let mut slot = target.call.pending.lock();
        if slot.is_none() {
            *slot = Some(f);
            break;
        }
        drop(slot);
        core::hint::spin_loop();
    }
    apic::send_ipi(target.apic_id, apic::CALL_FUNCTION_VECTOR);
    before
}

fn wait(target: &PerCpu, before: u64) -> Result<(), CallError> {
    let start = super::tsc::ns_since_boot();
    while target.call.completed.load(Ordering::Acquire) == before {
        if super::tsc::ns_since_boot() - start > CALL_TIMEOUT_NS {
            return Err(CallError::Timeout(target.cpu));
        }
        core::hint::spin_loop();
    }
    Ok(())
}

fn online_target(cpu: u32) -> Result<&'static PerCpu, CallError> {
    percpu::cpu(cpu as usize)
        .filter(|c| c.online.load(Ordering::Acquire))
        .ok_or(CallError::Offline(cpu))
}

/// Runs `f(cpu)` on CPU `cpu` and waits for it. On the calling CPU itself
/// it runs directly.
pub fn call_on(cpu: u32, f: &CallFn) -> Result<(), CallError> {
    if cpu == percpu::cpu_id() {
        f(cpu);
        return Ok(());
    }
    let target = online_target(cpu)?;
    let before = post(target, f);
    wait(target, before)
}

/// Runs `f(cpu)` on every other online CPU at once and waits for all.
pub fn call_on_others(f: &CallFn) -> Result<(), CallError> {
    let me = percpu::cpu_id();
    let mut posted = [(0u32, 0u64); numa::MAX_CPUS];
    let mut n = 0;
    for c in percpu::online().filter(|c| c.cpu != me) {
        posted[n] = (c.cpu, post(c, f));
        n += 1;
    }
    let mut result = Ok(());
    for &(cpu, before) in &posted[..n] {
        if let Err(e) = wait(online_target(cpu)?, before) {
            result = Err(e);
        }
    }
    result
}

/// Runs `f(cpu)` on every online CPU, this one included (this one while
/// the others run), and waits for all.
pub fn on_each_cpu(f: &CallFn) -> Result<(), CallError> {
    let me = percpu::cpu_id();
    let mut posted = [(0u32, 0u64); numa::MAX_CPUS];
    let mut n = 0;
    for c in percpu::online().filter(|c| c.cpu != me) {
        posted[n] = (c.cpu, post(c, f));
        n += 1;
    }
    f(me);
    let mut result = Ok(());
    for &(cpu, before) in &posted[..n] {
        if let Err(e) = wait(online_target(cpu)?, before) {
            result = Err(e);
        }
    }
    result
}

/// The CALL_FUNCTION vector's work, on the target CPU.
pub fn handle_call() {
    let Some(me) = percpu::this_cpu() else {
        return;
    };
    let f = me.call.pending.lock().take();
    if let Some(f) = f {
        // SAFETY: the sender waits until `completed` moves, so `f` is alive.
        unsafe { (*f)(me.cpu) };
        me.ipis_handled.fetch_add(1, Ordering::Relaxed);
        me.call.completed.fetch_add(1, Ordering::Release);
    }
}
