//! Kernel threads and a small scheduler per CPU.
//!
//! Each CPU has a run queue (FIFO), an idle thread (the CPU's boot context
//! on the secondary CPUs; a thread of its own on the boot CPU, whose boot
//! context is the "boot" thread that runs the self-tests), and a list of
//! timed sleepers checked on a 1 ms tick while any exist.
//!
//! No preemption, like Linux's CONFIG_PREEMPT_NONE: a thread runs until it
//! sleeps, yields or calls [`cond_resched`]. The kernel holds spin locks
//! with interrupts off across most of the memory code; switching only at
//! those points means no lock is ever held by a thread that is switched
//! out, so none of them needs to know about the scheduler. Long loops call
//! `cond_resched`, as Linux's do.
//!
//! Threads never migrate: each is bound to one CPU, chosen when it is
//! created (a node binding picks the node's least-loaded online CPU; a node
//! without CPUs borrows the nearest node's). Only that CPU ever runs or
//! dequeues the thread, which is what makes the switch safe without
//! holding the run-queue lock across it.

mod selftests;
pub mod task;
mod wait;

pub use wait::WaitQueue;

use crate::arch::x86_64::{apic, percpu, switch, tsc};
use crate::numa::topology;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering::*};
use numa::{NodeId, MAX_CPUS};
use spin::Mutex;
use x86_64::instructions::interrupts::{self, without_interrupts};

/// Threads one CPU can hold (its queue and sleeper list never grow, so
/// waking a thread never allocates with a lock held).
pub const MAX_THREADS_PER_CPU: usize = 64;
/// Each thread's stack, from vmalloc (so a guard page lies below it).
pub const THREAD_STACK_SIZE: usize = 64 * 1024;
/// The timed-sleep tick while a CPU has sleepers: the time to the nearest
/// deadline, within these bounds, so a long sleep (kcompactd's 500 ms,
/// KFENCE's 100 ms) costs ten interrupts a second rather than a thousand
/// (each a VM exit, and very slow under nested KVM), and a deadline is
/// still met within a millisecond.
const SLEEP_TICK_MIN_MS: u64 = 1;
const SLEEP_TICK_MAX_MS: u64 = 100;

/// The sleep tick for sleepers whose nearest deadline is `nearest`.
fn sleep_tick_ms(nearest: u64, now: u64) -> u64 {
    nearest
        .saturating_sub(now)
        .div_ceil(1_000_000)
        .clamp(SLEEP_TICK_MIN_MS, SLEEP_TICK_MAX_MS)
}

/// Reprograms the running CPU's sleep tick for its sleepers (off when
/// there are none).
fn retune_sleep_tick(inner: &RqInner, cpu: u32, now: u64) {
    let nearest = inner
        .sleepers
        .iter()
        .map(|t| t.deadline.load(Relaxed))
        .min();
    match nearest {
        Some(d) => {
            RQ[cpu as usize].ticking.store(true, Relaxed);
            crate::time::set_sleep_tick(Some(sleep_tick_ms(d, now)));
        }
        None => {
            if RQ[cpu as usize].ticking.swap(false, Relaxed) {
                crate::time::set_sleep_tick(None);
            }
        }
    }
}

/// A thread's state, as Linux's TASK_RUNNING / TASK_UNINTERRUPTIBLE / EXIT_DEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// On a run queue, or running.
    Runnable = 0,
    /// Waiting for a wake-up (or its deadline).
    Sleeping = 1,
    /// Finished; its stack is freed once it is switched away from.
    Dead = 2,
}

/// Where a thread may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Cpu(u32),
    /// One of the node's CPUs (the nearest node's, if it has none).
    Node(NodeId),
}

/// Thread flags (Linux's PF_*).
pub mod flags {
    /// Reclaim runs in this thread: its allocations must not reclaim again
    /// (Linux's PF_MEMALLOC).
    pub const MEMALLOC: u32 = 1 << 0;
    /// The thread is a node's kswapd.
    pub const KSWAPD: u32 = 1 << 1;
    /// A CPU's idle thread: it never sleeps, and runs when nothing else can.
    pub const IDLE: u32 = 1 << 2;
}

type Entry = Box<dyn FnOnce() + Send + 'static>;

