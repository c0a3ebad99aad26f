"""What every view shares: the typed way to reach the app's services, stopping a session without
blocking the UI, and the built-in probe list for choosers.

Views reach services only through the AppContext returned by `app_context(self)`; it is typed, so a
misspelt service is a mypy error, not a runtime AttributeError. Keeping these here (and not in shell.py or
probe_view.py) is what lets shell import the views without the views importing shell back.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from textual.dom import DOMNode
from textual.suggester import Suggester

from beefine_tui.agent.remote_context import RemoteContext
from beefine_tui.agent.remote_monitor import RemoteMonitorSource
from beefine_tui.appcontext import AppContext, Stoppable
from beefine_tui.probes.catalog import all_probes


def app_context(node: DOMNode) -> AppContext:
    """The AppContext of the app `node` runs in; TypeError (a programming error) if it has none."""
    ctx = getattr(node.app, "ctx", None)
    if not isinstance(ctx, AppContext):
        raise TypeError(f"{type(node.app).__name__} has no AppContext at .ctx: views run inside BeefineApp")
    return ctx


def stop_in_background(ctx: AppContext, thing: Stoppable) -> None:
    """Stop `thing` without blocking the UI. It leaves the context first so ctx.close() does not stop it
    a second time concurrently; the thread is not a daemon, so the process waits for it at exit."""
    ctx.disown(thing)
    threading.Thread(target=thing.stop, name="stop-session", daemon=False).start()


def probe_names() -> list[tuple[str, str]]:
    """(name, description) of every built-in probe; empty if the catalog cannot load."""
    try:
        return [(p.name, p.spec.description) for p in all_probes().values()]
    except Exception:
        return []


def view_origin_ns(app: Any) -> int:
    """Now, on the kernel's clock (CLOCK_MONOTONIC ns), as the app's clock says (frozen in tests)."""
    clock = getattr(app, "clock", None) or time.monotonic
    return int(clock() * 1e9)


def container_names(ctx: Any) -> list[tuple[str, str, str]]:
    """(name, short id, state) of every container of the daemon in use; empty without one. Over
    --remote, the hosts' containers (as `HOST/NAME`, `HOST/ID` when there are several hosts)."""
    if isinstance(ctx, RemoteContext):
        pre = "{}/" if len(ctx.links) > 1 else ""
        listed = RemoteMonitorSource(ctx).listing()
        return [(pre.format(h) + c.name, pre.format(h) + c.id[:12], c.state) for h, c in listed]
    if ctx is None or getattr(ctx, "docker_host", None) is None:
        return []
    out = []
    for c in ctx.docker_client().api.containers(all=True):
        name = (c.get("Names") or ["/?"])[0].lstrip("/")
        out.append((name, str(c["Id"])[:12], str(c.get("State", ""))))
    return out


class ContainerSuggester(Suggester):
    """Completes a running container's name (or short id) as it is typed (→ or End accepts it). The
    daemon is asked off the UI loop, at most every `ttl` seconds, giving up after `timeout`: a slow or
    absent daemon means no completion, never a frozen input."""

    def __init__(self, ctx: Callable[[], Any], ttl: float = 2.0, timeout: float = 3.0) -> None:
        super().__init__(use_cache=False, case_sensitive=False)  # containers come and go: no cache
        self.ctx = ctx
        self.ttl = ttl
        self.timeout = timeout
        self._names: list[str] = []
        self._at = -1e9

    async def names(self) -> list[str]:
        now = time.monotonic()
        if now - self._at >= self.ttl:
            self._at = now
            try:
                listed = await asyncio.wait_for(asyncio.to_thread(container_names, self.ctx()), self.timeout)
            except Exception:
                listed = []  # no daemon, or it did not answer in time: nothing to complete from
            running = [(n, i) for n, i, state in listed if state == "running"]
            self._names = [n for n, _ in running] + [i for _, i in running]
        return self._names

    async def get_suggestion(self, value: str) -> str | None:
        if not value:
            return None
        for name in await self.names():
            if name.casefold().startswith(value) and len(name) > len(value):
                return name
        return None
