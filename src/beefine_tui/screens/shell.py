"""The shell: sidebar tree on the left, tabs on the right, an optional split pane tailing one container.

Views are plain widgets shown inside a TabPane. The contract for a view:
- construct with no required arguments except those given by its ViewEntry factory; reach the
  AppContext through `screens.common.app_context(self)` (typed; see appcontext.py);
- start live work on mount; stop it in `stop_view()` (called when its tab is closed) and in
  `on_unmount` (idempotent). Register anything long-lived with `app_context(self).own(...)` so exit stops it;
- run blocking calls in `@work(thread=True, exclusive=True, exit_on_error=False)`; mix in
  `screens.errors.WorkerErrors` so failures become an error panel, never a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane, Tree

from beefine_tui.screens.common import probe_names
from beefine_tui.screens.network_view import NetworkView
from beefine_tui.screens.probe_view import ProbeView, split_probes

SECTION_EBPF = "Load eBPF"
SECTION_DOCKER = "Docker"


@dataclass(frozen=True)
class ViewEntry:
    key: str
    label: str
    section: str
    description: str
    factory: Callable[[], Widget]


def _failed(label: str, why: str) -> Widget:
    """What a tab shows when its view raised while being built: the real error, not a placeholder."""
    return Static(f"[b]{label}[/b]\n\nThis view could not open: {why}", classes="not-available")


def _probe_view(**kw: Any) -> Widget:
    return ProbeView(**kw)


def _network_view(**kw: Any) -> Widget:
    return NetworkView(**kw)


def _lazy(module: str, cls: str) -> Callable[[], Widget]:
    def make() -> Widget:
        mod = importlib.import_module(f"beefine_tui.screens.{module}")
        widget = getattr(mod, cls)()
        assert isinstance(widget, Widget)
        return widget

    return make


VIEWS: tuple[ViewEntry, ...] = (
    ViewEntry(
        "helpers",
        "Helper functions",
        SECTION_EBPF,
        "BPF helpers this kernel offers per program type",
        _lazy("helpers_view", "HelpersView"),
    ),
    ViewEntry(
        "network",
        "Inspect network",
        SECTION_EBPF,
        "XDP on an interface: packets per protocol, sampled headers",
        _lazy("network_view", "NetworkView"),
    ),
    ViewEntry(
        "trace-exec",
        "Trace exec",
        SECTION_EBPF,
        "every exec and exit: pid, ppid, argv, exit code, duration",
        partial(_probe_view, probes=("exec",), title="Trace exec", autostart=True),
    ),
    ViewEntry(
        "trace-syscalls",
        "Trace syscalls",
        SECTION_EBPF,
        "pick any built-in probe(s) and watch them live",
        partial(_probe_view, choose=True, title="Trace syscalls"),
    ),
    ViewEntry(
        "user-programs",
        "Your programs",
        SECTION_EBPF,
        "load your own BCC C or bpftrace program; its output as columns",
        _lazy("user_programs", "UserProgramsView"),
    ),
    ViewEntry(
        "loaded-programs",
        "Loaded programs",
        SECTION_EBPF,
        "BPF programs loaded on this machine, run counts, unload ours",
        _lazy("programs_list", "ProgramsListView"),
    ),
    ViewEntry(
        "dashboard",
        "Dashboard",
        SECTION_DOCKER,
        "running containers and their resource use",
        _lazy("dashboard", "DashboardView"),
    ),
    ViewEntry(
        "image-monitor",
        "Image monitor",
        SECTION_DOCKER,
        "pull and run an image: watch the kernel build the container, phase by phase",
        _lazy("image_monitor", "ImageMonitorView"),
    ),
    ViewEntry(
        "container-monitor",
        "Container monitor",
        SECTION_DOCKER,
        "a container's namespaces, cgroup, mounts, processes and network, live",
        _lazy("container_monitor", "ContainerMonitorView"),
    ),
)
VIEWS_BY_KEY = {v.key: v for v in VIEWS}


def _tab_id(key: str) -> str:
    return "tab-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in key)


class ShellScreen(Screen[None]):
    def __init__(self) -> None:
        super().__init__()
        self._views: dict[str, Widget] = {}  # pane id -> view, set before the pane is mounted
        self._want_active = ""
        self._pending: list[TabPane] = []
        self._draining = False

    BINDINGS = [
        Binding("ctrl+pagedown", "next_tab", "Next tab", show=False),
        Binding("ctrl+pageup", "prev_tab", "Prev tab", show=False),
        Binding("f1", "focus_sidebar", "Sidebar", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield Static("", id="banner")
        yield Static("", id="too-small")
        with Horizontal(id="main"):
            tree: Tree[str] = Tree("Beefine", id="sidebar")
            tree.show_root = False
            tree.guide_depth = 2
            for section in (SECTION_EBPF, SECTION_DOCKER):
                node = tree.root.add(section, expand=True, data="")
                for v in VIEWS:
                    if v.section == section:
                        node.add_leaf(v.label, data=v.key)
            yield tree
            with Vertical(id="work"), TabbedContent(id="tabs"), TabPane("Welcome", id="tab-welcome"):
                yield Static(WELCOME, id="welcome")
            yield Vertical(id="split")
        yield Footer()

    def on_mount(self) -> None:
        app = self.app
        banner = getattr(app, "banner", "")
        ctx = getattr(app, "ctx", None)
        if not banner and ctx is not None and not ctx.bpf_allowed:
            banner = (
                "Not running as root: probes cannot load. Docker screens may work. "
                "Quit (ctrl+q) and run: sudo beefine-tui"
            )
        b = self.query_one("#banner", Static)
        b.update(banner)
        b.display = bool(banner)
        self.query_one("#too-small", Static).display = False
        self.query_one("#sidebar", Tree).focus()
        self.size_changed(app.size.width, app.size.height)
        # tabs opened while the TabbedContent itself is still mounting end up half shown: wait a frame
        self.call_after_refresh(self.run_worker, self._open_initial(), group="open-initial")

    async def _open_initial(self) -> None:
        """Views asked for on the command line, one at a time (each tab settled before the next)."""
        app = self.app
        replay = getattr(app, "replay_path", None)
        if replay is not None:
            self.open_replay(replay, getattr(app, "replay_speed", 1.0))
            await self._settled()
        for key in getattr(app, "open_views", ()):
            self.open_view(key)
            await self._settled()

    async def _settled(self) -> None:
        # like a user opening them one after the other: TabbedContent mishandled back-to-back adds
        # (a stale tab bar, the wrong pane painted) when they were made within the same moment
        for _ in range(200):
            await asyncio.sleep(0.02)
            if not self._draining:
                break
        await asyncio.sleep(0.3)

    # ---- sizes
    def size_changed(self, width: int, height: int) -> None:
        found = self.query("#too-small")
        if not found:
            return
        small = found.first(Static)
        too_small = width < 80 or height < 24
        small.display = too_small
        if too_small:
            small.update(
                f"Terminal is {width}x{height}: enlarge it to at least 80x24. Nothing is lost meanwhile."
            )
        self.set_class(width < 100, "-narrow")

    def toggle_sidebar(self) -> None:
        tree = self.query_one("#sidebar", Tree)
        tree.display = not tree.display
        if tree.display:
            tree.focus()

    def action_focus_sidebar(self) -> None:
        tree = self.query_one("#sidebar", Tree)
        tree.display = True
        tree.focus()

    # ---- tabs
    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        key = event.node.data
        if key:
            event.stop()
            self.open_view(key)

    def open_view(self, key: str, *, label: str = "", factory: Callable[[], Widget] | None = None) -> Widget:
        """Open `key` in a tab, or focus its tab if it is already open. Returns the view widget."""
        tabs = self.query_one("#tabs", TabbedContent)
        pane_id = _tab_id(key)
        existing = self._views.get(pane_id)
        if existing is not None:
            tabs.active = pane_id
            self.call_after_refresh(self._focus_view, existing)
            return existing
        if factory is None:
            entry = VIEWS_BY_KEY.get(key)
            if entry is None:
                if key.startswith("network:"):
                    ifname = key.split(":", 1)[1]
                    factory = partial(_network_view, interface=ifname, autostart=True)
                    label = label or f"XDP {ifname}"
                    pane_id = _tab_id("network")
                    if pane_id in self._views:
                        tabs.active = pane_id
                        return self._views[pane_id]
                elif key.startswith("probe:"):
                    name = key.split(":", 1)[1]
                    factory = partial(_probe_view, probes=(name,), title=f"Probe {name}", autostart=True)
                    label = label or f"Probe {name}"
                else:
                    raise KeyError(key)
            else:
                factory = entry.factory
                label = label or entry.label
        try:
            view = factory()
        except Exception as e:
            view = _failed(label or key, f"{type(e).__name__}: {e}")
        view.add_class("view")
        self._views[pane_id] = view
        pane = TabPane(label or key, view, id=pane_id)
        if self.has_class("-narrow"):
            # below 100 columns the view needs the room: the sidebar folds away (F1 or ctrl+b brings it back)
            self.query_one("#sidebar", Tree).display = False
        self._want_active = pane_id
        self._pending.append(pane)
        if not self._draining:
            self._draining = True
            self.call_after_refresh(self._drain_pending)
        self.call_after_refresh(self._focus_view, view)
        return view

    async def _drain_pending(self) -> None:
        """Mount new panes one at a time, then activate the last one asked for. (TabbedContent got
        confused by overlapping add_pane calls: tabs missing from the bar, the wrong pane shown.)"""
        tabs = self.query_one("#tabs", TabbedContent)
        try:
            while self._pending:
                pane = self._pending.pop(0)
                if pane.id in self._views:  # not closed meanwhile
                    await tabs.add_pane(pane)
            want = self._want_active
            if want in self._views and tabs.query(f"#{want}"):
                tabs.active = want
        finally:
            self._draining = False

    def _focus_view(self, view: Widget, tries: int = 20) -> None:
        """Focus the first focusable widget of a newly opened view (once it is mounted and composed)."""
        target = None
        if view.is_mounted:
            preferred = getattr(view, "focus_target", None)
            target = preferred() if callable(preferred) else None
            if target is None:
                target = view if view.focusable else next((w for w in view.query("*") if w.focusable), None)
        if target is not None:
            target.focus()
        elif tries > 0:
            self.set_timer(0.05, lambda: self._focus_view(view, tries - 1))

    def open_replay(self, path: Path, speed: float) -> Widget:
        return self.open_view(
            "replay",
            label=f"Replay {path.name}",
            factory=partial(_probe_view, replay=path, replay_speed=speed, title=f"Replay {path.name}"),
        )

    def close_active_tab(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        pane = tabs.active_pane
        if pane is None or pane.id is None:
            return
        for child in pane.children:
            stop = getattr(child, "stop_view", None)
            if callable(stop):
                stop()
        self._views.pop(pane.id, None)
        tabs.remove_pane(pane.id)
        if tabs.tab_count == 0:
            self.query_one("#sidebar", Tree).focus()

    def action_next_tab(self) -> None:
        self._cycle(1)

    def action_prev_tab(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        ids = [p.id for p in tabs.query(TabPane) if p.id]
        if not ids:
            return
        i = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(i + step) % len(ids)]

    def open_tab_ids(self) -> list[str]:
        return [p.id for p in self.query_one("#tabs", TabbedContent).query(TabPane) if p.id]

    # ---- split pane: tail one container's syscalls beside any view
    def toggle_split(self) -> None:
        split = self.query_one("#split", Vertical)
        if split.children:
            for child in list(split.children):
                stop = getattr(child, "stop_view", None)
                if callable(stop):
                    stop()
            split.remove_children()
            split.remove_class("-open")
            return
        view = ProbeView(probes=split_probes(), title="Container syscalls", container_required=True)
        split.add_class("-open")
        split.mount(view)
        self.call_after_refresh(self._focus_view, view)


WELCOME = """[b]Beefine[/b]: see with eBPF what the kernel does when Docker makes a container.

