"""Enter on a log row: the whole event in a modal (every field, its JSON, what the kind means), with
copy to the clipboard by OSC 52, which also works over SSH."""

from __future__ import annotations

import msgspec
from rich.markup import escape
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from beefine_tui.events.model import LOST, STATUS, Event
from beefine_tui.story.explanations import explain_kind, kind_source

# what the kinds that are about the tool itself (not the kernel) mean
_OWN_KINDS = {
    LOST: "events the kernel or this app could not deliver; count says how many, source says where",
    STATUS: "the probe's own state (starting, running, failed...), not something the kernel did",
}


def event_json(ev: Event) -> str:
    """The event as one JSON object, as `beefine-tui trace --json` writes it."""
    return msgspec.json.format(msgspec.json.encode(ev), indent=2).decode()


def explanation(ev: Event) -> str:
    return _OWN_KINDS.get(ev.kind) or explain_kind(ev.kind)


def field_table(ev: Event, base_ts: int) -> Table:
    table = Table(box=None, show_header=False, expand=True)
    table.add_column("field", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    rel = f"  (+{(ev.ts - base_ts) / 1e9:.6f} s)" if base_ts else ""
    rows: list[tuple[str, str]] = [
        ("ts", f"{ev.ts} ns{rel}"),
        ("probe", ev.probe),
        ("kind", ev.kind),
        ("pid / tid / ppid", f"{ev.pid} / {ev.tid} / {ev.ppid}"),
        ("comm", ev.comm),
        ("container", ev.container or "(host)"),
        ("text", ev.text),
    ]
    rows += [(f"args.{k}", str(v)) for k, v in ev.args.items()]
    for name, value in rows:
        table.add_row(name, escape(value))
    return table


class EventDetailScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    EventDetailScreen { align: center middle; }
    EventDetailScreen > VerticalScroll { width: 95%; max-width: 120; height: 90%; border: thick $primary;
                                         background: $surface; padding: 0 1; }
    EventDetailScreen .explain { color: $text-muted; margin: 1 0; }
    """
    BINDINGS = [
        Binding("escape,q,enter", "close", "Close"),
        Binding("c", "copy", "Copy JSON"),
    ]

    def __init__(self, event: Event, base_ts: int = 0) -> None:
        super().__init__()
        self.event = event
        self.base_ts = base_ts

    def compose(self) -> ComposeResult:
        ev = self.event
        with VerticalScroll():
            yield Static(f"[b]{escape(ev.probe)} {escape(ev.kind)}[/b]  pid {ev.pid} {escape(ev.comm)}")
            meaning = explanation(ev)
            if meaning:
                source = kind_source(ev.kind)
                yield Static(
                    escape(meaning) + (f"\n[i]source: {escape(source)}[/i]" if source else ""),
                    classes="explain",
                )
            yield Static(field_table(ev, self.base_ts), id="event-fields")
            yield Static("[b]JSON[/b] (c copies it)")
            yield Static(escape(event_json(ev)), id="event-json")
        yield Footer()

    def action_copy(self) -> None:
        # OSC 52: the terminal (local, or the one at the far end of SSH) puts it on its clipboard
        self.app.copy_to_clipboard(event_json(self.event))
        self.notify("Event JSON copied to the clipboard (OSC 52).", timeout=3)

    def action_close(self) -> None:
        self.dismiss(None)
