"""`beefine-tui inspect CONTAINER [--json]`: once, everything the container monitor shows."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from beefine_tui.errors import DockerUnavailableError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from beefine_tui.docker.inspect import ContainerReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)
    parser.add_argument("container", help="name, id or id prefix of the container")
    parser.add_argument("--json", action="store_true", help="print one JSON object (the report)")
    parser.add_argument(
        "--docker-host", metavar="URL", help="Docker daemon (default: $DOCKER_HOST, then the system socket)"
    )
    parser.add_argument(
        "--no-sharers",
        action="store_true",
        help="skip scanning /proc for other processes sharing each namespace (faster)",
    )


def client_for(explicit: str | None) -> tuple[object, str]:
    from beefine_tui.docker.client import connect, resolve_docker_host

    host = resolve_docker_host(explicit)
    if host is None:
        raise DockerUnavailableError(
            "no Docker daemon answers at the system socket and DOCKER_HOST is not set",
            "start Docker, pass --docker-host, or run `sudo beefine-tui lab up` and use its DOCKER_HOST",
        )
    return connect(host), host


def run(args: argparse.Namespace) -> int:
    from beefine_tui.docker.inspect import build_report

    if not args.container.strip():
        raise UsageError("no container given", "name a container: beefine-tui inspect NAME_OR_ID")
    if args.remote:
        return run_remote(args)
    client, _ = client_for(args.docker_host)
    try:
        rep = build_report(client, args.container, with_members=not args.no_sharers)
    finally:
        client.close()  # type: ignore[attr-defined]
    return _show(rep, args)


def short_ids(s: str) -> str:
    """Long hex ids (container ids, cache ids) cut to 12 characters, for tables."""
    import re

    return re.sub(r"([0-9a-f]{12})[0-9a-f]{52}", r"\1…", s)


def print_report(rep: ContainerReport, con: Console) -> None:
    from rich.table import Table

    from beefine_tui.docker.namespaces import sharers_text
    from beefine_tui.docker.stats import human_bytes

    con.print(
        f"[bold]{rep.name}[/] {rep.id[:12]}  image {rep.image}  [bold]{rep.status}[/]  pid {rep.pid or '-'}"
    )
    con.print(f"command: {' '.join(rep.command)}  hostname: {rep.hostname}  network: {rep.network_mode}")
    for n in rep.notes:
        con.print(f"[yellow]note:[/] {n}")
    if rep.namespaces:
        t = Table(title="Namespaces (vs the host's)", expand=False)
        for c in ("kind", "container", "host", "", "also in it"):
            t.add_column(c)
        for ns in rep.namespaces:
            mark = "[dim]shared with host[/]" if ns.shared_with_host else "[green]new[/]"
            who = sharers_text(ns)
            t.add_row(ns.kind, str(ns.inode), str(ns.host_inode), mark, who)
        con.print(t)
    cg = rep.cgroup
    if cg is None:
        conf = rep.configured
        con.print(
            "Docker's configuration (no cgroup without a process): memory "
            f"{human_bytes(conf.memory) if conf.memory else 'unlimited'}, cpus "
            f"{conf.nano_cpus / 1e9 if conf.nano_cpus else 'unlimited'}, "
            f"pids {conf.pids_limit or 'unlimited'}"
        )
    else:
        lim, use = cg.limits, cg.usage
        t = Table(title=f"Cgroup v{cg.version} {cg.path}", expand=False)
        for c in ("", "limit", "usage", "docker asked"):
            t.add_column(c)
        conf = rep.configured
        t.add_row(
            "memory",
            human_bytes(lim.memory_bytes) if lim.memory_bytes else "unlimited",
            human_bytes(use.memory_working_set),
            human_bytes(conf.memory) if conf.memory else "-",
        )
        cpu_limit = f"{lim.cpus} CPUs ({lim.cpu_quota_us}/{lim.cpu_period_us} us)" if lim.cpus else "no quota"
        share = f"shares {lim.cpu_shares}" if lim.cpu_shares is not None else f"weight {lim.cpu_weight}"
        t.add_row(
            "cpu",
            f"{cpu_limit}, {share}",
            f"{(use.cpu_ns or 0) / 1e9:.2f} s used",
            f"{conf.nano_cpus / 1e9:g} CPUs"
            if conf.nano_cpus
            else (f"quota {conf.cpu_quota}" if conf.cpu_quota else "-"),
        )
        t.add_row("pids", str(lim.pids_max or "unlimited"), str(use.pids), str(conf.pids_limit or "-"))
        t.add_row(
            "io", "", f"read {human_bytes(use.io_read_bytes)} write {human_bytes(use.io_write_bytes)}", ""
        )
        con.print(t)
    if rep.mounts:
        t = Table(title="Mounts", expand=False)
        for c in ("mount point", "type", "source", "options", "propagation"):
            t.add_column(c, overflow="fold")
        for m in rep.mounts:
            t.add_row(
                m.mount_point, m.fstype, m.root if m.root != "/" else m.source, m.options, m.propagation
            )
        con.print(t)
    if rep.layers:
        t = Table(title="Root overlay layers (top first)", expand=False)
        for c in ("#", "role", "image layer", "diff id", "cache id"):
            t.add_column(c, overflow="fold", no_wrap=c in ("diff id", "cache id", "image layer"))
        for la in rep.layers:
            idx = f"{la.image_index}/{len(rep.image_diff_ids)}" if la.image_index else ""
            t.add_row(str(la.position), la.role, idx, la.diff_id[:19], la.cache_id[:16])
        con.print(t)
    if rep.processes:
        t = Table(title="Processes", expand=False)
        for c in ("pid", "ns pid", "ppid", "user", "state", "cpu%", "rss", "command"):
            t.add_column(c, overflow="fold")
        for p in rep.processes:
            t.add_row(
                str(p.pid),
                str(p.ns_pid),
                str(p.ppid),
                p.user,
                p.state,
                "-" if p.cpu_percent is None else f"{p.cpu_percent:.1f}",
                human_bytes(p.rss_bytes),
                " ".join(p.cmdline) or f"[{p.comm}]",
            )
        con.print(t)
    net = rep.network
    if net is not None:
        t = Table(title="Network", expand=False)
        for c in ("interface", "addresses", "mac", "host veth", "rx", "tx"):
            t.add_column(c, overflow="fold")
        for i in net.interfaces:
            peer = f"{i.host_peer} (ifindex {i.host_peer_ifindex})" if i.host_peer else ""
            t.add_row(
                i.name, " ".join(i.addresses), i.mac, peer, human_bytes(i.rx_bytes), human_bytes(i.tx_bytes)
            )
        con.print(t)
        for r in net.routes:
            con.print(f"  route {r.destination} via {r.gateway} dev {r.interface}")
        for s in net.sockets:
            con.print(f"  {s.proto} {s.local} {s.remote} {s.state} pids {s.pids}")
        if net.note:
            con.print(f"  [yellow]{net.note}[/]")
    sec = rep.security
    if sec is not None:
        con.print("[bold]Security[/]")
        con.print(f"  capabilities (effective): {', '.join(sec.cap_effective) or 'none'}")
        con.print(f"  dropped from the host's bounding set: {len(sec.dropped_from_host)}")
        con.print(
            f"  seccomp: {sec.seccomp} ({sec.seccomp_filters} filters)  no_new_privs: {sec.no_new_privs}"
        )
        con.print(f"  LSM label: {sec.lsm_label or 'none'}  user namespace: {sec.user_namespace}")


def run_remote(args: argparse.Namespace) -> int:
    import msgspec

    from beefine_tui.agent.client import connect
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.docker.inspect import ContainerReport

    client = connect(args.remote, agent_args(args))
    try:
        raw: object = client.request("inspect", container=args.container, sharers=not args.no_sharers)
    finally:
        client.close()
    rep = msgspec.convert(raw, ContainerReport)
    return _show(rep, args)


def _show(rep: ContainerReport, args: argparse.Namespace) -> int:
    """The report as one JSON object, or as tables."""
    if args.json:
        from beefine_tui.docker.inspect import encode_json

        sys.stdout.buffer.write(encode_json(rep) + b"\n")
        sys.stdout.flush()
        return 0
    from rich.console import Console

    print_report(rep, Console())
    return 0
