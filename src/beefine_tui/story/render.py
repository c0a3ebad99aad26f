"""The timeline as plain text lines (the CLI prints them; tests read them)."""

from __future__ import annotations

from typing import Any

from beefine_tui.probes.flags import exit_status_text
from beefine_tui.story.phases import Phase, Timeline


def _ms(ns: int | None) -> str:
    return "" if ns is None else f"{ns / 1e6:9.1f}"


def phase_detail_lines(p: Phase, limit: int = 12) -> list[str]:
    """The few facts worth a line each, per phase."""
    d: dict[str, Any] = p.details
    out: list[str] = []
    if p.name == "pull":
        for lid, rec in (d.get("layers") or {}).items():
            out.append(
                f"layer {rec.get('digest') or lid}: fetched {rec['fetches']}x, extracted {rec['extracts']}x"
            )
        if d.get("result"):
            out.append(f"docker: {d['result']}")
        if d.get("xdp"):
            x = d["xdp"]
            out.append(
                f"XDP on {x['ifname']}: {x['tcp_packets']} TCP packets,"
                f" {x['tcp_bytes']} bytes during the pull"
            )
        if d.get("connections"):
            out.append(f"{d['connections']} connection(s) to the registry {d.get('registry', '')}")
    elif p.name == "unpack":
        # (details key, singular, plural); shown when non-zero (older recordings have none)
        tree_words = (
            ("dirs", "dir", "dirs"),
            ("symlinks", "symlink", "symlinks"),
            ("hardlinks", "hard link", "hard links"),
            ("whiteouts", "whiteout (deletion marker)", "whiteouts (deletion markers)"),
            ("opaque_dirs", "opaque dir", "opaque dirs"),
            ("renames", "rename", "renames"),
            ("removals", "removal", "removals"),
        )
        for cid, rec in (d.get("layers") or {}).items():
            label = rec.get("digest") or rec.get("diff_id") or f"dir {cid[:12]}"
            tree = [
                f"{n} {word if n == 1 else plural}"
                for key, word, plural in tree_words
                if (n := int(rec.get(key, 0)))
            ]
            out.append(
                f"layer {label}: {rec['files']} files created by open(O_CREAT),"
                f" {rec['bytes']} bytes written{''.join(', ' + t for t in tree)} (dir {cid[:12]})"
            )
            if rec.get("unshare") or rec.get("pivot_root"):
                out.append(
                    f"  docker-untar isolated itself: unshare({rec.get('unshare') or '?'}),"
                    f" pivot_root into {rec.get('pivot_root') or '?'}"
                )
            if rec.get("whiteout_paths"):
                out.append("  deleted from the layers below (whiteouts): " + ", ".join(rec["whiteout_paths"]))
    elif p.name == "rootfs":
        if d.get("init_layer"):
            out.append("-init layer made by dockerd: " + ", ".join(d["init_layer"][:14]))
        if d.get("lowerdir"):
            out.append(f"overlay on {d.get('target')}")
            for i, ld in enumerate(d["lowerdir"]):
                out.append(f"  lowerdir[{i}] {ld['lowerdir']} = {ld['layer'] or ld['cache_id'] or '?'}")
            out.append(f"  upperdir {d.get('upperdir')}")
            out.append(f"  workdir  {d.get('workdir')}")
    elif p.name == "bundle":
        out += list(d.get("summary") or [])
    elif p.name == "namespaces":
        if d.get("unshare_flags"):
            out.append(f"unshare({'|'.join(d['unshare_flags'])}) by {', '.join(d.get('by') or [])}")
    elif p.name == "mounts":
        dev = d.get("dev") or {}
        if dev.get("nodes"):
            out.append("mknod in /dev: " + ", ".join(dev["nodes"]))
        if dev.get("symlinks"):
            out.append("symlinks in /dev: " + ", ".join(dev["symlinks"]))
        for r in d.get("remounts_after_pivot") or []:
            out.append(f"after pivot_root (finalizeRootfs): {r}")
        out += list(d.get("mounts") or [])
    elif p.name == "runtime":
        for c in d.get("chain") or []:
            line = f"{c['ms']:9.1f} ms  pid {c['pid']:<7} (made by {c['by']}) {c['what']}"
            if c["pid"] == d.get("init_pid_on_host") and not str(c["what"]).startswith("runc"):
                line += "  <- the entrypoint: pid 1 in its pid namespace"
            out.append(line)
        if d.get("clone_method"):
            out.append(f"runc init ran twice; the second from {d['clone_method']}")
        if d.get("subreapers"):
            out.append(
                "child subreapers (PR_SET_CHILD_SUBREAPER): pids " + ", ".join(map(str, d["subreapers"]))
            )
        if d.get("init_pid_on_host"):
            out.append(f"runc:[2:INIT] is host pid {d['init_pid_on_host']}, pid 1 in its new pid namespace")
    elif p.name == "hook":
        for h in d.get("hooks") or []:
            out.append(f"prestart hook: {h}")
        for c in d.get("connects") or []:
            out.append(f"  talks to dockerd at {c}")
        if d.get("dockerd_netns"):
            n = d["dockerd_netns"]
            out.append(
                f"dockerd: setns(CLONE_NEWNET) x{n['setns']}, {n['netlink_sockets']} netlink socket(s):"
                " configuring eth0 inside the container's network namespace"
            )
        for step in d.get("network_setup") or []:
            out.append(f"  {step}")
        if d.get("dockerd_netns_unattributed"):
            out.append(
                f"{d['dockerd_netns_unattributed']} dockerd netns call(s) not attributed: another"
                " container's hook ran at the same time"
            )
    elif p.name == "pivot_root" and d:
        out.append(f"pivot_root({d.get('new_root')!r}, {d.get('put_old')!r})")
    elif p.name == "hostname" and d:
        out.append(f"sethostname({d.get('hostname')!r})")
    elif p.name == "cgroup" and d:
        if d.get("paths"):
            out.append(f"{', '.join(d['paths'])} in {d.get('hierarchies')} hierarchies")
        if d.get("attached"):
            a = d["attached"]
            out.append(f"{a['comm']} (pid {a['pid']}) moved in at {a['ms']} ms, before nsexec forks")
        if d.get("limits_written"):
            at = f" (limits at {d['limits_ms']} ms)" if d.get("limits_ms") is not None else ""
            out.append("written: " + ", ".join(f"{k} x{v}" for k, v in d["limits_written"].items()) + at)
    elif p.name == "security":
        if d.get("path"):
            out.append(d["path"])
        if d.get("seccomp_loaded"):
            out.append(f"seccomp filter loaded with {d.get('seccomp_via')}")
        if d.get("bounding_drops"):
            out.append(
                f"{d['bounding_drops']} PR_CAPBSET_DROP, {d.get('ambient_calls', 0)} PR_CAP_AMBIENT"
                + (", PR_SET_KEEPCAPS around the uid change" if d.get("keepcaps") else "")
            )
        if "capabilities" in d:
            caps = [str(c).removeprefix("CAP_") for c in d["capabilities"]]
            out.append(f"capset: {len(caps)} left: {', '.join(caps) or 'none'}")
        out += list(d.get("readonly_or_masked") or [])
    elif p.name == "exec" and d.get("explanation"):
        out.append(d["explanation"])
    elif p.name == "exec" and d:
        if d.get("exec_fifo"):
            f = d["exec_fifo"]
            out.append(
                f"blocked on exec.fifo from {f['ready_ms']} ms until `runc start` at {f['released_ms']} ms"
            )
        if d.get("filename"):
            out.append(f"execve({d.get('filename')!r}, {d.get('argv')}) as host pid {d.get('pid_on_host')}")
    elif p.name == "exit" and d:
        out.append(d.get("status") or exit_status_text(d.get("code"), d.get("signal")))
        if "output" in d:
            out.append("it printed: " + (repr(d["output"]) if d["output"] else "nothing"))
    elif p.name == "teardown" and d:
        for c in d.get("commands") or []:
            out.append(f"ran: {c}")
        if d.get("cgroups_removed"):
            out.append(f"{d['cgroups_removed']} cgroup directories removed")
        for u in d.get("umounts") or []:
            out.append(f"umount by {u}")
        for step in d.get("network_teardown") or []:
            out.append(f"  {step}")
    if p.name == "hook":
        limit = max(limit, 16)  # the network steps are what this phase is about
    if len(out) > limit:
        out = [*out[:limit], f"... {len(out) - limit} more"]
    return out


