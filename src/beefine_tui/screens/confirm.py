"""Confirm: yes or no before a change to a container (a limit, pause, stop, restart, remove). Esc,
Cancel or n say no; the question wraps (a Label cut it off at the box's edge)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Confirm(ModalScreen[bool]):
    DEFAULT_CSS = """
    Confirm { align: center middle; }
    Confirm > Vertical { width: 64; max-width: 95%; height: auto; border: thick $warning; padding: 1 2;
                         background: $surface; }
    Confirm Static { width: 1fr; }
    Confirm Horizontal { height: auto; margin-top: 1; }
    """
    BINDINGS = [Binding("escape,n", "say(False)", "Cancel")]

    def __init__(self, question: str, yes: str = "Yes, change it", *, danger: bool = False) -> None:
        super().__init__()
        self.question, self.yes, self.danger = question, yes, danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question", markup=False)
            with Horizontal():
                yield Button(self.yes, id="yes", variant="error" if self.danger else "warning")
                yield Button("Cancel", id="no")

    @on(Button.Pressed)
    def answer(self, event: Button.Pressed) -> None:
        self.action_say(event.button.id == "yes")

    def action_say(self, yes: bool) -> None:
        """Answer only while on top: Screen.dismiss pops whatever screen is on top, so a press queued
        before help opened over this modal (or a second press queued before it closed) popped another
        screen and used up the answer; the next Esc answered again and Textual raised
        InvalidStateError, stopping the app (key fuzz, seed 3411288983)."""
        if self.app.screen is self:
            self.dismiss(yes)