pub struct Thread {
    pub tid: u32,
    pub name: &'static str,
    pub cpu: u32,
    state: AtomicU8,
    flags: AtomicU32,
    /// Saved while switched out.
    saved_rsp: UnsafeCell<u64>,
    /// Still running on its CPU (cleared by the next thread after the switch).
    on_cpu: AtomicBool,
    /// The vmalloc stack (bottom address), none for boot and AP contexts.
    stack: Option<usize>,
    entry: Mutex<Option<Entry>>,
    /// Timed sleep deadline (TSC ns), 0 for none.
    deadline: AtomicU64,
    /// The task whose memory this thread uses, if any.
    pub task: Option<Arc<crate::sched::task::Task>>,
    /// Voluntary context switches (Linux's nvcsw).
    pub nvcsw: AtomicU64,
    exited: WaitQueue,
    /// Fault injection's fail-nth (Linux's /proc/thread-self/fail-nth):
    /// N makes this thread's N-th allocation that a fault type looks at
    /// fail; 0 for none, and 0 again once it has failed.
    fail_nth: AtomicU32,
}

// SAFETY: `saved_rsp` is only touched by the thread's own CPU with
// interrupts off, while the thread is not running (see `schedule`).
unsafe impl Sync for Thread {}
// SAFETY: as above; a thread's state moves between CPUs only under the
// run-queue locks.
unsafe impl Send for Thread {}

impl Thread {
    fn new(
        name: &'static str,
        cpu: u32,
        stack: Option<usize>,
        task: Option<Arc<crate::sched::task::Task>>,
    ) -> Thread {
        static NEXT_TID: AtomicU32 = AtomicU32::new(1);
        Thread {
            tid: NEXT_TID.fetch_add(1, Relaxed),
            name,
            cpu,
            state: AtomicU8::new(State::Runnable as u8),
            flags: AtomicU32::new(0),
            saved_rsp: UnsafeCell::new(0),
            on_cpu: AtomicBool::new(false),
            stack,
            entry: Mutex::new(None),
            deadline: AtomicU64::new(0),
            task,
            nvcsw: AtomicU64::new(0),
            exited: WaitQueue::new(),
            fail_nth: AtomicU32::new(0),
        }
    }

    pub fn state(&self) -> State {
        match self.state.load(Acquire) {
            0 => State::Runnable,
            1 => State::Sleeping,
            _ => State::Dead,
        }
    }

    pub fn has_flag(&self, f: u32) -> bool {
        self.flags.load(Relaxed) & f != 0
    }

    pub fn set_flag(&self, f: u32) {
        self.flags.fetch_or(f, Relaxed);
    }

    pub fn clear_flag(&self, f: u32) {
        self.flags.fetch_and(!f, Relaxed);
    }
}

struct RqInner {
    queue: VecDeque<Arc<Thread>>,
    current: Option<Arc<Thread>>,
    idle: Option<Arc<Thread>>,
    /// Threads in a timed sleep.
    sleepers: VecDeque<Arc<Thread>>,
    /// Finished threads whose stacks are still to be freed.
    dead: VecDeque<Arc<Thread>>,
    /// Threads bound here (for placement).
    nr_threads: usize,
}

struct RunQueue {
    inner: Mutex<RqInner>,
    /// The running thread, readable without the lock.
    current: AtomicPtr<Thread>,
    /// The thread switched away from, for the one switched to.
    prev: AtomicPtr<Thread>,
    switches: AtomicU64,
    ticking: AtomicBool,
}

static RQ: [RunQueue; MAX_CPUS] = [const {
    RunQueue {
        inner: Mutex::new(RqInner {
            queue: VecDeque::new(),
            current: None,
            idle: None,
            sleepers: VecDeque::new(),
            dead: VecDeque::new(),
            nr_threads: 0,
        }),
        current: AtomicPtr::new(core::ptr::null_mut()),
        prev: AtomicPtr::new(core::ptr::null_mut()),
        switches: AtomicU64::new(0),
        ticking: AtomicBool::new(false),
    }
}; MAX_CPUS];

static READY: AtomicBool = AtomicBool::new(false);

/// "BUG: scheduling while atomic" reports: a sleep asked for inside an
/// interrupt handler or an atomic section. The sleep does not happen.
/// (The count rate-limits the report; the sched self-tests read it.)
pub static ATOMIC_SLEEP_BUGS: AtomicU64 = AtomicU64::new(0);
/// Threads reaped, for the leak checks.
pub static THREADS_REAPED: AtomicU64 = AtomicU64::new(0);
/// Threads that called `exit` (reaped ones included).
pub static THREADS_EXITED: AtomicU64 = AtomicU64::new(0);

