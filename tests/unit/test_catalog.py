"""The tables derived from the probes' own definitions: each kind's note and the story's groups."""

from __future__ import annotations

import types

import pytest

from beefine_tui.probes import catalog
from beefine_tui.probes.base import ProbeSpec, StorySlot
from beefine_tui.story.explanations import KIND_EXPLANATIONS, KIND_SOURCES
from beefine_tui.story.trace import DEFAULT_GROUPS, GROUP_PROBES


def test_each_probe_explains_exactly_the_kinds_it_emits() -> None:
    for name, p in catalog.all_probes().items():
        explained = [n.kind for n in p.spec.explains]
        assert sorted(explained) == sorted(p.spec.kinds), name


def test_a_kind_two_probes_emit_has_one_note() -> None:
    notes = catalog.kind_notes()
    for name, p in catalog.all_probes().items():
        for n in p.spec.explains:
            assert n == notes[n.kind], f"{name} explains {n.kind} differently from another probe"


def test_the_story_tables_come_from_the_specs() -> None:
    for kind, note in catalog.kind_notes().items():
        assert KIND_EXPLANATIONS[kind] == note.text and KIND_SOURCES[kind] == note.source
    # the story's groups as they were written by hand before they were derived (less bt-mounts,
    # which never existed): BCC first in each slot, XDP last
    assert GROUP_PROBES == {
        "process": (("exec",), ("fork",)),
        "files": (("files",),),
        "mounts": (("mounts",),),
        "namespaces": (("namespaces", "bt-namespaces"),),
        "cgroups": (("cgroups", "bt-cgroups"),),
        "security": (("security", "bt-security"),),
        "network": (("sockets", "bt-sockets"), ("netlink",), ("xdp",)),
    }
    assert tuple(GROUP_PROBES) == DEFAULT_GROUPS


def test_a_new_probe_joins_the_story_from_its_own_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    probes = dict(catalog.all_probes())
    for name, place in (("bt-mounts", StorySlot(rank=1)), ("overlay", StorySlot(slot=1))):
        spec = ProbeSpec(name, "mounts", "bpftrace", "d", "t", f"{name}.bt", story=place)
        probes[name] = catalog.Probe(spec, types.ModuleType(name))
    probes["idle"] = catalog.Probe(ProbeSpec("idle", "aaa", "bcc", "d", "t", ""), types.ModuleType("idle"))
    probes["later"] = catalog.Probe(
        ProbeSpec("later", "aaa", "bcc", "d", "t", "", story=StorySlot()), types.ModuleType("later")
    )
    monkeypatch.setattr(catalog, "_cache", probes)
    groups = catalog.story_groups()
    assert groups["mounts"] == (("mounts", "bt-mounts"), ("overlay",))
    # a group GROUPS does not know comes after those it does; a probe without a slot is not loaded
    assert list(groups)[-1] == "aaa" and groups["aaa"] == (("later",),)
