"""`beefine-tui replay FILE [--print] [--speed X]`: open a recording in the TUI, or print it.

A corrupt or foreign file is reported with its line number (events/record.py RecordError), never a
traceback; with --print, events before the bad line are printed first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from beefine_tui.errors import UsageError

if TYPE_CHECKING:
    from beefine_tui.events.record import Recording


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a JSON-lines recording (from --record)")
    parser.add_argument("--print", action="store_true", help="print the events instead of opening the TUI")
    parser.add_argument("--json", action="store_true", help="with --print: one JSON event per line")
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="TUI replay speed, 0.25 to 50 (1 = as recorded; + and - change it); 0 opens at the end",
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.replay import check_speed, format_line, open_recording

    check_speed(args.speed)
    if args.json and not args.print:
        raise UsageError("--json needs --print (the TUI shows the events itself)")
    if args.print and args.speed != 1.0:
        raise UsageError("--speed applies to the TUI's replay; --print prints everything at once")
    header, events = open_recording(args.file)  # RecordError for a missing file or a bad header
    if not args.print:
        # read it all once so a corrupt line is reported here, with its number, not inside the TUI
        # (each line checked as JSON, only its time and kind decoded: the screen indexes it again)
        for _ in events.stamped_lines():
            pass
        _warn_incomplete(args.file, events)
        from beefine_tui.commands import tui

        ns = argparse.Namespace(docker_host=None, lab=False, replay=args.file, speed=args.speed, open=[])
        return tui.run(ns)
    out = sys.stdout
    if args.json:
        from beefine_tui.events.record import encode_event

        for ev in events:
            out.write(encode_event(ev).decode() + "\n")
        _warn_incomplete(args.file, events)
        return 0
    probes = ", ".join(header.probes) or "-"
    out.write(f"# recording from {header.host} (kernel {header.kernel}), probes: {probes}\n")
    base = 0
    n = 0
    for ev in events:
        if not base:
            base = ev.ts
        out.write(format_line(ev, base) + "\n")
        n += 1
    out.write(f"# {n} events" + ("" if events.complete else f" (INCOMPLETE: {events.problem})") + "\n")
    _warn_incomplete(args.file, events)
    return 0


def _warn_incomplete(path: Path, events: Recording) -> None:
    """Said on stderr too, so a script piping the events still learns the recording is partial."""
    if not events.complete:
        print(f"beefine-tui: note: the recording {path} is incomplete: {events.problem}", file=sys.stderr)
