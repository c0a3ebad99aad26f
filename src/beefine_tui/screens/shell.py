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

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.command import CommandList, CommandPalette, DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer, Header, Static, TabbedContent, TabPane, Tabs, Tree
from textual.widgets._tabbed_content import ContentTab, ContentTabs

from beefine_tui.screens.common import container_names, probe_names
from beefine_tui.screens.host_picker import HostPicker
from beefine_tui.screens.network_view import NetworkView
from beefine_tui.screens.probe_view import SYSCALLS_PROBE, ProbeView, split_probes
from beefine_tui.screens.replay_view import ReplayView
from beefine_tui.widgets.event_log import EventLog
from beefine_tui.widgets.filter_bar import FilterBar

SECTION_EBPF = "Load eBPF"
SECTION_DOCKER = "Docker"


@dataclass(frozen=True)
class ViewEntry:
    key: str
    label: str
    section: str
    description: str
    factory: Callable[..., Widget]  # host=H for the host-wide ones (HOST_WIDE) over several hosts


# views that show a whole machine, not one container: with several --remote hosts each opens on the
# host the HostPicker asks for
HOST_WIDE = frozenset(
    {"helpers", "network", "loaded-programs", "user-programs", "trace-exec", "trace-syscalls"}
)


def host_wide(key: str) -> bool:
    # probe:syscalls asks for a container instead (HOST/NAME picks its host); network:IFNAME is
    # Inspect network on that interface of the host asked for
    if key.startswith("network:"):
        return True
    return key in HOST_WIDE or (key.startswith("probe:") and key != f"probe:{SYSCALLS_PROBE}")


def _failed(label: str, why: str) -> Widget:
    """What a tab shows when its view raised while being built: the real error, not a placeholder."""
    # Text, not markup: the error can quote anything (a name typed, a path), brackets included
    text = Text.assemble((label, "bold"), f"\n\nThis view could not open: {why}")
    return Static(text, classes="not-available")


def _probe_view(**kw: Any) -> Widget:
    return ProbeView(**kw)


def container_syscalls() -> ProbeView:
    """One container's syscalls, strace-like, with the strace -c table: the split pane (ctrl+t) and
    the sidebar's full-size screen are this same view."""
    return ProbeView(probes=split_probes(), title="Container syscalls", container_required=True)


def _network_view(**kw: Any) -> Widget:
    return NetworkView(**kw)


def _on_host(factory: Callable[..., Widget], host: str) -> Callable[[], Widget]:
    def make() -> Widget:
        return factory(host=host)

    return make


def _lazy(module: str, cls: str) -> Callable[..., Widget]:
    def make(**kw: Any) -> Widget:
        mod = importlib.import_module(f"beefine_tui.screens.{module}")
        widget = getattr(mod, cls)(**kw)
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
    ViewEntry(
        "container-syscalls",
        "Container syscalls",
        SECTION_DOCKER,
        "every syscall of one container, strace-like, with a strace -c table (ctrl+t: beside any view)",
        container_syscalls,
    ),
    ViewEntry(
        "compare",
        "Compare recordings",
        SECTION_DOCKER,
        "two `trace --record` files: phases side by side, what differs (as `beefine-tui diff`)",
        _lazy("compare_view", "CompareView"),
    ),
)
VIEWS_BY_KEY = {v.key: v for v in VIEWS}


SYSTEM_SOCKETS = ("unix:///var/run/docker.sock", "unix:///run/docker.sock")


def daemon_label(ctx: Any) -> str:
    """Which Docker daemon the app talks to, in a few words for the header."""
    remote = getattr(ctx, "connection_text", None)
    if callable(remote):  # --remote: the host(s) and whether the connection is up
        return str(remote())
    lab = getattr(ctx, "lab", None)
    if lab is not None:
        return f"lab {lab.name}"
    host = getattr(ctx, "docker_host", None)
    if not host:
        return "no Docker"
    if host in SYSTEM_SOCKETS:
        return "system Docker"
    return f"Docker {host}"


def _tab_id(key: str) -> str:
    return "tab-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in key)


