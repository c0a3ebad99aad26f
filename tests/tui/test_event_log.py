"""EventLog as a virtual log, driven with Pilot: what is painted while paused under a flood, the filter
over a full log, End and the scroll keys, and that only rows on screen are ever formatted."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from beefine_tui.events.model import Event, FreeArgs, lost_event, status_event
from beefine_tui.widgets.event_log import EventLog, LogView, format_event
from tests.tui.conftest import wait_until
from tests.tui.events_fixture import BASE_TS

NAME = re.compile(r"\bev\d{6}\b")
COMMS = ("runc", "sh", "dockerd", "containerd", "busybox")


def numbered(n: int, start: int = 0) -> list[Event]:
    """Events whose text names them (ev000042) and whose comm is runc for every fifth one."""
    return [
        Event(
            ts=BASE_TS + i * 1000,
            probe="exec",
            kind="exec",
            pid=1000 + i % 5000,
            tid=1000 + i % 5000,
            comm=COMMS[i % 5],
            args=FreeArgs(fields={"n": i}, line=f"ev{i:06d}"),
        )
        for i in range(start, start + n)
    ]


class LogApp(App[None]):
    def __init__(self, max_lines: int, formatter: Callable[[Event, int], str] = format_event) -> None:
        super().__init__()
        self.max_lines = max_lines
        self.formatter = formatter

    def compose(self) -> ComposeResult:
        yield EventLog(max_lines=self.max_lines, formatter=self.formatter)


def painted(view: LogView) -> list[str]:
    """The rows of events the view paints now, through its own Line API path (not the state line)."""
    return [view.render_line(y).text.rstrip() for y in range(view.visible_rows())]


def state_row(view: LogView) -> str:
    """What the view paints on its bottom row: the state line while paused."""
    return view.render_line(view.scrollable_content_region.height - 1).text.rstrip()


def names(rows: list[str]) -> list[str]:
    """The ev###### names in painted rows (blank rows dropped)."""
    return [m for row in rows for m in NAME.findall(row)]


async def test_paused_view_holds_still_while_a_flood_pushes_old_events_out() -> None:
    app = LogApp(max_lines=300)
    async with app.run_test(size=(100, 24)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(300))
        await pilot.pause()
        view.focus()
        await pilot.press("pageup", "pageup")
        assert log.paused
        before = painted(view)
        shown = names(before)
        assert shown and "ev000299" not in shown  # scrolled back: not the newest
        top = view.scroll_y

        for k in range(1, 5):  # 1200 more: every event that was on screen falls off the bounded log
            log.add_events(numbered(300, start=300 * k))
            await pilot.pause()
            assert painted(view) == before
        assert view.scroll_y == top
        assert log.pending_while_paused == 1200
        assert "1200 new event(s) held" in state_row(view)
        retained = {ev.text for ev in log._events}
        assert len(retained) == 300 and not retained & set(shown)  # they are gone from the log itself

        await pilot.press("end")
        await pilot.pause()
        assert not log.paused
        rows = names(painted(view))
        assert rows[-1] == "ev001499"
        assert all(int(name[2:]) >= 1200 for name in rows)
        assert [line.split()[-1] for line in log.lines()] == [f"ev{i:06d}" for i in range(1200, 1500)]


