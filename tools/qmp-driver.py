#!/usr/bin/env python3
"""Drive a running VM through its QMP socket (run-qemu.sh starts it).

  qmp-driver.py --socket PATH --console FILE [--at WHEN COMMAND]...
                [--host-bind MAP] [--timeout S]

--at WHEN COMMAND: issue COMMAND ("name" or "name {json arguments}") when
  WHEN comes: "+SECONDS" after the VM started, or the first console line
  containing WHEN. Commands run in the order given, each once.
--host-bind MAP: "G:H,..." pins the vCPU threads of guest node G to the
  CPUs of host node H (thread ids from query-cpus-fast); the memory side
  (host-nodes= on the node's memory backend) is the launcher's.

Every command and reply is printed ("qmp> ...", "qmp< ..."), and every
event QEMU sends ("qmp< event ..."), to stderr. The driver ends when QEMU
closes the socket. The VM starts paused (-S): the driver pins the vCPUs,
then issues `cont`. The QMP client is QEMU's own Python library, qemu.qmp
(PyPI), not hand-written JSON.
"""
import argparse
import asyncio
import json
import os
import sys
import time


def say(text):
    print(f"run-qemu: {text}", file=sys.stderr, flush=True)


def parse_command(text):
    name, _, rest = text.strip().partition(" ")
    args = json.loads(rest) if rest.strip() else None
    if args is not None and not isinstance(args, dict):
        raise ValueError(f"the arguments of '{name}' must be a JSON object")
    return name, args


def host_node_cpus(node):
    """The CPUs of host NUMA node `node` (sysfs cpulist)."""
    path = f"/sys/devices/system/node/node{node}/cpulist"
    cpus = set()
    with open(path) as f:
        for part in f.read().strip().split(","):
            if not part:
                continue
            lo, _, hi = part.partition("-")
            cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


async def execute(qmp, name, args):
    say(f"qmp> {json.dumps({'execute': name, **({'arguments': args} if args else {})})}")
    try:
        reply = await qmp.execute(name, args)
        say(f"qmp< {json.dumps({'return': reply})}")
        return reply
    except Exception as e:  # an error reply, or the VM went away
        say(f"qmp< error: {e}")
        return None


async def bind_vcpus(qmp, mapping):
    cpus = await execute(qmp, "query-cpus-fast", None) or []
    for c in cpus:
        guest = c.get("props", {}).get("node-id", 0)
        host = mapping.get(guest)
        if host is None:
            continue
        tid = c["thread-id"]
        try:
            allowed = host_node_cpus(host)
            os.sched_setaffinity(tid, allowed)
            say(
                f"host-bind: vCPU {c['cpu-index']} (guest node {guest}, thread {tid}) "
                f"pinned to host node {host}'s CPUs {sorted(allowed)}"
            )
        except OSError as e:
            say(f"host-bind: vCPU {c['cpu-index']} (thread {tid}) not pinned: {e}")


async def print_events(qmp):
    async for event in qmp.events:
        say(f"qmp< event {event['event']} {json.dumps(event.get('data', {}))}")


async def console_has(path, needle, seen):
    """Whether the console so far has a line containing `needle`; `seen`
    is [bytes read, text read] across calls."""
    try:
        with open(path, "rb") as f:
            f.seek(seen[0])
            chunk = f.read()
    except FileNotFoundError:
        return False
    seen[0] += len(chunk)
    seen[1] += chunk.decode(errors="replace")
    return needle in seen[1]


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--console", required=True)
    ap.add_argument("--at", nargs=2, action="append", default=[], metavar=("WHEN", "COMMAND"))
    ap.add_argument("--host-bind", default="")
    ap.add_argument("--timeout", type=float, default=30, help="seconds to wait for the socket")
    ap.add_argument("--check", action="store_true", help="only check the commands and the map")
    a = ap.parse_args()
    plan = []
    for when, command in a.at:
        try:
            plan.append((when, *parse_command(command)))
        except ValueError as e:
            sys.exit(f"run-qemu: --at {when!r} {command!r}: {e}")
    mapping = {}
    for pair in filter(None, a.host_bind.split(",")):
        g, _, h = pair.partition(":")
        mapping[int(g)] = int(h)
    for when, _, _ in plan:
        if when.startswith("+"):
            try:
                float(when[1:])
            except ValueError:
                sys.exit(f"run-qemu: --at {when!r}: +SECONDS wants a number")
    if a.check:
        return 0

    from qemu.qmp import QMPClient

    qmp = QMPClient("run-qemu")
    deadline = time.monotonic() + a.timeout
    while True:
        try:
            await qmp.connect(a.socket)
            break
        except Exception:
            if time.monotonic() > deadline:
                say(f"qmp: no QMP socket at {a.socket} after {a.timeout:.0f}s")
                return 2
            await asyncio.sleep(0.05)
    events = asyncio.create_task(print_events(qmp))
    if mapping:
        await bind_vcpus(qmp, mapping)
    # The launcher starts the VM paused (-S) so that nothing runs before
    # the vCPUs are pinned and no trigger can be missed.
    await execute(qmp, "cont", None)
    started = time.monotonic()
    seen = [0, ""]
    try:
        for when, name, args in plan:
            while True:
                if qmp.runstate.name != "RUNNING":
                    return 0
                if when.startswith("+"):
                    if time.monotonic() - started >= float(when[1:]):
                        break
                elif await console_has(a.console, when, seen):
                    break
                await asyncio.sleep(0.02)
            say(f"qmp: {when!r} came")
            await execute(qmp, name, args)
        # Stay for the events (DEVICE_DELETED, ...) until QEMU goes.
        while qmp.runstate.name == "RUNNING":
            await asyncio.sleep(0.05)
    finally:
        events.cancel()
        try:
            await qmp.disconnect()
        except Exception:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
