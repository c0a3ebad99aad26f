"""`beefine-tui progs [--json] [--stats]`: every BPF program loaded on this machine, where it is
attached, who holds it, and with --stats how often it runs and for how long (like bpftop).

--stats counts through a BPF_ENABLE_STATS fd, so a killed `progs` leaves counting off; only kernels
older than 5.8 fall back to kernel.bpf_stats_enabled (put back on exit, SIGTERM and SIGHUP)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from beefine_tui.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON array (one object per program)")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="count runs for --interval seconds and show runs/s, ns per run and CPU%% (through a "
        "BPF_ENABLE_STATS fd, which the kernel drops even if we are killed; before Linux 5.8 through "
        "kernel.bpf_stats_enabled, restored on exit)",
    )
    parser.add_argument(
        "--interval", type=float, default=None, metavar="S", help="measuring window for --stats (default 1)"
    )
    parser.add_argument("--ours", action="store_true", help="only programs held by beefine-tui processes")
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM / SIGHUP (a dropped SSH session) raise KeyboardInterrupt, so `finally` blocks run."""

    def handler(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _fmt_num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def run(args: argparse.Namespace) -> int:
    from beefine_tui.privileges import require_bpf
    from beefine_tui.probes import inventory as inv

    if args.interval is not None and not args.stats:
        raise UsageError("--interval is the measuring window of --stats: add --stats, or drop --interval")
    args.interval = 1.0 if args.interval is None else args.interval
    if not 0.1 <= args.interval <= 60:
        raise UsageError("--interval must be between 0.1 and 60 seconds")
    rates: dict[int, inv.Rate] = {}
    method: str | None = None
    if getattr(args, "remote", None) and args.stats:
        rows, rates, method = _remote_stats(args)
    elif getattr(args, "remote", None):
        rows = _remote_rows(args)
    elif args.stats:
        require_bpf("list the BPF programs on this machine")
        with _signals_interrupt(), inv.stats_on() as guard:
            method = guard.method
            first = inv.snapshot()
            time.sleep(args.interval)
            cur = inv.snapshot()
        rates = inv.rates(first, cur, stats_on=True)
        rows = list(cur.rows)
    else:
        require_bpf("list the BPF programs on this machine")
        rows = inv.inventory()
    if args.ours:
        rows = [r for r in rows if _is_beefine(r)]
    if args.json:
        out = []
        for r in rows:
            d = r.to_json()
            rt = rates.get(r.prog.id)
            if args.stats:
                d["runs_per_s"] = rt.runs_per_s if rt else None
                d["avg_ns"] = rt.avg_ns if rt else None
                d["cpu_percent"] = rt.cpu_percent if rt else None
                d["stats_method"] = method
            out.append(d)
        json.dump(out, sys.stdout, indent=None)
        sys.stdout.write("\n")
        return 0
    _print_table(rows, rates, args.stats)
    if method is not None:
        print(f"run counts: measured for {args.interval:g} s through {method}")
    elif rows and all(r.prog.run_cnt is None for r in rows):
        print("run counts: off; --stats measures them for a second")
    return 0


def _remote_rows(args: argparse.Namespace) -> list[Any]:
    """The host's programs, from its agent's `progs` (the agent is one of their holders)."""
    from beefine_tui.agent.client import connect
    from beefine_tui.agent.host_views import remote_progs
    from beefine_tui.commands.remote import agent_args

    client = connect(args.remote, agent_args(args))
    try:
        return remote_progs(client)
    finally:
        client.close()


def _remote_stats(args: argparse.Namespace) -> tuple[list[Any], dict[int, Any], str | None]:
    """The host's programs and what each ran for --interval seconds, counted there by its agent."""
    from beefine_tui.agent.client import connect
    from beefine_tui.agent.host_views import remote_progs_stats
    from beefine_tui.commands.remote import agent_args

    client = connect(args.remote, agent_args(args))
    try:
        rows, rates, method = remote_progs_stats(client, args.interval)
        return list(rows), dict(rates), method
    finally:
        client.close()


def _is_beefine(row: Any) -> bool:
    return row.ours or any("beefine" in c for c in row.owner_comms)


def _print_table(rows: list[Any], rates: dict[int, Any], stats: bool) -> None:
    head = ["ID", "TYPE", "NAME", "ATTACHED TO", "HELD BY"]
    if stats:
        head += ["RUNS/S", "NS/RUN", "CPU%"]
    else:
        head += ["RUNS", "RUN TIME ms"]
    table: list[list[str]] = []
    for r in rows:
        p = r.prog
        held = ",".join(f"{pid}/{c}" for pid, c in zip(r.owners, r.owner_comms, strict=False)) or "-"
        if r.ours:
            held += " (ours)"
        line = [str(p.id), p.type, p.name or "-", r.attach_text, held]
        if stats:
            rt = rates.get(p.id)
            line += [
                _fmt_num(rt.runs_per_s if rt else None, 1),
                _fmt_num(rt.avg_ns if rt else None),
                _fmt_num(rt.cpu_percent if rt else None, 3),
            ]
        else:
            line += [
                _fmt_num(p.run_cnt),
                _fmt_num(p.run_time_ns / 1e6 if p.run_time_ns is not None else None, 1),
            ]
        table.append(line)
    widths = [max(len(h), *(len(row[i]) for row in table)) if table else len(h) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for row in table:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not table:
        print("(no BPF programs loaded)")
