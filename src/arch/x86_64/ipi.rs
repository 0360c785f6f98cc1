//! Running a function on other CPUs: Linux's smp_call_function_single,
//! smp_call_function and on_each_cpu. The caller puts the function in the
//! target's call slot, sends the CALL_FUNCTION vector, and waits until the
//! target says it ran it.
//!
//! Callers must not hold a lock the function takes; the function runs in
//! interrupt context on the target (interrupts off) and must not sleep.
//!
//! `schedule_on_each_cpu` is the other kind: work that runs in each CPU's
//! idle loop, in process context with interrupts on (Linux runs it from a
//! per-CPU workqueue), so it may allocate with GFP_KERNEL.

use super::apic;
use super::percpu::{self, PerCpu};
use core::sync::atomic::Ordering;

use super::percpu::{CallFn, CallSlot};

/// How long a target may take before the caller reports it (TSC ns).
const CALL_TIMEOUT_NS: u64 = 10_000_000_000;

#[derive(Debug, PartialEq, Eq)]
pub enum CallError {
    /// The CPU does not exist or is not online.
    Offline(u32),
    /// The CPU did not run the function in time.
    Timeout(u32),
}

/// Which mailbox of a CPU: interrupt context or its idle loop.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Interrupt,
    Process,
}

fn slot(target: &PerCpu, context: Context) -> &CallSlot {
    match context {
        Context::Interrupt => &target.call,
        Context::Process => &target.work,
    }
}

fn post(target: &PerCpu, f: &CallFn<'_>, context: Context) -> u64 {
    let mailbox = slot(target, context);
    let before = mailbox.completed.load(Ordering::Acquire);
    // SAFETY: only the lifetime changes; the caller waits for completion
    // before `f` goes away (see CallSlot).
    let f: *const CallFn<'static> =
        unsafe { core::mem::transmute::<&CallFn<'_>, &CallFn<'static>>(f) };
    loop {
        let mut pending = mailbox.pending.lock();
        if pending.is_none() {
            *pending = Some(f);
            break;
        }
        drop(pending);
        core::hint::spin_loop();
    }
    // The vector also wakes an idle CPU to look at its work mailbox.
    apic::send_ipi(target.apic_id, apic::CALL_FUNCTION_VECTOR);
    before
}

fn wait(target: &PerCpu, before: u64, context: Context, timeout_ns: u64) -> Result<(), CallError> {
    let start = super::tsc::ns_since_boot();
    while slot(target, context).completed.load(Ordering::Acquire) == before {
        if super::tsc::ns_since_boot() - start > timeout_ns {
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
pub fn call_on(cpu: u32, f: &CallFn<'_>) -> Result<(), CallError> {
    if cpu == percpu::cpu_id() {
        f(cpu);
        return Ok(());
    }
    let target = online_target(cpu)?;
    let before = post(target, f, Context::Interrupt);
    wait(target, before, Context::Interrupt, CALL_TIMEOUT_NS)
}

/// Runs `f(cpu)` in CPU `cpu`'s idle loop (process context, interrupts
/// on) and waits up to `timeout_ns`: for long work such as a benchmark
/// round, which the usual 10 s would cut short under a slow accelerator.
/// On the calling CPU itself it runs directly.
pub fn schedule_on_cpu(cpu: u32, f: &CallFn<'_>, timeout_ns: u64) -> Result<(), CallError> {
    if cpu == percpu::cpu_id() {
        f(cpu);
        return Ok(());
    }
    let target = online_target(cpu)?;
    let before = post(target, f, Context::Process);
    wait(target, before, Context::Process, timeout_ns)
}

/// Posts `f` to every online CPU but this one, runs it here (when
/// `include_self`), and waits for the others.
fn broadcast(
    f: &CallFn<'_>,
    context: Context,
    include_self: bool,
    timeout_ns: u64,
) -> Result<(), CallError> {
    let me = percpu::cpu_id();
    let mut posted = [(0u32, 0u64); numa::MAX_CPUS];
    let mut n = 0;
    for c in percpu::online().filter(|c| c.cpu != me) {
        posted[n] = (c.cpu, post(c, f, context));
        n += 1;
    }
    if include_self {
        f(me);
    }
    let mut result = Ok(());
    for &(cpu, before) in &posted[..n] {
        if let Err(e) = wait(online_target(cpu)?, before, context, timeout_ns) {
            result = Err(e);
        }
    }
    result
}

/// Runs `f(cpu)` on every online CPU, this one included (while the others
/// run), in interrupt context on the others, and waits for all.
pub fn on_each_cpu(f: &CallFn<'_>) -> Result<(), CallError> {
    broadcast(f, Context::Interrupt, true, CALL_TIMEOUT_NS)
}

/// Runs `f(cpu)` on every online CPU at once in process context
/// (interrupts on, allocation may sleep), this one included, and waits.
pub fn schedule_on_each_cpu(f: &CallFn<'_>) -> Result<(), CallError> {
    broadcast(f, Context::Process, true, CALL_TIMEOUT_NS)
}

/// As `schedule_on_each_cpu`, waiting up to `timeout_ns` for each CPU.
pub fn schedule_on_each_cpu_for(f: &CallFn<'_>, timeout_ns: u64) -> Result<(), CallError> {
    broadcast(f, Context::Process, true, timeout_ns)
}

/// Posts `f` to CPU `cpu`'s idle loop and returns without waiting (`f`
/// lives forever, so nothing has to wait for it).
pub fn post_work(cpu: u32, f: &'static CallFn<'static>) -> Result<(), CallError> {
    let target = online_target(cpu)?;
    post(target, f, Context::Process);
    Ok(())
}

/// The idle loop's part: runs posted work, if any, with interrupts on.
pub fn run_pending_work() {
    let Some(me) = percpu::this_cpu() else {
        return;
    };
    let f = me.work.pending.lock().take();
    if let Some(f) = f {
        // SAFETY: the sender waits until `completed` moves.
        unsafe { (*f)(me.cpu) };
        me.work.completed.fetch_add(1, Ordering::Release);
    }
}

/// Whether work is waiting for this CPU's idle loop.
pub fn work_pending() -> bool {
    percpu::this_cpu().is_some_and(|me| me.work.pending.lock().is_some())
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
