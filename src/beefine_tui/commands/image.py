"""`beefine-tui image IMAGE`: the image's structure (index, manifest, config, layers and their files),
from the registry's HTTP API v2 and/or from the daemon, to match what is pulled with what is unpacked."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from typing import Any

from beefine_tui.errors import BeefineError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", help="image reference (with --lab also: small, layered)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--lab", action="store_true", help="use a private lab (started here and downed after)")
    where.add_argument("--docker-host", metavar="URL", help="Docker daemon to ask (default: $DOCKER_HOST)")
    parser.add_argument(
        "--source",
        choices=("registry", "daemon", "both"),
        default="both",
        help="where to read it (default: both where available)",
    )
    parser.add_argument("--no-files", action="store_true", help="do not list the files each layer adds")
    parser.add_argument("--json", action="store_true", help="one JSON object per source")
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)


def run(args: argparse.Namespace) -> int:
    from beefine_tui.docker.runner import check_reference

    if not (args.lab and args.image in ("small", "layered")):
        check_reference(args.image)
    if getattr(args, "remote", None):
        if args.lab:
            raise UsageError(
                "--lab starts a lab on this machine; with --remote the host's daemon is read",
                "drop --lab (or --remote)",
            )
        return _remote(args)
    with contextlib.ExitStack() as stack:
        host: str | None
        image = args.image
        if args.lab:
            from beefine_tui.docker import lab as labmod
            from beefine_tui.docker.client import exit_on_signals

            stack.enter_context(exit_on_signals())
            info = stack.enter_context(labmod.running_lab(f"image{os.getpid() % 100000}", timeout=120))
            host, image = info.docker_host, info.images.get(args.image, args.image)
        else:
            from beefine_tui.docker.client import resolve_docker_host

            host = resolve_docker_host(args.docker_host)
        return _show(args, image, host)
    return 0


def _show(args: argparse.Namespace, image: str, host: str | None) -> int:
    from beefine_tui.docker.image_structure import read_structures

    results, errors = read_structures(image, host, args.source, list_files=not args.no_files)
    _print(args, results, errors)
    return 0


def _print(args: argparse.Namespace, results: list[Any], errors: list[str]) -> None:
    for st in results:
        if args.json:
            print(json.dumps(st.to_dict()))
        else:
            print("\n".join(st.lines()))
            print()
    for err in errors:
        print(f"note: {err}")


def _remote(args: argparse.Namespace) -> int:
    """The image as the host's registry access and daemon see it, read there by its agent."""
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.docker.image_structure import ImageStructure

    client = connect(args.remote, agent_args(args))
    try:
        client.require("image", "read images")
        got = client.request("image", image=args.image, source=args.source, files=not args.no_files)
        try:
            results = msgspec.convert(got["structures"], list[ImageStructure])
            notes = msgspec.convert(got.get("notes") or [], list[str])
        except (msgspec.ValidationError, KeyError, TypeError) as e:
            raise BeefineError(
                f"{client.label}: the agent's image report is not one this client reads: {e}"
            ) from None
    finally:
        client.close()
    _print(args, results, notes)
    return 0


__all__ = ["UsageError", "add_arguments", "run"]
