//! Wait queues: threads sleep until a condition holds, and whoever makes
//! it hold wakes them (Linux's wait_event / wake_up).
//!
//! The waiter registers and marks itself asleep before it checks the
//! condition one last time, and the waker changes the condition before it
//! wakes, so a wake-up can never fall between the check and the sleep.

use super::{Thread, MAX_THREADS_PER_CPU};
use crate::arch::x86_64::tsc;
use alloc::sync::Arc;
use spin::Mutex;
use x86_64::instructions::interrupts::without_interrupts;

/// Waiters a queue holds at once; more wait by polling (said in the docs
/// of `wait_event`).
const MAX_WAITERS: usize = MAX_THREADS_PER_CPU;

pub struct WaitQueue {
    waiters: Mutex<[Option<Arc<Thread>>; MAX_WAITERS]>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    pub const fn new() -> Self {
        WaitQueue {
            waiters: Mutex::new([const { None }; MAX_WAITERS]),
        }
    }

    fn add(&self, t: &Arc<Thread>) -> bool {
        without_interrupts(|| {
            let mut w = self.waiters.lock();
            if w.iter().flatten().any(|x| Arc::ptr_eq(x, t)) {
                return true;
            }
            match w.iter_mut().find(|s| s.is_none()) {
                Some(slot) => {
                    *slot = Some(t.clone());
                    true
                }
                None => false,
            }
        })
    }

    fn remove(&self, t: &Arc<Thread>) {
        without_interrupts(|| {
            for s in self.waiters.lock().iter_mut() {
                if s.as_ref().is_some_and(|x| Arc::ptr_eq(x, t)) {
                    *s = None;
                }
            }
        })
    }

    /// Sleeps until `cond()` holds, or `timeout_ns` passes (then returns
    /// `cond()`). Where sleeping is impossible (idle thread, atomic
    /// section, before the scheduler runs, a full queue) it polls.
    pub fn wait_event(&self, cond: impl Fn() -> bool, timeout_ns: Option<u64>) -> bool {
        let deadline = timeout_ns.map(|t| tsc::ns_since_boot().saturating_add(t));
        loop {
            if cond() {
                return true;
            }
            if deadline.is_some_and(|d| tsc::ns_since_boot() >= d) {
                return cond();
            }
            let me = match super::current_arc() {
                Some(me) if super::can_sleep() => me,
                _ => {
                    core::hint::spin_loop();
                    continue;
                }
            };
            if !self.add(&me) {
                super::yield_now();
                continue;
            }
            if !super::prepare_to_sleep(deadline) {
                self.remove(&me);
                super::yield_now();
                continue;
            }
            if cond() {
                super::finish_wait();
                self.remove(&me);
                return true;
            }
            super::schedule();
            self.remove(&me);
        }
    }

    /// Wakes every waiter; returns how many were asleep.
    pub fn wake_all(&self) -> usize {
        let mut taken: [Option<Arc<Thread>>; MAX_WAITERS] = [const { None }; MAX_WAITERS];
        without_interrupts(|| {
            let mut w = self.waiters.lock();
            for (i, s) in w.iter_mut().enumerate() {
                taken[i] = s.take();
            }
        });
        taken.iter().flatten().filter(|t| super::wake_up(t)).count()
    }
}