BAR_WIDTH = 32


def timeline_bar(p: Phase, t0: int | None, t_end: int | None, width: int = BAR_WIDTH) -> str:
    """The phase's span as a bar on a common time axis [t0, t_end], so overlaps are visible."""
    if p.start_ns is None or t0 is None or t_end is None or t_end <= t0:
        return " " * width
    scale = width / (t_end - t0)
    a = min(width - 1, int((p.start_ns - t0) * scale))
    b = max(a + 1, min(width, round(((p.end_ns or p.start_ns) - t0) * scale)))
    return " " * a + "█" * (b - a) + " " * (width - b)


def timeline_end(tl: Timeline) -> int | None:
    ends = [p.end_ns for p in tl.phases if p.end_ns is not None]
    return max(ends) if ends else None


MAX_LOSS_LINES = 8


def loss_lines(tl: Timeline) -> list[str]:
    """Each report of loss: how many, whose, when (ms from the story's start) and in which phases."""
    out = []
    for x in tl.losses:
        what = f"{x.count} ({x.probe}, {x.source})"
        if x.first_ts is None or x.last_ts is None or tl.t0 is None:
            out.append(f"{what} at a time the source does not know")
            continue
        a, b = f"{(x.first_ts - tl.t0) / 1e6:.1f}", f"{(x.last_ts - tl.t0) / 1e6:.1f}"
        when = f"at {a} ms" if a == b else f"from {a} to {b} ms"
        where = "during " + ", ".join(x.phases) if x.phases else "outside every phase's span"
        out.append(f"{what} {when}, {where}")
    if len(out) > MAX_LOSS_LINES:
        out = [*out[:MAX_LOSS_LINES], f"... {len(out) - MAX_LOSS_LINES} more"]
    return out


