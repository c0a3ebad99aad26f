"""What the host-wide views (Helper functions, Loaded programs) read of a remote host, from its agent's
`helpers`, `progs` and `progs_stats`: the same requests and decoding as the headless `helpers
--remote` and `progs [--stats] --remote` (which call the functions below), so both show the same.

The sources have the methods of the views' local sources (screens/helpers_view.py LocalHelpers,
screens/programs_list.py LocalPrograms); each request goes to the link's current connection, so a
view keeps working after a reconnection. No Textual here: they run in the views' thread workers.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from beefine_tui.errors import BeefineError
from beefine_tui.probes import helpers_catalog as hc
from beefine_tui.probes.inventory import ProgRow, Rate

HELPERS_TIMEOUT_S = 600.0  # the first time on a host, its kernel is checked by loading (minutes)
PROGS_TIMEOUT_S = 60.0
STATS_INTERVAL_S = 1.0  # the window each refresh counts runs in while run counts are on


# ---- the requests, shared with the headless commands


def remote_helpers(client: Any) -> tuple[hc.KernelHelpers, dict[str, hc.HelperDoc]]:
    """The host's kernel's helpers and its docs of them (ours for what its man page lacks)."""
    client.require("helpers", "list its kernel's helpers")
    return hc.from_report(client.request("helpers", timeout=HELPERS_TIMEOUT_S), hc.load_docs())


def remote_progs(client: Any) -> list[ProgRow]:
    """Every program on the host (its agent is one of their holders: `ours` there means the agent's)."""
    got = client.request("progs", timeout=PROGS_TIMEOUT_S)
    try:
        return [ProgRow.from_json(d) for d in got]
    except (KeyError, TypeError, ValueError) as e:
        why = f"{client.label}: the agent's program list is not one this client reads: {e}"
        raise BeefineError(why) from None


def remote_progs_stats(client: Any, interval: float) -> tuple[list[ProgRow], dict[int, Rate], str | None]:
    """Every program on the host and what each ran during `interval` s, counted there by its agent."""
    client.require(
        "progs_stats", "count runs", "install the same beefine-tui version on both machines, or drop --stats"
    )
    got = client.request("progs_stats", timeout=interval + 120, interval=interval)
    try:
        rates = {r.prog_id: r for r in msgspec.convert(got["rates"], list[Rate])}
        return [ProgRow.from_json(d) for d in got["rows"]], rates, got.get("method")
    except (msgspec.ValidationError, KeyError, TypeError, ValueError) as e:
        why = f"{client.label}: the agent's run counts are not ones this client reads: {e}"
        raise BeefineError(why) from None


# ---- the views' remote sources


class RemoteHelpers:
    """The Helper functions view's data from one host's agent: fetched once (the agent caches the
    kernel check too), then every type's list is computed here."""

    def __init__(self, link: Any) -> None:
        self.link = link
        self.host: str = link.label
        self._lock = threading.Lock()
        self._report: tuple[hc.KernelHelpers, dict[str, hc.HelperDoc]] | None = None

    def _get(self) -> tuple[hc.KernelHelpers, dict[str, hc.HelperDoc]]:
        with self._lock:  # the types and helpers workers may both ask first: one request
            if self._report is None:
                self._report = remote_helpers(self.link.client_or_raise())
            return self._report

    def types(self) -> list[str]:
        return self._get()[0].types

    def helpers(self, prog_type: str) -> list[tuple[str, str, str]]:
        kh, docs = self._get()
        return [(h.name, h.signature, h.description) for h in hc.helpers_for(prog_type, kernel=kh, docs=docs)]

    def note(self, prog_type: str) -> str:
        return self._get()[0].attach_notes.get(prog_type, "")


@dataclass
class Collected:
    """One refresh of the Loaded programs view: the rows, and the rates when the source measured them
    itself (None: the view computes them from the run counts of two refreshes)."""

    rows: list[ProgRow]
    counting: bool = False  # run counts are on (turned on by someone else, when no rates are given)
    rates: dict[int, Rate] | None = None
    method: str | None = None


@dataclass
class RemotePrograms:
    """The Loaded programs view's data from one host's agent. Run counts on: each refresh is the
    agent's `progs_stats` (counting on there for STATS_INTERVAL_S through a BPF_ENABLE_STATS fd the
    host's kernel drops when the agent ends), so nothing stays on at the host between refreshes.
    Unloading: only a program this app had the agent load (Your programs); the others are said."""

    link: Any
    owned: Any  # () -> the app's owned things (AppContext.owned)
    interval: float = STATS_INTERVAL_S
    stats: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return str(self.link.label)

    @property
    def where(self) -> str:
        return self.host

    def collect(self) -> Collected:
        client = self.link.client_or_raise()
        if self.stats:
            rows, rates, method = remote_progs_stats(client, self.interval)
            return Collected(rows, counting=True, rates=rates, method=method)
        rows = remote_progs(client)
        return Collected(rows, counting=any(r.prog.run_cnt is not None for r in rows))

    def toggle_stats(self) -> str:
        with self._lock:
            self.stats = not self.stats
            on = self.stats
        if on:
            return self.stats_text() + "."
        return f"Run counts off: {self.host}'s agent no longer counts at each refresh."

    def stats_text(self) -> str:
        if not self.stats:
            return ""
        return (
            f"Run counts on at {self.host}: each refresh counts for {self.interval:g} s there "
            "(the agent's BPF_ENABLE_STATS fd, gone when it ends)"
        )

    def holder(self, prog_id: int) -> Any:
        """What to stop to unload `prog_id`: a program this app had this host's agent load."""
        return holder_of(prog_id, self.host, self.owned())

    def refusal(self, row_id: int, name: str, owner: str, ours: bool) -> str:
        if ours:
            return (
                f"Program {row_id} ({name}) is held by {self.host}'s agent for a live view of this app: "
                "close the view that started it (its probes stop there)."
            )
        return (
            f"Program {row_id} ({name}) on {self.host} was not loaded by this app's agent"
            + (f" (held by {owner})" if owner else "")
            + ": the agent unloads only what it loaded. Stop its owner on the host."
        )

    def close(self) -> None:
        self.stats = False


def holder_of(prog_id: int, host: str, owned: Iterable[Any]) -> Any:
    """The remote program (agent/remote_context.py RemoteProgram) on `host` holding `prog_id`."""
    for thing in owned:
        if getattr(thing, "host", None) != host or getattr(thing, "program", None) is None:
            continue
        with contextlib.suppress(TypeError):
            if prog_id in tuple(getattr(thing, "prog_ids", ()) or ()):
                return thing
    return None
