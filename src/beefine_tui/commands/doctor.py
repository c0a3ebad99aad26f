"""`beefine-tui doctor [--json]`: can this machine run Beefine, and how to fix what is missing."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as a JSON list")
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)


def run(args: argparse.Namespace) -> int:
    from beefine_tui.doctor import exit_code, run_checks

    where = "here"
    if getattr(args, "remote", None):
        checks, where = _remote_checks(args)
    else:
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
        print(f"\nBeefine cannot run {where} yet: fix {', '.join(failed)} (see above).", file=sys.stderr)
    else:
        warned = sum(c.status == "warn" for c in checks)
        print(f"\nBeefine can run {where}{f' ({warned} warnings)' if warned else ''}.")
    return code


def _remote_checks(args: argparse.Namespace) -> tuple[list[Any], str]:
    """The host's checks, made there by its agent (as root or through sudo, as the agent runs)."""
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.errors import BeefineError
    from beefine_tui.probes.kernel_config import Check

    client = connect(args.remote, agent_args(args))
    try:
        client.require("doctor", "run the checks")
        rows = client.request("doctor", timeout=300)
        try:
            return msgspec.convert(rows, list[Check]), f"on {client.label}"
        except msgspec.ValidationError as e:
            raise BeefineError(
                f"{client.label}: the agent's checks are not ones this client reads: {e}"
            ) from None
    finally:
        client.close()
