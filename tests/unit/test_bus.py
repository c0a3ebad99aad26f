from __future__ import annotations

import threading

from beefine_tui.events.bus import Bus
from beefine_tui.events.model import LOST, UPSTREAM, Event, lost_event


def ev(i: int, probe: str = "p") -> Event:
    return Event(ts=i, probe=probe, kind="k")


def test_delivers_in_order_to_every_subscriber() -> None:
    bus = Bus()
    a, b = bus.subscribe("a"), bus.subscribe("b")
    bus.publish([ev(i) for i in range(10)])
    assert [e.ts for e in a.get(0.1)] == list(range(10))
    assert [e.ts for e in b.get(0.1)] == list(range(10))


def test_full_subscriber_drops_counts_and_reports_loss_as_event() -> None:
    bus = Bus()
    sub = bus.subscribe("slow", capacity=4)
    bus.publish([ev(i, "x") for i in range(10)])
    got = sub.get(0.1)
    lost = [e for e in got if e.kind == LOST]
    # the dropped events were ts 4..9: the report says when, for the story's phases
    assert len(lost) == 1
    assert lost[0].args.as_dict() == {"source": "bus", "count": 6, "first_ts": 4, "last_ts": 9}
    assert [e.ts for e in got if e.kind != LOST] == [0, 1, 2, 3]
    t = bus.tally()["x"]
    assert (t.received, t.lost_bus, t.lost_kernel) == (10, 6, 0)
    # received + lost accounts for everything offered
    assert t.received == 4 + t.lost_bus


def test_kernel_loss_reports_are_tallied_and_never_dropped() -> None:
    bus = Bus()
    sub = bus.subscribe("s", capacity=2)
    bus.publish([ev(1), ev(2), lost_event("p", 7, "kernel")])
    got = sub.get(0.1)
    assert any(e.kind == LOST and e.args["source"] == "kernel" for e in got)
    assert bus.tally()["p"].lost_kernel == 7


def test_upstream_loss_is_tallied_apart_from_the_kernels() -> None:
    bus = Bus()
    bus.publish([lost_event("p", 3, "kernel"), lost_event("p", 4, UPSTREAM)])
    t = bus.tally()["p"]
    assert (t.lost_kernel, t.lost_bus, t.lost_upstream, t.lost) == (3, 0, 4, 7)


def test_get_waits_at_most_timeout_and_wakes_on_publish() -> None:
    bus = Bus()
    sub = bus.subscribe("s")
    assert sub.get(0.01) == []
    threading.Timer(0.05, lambda: bus.publish([ev(1)])).start()
    assert [e.ts for e in sub.get(5.0)] == [1]


def test_publish_never_blocks_on_a_consumer_that_never_reads() -> None:
    bus = Bus()
    bus.subscribe("never-reads", capacity=10)
    for i in range(1000):
        bus.publish([ev(i)])
    assert bus.tally()["p"].lost_bus == 990


def test_closed_subscription_stops_receiving() -> None:
    bus = Bus()
    sub = bus.subscribe("s")
    sub.close()
    bus.publish([ev(1)])
    assert list(bus.subscribers()) == []
