"""`beefine-tui stats [--json] [--watch S]`: the dashboard's table, once or every S seconds."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from beefine_tui.errors import UsageError

if TYPE_CHECKING:
    from rich.table import Table

    from beefine_tui.docker.stats import Snapshot

# CPU % needs two samples; a single `stats` waits this long between them (docker stats uses ~1 s)
FIRST_SAMPLE_GAP = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object per sample")
    parser.add_argument("--watch", type=float, metavar="S", help="print again every S seconds (Ctrl-C stops)")
    parser.add_argument(
        "--docker-host", metavar="URL", help="Docker daemon (default: $DOCKER_HOST, then the system socket)"
    )


def run(args: argparse.Namespace) -> int:

    from beefine_tui.commands.inspect import client_for
    from beefine_tui.docker.stats import StatsCollector

    if args.watch is not None and not (0.2 <= args.watch <= 3600):
        raise UsageError(f"--watch {args.watch}: out of range", "use between 0.2 and 3600 seconds")
    if args.remote:
        return run_remote(args)
    client, host = client_for(args.docker_host)
    col = StatsCollector(client, host=host)
    try:
        col.refresh()
        time.sleep(FIRST_SAMPLE_GAP)
        while True:
            snap = col.refresh()
            _show(snap, args)
            if snap.error and args.watch is None:
                from beefine_tui.errors import DockerUnavailableError

                raise DockerUnavailableError(snap.error)
            if args.watch is None:
                return 0
            time.sleep(args.watch)
    finally:
        col.close()
        client.close()  # type: ignore[attr-defined]


def render_table(snap: Snapshot) -> Table:
    from rich.table import Table

    from beefine_tui.docker.stats import human_bytes, human_si

    d = snap.daemon
    title = (
        "no daemon"
        if d is None
        else (
            f"Docker {d.version}  {d.storage_driver}  cgroup {d.cgroup_driver} v{d.cgroup_version}  "
            f"root {d.root_dir}\n"
            f"containers: {d.containers_running} running, {d.containers_paused} paused, "
            f"{d.containers_stopped} stopped; images: {d.images}"
        )
    )
    t = Table(title=title, caption=snap.error or None)
    for c in ("CONTAINER", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET I/O", "BLOCK I/O", "PIDS"):
        t.add_column(c)
    for r in snap.rows:
        t.add_row(
            r.id[:12],
            r.name,
            "-" if r.cpu_percent is None else f"{r.cpu_percent:.2f}%",
            f"{human_bytes(r.mem_bytes)} / {human_bytes(r.mem_limit)}",
            "-" if r.mem_percent is None else f"{r.mem_percent:.2f}%",
            f"{human_si(r.net_rx)} / {human_si(r.net_tx)}",
            f"{human_si(r.blk_read)} / {human_si(r.blk_write)}",
            "-" if r.pids is None else str(r.pids),
        )
    return t


def run_remote(args: argparse.Namespace) -> int:
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.docker.stats import Snapshot

    client = connect(args.remote, agent_args(args))
    try:
        while True:
            snap = msgspec.convert(client.request("stats"), Snapshot)
            _show(snap, args)
            if args.watch is None:
                return 0
            time.sleep(args.watch)
    finally:
        client.close()


def _show(snap: Snapshot, args: argparse.Namespace) -> None:
    """One snapshot, as a JSON line or a table (redrawn in place with --watch on a terminal)."""
    if args.json:
        import msgspec

        sys.stdout.buffer.write(msgspec.json.encode(snap) + b"\n")
        sys.stdout.flush()
        return
    from rich.console import Console

    console = Console()
    if args.watch is not None and console.is_terminal:
        console.clear()
    console.print(render_table(snap))
