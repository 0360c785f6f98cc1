#!/usr/bin/env python3
"""One table for a topology sweep (run-qemu.sh --sweep).

  sweep-summary.py SWEEP_DIR PRESET...

For each preset the sweep left SWEEP_DIR/P.status ("P EXIT START END",
epoch seconds), SWEEP_DIR/P.log (the launcher's output: the QEMU command
line and the console) and, for a --bench run, SWEEP_DIR/P/*/results.jsonl.
Prints the table and writes it to SWEEP_DIR/report.md. Standard library
only.
"""
import glob
import json
import os
import re
import sys

VERDICTS = {0: "pass", 1: "FAIL", 2: "timeout/QEMU error"}
# The headline workloads, as the README's benchmark table has them.
HEADLINE = [
    ("slab_pair", 64, "slab_pair 64"),
    ("cache_pair", 192, "cache_pair"),
    ("page_pair", 0, "page_pair 0"),
    ("page_batch", 0, "page_batch"),
    ("vmalloc_pair", 65536, "vmalloc_pair 64 KiB"),
]
PEERS = ["talc", "linked_list_allocator", "buddy_system_allocator"]


def topology(log):
    """CPUs, memory and nodes from the QEMU command line in the log."""
    m = re.search(r"^run-qemu: qemu-system-x86_64 (.*)$", log, re.M)
    if not m:
        return "?"
    cmd = m.group(1)
    cpus = re.search(r"-smp (\d+)", cmd)
    mem = re.search(r"-m (\S+)", cmd)
    nodes = len(re.findall(r"-numa node,", cmd)) or 1
    mem = mem.group(1).split(",")[0] if mem else "?"
    plural = "s" if nodes != 1 else ""
    return f"{nodes} node{plural}, {cpus.group(1) if cpus else '?'} CPUs, {mem}"


def selftests(log):
    m = re.search(r"^selftest: (\d+) passed, (\d+) failed, (\d+) skipped", log, re.M)
    return f"{m.group(1)}/{m.group(2)}/{m.group(3)}" if m else "-"


def boot_ms(log):
    m = re.search(r"boot: entry to end of self-tests took ([0-9.]+) ms", log)
    return f"{float(m.group(1)):.0f}" if m else "-"


def bench(sweep_dir, preset):
    """{label: (ours ns, best peer / ours)} from the preset's results."""
    files = sorted(glob.glob(os.path.join(sweep_dir, preset, "*", "results.jsonl")))
    if not files:
        return None
    rows = {}
    with open(files[-1]) as f:
        for line in f:
            if not line.startswith("BENCH {"):
                continue
            d = json.loads(line[len("BENCH "):])
            if d.get("cpus", 1) != 1 or "target_node" in d:
                continue
            arg = d.get("size", d.get("order"))
            rows.setdefault((d["bench"], arg), {})[d["allocator"]] = d["ns_per_op"]
    out = {}
    for name, arg, label in HEADLINE:
        r = rows.get((name, arg), {})
        ours = r.get("ours")
        peers = [r[p] for p in PEERS if p in r]
        ratio = min(peers) / ours if ours and peers else None
        out[label] = (ours, ratio)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sweep_dir, presets = sys.argv[1], sys.argv[2:]
    header = ["preset", "verdict", "topology", "self-tests pass/fail/skip", "boot ms", "wall s"]
    runs = []
    any_bench = False
    for p in presets:
        status = open(os.path.join(sweep_dir, f"{p}.status")).read().split()
        rc, start, end = int(status[1]), float(status[2]), float(status[3])
        log_path = os.path.join(sweep_dir, f"{p}.log")
        log = open(log_path, errors="replace").read() if os.path.exists(log_path) else ""
        b = bench(sweep_dir, p)
        any_bench |= b is not None
        runs.append((p, rc, end - start, log, b))
    if any_bench:
        header += [f"{label} ns (best peer / ours)" for _, _, label in HEADLINE]
    lines = [
        f"# Topology sweep: {', '.join(presets)}",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for p, rc, wall, log, b in runs:
        cells = [p, VERDICTS.get(rc, f"exit {rc}"), topology(log), selftests(log), boot_ms(log), f"{wall:.1f}"]
        if any_bench:
            for _, _, label in HEADLINE:
                ours, ratio = (b or {}).get(label, (None, None))
                cells.append("-" if ours is None else f"{ours:,.1f}" + ("" if ratio is None else f" ({ratio:.2f})"))
        lines.append("| " + " | ".join(cells) + " |")
    worst = max((rc for _, rc, _, _, _ in runs), default=0)
    lines += ["", f"Worst exit status: {worst}. Logs: {sweep_dir}/PRESET.log."]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(sweep_dir, "report.md"), "w") as f:
        f.write(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
