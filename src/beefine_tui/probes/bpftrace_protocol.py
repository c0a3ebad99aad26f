"""What bpftrace prints and how it becomes Events: `bpftrace -f json`'s messages and the records of
our built-in scripts. Pure: no process, no thread, unit-tested without bpftrace (bpftrace_runner.py
runs the process and feeds its stdout here).

`bpftrace -f json` prints one JSON object per line on stdout: `attached_probes` (printed BEFORE the
probes are attached: see bpftrace_runner.READY_PROBE), `printf` for each printf call, `map`/`hist`/
`stats` for maps printed (at exit, or by `print()`), `lost_events` when its perf buffer overflowed,
`time`, `helper_error`...

Our built-in scripts print one tab-separated record per printf:

    KIND \t TS_NS \t PID \t TID \t PPID \t COMM \t field...

which `split_record` parses; each bt_<name> module maps the fields to the kinds and args in
events/SCHEMA.md. Anything else a script prints arrives as kind "printf" {line}; maps printed
at exit arrive as kind "map" {name, values}.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from beefine_tui.events.model import Args, Event, FreeArgs, lost_event, now_ns
from beefine_tui.probes.base import Target

# Built-in scripts count every record they print in this map (bpftrace prints it at exit): records
# counted there but never received were lost without bpftrace saying so (its perf buffer backlog
# is dropped when it exits), and are reported as `lost` (source "perf").
EMITTED_MAP = "@__beefine_emitted"
PARTIAL_MAX = 64 * 1024  # an unterminated printf line longer than this is flushed as it is
# the line our readiness probe prints (bpftrace_runner.READY_PROBE): not an event
READY_TAG = "__beefine_ready"

# bpftrace 0.17 JSON-escapes bytes >= 0x80 as a sign-extended \uffffffXX; turn them back into bytes
_BAD_ESCAPE = re.compile(r"\\uffffff([0-9a-fA-F]{2})")


# --- record parsing -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    kind: str
    ts: int
    pid: int
    tid: int
    ppid: int
    comm: str
    fields: list[str]


def split_record(line: str, nfields: int | None = None) -> Record | None:
    """Parse `KIND\\tTS\\tPID\\tTID\\tPPID\\tCOMM\\tfield...`; None if it is not such a record.

    With `nfields`, the last field keeps any extra tabs (so a trailing string may contain tabs).
    """
    parts = line.rstrip("\n").split("\t")
    if len(parts) < 6:
        return None
    try:
        ts, pid, tid, ppid = int(parts[1]), int(parts[2]), int(parts[3]), int(parts[4])
    except ValueError:
        return None
    fields = parts[6:]
    if nfields is not None:
        if len(fields) < nfields:
            return None
        if len(fields) > nfields:
            fields = [*fields[: nfields - 1], "\t".join(fields[nfields - 1 :])]
    return Record(parts[0], ts, pid, tid, ppid, parts[5], fields)


def to_int(s: str) -> int:
    s = s.strip()
    if s.lower().startswith(("0x", "-0x")):
        return int(s, 16)
    return int(s)


def event_from_record(
    probe: str, rec: Record, kind: str, args: dict[str, Any] | Args, text: str = ""
) -> Event:
    """`args` a typed struct (its own describe() makes the line), or a dict shown as `text`."""
    return Event(
        ts=rec.ts,
        probe=probe,
        kind=kind,
        pid=rec.pid,
        tid=rec.tid,
        ppid=rec.ppid,
        comm=rec.comm,
        args=args if isinstance(args, Args) else FreeArgs(fields=args, line=text),
    )


LineDecoder = Callable[[str], Event | None]
"""Turns one printf line into an Event, or None to fall back to kind "printf" {line}."""


# --- JSON lines ---------------------------------------------------------------------------------
def parse_json_line(line: str) -> dict[str, Any] | None:
    """One line of `bpftrace -f json`; repairs 0.17's broken escapes of non-ASCII bytes."""
    line = line.strip()
    if not line:
        return None
    broken = "\\uffffff" in line
    if broken:
        # "\uffffffc3" would parse as U+FFFF then "ffc3": turn it into the byte 0xc3 first, then read
        # the string values' bytes as UTF-8 (below)
        line = _BAD_ESCAPE.sub(lambda m: "\\u00" + m.group(1), line)
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if broken:
        obj = _latin1_to_utf8(obj)
    return obj if isinstance(obj, dict) else None


