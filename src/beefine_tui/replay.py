"""Replaying recordings. No Textual here: the TUI and tests use the same engines.

The Replayer feeds a recording into a Bus, at the recorded pace (scaled by `speed`) or as fast as
possible: a Runner-like object with `start()` and an idempotent `stop()`; events keep their recorded
`ts`, so views show recorded times.

ReplayIndex, ReplayCursor and StoryAt are the replay screen's engine: a recording indexed once, a
position moved by play, step, phase and time seeks at a chosen speed, and the story at that position.
"""

from __future__ import annotations

import bisect
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from pathlib import Path

import zstandard

from beefine_tui.errors import UsageError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, STATUS, Event, RecordHeader, status_event
from beefine_tui.events.record import (
    RecordError,
    Recording,
    decode_event_lines,
    read_recording,
)
from beefine_tui.probes.catalog import all_probes
from beefine_tui.story.diff import TRACE_KINDS
from beefine_tui.story.engine import DOCKER_PROBE, StoryEngine
from beefine_tui.story.phases import ACTIVE, PHASES, Phase, Timeline

BATCH_MAX = 5000
BATCH_WINDOW_NS = 20_000_000  # events within 20 ms of recorded time travel together


class Replayer:
    def __init__(
        self,
        events: Iterable[Event],
        bus: Bus,
        *,
        speed: float = 1.0,  # 1 = recorded pace, 2 = twice as fast, 0 = as fast as possible
        probe: str = "replay",
        on_done: Callable[[BaseException | None], None] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._source = events  # a Recording knows, once read, whether it ended cleanly
        self._events = iter(events)
        self.bus = bus
        self.speed = speed
        self.probe = probe
        self.on_done = on_done
        self.published = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sleep = sleep

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="replay", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2.0)

    @property
    def done(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def _wait(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            self._stop.wait(seconds)

    def run_sync(self) -> None:
        """Replay in the calling thread (tests, `replay --print` uses read_recording directly)."""
        self._run()

    def _run(self) -> None:
        err: BaseException | None = None
        try:
            self.bus.publish([status_event(self.probe, "replaying")])
            first_rec: int | None = None
            t0 = time.monotonic()
            batch: list[Event] = []
            batch_start = 0
            for ev in self._events:
                if self._stop.is_set():
                    break
                if first_rec is None:
                    first_rec = ev.ts
                if batch and (len(batch) >= BATCH_MAX or ev.ts - batch_start > BATCH_WINDOW_NS):
                    self._flush(batch)
                    batch = []
                if not batch:
                    batch_start = ev.ts
                    if self.speed > 0:
                        due = (ev.ts - first_rec) / 1e9 / self.speed
                        self._wait(due - (time.monotonic() - t0))
                batch.append(ev)
            if batch and not self._stop.is_set():
                self._flush(batch)
            state = "stopped" if self._stop.is_set() else "finished"
            note = ""
            if state == "finished" and getattr(self._source, "complete", None) is False:
                note = f"the recording is incomplete: {getattr(self._source, 'problem', '')}"
            self.bus.publish([status_event(self.probe, state, note)])
        except RecordError as e:
            err = e
            self.bus.publish([status_event(self.probe, "error", e.message)])
        except Exception as e:  # never kill the app from a replay thread
            err = e
            self.bus.publish([status_event(self.probe, "error", f"{type(e).__name__}: {e}")])
        self.error = err
        if self.on_done is not None:
            self.on_done(err)

    def _flush(self, batch: list[Event]) -> None:
        self.bus.publish(batch)
        self.published += len(batch)


def open_recording(path: str | Path) -> tuple[RecordHeader, Recording]:
    """read_recording with the same RecordError contract (file and line in the message), once every
    probe module has defined its kinds' Args structs (the reader decodes into them)."""
    all_probes()
    return read_recording(path)


def format_line(ev: Event, base_ts: int) -> str:
    """One readable line (the same layout as the TUI's event log)."""
    rel = (ev.ts - base_ts) / 1e9 if base_ts else 0.0
    if ev.kind == "lost":
        return f"{rel:10.6f} {ev.probe:<10} !! LOST {ev.text or ev.args}"
    text = ev.text or " ".join(f"{k}={v}" for k, v in ev.args.items())
    where = f" [{ev.container[:12]}]" if ev.container else ""
    return f"{rel:10.6f} {ev.probe:<10} {ev.pid:>7} {ev.comm:<15.15} {ev.kind:<10.10} {text}{where}"


# ---- controlled replay: the engine behind the TUI's replay screen -------------------------------------

# the speeds +/- step through (recorded time per wall-clock second)
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0)
CHUNK = 2048  # events per compressed chunk: decoding one costs a few ms, the index stays small
# decoded chunks kept: a window of a log's length in time order touches a few chunks (batches of
# different probes interleave in the file)
CHUNK_CACHE = 8
# what the screen replays into: the Image monitor's story, a probe view, or the tail pane's log + table
TRACE, PROBE, TAIL = "trace", "probe", "tail"


# the index's chunks: zstd level 1 packs faster than zlib level 1 (opening 200k events: 2.8 s -> 2.0 s, on a
# machine at load 10), at a similar size; one context per thread (zstandard's are not thread-safe)
_zstd = threading.local()


def _pack(data: bytes) -> bytes:
    if not hasattr(_zstd, "c"):
        _zstd.c = zstandard.ZstdCompressor(level=1)
    packed: bytes = _zstd.c.compress(data)
    # compress() allocates the worst case (the input's size) and shrinks it in place: kept as is,
    # each chunk pins a hole of ~its input's size in the heap (1M events: 378 MB peak instead of 40)
    return memoryview(packed).tobytes()


def _unpack(data: bytes) -> bytes:
    if not hasattr(_zstd, "d"):
        _zstd.d = zstandard.ZstdDecompressor()
    plain: bytes = _zstd.d.decompress(data)
    return plain


def check_speed(speed: float) -> None:
    """--speed of a replay in the TUI: UsageError unless 0 (open at the end) or within SPEEDS."""
    if not (speed == 0 or SPEEDS[0] <= speed <= SPEEDS[-1]):  # NaN fails both
        raise UsageError(
            f"--speed must be from {SPEEDS[0]:g} to {SPEEDS[-1]:g} (times the recorded pace), "
            "or 0 to open the replay at its end"
        )


class ReplayIndex:
    """A recording read once into a compact index: its lines in zstd-compressed chunks of CHUNK
    events (file order), the events' times sorted with the permutation that puts them in time order,
    the losses, and for a trace the position where each phase of its final story begins.

    Positions count events in time order: a recording is written in batches per probe, so the file
    interleaves probes ~50 ms apart, and a position in file order would show a later event before an
    earlier one. Memory is ~12 bytes per event plus the compressed lines (~1/10 of the JSON), not one
    Python object per event; any range of events is decoded on demand, a chunk at a time (the last few
    are cached).
    """

    def __init__(self, path: Path, header: RecordHeader) -> None:
        self.path = path
        self.header = header
        self.complete = True
        self.problem = ""
        self.origin = PROBE
        self.probes: tuple[str, ...] = tuple(header.probes)
        self._ts = array("q")  # the events' ts, sorted
        self._order = array("I")  # position (time order) -> index in the file
        self._chunks: list[bytes] = []
        self._cache: dict[int, list[Event]] = {}
        self._lost_at = array("q")  # positions of loss events
        self._lost_sum = array("q")  # cumulative lost counts at those positions
        # (phase name, title, position that shows its first event), in the order they began
        self.phases: list[tuple[str, str, int]] = []
        self.final_story: Timeline | None = None
        self.origin_ts = 0  # recorded time 0: the first event's, or a trace's story start

    @property
    def start_position(self) -> int:
        """Where a replay opens: a trace just before its story (the probes' attaching is shown, the
        seconds it took are skipped), anything else at its first event."""
        if self.origin == TRACE and self.phases:
            return max(0, self.phases[0][2] - 1)
        return 0

    @property
    def count(self) -> int:
        return len(self._ts)

    @classmethod
    def load(cls, path: str | Path) -> ReplayIndex:
        """Read and index a recording. RecordError (file and line) for what cannot be read; a recording
        cut short is indexed up to the cut (`complete` False, `problem` says why)."""
        header, rec = open_recording(path)
        idx = cls(Path(path), header)
        ts, chunks = array("q"), idx._chunks
        pending: list[bytes] = []  # lines not yet in a chunk
        losses: list[tuple[int, int]] = []
        probes: dict[str, None] = dict.fromkeys(header.probes)
        trace = False
        # a block of stamps at a time: the per-event Python work is what made a big file slow to open
        for stamps, lines in rec.stamped_batches():
            ts.extend([st.ts for st in stamps])
            pending += lines
            for i in [i for i, st in enumerate(stamps) if st.kind == LOST]:
                count = decode_event_lines(lines[i], header.schema)[0].args.get("count", 0)
                losses.append((stamps[i].ts, count if isinstance(count, int) else 0))
            seen = dict.fromkeys([(st.probe, st.kind) for st in stamps])  # a handful, in file order
            probes.update(dict.fromkeys(pr for pr, k in seen if k not in (STATUS, LOST)))
            trace = trace or any(pr == DOCKER_PROBE and k in TRACE_KINDS for pr, k in seen)
            while len(pending) >= CHUNK:
                chunks.append(_pack(b"\n".join(pending[:CHUNK]) + b"\n"))
                del pending[:CHUNK]
        if pending:
            chunks.append(_pack(b"\n".join(pending) + b"\n"))
        # stable: events of one instant keep their file order; nearly sorted input sorts fast
        order = sorted(range(len(ts)), key=ts.__getitem__)
        idx._order = array("I", order)
        idx._ts = array("q", [ts[i] for i in order])
        total = 0
        for at, count in sorted(losses):  # counted from the position that shows the loss report
            total += count
            idx._lost_at.append(bisect.bisect_right(idx._ts, at))
            idx._lost_sum.append(total)
        idx.complete = bool(rec.complete)
        idx.problem = rec.problem
        idx.probes = tuple(probes)
        idx.origin_ts = idx.start_ts
        if trace:
            idx.origin = TRACE
            idx._index_phases()
        elif "syscalls" in probes:
            idx.origin = TAIL
        return idx

    def _index_phases(self) -> None:
        eng = StoryEngine()
        for n in range(len(self._chunks)):
            eng.feed(self._chunk(n))  # in file order, as `replay --print` and `diff` build it
        tl = eng.timeline()
        self.final_story = tl
        if tl.t0 is not None:
            self.origin_ts = tl.t0  # times count from the story's start, as its table does
        for p in tl.by_start():
            if p.start_ns is not None:
                # every event up to the one its span starts with (in time order)
                self.phases.append((p.name, p.title, bisect.bisect_right(self._ts, p.start_ns)))
        self.phases.sort(key=lambda t: t[2])

    # ---- reading
    def events(self, start: int, stop: int) -> list[Event]:
        """Events at positions [start, stop), in time order (clamped to the recording)."""
        start, stop = max(0, start), min(stop, self.count)
        chunk = self._chunk
        return [chunk(i // CHUNK)[i % CHUNK] for i in self._order[start:stop]]

    def _chunk(self, n: int) -> list[Event]:
        evs = self._cache.get(n)
        if evs is None:
            evs = decode_event_lines(_unpack(self._chunks[n]), self.header.schema)
            if len(self._cache) >= CHUNK_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[n] = evs
        return evs

    def ts_at(self, position: int) -> int:
        """The recorded time reached once `position` events are shown (the first event's at 0)."""
        if not self.count:
            return 0
        return self._ts[min(max(position, 1), self.count) - 1]

    @property
    def start_ts(self) -> int:
        return self._ts[0] if self.count else 0

    @property
    def end_ts(self) -> int:
        return self._ts[-1] if self.count else 0

    def position_at(self, ts: float) -> int:
        """How many events have happened by recorded time `ts`."""
        return bisect.bisect_right(self._ts, ts)

    def lost_before(self, position: int) -> int:
        i = bisect.bisect_right(self._lost_at, position)
        return self._lost_sum[i - 1] if i else 0

    def window(self, old: int, new: int, limit: int) -> tuple[bool, list[Event]]:
        """What a log showing the last `limit` events must do to go from position `old` to `new`:
        (False, events to append) going forward by at most `limit`, else (True, the whole new window)."""
        if old <= new <= old + limit:
            return False, self.events(old, new)
        return True, self.events(new - limit, new)

    def phase_at(self, position: int) -> str:
        """The phase whose first event is the latest shown at `position` ("" before any)."""
        name = ""
        for n, _, pos in self.phases:
            if pos > position:
                break
            name = n
        return name


class ReplayCursor:
    """Position, pace and seeking over a ReplayIndex. No threads and no clock of its own: the screen's
    timer calls `advance(seconds)`, so tests drive it exactly. `position` is how many events are shown.
    """

    def __init__(self, index: ReplayIndex, speed: float = 1.0) -> None:
        self.index = index
        self.position = 0
        self.playing = False
        self.speed = min(SPEEDS, key=lambda s: abs(s - speed)) if speed > 0 else 1.0
        self._clock: float = index.start_ts  # recorded time reached, between events while playing

    @property
    def at_end(self) -> bool:
        return self.position >= self.index.count

    @property
    def elapsed_s(self) -> float:
        """Recorded seconds from the origin (the first event, or a trace's story start) to the
        position; negative before the origin."""
        ts = self.index.ts_at(self.position) if self.position else self.index.start_ts
        return (ts - self.index.origin_ts) / 1e9

    @property
    def duration_s(self) -> float:
        """Recorded seconds from the origin to the last event."""
        return (self.index.end_ts - self.index.origin_ts) / 1e9

    def play(self) -> None:
        if self.at_end:
            self.seek(0)  # as a media player does: play at the end starts over
        self.playing = True

    def pause(self) -> None:
        self.playing = False

    def toggle(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def advance(self, wall_s: float) -> bool:
        """Move on by `wall_s` seconds of wall time at the current speed; True if the position moved.
        Stops by itself at the end."""
        if not self.playing:
            return False
        self._clock += wall_s * 1e9 * self.speed
        old = self.position
        self.position = max(old, self.index.position_at(self._clock))
        if self.at_end:
            self.playing = False
        return self.position != old

    def seek(self, position: int) -> None:
        self.position = min(max(position, 0), self.index.count)
        self._clock = self.index.ts_at(self.position) if self.position else self.index.start_ts

    def step(self, n: int = 1) -> None:
        self.pause()
        self.seek(self.position + n)

    def seek_time(self, seconds: float) -> None:
        """To recorded second `seconds` after the origin (every event up to it shown)."""
        ts = self.index.origin_ts + seconds * 1e9
        self.position = min(self.index.position_at(ts), self.index.count)
        self._clock = max(ts, self.index.start_ts)

    def step_phase(self, direction: int) -> str:
        """To the next (1) or previous (-1) phase's first event; its name, or "" when there is none."""
        self.pause()
        marks = self.index.phases
        if direction > 0:
            nxt = [m for m in marks if m[2] > self.position]
            target = nxt[0] if nxt else None
        else:
            prev = [m for m in marks if m[2] < self.position]
            target = prev[-1] if prev else None
        if target is None:
            return ""
        self.seek(target[2])
        return target[0]

    def faster(self, direction: int) -> float:
        i = SPEEDS.index(self.speed) + direction
        self.speed = SPEEDS[min(max(i, 0), len(SPEEDS) - 1)]
        return self.speed

    def jump(self, text: str) -> str:
        """Seek to what a person typed: a time (`2.5`, `2.5s`, `1500ms`, recorded time from the
        origin: a trace's times are the story table's) or a phase (its name or the start of its
        title). Returns what it did; ValueError with a message saying what is accepted otherwise."""
        t = text.strip().lower()
        if not t:
            raise ValueError("type a time (2.5, 2.5s, 1500ms) or a phase name")
        scale, num = 1.0, t
        if t.endswith("ms"):
            scale, num = 1e-3, t[:-2]
        elif t.endswith("s") and t[:-1].replace(".", "", 1).isdigit():
            num = t[:-1]
        try:
            seconds = float(num) * scale
        except ValueError:
            seconds = -1.0
        else:
            if not 0 <= seconds < float("inf"):
                raise ValueError(f"{text!r}: a time must be 0 or more seconds") from None
            self.pause()
            self.seek_time(seconds)
            return f"at {seconds:.3f} s"
        for name, title, pos in self.index.phases:
            if t in (name, title.lower()) or title.lower().startswith(t):
                self.pause()
                self.seek(pos)
                return f"phase {title}"
        names = ", ".join(n for n, _, _ in self.index.phases)
        raise ValueError(
            f"{text!r} is neither a time (2.5, 2.5s, 1500ms) nor a phase"
            + (f" of this recording ({names})" if names else " (this recording has none)")
        )


class StoryAt:
    """The story as far as a position: the recording's final story (built once, at load), each phase
    cut to the events that have happened by then. Every event is attributed as the whole recording
    attributes it (the engine learns the container id, layers and bundle from events that come later,
    so a story rebuilt from a prefix would leave phases unattributed that the final one has). A phase
    shows its details and final state once its last event is reached; before, it is active with the
    events so far. Nothing is rebuilt when the position moves: each phase is cut with a bisection.
    """

    def __init__(self, index: ReplayIndex) -> None:
        self.index = index
        final = index.final_story
        self.final = final or Timeline(container_id=None, phases=[Phase(n) for n in PHASES])
        self._stamps = {p.name: [e.ts for e in p.events] for p in self.final.phases}

    def at(self, position: int) -> Timeline:
        final = self.final
        if position >= self.index.count:
            return final
        now = self.index.ts_at(position) if position else -1
        phases = []
        for p in final.phases:
            if p.start_ns is None or p.start_ns > now:
                phases.append(Phase(p.name))
                continue
            if p.end_ns is not None and p.end_ns <= now:
                phases.append(p)
                continue
            shown = p.events[: bisect.bisect_right(self._stamps[p.name], now)]
            cut = Phase(p.name, state=ACTIVE, start_ns=p.start_ns, events=list(shown))
            cut.counts.update(e.kind for e in shown)
            cut.end_ns = max((e.ts for e in shown if e.ts >= p.start_ns), default=p.start_ns)
            phases.append(cut)
        return Timeline(
            container_id=final.container_id,
            phases=phases,
            t0=final.t0,
            init_pid=final.init_pid,
            lost=self.index.lost_before(position),
        )


def position_bar(position: int, count: int, width: int, marks: Iterable[int] = ()) -> str:
    """A text bar of `width` cells: filled up to the position, phases' starts marked with │."""
    width = max(width, 1)
    filled = round(width * position / count) if count else 0
    cells = ["━" if i < filled else "─" for i in range(width)]
    for m in marks:
        if count:
            i = min(width - 1, int(width * (m - 1) / count))
            cells[i] = "┃" if i < filled else "│"
    if 0 < filled <= width and position < count:
        cells[filled - 1] = "╸"
    return "".join(cells)
