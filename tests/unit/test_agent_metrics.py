"""The agent's Prometheus exposition without Docker or BPF (fake snapshot and tallies), read back with
prometheus_client's own parser; and --metrics address parsing (loopback unless told otherwise)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from beefine_tui.agent.metrics import AgentCollector, parse_listen
from beefine_tui.docker.stats import ContainerRow, Snapshot, Totals
from beefine_tui.errors import UsageError
from beefine_tui.events.bus import ProbeTally


def test_parse_listen_binds_loopback_by_default() -> None:
    assert parse_listen("9464") == ("127.0.0.1", 9464)
    assert parse_listen("0.0.0.0:9100") == ("0.0.0.0", 9100)
    assert parse_listen("[::1]:9464") == ("::1", 9464)
    for bad in ("", "host:9464", "127.0.0.1:0", "127.0.0.1:http", "[::1]9464"):
        with pytest.raises(UsageError):
            parse_listen(bad)


def _samples(
    snap: Snapshot | None, tallies: dict[str, ProbeTally]
) -> dict[str, list[tuple[dict[str, str], float]]]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(lambda: snap, lambda: tallies, host="h1"))
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(generate_latest(reg).decode()):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def test_container_and_probe_series() -> None:
    rows = [
        ContainerRow(
            id="c1",
            name="web",
            image="busybox",
            state="running",
            cpu_ns=2_500_000_000,
            mem_bytes=100,
            mem_limit=1000,
            net_rx=5,
            net_tx=6,
            blk_read=7,
            blk_write=8,
            pids=3,
        ),
        ContainerRow(id="c2", name="db", image="busybox", state="running"),  # nothing known yet
    ]
    snap = Snapshot(ts=0.0, daemon=None, rows=rows, totals=Totals())
    got = _samples(snap, {"exec": ProbeTally(received=10, lost_kernel=2, lost_bus=3)})
    labels = {"container_id": "c1", "container_name": "web", "image": "busybox", "host": "h1"}
    assert got["beefine_container_cpu_seconds_total"] == [(labels, 2.5)]
    assert got["beefine_container_memory_working_set_bytes"] == [(labels, 100.0)]
    assert got["beefine_container_memory_limit_bytes"] == [(labels, 1000.0)]
    assert got["beefine_container_network_receive_bytes_total"] == [(labels, 5.0)]
    assert got["beefine_container_network_transmit_bytes_total"] == [(labels, 6.0)]
    assert got["beefine_container_blkio_read_bytes_total"] == [(labels, 7.0)]
    assert got["beefine_container_blkio_write_bytes_total"] == [(labels, 8.0)]
    assert got["beefine_container_pids"] == [(labels, 3.0)]
    assert got["beefine_docker_up"] == [({"host": "h1"}, 1.0)]
    assert got["beefine_probe_events_total"] == [({"probe": "exec", "host": "h1"}, 10.0)]
    assert sorted((d["source"], v) for d, v in got["beefine_probe_lost_events_total"]) == [
        ("bus", 3.0),
        ("kernel", 2.0),
    ]


def test_no_docker_is_said_not_hidden() -> None:
    got = _samples(None, {})
    assert got["beefine_docker_up"] == [({"host": "h1"}, 0.0)]
    assert "beefine_container_cpu_seconds_total" not in got


def test_bpf_run_counters_only_grow_across_unloads() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from beefine_tui.agent.metrics import AgentCollector

    ids: dict[str, set[int]] = {"exec": {1, 2}, "files": {3}}
    counts = {1: (10, 1_000), 2: (5, 500), 3: (7, 2_000_000_000)}
    col = AgentCollector(lambda: None, dict, host="h", prog_ids=lambda: ids, prog_counts=lambda: counts)
    reg = CollectorRegistry(auto_describe=False)
    reg.register(col)

    def value(name: str, probe: str) -> float:
        for line in generate_latest(reg).decode().splitlines():
            if line.startswith(f'{name}{{host="h",probe="{probe}"}}'):
                return float(line.split()[-1])
        raise AssertionError(f"no {name} for {probe}")

    assert value("beefine_probe_bpf_runs_total", "exec") == 15
    assert value("beefine_probe_bpf_run_seconds_total", "files") == 2.0
    counts[1] = (20, 2_000)
    assert value("beefine_probe_bpf_runs_total", "exec") == 25
    ids["exec"] = set()  # the stream stopped: its programs are unloaded
    del counts[1], counts[2]
    assert value("beefine_probe_bpf_runs_total", "exec") == 25  # a counter: no reset
    assert value("beefine_probe_bpf_run_seconds_total", "exec") == 2_500 / 1e9
    ids["exec"] = {4}  # started again: new programs add to the total
    counts[4] = (3, 30)
    assert value("beefine_probe_bpf_runs_total", "exec") == 28


def test_no_run_metrics_without_counting() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from beefine_tui.agent.metrics import AgentCollector

    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(lambda: None, dict, host="h"))
    assert "beefine_probe_bpf_runs" not in generate_latest(reg).decode()


def test_creation_phase_durations_are_a_histogram_per_phase_and_host() -> None:
    from beefine_tui.agent.metrics import PHASE_BUCKETS, PhaseDurations

    phases = PhaseDurations(host="h1")
    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(lambda: None, dict, host="h1", phases=phases))

    def row(name: str, ms: float | None, state: str = "done") -> dict[str, object]:
        return {"name": name, "state": state, "duration_ms": ms}

    phases.observe(
        [row("pull", None, "skipped"), row("rootfs", 3.2), row("exec", 0.4), row("running", 900.0)]
    )
    phases.observe([row("rootfs", 41_000.0), row("exec", 2.0), row("exit", None, "pending")])
    phases.observe([row("exec", 5.0, "failed")])  # a failed phase's span is not a creation's duration
    fams = {f.name: f for f in text_string_to_metric_families(generate_latest(reg).decode())}
    fam = fams["beefine_creation_phase_seconds"]
    assert fam.type == "histogram"
    got: dict[tuple[str, str, str], float] = {}
    for s in fam.samples:
        assert s.labels["host"] == "h1"
        got[(s.name, s.labels["phase"], s.labels.get("le", ""))] = s.value
    assert {p for _, p, _ in got} == {"rootfs", "exec"}  # not the workload's running, nor what did not happen
    assert got[("beefine_creation_phase_seconds_count", "rootfs", "")] == 2
    assert got[("beefine_creation_phase_seconds_sum", "rootfs", "")] == pytest.approx(41.0032)
    assert got[("beefine_creation_phase_seconds_count", "exec", "")] == 2
    # cumulative buckets: 0.4 ms under the first (1 ms), 2 ms from 2.5 ms on, 41 s only at 60 s
    bucket = {le: v for (n, p, le), v in got.items() if n.endswith("_bucket") and p == "exec"}
    assert bucket["0.001"] == 1 and bucket["0.0025"] == 2 and bucket["+Inf"] == 2
    rootfs = {le: v for (n, p, le), v in got.items() if n.endswith("_bucket") and p == "rootfs"}
    assert rootfs["0.0025"] == 0 and rootfs["0.005"] == 1 and rootfs["30.0"] == 1 and rootfs["60.0"] == 2
    assert PHASE_BUCKETS[0] == 0.001 and PHASE_BUCKETS[-1] == 60.0


def test_no_phase_series_before_a_trace_finished() -> None:
    from beefine_tui.agent.metrics import PhaseDurations

    reg = CollectorRegistry(auto_describe=False)
    reg.register(AgentCollector(lambda: None, dict, host="h1", phases=PhaseDurations(host="h1")))
    text = generate_latest(reg).decode()
    assert "beefine_creation_phase_seconds" in text  # described, so a dashboard finds the name
    assert "beefine_creation_phase_seconds_count{" not in text
