"""JSON-lines recordings: a header line, then one event per line. Same schema as `--json` output."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import msgspec
import zstandard

from beefine_tui.errors import BeefineError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import (
    SCHEMA_VERSION,
    STATUS,
    Event,
    RecordHeader,
    StatusArgs,
    now_ns,
    reader_for,
)
from beefine_tui.userfiles import create_output, open_regular

_encoder = msgspec.json.Encoder()


class Stamp(msgspec.Struct, frozen=True, gc=False):
    """The part of an event line a replay index reads: the other fields are parsed and skipped."""

    ts: int
    probe: str
    kind: str


_stamp_decoder = msgspec.json.Decoder(Stamp)


class RecordError(BeefineError):
    """A recording that cannot be read: says which file and line, and why."""


class RecordingIncomplete(BeefineError):
    """The run went on, but its recording could not be written whole (a full disk)."""


def encode_event(ev: Event) -> bytes:
    return _encoder.encode(ev)


def encode_events(events: Sequence[Event]) -> bytes:
    """A batch as JSON lines (each ends with a newline), in one call."""
    return _encoder.encode_lines(events)


def encode_header(header: RecordHeader) -> bytes:
    return _encoder.encode(header)


def decode_event(line: bytes | str) -> Event:
    """One line of the current schema (a `--json` stream)."""
    return reader_for().decode(line)


def decode_event_lines(data: bytes, schema: int = SCHEMA_VERSION) -> list[Event]:
    """Events from JSON lines already checked once (a replay index's chunk), in one call."""
    return reader_for(schema).decode_lines(data)


# the last line of a recording that ended cleanly; a reader that does not find it knows the recording
# was cut short (a full disk, a kill) and says so instead of passing a partial story off as whole
TRAILER_PROBE = "recording"
MAX_LINE_BYTES = 1 << 20  # one event line; longer is not an event (/dev/zero, a one-line binary)
GZIP_MAGIC = b"\x1f\x8b"
READ_BLOCK = 1 << 20  # what a replay index reads and stamps at once (bounded like one line)
# bench/record_gzip.py, 100k events of a real trace in batches of 200: level 9 (gzip's default) wrote
# at 10 us/event (22 B/event), 20 times plain JSON lines (0.5 us, 373 B); level 1: 1.9 us, 32 B
GZIP_LEVEL = 1
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 3  # zstd's own default: fast enough to keep up with gzip level 1 (bench/record_gzip.py)
# compressed bytes fed to the zstd decoder at a time: zstd expands up to ~32,000 times (a run of zeros),
# so this bounds what one read can grow to (~32 MiB), whatever the file holds
ZSTD_READ = 1024
# what a compressed stream's reader raises for corrupt data (a cut one ends with EOFError)
CORRUPT = (gzip.BadGzipFile, zlib.error, zstandard.ZstdError)


class _ZstdReader(io.RawIOBase):
    """zstd frames decoded as a raw stream (for a BufferedReader's bounded readline and peek), that
    raises EOFError when the file ends inside a frame, as gzip does: zstandard's own stream reader
    ends there silently, and a cut recording would pass for one that just lacks its end marker."""

    def __init__(self, f: IO[bytes]) -> None:
        super().__init__()
        self._f = f
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._in_frame = False
        self._buf = b""
        self._pos = 0  # how much of _buf was handed out (slicing it each time copied the rest)

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while self._pos >= len(self._buf):
            chunk = self._f.read(ZSTD_READ)
            if not chunk:
                if self._in_frame:
                    raise EOFError("the zstd stream ends inside a frame")
                return 0
            self._in_frame = True
            out = self._obj.decompress(chunk)
            while self._obj.eof:  # a frame ended: the next one (if any) starts in what is left
                rest = self._obj.unused_data
                self._obj = self._dctx.decompressobj()
                self._in_frame = bool(rest)
                if not rest:
                    break
                out += self._obj.decompress(rest)
            self._buf, self._pos = out, 0
        n = min(len(b), len(self._buf) - self._pos)
        b[:n] = self._buf[self._pos : self._pos + n]
        self._pos += n
        return n


def trailer_event(count: int) -> Event:
    return Event(
        ts=now_ns(),
        probe=TRAILER_PROBE,
        kind=STATUS,
        args=StatusArgs(state="complete", events=count),
    )


class Recorder:
    """Writes a header then events as JSON lines; `write` takes batches. Not thread-safe by design:
    one consumer thread owns it.

    A failed write (a full disk, a closed pipe) never raises into the caller, whose live view and
    story must go on: the recorder stops writing, counts the events it could not write, reports the
    failure once through `on_error`, and leaves the recording without its trailer, so readers see it
    is incomplete.
    """

    def __init__(
        self,
        out: IO[bytes] | gzip.GzipFile | zstandard.ZstdCompressionWriter,
        header: RecordHeader,
        *,
        name: str = "",
        on_error: Callable[[str], None] | None = None,
        raw: IO[bytes] | None = None,
    ) -> None:
        self._out = out
        self._raw = raw  # the file under a compressed stream: where its size is, closed after it
        self.name = name or str(getattr(out, "name", "the recording"))
        self.on_error = on_error
        self.count = 0
        self.unwritten = 0
        self.error = ""  # why writing stopped; "" while all is well
        self._closed = False
        self._good_end: int | None = None  # file offset after the last whole batch (seekable files)
        # the events are written in this version's encoding, whatever header they were read with
        header = msgspec.structs.replace(header, schema=SCHEMA_VERSION)
        self._attempt(encode_header(header) + b"\n", 0)

    @classmethod
    def open(
        cls,
        path: str | Path,
        header: RecordHeader,
        *,
        force: bool = False,
        on_error: Callable[[str], None] | None = None,
    ) -> Recorder:
        """A new file (0600, no symlink followed); an existing one only with `force` (UsageError).
        A name ending in .gz is written gzip-compressed, in .zst zstd-compressed; each batch is flushed
        to a whole block, so a file cut by a full disk or a kill still reads up to its last batch."""
        f = create_output(path, force=force)
        if str(path).endswith(".zst"):
            # flush() ends a zstd block (FLUSH_BLOCK): what was written decodes without the frame's end
            zw = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(f, closefd=False)
            return cls(zw, header, name=str(path), on_error=on_error, raw=f)
        if not str(path).endswith(".gz"):
            return cls(f, header, name=str(path), on_error=on_error)
        gz = gzip.GzipFile(fileobj=f, mode="wb", mtime=0, compresslevel=GZIP_LEVEL)
        return cls(gz, header, name=str(path), on_error=on_error, raw=f)

    @property
    def complete(self) -> bool:
        return not self.error

    def _attempt(self, data: bytes, n: int) -> bool:
        if self.error:
            self.unwritten += n
            return False
        try:
            view = memoryview(data)
            while view:  # unbuffered: a failure is seen now, for this batch, not at a later write
                done = self._out.write(view)
                view = view[done or 0 :]
            self._out.flush()
        except (OSError, ValueError) as e:
            self.unwritten += n
            self.error = getattr(e, "strerror", None) or str(e) or type(e).__name__
            self._cut_back()
            if self.on_error is not None:
                self.on_error(self.status_line())
            return False
        self.count += n
        with contextlib.suppress(Exception):
            # for gzip, the compressed size: a cut there is on a flushed block boundary
            self._good_end = (self._raw or self._out).tell()
        return True

    def _cut_back(self) -> None:
        """Drop the part of the failed batch that got written (a file ends on a whole batch, so what
        it holds is exactly `count` events; it also gives back the space)."""
        if self._good_end is not None:
            with contextlib.suppress(Exception):
                os.ftruncate(self._out.fileno(), self._good_end)

    def write(self, events: Sequence[Event]) -> None:
        if events:
            # one call per batch: measured 0.39 us/event against 0.70 for encode_into per event
            self._attempt(encode_events(events), len(events))

    def flush(self) -> None:
        self._attempt(b"", 0)

    def status_line(self) -> str:
        if not self.error:
            return f"recording {self.name}: {self.count} events written"
        return (
            f"recording {self.name} is INCOMPLETE: writing failed ({self.error}); "
            f"{self.count} events written, {self.unwritten} not written"
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.error:
            self._attempt(encode_event(trailer_event(self.count)) + b"\n", 0)
        if self.error and self._raw is not None:
            # a failed compressed recording ends on its last whole block: closing the stream would append
            # its end (after the cut back), so the file goes first and the stream's writes fail
            with contextlib.suppress(Exception):
                self._raw.close()
            with contextlib.suppress(Exception):
                self._out.close()
            return
        try:
            if self._out not in (getattr(io, "stdout", None),):
                self._out.close()
            if self._raw is not None:
                self._raw.close()
        except OSError as e:  # e.g. the last flush on close
            if not self.error:
                self.error = e.strerror or str(e)
                if self.on_error is not None:
                    self.on_error(self.status_line())


class Recording:
    """A recording being read: the header, then its events by iteration (each line read with a bound).

    After iteration, `complete` tells whether the clean-end trailer was found and `problem` why not.
    The trailer itself is not yielded: it is about the file, not about the kernel.
    """

    def __init__(
        self,
        path: Path,
        f: io.BufferedReader | gzip.GzipFile,
        header: RecordHeader,
        raw: IO[bytes] | None = None,
    ) -> None:
        self.path = path
        self.header = header
        self._f = f
        self._raw = raw  # the compressed file under `f`, closed with it
        self.complete: bool | None = None  # None until read to the end
        self.problem = ""
        self.count = 0

    def __iter__(self) -> Iterator[Event]:
        return (ev for ev, _ in self._read(reader_for(self.header.schema).decode))

    def stamped_lines(self) -> Iterator[tuple[Stamp, bytes]]:
        """Each event's line as written, with only its time, probe and kind decoded (the rest is still
        checked to be JSON): what a replay index needs, at a fraction of a full decode. Same checks,
        same trailer handling and the same `complete`/`problem` as iterating the events."""
        return self._read(_stamp_decoder.decode)

    def stamped_batches(self) -> Iterator[tuple[list[Stamp], list[bytes]]]:
        """stamped_lines a block at a time (lines without their newline): the same checks, trailer,
        `complete` and `problem`, with the per-line work done by msgspec in one call per block. A block
        with anything unusual in it (a bad or blank line) is read line by line, with its line numbers."""
        p, f = self.path, self._f
        reader = reader_for(self.header.schema)
        trailer: Event | None = None
        carry = b""
        lineno = 1  # lines taken so far, the header included
        with f, self._raw or contextlib.nullcontext():
            while True:
                try:
                    block, cut = _fill(f)
                except CORRUPT as e:
                    raise RecordError(
                        f"{p}: the compressed data is corrupt after line {lineno + 1} ({e})"
                    ) from None
                lines = (carry + block).split(b"\n")
                carry = lines.pop()  # what follows the last newline: part of the next line
                if len(carry) > MAX_LINE_BYTES:
                    n = lineno + len(lines) + 1
                    raise RecordError(
                        f"{p}: line {n} is longer than {MAX_LINE_BYTES >> 20} MiB: not an event"
                    )
                at_end = not block or cut
                if at_end and not cut and carry.strip():
                    lines.append(carry)  # a last line without its newline
                stamps, lines = self._stamp_block(lines, lineno, at_end and not cut)
                lineno += len(lines)
                # a status of probe "recording" is rare: only a block holding one is walked line by line
                if not any(st.probe == TRAILER_PROBE and st.kind == STATUS for st in stamps):
                    out_s, out_l = stamps, lines
                    if stamps:
                        trailer = None  # events after a trailer: two recordings joined; judge by the last
                else:
                    out_s, out_l = [], []
                    for st, line in zip(stamps, lines, strict=True):
                        if st.probe == TRAILER_PROBE and st.kind == STATUS:
                            full = reader.decode(line)
                            if full.args.get("state") == "complete":
                                trailer = full
                                continue
                        trailer = None
                        out_s.append(st)
                        out_l.append(line)
                self.count += len(out_s)
                if out_s:
                    yield out_s, out_l
                if cut and not self.problem:
                    self.problem = f"its compressed data ends in the middle (after line {lineno + 1})"
                if at_end or self.problem:
                    break
        self._judge(trailer)

    def _stamp_block(self, lines: list[bytes], lineno: int, last: bool) -> tuple[list[Stamp], list[bytes]]:
        """(stamps, the lines they came from) of one block; `last`: it ends the file, so a bad final
        line is a cut one (the writer stopped), not a corrupt recording."""
        try:
            stamps = _stamp_decoder.decode_lines(b"\n".join(lines)) if lines else []
            if len(stamps) == len(lines) and max(map(len, lines), default=0) <= MAX_LINE_BYTES:
                return stamps, lines
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        stamps, kept = [], []
        for i, line in enumerate(lines):
            n = lineno + i + 1
            if len(line) > MAX_LINE_BYTES:
                raise RecordError(
                    f"{self.path}: line {n} is longer than {MAX_LINE_BYTES >> 20} MiB: not an event"
                )
            if not line.strip():
                continue
            try:
                stamps.append(_stamp_decoder.decode(line))
            except (msgspec.DecodeError, msgspec.ValidationError) as e:
                if last and i == len(lines) - 1:
                    self.problem = f"its last line (line {n}) was cut short"
                    break
                raise RecordError(f"{self.path}: line {n} is not a valid event ({e})") from None
            kept.append(line)
        return stamps, kept

    def _judge(self, trailer: Event | None) -> None:
        self.complete = trailer is not None and not self.problem  # a gzip cut after the marker too
        if not self.complete and not self.problem:
            self.problem = "it has no end marker (writing stopped early, or an older version made it)"
        elif trailer is not None and trailer.args.get("events") != self.count:
            self.complete = False
            self.problem = (
                f"its end marker counts {trailer.args.get('events')} events, {self.count} were read"
            )

    def _read(self, decode: Callable[[bytes], Any]) -> Iterator[tuple[Any, bytes]]:
        p, f = self.path, self._f
        trailer: Event | None = None
        with f, self._raw or contextlib.nullcontext():
            lineno = 1
            while True:
                try:
                    line = f.readline(MAX_LINE_BYTES + 1)
                except EOFError:  # a compressed stream without its end: the writer stopped
                    self.problem = f"its compressed data ends in the middle (after line {lineno})"
                    break
                except CORRUPT as e:
                    raise RecordError(
                        f"{p}: the compressed data is corrupt after line {lineno} ({e})"
                    ) from None
                if not line:
                    break
                lineno += 1
                if len(line) > MAX_LINE_BYTES:
                    raise RecordError(
                        f"{p}: line {lineno} is longer than {MAX_LINE_BYTES >> 20} MiB: not an event"
                    )
                if not line.strip():
                    continue
                try:
                    ev = decode(line)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    if not line.endswith(b"\n") and not _more(f):
                        # a last line cut in the middle: the writer stopped (full disk, killed)
                        self.problem = f"its last line (line {lineno}) was cut short"
                        break
                    raise RecordError(f"{p}: line {lineno} is not a valid event ({e})") from None
                if trailer is not None:
                    trailer = None  # events after a trailer: two recordings joined; judge by the last
                if ev.probe == TRAILER_PROBE and ev.kind == STATUS:
                    full = ev if isinstance(ev, Event) else reader_for(self.header.schema).decode(line)
                    if full.args.get("state") == "complete":
                        trailer = full
                        continue
                self.count += 1
                yield ev, line
        self._judge(trailer)


def _fill(f: io.BufferedReader | gzip.GzipFile) -> tuple[bytes, bool]:
    """Up to READ_BLOCK bytes, and whether the compressed stream was found cut. read1 returns what one
    underlying read gave, so the data before a cut gzip stream's end is kept, not lost with the error."""
    parts: list[bytes] = []
    size = 0
    while size < READ_BLOCK:
        try:
            b = f.read1(READ_BLOCK - size)
        except EOFError:  # a compressed stream without its end: the writer stopped
            return b"".join(parts), True
        if not b:
            break
        parts.append(b)
        size += len(b)
    return b"".join(parts), False


def _more(f: io.BufferedReader | gzip.GzipFile) -> bool:
    try:
        return bool(f.peek(1))
    except (EOFError, OSError, *CORRUPT):
        return False  # a cut compressed stream: nothing more can be read


def read_recording(path: str | Path) -> tuple[RecordHeader, Recording]:
    """Open a recording, decoding into the Args structs defined so far: callers above the engines use
    beefine_tui.replay.open_recording, which first loads every probe's kinds (a kind whose module is
    not loaded reads as FreeArgs). Raises RecordError (with file and line) on anything malformed;
    refuses what is not a regular file (/dev/zero, a fifo, a directory) before reading it. A gzip or
    zstd file (whatever its name) is read through its decoder, each line still with a bound."""
    p = Path(path)
    try:
        f = open_regular(p, "recording")
    except BeefineError as e:
        err = RecordError(f"cannot open recording {p}: {e.message.removeprefix(f'{p} ')}", e.hint)
        err.exit_code = e.exit_code  # missing or not a file: a usage error (2), as for other commands
        raise err from None
    under: IO[bytes] | None = None  # the compressed file, when it is gzip or zstd
    reader: io.BufferedReader | gzip.GzipFile = f
    try:
        magic = f.peek(4)[:4]
        if magic[:2] == GZIP_MAGIC:
            under, reader = f, gzip.GzipFile(fileobj=f, mode="rb")
        elif magic == ZSTD_MAGIC:
            under, reader = f, io.BufferedReader(_ZstdReader(f))
        first = reader.readline(MAX_LINE_BYTES + 1)
    except (EOFError, *CORRUPT) as e:
        f.close()
        raise RecordError(
            f"{p}: line 1: the compressed data is cut or corrupt ({e or 'cut short'})"
        ) from None
    except OSError as e:
        f.close()
        raise RecordError(f"cannot read recording {p}: {e.strerror}") from None
    how = "record with `beefine-tui probe run ... --record FILE` or `trace ... --record FILE`"
    if not first:
        f.close()
        raise RecordError(f"{p}: line 1: the file is empty, not a Beefine recording", how)
    try:
        if len(first) > MAX_LINE_BYTES:
            raise msgspec.ValidationError(f"longer than {MAX_LINE_BYTES >> 20} MiB")
        raw = msgspec.json.decode(first)
        if not isinstance(raw, dict) or raw.get("type") != "header":
            raise msgspec.ValidationError("no header object")
        header = msgspec.convert(raw, RecordHeader)
    except (msgspec.DecodeError, msgspec.ValidationError) as e:
        f.close()
        raise RecordError(f"{p}: line 1 is not a Beefine recording header ({e})", how) from None
    if header.schema > SCHEMA_VERSION:
        f.close()
        raise RecordError(f"{p}: schema {header.schema} is newer than this version understands")
    return header, Recording(p, reader, header, under)


class BusRecording:
    """Records what a bus carries from now until `stop()`, in a thread of its own, so a live view can
    record without a file write on its UI thread.

    It has its own bounded subscription: when the disk falls behind a flood, the bus drops events for
    this recording only and the recording holds `lost` events saying how many (source "bus"). The file
    gets the trailer at `stop()`, which the app's close also calls (it is owned like a probe session).
    """

    CAPACITY = 200_000
    POLL_S = 0.2

    def __init__(
        self,
        bus: Bus,
        path: str | Path,
        header: RecordHeader,
        *,
        force: bool = False,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        # UsageError (an existing file, a directory...): nothing is started
        self.recorder = Recorder.open(path, header, force=force, on_error=on_error)
        self.path = Path(path)
        self._sub = bus.subscribe(f"record {self.path.name}", self.CAPACITY)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"record-{self.path.name}", daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        return self.recorder.count

    @property
    def error(self) -> str:
        return self.recorder.error

    def _run(self) -> None:
        sub, rec = self._sub, self.recorder
        while not self._stopping.is_set():
            rec.write(sub.get(self.POLL_S))
        # what the bus handed over before stop() was asked
        while batch := sub.get(0):
            rec.write(batch)
        sub.close()
        rec.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued, the trailer, and close the file. Idempotent."""
        self._stopping.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return not self._thread.is_alive()
