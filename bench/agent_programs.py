"""Benchmark (not a test): seconds to load a user's program and see its first event, in this
process (probes/user_program, as the local TUI does) and through an agent's `load` (a local pipe, and
over SSH with --remote SPEC; BEEFINE_SSH and BEEFINE_AGENT_COMMAND apply), in alternating rounds;
and seconds for a verifier refusal to come back. The agent compiles with clang on its side: the
protocol should add little to that.

    sudo .venv/bin/python bench/agent_programs.py [--rounds 5] [--remote root@host]

Prints per side: p50 and min..max over the rounds.

Measured 2026-12-03 on the 2-CPU VM shared with other work, 5 rounds, SSH to 127.0.0.1: load until
the first event here, local p50 0.65 s (0.52..0.67), agent over a pipe 0.54 s (0.54..0.60), agent
over SSH 0.55 s (0.53..0.79); a verifier refusal back, local 0.32 s (0.28..0.45), pipe 0.35 s
(0.30..0.44), SSH 0.29 s (0.28..0.29). The protocol and SSH add nothing measurable to clang's
compile and the verifier at this noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from beefine_tui.agent import protocol as P
from beefine_tui.agent.client import AgentClient, AgentProgramError, connect, open_client
from beefine_tui.errors import ProbeLoadError
from beefine_tui.probes.user_program import UserBccProgram

PROGRAM = """// name: bench-load
struct rec { u32 pid; char filename[128]; };
BPF_RINGBUF_OUTPUT(events, 8);

TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    struct rec r = {};
    r.pid = bpf_get_current_pid_tgid() >> 32;
    bpf_probe_read_user_str(&r.filename, sizeof(r.filename), args->filename);
    events.ringbuf_output(&r, sizeof(r), 0);
    return 0;
}
"""
REJECTED = """// name: bench-reject
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_execve)
{
    u32 key = 1;
    u64 *val = counts.lookup(&key);
    *val += 1;
    return 0;
}
"""
LOCAL_AGENT = [sys.executable, "-m", "beefine_tui", "agent"]


def _exec_until(seen: Callable[[], bool], path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run([str(path)], check=True)
        if seen():
            return
    raise SystemExit("the program's first event never came")


def local_round(path: Path) -> tuple[float, float]:
    got: list[Any] = []
    t0 = time.monotonic()
    prog = UserBccProgram(PROGRAM, "bench.c")
    try:
        prog.start(got.extend)
        _exec_until(lambda: any(e.args.get("filename") == str(path) for e in got), path)
        loaded = time.monotonic() - t0
    finally:
        prog.stop()
    t0 = time.monotonic()
    bad = UserBccProgram(REJECTED, "reject.c")
    try:
        bad.start(lambda batch: None)
        raise SystemExit("the verifier accepted the rejected program")
    except ProbeLoadError:
        refused = time.monotonic() - t0
    finally:
        bad.stop()
    return loaded, refused


def agent_round(client: AgentClient, path: Path) -> tuple[float, float]:
    t0 = time.monotonic()
    r = client.request("load", timeout=300, source=PROGRAM, origin="bench.c")
    events: list[Any] = []

    def seen() -> bool:
        for m in client.stream_messages(0.05):
            if isinstance(m, P.Events) and m.stream == r["stream"]:
                events.extend(m.events)
        return any(e.args.get("filename") == str(path) for e in events)

    try:
        _exec_until(seen, path)
        loaded = time.monotonic() - t0
    finally:
        client.request("unload", program=r["program"])
    t0 = time.monotonic()
    try:
        client.request("load", timeout=300, source=REJECTED, origin="reject.c")
        raise SystemExit("the verifier accepted the rejected program")
    except AgentProgramError:
        refused = time.monotonic() - t0
    return loaded, refused


def _line(name: str, xs: list[float]) -> str:
    return f"{name:<22} p50 {statistics.median(xs):6.3f} s   min..max {min(xs):6.3f}..{max(xs):6.3f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--remote", help="[user@]host[:port]: also through an agent over SSH")
    a = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root: it loads BPF programs", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-agent-programs-"))
    path = tmp / f"bfbench-{os.getpid()}"
    shutil.copy("/bin/true", path)
    clients: dict[str, AgentClient] = {"agent (pipe)": open_client(LOCAL_AGENT, "pipe")}
    try:
        if a.remote:
            clients["agent (ssh)"] = connect(a.remote)
        sides = ["local", *clients]
        loads: dict[str, list[float]] = {s: [] for s in sides}
        refusals: dict[str, list[float]] = {s: [] for s in sides}
        for i in range(a.rounds):
            order = sides if i % 2 == 0 else list(reversed(sides))  # alternate who goes first
            for side in order:
                lo, re_ = local_round(path) if side == "local" else agent_round(clients[side], path)
                loads[side].append(lo)
                refusals[side].append(re_)
        print(f"{a.rounds} rounds, alternating; load = load+attach until the first event arrived here")
        for side in sides:
            print(_line(f"load {side}", loads[side]))
        for side in sides:
            print(_line(f"refusal {side}", refusals[side]))
    finally:
        for c in clients.values():
            c.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
