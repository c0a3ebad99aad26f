"""ev/s in status strips: a windowed rate, checked with a fake clock (no sleeping, no timing)."""

from __future__ import annotations

from beefine_tui.widgets.status_strip import RATE_WINDOW_S, WindowedRate


def _steady_batches(rate: float, batch_every: float, until: float) -> list[tuple[float, int]]:
    """(time, cumulative count) of a steady `rate` delivered in batches every `batch_every` s."""
    out, t, n = [], 0.0, 0
    while t <= until:
        out.append((t, n))
        t += batch_every
        n = int(t * rate)
    return out


def _rates(rate: float, batch_every: float, refresh_every: float, until: float) -> list[float]:
    batches = _steady_batches(rate, batch_every, until)
    meter = WindowedRate()
    seen, t, i = [], 0.0, 0
    total = 0
    while t <= until:
        while i < len(batches) and batches[i][0] <= t:
            total = batches[i][1]
            i += 1
        seen.append((t, meter.add(t, total)))
        t += refresh_every
    return [r for when, r in seen if when >= RATE_WINDOW_S]  # after the first full window


def test_steady_two_per_second_in_one_second_batches_reads_about_two() -> None:
    # the old strip (delta between two refreshes 0.5 s apart) read 0, 4, 0, 4 ... here
    rates = _rates(2.0, batch_every=1.0, refresh_every=0.5, until=30.0)
    assert rates
    assert all(1.5 <= r <= 2.5 for r in rates), rates


def test_steady_rate_in_small_batches_reads_the_rate() -> None:
    rates = _rates(1000.0, batch_every=0.05, refresh_every=0.5, until=20.0)
    assert all(990 <= r <= 1010 for r in rates), rates


def test_rate_falls_to_zero_once_the_window_has_no_events() -> None:
    meter = WindowedRate(window=5.0)
    meter.add(0.0, 0)
    meter.add(1.0, 100)
    assert meter.add(2.0, 100) == 50.0  # 100 events over 2 s
    for t in range(3, 8):
        last = meter.add(float(t), 100)
    assert last == 0.0


def test_frozen_clock_never_divides_by_zero() -> None:
    meter = WindowedRate()
    assert meter.add(100.0, 0) == 0.0
    assert meter.add(100.0, 5) == 0.0


def test_samples_stay_bounded() -> None:
    meter = WindowedRate(window=1.0)
    for i in range(10_000):
        meter.add(i * 0.01, i)
    assert len(meter._samples) <= 102
