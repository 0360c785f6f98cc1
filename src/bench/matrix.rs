//! The access matrix, in the spirit of Intel MLC: for every node with
//! CPUs and every node with memory, the idle load latency (a dependent
//! pointer chase over a buffer larger than the caches, in a random
//! single-cycle order so that prefetchers cannot help) and the read
//! bandwidth (one CPU summing the buffer sequentially), each with the
//! SLIT distance beside it.

use super::workloads::ROUND_TIMEOUT_NS;
use crate::arch::x86_64::{ipi, percpu, tsc};
use crate::kprintln;
use crate::mm::{__free_pages, alloc_pages_node, page_address, Gfp, Page};
use crate::numa::topology;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// 4 MiB blocks: the buffer is made of these, all on the measured node.
const BLOCK_ORDER: u32 = 10;
const BLOCK_BYTES: usize = 4096 << BLOCK_ORDER;
/// 64 MiB: beyond the last-level cache of the hosts we run on.
const BUFFER_BLOCKS: usize = 16;
const LINE: usize = 64;

/// A buffer on one node, as 4 MiB blocks, holding a pointer-chase cycle
/// through every cache line.
struct Buffer {
    blocks: Vec<Page>,
}

impl Buffer {
    fn line_addr(&self, k: usize) -> *mut u64 {
        let per_block = BLOCK_BYTES / LINE;
        page_address(self.blocks[k / per_block]).wrapping_add((k % per_block) * LINE) as *mut u64
    }

    fn lines(&self) -> usize {
        self.blocks.len() * BLOCK_BYTES / LINE
    }

    fn bytes(&self) -> usize {
        self.blocks.len() * BLOCK_BYTES
    }

    /// Sattolo's shuffle, done in the lines themselves: line i holds the
    /// index of the next, then its address; one cycle through them all.
    fn build_chase(&self, seed: u64) {
        let n = self.lines();
        let mut rng = xorshift::XorShift::new(seed | 1);
        for i in 0..n {
            // SAFETY: every line of every block is ours (allocated below).
            unsafe { self.line_addr(i).write(i as u64) };
        }
        for i in (1..n).rev() {
            let j = (rng.next_u64() % i as u64) as usize;
            // SAFETY: as above.
            unsafe {
                let (a, b) = (self.line_addr(i), self.line_addr(j));
                let t = a.read();
                a.write(b.read());
                b.write(t);
            }
        }
        for i in 0..n {
            // SAFETY: as above.
            unsafe {
                let next = self.line_addr(i).read() as usize;
                self.line_addr(i).write(self.line_addr(next) as u64);
            }
        }
    }
}

fn alloc_buffer(node: usize) -> Option<Buffer> {
    let mut blocks = Vec::new();
    for _ in 0..BUFFER_BLOCKS {
        match alloc_pages_node(
            node as i32,
            Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN,
            BLOCK_ORDER,
        ) {
            Some(p) => blocks.push(p),
            None => break,
        }
    }
    if blocks.len() < 4 {
        for p in blocks {
            __free_pages(p, BLOCK_ORDER);
        }
        return None;
    }
    Some(Buffer { blocks })
}

fn chase(start: *const u64, steps: u64) -> u64 {
    let mut p = start;
    for _ in 0..steps {
        // SAFETY: every line holds the address of another line of the
        // same live buffer (build_chase).
        p = unsafe { p.read_volatile() } as *const u64;
    }
    black_box(p) as u64
}

fn read_sum(b: &Buffer, bytes: usize) -> u64 {
    let mut sum = 0u64;
    let mut left = bytes;
    for &blk in &b.blocks {
        let words = left.min(BLOCK_BYTES) / 8;
        let base = page_address(blk) as *const u64;
        for i in 0..words {
            // SAFETY: within the block.
            sum = sum.wrapping_add(unsafe { base.add(i).read_volatile() });
        }
        left -= words * 8;
        if left == 0 {
            break;
        }
    }
    sum
}

/// Runs the matrix; `scale` divides the chase steps and bytes read.
pub fn run(scale: u64) {
    let t = topology();
    kprintln!(
        "BENCH_NOTE {{\"matrix\":\"idle latency by dependent pointer chase, read bandwidth by sequential sum, per CPU node x memory node\",\"note\":\"every guest node of a QEMU VM is ordinary host memory: on a host with a single physical node the matrix is expected to be flat, whatever the SLIT says\"}}"
    );
    for mem in (0..t.node_count()).filter(|&n| t.has_memory(n)) {
        let Some(buf) = alloc_buffer(mem) else {
            kprintln!("# bench: matrix: no 16 MiB of node {mem}'s own memory; node {mem} skipped");
            continue;
        };
        buf.build_chase(0x9e37_79b9_7f4a_7c15 ^ mem as u64);
        let steps = (buf.lines() as u64 / scale).max(10_000);
        let bytes = (buf.bytes() / scale as usize).max(1 << 20).min(buf.bytes());
        for cpu_node in (0..t.node_count()).filter(|&n| t.has_cpus(n)) {
            let Some(cpu) = percpu::online().find(|c| c.node == cpu_node) else {
                continue;
            };
            let lat = AtomicU64::new(0);
            let bw = AtomicU64::new(0);
            let start = buf.line_addr(0) as *const u64 as u64;
            let r = ipi::schedule_on_cpu(
                cpu.cpu,
                &|_| {
                    chase(start as *const u64, steps / 10); // untimed round
                    let t0 = tsc::ns_since_boot();
                    chase(start as *const u64, steps);
                    lat.store(tsc::ns_since_boot() - t0, Relaxed);
                    black_box(read_sum(&buf, bytes)); // untimed round
                    let t0 = tsc::ns_since_boot();
                    black_box(read_sum(&buf, bytes));
                    bw.store(tsc::ns_since_boot() - t0, Relaxed);
                },
                ROUND_TIMEOUT_NS,
            );
            if r.is_err() {
                kprintln!(
                    "# bench: matrix: CPU {} did not finish ({r:?}); skipped",
                    cpu.cpu
                );
                continue;
            }
            let lat_ps = lat.load(Relaxed) * 1000 / steps;
            // MB/s = bytes / ns * 1000.
            let mb_s = bytes as u64 * 1000 / bw.load(Relaxed).max(1);
            // What the firmware claims for the pair, beside what was measured.
            let hmat = crate::numa::hmat_pair(cpu_node, mem).map_or(String::new(), |p| {
                format!(
                    ",\"hmat_read_latency_ns\":{},\"hmat_read_mb_s\":{}",
                    p.read_latency, p.read_bandwidth
                )
            });
            kprintln!(
                "BENCH_MATRIX {{\"cpu_node\":{cpu_node},\"cpu\":{},\"mem_node\":{mem},\"distance\":{},\"latency_ns\":{}.{:03},\"read_mb_s\":{mb_s},\"buffer_bytes\":{},\"chase_steps\":{steps},\"read_bytes\":{bytes}{hmat}}}",
                cpu.cpu,
                t.distance(cpu_node, mem),
                lat_ps / 1000,
                lat_ps % 1000,
                buf.bytes()
            );
        }
        for p in buf.blocks {
            __free_pages(p, BLOCK_ORDER);
        }
    }
}