Pick an item on the left (↑ ↓ Enter), or press [b]ctrl+p[/b] and type a screen or probe name.

[b]Load eBPF[/b]: helper functions, XDP on an interface, exec tracing, any built-in probe,
your own BCC/bpftrace programs, and every BPF program loaded on this machine.
[b]Docker[/b]: the dashboard, and monitors that show an image pull or a container's creation.

[b]?[/b] lists every key. [b]ctrl+w[/b] closes a tab and stops what it started.
[b]ctrl+t[/b] tails one container's syscalls beside the current view. [b]ctrl+b[/b] hides the sidebar.
"""


class BeefineCommands(Provider):
    """The command palette: every screen and every built-in probe, by name."""

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.app.screen_stack[0] if self.app.screen_stack else None
        out: list[tuple[str, str, Callable[[], Any]]] = []
        if not isinstance(screen, ShellScreen):
            return out
        for v in VIEWS:
            out.append((f"Open {v.label}", v.description, partial(screen.open_view, v.key)))
        for name, desc in probe_names():
            out.append((f"Probe: {name}", desc, partial(screen.open_view, f"probe:{name}")))
        return out

    async def discover(self) -> Hits:
        for title, help_text, cb in self._commands():
            yield DiscoveryHit(title, cb, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, cb in self._commands():
            score = max(matcher.match(title), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(title), cb, help=help_text)
