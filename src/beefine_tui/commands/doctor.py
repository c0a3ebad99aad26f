"""`beefine-tui doctor [--json]`: can this machine run Beefine, and how to fix what is missing."""

from __future__ import annotations

import argparse
import json
import sys

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")


def run(args: argparse.Namespace) -> int:
    from beefine_tui.doctor import exit_code, run_checks

    checks = run_checks()
    code = exit_code(checks)
    if args.json:
        print(json.dumps({"ok": code == 0, "checks": [c.as_dict() for c in checks]}, indent=1))
        return code
    width = max(len(c.name) for c in checks)
    for c in checks:
        line = f"[{MARK[c.status]}] {c.name:<{width}}  {c.detail}"
        if c.status != "ok" and c.fix:
            line += f"  -> fix: {c.fix}"
        print(line)
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        print(f"\nBeefine cannot run here yet: fix {', '.join(failed)} (see above).", file=sys.stderr)
    else:
        warned = sum(c.status == "warn" for c in checks)
        print(f"\nBeefine can run here{f' ({warned} warnings)' if warned else ''}.")
    return code
