"""What every view shares: the typed way to reach the app's services, stopping a session without
blocking the UI, and the built-in probe list for choosers.

Views reach services only through the AppContext returned by `app_context(self)`; it is typed, so a
misspelt service is a mypy error, not a runtime AttributeError. Keeping these here (and not in shell.py or
probe_view.py) is what lets shell import the views without the views importing shell back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from textual.dom import DOMNode

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
