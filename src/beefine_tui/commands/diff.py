"""`beefine-tui diff A B [--json]`: what differs between two `trace --record` recordings: phases side
by side, the security, mount, namespace, hostname and network details, and the event kinds only one
has. Each story is rebuilt from its file alone (story/diff.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("a", type=Path, metavar="A", help="a recording from `trace --record`")
    parser.add_argument("b", type=Path, metavar="B", help="another one, compared with A")
    parser.add_argument("--json", action="store_true", help="one JSON object with every difference")


def run(args: argparse.Namespace) -> int:
    from beefine_tui.story.diff import compare, diff_lines, load_trace

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
