"""Helper functions: choose a BPF program type, see the helpers this kernel offers for it (from
probes/helpers_catalog.py: the kernel's own list of types and our verifier loads), search them, and
copy a name to the clipboard (Enter or c; over SSH this uses the terminal's OSC 52 clipboard).
Over --remote the kernel is a host's: its agent's `helpers` (agent/host_views.py RemoteHelpers).

The table fits its width (FitTable): a description cut to the room ends in "…", and the highlighted
helper's whole signature and description are in the scrollable pane below it.
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Select, Static
from textual.worker import Worker

from beefine_tui.agent.host_views import RemoteHelpers
from beefine_tui.appcontext import AppContext
from beefine_tui.probes import helpers_catalog
from beefine_tui.screens.errors import WorkerErrors, describe
from beefine_tui.widgets.fit_table import Fit, FitTable, cell
from beefine_tui.widgets.ui_thread import ui_soon

LOADING = "Loading the helper list (bpftool probes the kernel: a few seconds the first time)…"
PREFERRED_TYPES = ("tracepoint", "kprobe", "xdp", "socket_filter", "sched_cls", "raw_tracepoint", "syscall")
# the description gives way first (the pane below has it whole); a name stays readable down to 16 cells
FITS = {"desc": Fit(min=12, tier=0), "name": Fit(min=16, tier=1)}


def program_types() -> list[str]:
    """Program types this kernel knows (helpers_catalog: from its BTF, checked by our own loads)."""

    return list(helpers_catalog.probe_kernel().types)


def attach_note(prog_type: str) -> str:
    """Why programs of this type cannot be attached here although they load ("" when they can)."""
    from beefine_tui.probes import helpers_catalog

    return helpers_catalog.probe_kernel().attach_notes.get(prog_type, "")


def helpers_for(prog_type: str) -> list[tuple[str, str, str]]:
    """(name, signature, description) per helper offered to `prog_type`."""
    return [(h.name, h.signature, h.description) for h in helpers_catalog.helpers_for(prog_type)]


class LocalHelpers:
    """This machine's kernel (the module's functions, which tests replace)."""

    host = ""

    def types(self) -> list[str]:
        return program_types()

    def helpers(self, prog_type: str) -> list[tuple[str, str, str]]:
        return helpers_for(prog_type)

    def note(self, prog_type: str) -> str:
        return attach_note(prog_type)


class HelpersSource(Protocol):
    host: str

    def types(self) -> list[str]: ...

    def helpers(self, prog_type: str) -> list[tuple[str, str, str]]: ...

    def note(self, prog_type: str) -> str: ...


def helpers_source(ctx: AppContext | None, host: str | None = None) -> HelpersSource:
    """This machine's kernel, or over --remote the host's, from its agent's `helpers`."""
    link = ctx.host_link(host) if ctx is not None else None
    return LocalHelpers() if link is None else RemoteHelpers(link)


