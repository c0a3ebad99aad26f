"""The Docker screens over the fakes their own tests use, so the app shell can open every screen with no
Docker daemon: the real views, fed from recorded data."""

from __future__ import annotations

import dataclasses

import pytest

from beefine_tui.screens.container_monitor import ContainerMonitorView
from beefine_tui.screens.dashboard import DashboardView
from beefine_tui.screens.image_monitor import ImageMonitorView
from beefine_tui.screens.shell import VIEWS_BY_KEY
from tests.tui import test_container_monitor as monitor_fixture
from tests.tui import test_dashboard as dashboard_fixture
from tests.tui import test_image_monitor as image_fixture

CONTAINER_ID = monitor_fixture.CID


def use_fake_docker_views(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dashboard, Image monitor and Container monitor open on fakes instead of a daemon."""
    rows = [dashboard_fixture.row(1, 2.5, 10 << 20), dashboard_fixture.row(2, None, 12 << 20)]
    factories = {
        "dashboard": lambda: DashboardView(
            collector=dashboard_fixture.Recorded([dashboard_fixture.snap(rows, 1.0)]), interval=0.2
        ),
        "image-monitor": lambda: ImageMonitorView(image_fixture.FakeSource()),
        "container-monitor": lambda: ContainerMonitorView(
            source=monitor_fixture.FakeSource(), container=CONTAINER_ID, live_probes=False
        ),
    }
    for key, factory in factories.items():
        monkeypatch.setitem(VIEWS_BY_KEY, key, dataclasses.replace(VIEWS_BY_KEY[key], factory=factory))
