//! The SLUB core (through `native_bench::Kmalloc`) against mimalloc,
//! jemalloc, glibc's malloc and talc, in one process, pinned to one core:
//! an alloc+free pair at 64, 256 and 4096 bytes, and a batch (1,024
//! allocations of 64 bytes, then their frees, in order).
//!
//! `cargo bench -p native-bench --target x86_64-unknown-linux-gnu`
//! (`taskset` is not needed: the process pins itself to its first allowed
//! CPU).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use native_bench::{Arena, Kmalloc};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

/// Pins the process to the first CPU it may run on.
fn pin_to_one_core() {
    // SAFETY: plain libc calls on a zeroed cpu_set_t owned here.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) != 0 {
            return;
        }
        let first = (0..libc::CPU_SETSIZE as usize).find(|&c| libc::CPU_ISSET(c, &set));
        if let Some(cpu) = first {
            libc::CPU_ZERO(&mut set);
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
            eprintln!("native-bench: pinned to CPU {cpu}");
        }
    }
}

/// What a workload needs of an allocator: objects of `size` bytes,
/// 8-aligned (kmalloc's natural alignment).
trait Objects {
    fn alloc(&self, size: usize) -> *mut u8;
    fn free(&self, p: *mut u8, size: usize);
}

impl Objects for Kmalloc<'_> {
    #[inline(always)]
    fn alloc(&self, size: usize) -> *mut u8 {
        Kmalloc::alloc(self, size)
    }
    #[inline(always)]
    fn free(&self, p: *mut u8, _size: usize) {
        // SAFETY: the workloads free each object they allocated, once.
        unsafe { Kmalloc::free(self, p) }
    }
}

/// Any GlobalAlloc (mimalloc, jemalloc, the system allocator, talc).
struct Global<A: GlobalAlloc>(A);

impl<A: GlobalAlloc> Objects for Global<A> {
    #[inline(always)]
    fn alloc(&self, size: usize) -> *mut u8 {
        // SAFETY: a non-zero size with a valid alignment.
        unsafe { self.0.alloc(Layout::from_size_align_unchecked(size, 8)) }
    }
    #[inline(always)]
    fn free(&self, p: *mut u8, size: usize) {
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe {
            self.0
                .dealloc(p, Layout::from_size_align_unchecked(size, 8))
        }
    }
}

/// talc over a region of its own, for this one thread (a RefCell, not a
/// lock: the others take no lock on a single thread either).
struct Talc(std::cell::RefCell<talc::base::Talc<talc::source::Manual, talc::DefaultBinning>>);

impl Talc {
    fn new(bytes: usize) -> Talc {
        let region = Box::leak(vec![0u8; bytes].into_boxed_slice());
        let mut t = talc::base::Talc::new(talc::source::Manual);
        // SAFETY: the region is leaked: talc's for the rest of the process.
        unsafe { t.claim(region.as_mut_ptr(), bytes) }.expect("talc claims its region");
        Talc(std::cell::RefCell::new(t))
    }
}

impl Objects for Talc {
    #[inline(always)]
    fn alloc(&self, size: usize) -> *mut u8 {
        // SAFETY: a non-zero size with a valid alignment.
        let layout = unsafe { Layout::from_size_align_unchecked(size, 8) };
        // SAFETY: talc's contract: a non-zero-size layout.
        unsafe { self.0.borrow_mut().allocate(layout) }.map_or(std::ptr::null_mut(), |p| p.as_ptr())
    }
    #[inline(always)]
    fn free(&self, p: *mut u8, size: usize) {
        // SAFETY: `p` came from `alloc` with this layout.
        unsafe {
            self.0
                .borrow_mut()
                .deallocate(p, Layout::from_size_align_unchecked(size, 8))
        }
    }
}

fn pair(c: &mut Criterion, name: &str, a: &dyn Objects) {
    let mut g = c.benchmark_group("pair");
    for size in [64usize, 256, 4096] {
        g.throughput(Throughput::Elements(1));
        g.bench_with_input(BenchmarkId::new(name, size), &size, |b, &size| {
            b.iter(|| {
                let p = a.alloc(black_box(size));
                a.free(black_box(p), size);
            })
        });
    }
    g.finish();
}

fn batch(c: &mut Criterion, name: &str, a: &dyn Objects) {
    let mut g = c.benchmark_group("batch_64x1024");
    g.throughput(Throughput::Elements(1024));
    let mut v = Vec::with_capacity(1024);
    g.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..1024 {
                v.push(a.alloc(64));
            }
            for p in v.drain(..) {
                a.free(black_box(p), 64);
            }
        })
    });
    g.finish();
}

fn allocators(c: &mut Criterion) {
    pin_to_one_core();
    let arena = Arena::new(256 << 20);
    let ours = Kmalloc::new(&arena);
    let talc = Talc::new(256 << 20);
    let peers: [(&str, &dyn Objects); 4] = [
        ("mimalloc", &Global(mimalloc::MiMalloc)),
        ("jemalloc", &Global(tikv_jemallocator::Jemalloc)),
        ("glibc", &Global(System)),
        ("talc", &talc),
    ];
    pair(c, "ours", &ours);
    for (name, a) in peers {
        pair(c, name, a);
    }
    batch(c, "ours", &ours);
    for (name, a) in peers {
        batch(c, name, a);
    }
}

criterion_group!(benches, allocators);
criterion_main!(benches);