class ShellTabs(TabbedContent):
    """The shell's tabs. TabbedContent activates the pane that focus lands in; focus can land in a
    pane whose tab is already gone (closing: the tab goes first, the pane after), and activating it
    raised "No Tab with id" and ended the app (key fuzz, seed 1228194798). Such a pane is left alone;
    any other goes on to TabbedContent's own handler."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        pane_id = event.tab_pane.id
        if pane_id is not None and not self.get_child_by_type(ContentTabs).query(
            f"#tabs-list > #{ContentTab.add_prefix(pane_id)}"
        ):
            event.stop()
            event.prevent_default()  # Textual runs the base class's handler too unless told not to


class ShellScreen(Screen[None]):
    def __init__(self) -> None:
        super().__init__()
        self._views: dict[str, Widget] = {}  # pane id -> view, set before the pane is mounted
        self._want_active = ""
        self._pending: list[TabPane] = []
        self._draining = False
        self._focus_asked = 0  # numbers focus requests: see _focus_view

    BINDINGS = [
        # priority: the sidebar (Tree) and tables bind these keys to horizontal paging
        Binding("ctrl+pagedown", "next_tab", "Next tab", show=False, priority=True),
        Binding("ctrl+pageup", "prev_tab", "Prev tab", show=False, priority=True),
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
            with Vertical(id="work"), ShellTabs(id="tabs"), TabPane("Welcome", id="tab-welcome"):
                yield Static(welcome(), id="welcome")
            yield Vertical(id="split")
        yield Footer(show_command_palette=False)  # ": Go to" is the palette key shown

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
        tree = self.query_one("#sidebar", Tree)
        tree.focus()
        # the cursor starts on the first screen, so Enter opens it (not folds a section)
        tree.move_cursor(tree.root.children[0].children[0])
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
        pair = getattr(app, "compare_paths", None)
        if pair is not None:
            self.open_compare(*pair)
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
            self._focus_asked += 1
            tree.focus()

    def action_focus_sidebar(self) -> None:
        self._focus_asked += 1  # a view still waiting to take focus must not take it back
        tree = self.query_one("#sidebar", Tree)
        tree.display = True
        tree.focus()

    # ---- tabs
    def on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        key = event.node.data
        if key:
            event.stop()
            self.open_view(key)

    def open_view(
        self,
        key: str,
        *,
        label: str = "",
        factory: Callable[[], Widget] | None = None,
        host: str | None = None,
    ) -> Widget:
        """Open `key` in a tab, or focus its tab if it is already open. Returns the view widget.

        With several --remote hosts, a host-wide view opens on `host`, in a tab of its own named after
        it ("Helper functions @h2"); without `host` it first asks which (the HostPicker, returned
        instead of a view). With one host or none there is nothing to ask."""
        ctx = getattr(self.app, "ctx", None)
        hosts: list[str] = ctx.hosts() if ctx is not None else []
        if factory is None and len(hosts) > 1 and host_wide(key):
            if host is None:
                return self._ask_host(key, hosts)
            if host not in hosts:
                raise KeyError(f"{key}@{host}")
        else:
            host = None  # one machine: the view's own default (the first host) is the only one
        pane_id = _tab_id(key if host is None else f"{key}@{host}")
        existing = self._views.get(pane_id)
        if existing is not None:
            self._activate(pane_id)
            self._focus_later(existing)
            return existing
        if factory is None:
            entry = VIEWS_BY_KEY.get(key)
            if entry is None:
                if key.startswith("network:"):
                    ifname = key.split(":", 1)[1]
                    factory = partial(_network_view, interface=ifname, autostart=True)
                    label = label or f"XDP {ifname}"
                    pane_id = _tab_id("network" if host is None else f"network@{host}")
                    if pane_id in self._views:
                        self._activate(pane_id)
                        return self._views[pane_id]
                elif key == f"probe:{SYSCALLS_PROBE}":
                    # every syscall of the whole machine would flood the log and lose most of it:
                    # this one asks for a container (the split pane's view, full size)
                    factory = partial(
                        _probe_view,
                        probes=(SYSCALLS_PROBE,),
                        title="Container syscalls",
                        container_required=True,
                    )
                    label = label or "Container syscalls"
                elif key.startswith("probe:"):
                    name = key.split(":", 1)[1]
                    factory = partial(_probe_view, probes=(name,), title=f"Probe {name}", autostart=True)
                    label = label or f"Probe {name}"
                else:
                    raise KeyError(key)
            else:
                factory = entry.factory
                label = label or entry.label
        if host is not None:
            factory = _on_host(factory, host)
            label = f"{label or key} @{host}"
        if key == "dashboard" and getattr(ctx, "remote", False):
            factory = _lazy("hosts_dashboard", "HostsDashboardView")  # every host's containers
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
            # call_later, not call_after_refresh: Textual parks after-refresh callbacks on the screen
            # on top and drops them if it closes first (a modal closed by the next key), and a lost
            # drain left _draining set: no view opened again (key fuzz)
            self.call_later(self._drain_pending)
        self._focus_later(view)
        return view

    def _ask_host(self, key: str, hosts: list[str]) -> Widget:
        """The HostPicker for `key`; the view opens on the host chosen (nothing on Esc)."""
        ctx = getattr(self.app, "ctx", None)
        entry = VIEWS_BY_KEY.get(key)
        if entry is not None:
            what = entry.label
        elif key.startswith("network:"):
            what = f"XDP on {key.split(':', 1)[1]}"
        else:
            what = f"Probe {key.split(':', 1)[-1]}"
        states = []
        for h in hosts:
            status = getattr(ctx.host_link(h), "status", None) if ctx is not None else None
            state = str(getattr(status, "state", ""))
            states.append((h, "" if state == "up" else state))  # only what is not as expected
        picker = HostPicker(what, states)
        self.app.push_screen(picker, partial(self._host_chosen, key))
        return picker

    def _host_chosen(self, key: str, host: str | None) -> None:
        if host:
            self.open_view(key, host=host)

    def _activate(self, pane_id: str) -> None:
        """Show an open tab; one still waiting to be mounted is shown once it is (activating it
        before raised: no such tab yet)."""
        if pane_id in self.open_tab_ids():
            self.query_one("#tabs", TabbedContent).active = pane_id
        else:
            self._want_active = pane_id

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

    def _still_open(self, view: Widget) -> bool:
        """The view is in a tab not closed (perhaps still being mounted), or in the split pane."""
        if any(v is view for v in self._views.values()):
            return True
        return self.query_one("#split", Vertical) in view.ancestors

    def _focus_later(self, view: Widget) -> None:
        """Focus `view` once it is drawn, unless focus is asked for elsewhere meanwhile."""
        self._focus_asked += 1
        # after the drain (same queue); _focus_view waits for the mount itself
        self.call_later(self._focus_view, view, self._focus_asked)

    def _focus_view(self, view: Widget, request: int | None = None, tries: int = 20) -> None:
        """Focus the first focusable widget of a newly opened view (once it is mounted and composed).
        `request` numbers the ask: a later one (f1, another tab, the split pane) supersedes it, so a
        deferred focus does not pull focus back from where the user has since moved it."""
        if request is None:
            self._focus_asked += 1
            request = self._focus_asked
        elif request != self._focus_asked:
            return
        if not self._still_open(view):
            return  # closed meanwhile: focus inside a pane being removed would activate its gone tab
        target = None
        focused = self.app.focused
        if focused is not None and view in focused.ancestors:
            return  # the view placed focus itself (its on_mount): keep it
        if view.is_mounted:
            preferred = getattr(view, "focus_target", None)
            target = preferred() if callable(preferred) else None
            if target is None:
                target = view if view.focusable else next((w for w in view.query("*") if w.focusable), None)
        if target is not None:
            target.focus()
        elif tries > 0:
            self.set_timer(0.05, lambda: self._focus_view(view, request, tries - 1))

    def open_container(self, cid: str) -> Widget:
        """The Container monitor showing `cid` (the open one switches to it)."""
        pane_id = _tab_id("container-monitor")
        existing = self._views.get(pane_id)
        if existing is not None:
            choose = getattr(existing, "choose", None)
            if callable(choose):
                choose(cid)
            return self.open_view("container-monitor")
        from beefine_tui.screens.container_monitor import ContainerMonitorView

        return self.open_view(
            "container-monitor",
            label=VIEWS_BY_KEY["container-monitor"].label,
            factory=partial(ContainerMonitorView, container=cid),
        )

    def open_replay(self, path: Path, speed: float) -> Widget:
        """The recording in the view it came from, with the replay's controls (screens/replay_view)."""
        return self.open_view("replay", label=f"Replay {path.name}", factory=partial(ReplayView, path, speed))

    def open_compare(self, a: Path, b: Path) -> Widget:
        """The Compare view with both paths filled in and compared (`diff A B --tui`)."""
        from beefine_tui.screens.compare_view import CompareView

        entry = VIEWS_BY_KEY["compare"]
        return self.open_view("compare", label=entry.label, factory=partial(CompareView, a, b))

    async def close_active_tab(self) -> None:
        """Close the active tab, stopping what its view started. Awaited: a tab reopened at once
        must not meet its old pane, still being removed, under the same id."""
        tabs = self.query_one("#tabs", TabbedContent)
        if not tabs.active or tabs.active not in self.open_tab_ids():
            return  # the active tab is already being removed (see active_view)
        pane = tabs.get_pane(tabs.active)
        if pane.id is None:
            return
        for child in pane.children:
            stop = getattr(child, "stop_view", None)
            if callable(stop):
                stop()
        self._views.pop(pane.id, None)
        await tabs.remove_pane(pane.id)
        if tabs.tab_count == 0:
            self.query_one("#sidebar", Tree).focus()

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.tabbed_content.id == "tabs":
            self.call_after_refresh(self._show_active_tab)

    def _show_active_tab(self) -> None:
        """Scroll the tab bar so the active tab shows whole. Tabs scrolls itself on activation, but a
        tab added in the same moment is not laid out yet then, so the bar stayed put (or half-scrolled:
        "nspect network")."""
        tab_bar = self.query_one("#tabs", TabbedContent).query_one(Tabs)
        active = tab_bar.active_tab
        scroller = tab_bar.query("#tabs-scroll")
        if active is not None and scroller:
            scroller.first().scroll_to_center(active, animate=False, force=True)

    def action_next_tab(self) -> None:
        self._cycle(1)

    def action_prev_tab(self) -> None:
        self._cycle(-1)

    def _cycle(self, step: int) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        ids = self.open_tab_ids()
        if not ids:
            return
        i = ids.index(tabs.active) if tabs.active in ids else 0
        target = ids[(i + step) % len(ids)]
        tabs.active = target
        # focus follows: left in the pane now hidden, it lands on a sibling there, and a focus
        # inside a pane makes TabbedContent switch right back to it
        view = self._views.get(target)
        if view is not None:
            self._focus_view(view)
        else:
            tabs.query_one(Tabs).focus()

    def open_tab_ids(self) -> list[str]:
        """Ids of the app's own tabs, in order. Only the top-level panes: a view may hold a
        TabbedContent of its own, whose panes are not tabs of #tabs (activating one raised). Only
        panes whose tab is in the bar: TabbedContent adds and removes the tab and the pane
        separately, and activating a pane whose tab is gone (closing) or not there yet raised
        "No Tab with id" (key fuzz)."""
        tabbed = self.query_one("#tabs", TabbedContent)
        switcher = tabbed.get_child_by_type(ContentSwitcher)
        in_bar = {t.id for t in tabbed.get_child_by_type(ContentTabs).query("#tabs-list > ContentTab")}
        return [
            p.id
            for p in switcher.children
            if isinstance(p, TabPane) and p.id and ContentTab.add_prefix(p.id) in in_bar
        ]

    def active_view(self) -> Widget | None:
        """The view the user is working in: the split pane when focus is there, else the active tab's."""
        split = self.query_one("#split", Vertical)
        focused = self.focused
        if focused is not None and split.children and split in focused.ancestors:
            return split.children[0]
        # not TabbedContent.active_pane: right after a tab closes, `active` may still name the removed
        # pane and active_pane raises (found by the key fuzz: q on Welcome, then the focus-after-close)
        active = self.query_one("#tabs", TabbedContent).active
        if not active or active not in self.open_tab_ids():
            return None
        return self._views.get(active)

    def sidebar_has_focus(self) -> bool:
        return isinstance(self.focused, Tree)

    async def close_current(self) -> None:
        """q on a view: close the split pane if focus is in it, else the active tab."""
        split = self.query_one("#split", Vertical)
        focused = self.focused
        if focused is not None and split.children and split in focused.ancestors:
            await self.toggle_split()
            self.call_after_refresh(self._focus_after_close)
            return
        await self.close_active_tab()
        self.call_after_refresh(self._focus_after_close)

    def _focus_after_close(self) -> None:
        view = self.active_view()
        if view is None:
            self.action_focus_sidebar()
        else:
            self._focus_view(view)

    def go_back(self) -> None:
        """Esc outside a modal or a filter bar: clear the view's filter if one is set, else focus the
        sidebar."""
        view = self.active_view()
        if view is not None:
            for log in view.query(EventLog):
                if log.filter_text:
                    log.query_one(FilterBar).action_close()
                    return
        self.action_focus_sidebar()

    def open_filter(self) -> bool:
        """/ anywhere: open the active view's filter (its log's filter bar). False if it has none."""
        view = self.active_view()
        if view is None:
            return False
        opener = getattr(view, "open_filter", None)
        if callable(opener):
            opener()
            return True
        focused = self.focused
        logs = list(view.query(EventLog))
        if not logs:
            return False
        # the log that holds focus, else the first one the view shows
        here = next((lg for lg in logs if focused is not None and lg in focused.ancestors), None)
        visible = [lg for lg in logs if lg.display and lg.is_on_screen]
        log = here or (visible or logs)[0]
        if here is None and not visible:
            # the log is in a section of the view not shown (Container monitor's Events): show it
            for node in log.ancestors:
                if node is view:
                    break
                if isinstance(node, TabPane) and isinstance(node.parent, ContentSwitcher):
                    owner = node.parent.parent
                    if isinstance(owner, TabbedContent) and node.id:
                        owner.active = node.id
        log.action_open_filter()
        return True

    def cycle_section(self, step: int) -> None:
        """[ and ]: the previous / next section (inner tab) of the active view, wherever focus is."""
        view = self.active_view()
        if view is None:
            return
        own = getattr(view, "action_section", None)
        if callable(own):
            own(step)
            return
        inner = view.query(TabbedContent).first() if view.query(TabbedContent) else None
        if inner is None:
            return
        switcher = inner.get_child_by_type(ContentSwitcher)
        ids = [p.id for p in switcher.children if isinstance(p, TabPane) and p.id]
        if ids:
            i = ids.index(inner.active) if inner.active in ids else 0
            inner.active = ids[(i + step) % len(ids)]

    # ---- split pane: tail one container's syscalls beside any view
    async def toggle_split(self) -> None:
        """Open or close the split pane. Awaited, so the next key is handled only once the view is
        mounted or gone: ctrl+t twice in a row removed the view before its on_mount ran (it raised)."""
        split = self.query_one("#split", Vertical)
        if split.children:
            for child in list(split.children):
                stop = getattr(child, "stop_view", None)
                if callable(stop):
                    stop()
            split.remove_class("-open")
            await split.remove_children()
            return
        view = container_syscalls()
        split.add_class("-open")
        await split.mount(view)
        self._focus_later(view)


