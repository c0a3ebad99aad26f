"""Shared test settings. Integration tests (marked `integration`/`e2e`) need root and real BPF;
they are part of `make test` and are skipped only when not root, saying why."""

from __future__ import annotations

import os
import signal

import pytest

# sysctl, stats_fds, old_kernel; lab, lab_client, cleanup_containers, as_nobody, ...
pytest_plugins = ["tests.stats_fakes", "tests.lab_fixtures", "tests.ssh_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    # A shell without job control starts `cmd &` with SIGINT and SIGQUIT ignored, and an ignored signal
    # stays ignored across exec: every child would then shrug off the ctrl+c and SIGINT deaths the
    # tests send (a `sleep` killed by SIGINT slept on; `trace` ignored ctrl+c). Tests must not depend
    # on how they were started.
    for sig in (signal.SIGINT, signal.SIGQUIT):
        if signal.getsignal(sig) is signal.SIG_IGN:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root: run `sudo make test`")
    for item in items:
        if "integration" in item.keywords or "e2e" in item.keywords:
            item.add_marker(skip)
