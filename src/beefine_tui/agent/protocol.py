"""The agent protocol: JSON lines on stdin (commands) and stdout (replies, events, loss markers).

See PROTOCOL.md beside this file. Events travel in the recording encoding (events/record.py): a
client can write a stream's header and events with the Recorder and replay the file.
"""

from __future__ import annotations

from typing import Any

import msgspec

from beefine_tui.events.model import Event, EventReader, reader_for

# the protocol this side speaks, and the oldest it still accepts from the other side. Bump PROTOCOL
# for any change a peer must know of; raise MIN_PROTOCOL only when dropping an old behaviour.
PROTOCOL = 1
MIN_PROTOCOL = 1
MAX_LINE_BYTES = 1 << 20  # a command line longer than this is not a command

# error codes (Error.code)
MALFORMED = "malformed"  # not a JSON object, or no cmd / id
UNKNOWN = "unknown_command"
BAD_ARGS = "bad_args"  # a missing or wrong argument, an unknown probe or stream
VERSION = "version"  # no protocol version in common
HELLO_FIRST = "hello_first"
FAILED = "failed"  # the command was understood but failed (no Docker, a probe would not load...)

COMMANDS = ("hello", "probes", "start", "stop", "streams", "stats", "inspect", "progs", "bye")
# commands added later, each also named in hello's `capabilities` so a client can tell an agent that
# lacks it from one that refuses it
MORE_COMMANDS: tuple[str, ...] = (
    "trace",
    "helpers",
    "load",
    "unload",
    "doctor",
    "image",
    "progs_stats",
    "interfaces",
)
# the Container monitor's (each also a capability of the same name)
MONITOR_COMMANDS: tuple[str, ...] = ("containers", "sample", "netinfo", "limits", "pause", "unpause")
MORE_COMMANDS += MONITOR_COMMANDS
# the image tags of the host's daemon: the Image monitor's pick list over --remote
MORE_COMMANDS += ("images",)


class Reply(msgspec.Struct, tag="reply", tag_field="type", kw_only=True):
    id: int
    result: Any = None


class Error(msgspec.Struct, tag="error", tag_field="type", kw_only=True):
    id: int | None = None
    code: str
    message: str
    hint: str = ""
    # a program that would not compile or verify (`load`): the compiler's or verifier's output and the
    # line of the user's source it names, as a local load's ProbeLoadError carries them
    log: str = ""
    line: int | None = None


class Events(msgspec.Struct, tag="events", tag_field="type", kw_only=True, gc=False):
    """A batch of one stream's events, each in the recording encoding."""

    stream: int
    events: list[Event]


class Lost(msgspec.Struct, tag="lost", tag_field="type", kw_only=True):
    """Events of `probe` this stream dropped because its reader was slower than the probe: `count`
    since the last marker, `total` since the stream started. Also in the stream as `lost` events."""

    stream: int
    probe: str
    count: int
    total: int


class End(msgspec.Struct, tag="end", tag_field="type", kw_only=True):
    """A stream ended (stopped, or the agent is closing); nothing more of it follows."""

    stream: int
    reason: str = "stopped"
    received: dict[str, int] = msgspec.field(default_factory=dict)
    lost: dict[str, int] = msgspec.field(default_factory=dict)


class Bye(msgspec.Struct, tag="bye", tag_field="type", kw_only=True):
    reason: str = ""


class StreamStarted(msgspec.Struct, tag="stream", tag_field="type", kw_only=True):
    """A long command's stream began (`trace`: its probes are attached, the run comes next): before
    the stream's first events; the command's own reply comes after the stream's `end`."""

    id: int
    stream: int
    probes: list[str] = msgspec.field(default_factory=list)
    header: Any = None  # a recording header (events/model.py RecordHeader), as a JSON object
    notes: list[str] = msgspec.field(default_factory=list)
    docker_host: str = ""
    run: str = ""  # the run label of the containers it makes (beefine.run=...)


Message = Reply | Error | Events | Lost | End | Bye | StreamStarted


class _EventsWire(msgspec.Struct, tag="events", tag_field="type", kw_only=True, gc=False):
    """Events as read: each decoded by an EventReader, which knows every kind's Args struct."""

    stream: int
    events: list[msgspec.Raw]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Reply | Error | _EventsWire | Lost | End | Bye | StreamStarted)


def _event_reader() -> EventReader:
    from beefine_tui.probes.catalog import all_probes

    all_probes()  # the probe modules define the kinds' structs the reader decodes into
    return reader_for()


def encode(msg: Message) -> bytes:
    return _encoder.encode(msg) + b"\n"


def encode_command(cmd: str, id: int, **args: Any) -> bytes:
    return _encoder.encode({"id": id, "cmd": cmd, **args}) + b"\n"


def decode(line: bytes) -> Message:
    """One agent line; msgspec.DecodeError / ValidationError when it is not one."""
    msg: Reply | Error | _EventsWire | Lost | End | Bye | StreamStarted = _decoder.decode(line)
    if isinstance(msg, _EventsWire):
        reader = _event_reader()
        return Events(stream=msg.stream, events=[reader.decode(raw) for raw in msg.events])
    return msg


def pick_version(peer_max: int, peer_min: int) -> int | None:
    """The newest version both sides speak, or None."""
    best = min(PROTOCOL, peer_max)
    return best if best >= max(MIN_PROTOCOL, peer_min) else None
