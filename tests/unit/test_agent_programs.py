"""The agent's `load` and `unload` without BPF: bad arguments are refused clearly before anything is
compiled, an id this agent never gave is not unloaded, and a compiler or verifier refusal travels
with its log and line and becomes a ProbeLoadError on the client side (what the error panel shows)."""

from __future__ import annotations

from typing import Any

from beefine_tui.agent import protocol as P
from beefine_tui.errors import ProbeLoadError
from tests.unit.test_agent_protocol import Harness


def test_load_and_unload_refuse_bad_arguments() -> None:
    h = Harness()
    try:
        h.hello()
        bad: list[dict[str, Any]] = [
            {},
            {"source": "  "},
            {"source": "x", "engine": "ebpf-asm"},
            {"source": "x", "name": 3},
        ]
        for mid, args in enumerate(bad, 1):
            h.cmd("load", mid, **args)
            m = h.read()
            assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and m.id == mid, (args, m)
        # a source over the loader's limit (1 MiB) cannot fit on a command line: refused as a whole
        h.cmd("load", 9, source="x" * (1 << 20))
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.MALFORMED and "longer" in m.message
        h.cmd("unload", 10, program=1)
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.BAD_ARGS and "loaded by this agent" in m.message
        h.cmd("unload", 11)
        m = h.read()
        assert isinstance(m, P.Error) and m.code == P.BAD_ARGS
    finally:
        h.close()


def test_a_refusal_with_a_log_is_a_probe_load_error() -> None:
    import sys

    from beefine_tui.agent.client import AgentClient, AgentProgramError

    refusal = P.encode(
        P.Error(id=2, code=P.FAILED, message="the verifier rejected f", hint="h", log="R0 bad\nmore", line=8)
    )
    script = (
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "sys.stdin.readline()\n"
        f"out.write({P.encode(P.Reply(id=1, result={'protocol': P.PROTOCOL}))!r}); out.flush()\n"
        "sys.stdin.readline()\n"
        f"out.write({refusal!r}); out.flush()\n"
        "sys.stdin.readline()\n"
    )
    client = AgentClient([sys.executable, "-c", script], "far")
    try:
        client.handshake(timeout=30)
        try:
            client.request("load", timeout=30, source="int f() { return 0; }")
        except AgentProgramError as e:
            assert isinstance(e, ProbeLoadError)
            assert (e.message, e.hint, e.log, e.line) == (
                "far: the verifier rejected f",
                "h",
                "R0 bad\nmore",
                8,
            )
        else:
            raise AssertionError("the refusal was not raised")
    finally:
        client.close(timeout=5)
