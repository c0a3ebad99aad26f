"""`beefine-tui image IMAGE`: the image's structure (index, manifest, config, layers and their files),
from the registry's HTTP API v2 and/or from the daemon, to match what is pulled with what is unpacked."""

from __future__ import annotations

import argparse
import contextlib
import json
import os

from beefine_tui.errors import BeefineError, DockerUnavailableError, UsageError


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


def run(args: argparse.Namespace) -> int:
    from beefine_tui.docker.runner import check_reference

    if not (args.lab and args.image in ("small", "layered")):
        check_reference(args.image)
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
    from beefine_tui.docker.image_structure import from_daemon, from_registry, parse_reference

    results = []
    errors: list[str] = []
    reg_host, _, _ = parse_reference(image)
    want_registry = args.source in ("registry", "both")
    want_daemon = args.source in ("daemon", "both")
    if want_registry:
        if args.source == "both" and reg_host == "registry-1.docker.io":
            errors.append("registry: skipped (Docker Hub cannot be reached offline; use --source registry)")
        else:
            try:
                results.append(from_registry(image, list_files=not args.no_files))
            except BeefineError as e:
                if args.source == "registry":
                    raise
                errors.append(f"registry: {e.message}")
    if want_daemon:
        if host is None:
            msg = "no Docker daemon answers here"
            if args.source == "daemon":
                raise DockerUnavailableError(msg, "start Docker, pass --docker-host, or use --lab")
            errors.append(f"daemon: {msg}")
        else:
            from beefine_tui.docker.client import connect

            client = connect(host)
            try:
                data_root = str(client.info().get("DockerRootDir", ""))
                results.append(from_daemon(client, image, data_root, list_files=not args.no_files))
            except BeefineError as e:
                if args.source == "daemon":
                    raise
                errors.append(f"daemon: {e.message}")
            finally:
                client.close()
    if not results:
        raise BeefineError(f"could not read {image} anywhere", "; ".join(errors) or "")
    for st in results:
        if args.json:
            print(json.dumps(st.to_dict()))
        else:
            print("\n".join(st.lines()))
            print()
    for err in errors:
        print(f"note: {err}")
    return 0


__all__ = ["UsageError", "add_arguments", "run"]
