"""RemoteContext (the TUI over --remote) against a stand-in agent behind a stand-in ssh
(tests/fake_agent.py), no root: stats and probe streams come from the agent, a cut connection is
said in the stream and retried with backoff, the stream resumes on the new agent, a newer agent is a
clear refusal, and closing says bye to every agent."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from beefine_tui.agent import remote_context as R
from beefine_tui.agent.client import AgentVersionError
from beefine_tui.events.bus import Bus
from beefine_tui.events.model import STATUS, Event
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.catalog import all_probes
from tests.fake_agent import install_fake_ssh


@pytest.fixture
def fake_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    all_probes()  # the exec kind's struct must be known to decode the agent's events
    ssh = install_fake_ssh(tmp_path)
    monkeypatch.setenv("BEEFINE_SSH", str(ssh))
    monkeypatch.setattr(R, "BACKOFF_FIRST_S", 0.2)
    return ssh


@pytest.fixture
def ctx(fake_ssh: Path) -> Iterator[R.RemoteContext]:
    c = R.connect_remotes(["root@h1:2222"])
    yield c
    c.close()


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(what)


def test_stats_come_from_the_agent(ctx: R.RemoteContext) -> None:
    snap = ctx.stats_collector().refresh()
    assert [r.name for r in snap.rows] == ["h1-web1", "h1-web2"]
    assert snap.daemon is not None and snap.daemon.host == "h1"
    assert ctx.connection_text() == "remote h1:2222"


def test_a_probe_stream_feeds_the_bus_and_stops_on_the_agent(ctx: R.RemoteContext) -> None:
    bus = Bus()
    sub = bus.subscribe("test", 1000)
    target = ctx.resolve_target("h1-web1")
    assert target.container_name == "h1-web1" and target.is_host  # resolved by the agent, not here
    session = ctx.start_probes(["exec"], ProbeOptions(target=target, path_prefix="/x"), bus)
    assert session.options == {"path_prefix": "/x"}  # the agent's own filters travel with start
    got: list[Event] = []

    def an_exec() -> bool:
        got.extend(sub.get(0.1))
        return any(e.kind == "exec" for e in got)

    _until(an_exec, 20, "no events")
    ex = next(e for e in got if e.kind == "exec")
    assert ex.container == "h1-web1" and "h1-event-1" in ex.text
    # the fake agent shares our clock: the shifted time is within the handshake's span of ours
    assert abs(ex.ts - time.monotonic_ns()) < 10e9
    client = ctx.links[0].client
    assert client is not None
    session.stop()
    session.stop()  # idempotent
    assert session.stream is None and ctx.links[0]._sessions == {}


def test_a_cut_connection_is_said_retried_and_the_stream_resumes(ctx: R.RemoteContext) -> None:
    bus = Bus()
    sub = bus.subscribe("test", 1000)
    ctx.start_probes(["exec"], ProbeOptions(), bus)
    link = ctx.links[0]
    first = link.client
    assert first is not None
    agent = psutil.Process(first.proc.pid)
    agent.kill()  # the link drops without a goodbye
    got: list[Event] = []

    def said(state: str) -> bool:
        got.extend(sub.get(0.1))
        return any(e.kind == STATUS and e.args.get("state") == state for e in got)

    _until(lambda: said("disconnected"), 20, "the lost connection was not said in the stream")
    _until(lambda: link.status.state == "up" and link.client is not first, 30, "never reconnected")
    assert link.status.reconnects == 1 and "reconnected 1x" in ctx.connection_text()
    got.clear()
    _until(lambda: said("running"), 20, "the stream did not resume on the new agent")
    assert link.client is not None and link.client.proc.pid != agent.pid


def test_lost_then_retrying_is_in_the_header_text(fake_ssh: Path) -> None:
    link = R.RemoteLink(R.parse_remote("h2"))
    link.connect_first()
    try:
        assert link.client is not None
        # every later connection fails: the state says lost and when it tries next
        link.argv = ["sh", "-c", "echo 'ssh: connect to host h2 port 22: Connection refused' >&2; exit 255"]
        link.client.proc.kill()
        _until(lambda: link.status.state == "lost" and "refused" in link.status.why, 30, "not lost")
        assert "connection lost, retrying in" in link.describe()
    finally:
        link.close()
    assert link.status.state == "closed"


def test_a_newer_agent_is_a_clear_refusal(fake_ssh: Path) -> None:
    with pytest.raises(AgentVersionError) as e:
        R.connect_remotes(["ok1", "v99host"])
    assert "v99host" in e.value.message and e.value.hint


def test_several_hosts_and_the_same_one_twice(fake_ssh: Path) -> None:
    ctx = R.connect_remotes(["h1", "admin@h2:2200"])
    try:
        assert [x.label for x in ctx.links] == ["h1", "h2:2200"]
        assert ctx.link("h2:2200").client is not None
    finally:
        ctx.close()
    assert all(x.client is None for x in ctx.links)
    from beefine_tui.errors import UsageError

    with pytest.raises(UsageError):
        R.connect_remotes(["h1", "root@h1"])


def test_the_remote_context_allows_bpf_views(ctx: R.RemoteContext) -> None:
    assert ctx.bpf_allowed


def test_host_slash_name_picks_the_host(fake_ssh: Path) -> None:
    ctx = R.connect_remotes(["h1", "admin@h2:2200"])
    try:
        t = ctx.resolve_target("h2:2200/web")
        assert isinstance(t, R.RemoteTarget) and (t.host, t.container_name) == ("h2:2200", "web")
        assert ctx.resolve_target("web").host == "h1"  # type: ignore[attr-defined]
        from beefine_tui.errors import UsageError

        with pytest.raises(UsageError) as e:
            ctx.resolve_target("h3/web")
        assert "h1, h2:2200" in e.value.hint
        s = ctx.start_probes(["exec"], ProbeOptions(target=t), Bus())
        assert s.link.label == "h2:2200" and s.container == "web"
    finally:
        ctx.close()


def test_hosts_stats_keep_the_hosts_that_answer(fake_ssh: Path) -> None:
    ctx = R.connect_remotes(["h1", "h2"])
    try:
        col = ctx.stats_collector()
        snap = col.refresh()
        assert list(zip(snap.hosts, [r.name for r in snap.rows], strict=True)) == [
            ("h1", "h1-web1"),
            ("h1", "h1-web2"),
            ("h2", "h2-web1"),
            ("h2", "h2-web2"),
        ]
        assert set(snap.daemons) == {"h1", "h2"} and not snap.error
        h2 = ctx.link("h2")
        h2.argv = ["sh", "-c", "exit 255"]
        assert h2.client is not None
        h2.client.proc.kill()
        _until(lambda: h2.status.state == "lost", 20, "h2 not lost")
        snap = col.refresh()
        assert set(snap.hosts) == {"h1"} and snap.host_errors and "h2" in snap.host_errors[0]
        assert not snap.error  # one host answered: the dashboard goes on showing it
    finally:
        ctx.close()


def test_kubectl_is_a_transport_like_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in kubectl (no cluster here) running the stand-in agent: the same link, stats and
    streams as over ssh, labelled NAMESPACE/POD."""
    all_probes()
    fake = tmp_path / "kubectl"
    agent = Path(__file__).resolve().parents[1] / "fake_agent.py"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import os, sys\n"
        "args = sys.argv[1:]\n"
        "assert args[:2] == ['exec', '-i'] and '--' in args, args\n"
        "pod = args[args.index('-n') + 2]\n"
        "env = dict(os.environ, FAKE_AGENT_HOST=pod)\n"
        f"os.execve(sys.executable, [sys.executable, {str(agent)!r}], env)\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("BEEFINE_KUBECTL", str(fake))
    ctx = R.connect_remotes(["kubectl://beefine/node1-agent"])
    try:
        assert ctx.connection_text() == "remote beefine/node1-agent"
        snap = ctx.stats_collector().refresh()
        assert snap.hosts == ["beefine/node1-agent"] * 2
        assert [r.name for r in snap.rows] == ["node1-agent-web1", "node1-agent-web2"]
    finally:
        ctx.close()


