//! The scheduler at boot: threads run where they are bound, sleep and
//! wake across CPUs, yield in turn, and leave nothing behind when they end.

use super::*;
use crate::{kassert, kassert_eq, selftest};
use core::sync::atomic::AtomicU64;

selftest!(
    "sched",
    fn threads_run_on_the_cpu_and_node_they_are_bound_to() {
        static RAN_ON: [AtomicU64; 2] = [const { AtomicU64::new(u64::MAX) }; 2];
        let last = percpu::online().map(|c| c.cpu).max().unwrap_or(0);
        let t = spawn("selftest-cpu", Binding::Cpu(last), None, || {
            RAN_ON[0].store(percpu::cpu_id() as u64, SeqCst);
        });
        kassert!(t.is_ok(), "{:?}", t.as_ref().err());
        let t = t.unwrap();
        join(&t);
        kassert_eq!(RAN_ON[0].load(SeqCst), last as u64);
        let topo = topology();
        let node = topo.node_count() - 1;
        let n = spawn("selftest-node", Binding::Node(node), None, || {
            RAN_ON[1].store(percpu::cpu_id() as u64, SeqCst);
        })
        .unwrap();
        join(&n);
        let cpu = RAN_ON[1].load(SeqCst) as usize;
        let ran_node = percpu::cpu(cpu).unwrap().node;
        let online = |m: NodeId| percpu::online().any(|c| c.node == m);
        if online(node) {
            kassert_eq!(ran_node, node);
        } else {
            // A node without online CPUs: its threads run on the nearest
            // node with some.
            let best = (0..topo.node_count())
                .filter(|&m| online(m))
                .map(|m| topo.distance(node, m))
                .min()
                .unwrap();
            kassert_eq!(topo.distance(node, ran_node), best);
        }
        kassert!(
            spawn("nowhere", Binding::Cpu(MAX_CPUS as u32 - 1), None, || {}).is_err(),
            "a thread bound to a CPU that is not online"
        );
        Ok(())
    }
);

selftest!(
    "sched",
    fn a_wait_queue_sleeper_wakes_when_another_cpu_says_so() {
        static FLAG: AtomicBool = AtomicBool::new(false);
        static DONE: AtomicBool = AtomicBool::new(false);
        static WQ: WaitQueue = WaitQueue::new();
        FLAG.store(false, SeqCst);
        DONE.store(false, SeqCst);
        let Some(other) = percpu::online()
            .map(|c| c.cpu)
            .find(|&c| c != percpu::cpu_id())
        else {
            return Err(crate::selftest::Failure::Skipped("one CPU"));
        };
        let t = spawn("selftest-sleeper", Binding::Cpu(other), None, || {
            WQ.wait_event(|| FLAG.load(SeqCst), None);
            DONE.store(true, SeqCst);
        })
        .unwrap();
        // Wait until it really sleeps: asleep and switched off its CPU.
        let asleep = || t.state() == State::Sleeping && !t.on_cpu.load(Acquire);
        let start = tsc::ns_since_boot();
        while !asleep() && tsc::ns_since_boot() - start < 2_000_000_000 {
            yield_now();
        }
        kassert!(asleep(), "the sleeper never switched away");
        kassert!(!DONE.load(SeqCst));
        let before = t.nvcsw.load(Relaxed);
        FLAG.store(true, SeqCst);
        kassert!(WQ.wake_all() <= 1);
        join(&t);
        kassert!(DONE.load(SeqCst));
        kassert!(before >= 1, "it switched away to sleep");
        Ok(())
    }
);

