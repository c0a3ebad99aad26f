"""`?`: every key binding that applies, grouped by where it applies, plus how to get around."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

INTRO = (
    "Beefine shows with eBPF what the kernel does while Docker pulls images and runs containers.\n"
    "Left: the sidebar (Load eBPF, Docker). Enter opens an item in a tab; each tab stops what it\n"
    "started when you close it. : or ctrl+p jumps to a screen, container or probe by name.\n"
    "The same keys work in every view: q closes it (on the sidebar: quit), Esc goes back,\n"
    "/ filters, j k g G move in any list, table or log, Enter on a log row shows the whole event.\n"
    "Esc, ? or q closes this help."
)

# (where, key, what) for widgets whose bindings are not on the focus chain when help opens
WIDGET_KEYS: tuple[tuple[str, str, str], ...] = (
    ("Live logs", "/", "filter: words, field=value (comm=runc probe=mounts), !negate; Esc clears"),
    ("Live logs", "↑ PgUp Home / mouse wheel", "scroll back: pauses following, new events are held"),
    ("Live logs", "End", "follow again (shows what was held)"),
    ("Live logs", "p", "pause / resume following"),
    ("Live logs", "Enter", "the event under the cursor in full: every field, JSON, copy (c)"),
    (
        "Live views",
        "ctrl+r",
        "record what the view receives from now on (beefine-VIEW-TIME.jsonl in the "
        "directory Beefine started in; replay it with `beefine-tui replay FILE`); again stops",
    ),
    ("Lists, tables, logs", "j k g G", "down, up, first, last (like ↓ ↑ Home End)"),
    ("Sidebar", "↑ ↓ Enter", "move, open the item in a tab"),
)


def key_table(rows: list[tuple[str, str, str]]) -> Table:
    table = Table(box=None, expand=True, show_header=True, header_style="bold")
    table.add_column("where", style="cyan", no_wrap=True)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("what")
    for where, key, what in rows:
        table.add_row(where, key, what)
    return table


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 95%; max-width: 110; height: 90%; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close"),
        Binding("q", "close", "Close"),
    ]

    def __init__(self, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self.rows = rows

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text("Beefine TUI: keys", style="bold"))
            yield Static(INTRO)
            yield Static(key_table(self.rows + list(WIDGET_KEYS)), id="help-keys")

    def action_close(self) -> None:
        self.dismiss(None)


class QuitScreen(ModalScreen[bool]):
    """q at the top: asks before stopping every probe and container (ctrl+q quits without asking)."""

    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Static { width: 60; height: auto; border: thick $warning; background: $surface;
                          padding: 1 2; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Quit"),
        Binding("n,q,escape", "answer(False)", "Stay"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(
            "[b]Quit Beefine?[/b]\n\nEverything this app started (probes, XDP, containers) is stopped.\n\n"
            "[b]y[/b] or Enter: quit    [b]n[/b], q or Esc: stay"
        )

    def action_answer(self, quit_now: bool) -> None:
        self.dismiss(quit_now)
