"""`beefine-tui lab up|down|status|clean`: a private dockerd and a local registry with offline images."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from beefine_tui.errors import NotFoundError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("up", "down", "status", "clean"),
        help="start, stop, or show a lab; clean removes labs whose starter died or whose daemons are gone",
    )
    parser.add_argument(
        "--name", default=None, help="lab name, default 'default' (several labs can run side by side)"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--registry-port", type=int, default=None, help="registry port on 127.0.0.1 (default: a free one)"
    )
    parser.add_argument("--no-seed", action="store_true", help="do not build and push the two busybox images")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for up (default 60)")


def _as_dict(info: Any) -> dict[str, Any]:
    return {
        "name": info.name,
        "state_dir": str(info.state_dir),
        "docker_host": info.docker_host,
        "registry": info.registry,
        "bridge": info.bridge,
        "subnet": info.subnet,
        "dockerd_pid": info.dockerd_pid,
        "registry_pid": info.registry_pid,
        "images": info.images,
    }


def _print_info(info: Any) -> None:
    print(f"DOCKER_HOST={info.docker_host}")
    print(f"REGISTRY={info.registry}")
    # the lab registry takes only the lab's login; this docker config holds it (root-only) for the CLI
    print(f"DOCKER_CONFIG={info.state_dir / 'docker-config'}")
    for key, ref in info.images.items():
        print(f"IMAGE_{key.upper()}={ref}")
    print(
        f"# lab {info.name!r}: dockerd pid {info.dockerd_pid}, registry pid {info.registry_pid}, "
        f"bridge {info.bridge} {info.subnet}, files in {info.state_dir}",
        file=sys.stderr,
    )


def run(args: argparse.Namespace) -> int:
    from beefine_tui.docker import lab
    from beefine_tui.docker.client import exit_on_signals

    if args.action != "up" and (args.registry_port is not None or args.no_seed or args.timeout is not None):
        raise UsageError("--registry-port, --no-seed and --timeout go with `lab up` only")
    timeout = 60.0 if args.timeout is None else args.timeout
    if not 0 < timeout <= 3600:
        raise UsageError(f"--timeout {timeout:g}: out of range", "use between 0 and 3600 seconds")
    name = args.name or "default"
    if args.action == "up":
        from beefine_tui.docker.reaper import reap

        with exit_on_signals():
            left = reap()  # labs and containers of a killed beefine-tui
        if left:
            print(f"beefine-tui: {left}", file=sys.stderr)
        with exit_on_signals():  # SIGTERM/SIGHUP during up: up() tears down what it made
            info = lab.up(
                name,
                seed=not args.no_seed,
                timeout=timeout,
                registry_port=args.registry_port,
                detach=True,
            )
        if args.json:
            print(json.dumps(_as_dict(info)))
        else:
            _print_info(info)
            print(f"# stop it with: sudo beefine-tui lab down --name {info.name}", file=sys.stderr)
        return 0
    if args.action == "clean":
        if args.name is not None:
            raise UsageError("`lab clean` looks at every lab: give no --name (use `lab down --name` for one)")
        with exit_on_signals():
            removed = lab.down_orphans()
        if args.json:
            print(json.dumps({"removed": removed}))
        elif removed:
            print("removed: " + ", ".join(removed))
        else:
            print("no stale or orphaned labs")
        return 0
    if args.action == "down":
        with exit_on_signals():
            lab.down(name)
        if args.json:
            print(json.dumps({"name": name, "down": True}))
        else:
            print(f"lab {name!r} is down: processes, mounts, bridge and files removed")
        return 0
    # status: the named lab when --name is given, else every lab
    names = [args.name] if args.name else lab.lab_names()
    rows: list[dict[str, Any]] = []
    for name in names:
        lab.check_name(name)
        found = lab.status(name)
        if found is not None and lab.is_orphan(name):
            rows.append({"state": "orphan", **_as_dict(found)})
        elif found is not None:
            rows.append({"state": "running", **_as_dict(found)})
        elif lab.is_busy(name):
            rows.append({"state": "busy", "name": name})
        elif lab.is_orphan(name):  # its owner died, maybe half way through starting it
            rows.append({"state": "orphan", "name": name})
        elif lab.is_stale(name):
            rows.append({"state": "stale", "name": name})
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            if row["state"] == "running":
                print(f"{row['name']}: running  DOCKER_HOST={row['docker_host']}  REGISTRY={row['registry']}")
            elif row["state"] == "orphan":
                what = "running" if "docker_host" in row else "left over (never finished starting)"
                print(
                    f"{row['name']}: {what}, but the process that started it is gone "
                    f"(remove it with `sudo beefine-tui lab down --name {row['name']}`)"
                )
            elif row["state"] == "busy":
                print(f"{row['name']}: being started or stopped by another process")
            else:
                print(
                    f"{row['name']}: stale (its daemons are gone; "
                    f"remove the rest with `sudo beefine-tui lab down --name {row['name']}`)"
                )
    if not rows:
        raise NotFoundError(
            f"no lab named {args.name!r} is running" if args.name else "no lab is running",
            "start one with `sudo beefine-tui lab up`",
        )
    return 0 if all(r["state"] == "running" for r in rows) else 1  # orphans, stale or busy: look at it