class HelpersView(WorkerErrors, Vertical):
    DEFAULT_CSS = """
    HelpersView { height: 1fr; }
    HelpersView > .controls { height: auto; }
    HelpersView > .controls > Select { width: 30; }
    HelpersView > .controls > Input { width: 1fr; }
    HelpersView > .notice { height: auto; color: $text-muted; }
    HelpersView > DataTable { height: 1fr; }
    HelpersView > #detail-pane { height: auto; max-height: 40%; border-top: solid $primary-muted; }
    HelpersView #detail { height: auto; }
    """
    BINDINGS = [Binding("c", "copy", "Copy name")]

    def __init__(self, host: str | None = None) -> None:
        super().__init__()
        self.host = host  # over --remote: whose kernel (None: the first host)
        self.source: HelpersSource | None = None
        self.helpers: list[tuple[str, str, str]] = []
        self.prog_type: str | None = None
        self.attach_note = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="controls"):
            yield Select[str]([], prompt="program type", id="ptype", allow_blank=True)
            yield Input(placeholder="search helpers (name or description)", id="search")
        yield Static(
            "Loading the helper list (bpftool probes the kernel: a few seconds the first time)…",
            classes="notice",
            markup=False,
        )
        yield FitTable(FITS, id="helpers", cursor_type="row", zebra_stripes=True)
        # a description can run to a dozen lines at 80 columns: the pane scrolls instead of cutting it
        with VerticalScroll(id="detail-pane"):
            yield Static("", id="detail")

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_column("helper", key="name")
        t.add_column("description", key="desc")
        ctx = getattr(self.app, "ctx", None)  # the view alone in a test app has none: this machine
        self.source = helpers_source(ctx if isinstance(ctx, AppContext) else None, self.host)
        if self.source.host:
            self.notice(f"Asking {self.source.host}'s agent for its kernel's helpers (minutes at first)…")
        self._load_types()

    def notice(self, text: str) -> None:
        self.query_one(".notice", Static).update(text)

    @work(thread=True, exclusive=True, exit_on_error=False, group="types")
    def _load_types(self) -> None:
        assert self.source is not None
        types = self.source.types()
        ui_soon(self, self._set_types, types)

    def _set_types(self, types: list[str]) -> None:
        ordered = [t for t in PREFERRED_TYPES if t in types] + sorted(
            t for t in types if t not in PREFERRED_TYPES
        )
        sel = self.query_one("#ptype", Select)
        sel.set_options([(t, t) for t in ordered])
        if ordered:
            sel.value = ordered[0]
        self.notice(
            f"{len(types)} program types. Pick one; type to search; Enter or c copies a helper's name."
        )

    @on(Select.Changed, "#ptype")
    def _type_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str):
            self.prog_type = event.value
            self._load_helpers(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="helpers")
    def _load_helpers(self, prog_type: str) -> None:
        assert self.source is not None
        helpers = self.source.helpers(prog_type)
        note = self.source.note(prog_type)
        ui_soon(self, self._set_helpers, prog_type, helpers, note)

    def _set_helpers(self, prog_type: str, helpers: list[tuple[str, str, str]], note: str = "") -> None:
        if prog_type != self.prog_type:
            return
        self.helpers = helpers
        self.attach_note = note
        self._fill()

    @on(Input.Changed, "#search")
    def _fill(self) -> None:
        q = self.query_one("#search", Input).value.strip().lower()
        t = self.query_one(FitTable)
        with self.app.batch_update():
            t.clear()
            shown = 0
            for name, _sig, desc in self.helpers:
                if q and q not in name.lower() and q not in desc.lower():
                    continue
                t.add_row(cell(name), cell(" ".join(desc.split())), key=name)
                shown += 1
            t.fit()
        note = f" Note: {self.attach_note}." if self.attach_note else ""
        host = self.source.host if self.source is not None else ""
        where = f"{host}'s kernel" if host else "this kernel"
        self.notice(f"{shown} of {len(self.helpers)} helpers for {self.prog_type} on {where}.{note}")

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        # a highlight queued before the search refilled the table arrives with no row (key fuzz,
        # seed 1394169836 at 120x40): nothing to describe
        if event.row_key is None:
            return
        name = event.row_key.value
        for n, sig, desc in self.helpers:
            if n == name:
                text = Text.assemble((n, "bold"), " ", sig, "\n", desc)
                self.query_one("#detail", Static).update(text)
                self.query_one("#detail-pane", VerticalScroll).scroll_home(animate=False)
                break

    @on(DataTable.RowSelected)
    def action_copy(self) -> None:
        t = self.query_one(DataTable)
        if t.row_count == 0:
            return
        name = t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        if name:
            self.app.copy_to_clipboard(str(name))
            self.app.notify(f"Copied {name}", timeout=2)

    def worker_failed(self, worker: Worker[object], error: BaseException) -> None:
        info = describe(error)
        self.notice(f"{info.message}" + (f" ({info.hint})" if info.hint else ""))