async def test_filter_on_a_full_log_shows_only_matches_and_every_loss() -> None:
    app = LogApp(max_lines=5000)
    async with app.run_test(size=(120, 30)) as pilot:
        log = app.query_one(EventLog)
        evs = numbered(5000)
        for at in (10, 2500, 4990):  # loss reports, whatever the filter says
            evs.insert(at, lost_event("exec", at, "kernel"))
        log.add_events(evs)
        await pilot.pause()
        retained = evs[-5000:]

        log.set_filter("comm=runc")
        await pilot.pause()
        want = [format_event(ev, log.base_ts) for ev in retained if ev.kind == "lost" or ev.comm == "runc"]
        assert log.lines() == want
        assert sum("LOST" in line for line in want) == 3 and len(want) > 900
        rows = painted(log.log_widget)
        assert rows[-1] == want[-1].rstrip()  # following: the newest match at the bottom
        assert all(" runc " in row or "LOST" in row for row in rows if row)

        # more events: new matches are indexed, matches that fell off the bounded log leave the index
        more = numbered(2000, start=5000)
        log.add_events(more)
        await pilot.pause()
        retained = (retained + more)[-5000:]
        want = [format_event(ev, log.base_ts) for ev in retained if ev.kind == "lost" or ev.comm == "runc"]
        assert log.lines() == want

        log.set_filter("ev00700")  # plain words match the formatted line
        assert [line.split()[-1] for line in log.lines() if "LOST" not in line] == []
        log.set_filter("ev00699")
        assert names(log.lines()) == [f"ev00699{d}" for d in range(10)]
        assert sum("LOST" in line for line in log.lines()) == 2  # the loss reports still retained
        log.set_filter("")
        assert len(log.lines()) == 5000


async def test_end_resumes_following_and_shows_the_newest() -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(500))
        await pilot.pause()
        view.focus()
        await pilot.press("p")
        assert log.paused
        await pilot.pause()
        before = painted(view)
        assert all(int(name[2:]) < 500 for name in names(before))
        log.add_events(numbered(700, start=500))  # past max_lines: the oldest fall off meanwhile
        await pilot.pause()
        assert painted(view) == before
        assert "paused: 700 new event(s) held" in state_row(view)
        await pilot.press("end")
        await pilot.pause()
        assert not log.paused and log.pending_while_paused == 0
        # what stays on the state line is the 200 rows that fell off, not the pause
        assert "paused" not in log.state_text and "200 older event(s) dropped" in log.state_text
        assert "paused" not in state_row(view)
        assert view.is_vertical_scroll_end
        assert names(painted(view))[-1] == "ev001199"
        log.add_events(numbered(5, start=1200))  # and it keeps following
        await pilot.pause()
        assert names(painted(view))[-1] == "ev001204"


@pytest.mark.parametrize("key", ["pageup", "up", "home"])
async def test_scrolling_up_with_keys_pauses(key: str) -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(200))
        await pilot.pause()
        view.focus()
        assert not log.paused and names(painted(view))[-1] == "ev000199"
        await pilot.press(key)
        await pilot.pause()
        assert log.paused
        assert "ev000199" not in names(painted(view))
        assert "paused" in state_row(view) and "paused" in log.state_text


async def test_mouse_wheel_up_pauses_and_p_resumes() -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(200))
        await pilot.pause()
        view.focus()
        view.post_message(events.MouseScrollUp(view, 5, 5, 0, -1, 0, False, False, False))
        await wait_until(pilot, lambda: log.paused)
        await pilot.pause()
        assert "ev000199" not in names(painted(view))
        await pilot.press("p")
        await pilot.pause()
        assert not log.paused and names(painted(view))[-1] == "ev000199"


async def test_nothing_to_scroll_does_not_pause() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(numbered(3))
        await pilot.pause()
        log.log_widget.focus()
        await pilot.press("pageup", "up")
        assert not log.paused


async def test_only_rows_on_screen_are_formatted_and_repaints_reuse_them() -> None:
    calls: list[int] = []

    def counting(ev: Event, base: int) -> str:
        calls.append(ev.args["n"])
        return format_event(ev, base)

    app = LogApp(max_lines=5000, formatter=counting)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        for k in range(10):  # 50,000 events in batches, as a pump delivers them
            log.add_events(numbered(5000, start=5000 * k))
        await pilot.pause()
        height = view.scrollable_content_region.height
        assert 0 < len(calls) <= 2 * height  # what was painted, not 50,000 nor 5000
        # the first paint came before the "older events dropped" line took one row from the view
        assert set(calls) <= set(range(50_000 - height - 1, 50_000))
        view.focus()  # focus tints the background: the rows are painted again, from their cached text
        await pilot.pause()
        calls.clear()
        view.refresh()
        await pilot.pause()
        assert painted(view)[-1].endswith("ev049999")
        assert calls == []  # the repaint came from the line cache

        await pilot.press("p")  # pausing formats nothing either: the frozen view is references
        assert log.paused and calls == []


