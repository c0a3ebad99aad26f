"""Waiting in tests for something another task or process does: bounded, polled, and failing with
what never happened. The bound is generous (a shared, busy machine); the time is never asserted.
`eventually` for async tests (the event loop runs meanwhile), `settles` for plain ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(cond: Callable[[], bool], what: str, timeout: float = 20, step: float = 0.05) -> None:
    """Return once `cond()` holds; raise AssertionError(what) if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(step)


def settles(
    cond: Callable[[], bool], what: str | Callable[[], str], timeout: float, step: float = 0.2
) -> None:
    """Return once `cond()` holds; raise AssertionError(what) if it has not within `timeout` seconds.
    `what` may be a function, to describe the state as it is when the wait gives up."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(step)
