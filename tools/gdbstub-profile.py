#!/usr/bin/env python3
"""Profile the kernel through QEMU's gdb stub (TCG), with nothing in the guest.

  sample: stop the VM every PERIOD seconds, read every vCPU's rip, resume;
          print the functions (innermost and inlined callers) by share.
  trace:  break at a function, then single-step one vCPU until that
          function has been entered N more times; print the instructions
          each function executed (exact counts, the tool for a fast path).

Start QEMU with its stub first, e.g. (the kernel waits for the debugger):
  ./run-qemu.sh --tcg --gdb --cmdline "selftest=off bench=page_pair bench.scale=100"   (then, elsewhere:)
  tools/gdbstub-profile.py trace 'BenchAlloc>::page_alloc$' --skip 300 --iterations 1
or, for sampling a running VM, `--qemu-arg -s` instead of `--gdb`.

`--skip` counts every call, boot's included (kmem_cache_alloc_slow runs
thousands of times before a benchmark starts), and only one vCPU runs
while it is stepped: a path that waits on another CPU (an IPI) spins in
the trace. To trace one phase of a workload, call an #[inline(never)]
marker function once at the point wanted (behind a static counter, say)
and trace the marker with no --skip and a --limit.

A trace also counts the instructions TCG charges far more than their
share of an instruction count (`-icount` counts each as one): calls and
returns (a return, an indirect call or jump looks its target up in the
translation cache), lock-prefixed and exchange instructions (host
atomics), and the interrupt-flag instructions (pushf, popf, cli, sti:
helpers). Measured on this project's host under TCG, a loop of plain
stores took 7-8 ns an iteration, a call and return 26-30, a lock add
14-15, a without_interrupts bracket 40-45, a store to each of 1,024
pages in turn (each missing TCG's software TLB) about 190. Then the
steps onto another 4 KiB page of code (TCG chains translation blocks
only within a page, so such a step looks its target up), and the
instructions with a memory operand by function: TCG's generated code
checks its software TLB for each.

Symbols come from `addr2line -i` over the kernel ELF (debug info is on in
the release profile). Standard library only (objdump and addr2line from
binutils).
"""
import argparse
import collections
import re
import socket
import subprocess
import sys
import time

KERNEL = "target/x86_64-unknown-none/release/kernel"
RIP_HEX = slice(16 * 16, 17 * 16)  # rip in a 'g' reply: register 16, 8 bytes


class Stub:
    """Just enough of the gdb remote protocol: packets, acks, stop replies."""

    def __init__(self, port, wait_s=30):
        deadline = time.time() + wait_s
        while True:
            try:
                self.s = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit(f"no gdb stub on port {port}")
                time.sleep(0.05)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        # QEMU stops the VM when a debugger attaches.
        self.send("qSupported")
        while "PacketSize" not in self.recv():
            pass

    def send(self, cmd):
        data = cmd.encode()
        self.s.sendall(b"$" + data + b"#%02x" % (sum(data) % 256))

    def recv(self):
        while True:
            i = self.buf.find(b"$")
            j = self.buf.find(b"#", i) if i >= 0 else -1
            if j >= 0 and len(self.buf) >= j + 3:
                pkt, self.buf = self.buf[i + 1 : j], self.buf[j + 3 :]
                self.s.sendall(b"+")
                return pkt.decode()
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data

    def cmd(self, c):
        self.send(c)
        return self.recv()

    def wait_stop(self):
        while True:
            p = self.recv()
            if p[:1] in ("T", "S"):
                return p

    def interrupt(self):
        self.s.sendall(b"\x03")
        return self.wait_stop()

    def rip(self, thread):
        if self.cmd(f"Hg{thread}") != "OK":
            return None
        regs = self.cmd("g")
        if len(regs) < RIP_HEX.stop:
            return None
        return int.from_bytes(bytes.fromhex(regs[RIP_HEX]), "little")


