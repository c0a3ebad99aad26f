"""Compare the stories of two `trace --record` recordings: phases side by side, the details that differ
(capabilities, seccomp, no_new_privs, masked/readonly paths, mounts, /dev, namespaces, hostname, the
network hook) and the event kinds one has and the other has not. No Textual here.

Each story is rebuilt from its file alone, as `replay` does: the runner's own docker events carry the
container id, layer map and bundle. Names that are different by nature (the container id, the overlay
mount id) are replaced by placeholders first, so only real differences remain.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from beefine_tui.errors import UsageError
from beefine_tui.events.model import RecordHeader
from beefine_tui.events.record import read_recording
from beefine_tui.probes.catalog import all_probes
from beefine_tui.story.engine import DOCKER_PROBE, StoryEngine
from beefine_tui.story.phases import PHASES, Timeline

# per phase, the details compared (others are timings, pids and byte counts: different every run)
COMPARED: dict[str, tuple[str, ...]] = {
    "bundle": ("namespaces", "masked_paths", "readonly_paths", "root_readonly", "mounts", "args"),
    "namespaces": ("unshare_flags",),
    "mounts": ("mounts", "remounts_after_pivot", "dev"),
    # network_setup/_teardown: dockerd's rtnetlink requests (the netlink probe). For --network none
    # dockerd still runs the libnetwork-setkey hook (measured, moby 20.10), so the hook's other details
    # are the same; what the kernel is asked to do differs: no veth pair made, moved, renamed eth0...
    "hook": ("hooks", "dockerd_netns", "connects", "network_setup"),
    "hostname": ("hostname",),
    "security": (
        "capabilities",
        "capabilities_in_config",
        "bounding_drops",
        "no_new_privs",
        "no_new_privileges_in_config",
        "seccomp_loaded",
        "seccomp_via",
        "seccomp_in_config",
        "readonly_or_masked",
    ),
    "teardown": ("network_teardown",),
}
# what names one run's network objects and not another's: interface indexes (but lo's, 1, which every
# new network namespace has), veth names, the fds dockerd passes, MAC and IPv4 addresses
_NET_RUN = (
    (re.compile(r"\bifindex (?!1\b)\d+"), "ifindex <n>"),
    (re.compile(r"\bveth[0-9a-f]{7}\b"), "veth<id>"),
    (re.compile(r"\bnetns fd \d+"), "netns fd <n>"),
    (re.compile(r"\b(?:[0-9a-f]{2}:){5}[0-9a-f]{2}\b"), "<mac>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b"), "<ip>"),
)
_NET_KEYS = frozenset({"network_setup", "network_teardown"})
# the docker events that only a trace's runner writes: a recording without them is not a trace
TRACE_KINDS = frozenset({"container_create", "pull_start", "bundle", "image_layers", "container_exit"})


# libnetwork's socket for the prestart hook is named after the sandbox (new every run)
_SANDBOX = re.compile(r"(libnetwork/)[0-9a-f]{12}\.sock")


@dataclass
class TraceStory:
    path: Path
    header: RecordHeader
    timeline: Timeline
    events: int
    kinds: Counter[str]  # kinds of the events the story kept (others on the host are noise)
    complete: bool
    problem: str = ""
    placeholders: dict[str, str] = field(default_factory=dict)


def load_trace(path: str | Path) -> TraceStory:
    """Read a recording and rebuild its story. RecordError for what is not a recording (with file and
    line), UsageError for a recording that is not of a trace."""
    p = Path(path)
    all_probes()  # the probe modules define the kinds' Args structs the reader decodes into
    header, events = read_recording(p)
    eng = StoryEngine()
    n = 0
    is_trace = False
    for ev in events:
        n += 1
        if ev.probe == DOCKER_PROBE and ev.kind in TRACE_KINDS:
            is_trace = True
        eng.feed((ev,))
    if not is_trace:
        what = " ".join(header.command[1:3]) if len(header.command) > 1 else "an unknown command"
        raise UsageError(
            f"{p} is a recording of `{what}` (probes: {', '.join(header.probes) or '-'}), not of a trace: "
            "it has no container to compare",
            "diff compares two recordings made with `beefine-tui trace --record FILE IMAGE`",
        )
    tl = eng.timeline()
    ph: dict[str, str] = {}
    if tl.container_id:
        ph[tl.container_id] = "<container>"
        ph[tl.container_id[:12]] = "<container>"
    if eng.hints.mount_id:
        ph[eng.hints.mount_id] = "<mount-id>"
    b = eng.hints.bundle
    if b is not None:
        # two daemons (two labs) differ by their roots: the bundle says where both are
        if "/overlay2/" in b.root:
            ph[b.root.partition("/overlay2/")[0]] = "<data-root>"
        if "/containerd/daemon/" in b.path:
            ph[b.path.partition("/containerd/daemon/")[0]] = "<exec-root>"
    kinds: Counter[str] = Counter()
    for phase in tl.phases:
        kinds.update(phase.counts)
    return TraceStory(p, header, tl, n, kinds, bool(events.complete), events.problem, ph)


def _scrub(value: Any, ph: dict[str, str]) -> Any:
    if isinstance(value, str):
        for k in sorted(ph, key=len, reverse=True):  # the full id before its 12-character prefix
            value = value.replace(k, ph[k])
        return _SANDBOX.sub(r"\1<sandbox>.sock", value)
    if isinstance(value, list | tuple):
        return [_scrub(v, ph) for v in value]
    if isinstance(value, dict):
        return {str(k): _scrub(v, ph) for k, v in value.items()}
    return value


def _net_scrub(value: Any) -> Any:
    """Netlink steps with what differs by nature between runs replaced (two runs' veths compare equal)."""
    if not isinstance(value, list):
        return value
    out = []
    for v in value:
        v = str(v)
        for pattern, placeholder in _NET_RUN:
            v = pattern.sub(placeholder, v)
        out.append(v)
    return out


def _items(value: Any) -> list[str] | None:
    """A list-like detail as comparable strings; None for a scalar."""
    if value is None:
        return []
    if isinstance(value, list):
        out = []
        for v in value:
            if isinstance(v, dict) and "destination" in v:  # a bundle mount
                out.append(f"{v.get('type', '')} {v['destination']}")
            else:
                out.append(str(v))
        return out
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            out += [f"{k}: {x}" for x in v] if isinstance(v, list) else [f"{k}: {v}"]
        return out
    return None


def _only(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """Items of `a` not in `b`, counting repeats (two binds of the same kind are two)."""
    left = Counter(b)
    out = []
    for x in a:
        if left[x]:
            left[x] -= 1
        else:
            out.append(x)
    return out


def _detail(ta: TraceStory, tb: TraceStory, phase: str, key: str) -> dict[str, Any] | None:
    va = _scrub(ta.timeline.phase(phase).details.get(key), ta.placeholders)
    vb = _scrub(tb.timeline.phase(phase).details.get(key), tb.placeholders)
    if phase == "bundle":  # its details are under "config"
        va = _scrub((ta.timeline.phase(phase).details.get("config") or {}).get(key), ta.placeholders)
        vb = _scrub((tb.timeline.phase(phase).details.get("config") or {}).get(key), tb.placeholders)
    if key in _NET_KEYS:
        va, vb = _net_scrub(va), _net_scrub(vb)
    la, lb = _items(va), _items(vb)
    if la is not None and lb is not None and (isinstance(va, list | dict) or isinstance(vb, list | dict)):
        only_a, only_b = _only(la, lb), _only(lb, la)
        if not only_a and not only_b:
            return None
        return {"only_a": only_a, "only_b": only_b}
    if va == vb:
        return None
    return {"a": va, "b": vb}


def _phase_row(tl: Timeline, name: str) -> dict[str, Any]:
    d = tl.phase(name).to_dict(tl.t0)
    return {k: d.get(k) for k in ("state", "start_ms", "duration_ms", "reason")}


def compare(ta: TraceStory, tb: TraceStory) -> dict[str, Any]:
    """The whole comparison as plain data (what `diff --json` prints)."""
    phases = []
    for name in PHASES:
        ra, rb = _phase_row(ta.timeline, name), _phase_row(tb.timeline, name)
        phases.append({"phase": name, "a": ra, "b": rb, "state_differs": ra["state"] != rb["state"]})
    details: dict[str, dict[str, Any]] = {}
    for name, keys in COMPARED.items():
        for key in keys:
            d = _detail(ta, tb, name, key)
            if d is not None:
                details.setdefault(name, {})[key] = d
    return {
        "a": _about(ta),
        "b": _about(tb),
        "phases": phases,
        "details": details,
        "kinds_only_a": {k: ta.kinds[k] for k in sorted(ta.kinds) if k not in tb.kinds},
        "kinds_only_b": {k: tb.kinds[k] for k in sorted(tb.kinds) if k not in ta.kinds},
    }


def _about(t: TraceStory) -> dict[str, Any]:
    return {
        "file": str(t.path),
        "command": t.header.command,
        "container": t.timeline.container_id,
        "exit_code": t.timeline.exit_code,
        "events": t.events,
        "complete": t.complete,
        "problem": t.problem,
    }


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:.1f}"


def diff_lines(d: dict[str, Any]) -> list[str]:
    """The comparison for a terminal."""
    out = [f"A: {d['a']['file']}  ({_cmd(d['a'])})", f"B: {d['b']['file']}  ({_cmd(d['b'])})", ""]
    out.append(
        f"{'phase':<11} {'A: state':<9} {'start ms':>9} {'dur ms':>8}   "
        f"{'B: state':<9} {'start ms':>9} {'dur ms':>8}"
    )
    for row in d["phases"]:
        a, b = row["a"], row["b"]
        mark = "  <- state differs" if row["state_differs"] else ""
        out.append(
            f"{row['phase']:<11} {a['state']:<9} {_ms(a['start_ms']):>9} {_ms(a['duration_ms']):>8}   "
            f"{b['state']:<9} {_ms(b['start_ms']):>9} {_ms(b['duration_ms']):>8}{mark}"
        )
        if row["state_differs"]:
            for side in ("a", "b"):
                if row[side].get("reason"):
                    out.append(f"{'':<11}   {side.upper()}: {row[side]['reason']}")
    out.append("")
    if not d["details"]:
        out.append("details: no difference")
    for phase, keys in d["details"].items():
        out.append(f"{phase}:")
        for key, v in keys.items():
            if "only_a" in v:
                for side in ("a", "b"):
                    if v[f"only_{side}"]:
                        out.append(f"  {key}: only in {side.upper()}: " + ", ".join(v[f"only_{side}"]))
            else:
                out.append(f"  {key}: A {_val(v['a'])}, B {_val(v['b'])}")
    out.append("")
    for side in ("a", "b"):
        kinds = d[f"kinds_only_{side}"]
        if kinds:
            out.append(
                f"event kinds only in {side.upper()}: " + ", ".join(f"{k} ({n})" for k, n in kinds.items())
            )
    if not d["kinds_only_a"] and not d["kinds_only_b"]:
        out.append("event kinds: the same in both")
    return out


def _cmd(a: dict[str, Any]) -> str:
    cmd = a["command"]
    i = cmd.index("trace") if "trace" in cmd else 0
    return " ".join(["trace", *cmd[i + 1 :]] if i else cmd) or "?"


def _val(v: Any) -> str:
    return "-" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
