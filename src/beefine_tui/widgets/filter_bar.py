"""A one-line filter for live logs: plain words match the text, `field=value` matches a field.

Syntax (every term must match, case-insensitive):
    runc                 the formatted line contains "runc"
    comm=runc            the event's comm is exactly "runc"
    probe=mounts,files   probe is one of these
    pid=1234             numeric fields compare as numbers
    fstype=overlay       any key of `args` works too
    family=AF_INET       a typed field matches its raw value or its name (family=2 too)
    comm~run             field contains "run"
    !kind=exit           negation of any term
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input

from beefine_tui.events.model import LOST, Event

_TOP_FIELDS = ("probe", "kind", "pid", "tid", "ppid", "comm", "container", "text")


@dataclass(frozen=True)
class _Term:
    field: str | None  # None: substring of the whole line
    values: tuple[str, ...]
    contains: bool
    negate: bool

    def test(self, ev: Event, line: str) -> bool:
        if self.field is None:
            hit = self.values[0] in line.lower()
        else:
            if self.field in _TOP_FIELDS:
                hit = self._hit(getattr(ev, self.field))
            else:
                # the raw value (family=2), else what is shown for it (family=AF_INET): typed args
                # keep numbers, and names are derived only when the raw value did not match
                hit = self._hit(ev.args.as_dict().get(self.field)) or self._hit(ev.args.get(self.field))
        return hit != self.negate

    def _hit(self, raw: object) -> bool:
        if raw is None:
            return False
        s = str(raw).lower()
        return any((v in s) if self.contains else (v == s) for v in self.values)


class EventFilter:
    """A parsed filter; `EventFilter("")` matches everything."""

    def __init__(self, text: str = "") -> None:
        self.text = text.strip()
        self.terms: list[_Term] = []
        for word in self.text.split():
            negate = word.startswith("!") and len(word) > 1
            if negate:
                word = word[1:]
            for op, contains in (("~", True), ("=", False)):
                key, sep, value = word.partition(op)
                if sep and key and "=" not in key and "~" not in key:
                    values = tuple(v.lower() for v in value.split(",") if v) or ("",)
                    self.terms.append(_Term(key.lower(), values, contains, negate))
                    break
            else:
                self.terms.append(_Term(None, (word.lower(),), True, negate))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, ev: Event, line: str) -> bool:
        if ev.kind == LOST:
            return True  # loss is never filtered away
        return all(t.test(ev, line) for t in self.terms)

    def predicate(self, fmt: Callable[[Event], str]) -> Callable[[Event], bool]:
        return lambda ev: self.matches(ev, fmt(ev))


class FilterBar(Input):
    """Input that posts `FilterBar.Changed` as the user types; Escape clears and hides it."""

    DEFAULT_CSS = """
    FilterBar { display: none; height: 3; }
    FilterBar.-open { display: block; }
    """
    BINDINGS = [Binding("escape", "close", "Close filter", show=True)]

    class FilterChanged(Message):
        def __init__(self, bar: FilterBar, value: str) -> None:
            super().__init__()
            self.bar = bar
            self.value = value

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(
            placeholder="filter: words, field=value (comm=runc probe=mounts), !negate; Esc closes",
            id=id,
        )

    def open(self) -> None:
        self.add_class("-open")
        self.focus()

    def action_close(self) -> None:
        self.value = ""
        self.remove_class("-open")
        self.post_message(self.FilterChanged(self, ""))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.FilterChanged(self, event.value))

    # Enter (Input.Submitted) bubbles to the owner, which keeps the filter and refocuses its log
