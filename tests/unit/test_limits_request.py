"""What the limits change sends to Docker, and bad input refused before anything is sent."""

from __future__ import annotations

import pytest

from beefine_tui.docker.limits import parse_cpus, parse_size, update_request
from beefine_tui.errors import UsageError


def test_parse_size() -> None:
    assert parse_size("64m") == 64 << 20
    assert parse_size("1.5g") == 3 << 29
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("100000") == 100000
    with pytest.raises(UsageError):
        parse_size("lots")


def test_parse_cpus() -> None:
    assert parse_cpus("0.5") == 0.5
    for bad in ("x", "-1"):
        with pytest.raises(UsageError):
            parse_cpus(bad)


def test_update_request() -> None:
    assert update_request(memory=64 << 20) == {"Memory": 64 << 20, "MemorySwap": 128 << 20}
    assert update_request(cpus=0.25, pids=0) == {"NanoCpus": 250_000_000, "PidsLimit": -1}
    assert update_request(pids=40) == {"PidsLimit": 40}
    with pytest.raises(UsageError):
        update_request()
    with pytest.raises(UsageError):
        update_request(memory=0)
