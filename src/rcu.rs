//! RCU, as small as SLAB_TYPESAFE_BY_RCU needs: read-side sections that
//! cost two per-CPU counter updates, synchronize_rcu that waits until every
//! CPU has been seen outside a read section (a quiescent state: there is no
//! preemption, so a reader that started before the wait began has ended
//! once its CPU is seen at nesting 0), and call_rcu whose callbacks run
//! after a grace period: in the idle loop of the last CPU, which an APIC
//! timer tick wakes every 10 ms, or at rcu_barrier().

use crate::arch::x86_64::{percpu, tsc};
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};
use spin::Mutex;

/// One pending callback.
#[derive(Clone, Copy)]
struct Callback {
    func: fn(usize),
    arg: usize,
}

const QUEUE: usize = 4096;

/// A ring of callbacks: `head..tail` are queued (monotonic counters).
struct Queue {
    items: [Option<Callback>; QUEUE],
    head: u64,
    tail: u64,
}

impl Queue {
    fn len(&self) -> usize {
        (self.tail - self.head) as usize
    }
}

static PENDING: Mutex<Queue> = Mutex::new(Queue {
    items: [None; QUEUE],
    head: 0,
    tail: 0,
});
static GRACE_PERIODS: AtomicU64 = AtomicU64::new(0);
pub static CALLBACKS_RUN: AtomicU64 = AtomicU64::new(0);
/// Which CPU runs callbacks from its idle loop (0: none chosen yet).
static CALLBACK_CPU: AtomicU32 = AtomicU32::new(0);

pub fn rcu_read_lock() {
    if let Some(c) = percpu::this_cpu() {
        c.rcu_nesting.fetch_add(1, Relaxed);
    }
    fence(SeqCst);
}

pub fn rcu_read_unlock() {
    fence(SeqCst);
    if let Some(c) = percpu::this_cpu() {
        c.rcu_nesting.fetch_sub(1, Relaxed);
    }
}

/// Waits until every reader that started before the call has ended.
/// Must not be called inside a read section.
#[track_caller]
pub fn synchronize_rcu() {
    let me = percpu::cpu_id();
    if percpu::this_cpu().is_some_and(|c| c.rcu_nesting.load(Relaxed) > 0) {
        log::error!(
            "synchronize_rcu inside an RCU read section at {}; not waiting",
            core::panic::Location::caller()
        );
        return;
    }
    fence(SeqCst);
    for c in percpu::online().filter(|c| c.cpu != me) {
        let start = tsc::ns_since_boot();
        let mut warned = false;
        while c.rcu_nesting.load(Acquire) != 0 {
            if !warned && tsc::ns_since_boot() - start > 10_000_000_000 {
                log::warn!(
                    "rcu: CPU {} stays in a read section for more than 10 s",
                    c.cpu
                );
                warned = true;
            }
            core::hint::spin_loop();
        }
    }
    fence(SeqCst);
    GRACE_PERIODS.fetch_add(1, Relaxed);
}

/// Runs `func(arg)` after a grace period. Never sleeps (the slab free path
/// calls it with interrupts off); when the queue is full, the callback
/// runs at once after a synchronous grace period, unless that is not
/// allowed here, in which case it is dropped with an error (never run
/// early).
pub fn call_rcu(func: fn(usize), arg: usize) {
    let mut q = PENDING.lock();
    if q.len() < QUEUE {
        let i = (q.tail % QUEUE as u64) as usize;
        q.items[i] = Some(Callback { func, arg });
        q.tail += 1;
        return;
    }
    drop(q);
    if x86_64::instructions::interrupts::are_enabled() {
        synchronize_rcu();
        func(arg);
        CALLBACKS_RUN.fetch_add(1, Relaxed);
    } else {
        log::error!("rcu: callback queue full with interrupts off; callback dropped");
    }
}

pub fn pending() -> usize {
    PENDING.lock().len()
}

/// Batches taken off the queue whose callbacks have not all run yet.
static IN_FLIGHT: AtomicU32 = AtomicU32::new(0);

