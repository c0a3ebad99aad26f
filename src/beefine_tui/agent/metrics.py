"""Prometheus exposition for `beefine-tui agent --metrics [ADDR:]PORT` (prometheus_client).

Per container (labels container_id, container_name, image, host): CPU seconds (a counter), memory,
its limit, network and block IO byte counters, pids. Per probe (labels probe, host): events received
and events lost by source (kernel: the ring buffer; bus: a reader slower than the probe). Values are
read when Prometheus scrapes, like node_exporter: nothing is sampled between scrapes. Loopback
unless an address is given.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from beefine_tui.errors import UsageError
from beefine_tui.events.bus import ProbeTally

DEFAULT_PORT = 9464
CONTAINER_LABELS = ("container_id", "container_name", "image", "host")


def parse_listen(spec: str) -> tuple[str, int]:
    """`PORT`, `ADDR:PORT` or `[V6ADDR]:PORT`; a bare port binds 127.0.0.1."""
    how = "give --metrics PORT or ADDR:PORT, e.g. --metrics 127.0.0.1:9464"
    s = spec.strip()
    host = "127.0.0.1"
    if s.startswith("["):
        end = s.find("]:")
        if end < 0:
            raise UsageError(f"--metrics {spec!r}: not [ADDR]:PORT", how)
        host, s = s[1:end], s[end + 2 :]
    elif ":" in s:
        host, s = s.rsplit(":", 1)
    if not s.isdigit() or not 0 < int(s) < 65536:
        raise UsageError(f"--metrics {spec!r}: the port must be a number from 1 to 65535", how)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--metrics {spec!r}: {host!r} is not an IP address", how) from None
    return host, int(s)


class RunTotals:
    """Per probe, runs and ns its BPF programs spent, as counters that only grow: a program's last
    seen count stays in its probe's total after the program is unloaded (a stream stopped), so
    Prometheus sees no reset. What ran between the last scrape and the unload is not counted."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[str, int, int]] = {}  # prog id -> (probe, runs, ns) at last look
        self._gone: dict[str, tuple[int, int]] = {}  # probe -> (runs, ns) of unloaded programs
        self._lock = threading.Lock()

    def update(
        self, ids_by_probe: dict[str, set[int]], counts: dict[int, tuple[int, int]]
    ) -> dict[str, tuple[int, int]]:
        """`counts`: prog id -> (run_cnt, run_time_ns) for the programs loaded now."""
        with self._lock:
            now: dict[int, tuple[str, int, int]] = {}
            for probe, ids in ids_by_probe.items():
                for i in ids:
                    if i in counts:
                        now[i] = (probe, *counts[i])
            for i, (probe, runs, ns) in self._last.items():
                if i not in now:
                    r0, n0 = self._gone.get(probe, (0, 0))
                    self._gone[probe] = (r0 + runs, n0 + ns)
            self._last = now
            out = dict(self._gone)
            for probe, runs, ns in now.values():
                r0, n0 = out.get(probe, (0, 0))
                out[probe] = (r0 + runs, n0 + ns)
            return out


# phases of a container's creation lasts from about a millisecond (hostname, pivot_root) to a minute
# (a pull of a big image): roughly 1-2.5-5 per decade over that span
PHASE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class PhaseDurations:
    """`beefine_creation_phase_seconds` (labels phase, host): how long each creation phase of finished
    traces took, from pull to exec (running, exit and teardown are the workload's life, not its
    creation). With a `spool` (agent/phase_spool.py), each scrape first takes the traces every agent
    of this host finished since: a `--remote` connection's agent is another process than the exporter."""

    def __init__(self, host: str = "", spool: Any = None) -> None:
        from beefine_tui.story.phases import PHASES

        self._spool = spool  # phase_spool.SpoolReader
        self._lock = threading.Lock()
        self._host = host or socket.gethostname()
        self._creation = frozenset(PHASES[: PHASES.index("exec") + 1])
        self._hist = Histogram(
            "beefine_creation_phase_seconds",
            "duration of each phase of traced container creations (agent trace)",
            labelnames=("phase", "host"),
            buckets=PHASE_BUCKETS,
            registry=None,  # collected through AgentCollector, in the exporter's own registry
        )

    def observe(self, phases: list[dict[str, Any]]) -> None:
        """One finished trace's phases (agent/tracing.py phase_rows): those done, with a duration."""
        for p in phases:
            ms = p.get("duration_ms")
            if p.get("name") in self._creation and p.get("state") == "done" and ms is not None:
                self._hist.labels(p["name"], self._host).observe(ms / 1000)

    def collect(self) -> Iterator[Metric]:
        if self._spool is not None:
            with self._lock:  # one reader of the spool at a time
                for phases in self._spool.read():
                    self.observe(phases)
        yield from self._hist.collect()


