"""TracepointAnchors' bookkeeping with fake perf events and a fake clock: one anchor per tracepoint,
closed in the background only after LINGER_S without a runner attaching or detaching, all at close,
none opened after it. (The real kernel: tests/integration/test_tracepoint_anchors.py.)"""

from __future__ import annotations

import threading

from beefine_tui.probes.tracepoint_anchors import TracepointAnchors
from tests.waiting import settles


class FakePerf:
    def __init__(self) -> None:
        self.next_fd = 100
        self.open: dict[int, str] = {}
        self.opened: list[str] = []
        self.lock = threading.Lock()

    def open_fn(self, tp: str) -> int:
        if tp.startswith("bad:"):
            raise OSError(2, f"no tracepoint {tp}")
        with self.lock:
            self.next_fd += 1
            self.open[self.next_fd] = tp
            self.opened.append(tp)
            return self.next_fd

    def close_fn(self, fd: int) -> None:
        with self.lock:
            del self.open[fd]  # KeyError: closed twice

    def open_tracepoints(self) -> list[str]:
        with self.lock:
            return sorted(self.open.values())


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def make(linger: float = 5.0) -> tuple[TracepointAnchors, FakePerf, Clock]:
    perf, clock = FakePerf(), Clock()
    return (
        TracepointAnchors(linger_s=linger, open_fn=perf.open_fn, close_fn=perf.close_fn, clock=clock),
        perf,
        clock,
    )


def test_one_anchor_per_tracepoint_and_refusals_are_noted() -> None:
    anchors, perf, _ = make()
    anchors.hold(["a:x", "a:y", "a:x", "bad:z"])
    anchors.hold(["a:y"])
    assert perf.opened == ["a:x", "a:y"]
    assert anchors.held() == ["a:x", "a:y"]
    assert "no tracepoint bad:z" in anchors.refused["bad:z"]
    anchors.close()
    assert perf.open_tracepoints() == []


def test_anchors_close_only_after_the_linger_and_never_while_busy() -> None:
    anchors, perf, clock = make(linger=5.0)
    anchors.hold(["a:x", "a:y"])
    clock.t += 4.0
    with anchors.busy():  # a runner attaches: the closer must wait, linger or not
        clock.t += 60.0
        threading.Event().wait(0.5)  # the closer polls every 0.2 s: give it the chance to be wrong
        assert perf.open_tracepoints() == ["a:x", "a:y"]
    # busy ended just now: LINGER_S counts from here
    threading.Event().wait(0.5)
    assert perf.open_tracepoints() == ["a:x", "a:y"]
    clock.t += 5.0
    settles(lambda: perf.open_tracepoints() == [], lambda: f"open: {perf.open_tracepoints()}", timeout=30)
    assert anchors.held() == []
    # a later detach opens them again, and the closer comes back for them
    anchors.hold(["a:x"])
    assert perf.open_tracepoints() == ["a:x"]
    clock.t += 5.0
    settles(lambda: perf.open_tracepoints() == [], "the second closer never ran", timeout=30)
    anchors.close()


def test_close_closes_all_at_once_and_nothing_opens_after() -> None:
    anchors, perf, _ = make(linger=3600)
    anchors.hold(["a:x", "a:y", "a:z"])
    anchors.close()
    anchors.close()  # idempotent: closing twice would raise in FakePerf
    assert perf.open_tracepoints() == [] and anchors.held() == []
    anchors.hold(["a:x"])
    assert perf.opened == ["a:x", "a:y", "a:z"]


def test_drop_closes_all_now_and_later_detaches_hold_again() -> None:
    anchors, perf, _ = make(linger=3600)
    anchors.hold(["a:x", "a:y"])
    anchors.drop()
    assert perf.open_tracepoints() == [] and anchors.held() == []
    anchors.hold(["a:y"])
    assert perf.open_tracepoints() == ["a:y"]
    anchors.close()
    assert perf.open_tracepoints() == []
