"""The spool that carries finished traces' phases from any agent of a host to its exporter, on a
temp file: a reader sees each trace appended after it started exactly once, across rotations and
before the file exists; bad lines are skipped and counted; the file is root-only and never followed
through a symbolic link; the histogram takes the spool's traces at scrape time."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from beefine_tui.agent import phase_spool as S
from beefine_tui.agent.metrics import AgentCollector, PhaseDurations


def trace(n: int) -> list[dict[str, object]]:
    return [{"name": "exec", "state": "done", "duration_ms": float(n)}]


def test_a_reader_sees_what_came_after_it(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    S.append(trace(1), path)
    r = S.SpoolReader(path)
    assert r.read() == []
    S.append(trace(2), path)
    S.append(trace(3), path)
    assert r.read() == [trace(2), trace(3)]
    assert r.read() == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_reader_started_before_the_first_trace_sees_it(tmp_path: Path) -> None:
    path = tmp_path / "run" / "spool.jsonl"
    r = S.SpoolReader(path)
    assert r.read() == []
    S.append(trace(1), path)
    assert r.read() == [trace(1)]
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_every_trace_once_across_rotations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "spool.jsonl"
    monkeypatch.setattr(S, "MAX_BYTES", 300)  # a few lines a generation
    r = S.SpoolReader(path)
    seen: list[list[dict[str, object]]] = []
    for n in range(60):
        S.append(trace(n), path)
        if n % 3 == 0:  # scrapes now and then, never a whole generation apart
            seen += r.read()
    seen += r.read()
    assert seen == [trace(n) for n in range(60)]
    assert path.with_name("spool.jsonl.1").exists()
    assert path.stat().st_size <= 300 and path.with_name("spool.jsonl.1").stat().st_size <= 300


def test_bad_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    S.append(trace(1), path)
    r = S.SpoolReader(path)
    with open(path, "ab") as f:
        f.write(b"not json\n{}\n" + b'{"phases": 3}\n')
    S.append(trace(2), path)
    assert r.read() == [trace(2)] and r.skipped == 3


def test_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    link = tmp_path / "spool.jsonl"
    os.symlink(target, link)
    with pytest.raises(OSError):
        S.append(trace(1), link)
    assert target.read_text() == ""


def test_the_histogram_takes_the_spool_at_scrape_time(tmp_path: Path) -> None:
    path = tmp_path / "spool.jsonl"
    phases = PhaseDurations(host="h1", spool=S.SpoolReader(path))
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(lambda: None, dict, host="h1", phases=phases))
    S.append(trace(3), path)  # as another agent of this host would, after a trace of its own
    S.append(trace(4), path)
    counts = {
        s.labels["phase"]: s.value
        for f in text_string_to_metric_families(generate_latest(reg).decode())
        for s in f.samples
        if s.name == "beefine_creation_phase_seconds_count"
    }
    assert counts == {"exec": 2}