def test_losses_before_the_view_count_in_its_tally() -> None:
    """The agent's queue losses arrive as `lost` events of source bus, which a bus does not count when
    published; renamed, they count in the view's tally, as this client's own drops do."""
    from beefine_tui.agent import protocol as P
    from beefine_tui.events.model import lost_event

    link = R.RemoteLink(R.parse_remote("h1"), argv=["true"])
    bus = Bus()
    s = R.RemoteSession(link, ["exec"], None, bus)
    s.deliver(P.Events(stream=1, events=[lost_event("exec", 7, "bus"), lost_event("exec", 2, "kernel")]))
    s.dropped_here(5)
    t = bus.tally()["exec"]
    assert t.lost == 14
    # the strip names where: the agent's kernel (2) apart from the agent's queue and ours (7 + 5)
    assert (t.lost_kernel, t.lost_bus, t.lost_upstream) == (2, 0, 12)


def test_a_streams_first_events_before_its_session_attached_are_kept() -> None:
    """The agent sends a stream's first events right after its `start` reply: the routing thread may
    take them before start() attached the session. They wait for it, in order, and are not lost."""
    from beefine_tui.agent import protocol as P
    from beefine_tui.agent.client import Remote
    from beefine_tui.events.model import status_event

    class Early:
        dropped = 0

        def __init__(self, msgs: list[P.Message]) -> None:
            self.msgs = msgs

        def stream_messages(self, timeout: float) -> list[P.Message]:
            out, self.msgs = self.msgs, []
            return out

    link = R.RemoteLink(Remote(host="h1"), argv=["true"])
    first = P.Events(stream=7, events=[status_event("exec", "running")])
    other = P.Events(stream=8, events=[status_event("exec", "other stream")])
    link._route(Early([first, other]))  # type: ignore[arg-type]
    bus = Bus()
    sub = bus.subscribe("test", 100)
    s = R.RemoteSession(link, ["exec"], None, bus)
    s.stream = 7
    link.attach(s)
    later = P.Events(stream=7, events=[status_event("exec", "later")])
    link._route(Early([later]))  # type: ignore[arg-type]
    got = sub.get(0.5)
    assert [e.args.get("state") for e in got] == ["running", "later"]
    assert [m.stream for m in link._early] == [8]  # type: ignore[union-attr]
