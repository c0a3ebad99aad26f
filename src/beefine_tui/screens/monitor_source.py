"""MonitorSource: all the Container monitor asks of Docker, /proc and the probes, in one place (no
Textual here), so the view holds only layout and state; tests pass a fake with the same methods.
Over --remote, agent/remote_monitor.py's RemoteMonitorSource has the same methods (`monitor_source`
picks one)."""

from __future__ import annotations

import threading
from typing import Any

from beefine_tui.agent.remote_context import RemoteContext
from beefine_tui.agent.remote_monitor import RemoteMonitorSource
from beefine_tui.docker.inspect import ContainerReport, Sample
from beefine_tui.docker.netinfo import NetInfo
from beefine_tui.events.bus import Bus


class MonitorSource:
    """What the view asks of the outside world; tests pass a fake with the same methods."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self._samplers: dict[str, Any] = {}

    def client(self) -> Any:
        return self.ctx.docker_client()

    def containers(self) -> list[tuple[str, str]]:
        from beefine_tui.docker.inspect import list_containers

        return [(c.label(), c.id) for c in list_containers(self.client())]

    def report(self, cid: str) -> ContainerReport:
        from beefine_tui.docker.inspect import build_report

        return build_report(self.client(), cid)

    def sample(self, cid: str) -> Sample:
        from beefine_tui.docker.inspect import MonitorSampler

        s = self._samplers.get(cid)
        if s is None:
            s = self._samplers[cid] = MonitorSampler(self.client(), cid)
        result: Sample = s.sample()
        return result

    def network(self, cid: str, pid: int, pids: list[int], host_netns: bool) -> NetInfo:
        """Interfaces (with rx/tx), sockets and their owners, read now from /proc/PID/net (`pid`
        and `pids` from the report here; a remote source has its agent find them)."""
        from beefine_tui.docker.netinfo import read_netinfo

        return read_netinfo(pid, pids_in_container=pids, same_netns_as_host=host_netns)

    def answering_again(self, cid: str) -> str:
        """What the view says when samples come again after failing."""
        return "the Docker daemon answers again"

    def update(self, cid: str, memory: int | None, cpus: float | None, pids: int | None) -> str:
        from beefine_tui.docker.limits import update_limits

        return update_limits(self.client(), cid, memory=memory, cpus=cpus, pids=pids).text()

    def pause(self, cid: str) -> str:
        from beefine_tui.docker.limits import pause

        return pause(self.client(), cid).text()

    def unpause(self, cid: str) -> str:
        from beefine_tui.docker.limits import unpause

        return unpause(self.client(), cid).text()

    def start_probes(
        self, cid: str, names: tuple[str, ...], interface: str | None = None, bus: Bus | None = None
    ) -> Any:
        from beefine_tui.probes.attribution import target_for_container
        from beefine_tui.probes.base import ProbeOptions

        if interface is not None:
            return self.ctx.start_probes(list(names), ProbeOptions(interface=interface), bus=bus)
        target = target_for_container(self.client(), cid)
        return self.ctx.start_probes(list(names), ProbeOptions(target=target), bus=bus)

    def stop_probes(self, session: Any) -> None:
        self.ctx.disown(session)
        threading.Thread(target=session.stop, name="stop-monitor-probes", daemon=False).start()


def monitor_source(ctx: Any) -> MonitorSource | RemoteMonitorSource:
    """The view's source for the app's context: this machine's Docker and /proc, or, over --remote,
    the agents' (the same methods and result types)."""
    if isinstance(ctx, RemoteContext):
        return RemoteMonitorSource(ctx)
    return MonitorSource(ctx)
