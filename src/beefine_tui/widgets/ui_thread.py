"""Handing results from worker threads to the UI without ever blocking the worker.

Textual's `App.call_from_thread` waits for the callback's result with no timeout; a worker that
finishes while the app is exiting then waits forever for a loop that no longer runs its callbacks,
and the exit waits for the worker: a hang measured under CPU load when quitting during a probe start.
`call_later` posts a Callback message instead (thread-safe, returns at once, dropped once the widget
is closing), which is all the workers here need: none of them uses the callback's result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from textual.message_pump import MessagePump


def ui_soon(target: MessagePump, callback: Callable[..., Any], *args: Any) -> bool:
    """Run `callback(*args)` on the UI thread, in `target`'s context, without waiting.

    Returns False when `target` is closing (or the loop is gone) and the callback will not run.
    """
    with contextlib.suppress(RuntimeError):  # the loop closed between the check and the post
        return target.call_later(callback, *args)
    return False
