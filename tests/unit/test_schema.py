"""Schema 2's contract: every kind a built-in probe declares has one typed struct with its own line,
is in SCHEMA.md, is explained with a source, and survives a JSON round trip."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from beefine_tui.docker import events as docker_events
from beefine_tui.events.model import Args, Event, EventReader, FreeArgs, args_types
from beefine_tui.probes import schema_doc
from beefine_tui.probes.catalog import all_probes
from beefine_tui.story.explanations import KIND_SOURCES, explain_kind

PROBE_KINDS = [(name, kind) for name, p in all_probes().items() for kind in p.spec.kinds]


def test_schema_md_kinds_table_is_the_generated_one() -> None:
    text = schema_doc.SCHEMA_MD.read_text()
    assert schema_doc.BEGIN in text and schema_doc.END in text
    assert schema_doc.updated(text) == text, "SCHEMA.md's kinds table is stale: run `make schema`"


@pytest.mark.parametrize(("probe", "kind"), PROBE_KINDS, ids=[f"{p}:{k}" for p, k in PROBE_KINDS])
def test_every_probe_kind_is_typed_explained_and_sourced(probe: str, kind: str) -> None:
    cls = schema_doc.struct_for(kind, all_probes()[probe].module.__name__)
    assert cls is not None and cls is not FreeArgs, f"{probe}:{kind} has no Args struct"
    assert "describe" in {k for c in cls.__mro__ if c is not Args for k in vars(c)}, f"{cls} has no line"
    assert explain_kind(kind), f"{kind} is not explained (story/explanations.py)"
    assert KIND_SOURCES.get(kind), f"{kind} names no primary source"


def test_tags_are_unique_and_the_reader_knows_them_all() -> None:
    tags = [str(c.__struct_config__.tag) for c in args_types()]
    assert len(tags) == len(set(tags)), sorted(t for t in tags if tags.count(t) > 1)
    EventReader()  # builds the tagged union: msgspec refuses duplicate or missing tags


def test_docker_kinds_round_trip() -> None:
    reader = EventReader()
    samples: list[Args] = [
        docker_events.PullStartArgs(image="r/x:1", run="r1"),
        docker_events.PullStatusArgs(id="abc", status="Downloading", current=1, total=2),
        docker_events.ContainerExitArgs(id="c" * 64, code=3),
        docker_events.ImageLayersArgs(image_layer_dirs=["a"], links={"L": "a"}),
    ]
    for args in samples:
        ev = Event(ts=1, probe="docker", kind=args.kinds[0], args=args)
        back = reader.decode(msgspec.json.encode(ev))
        assert back == ev and back.text == ev.text


def test_an_unknown_tag_is_kept_as_free_args() -> None:
    line = b'{"ts":1,"probe":"p","kind":"k","args":{"t":"from-the-future","x":1}}'
    ev = EventReader().decode(line)
    assert isinstance(ev.args, FreeArgs) and ev.args["x"] == 1


def test_a_v1_flight_dump_note_keeps_its_fields() -> None:
    from beefine_tui.events.model import StatusArgs, upgrade_v1_args
    from beefine_tui.probes.syscalls import FlightDumpArgs

    dump = {
        "state": "note",
        "note": "flight recorder",
        "flight_dump": True,
        "kept": 3,
        "made": 9,
        "reason": "asked",
    }
    assert upgrade_v1_args("status", dump, "") == FlightDumpArgs(
        state="note", note="flight recorder", kept=3, made=9, reason="asked"
    )
    assert upgrade_v1_args("status", {"state": "running"}, "") == StatusArgs(state="running")


def test_a_recording_is_stamped_with_the_schema_it_is_written_in(tmp_path: Path) -> None:
    """Events re-recorded from a schema-1 file are written in schema 2: the header must say so, or a
    reader would upgrade them a second time."""
    from beefine_tui.events.model import RecordHeader, StatusArgs
    from beefine_tui.events.record import Recorder
    from beefine_tui.replay import open_recording

    p = tmp_path / "r.jsonl"
    rec = Recorder.open(p, RecordHeader(schema=1, probes=["x"]))
    rec.write([Event(ts=1, probe="x", kind="status", args=StatusArgs(state="running"))])
    rec.close()
    header, events = open_recording(p)
    assert header.schema == 2 and [e.args for e in events] == [StatusArgs(state="running")]