/// Runs the callbacks queued so far, after a grace period; callbacks
/// queued meanwhile wait for the next one. (One at a time off the ring:
/// no copy of the queue on a small stack.)
fn process() {
    let end = {
        let q = PENDING.lock();
        if q.len() == 0 {
            return;
        }
        IN_FLIGHT.fetch_add(1, AcqRel);
        q.tail
    };
    synchronize_rcu();
    loop {
        let cb = {
            let mut q = PENDING.lock();
            if q.head >= end {
                break;
            }
            let i = (q.head % QUEUE as u64) as usize;
            q.head += 1;
            q.items[i].take()
        };
        if let Some(cb) = cb {
            (cb.func)(cb.arg);
            CALLBACKS_RUN.fetch_add(1, Relaxed);
        }
    }
    IN_FLIGHT.fetch_sub(1, AcqRel);
}

/// Returns once every callback queued before the call has run (here, or
/// on the callback CPU if it had already taken them).
pub fn rcu_barrier() {
    process();
    while IN_FLIGHT.load(Acquire) != 0 {
        core::hint::spin_loop();
    }
}

/// Chooses the CPU whose idle loop runs callbacks and starts its tick.
pub fn init() {
    let last = percpu::online().map(|c| c.cpu).max().unwrap_or(0);
    CALLBACK_CPU.store(last, Relaxed);
    if last != 0 {
        let _ = crate::arch::x86_64::ipi::call_on(last, &|_| {
            crate::time::set_standing_tick(10);
        });
    }
}

/// The idle loop's part, on the callback CPU.
pub fn idle() {
    let me = percpu::cpu_id();
    if me != 0 && me == CALLBACK_CPU.load(Relaxed) && pending() > 0 {
        process();
    }
}

mod selftests {
    use super::*;
    use crate::arch::x86_64::ipi;
    use crate::{kassert, selftest};
    use core::sync::atomic::AtomicBool;

    static READER_IN: AtomicBool = AtomicBool::new(false);
    static READER_DONE_AT: AtomicU64 = AtomicU64::new(0);

    selftest!(
        "rcu",
        fn synchronize_rcu_waits_for_a_reader_on_another_cpu() {
            let Some(other) = percpu::online()
                .map(|c| c.cpu)
                .find(|&c| c != percpu::cpu_id())
            else {
                return Err(crate::selftest::Failure::Skipped("one CPU"));
            };
            READER_IN.store(false, SeqCst);
            READER_DONE_AT.store(0, SeqCst);
            let posted = ipi::post_work(other, &|_| {
                rcu_read_lock();
                READER_IN.store(true, SeqCst);
                tsc::delay_ns(30_000_000);
                READER_DONE_AT.store(tsc::ns_since_boot(), SeqCst);
                rcu_read_unlock();
            });
            kassert!(posted.is_ok());
            while !READER_IN.load(SeqCst) {
                core::hint::spin_loop();
            }
            synchronize_rcu();
            let done = READER_DONE_AT.load(SeqCst);
            kassert!(
                done != 0 && tsc::ns_since_boot() >= done,
                "the grace period ended before the reader"
            );
            Ok(())
        }
    );

    static RAN: AtomicU64 = AtomicU64::new(0);
    fn bump(n: usize) {
        RAN.fetch_add(n as u64, SeqCst);
    }

    selftest!(
        "rcu",
        fn call_rcu_callbacks_run_from_the_idle_cpu() {
            if percpu::nr_online() < 2 {
                return Err(crate::selftest::Failure::Skipped(
                    "one CPU: callbacks run at rcu_barrier only",
                ));
            }
            RAN.store(0, SeqCst);
            call_rcu(bump, 5);
            let start = tsc::ns_since_boot();
            while RAN.load(SeqCst) == 0 && tsc::ns_since_boot() - start < 5_000_000_000 {
                core::hint::spin_loop();
            }
            kassert!(
                RAN.load(SeqCst) == 5,
                "callback not run by the idle CPU within 5 s"
            );
            call_rcu(bump, 1);
            rcu_barrier();
            kassert!(RAN.load(SeqCst) == 6);
            Ok(())
        }
    );
}
