"""The kinds table of events/SCHEMA.md, made from the probes' own Args structs (`make schema`), so the
document cannot drift from what the decoders emit: tests/unit/test_schema.py compares the two."""

from __future__ import annotations

import inspect
import re
import sys
import typing
from pathlib import Path

import msgspec

from beefine_tui.docker import events as docker_events
from beefine_tui.events.model import Args, FreeArgs, LostArgs, StatusArgs, args_types
from beefine_tui.probes.catalog import all_probes

SCHEMA_MD = Path(__file__).resolve().parent.parent / "events" / "SCHEMA.md"
BEGIN = "<!-- kinds: generated from the Args structs by `make schema`; do not edit by hand -->"
END = "<!-- end of generated kinds -->"


def _type_name(tp: object) -> str:
    text = str(tp) if not isinstance(tp, type) else tp.__name__
    text = re.sub(r"\btyping\.", "", text)
    return text.replace("NoneType", "None").replace("|", "\\|")  # a bar would split the table cell


def _fields(cls: type[Args]) -> str:
    hints = typing.get_type_hints(cls)
    out = []
    for f in msgspec.structs.fields(cls):
        opt = "" if f.required else "?"
        out.append(f"{f.name}{opt}: {_type_name(hints.get(f.name, object))}")
    return ", ".join(out)


def _doc(cls: type[Args]) -> str:
    doc = inspect.cleandoc(cls.__doc__) if cls.__doc__ else ""  # its own, not a parent's
    return " ".join(doc.split("\n\n", 1)[0].split()).replace("|", "\\|")


def struct_for(kind: str, probe_module: str) -> type[Args] | None:
    """The struct a probe's kind decodes into: the one its own module (or its BCC twin's) defines."""
    matches = [c for c in args_types() if kind in c.kinds]
    if len(matches) == 1:
        return matches[0]
    own = [c for c in matches if c.__module__ == probe_module]
    return own[0] if own else None


def _row(probe: str, kind: str, cls: type[Args]) -> str:
    tag = cls.__struct_config__.tag
    return f"| {probe} | {kind} | {cls.__name__} (`{tag}`) | {_fields(cls)} | {_doc(cls)} |"


def kinds_markdown() -> str:
    lines = [
        BEGIN,
        "",
        "| probe | kind | args struct (tag) | fields (raw values; ? = optional) | about |",
        "|---|---|---|---|---|",
    ]
    for name, probe in all_probes().items():
        for kind in probe.spec.kinds:
            cls = struct_for(kind, probe.module.__name__)
            if cls is None:
                lines.append(f"| {name} | {kind} | (untyped) | | |")
                continue
            lines.append(_row(name, kind, cls))
    docker_kinds = sorted(
        (c for c in args_types() if c.__module__ == docker_events.__name__), key=lambda c: c.kinds
    )
    for cls in docker_kinds:
        for kind in cls.kinds:
            lines.append(_row(docker_events.DOCKER_PROBE, kind, cls))
    for cls in (LostArgs, StatusArgs, FreeArgs):
        lines.append(_row("any", ", ".join(cls.kinds) or "printf, map, users' kinds", cls))
    lines += ["", END]
    return "\n".join(lines)


def updated(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + kinds_markdown() + tail


def main() -> int:
    text = SCHEMA_MD.read_text()
    if BEGIN not in text:
        print(f"{SCHEMA_MD}: no {BEGIN!r} marker", file=sys.stderr)
        return 1
    SCHEMA_MD.write_text(updated(text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