pub fn is_ready() -> bool {
    READY.load(Acquire)
}

fn rq() -> &'static RunQueue {
    &RQ[percpu::cpu_id() as usize]
}

/// Sets up every online CPU's run queue: the boot context becomes the
/// "boot" thread, each secondary CPU's idle loop its idle thread, and the
/// boot CPU gets an idle thread with a stack of its own.
pub fn init() {
    // Timed sleepers are woken from every CPU's tick.
    crate::arch::x86_64::interrupts::set_tick_handler(wake_expired);
    // A thread of a task allocates under the task's memory policy.
    crate::mm::mempolicy::set_task_policy_lookup(|| current_task().map(|t| &t.mempolicy));
    crate::mm::fault_inject::install_nth_hook(count_fail_nth);
    crate::mm::kfence::install_current_hook(|| {
        current().map_or((0, "swapper"), |t| (t.tid, t.name))
    });
    let me = percpu::cpu_id();
    for c in percpu::online() {
        let rq = &RQ[c.cpu as usize];
        let mut inner = rq.inner.lock();
        inner.queue.reserve(MAX_THREADS_PER_CPU);
        inner.sleepers.reserve(MAX_THREADS_PER_CPU);
        inner.dead.reserve(MAX_THREADS_PER_CPU);
        let first = Arc::new(Thread::new(
            if c.cpu == me { "boot" } else { "idle" },
            c.cpu,
            None,
            None,
        ));
        first.on_cpu.store(true, Relaxed);
        rq.current
            .store(Arc::as_ptr(&first) as *mut Thread, Release);
        if c.cpu != me {
            first.set_flag(flags::IDLE);
            inner.idle = Some(first.clone());
        }
        inner.current = Some(first);
    }
    let idle =
        new_thread("idle", me, None, Box::new(|| idle_loop())).expect("the boot CPU's idle thread");
    idle.set_flag(flags::IDLE);
    with_rq(me, |i| {
        i.nr_threads -= 1;
        i.idle = Some(idle)
    });
    READY.store(true, Release);
    log::info!(
        "sched: run queues on {} CPUs, {} KiB thread stacks, no preemption (switches at sleeps, yields and cond_resched)",
        percpu::nr_online(),
        THREAD_STACK_SIZE >> 10
    );
}

impl Drop for Thread {
    fn drop(&mut self) {
        // A fail-nth that never came keeps fault injection's sites awake.
        if self.fail_nth.load(Relaxed) != 0 {
            crate::mm::fault_inject::nth_pending(false);
        }
    }
}

/// Sets the current thread's fail-nth (writing
/// /proc/thread-self/fail-nth): its `n`-th allocation that a fault type
/// looks at fails (0: none). Returns false outside a thread.
pub fn set_fail_nth(n: u32) -> bool {
    let Some(t) = current() else {
        return false;
    };
    let old = t.fail_nth.swap(n, Relaxed);
    if (old == 0) != (n == 0) {
        crate::mm::fault_inject::nth_pending(n != 0);
    }
    true
}

/// The current thread's fail-nth: what is left of it, 0 once the failure
/// came (reading /proc/thread-self/fail-nth).
pub fn fail_nth() -> u32 {
    current().map_or(0, |t| t.fail_nth.load(Relaxed))
}

/// Fault injection's question (installed as its hook): counts the current
/// thread's fail-nth down; `Now` when this call is the one. Interrupt
/// handlers have no fail-nth (Linux's in_task()).
fn count_fail_nth() -> mm::fault_inject::Nth {
    use mm::fault_inject::Nth;
    if crate::arch::x86_64::interrupts::in_interrupt() {
        return Nth::Unset;
    }
    let Some(t) = current() else {
        return Nth::Unset;
    };
    match t.fail_nth.load(Relaxed) {
        0 => Nth::Unset,
        1 => {
            t.fail_nth.store(0, Relaxed);
            crate::mm::fault_inject::nth_pending(false);
            Nth::Now
        }
        n => {
            t.fail_nth.store(n - 1, Relaxed);
            Nth::Counted
        }
    }
}

