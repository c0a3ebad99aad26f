"""`beefine-tui export FILE --csv|--jsonl [filters]`: a recording's events, filtered, for other tools.

Streaming: one event is read, tested and written at a time (bounded memory whatever the file's size).
A corrupt line stops the export with its line number, after what came before it was written; an
incomplete recording is exported up to where it ends, with a note on stderr.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from beefine_tui.errors import UsageError

if TYPE_CHECKING:
    from beefine_tui.events.model import Event

CSV_COLUMNS = ("ts", "probe", "kind", "pid", "tid", "ppid", "comm", "container", "text", "args")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a recording (from --record)")
    fmt = parser.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row; args as a JSON column")
    fmt.add_argument("--jsonl", action="store_true", help="one JSON event per line (the recording's schema)")
    parser.add_argument("--probe", metavar="P", help="only events of these probes (comma-separated)")
    parser.add_argument("--kind", metavar="K", help="only events of these kinds (comma-separated)")
    parser.add_argument("--container", metavar="C", help="only events of the container whose id starts so")
    parser.add_argument("--pid", type=int, metavar="N", help="only events of this process id")
    parser.add_argument("--grep", metavar="TEXT", help="only events whose text, comm or args contain TEXT")


def _names(value: str | None, option: str) -> frozenset[str] | None:
    if value is None:
        return None
    names = frozenset(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise UsageError(f"{option} needs at least one name")
    return names


def run(args: argparse.Namespace) -> int:
    from beefine_tui.events.record import encode_event
    from beefine_tui.replay import open_recording

    probes = _names(args.probe, "--probe")
    kinds = _names(args.kind, "--kind")
    if args.container is not None and not args.container.strip():
        raise UsageError("--container needs an id (or the start of one)")
    if args.pid is not None and args.pid < 0:
        raise UsageError("--pid must be a process id (0 or more)")
    if args.grep is not None and not args.grep:
        raise UsageError("--grep needs some text")
    grep = args.grep.lower() if args.grep else None

    def wanted(ev: Event) -> bool:
        if probes is not None and ev.probe not in probes:
            return False
        if kinds is not None and ev.kind not in kinds:
            return False
        if args.container is not None and not (ev.container or "").startswith(args.container):
            return False
        if args.pid is not None and ev.pid != args.pid:
            return False
        if grep is not None:
            hay = f"{ev.text}\0{ev.comm}\0{json.dumps(ev.args.shown(), default=str)}".lower()
            return grep in hay
        return True

    _, events = open_recording(args.file)
    out = sys.stdout
    n = 0
    if args.csv:
        w = csv.writer(out)
        w.writerow(CSV_COLUMNS)
        for ev in events:
            if wanted(ev):
                w.writerow(
                    [ev.ts, ev.probe, ev.kind, ev.pid, ev.tid, ev.ppid, ev.comm, ev.container or "", ev.text,
                     json.dumps(ev.args.shown(), default=str, sort_keys=True)]
                )  # fmt: skip
                n += 1
    else:
        for ev in events:
            if wanted(ev):
                out.write(encode_event(ev).decode() + "\n")
                n += 1
    out.flush()
    if not events.complete:
        print(
            f"beefine-tui: note: the recording {args.file} is incomplete: {events.problem}; "
            f"{n} events exported up to where it ends",
            file=sys.stderr,
        )
    return 0