def timeline_lines(tl: Timeline, explain: bool = False) -> list[str]:
    """Phases in the order they began (they overlap), each with a bar for its span."""
    cid = (tl.container_id or "?")[:12]
    lines = [f"container {cid}" + (f"  exit code {tl.exit_code}" if tl.exit_code is not None else "")]
    lines.append(f"{'phase':30} {'state':8} {'start ms':>9} {'dur ms':>9} {'events':>6}  timeline")
    end = timeline_end(tl)
    for p in tl.by_start():
        start = None if p.start_ns is None or tl.t0 is None else p.start_ns - tl.t0
        bar = timeline_bar(p, tl.t0, end)
        lines.append(f"{p.title:30} {p.state:8} {_ms(start):>9} {_ms(p.duration_ns):>9} {p.total:>6} |{bar}|")
        if p.reason:
            lines.append(f"    why: {p.reason}")
        if p.lost:
            lines.append(f"    lost: {p.lost} event{'s' if p.lost != 1 else ''} while this phase ran")
        lines += [f"    {x}" for x in phase_detail_lines(p)]
        if explain and p.explanation:
            lines.append(f"    ({p.explanation})")
            lines.append(f"    source: {p.source}")
    if tl.lost:
        lines.append(f"warning: {tl.lost} events were lost; the story may have gaps")
        lines += [f"    {x}" for x in loss_lines(tl)]
    if tl.error:
        lines.append(f"docker: {tl.error}")
    return lines