/// The running thread (None before `init`).
pub fn current() -> Option<&'static Thread> {
    // SAFETY: the run queue's `current` Arc keeps the thread alive while
    // it runs, and only this CPU changes it (with interrupts off).
    unsafe { rq().current.load(Acquire).as_ref() }
}

/// The current thread's task, if it runs for one.
pub fn current_task() -> Option<&'static crate::sched::task::Task> {
    current().and_then(|t| t.task.as_deref())
}

fn current_is_idle() -> bool {
    current().is_none_or(|t| t.has_flag(flags::IDLE))
}

/// The current thread's own reference.
pub(crate) fn current_arc() -> Option<Arc<Thread>> {
    with_rq(percpu::cpu_id(), |i| i.current.clone())
}

/// Runs `f` on CPU `cpu`'s queue, locked with interrupts off (the timer
/// interrupt takes the same lock).
fn with_rq<R>(cpu: u32, f: impl FnOnce(&mut RqInner) -> R) -> R {
    without_interrupts(|| f(&mut RQ[cpu as usize].inner.lock()))
}

/// Sleeping is possible here: the scheduler runs, this is a thread that
/// may block (not idle), and no interrupt handler or atomic section runs.
pub fn can_sleep() -> bool {
    is_ready()
        && !current_is_idle()
        && !crate::arch::x86_64::interrupts::in_interrupt()
        && !crate::preempt::in_atomic_section()
}

pub use crate::preempt::atomic_section;

