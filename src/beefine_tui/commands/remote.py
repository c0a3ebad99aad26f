"""The headless commands' `--remote [user@]host[:port]`: the same output, made by the agent on the
host over SSH (agent/client.py). Nothing here loads BPF or talks to a local Docker."""

from __future__ import annotations

import argparse


def add_remote_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--remote",
        metavar="[USER@]HOST[:PORT]",
        help="run it on HOST through `beefine-tui agent` over SSH (root there, or sudo -n; "
        "~/.ssh/config applies); nothing is loaded here",
    )


def agent_args(args: argparse.Namespace) -> list[str]:
    host = getattr(args, "docker_host", None)
    return ["--docker-host", host] if host else []
