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
    parser.add_argument(
        "--metrics",
        metavar="[ADDR:]PORT",
        help="also serve Prometheus metrics there (a bare port binds 127.0.0.1; 9464 is the usual port); "
        "then the agent keeps serving after stdin ends, until SIGTERM/SIGINT/SIGHUP",
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.agent.server import serve

    return serve(docker_host=args.docker_host, metrics=args.metrics)