/// The CPU a new thread bound `binding` should live on.
fn place(binding: Binding) -> Option<u32> {
    match binding {
        Binding::Cpu(c) => percpu::cpu(c as usize)
            .filter(|p| p.online.load(Acquire))
            .map(|p| p.cpu),
        Binding::Node(n) => {
            let t = topology();
            let home = (0..t.node_count())
                .filter(|&m| percpu::online().any(|c| c.node == m))
                .min_by_key(|&m| (t.distance(n, m), m))?;
            // Least loaded, the boot CPU last on a tie (it runs the tests).
            percpu::online()
                .filter(|c| c.node == home)
                .min_by_key(|c| (with_rq(c.cpu, |i| i.nr_threads), c.cpu == 0))
                .map(|c| c.cpu)
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum SpawnError {
    NotReady,
    NoCpu(Binding),
    TooManyThreads(u32),
    NoStack,
}

fn new_thread(
    name: &'static str,
    cpu: u32,
    task: Option<Arc<crate::sched::task::Task>>,
    entry: Entry,
) -> Result<Arc<Thread>, SpawnError> {
    let room = with_rq(cpu, |i| {
        let room = i.nr_threads < MAX_THREADS_PER_CPU;
        i.nr_threads += room as usize;
        room
    });
    if !room {
        return Err(SpawnError::TooManyThreads(cpu));
    }
    let node = percpu::cpu(cpu as usize).map_or(0, |c| c.node);
    let stack = crate::mm::vmalloc::vmalloc_node(THREAD_STACK_SIZE, node as i32);
    if stack.is_null() {
        with_rq(cpu, |i| i.nr_threads -= 1);
        return Err(SpawnError::NoStack);
    }
    let t = Arc::new(Thread::new(name, cpu, Some(stack as usize), task));
    *t.entry.lock() = Some(entry);
    let top = stack as u64 + THREAD_STACK_SIZE as u64;
    // SAFETY: the top 72 bytes of the fresh stack are ours to write; the
    // Arc passed as the argument is the one `thread_start` takes back.
    unsafe {
        *t.saved_rsp.get() =
            switch::prepare_stack(top, thread_start, Arc::into_raw(t.clone()) as u64);
    }
    Ok(t)
}

/// Creates a thread and makes it runnable (Linux's kthread_run).
pub fn spawn(
    name: &'static str,
    binding: Binding,
    task: Option<Arc<crate::sched::task::Task>>,
    f: impl FnOnce() + Send + 'static,
) -> Result<Arc<Thread>, SpawnError> {
    spawn_with_flags(name, binding, task, 0, f)
}

/// As `spawn`, with `flags` set before the thread can first run.
pub fn spawn_with_flags(
    name: &'static str,
    binding: Binding,
    task: Option<Arc<crate::sched::task::Task>>,
    thread_flags: u32,
    f: impl FnOnce() + Send + 'static,
) -> Result<Arc<Thread>, SpawnError> {
    if !is_ready() {
        return Err(SpawnError::NotReady);
    }
    let cpu = place(binding).ok_or(SpawnError::NoCpu(binding))?;
    let t = new_thread(name, cpu, task, Box::new(f))?;
    t.set_flag(thread_flags);
    if let Some(task) = &t.task {
        task.threads.fetch_add(1, AcqRel);
    }
    enqueue(&t);
    Ok(t)
}

extern "C" fn thread_start(arg: u64) -> ! {
    // SAFETY: `new_thread` leaked exactly this Arc for us.
    let me: Arc<Thread> = unsafe { Arc::from_raw(arg as *const Thread) };
    finish_switch();
    interrupts::enable();
    let entry = me.entry.lock().take();
    drop(me);
    if let Some(f) = entry {
        f();
    }
    exit()
}

/// Ends the current thread. Its task loses a thread; joiners wake.
pub fn exit() -> ! {
    let me = current().expect("a thread exits");
    if let Some(task) = &me.task {
        if task.threads.fetch_sub(1, AcqRel) == 1 {
            task.release_memory();
            task.unregister();
        }
    }
    interrupts::disable();
    THREADS_EXITED.fetch_add(1, AcqRel);
    me.state.store(State::Dead as u8, Release);
    me.exited.wake_all();
    schedule();
    unreachable!("a dead thread was scheduled again");
}

/// Waits until `t` has finished. Only self-tests and the benchmark wait
/// for a thread today.
pub fn join(t: &Thread) {
    t.exited.wait_event(|| t.state() == State::Dead, None);
}

impl RqInner {
    /// The idle thread (or nothing yet) is what runs here.
    fn idle_running(&self) -> bool {
        self.current
            .as_ref()
            .is_none_or(|c| self.idle.as_ref().is_some_and(|i| Arc::ptr_eq(c, i)))
    }

    /// Puts `t` at the back of the queue, which never grows: `nr_threads`
    /// bounds it by its capacity.
    fn push(&mut self, t: &Arc<Thread>) {
        if self.queue.len() < self.queue.capacity() {
            self.queue.push_back(t.clone());
        } else {
            log::error!("sched: cpu {} run queue full; {} not queued", t.cpu, t.name);
        }
    }
}

fn enqueue(t: &Arc<Thread>) {
    let idle = with_rq(t.cpu, |inner| {
        let was_idle = inner.idle_running();
        inner.push(t);
        was_idle
    });
    kick(t.cpu, idle);
}

/// Makes an idle remote CPU look at its queue.
fn kick(cpu: u32, idle: bool) {
    if idle && cpu != percpu::cpu_id() {
        if let Some(c) = percpu::cpu(cpu as usize) {
            apic::send_ipi(c.apic_id, apic::CALL_FUNCTION_VECTOR);
        }
    }
}

/// Wakes `t` if it sleeps (try_to_wake_up). True when it did.
pub fn wake_up(t: &Arc<Thread>) -> bool {
    let (woke, idle) = with_rq(t.cpu, |inner| {
        if t.state
            .compare_exchange(
                State::Sleeping as u8,
                State::Runnable as u8,
                AcqRel,
                Acquire,
            )
            .is_err()
        {
            return (false, false);
        }
        t.deadline.store(0, Relaxed);
        let is_current = inner.current.as_ref().is_some_and(|c| Arc::ptr_eq(c, t));
        let was_idle = inner.idle_running();
        // A thread still on its way into schedule() sees it is runnable
        // and carries on; any other goes on the queue.
        if !is_current {
            inner.push(t);
        }
        (true, was_idle)
    });
    if woke {
        kick(t.cpu, idle);
    }
    woke
}

fn set_current_running() {
    if let Some(me) = current() {
        me.state.store(State::Runnable as u8, Release);
    }
}

/// Picks the next thread and switches to it. A runnable current thread
/// goes to the back of the queue (a yield); a sleeping one leaves it.
pub fn schedule() {
    if !is_ready() {
        return;
    }
    without_interrupts(|| {
        let rq = rq();
        let me = current().expect("scheduler ready");
        if me.state() == State::Sleeping && !can_sleep() {
            if !current_is_idle() && ATOMIC_SLEEP_BUGS.fetch_add(1, Relaxed) == 0 {
                log::error!(
                    "BUG: scheduling while atomic: {} (tid {}) on cpu {}",
                    me.name,
                    me.tid,
                    me.cpu
                );
            }
            // The caller polls instead.
            set_current_running();
            return;
        }
        let mut inner = rq.inner.lock();
        // Read under the lock: a wake-up changes the state under it too.
        let sleeping = me.state() != State::Runnable;
        let prev = inner.current.clone().expect("a current thread");
        let next = match inner.queue.pop_front() {
            Some(n) => n,
            None if sleeping => inner.idle.clone().expect("an idle thread"),
            None => return,
        };
        if Arc::ptr_eq(&next, &prev) {
            return;
        }
        if !sleeping && !prev.has_flag(flags::IDLE) {
            inner.queue.push_back(prev.clone());
        }
        if prev.state() == State::Dead {
            inner.dead.push_back(prev.clone());
            inner.nr_threads -= 1;
        }
        inner.current = Some(next.clone());
        rq.current.store(Arc::as_ptr(&next) as *mut Thread, Release);
        rq.prev.store(Arc::as_ptr(&prev) as *mut Thread, Release);
        next.on_cpu.store(true, Release);
        prev.nvcsw.fetch_add(1, Relaxed);
        rq.switches.fetch_add(1, Relaxed);
        let save = prev.saved_rsp.get();
        // SAFETY: `next` is bound to this CPU and not running (it was on
        // the queue, or is the idle thread, which only runs here); its
        // saved_rsp came from switch_stack or prepare_stack.
        let next_rsp = unsafe { *next.saved_rsp.get() };
        // The queue and `current` keep both threads alive across the switch.
        drop(inner);
        drop(next);
        drop(prev);
        // SAFETY: interrupts are off; `save` is in a thread kept alive by
        // the run queue (current, queued, sleeping or dead list).
        unsafe { switch::switch_stack(save, next_rsp) };
        finish_switch();
    });
}

/// The new thread's half of a switch: the old one is off the CPU now.
fn finish_switch() {
    let prev = rq().prev.swap(core::ptr::null_mut(), AcqRel);
    // SAFETY: the run queue keeps the previous thread alive (see schedule).
    if let Some(p) = unsafe { prev.as_ref() } {
        p.on_cpu.store(false, Release);
    }
}

/// Lets other runnable threads on this CPU run first (sched_yield).
pub fn yield_now() {
    if can_sleep() {
        schedule();
    }
}

/// A scheduling point for long loops.
pub fn cond_resched() {
    if can_sleep() && has_runnable() {
        schedule();
    }
}

/// Sleeps for at least `ns` nanoseconds (schedule_timeout_uninterruptible);
/// where sleeping is impossible, waits with interrupts on instead.
pub fn sleep_ns(ns: u64) {
    let deadline = tsc::ns_since_boot() + ns;
    if !can_sleep() {
        while tsc::ns_since_boot() < deadline {
            core::hint::spin_loop();
        }
        return;
    }
    while tsc::ns_since_boot() < deadline {
        sleep_until(deadline);
    }
}

/// Waits up to `ns` for `cond`, asleep between looks (1 ms apart) where
/// sleeping is possible; returns whether it came true. For conditions
/// with no wait queue to wake on (another thread's progress counters).
pub fn wait_for(ns: u64, cond: impl Fn() -> bool) -> bool {
    let start = tsc::ns_since_boot();
    while !cond() {
        if tsc::ns_since_boot() - start > ns {
            return cond();
        }
        sleep_ns(1_000_000);
    }
    true
}

/// One timed sleep: returns at the deadline or an earlier wake-up.
fn sleep_until(deadline: u64) {
    if prepare_to_sleep(Some(deadline)) {
        schedule();
    }
}

/// Marks the current thread asleep, with a deadline if given; the next
/// `schedule` switches away unless a wake-up comes first (Linux's
/// set_current_state). False when it cannot sleep (the caller polls).
pub(crate) fn prepare_to_sleep(deadline: Option<u64>) -> bool {
    if !can_sleep() {
        return false;
    }
    let cpu = percpu::cpu_id();
    with_rq(cpu, |inner| {
        let me = inner.current.clone().expect("current");
        if let Some(d) = deadline {
            if inner.sleepers.len() == inner.sleepers.capacity() {
                return false;
            }
            me.deadline.store(d, Relaxed);
            inner.sleepers.push_back(me.clone());
            retune_sleep_tick(inner, cpu, tsc::ns_since_boot());
        }
        me.state.store(State::Sleeping as u8, Release);
        true
    })
}

/// Undoes `prepare_to_sleep` when the condition came true first.
pub(crate) fn finish_wait() {
    set_current_running();
}

/// Wakes this CPU's timed sleepers whose deadline passed; from the timer
/// interrupt and the idle loop.
pub fn wake_expired() {
    if !is_ready() {
        return;
    }
    let now = tsc::ns_since_boot();
    let cpu = percpu::cpu_id();
    let mut due: [Option<Arc<Thread>>; 8] = Default::default();
    let mut n = 0;
    with_rq(cpu, |inner| {
        let mut i = 0;
        while i < inner.sleepers.len() && n < due.len() {
            let t = &inner.sleepers[i];
            let expired = t.deadline.load(Relaxed) <= now;
            if t.state() != State::Sleeping || expired {
                let t = inner.sleepers.remove(i).expect("in range");
                if expired && t.state() == State::Sleeping {
                    due[n] = Some(t);
                    n += 1;
                }
            } else {
                i += 1;
            }
        }
        retune_sleep_tick(inner, cpu, now);
    });
    for t in due.iter().flatten() {
        wake_up(t);
    }
}

/// Frees the stacks of threads that finished and are off their CPUs.
pub fn reap_dead() {
    for c in percpu::online() {
        loop {
            let t = with_rq(c.cpu, |inner| match inner.dead.front() {
                Some(t) if !t.on_cpu.load(Acquire) => inner.dead.pop_front(),
                _ => None,
            });
            let Some(t) = t else { break };
            if let Some(stack) = t.stack {
                crate::mm::vmalloc::vfree(stack as *const u8);
            }
            THREADS_REAPED.fetch_add(1, Relaxed);
        }
    }
}

/// Reaps until every thread that exited is reaped (or `timeout_ns`
/// passes); true when none is left. Test hook: the self-tests call it so
/// that a leak check sees the freed stacks and tasks.
pub fn reap_all_dead(timeout_ns: u64) -> bool {
    let start = tsc::ns_since_boot();
    loop {
        reap_dead();
        if THREADS_REAPED.load(Acquire) == THREADS_EXITED.load(Acquire) {
            return true;
        }
        if tsc::ns_since_boot() - start > timeout_ns {
            return false;
        }
        yield_now();
    }
}

/// Whether this CPU's queue has a thread waiting.
pub fn has_runnable() -> bool {
    is_ready() && with_rq(percpu::cpu_id(), |i| !i.queue.is_empty())
}

/// Context switches on CPU `cpu` so far.
pub fn switches(cpu: u32) -> u64 {
    RQ[cpu as usize].switches.load(Relaxed)
}

/// The idle loop of every CPU: posted work, RCU callbacks, expired
/// sleepers, finished threads, then any runnable thread; else halt.
pub fn idle_loop() -> ! {
    loop {
        interrupts::enable();
        crate::arch::x86_64::ipi::run_pending_work();
        crate::rcu::idle();
        wake_expired();
        if is_ready() && THREADS_REAPED.load(Relaxed) != THREADS_EXITED.load(Relaxed) {
            reap_dead();
        }
        crate::mm::page_alloc::decay_pcp_high();
        interrupts::disable();
        if has_runnable() {
            schedule();
            continue;
        }
        if !crate::arch::x86_64::ipi::work_pending() {
            // `sti; hlt`: an IPI that arrived since the check wakes the hlt.
            interrupts::enable_and_hlt();
        }
    }
}

/// One line per CPU for the reports: threads, queue and switches.
pub fn report(w: &mut dyn core::fmt::Write) -> core::fmt::Result {
    writeln!(w, "  CPU threads queued sleeping switches current")?;
    for c in percpu::online() {
        let (threads, queued, sleeping, cur) = with_rq(c.cpu, |i| {
            (
                i.nr_threads,
                i.queue.len(),
                i.sleepers.len(),
                i.current.as_ref().map_or("-", |t| t.name),
            )
        });
        writeln!(
            w,
            "{:>5} {:>7} {:>6} {:>8} {:>8} {}",
            c.cpu,
            threads,
            queued,
            sleeping,
            switches(c.cpu),
            cur
        )?;
    }
    Ok(())
}