selftest!(
    "sched",
    fn a_timed_sleep_lasts_at_least_its_time_and_lets_others_run() {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        static WOKE_AFTER: AtomicU64 = AtomicU64::new(0);
        COUNT.store(0, SeqCst);
        let me = percpu::cpu_id();
        // Both on this CPU: while the sleeper sleeps, the counter runs.
        let sleeper = spawn("selftest-nap", Binding::Cpu(me), None, || {
            let t0 = tsc::ns_since_boot();
            sleep_ns(20_000_000);
            WOKE_AFTER.store(tsc::ns_since_boot() - t0, SeqCst);
        })
        .unwrap();
        let counter = spawn("selftest-count", Binding::Cpu(me), None, || {
            while WOKE_AFTER.load(SeqCst) == 0 {
                COUNT.fetch_add(1, SeqCst);
                yield_now();
            }
        })
        .unwrap();
        WOKE_AFTER.store(0, SeqCst);
        join(&sleeper);
        join(&counter);
        let slept = WOKE_AFTER.load(SeqCst);
        kassert!(slept >= 20_000_000, "slept {slept} ns of 20 ms");
        kassert!(COUNT.load(SeqCst) > 0, "nothing ran while it slept");
        Ok(())
    }
);

selftest!(
    "sched",
    fn yielding_threads_take_turns() {
        static TRACE: Mutex<[u8; 8]> = Mutex::new([0; 8]);
        static POS: AtomicU64 = AtomicU64::new(0);
        POS.store(0, SeqCst);
        let me = percpu::cpu_id();
        let mk = |tag: u8| {
            move || {
                for _ in 0..4 {
                    let p = POS.fetch_add(1, SeqCst) as usize;
                    if p < 8 {
                        TRACE.lock()[p] = tag;
                    }
                    yield_now();
                }
            }
        };
        let a = spawn("selftest-a", Binding::Cpu(me), None, mk(b'a')).unwrap();
        let b = spawn("selftest-b", Binding::Cpu(me), None, mk(b'b')).unwrap();
        join(&a);
        join(&b);
        let trace = *TRACE.lock();
        kassert_eq!(&trace, b"abababab", "{:?}", core::str::from_utf8(&trace));
        Ok(())
    }
);

selftest!(
    "sched",
    fn finished_threads_give_their_stacks_back() {
        let areas = || {
            let s = &crate::mm::vmalloc::STATS;
            s.allocs.load(Relaxed) - s.frees.load(Relaxed)
        };
        kassert!(reap_all_dead(2_000_000_000), "earlier threads not reaped");
        let before = areas();
        let reaped = THREADS_REAPED.load(Relaxed);
        let mut threads = alloc::vec::Vec::new();
        for c in percpu::online() {
            threads.push(spawn("selftest-exit", Binding::Cpu(c.cpu), None, || {}).unwrap());
        }
        let n = threads.len() as u64;
        for t in &threads {
            join(t);
        }
        drop(threads);
        kassert!(reap_all_dead(2_000_000_000), "threads not reaped in 2 s");
        kassert!(THREADS_REAPED.load(Relaxed) - reaped >= n);
        kassert_eq!(areas(), before, "vmalloc areas (thread stacks) still live");
        kassert_eq!(ATOMIC_SLEEP_BUGS.load(Relaxed), 0);
        Ok(())
    }
);

selftest!(
    "sched",
    fn sleeping_in_an_atomic_section_is_refused_and_reported() {
        let bugs = ATOMIC_SLEEP_BUGS.load(Relaxed);
        static COULD_SLEEP: AtomicBool = AtomicBool::new(true);
        let t = spawn(
            "selftest-atomic",
            Binding::Cpu(percpu::cpu_id()),
            None,
            || {
                let _a = atomic_section();
                // Refused up front: it would never be woken otherwise.
                COULD_SLEEP.store(can_sleep() || prepare_to_sleep(None), SeqCst);
            },
        );
        join(&t.unwrap());
        kassert!(!COULD_SLEEP.load(SeqCst));
        kassert_eq!(
            ATOMIC_SLEEP_BUGS.load(Relaxed),
            bugs,
            "refused, not reported"
        );
        // Forcing the state anyway is what the report is for.
        let t = spawn(
            "selftest-atomic2",
            Binding::Cpu(percpu::cpu_id()),
            None,
            || {
                let _a = atomic_section();
                if let Some(me) = current() {
                    me.state.store(State::Sleeping as u8, Release);
                }
                schedule();
            },
        )
        .unwrap();
        join(&t);
        kassert_eq!(ATOMIC_SLEEP_BUGS.load(Relaxed), bugs + 1);
        ATOMIC_SLEEP_BUGS.store(bugs, Relaxed);
        Ok(())
    }
);
