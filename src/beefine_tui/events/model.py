"""The event record shared by every probe, the bus, the recorder and the screens.

Schema 2: `args` is a typed struct per kind (an `Args` subclass, tagged by `t` in JSON) holding raw
values as the kernel gave them (flags as ints, a failed call's `ret` as -errno). Names are derived for
display by the struct itself (`names()`, `shown()`), and its `describe()` is the one line every view
shows, so no consumer parses names back out of strings. Schema 1 (args as a dict of names, a stored
`text`) is still read: see `upgrade_v1`.
"""

from __future__ import annotations

import errno
import functools
import os
import platform
import socket
import time
import typing
from collections.abc import Iterator
from typing import Any, ClassVar

import msgspec

SCHEMA_VERSION = 2

# kind of the event that reports loss (LostArgs)
LOST = "lost"
# LostArgs.source of what was lost before this process saw it: in a remote agent's queue or in this
# client's, over --remote (the agent's kernel losses keep their own source)
UPSTREAM = "agent"
# kind of the event that reports a probe's own failure or state change (StatusArgs); state "note":
# something the reader must know to read the figures right
STATUS = "status"
NOTE = "note"


def errno_text(ret: int) -> str:
    """'ENOENT' for -2: the name a failed call's negative return stands for."""
    return errno.errorcode.get(-ret, f"E{-ret}") if ret < 0 else ""


