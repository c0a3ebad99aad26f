"""`beefine-tui agent`: the headless engine on stdin/stdout, for a client over SSH (`--remote`).

The protocol is in src/beefine_tui/agent/PROTOCOL.md. Everything the agent starts is stopped when
stdin ends, on SIGHUP/SIGTERM/SIGINT, or on `bye`.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--docker-host", metavar="URL", help="Docker daemon (default: $DOCKER_HOST, then the system socket)"
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.agent.server import serve

    return serve(docker_host=args.docker_host)
