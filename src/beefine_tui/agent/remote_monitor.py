"""The Container monitor over --remote: what the view asks of its source (screens/monitor_source.py
MonitorSource), asked of the agent on the container's host instead (`containers`, `inspect`,
`sample`, `netinfo`, `limits`, `pause`, `unpause`; PROTOCOL.md). Each reply is decoded into the
struct the local source returns, so the view gets the same types whichever machine it watches.

A container is keyed `HOST/ID` (HOST a link's label; Docker names and ids hold no `/`, a kubectl
label may: the last `/` splits), so with several hosts one picker lists every host's containers.
Live probes are a RemoteSession on that host (RemoteContext.start_probes with a RemoteTarget).
"""

from __future__ import annotations

import threading
from typing import Any

import msgspec

from beefine_tui.agent.client import AgentClient
from beefine_tui.agent.remote_context import RemoteContext, RemoteLink, RemoteTarget
from beefine_tui.docker.inspect import ContainerBrief, ContainerReport, Sample
from beefine_tui.docker.limits import LimitChange
from beefine_tui.docker.netinfo import NetInfo
from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.events.bus import Bus
from beefine_tui.probes.base import ProbeOptions

REQUEST_S = 60.0  # one command's reply; a busy host's /proc scan or daemon takes a while
# what an agent without the monitor's commands cannot do, in "the agent on H is older and cannot ..."
WHAT = "run the Container monitor (it lacks the agent's {cmd!r} command)"


def split_key(key: str) -> tuple[str | None, str]:
    """`HOST/REF` -> (HOST, REF); a bare `REF` -> (None, REF): the first host."""
    host, sep, ref = key.rpartition("/")
    return (host if sep else None), ref


def short_key(key: str) -> str:
    """A key for messages: the host and a 12-character id (`db1/3f2a...`)."""
    host, ref = split_key(key)
    return f"{host}/{ref[:12]}" if host else ref[:12]


class RemoteMonitorSource:
    """MonitorSource's methods, answered by the agents of a RemoteContext."""

    def __init__(self, ctx: RemoteContext) -> None:
        self.ctx = ctx
        self.unlisted: list[str] = []  # why a host's containers are missing from the last list

    def _where(self, key: str) -> tuple[RemoteLink, str]:
        host, ref = split_key(key)
        if not ref:
            raise UsageError(f"{key!r}: no container after the host")
        return self.ctx.link(host), ref

    @staticmethod
    def _client(link: RemoteLink, cmd: str) -> AgentClient:
        """The host's client, once it is known to have `cmd`: an older agent is said to be older."""
        client = link.client_or_raise()
        client.require(cmd, WHAT.format(cmd=cmd))
        return client

    def _ask(self, key: str, cmd: str, **args: Any) -> Any:
        link, ref = self._where(key)
        return self._client(link, cmd).request(cmd, timeout=REQUEST_S, container=ref, **args)

    def listing(self) -> list[tuple[str, ContainerBrief]]:
        """(host, container) for every host's containers. A host that fails is left out, and said in
        `unlisted`, while another answers; when none does, the first failure is raised."""
        out: list[tuple[str, ContainerBrief]] = []
        failures: list[BeefineError] = []
        for link in self.ctx.links:
            try:
                raw = self._client(link, "containers").request("containers", timeout=REQUEST_S)
                rows = msgspec.convert(raw, list[ContainerBrief])
            except BeefineError as e:
                failures.append(e)
                continue
            out += [(link.label, c) for c in rows]
        self.unlisted = [e.message for e in failures]
        if failures and len(failures) == len(self.ctx.links):
            raise failures[0]
        return out

    def containers(self) -> list[tuple[str, str]]:
        """The picker's (label, key) rows; labels start `HOST/` when there are several hosts."""
        several = len(self.ctx.links) > 1
        return [((f"{h}/" if several else "") + c.label(), f"{h}/{c.id}") for h, c in self.listing()]

    def report(self, key: str) -> ContainerReport:
        link, ref = self._where(key)
        client = self._client(link, "sample")  # checked first: the report alone would not go on
        return msgspec.convert(client.request("inspect", timeout=REQUEST_S, container=ref), ContainerReport)

    def sample(self, key: str) -> Sample:
        return msgspec.convert(self._ask(key, "sample"), Sample)

    def network(self, key: str, pid: int, pids: list[int], host_netns: bool) -> NetInfo:
        """The host's agent finds the container's processes itself: `pid` and `pids` (this view's
        idea of them) are not sent."""
        return msgspec.convert(self._ask(key, "netinfo"), NetInfo)

    def answering_again(self, key: str) -> str:
        """Samples failed for a cut connection as much as for the host's Docker: name the host."""
        link, _ = self._where(key)
        return f"{link.label} answers again (its agent and its Docker daemon)"

    def update(self, key: str, memory: int | None, cpus: float | None, pids: int | None) -> str:
        limits = {k: v for k, v in (("memory", memory), ("cpus", cpus), ("pids", pids)) if v is not None}
        return msgspec.convert(self._ask(key, "limits", **limits), LimitChange).text()

    def pause(self, key: str) -> str:
        return msgspec.convert(self._ask(key, "pause"), LimitChange).text()

    def unpause(self, key: str) -> str:
        return msgspec.convert(self._ask(key, "unpause"), LimitChange).text()

    def start_probes(
        self, key: str, names: tuple[str, ...], interface: str | None = None, bus: Bus | None = None
    ) -> Any:
        link, ref = self._where(key)
        if interface is not None:
            # the xdp probe on the host end of the container's veth (named by the host's netinfo):
            # the host's agent attaches it there, as Inspect network does over --remote
            link.client_or_raise().require("interfaces", "attach XDP to a container's veth")
            options = ProbeOptions(interface=interface, target=RemoteTarget(host=link.label))
            return self.ctx.start_probes(list(names), options, bus=bus)
        target = RemoteTarget(container_name=ref, host=link.label)
        return self.ctx.start_probes(list(names), ProbeOptions(target=target), bus=bus)

    def stop_probes(self, session: Any) -> None:
        self.ctx.disown(session)
        # `stop` waits for the agent's reply: never on the UI thread
        threading.Thread(target=session.stop, name="stop-remote-monitor-probes", daemon=False).start()