def _latin1_to_utf8(obj: Any) -> Any:
    if isinstance(obj, str):
        try:
            return obj.encode("latin-1").decode("utf-8", errors="replace")
        except UnicodeEncodeError:
            return obj
    if isinstance(obj, dict):
        return {_latin1_to_utf8(k): _latin1_to_utf8(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_latin1_to_utf8(v) for v in obj]
    return obj


class OutputDecoder:
    """Turns parsed JSON messages into Events for one probe. Pure: unit-tested without bpftrace."""

    def __init__(self, probe: str, decode_line: LineDecoder | None = None, target: Target | None = None):
        self.probe = probe
        self.decode_line = decode_line
        self.target = target or Target()
        self.attached: int | None = None
        self.ready_nonces: set[int] = set()
        self.emitted_seen = False
        self.lines_received = 0  # printf records (not our readiness marker)
        self.lost_reported = 0  # lost_events bpftrace reported, plus what we added from EMITTED_MAP
        self._partial = ""

    def _keep(self, ev: Event) -> Event | None:
        # pids filtered here when the target names several (the script filters one in the kernel)
        t = self.target
        if len(t.pids) > 1 and ev.kind not in ("lost", "status") and ev.pid and ev.pid not in t.pids:
            return None
        return ev

    def _line(self, line: str) -> Event | None:
        if line.startswith(READY_TAG):
            with contextlib.suppress(ValueError, IndexError):
                if len(self.ready_nonces) < 64:
                    self.ready_nonces.add(int(line.split("\t")[1]))
            return None
        ev: Event | None = None
        if self.decode_line is not None:
            try:
                ev = self.decode_line(line)
            except Exception as e:  # a malformed record must not stop the stream
                return Event(
                    ts=now_ns(),
                    probe=self.probe,
                    kind="printf",
                    args=FreeArgs(
                        fields={"line": line, "parse_error": f"{type(e).__name__}: {e}"}, line=line
                    ),
                )
        if ev is None:
            ev = Event(
                ts=now_ns(), probe=self.probe, kind="printf", args=FreeArgs(fields={"line": line}, line=line)
            )
        return self._keep(ev)

    def feed(self, msg: dict[str, Any]) -> list[Event]:
        typ = msg.get("type")
        data = msg.get("data")
        out: list[Event] = []
        if typ == "printf" and isinstance(data, str):
            text = self._partial + data
            lines = text.split("\n")
            self._partial = lines.pop()  # "" when the printf ended with a newline
            if len(self._partial) > PARTIAL_MAX:
                lines.append(self._partial)
                self._partial = ""
            for line in lines:
                if line:
                    if not line.startswith(READY_TAG):
                        self.lines_received += 1
                    ev = self._line(line)
                    if ev is not None:
                        out.append(ev)
        elif typ == "attached_probes" and isinstance(data, dict):
            self.attached = int(data.get("probes", 0))
        elif typ == "lost_events" and isinstance(data, dict):
            n = int(data.get("events", 0))
            if n:
                self.lost_reported += n
                out.append(lost_event(self.probe, n, "perf"))
        elif typ == "map" and isinstance(data, dict) and EMITTED_MAP in data:
            emitted = data[EMITTED_MAP]
            self.emitted_seen = True
            missing = emitted - self.lines_received - self.lost_reported if isinstance(emitted, int) else 0
            if missing > 0:
                self.lost_reported += missing
                out.append(lost_event(self.probe, missing, "perf"))
        elif typ in ("map", "hist", "stats") and isinstance(data, dict):
            for name, values in data.items():
                out.append(
                    Event(
                        ts=now_ns(),
                        probe=self.probe,
                        kind="map",
                        args=FreeArgs(
                            fields={"name": name, "type": typ, "values": values},
                            line=f"{name} = {json.dumps(values)[:200]}",
                        ),
                    )
                )
        elif typ == "helper_error":
            helper = msg.get("helper", "?")
            out.append(
                Event(
                    ts=now_ns(),
                    probe=self.probe,
                    kind="printf",
                    args=FreeArgs(
                        fields={"line": f"helper {helper} failed", "helper_error": msg},
                        line=f"bpftrace: helper {helper} failed with {msg.get('retcode')} "
                        f"at line {msg.get('line')}",
                    ),
                )
            )
        elif typ in ("time", "cat", "join", "syscall", "value") and data is not None:
            line = data.rstrip("\n") if isinstance(data, str) else json.dumps(data)
            out.append(
                Event(
                    ts=now_ns(),
                    probe=self.probe,
                    kind="printf",
                    args=FreeArgs(fields={"line": line}, line=line),
                )
            )
        return out

    def flush(self) -> list[Event]:
        if not self._partial:
            return []
        line, self._partial = self._partial, ""
        ev = self._line(line)
        return [ev] if ev is not None else []