# One string per paragraph or list item, never a hard line break inside one: the Static wraps them to
# its width, so they reflow at any terminal size instead of leaving a short line after each break.
WELCOME_PARAGRAPHS = (
    "[b]Beefine[/b]: see with eBPF what the kernel does when Docker makes a container.",
    "Pick an item on the left (↑ ↓ Enter), or press [b]:[/b] and type a screen, container or probe name.",
)
WELCOME_SECTIONS = (
    (
        "Load eBPF",
        "helper functions, XDP on an interface, exec tracing, any built-in probe, your own "
        "BCC/bpftrace programs, and every BPF program loaded on this machine.",
    ),
    ("Docker", "the dashboard, and monitors that show an image pull or a container's creation."),
)
WELCOME_KEYS = (
    "The same keys everywhere: [b]q[/b] closes a view and stops what it started (on the sidebar: quit), "
    "[b]Esc[/b] goes back, [b]/[/b] filters, [b]j k g G[/b] move, [b]Enter[/b] on a log row shows the "
    "event. [b]?[/b] lists every key. [b]ctrl+t[/b] tails one container's syscalls beside the current view."
)


def welcome() -> Group:
    """The welcome text: paragraphs wrap to the width; the sidebar's sections stay a list, each item
    wrapping under its own text (a hanging indent), not under its bullet."""
    sections = Table.grid(padding=(0, 1), expand=True)
    sections.add_column(no_wrap=True)
    sections.add_column(ratio=1)
    for name, text in WELCOME_SECTIONS:
        sections.add_row("•", Text.from_markup(f"[b]{name}[/b]: {text}"))
    paragraphs = [Text.from_markup(p) for p in WELCOME_PARAGRAPHS]
    blank = Text("")
    return Group(paragraphs[0], blank, paragraphs[1], blank, sections, blank, Text.from_markup(WELCOME_KEYS))


