"""`diff` of two trace recordings: the real recordings of a default run and a no-new-privileges run
(fixtures/story), and fabricated ones that differ in one known way each."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import msgspec
import pytest

from beefine_tui.cli import main
from beefine_tui.events.model import Event, RecordHeader
from beefine_tui.events.record import Recorder, read_recording
from beefine_tui.probes.flags import CAPABILITIES
from beefine_tui.probes.security import CapsetArgs
from beefine_tui.story.diff import compare, diff_lines, load_trace
from beefine_tui.story.phases import PHASES

FIXTURES = Path(__file__).parent / "fixtures" / "story"
CAP_SYS_ADMIN = CAPABILITIES.index("CAP_SYS_ADMIN")


def unzip(tmp_path: Path, name: str) -> Path:
    p = tmp_path / name.removesuffix(".gz")
    p.write_bytes(gzip.decompress((FIXTURES / name).read_bytes()))
    return p


def events_of(p: Path) -> list[Event]:
    _, it = read_recording(p)
    return list(it)


def write(p: Path, events: list[Event], command: list[str] | None = None) -> Path:
    rec = Recorder.open(p, RecordHeader(probes=["exec"], command=command or ["beefine-tui", "trace", "x"]))
    rec.write(events)
    rec.close()
    return p


def test_same_recording_has_no_difference(tmp_path: Path) -> None:
    a = unzip(tmp_path, "run_default.jsonl.gz")
    d = compare(load_trace(a), load_trace(a))
    assert d["details"] == {} and d["kinds_only_a"] == {} and d["kinds_only_b"] == {}
    assert [r["phase"] for r in d["phases"]] == list(PHASES)
    assert not any(r["state_differs"] for r in d["phases"])


def test_default_vs_no_new_privs_real_recordings(tmp_path: Path) -> None:
    a = unzip(tmp_path, "run_default.jsonl.gz")
    b = unzip(tmp_path, "run_no_new_privs.jsonl.gz")
    d = compare(load_trace(a), load_trace(b))
    # two labs, two containers: ids, roots and the sandbox differ by nature and are not reported
    assert d["details"] == {
        "security": {
            "no_new_privs": {"a": False, "b": True},
            "no_new_privileges_in_config": {"a": False, "b": True},
        }
    }
    assert d["kinds_only_b"] == {"container_output": 1} and d["kinds_only_a"] == {}
    lines = diff_lines(d)
    assert "  no_new_privs: A false, B true" in lines
    assert any(line.startswith("security    done") for line in lines)


def test_a_phase_and_a_capability_that_differ(tmp_path: Path) -> None:
    base = events_of(unzip(tmp_path, "run_default.jsonl.gz"))
    caps = [e for e in base if e.kind == "capset"]
    assert caps, "the fixture has runc's capset"
    more = []
    for e in base:
        if isinstance(e.args, CapsetArgs):
            e = msgspec.structs.replace(
                e, args=msgspec.structs.replace(e.args, effective=e.args.effective | 1 << CAP_SYS_ADMIN)
            )
        if e.kind == "sethostname":
            continue  # B never set its hostname
        more.append(e)
    a = write(tmp_path / "a.jsonl", base)
    b = write(tmp_path / "b.jsonl", more)
    d = compare(load_trace(a), load_trace(b))
    assert d["details"]["security"]["capabilities"] == {"only_a": [], "only_b": ["CAP_SYS_ADMIN"]}
    assert "hostname" in d["details"]
    row = next(r for r in d["phases"] if r["phase"] == "hostname")
    assert row["state_differs"] and row["a"]["state"] == "done" and row["b"]["state"] != "done"
    assert d["kinds_only_a"] == {"sethostname": 1}
    text = "\n".join(diff_lines(d))
    assert "capabilities: only in B: CAP_SYS_ADMIN" in text and "sethostname (1)" in text


def test_cli_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = unzip(tmp_path, "run_default.jsonl.gz")
    b = unzip(tmp_path, "run_no_new_privs.jsonl.gz")
    assert main(["diff", str(a), str(b)]) == 0
    cap = capsys.readouterr()
    assert "no_new_privs: A false, B true" in cap.out
    assert "incomplete" in cap.err  # these captures predate the end marker: said, not hidden
    assert main(["diff", "--json", str(a), str(b)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["details"]["security"]["no_new_privs"] == {"a": False, "b": True}
    assert d["a"]["file"] == str(a) and d["a"]["complete"] is False


def test_network_none_shows_the_veth_and_eth0_setup_only_in_the_default_run() -> None:
    # two real runs in two labs: default (the netlink fixture) and --network none; dockerd runs the
    # setkey hook and brings lo up in both, so what differs is the veth pair, eth0, address and route
    d = compare(
        load_trace(FIXTURES / "run_netlink.jsonl.gz"), load_trace(FIXTURES / "run_network_none.jsonl.gz")
    )
    hook = next(r for r in d["phases"] if r["phase"] == "hook")
    assert hook["a"]["state"] == hook["b"]["state"] == "done"
    setup = d["details"]["hook"]["network_setup"]
    only_a = " | ".join(setup["only_a"])
    assert "veth pair made" in only_a and "renamed eth0" in only_a and "default route" in only_a
    assert setup["only_b"] == []  # lo up is in both: not a difference
    assert "hooks" not in d["details"]["hook"]
    down = d["details"]["teardown"]["network_teardown"]
    assert any("deleted" in s for s in down["only_a"]) and down["only_b"] == []


def test_two_default_runs_have_the_same_network_setup_once_run_names_are_scrubbed() -> None:
    # different labs: other ifindexes, veth names, fds, addresses; the same requests
    examples = Path(__file__).resolve().parents[2] / "examples"
    d = compare(load_trace(FIXTURES / "run_netlink.jsonl.gz"), load_trace(examples / "small.jsonl.gz"))
    assert "network_setup" not in d["details"].get("hook", {})
    assert "network_teardown" not in d["details"].get("teardown", {})
