"""HostPicker: which host a host-wide view (Helper functions, Inspect network, Loaded programs, Your
programs, Trace exec, Trace syscalls, a probe) opens on, when the app observes several hosts
(`--remote h1 --remote h2`).

A modal rather than one sidebar entry per host: the sidebar keeps one entry per screen whatever the
number of hosts (six host-wide screens on five hosts would be thirty entries to scroll through), the
palette's "Open ..." commands reach the same question, and the answer is one key: the host's number,
or j/k then Enter. Esc or q opens nothing.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

MAX_NUMBERED = 9  # 1..9 pick directly; more hosts are reached with j/k


def _line(i: int, label: str, state: str) -> str:
    number = f"{i + 1}  " if i < MAX_NUMBERED else "   "
    return number + label + (f"  ({state})" if state else "")


class HostPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    HostPicker { align: center middle; }
    HostPicker > Vertical { width: 64; max-width: 95%; height: auto; max-height: 90%;
                            border: thick $primary; padding: 0 1; background: $surface; }
    HostPicker Static { width: 1fr; }
    HostPicker OptionList { height: auto; max-height: 16; margin: 1 0; }
    """
    BINDINGS = [
        Binding("escape,q", "cancel", "Cancel"),
        Binding("j", "move('down')", "Down", show=False),
        Binding("k", "move('up')", "Up", show=False),
        Binding("g", "move('first')", "First", show=False),
        Binding("G,shift+g", "move('last')", "Last", show=False),
        *(Binding(str(n), f"pick({n - 1})", f"Host {n}", show=False) for n in range(1, MAX_NUMBERED + 1)),
    ]

    def __init__(self, what: str, hosts: list[tuple[str, str]]) -> None:
        """`hosts`: (label, its connection's state in a few words), in the order given on the command line."""
        super().__init__()
        self.what = what
        self.hosts = hosts

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"[b]Open {self.what} on which host?[/b]", id="picker-title")
            yield OptionList(
                *(Option(_line(i, label, state), id=label) for i, (label, state) in enumerate(self.hosts)),
                id="hosts",
            )
            yield Static("[b]1[/b]-[b]9[/b] or j/k and Enter: open it there    [b]Esc[/b] or q: cancel")

    def on_mount(self) -> None:
        ol = self.query_one(OptionList)
        ol.highlighted = 0
        ol.focus()

    def action_move(self, where: str) -> None:
        ol = self.query_one(OptionList)
        moves = {
            "down": ol.action_cursor_down,
            "up": ol.action_cursor_up,
            "first": ol.action_first,
            "last": ol.action_last,
        }
        moves[where]()

    def action_pick(self, index: int) -> None:
        if 0 <= index < len(self.hosts):
            self._answer(self.hosts[index][0])

    def action_cancel(self) -> None:
        self._answer(None)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._answer(event.option.id)

    def _answer(self, host: str | None) -> None:
        # only while on top: a key queued before another modal opened over this one must not dismiss
        # that one (as Confirm.action_say)
        if self.app.screen is self:
            self.dismiss(host)