def symbolize(kernel, pcs):
    """pc -> [innermost function, its inlined callers..., the real function]."""
    out = subprocess.run(
        ["addr2line", "-a", "-f", "-i", "-C", "-e", kernel] + [f"{p:x}" for p in sorted(set(pcs))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    frames, cur = {}, None
    for line in out:
        if line.startswith("0x"):
            cur = int(line, 16)
            frames[cur] = []
        elif cur is not None and line and not line.startswith(("/", "??:")):
            frames[cur].append(line[:110])
    return frames


def report(kernel, pcs, top):
    frames = symbolize(kernel, pcs)
    inner, inclusive = collections.Counter(), collections.Counter()
    for p in pcs:
        fs = frames.get(p) or ["?"]
        inner[fs[0]] += 1
        for f in set(fs):
            inclusive[f] += 1
    n = max(len(pcs), 1)
    print(f"{len(pcs)} samples")
    for title, counter in (("innermost", inner), ("inclusive", inclusive)):
        print(f"== {title}")
        for f, c in counter.most_common(top):
            print(f"{100 * c / n:5.1f}% {c:7} {f}")


def symbol_address(kernel, pattern):
    nm = subprocess.run(["nm", "-C", kernel], capture_output=True, text=True, check=True).stdout
    for line in nm.splitlines():
        addr, _, name = line.split(" ", 2)
        if re.search(pattern, name):
            return int(addr, 16), name
    sys.exit(f"no symbol matches {pattern!r}")


def sample(args):
    stub = Stub(args.port)
    pcs = []
    try:
        while True:
            stub.send("c")
            time.sleep(args.period)
            stub.interrupt()
            for t in range(1, args.cpus + 1):
                if args.cpu and t != args.cpu:
                    continue
                pc = stub.rip(t)
                if pc is not None:
                    pcs.append(pc)
    except (EOFError, ConnectionError):
        pass  # the VM powered off
    report(args.kernel, pcs, args.top)


def trace(args):
    addr, name = symbol_address(args.kernel, args.function)
    print(f"breaking at {addr:#x} {name}")
    stub = Stub(args.port)
    stub.cmd(f"Z0,{addr:x},1")
    # Only a stop at the breakpoint counts as a call: QEMU may also stop
    # for other reasons, and how many such stops there were is printed.
    hits, stops = 0, 0
    while hits < args.skip + 1:
        stub.send("c")
        stop = stub.wait_stop()
        stops += 1
        thread = stop.split("thread:")[1].split(";")[0] if "thread:" in stop else "1"
        if stub.rip(thread) == addr:
            hits += 1
    if stops != hits:
        print(f"({stops - hits} stops away from the breakpoint not counted)")
    stub.cmd(f"z0,{addr:x},1")
    pcs, entries = [], 0
    while len(pcs) < args.limit:
        pc = stub.rip(thread)
        if pcs and pc == addr:
            entries += 1
            if entries >= args.iterations:
                break
        pcs.append(pc)
        stub.send(f"vCont;s:{thread}")
        stub.wait_stop()
    print(f"{len(pcs)} instructions over {args.iterations} call(s)")
    report(args.kernel, pcs, args.top)
    costly(args.kernel, pcs)


COSTLY = (
    ("call", re.compile(r"^call")),
    ("ret", re.compile(r"^ret")),
    ("indirect jmp", re.compile(r"^jmp\s+\*")),
    ("lock/xchg", re.compile(r"^(lock\b|xchg)")),
    ("pushf/popf", re.compile(r"^(pushf|popf)")),
    ("cli/sti", re.compile(r"^(cli|sti)\b")),
)


MEMORY_OPERAND = re.compile(r"^(?!lea|nop|prefetch)\S+\s+.*(\(|%[gf]s:)")
STACK_OP = re.compile(r"^(push|pop|call|ret)")


def costly(kernel, pcs):
    """Counts, among the traced instructions, those TCG charges most for."""
    lo, hi = min(pcs), max(pcs) + 16
    dis = subprocess.run(
        ["objdump", "-d", "-C", "--no-show-raw-insn", f"--start-address={lo:#x}", f"--stop-address={hi:#x}", kernel],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    mnemonic, function, current = {}, {}, "?"
    for line in dis.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if head:
            current = head.group(1)
        m = re.match(r"^\s*([0-9a-f]+):\s+(.*)$", line)
        if m:
            mnemonic[int(m.group(1), 16)] = m.group(2).strip()
            function[int(m.group(1), 16)] = current
    counts = collections.Counter()
    for p in pcs:
        text = mnemonic.get(p, "")
        for name, rx in COSTLY:
            if rx.search(text):
                counts[name] += 1
    print("== instructions TCG charges most for")
    for name, _ in COSTLY:
        print(f"{counts[name]:7} {name}")
    crossings = sum(1 for a, b in zip(pcs, pcs[1:]) if a >> 12 != b >> 12)
    print(f"{crossings:7} steps onto another 4 KiB page of code")
    # Each guest load or store goes through TCG's inline TLB check (and
    # its refill on a miss): an instruction with a memory operand costs
    # more than one without. lea and nop only look like one; push, pop,
    # call and ret touch the stack without a written operand.
    loads = [p for p in pcs if MEMORY_OPERAND.search(mnemonic.get(p, ""))]
    stack = sum(1 for p in pcs if STACK_OP.search(mnemonic.get(p, "")))
    print(f"{len(loads):7} with a memory operand (and {stack} pushes, pops, calls and returns)")
    by_function = collections.Counter(function.get(p, "?") for p in loads)
    print("== memory operands by function (not inlined)")
    for f, c in by_function.most_common(12):
        print(f"{c:7} {f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=1234)
    ap.add_argument("--kernel", default=KERNEL)
    ap.add_argument("--top", type=int, default=30)
    sub = ap.add_subparsers(required=True)
    s = sub.add_parser("sample", help="sampling profile of a running VM")
    s.add_argument("--period", type=float, default=0.003, help="seconds between samples")
    s.add_argument("--cpus", type=int, default=2, help="vCPUs to read (gdb threads 1..N)")
    s.add_argument("--cpu", type=int, default=0, help="only this gdb thread (1-based)")
    s.set_defaults(run=sample)
    t = sub.add_parser("trace", help="exact instructions of N calls of a function")
    t.add_argument("function", help="regular expression over demangled symbol names")
    t.add_argument("--skip", type=int, default=0, help="calls to let pass first (warm-up)")
    t.add_argument("--iterations", type=int, default=1, help="calls to trace")
    t.add_argument("--limit", type=int, default=400_000, help="most instructions to step")
    t.set_defaults(run=trace)
    args = ap.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