PALETTE_DOCKER_TIMEOUT_S = 3.0  # the palette lists containers only if the daemon answers by then


class BeefinePalette(CommandPalette):
    """Textual's palette (8.2), made safe against keys that arrive in a burst; each guard is a crash
    the key fuzz test found (tests/tui/test_key_fuzz.py). Paging its list: widgets/textual_fixes.py."""

    def dismiss(self, result: Any = None) -> AwaitComplete:
        # Enter, Enter (or Esc, Enter) queued a second selection that dismissed it again once gone:
        # popping the last screen raised. Also seen with the palette alone on the stack (key fuzz,
        # seed 3419759685): there is no screen to go back to, so it stays
        if self.app.screen is not self or len(self.app.screen_stack) < 2:
            nothing: AwaitComplete = AwaitComplete.nothing()
            return nothing
        return super().dismiss(result)

    def _watch__list_visible(self) -> None:
        # the search worker or the "no matches" timer can finish after the palette was dismissed and
        # its widgets removed
        if self.query(CommandList) and self.query("#--input"):
            super()._watch__list_visible()


class BeefineCommands(Provider):
    """The command palette (: or ctrl+p): every screen, container and built-in probe, by name."""

    _containers: list[tuple[str, str, str]] = []
    _docker_note = ""

    async def startup(self) -> None:
        # listed once per palette opening, off the UI loop; a slow or absent daemon only means no
        # containers in the list (said in the palette), never a frozen palette
        self._containers = []
        self._docker_note = ""
        try:
            self._containers = await asyncio.wait_for(
                asyncio.to_thread(container_names, getattr(self.app, "ctx", None)), PALETTE_DOCKER_TIMEOUT_S
            )
        except TimeoutError:
            self._docker_note = "the Docker daemon did not answer in time"
        except Exception as e:
            self._docker_note = f"{type(e).__name__}: {e}"

    def _commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        screen = self.app.screen_stack[0] if self.app.screen_stack else None
        out: list[tuple[str, str, Callable[[], Any]]] = []
        if not isinstance(screen, ShellScreen):
            return out
        for v in VIEWS:
            out.append((f"Open {v.label}", v.description, partial(screen.open_view, v.key)))
        for name, short_id, state in self._containers:
            out.append(
                (
                    f"Container: {name}",
                    f"{short_id} {state}: its namespaces, cgroup, mounts, processes in the Container monitor",
                    partial(screen.open_container, short_id),
                )
            )
        if self._docker_note:
            note = f"containers not listed: {self._docker_note}"
            out.append(("Containers: not listed", note, partial(self.app.notify, note, severity="warning")))
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
