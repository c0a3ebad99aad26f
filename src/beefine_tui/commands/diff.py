"""`beefine-tui diff A B [--json | --tui]`: what differs between two `trace --record` recordings: phases side
by side, the security, mount, namespace, hostname and network details, and the event kinds only one
has. Each story is rebuilt from its file alone (story/diff.py). --tui opens the app on its Compare
view with both files filled in and compared (screens/compare_view.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, metavar="A", help="a recording from `trace --record`")
    parser.add_argument("b", type=Path, metavar="B", help="another one, compared with A")
    parser.add_argument("--json", action="store_true", help="one JSON object with every difference")
    parser.add_argument(
        "--tui", action="store_true", help="open the TUI's Compare view on A and B (scrollable, no root)"
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.story.diff import compare, diff_lines, load_trace

    if args.tui:
        return _open_tui(args)
    stories = [load_trace(args.a), load_trace(args.b)]  # RecordError / UsageError: clear messages
    d = compare(*stories)
    if args.json:
        print(json.dumps(d, default=str))
    else:
        for line in diff_lines(d):
            print(line)
    for t in stories:
        if not t.complete:
            # the diff of a cut recording may show differences that are only the cut
            print(f"beefine-tui: note: the recording {t.path} is incomplete: {t.problem}", file=sys.stderr)
    return 0


def _open_tui(args: argparse.Namespace) -> int:
    from beefine_tui.errors import UsageError
    from beefine_tui.replay import open_recording

    if args.json:
        raise UsageError("--json prints the comparison; --tui shows it: give one of them")
    for p in (args.a, args.b):
        # a missing or foreign file is refused here, in the shell (only the header is read: the
        # view reads the whole file, in its worker)
        open_recording(p)
    from beefine_tui.commands import tui

    ns = argparse.Namespace(
        docker_host=None, lab=False, replay=None, speed=None, open=[], compare=(args.a, args.b)
    )
    return tui.run(ns)