def cells(strip: Strip) -> list[tuple[str, str, str, tuple[int, int] | None]]:
    """Each cell of a painted row: its character, colours, and the content offset mouse selection
    reads there (a segment's offset meta plus the cell's place in the segment, as Textual's
    compositor reads it)."""
    out: list[tuple[str, str, str, tuple[int, int] | None]] = []
    for segment in strip:
        style = segment.style
        meta = style.meta if style is not None and style._meta is not None else {}
        offset = meta.get("offset")
        for i, ch in enumerate(segment.text):
            at = None if offset is None else (offset[0] + i, offset[1])
            out.append((ch, str(style.color if style else ""), str(style.bgcolor if style else ""), at))
    return out


@pytest.mark.parametrize("scroll_x", [0, 7])
async def test_a_row_painted_in_one_segment_is_what_cropping_and_offsetting_the_strip_gives(
    scroll_x: int,
) -> None:
    """The usual row is built as one segment (bench/log_paint.py): it must show what Textual's own
    crop_extend + apply_offsets of the row's strip show, cell for cell, offsets for mouse selection
    included; rows with wide characters, and the cursor row, take that slower path themselves."""
    events = numbered(30)
    for i, ev in enumerate(events):
        # long rows (a horizontal scroll range), short ones (padding), and one wide-character row
        tail = "x" * 150 if i % 3 == 0 else ("\u6f22\u5b57 wide" if i == 10 else "")
        events[i] = Event(
            ts=ev.ts, probe=ev.probe, kind=ev.kind, pid=ev.pid, tid=ev.tid, comm=ev.comm,
            args=FreeArgs(fields={"n": i}, line=f"ev{i:06d} {tail}"),
        )  # fmt: skip
    app = LogApp(max_lines=100)
    async with app.run_test(size=(80, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(events)
        await pilot.pause()
        await wait_until(pilot, lambda: view.virtual_size.width > view.size.width)
        view.scroll_to(x=scroll_x, y=0, animate=False, immediate=True)
        await pilot.pause()
        assert view.scroll_offset.x == scroll_x
        view.render_lines(view.size.region)  # sets the style rows are painted in
        style = view._style
        width = view.size.width
        for y in range(view.visible_rows()):
            row = int(view.scroll_y) + y
            ev = log._view_rows()[row]
            expected = view._row_strip(ev, row, style, None).crop_extend(scroll_x, scroll_x + width, style)
            if row == view.cursor_row():
                expected = expected.apply_style(view.get_component_rich_style("logview--cursor"))
            expected = expected.apply_offsets(scroll_x, row)
            got = view.render_line(y)
            assert got.cell_length == expected.cell_length == width
            assert cells(got) == cells(expected), f"row {row}"


async def test_a_formatter_that_fails_shows_a_message_not_a_traceback() -> None:
    def broken(ev: Event, base: int) -> str:
        if ev.args.get("n") == 1:
            raise KeyError("argv")
        return format_event(ev, base)

    app = LogApp(max_lines=100, formatter=broken)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(numbered(3))
        await pilot.pause()
        rows = painted(log.log_widget)
        assert any("cannot show this exec exec event: KeyError" in row for row in rows)
        assert names(rows) == ["ev000000", "ev000002"]


async def test_clear_and_status_events_and_the_bound() -> None:
    app = LogApp(max_lines=50)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(numbered(500))
        assert len(log.lines()) == 50 and log.total == 500
        log.clear()
        await pilot.pause()
        assert log.lines() == [] and log.total == 0
        assert [row for row in painted(log.log_widget) if row] == []
        log.show_status = False
        log.add_events([status_event("replay", "replaying", ts=BASE_TS), *numbered(2)])
        assert names(log.lines()) == ["ev000000", "ev000001"]


async def test_a_probe_note_is_shown_in_the_log() -> None:
    """The note a probe gives at start (calls already in progress are not reported) reaches the view."""
    from beefine_tui.events.model import note_event
    from beefine_tui.probes.base import PAIRED_CALLS_NOTE

    app = LogApp(max_lines=50)
    async with app.run_test(size=(160, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_events([note_event("sockets", PAIRED_CALLS_NOTE, ts=BASE_TS), *numbered(1)])
        await pilot.pause()
        assert any(PAIRED_CALLS_NOTE in row for row in log.lines())
        assert any("call already in progress" in row for row in painted(log.log_widget))


async def test_rows_that_fall_off_are_counted_and_said() -> None:
    app = LogApp(max_lines=300)
    async with app.run_test(size=(100, 24)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(numbered(250))
        await pilot.pause()
        assert log.dropped == 0 and not log.state_text
        log.add_events(numbered(100, start=250))
        await pilot.pause()
        assert log.dropped == 50 == log.total - len(log._events)
        assert "50 older event(s) dropped: this log keeps the last 300" in state_row(log.log_widget)
        assert names(painted(log.log_widget))[-1] == "ev000349"  # the line took a row: still following
        log.add_events(numbered(1000, start=350))  # a batch bigger than the log: cut, and counted
        await pilot.pause()
        assert log.dropped == 1050 == log.total - len(log._events)
        assert names(log.lines())[0] == "ev001050"
        log.clear()
        await pilot.pause()
        assert log.dropped == 0 and not log.state_text


async def test_pause_follow_and_batches_repaint_the_log_without_laying_out_the_screen() -> None:
    """Under a flood, a layout pass of the whole screen cost 12-18 ms of CPU (bench/ui_latency.py):
    showing or hiding the paused line, and a batch growing the scroll range, must repaint only."""
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(10))
        view.focus()
        await pilot.pause()
        layouts: list[bool] = []
        original = app.screen._refresh_layout

        def counted(size: object = None, scroll: bool = False) -> None:
            layouts.append(scroll)
            original(size, scroll)  # type: ignore[arg-type]

        app.screen._refresh_layout = counted  # type: ignore[method-assign]
        log.add_events(numbered(500, start=10))  # the scroll range grows by 500 rows
        await pilot.pause()
        assert names(painted(view))[-1] == "ev000509"
        await pilot.press("p")
        await pilot.pause()
        assert log.paused and "paused: 0 new event(s) held" in state_row(view)
        log.add_events(numbered(5, start=510))
        await pilot.pause()
        assert "paused: 5 new event(s) held" in state_row(view)
        await pilot.press("p")
        await pilot.pause()
        assert not log.paused and names(painted(view))[-1] == "ev000514"
        assert "paused" not in state_row(view)
        assert [scroll for scroll in layouts if not scroll] == []  # no full layout (a scroll reflow at most)


async def test_while_paused_the_last_row_scrolls_into_view_above_the_state_line() -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        view = log.log_widget
        log.add_events(numbered(200))
        view.focus()
        await pilot.pause()
        await pilot.press("pageup")
        assert log.paused
        view.scroll_end(animate=False, immediate=True)
        await pilot.pause()
        assert names(painted(view))[-1] == "ev000199"  # the newest row, just above the line
        assert "paused" in state_row(view)
        await pilot.press("up")  # the cursor stays on a row the user can see, not under the line
        await pilot.pause()
        cursor = view.cursor_row()
        assert cursor is not None and view.scroll_y <= cursor < view.scroll_y + view.visible_rows()


async def test_a_log_removed_while_a_modal_paints_its_screen_paints_blank() -> None:
    # a tab closed by a key queued behind one that opened a modal: the modal painted the screen below
    # it, stale log included, and the log's paint asked for a screen it no longer had (NoScreen)
    app = LogApp(max_lines=100)
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(EventLog)
        log.add_events(numbered(30))
        await pilot.pause()
        view = log.log_widget
        assert names(painted(view))  # attached: it paints its rows
        await log.remove()
        assert not view.is_attached
        rows = view.render_lines(Region(0, 0, 100, 5))
        assert [row.text for row in rows] == [" " * 100] * 5
