"""How failures look in the TUI: a readable panel or modal, never a traceback, and the app keeps running.

- `ErrorModal`: message, hint, and for a BPF program that failed to load its compiler/verifier log with
  the offending line highlighted. Esc/Enter closes it.
- `ErrorPanel`: the same content inline (used by "Your programs", next to the source).
- `WorkerErrors`: mixin for any widget that runs blocking work in `@work(thread=True, exit_on_error=False)`:
  one `Worker.StateChanged` handler turns a failed worker into an error modal (Harlequin's pattern).
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.worker import Worker, WorkerState

from beefine_tui.errors import BeefineError, ProbeLoadError


@dataclass(frozen=True)
class ErrorInfo:
    title: str
    message: str
    hint: str = ""
    log: str = ""
    line: int | None = None
    internal: bool = False


def describe(exc: BaseException, title: str = "") -> ErrorInfo:
    """Turn any exception into what a user can read and act on."""
    if isinstance(exc, ProbeLoadError):
        return ErrorInfo(
            title or "The BPF program could not be loaded", exc.message, exc.hint, exc.log, exc.line
        )
    if isinstance(exc, BeefineError):
        return ErrorInfo(title or "Cannot do that", exc.message, exc.hint)
    if isinstance(exc, PermissionError):
        return ErrorInfo(
            title or "Permission denied",
            str(exc),
            "loading eBPF and talking to Docker need root: run `sudo beefine-tui`",
        )
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return ErrorInfo(
        title or "Something went wrong",
        detail,
        "this is a bug in Beefine; the app keeps running. Run with BEEFINE_DEBUG=1 and report it.",
        internal=True,
    )


def render_log(log: str, line: int | None) -> Text:
    """The compiler/verifier log, with lines mentioning `line` (":N:" or "line N") highlighted."""
    out = Text()
    marks = (f":{line}:", f"line {line}", f":{line} ") if line else ()
    for raw in log.splitlines()[-400:]:  # verifier logs can be huge: the end says why
        style = "bold white on dark_red" if marks and any(m in raw for m in marks) else ""
        out.append(raw + "\n", style)
    return out


def render_info(info: ErrorInfo) -> Text:
    t = Text()
    t.append(info.message + "\n", "bold")
    if info.line:
        t.append(f"at line {info.line}\n", "bold yellow")
    if info.hint:
        t.append("hint: ", "italic")
        t.append(info.hint + "\n")
    return t


class ErrorPanel(Vertical):
    DEFAULT_CSS = """
    ErrorPanel { height: auto; max-height: 60%; border: heavy $error; padding: 0 1; display: none; }
    ErrorPanel.-shown { display: block; }
    ErrorPanel > .error--title { text-style: bold; color: $error; }
    ErrorPanel > VerticalScroll { height: auto; max-height: 20; }
    """

    def compose(self) -> ComposeResult:
        yield Static("", classes="error--title")
        yield Static("", classes="error--body")
        with VerticalScroll():
            yield Static("", classes="error--log")

    def show(self, info: ErrorInfo) -> None:
        self.query_one(".error--title", Static).update(info.title)
        self.query_one(".error--body", Static).update(render_info(info))
        self.query_one(".error--log", Static).update(render_log(info.log, info.line) if info.log else "")
        self.add_class("-shown")

    def hide(self) -> None:
        self.remove_class("-shown")


class ErrorModal(ModalScreen[None]):
    DEFAULT_CSS = """
    ErrorModal { align: center middle; }
    ErrorModal > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                            border: thick $error; background: $surface; padding: 0 1; }
    ErrorModal .error--title { text-style: bold; color: $error; }
    ErrorModal VerticalScroll { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape", "dismiss_error", "Close"), Binding("enter", "dismiss_error", "Close")]

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__()
        self.info = info

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.info.title, classes="error--title")
            yield Static(render_info(self.info), id="error-body")
            if self.info.log:
                with VerticalScroll():
                    yield Static(render_log(self.info.log, self.info.line), id="error-log")
            yield Button("Close (Esc)", id="error-close", variant="error")

    @on(Button.Pressed, "#error-close")
    def action_dismiss_error(self) -> None:
        self.dismiss(None)


def show_error(app: App[Any], exc: BaseException, title: str = "") -> ErrorInfo:
    """Show `exc` in a modal (from the UI thread). Returns what was shown."""
    info = describe(exc, title)
    app.push_screen(ErrorModal(info))
    return info


class WorkerErrors:
    """Mixin: a failed worker of this widget becomes an error modal; the app keeps running."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            app = getattr(self, "app", None)
            if app is not None:
                self.worker_failed(event.worker, event.worker.error)

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        """Override to show the error inline; the default opens the modal."""
        show_error(self.app, error)  # type: ignore[attr-defined]
