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


class AgentCollector(Collector):
    """Builds every metric at scrape time from `snapshot()` (docker.stats.Snapshot or None when there
    is no Docker) and `tallies()` (per-probe counts over every stream the agent ran)."""

    def __init__(
        self, snapshot: Callable[[], Any], tallies: Callable[[], dict[str, ProbeTally]], host: str = ""
    ) -> None:
        self._snapshot = snapshot
        self._tallies = tallies
        self._host = host or socket.gethostname()
        self._lock = threading.Lock()  # one scrape at a time reads the stats collector

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            snap = self._snapshot()
            tallies = self._tallies()
        yield from self._containers(snap)
        yield from self._probes(tallies)

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
