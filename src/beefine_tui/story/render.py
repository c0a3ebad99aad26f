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
            if rec.get("whiteout_paths"):
                out.append("  deleted from the layers below (whiteouts): " + ", ".join(rec["whiteout_paths"]))
    elif p.name == "rootfs":
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
        out += list(d.get("mounts") or [])
    elif p.name == "pivot_root" and d:
        out.append(f"pivot_root({d.get('new_root')!r}, {d.get('put_old')!r})")
    elif p.name == "hostname" and d:
        out.append(f"sethostname({d.get('hostname')!r})")
    elif p.name == "cgroup" and d:
        out.append(f"{', '.join(d['paths'])} in {d.get('hierarchies')} hierarchies")
    elif p.name == "security":
        if "capabilities" in d:
            out.append(f"capset: {d['capabilities']}")
        if d.get("seccomp_loaded"):
            out.append("seccomp filter loaded")
        if d.get("no_new_privs"):
            out.append("no_new_privs set")
        if d.get("readonly_or_masked"):
            out.append(f"{len(d['readonly_or_masked'])} read-only/masked path mounts")
    elif p.name == "exec" and d.get("explanation"):
        out.append(d["explanation"])
    elif p.name == "exec" and d:
        out.append(f"execve({d.get('filename')!r}, {d.get('argv')}) as host pid {d.get('pid_on_host')}")
    elif p.name == "exit" and d:
        out.append(d.get("status") or exit_status_text(d.get("code"), d.get("signal")))
    if len(out) > limit:
        out = [*out[:limit], f"... {len(out) - limit} more"]
    return out


def timeline_lines(tl: Timeline, explain: bool = False) -> list[str]:
    cid = (tl.container_id or "?")[:12]
    lines = [f"container {cid}" + (f"  exit code {tl.exit_code}" if tl.exit_code is not None else "")]
    lines.append(f"{'phase':38} {'state':8} {'start ms':>9} {'dur ms':>9} {'events':>6}")
    for p in tl.phases:
        start = None if p.start_ns is None or tl.t0 is None else p.start_ns - tl.t0
        lines.append(f"{p.title:38} {p.state:8} {_ms(start):>9} {_ms(p.duration_ns):>9} {p.total:>6}")
        if p.reason:
            lines.append(f"    why: {p.reason}")
        lines += [f"    {x}" for x in phase_detail_lines(p)]
        if explain and p.explanation:
            lines.append(f"    ({p.explanation})")
    if tl.lost:
        lines.append(f"warning: {tl.lost} events were lost; the story may have gaps")
    if tl.error:
        lines.append(f"docker: {tl.error}")
    return lines
