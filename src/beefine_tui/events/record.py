"""JSON-lines recordings: a header line, then one event per line. Same schema as `--json` output."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from beefine_tui.errors import BeefineError
from beefine_tui.events.model import SCHEMA_VERSION, Event, RecordHeader

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(Event)


class RecordError(BeefineError):
    """A recording that cannot be read: says which file and line, and why."""


def encode_event(ev: Event) -> bytes:
    return _encoder.encode(ev)


def encode_events(events: Sequence[Event]) -> bytes:
    """A batch as JSON lines (each ends with a newline), in one call."""
    return _encoder.encode_lines(events)


def encode_header(header: RecordHeader) -> bytes:
    return _encoder.encode(header)


def decode_event(line: bytes | str) -> Event:
    return _event_decoder.decode(line)


class Recorder:
    """Writes a header then events as JSON lines; `write` takes batches. Not thread-safe by design:
    one consumer thread owns it."""

    def __init__(self, out: IO[bytes], header: RecordHeader) -> None:
        self._out = out
        self.count = 0
        out.write(encode_header(header) + b"\n")

    @classmethod
    def open(cls, path: str | Path, header: RecordHeader) -> Recorder:
        return cls(open(path, "wb"), header)

    def write(self, events: Sequence[Event]) -> None:
        # one call per batch: measured 0.39 us/event against 0.70 for encode_into per event
        self._out.write(encode_events(events))
        self.count += len(events)

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        try:
            self._out.flush()
        finally:
            if self._out not in (getattr(io, "stdout", None),):
                self._out.close()


def read_recording(path: str | Path) -> tuple[RecordHeader, Iterator[Event]]:
    """Open a recording. Raises RecordError (with file and line) on anything malformed."""
    p = Path(path)
    try:
        f = p.open("rb")
    except OSError as e:
        raise RecordError(f"cannot open recording {p}: {e.strerror}") from None
    first = f.readline()
    try:
        raw = msgspec.json.decode(first)
        if not isinstance(raw, dict) or raw.get("type") != "header":
            raise msgspec.ValidationError("no header object")
        header = msgspec.convert(raw, RecordHeader)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        f.close()
        raise RecordError(
            f"{p}: line 1 is not a Beefine recording header ({e})",
            "record with `beefine-tui probe run ... --record FILE` or `trace ... --record FILE`",
        ) from None
    if header.schema > SCHEMA_VERSION:
        f.close()
        raise RecordError(f"{p}: schema {header.schema} is newer than this version understands")

    def events() -> Iterator[Event]:
        with f:
            for lineno, line in enumerate(f, start=2):
                if not line.strip():
                    continue
                try:
                    yield _event_decoder.decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    raise RecordError(f"{p}: line {lineno} is not a valid event ({e})") from None

    return header, events()