class AgentCollector(Collector):
    """Builds every metric at scrape time from `snapshot()` (docker.stats.Snapshot or None when there
    is no Docker) and `tallies()` (per-probe counts over every stream the agent ran)."""

    def __init__(
        self,
        snapshot: Callable[[], Any],
        tallies: Callable[[], dict[str, ProbeTally]],
        host: str = "",
        prog_ids: Callable[[], dict[str, set[int]]] | None = None,
        prog_counts: Callable[[], dict[int, tuple[int, int]]] | None = None,
        phases: PhaseDurations | None = None,
    ) -> None:
        self._phases = phases  # creation-phase durations of finished traces
        self._snapshot = snapshot
        self._tallies = tallies
        self._prog_ids = prog_ids  # probe -> ids of its BPF programs now
        self._prog_counts = prog_counts  # prog id -> (run_cnt, run_time_ns), counting on
        self._runs = RunTotals()
        self._host = host or socket.gethostname()
        self._lock = threading.Lock()  # one scrape at a time reads the stats collector

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snap = self._snapshot()
            tallies = self._tallies()
            runs = self._run_totals()
        yield from self._containers(snap)
        yield from self._probes(tallies)
        if runs is not None:
            yield from self._bpf_runs(runs)
        if self._phases is not None:
            yield from self._phases.collect()

    def _run_totals(self) -> dict[str, tuple[int, int]] | None:
        if self._prog_ids is None or self._prog_counts is None:
            return None
        ids = self._prog_ids()
        return self._runs.update(ids, self._prog_counts() if ids else {})

    def _bpf_runs(self, runs: dict[str, tuple[int, int]]) -> Iterator[Metric]:
        count = CounterMetricFamily(
            "beefine_probe_bpf_runs",
            "times a probe's BPF programs ran (kernel run_cnt)",
            labels=("probe", "host"),
        )
        secs = CounterMetricFamily(
            "beefine_probe_bpf_run_seconds",
            "time a probe's BPF programs ran (kernel run_time_ns)",
            labels=("probe", "host"),
        )
        for probe, (n, ns) in sorted(runs.items()):
            count.add_metric([probe, self._host], n)
            secs.add_metric([probe, self._host], ns / 1e9)
        yield count
        yield secs

    def _containers(self, snap: Any) -> Iterator[Metric]:
        def fam(kind: type, name: str, doc: str) -> Any:
            return kind(name, doc, labels=CONTAINER_LABELS)

        cpu = fam(CounterMetricFamily, "beefine_container_cpu_seconds", "CPU time used by the container")
        mem = fam(GaugeMetricFamily, "beefine_container_memory_working_set_bytes", "memory in use")
        lim = fam(
            GaugeMetricFamily, "beefine_container_memory_limit_bytes", "memory limit (host RAM if none)"
        )
        rx = fam(CounterMetricFamily, "beefine_container_network_receive_bytes", "bytes received")
        tx = fam(CounterMetricFamily, "beefine_container_network_transmit_bytes", "bytes sent")
        rd = fam(CounterMetricFamily, "beefine_container_blkio_read_bytes", "bytes read from block devices")
        wr = fam(CounterMetricFamily, "beefine_container_blkio_write_bytes", "bytes written to block devices")
        pids = fam(GaugeMetricFamily, "beefine_container_pids", "processes and threads in the container")
        up = GaugeMetricFamily("beefine_docker_up", "1 when the Docker daemon answered", labels=("host",))
        ok = snap is not None and not snap.error
        up.add_metric([self._host], 1.0 if ok else 0.0)
        yield up
        rows = snap.rows if ok else []
        for r in rows:
            labels = [r.id, r.name, r.image, self._host]
            for family, value, scale in (
                (cpu, r.cpu_ns, 1e-9),
                (mem, r.mem_bytes, 1),
                (lim, r.mem_limit, 1),
                (rx, r.net_rx, 1),
                (tx, r.net_tx, 1),
                (rd, r.blk_read, 1),
                (wr, r.blk_write, 1),
                (pids, r.pids, 1),
            ):
                if value is not None:  # unknown is left out, never exported as 0
                    family.add_metric(labels, value * scale)
        yield from (cpu, mem, lim, rx, tx, rd, wr, pids)

    def _probes(self, tallies: dict[str, ProbeTally]) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "beefine_probe_events", "events a probe delivered to the agent", labels=("probe", "host")
        )
        lost = CounterMetricFamily(
            "beefine_probe_lost_events",
            "events lost: kernel (ring buffer full) or bus (a reader slower than the probe)",
            labels=("probe", "source", "host"),
        )
        for probe, t in sorted(tallies.items()):
            events.add_metric([probe, self._host], t.received)
            lost.add_metric([probe, "kernel", self._host], t.lost_kernel)
            lost.add_metric([probe, "bus", self._host], t.lost_bus)
        yield events
        yield lost


def serve_metrics(addr: str, port: int, collector: Collector) -> Callable[[], None]:
    """Serve /metrics on addr:port in a thread; returns the function that stops it."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    try:
        server, thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as e:
        raise UsageError(f"--metrics {addr}:{port}: cannot listen there ({e.strerror})") from None

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(5)

    return stop