class Args(msgspec.Struct, frozen=True, kw_only=True, gc=False, omit_defaults=True, tag_field="t"):
    """What one kind of event carries. Subclasses name their tag (`tag="open"`) and the event kinds
    they carry (`kinds`); the recording reader finds them all by subclassing, so a probe module that
    defines its kinds' structs is all it takes to add them to the schema.

    Two ways in, on purpose: typed code reads attributes, the raw values (`args.flags & O_CREAT`);
    generic code (filters, export, the detail pane, schema-1 readers) reads by name with `get`/`[]`/`in`,
    which answer the display view, `shown()` (`args["flags"]` is "O_WRONLY|O_CREAT"); `in` is true only
    for what is shown (an optional field left empty is not)."""

    kinds: ClassVar[tuple[str, ...]] = ()

    def names(self) -> dict[str, Any]:
        """Display names derived from the raw values (flags as 'O_WRONLY|O_CREAT', errno names)."""
        ret = getattr(self, "ret", None)
        return {"error": errno_text(ret)} if isinstance(ret, int) and ret < 0 else {}

    def as_dict(self) -> dict[str, Any]:
        """The raw fields, by name (the JSON form without the tag)."""
        return {f: getattr(self, f) for f in self.__struct_fields__}

    def shown(self) -> dict[str, Any]:
        """Raw fields with the derived names laid over them: what a reader is shown. An optional field
        left at its empty default (None, False, "") is not shown: it says nothing."""
        empty = _empty_defaults(type(self))
        out = {
            k: v for k, v in self.as_dict().items() if v is not None and not (k in empty and v == empty[k])
        }
        out.update(self.names())
        return out

    def describe(self, ev: Event) -> str:
        """The one line views print for this event."""
        return " ".join(f"{k}={v}" for k, v in self.shown().items() if v not in (None, "", [], {}))

    # by name: a derived name first, else the field itself (even an empty one, which `in` and shown()
    # leave out); the same answers as shown(), without building it for one name (the story asks often)
    def get(self, name: str, default: Any = None) -> Any:
        derived = self.names()
        if name in derived:
            return derived[name]
        return getattr(self, name) if name in self.__struct_fields__ else default

    def __getitem__(self, name: str) -> Any:
        derived = self.names()
        if name in derived:
            return derived[name]
        if name in self.__struct_fields__:
            return getattr(self, name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.names():
            return True
        if name not in self.__struct_fields__:
            return False
        value = getattr(self, name)
        empty = _empty_defaults(type(self))
        return value is not None and not (name in empty and value == empty[name])

    def items(self) -> Iterator[tuple[str, Any]]:
        return iter(self.shown().items())


@functools.cache
def _empty_defaults(cls: type[Args]) -> dict[str, Any]:
    return {
        f.name: f.default
        for f in msgspec.structs.fields(cls)
        if f.default is None or f.default is False or (isinstance(f.default, str) and not f.default)
    }


class FreeArgs(Args, frozen=True, kw_only=True, gc=False, tag="free"):
    """Arguments with no fixed shape: users' programs, bpftrace printf lines, events of a kind this
    version does not know (read from a newer or older recording). `line` is the text they came with."""

    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    line: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.fields)

    def names(self) -> dict[str, Any]:
        ret = self.fields.get("ret")
        if isinstance(ret, int) and ret < 0 and "error" not in self.fields:
            return {"error": errno_text(ret)}
        return {}

    def describe(self, ev: Event) -> str:
        return self.line or super().describe(ev)

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.fields:
            return self.fields[name]
        return self.names().get(name, default)

    def __getitem__(self, name: str) -> Any:
        if name in self.fields:
            return self.fields[name]
        return self.names()[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields or name in self.names()


class LostArgs(Args, frozen=True, kw_only=True, gc=False, tag="lost"):
    """`count` events that never arrived; `source`: kernel (ring full), perf, bus (a slow view), parse.
    `first_ts`, `last_ts`: when the first and last of them happened (CLOCK_MONOTONIC ns, as events'
    ts), where the source knows it; the story places the loss in the phases it overlaps."""

    kinds = (LOST,)
    source: str
    count: int
    first_ts: int | None = None
    last_ts: int | None = None

    def describe(self, ev: Event) -> str:
        return f"{self.count} event{'s' if self.count != 1 else ''} lost ({self.source})"


class StatusArgs(Args, frozen=True, kw_only=True, gc=False, tag="status"):
    """A probe's own state change or failure; state "note" carries a limit the reader must know;
    the recording's trailer is state "complete" with the number of `events` written."""

    kinds = (STATUS,)
    state: str
    error: str = ""
    note: str = ""
    events: int | None = None

    def names(self) -> dict[str, Any]:
        return {}

    def describe(self, ev: Event) -> str:
        if self.state == NOTE:
            return f"{ev.probe}: {self.note}"
        if self.events is not None and self.state == "complete":
            return f"recording complete: {self.events} events"
        return f"{ev.probe}: {self.state}" + (f": {self.error}" if self.error else "")


class Event(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One thing the kernel did, decoded.

    `ts` is nanoseconds on CLOCK_MONOTONIC (what bpf_ktime_get_ns returns), so events from
    different probes order correctly. `args` holds only plain values, so an event can never be part
    of a reference cycle: gc=False keeps the collector off the hot path (measured: decode 3.6
    us/event instead of 4.7 us while 200k events are held).
    """

    ts: int
    probe: str
    kind: str
    pid: int = 0
    tid: int = 0
    ppid: int = 0
    comm: str = ""
    container: str | None = None
    args: Args = msgspec.field(default_factory=FreeArgs)

    @property
    def text(self) -> str:
        """The one human line for this event, made by its kind's own formatter when asked (only the
        rows on screen are ever formatted)."""
        return self.args.describe(self)


class RecordHeader(msgspec.Struct, frozen=True, kw_only=True, tag="header", tag_field="type"):
    """First line of every JSON-lines recording."""

    schema: int = SCHEMA_VERSION
    host: str = msgspec.field(default_factory=socket.gethostname)
    kernel: str = msgspec.field(default_factory=platform.release)
    probes: list[str] = msgspec.field(default_factory=list)
    started_ns: int = msgspec.field(default_factory=time.monotonic_ns)
    started_wall: float = msgspec.field(default_factory=time.time)
    pid: int = msgspec.field(default_factory=os.getpid)
    command: list[str] = msgspec.field(default_factory=list)


def now_ns() -> int:
    return time.monotonic_ns()


def lost_event(
    probe: str,
    count: int,
    source: str,
    ts: int | None = None,
    window: tuple[int, int] | None = None,
) -> Event:
    """`window`: (first, last) ts of what was lost, when known."""
    first, last = window if window is not None else (None, None)
    return Event(
        ts=now_ns() if ts is None else ts,
        probe=probe,
        kind=LOST,
        args=LostArgs(source=source, count=count, first_ts=first, last_ts=last),
    )


def status_event(probe: str, state: str, error: str = "", ts: int | None = None) -> Event:
    return Event(
        ts=now_ns() if ts is None else ts, probe=probe, kind=STATUS, args=StatusArgs(state=state, error=error)
    )


def note_event(probe: str, note: str, ts: int | None = None) -> Event:
    """A status event that explains a limit of what follows (state "note"), shown in the view's log."""
    return Event(
        ts=now_ns() if ts is None else ts, probe=probe, kind=STATUS, args=StatusArgs(state=NOTE, note=note)
    )


# --- reading events back (recordings, --json streams) -------------------------------------------


def args_types() -> list[type[Args]]:
    """Every Args struct defined so far (probe modules define theirs at import)."""
    found: list[type[Args]] = []
    todo: list[type[Args]] = [Args]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__struct_config__.tag is not None:
                found.append(sub)
    return found


class _V1Event(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    ts: int
    probe: str
    kind: str
    pid: int = 0
    tid: int = 0
    ppid: int = 0
    comm: str = ""
    container: str | None = None
    args: dict[str, Any] = msgspec.field(default_factory=dict)
    text: str = ""


class _UnknownArgsEvent(_V1Event, frozen=True, kw_only=True, gc=False):
    """A schema-2 line whose args tag this version does not know (a newer version wrote it)."""

    text: str = ""


def _plain(w: Any, args: Args) -> Event:
    return Event(
        ts=w.ts,
        probe=w.probe,
        kind=w.kind,
        pid=w.pid,
        tid=w.tid,
        ppid=w.ppid,
        comm=w.comm,
        container=w.container,
        args=args,
    )


def upgrade_v1_args(kind: str, args: dict[str, Any], text: str) -> Args:
    """Schema 1 args (flags as names with `flags_raw`, `mode` as an octal string, `error` names) as
    the struct its kind has now; what does not fit stays a FreeArgs with the line it was shown with."""
    # the most specific struct that fits first: a flight-recorder note is a status with more fields
    candidates = sorted((c for c in args_types() if kind in c.kinds), key=lambda c: -len(c.__mro__))
    for cls in candidates:
        upgrade = getattr(cls, "from_v1", None)
        try:
            if upgrade is not None:
                return typing.cast(Args, upgrade(args))
            return msgspec.convert(_v1_fields(cls, args), cls, strict=False)
        except (msgspec.ValidationError, TypeError, ValueError, KeyError):
            continue
    return FreeArgs(fields=args, line=text)


def _v1_fields(cls: type[Args], args: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in cls.__struct_fields__:
        if f"{name}_raw" in args:
            out[name] = args[f"{name}_raw"]  # schema 1 kept the number beside the names
        elif name in args:
            value = args[name]
            if name == "mode" and isinstance(value, str):
                value = int(value, 8)  # schema 1 wrote modes as octal strings
            out[name] = value
    return out


class EventReader:
    """Decodes JSON lines of either schema into Events with typed args.

    The struct union is built from the Args types defined when the reader is made, so make it after
    the probes are imported (beefine_tui.probes.catalog). A line whose args tag is unknown (a newer
    version's kind) is kept, its args as FreeArgs, rather than refused."""

    def __init__(self, schema: int = SCHEMA_VERSION) -> None:
        self.schema = schema
        types = tuple(args_types())
        union: Any = typing.Union[types] if len(types) > 1 else types[0]  # noqa: UP007 (built at runtime)
        wire = msgspec.defstruct(
            "_WireEvent",
            [("args", union, msgspec.field(default_factory=FreeArgs))],
            bases=(Event,),
            frozen=True,
            kw_only=True,
            gc=False,
        )
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(wire)
        self._loose = msgspec.json.Decoder(_UnknownArgsEvent)
        self._v1 = msgspec.json.Decoder(_V1Event)

    def decode_lines(self, data: bytes) -> list[Event]:
        """Many JSON lines at once (a replay chunk); line by line only when one needs the slow path."""
        if self.schema >= 2:
            try:
                return [_plain(w, w.args) for w in self._decoder.decode_lines(data)]
            except msgspec.ValidationError:
                pass  # an unknown tag somewhere: each line on its own, keeping it as FreeArgs
        return [self.decode(line) for line in data.splitlines() if line.strip()]

    def decode(self, line: bytes | str) -> Event:
        """Raises msgspec.DecodeError / ValidationError for what is not an event line."""
        if self.schema < 2:
            old = self._v1.decode(line)
            return _plain(old, upgrade_v1_args(old.kind, old.args, old.text))
        try:
            return _plain(w := self._decoder.decode(line), w.args)
        except msgspec.ValidationError:
            loose = self._loose.decode(line)  # raises again if it is not an event at all
            fields = {k: v for k, v in loose.args.items() if k != "t"}
            return _plain(loose, FreeArgs(fields=fields, line=loose.text))


_readers: dict[tuple[int, int], EventReader] = {}


def reader_for(schema: int = SCHEMA_VERSION) -> EventReader:
    """A shared reader for this schema (making one builds the union of every struct: ~0.4 ms), made
    again only when more kinds were defined since (a probe module imported later)."""
    key = (schema, len(args_types()))
    reader = _readers.get(key)
    if reader is None:
        reader = _readers[key] = EventReader(schema)
    return reader
