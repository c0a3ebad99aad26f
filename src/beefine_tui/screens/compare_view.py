"""Compare recordings: two `trace --record` files, A and B, and what differs between their stories,
shown as the very lines `beefine-tui diff A B` prints (story/diff.py's diff_lines: one renderer, so
the screen and the CLI never disagree). Phases side by side, then the details, then the event kinds.

Reading a recording and rebuilding its story takes a while for a big file: both run in a thread
worker; a bad path or a file that is not a trace recording becomes a message in the view.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Button, Input, Log, Static
from textual.worker import Worker, WorkerState

from beefine_tui.screens.errors import describe
from beefine_tui.story.diff import compare, diff_lines, load_trace

MOVE = "j k PgUp PgDn g G move in the comparison; Tab goes back to the paths."
HINT = "Two recordings made with `beefine-tui trace --record FILE IMAGE`: fill A and B, then Enter."


@dataclass(frozen=True)
class Comparison:
    a: Path
    b: Path
    lines: list[str]
    notes: list[str]  # what the CLI says on stderr (a cut recording), said here above the lines


def run_compare(a: Path, b: Path) -> Comparison:
    """Blocking: read both recordings, rebuild their stories and render the difference."""
    stories = [load_trace(a), load_trace(b)]
    lines = diff_lines(compare(*stories))
    notes = [
        f"{side} is incomplete: {t.problem}" for side, t in zip("AB", stories, strict=True) if not t.complete
    ]
    return Comparison(a, b, lines, notes)


def _path(text: str) -> Path:
    return Path(text.strip()).expanduser()


class CompareView(Vertical):
    DEFAULT_CSS = """
    CompareView { height: 1fr; }
    CompareView > .controls { height: auto; }
    CompareView > .controls > Input { width: 1fr; }
    CompareView > .controls > Button { min-width: 11; }
    CompareView > #cmp-status { height: auto; padding: 0 1; color: $text-muted; }
    /* one row per note at 80x24: the comparison needs the rows more than the end of a note */
    CompareView > #cmp-status.-done { text-wrap: nowrap; text-overflow: ellipsis; }
    CompareView > #cmp-status.-error { color: $error; text-style: bold; }
    CompareView > #cmp-out { height: 1fr; border: round $primary-muted; }
    CompareView > #cmp-out:focus { border: round $accent; }
    """

    def __init__(self, a: Path | None = None, b: Path | None = None) -> None:
        super().__init__()
        self.start = (a, b)
        self.result: Comparison | None = None
        self.error = ""  # the last failure, as shown

    def compose(self) -> ComposeResult:
        a, b = self.start
        with Horizontal(classes="controls"):
            yield Input(str(a or ""), placeholder="A: a trace recording (.jsonl, .gz, .zst)", id="cmp-a")
            yield Input(str(b or ""), placeholder="B: another one, compared with A", id="cmp-b")
            yield Button("Compare", id="cmp-run")
        yield Static(HINT, id="cmp-status")
        yield Log(id="cmp-out", auto_scroll=False)

    def on_mount(self) -> None:
        a, b = self.start
        if a is not None and b is not None:
            self.run_it()

    def focus_target(self) -> Widget | None:
        # once compared, the result is what keys should move; before, the first empty box
        if self.result is not None:
            return self.query_one("#cmp-out", Log)
        for box in self.query(Input):
            if not box.value.strip():
                return box
        return self.query_one("#cmp-a", Input)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "cmp-a" and not self.query_one("#cmp-b", Input).value.strip():
            self.query_one("#cmp-b", Input).focus()  # Enter in A moves on to B while B is empty
            return
        self.run_it()

    @on(Button.Pressed, "#cmp-run")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.run_it()

    def run_it(self) -> None:
        a = self.query_one("#cmp-a", Input).value
        b = self.query_one("#cmp-b", Input).value
        if not a.strip() or not b.strip():
            self._status("Give both recordings, A and B, then Enter.", error=True)
            return
        self._status(f"Reading {_path(a).name} and {_path(b).name} and rebuilding their stories…")
        self._compare(_path(a), _path(b))

    @work(thread=True, exclusive=True, exit_on_error=False, group="compare")
    def _compare(self, a: Path, b: Path) -> Comparison:
        return run_compare(a, b)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "compare":
            return
        if event.state == WorkerState.SUCCESS and isinstance(event.worker.result, Comparison):
            self._show(event.worker.result)
        elif event.state == WorkerState.ERROR and event.worker.error is not None:
            info = describe(event.worker.error)
            # the lines of an earlier comparison would read as this one's
            self.result = None
            self.query_one("#cmp-out", Log).clear()
            self._status(info.message + (f"\nhint: {info.hint}" if info.hint else ""), error=True)

    def _show(self, c: Comparison) -> None:
        self.result = c
        log = self.query_one("#cmp-out", Log)
        log.clear()
        # one write, not write_lines: that one drops empty lines (str.splitlines), and the blank
        # lines are what separates the phases, the details and the kinds
        log.write("\n".join(c.lines))
        log.scroll_home(animate=False)
        self._status("\n".join([*c.notes, MOVE]))
        self.query_one("#cmp-status", Static).add_class("-done")
        log.focus()

    def _status(self, text: str, *, error: bool = False) -> None:
        self.error = text if error else ""
        status = self.query_one("#cmp-status", Static)
        status.update(Text(text))
        status.set_class(error, "-error")
        status.remove_class("-done")  # a message is read whole
