"""StoryFeed (story/trace.py), the feeding shared by a run traced here and one traced by a host's
agent: the engine gets every event published before drain(), however the pump was placed, the
writer beside it gets exactly those, and stop() is idempotent."""

from __future__ import annotations

from collections.abc import Sequence

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import Event
from beefine_tui.story.engine import StoryEngine
from beefine_tui.story.trace import StoryFeed


def _batch(start: int, n: int) -> list[Event]:
    return [Event(ts=start + i, probe="exec", kind="tick", pid=start + i) for i in range(n)]


def test_drain_feeds_every_event_published_before_it() -> None:
    bus = Bus()
    written: list[Event] = []

    def write(batch: Sequence[Event]) -> None:
        written.extend(batch)

    feed = StoryFeed(StoryEngine(), on_batch=write)
    feed.start(bus.subscribe("t", 100_000), "test-feed")
    for k in range(50):
        bus.publish(_batch(k * 100, 100))
    feed.drain()
    assert feed.engine.event_count == 5_000
    assert [e.pid for e in written] == list(range(5_000))  # in order, each once
    # the story read after the drain is the engine's, not a stale one from the pump
    assert feed.latest() is feed.timeline()
    feed.stop()
    feed.stop()


def test_drain_without_a_pump_takes_nothing_and_stop_is_safe() -> None:
    feed = StoryFeed(StoryEngine())
    feed.drain()
    feed.stop()
    assert feed.engine.event_count == 0
