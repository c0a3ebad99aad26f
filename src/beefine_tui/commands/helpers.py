"""`beefine-tui helpers [--type TYPE] [--search TEXT] [--json]`: the BPF helper functions this
kernel offers, per program type, with signatures and short descriptions."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from beefine_tui.probes.helpers_catalog import Helper, HelperDoc, KernelHelpers


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", "-t", metavar="TYPE", help="program type, e.g. xdp, tracepoint, kprobe")
    parser.add_argument(
        "--search", "-s", metavar="TEXT", help="only helpers whose name or text contains TEXT"
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of text")
    from beefine_tui.commands.remote import add_remote_argument

    add_remote_argument(parser)


def run(args: argparse.Namespace) -> int:
    from beefine_tui.probes import helpers_catalog as hc

    if getattr(args, "remote", None):
        kh, docs = _remote_helpers(args)
    else:
        kh = hc.probe_kernel()
        docs = hc.load_docs()
    out = sys.stdout
    if args.type:
        t = hc.resolve_type(kh, args.type)
        helpers = hc.helpers_for(t, kernel=kh, docs=docs)
        if args.search:
            helpers = [h for h in helpers if hc.matches(h, args.search)]
        if args.json:
            json.dump(
                {
                    "type": t,
                    "verified": t in kh.verified,
                    "attach_note": kh.attach_notes.get(t, ""),
                    "count": len(helpers),
                    "bpftool_count": len(kh.bpftool_by_type.get(t, ())),
                    "helpers": [h.as_dict() for h in helpers],
                },
                out,
                indent=2,
            )
            out.write("\n")
        else:
            _print_helpers(helpers)
            how = "checked by loading" if t in kh.verified else "as bpftool reports (not re-checked)"
            print(
                f"\n{len(helpers)} helper{'s' if len(helpers) != 1 else ''} for {t} programs on this kernel "
                f"({how}; bpftool listed {len(kh.bpftool_by_type.get(t, ()))})"
                + (f" matching {args.search!r}" if args.search else ""),
                file=out,
            )
            if t in kh.attach_notes:
                print(f"note: {kh.attach_notes[t]}", file=out)
        if args.search and not helpers:
            print(f"no {t} helper matches {args.search!r}", file=sys.stderr)
            return 1
        return 0
    if args.search:
        found = hc.search(args.search, kernel=kh, docs=docs)
        if args.json:
            json.dump(
                [{**h.as_dict(), "types": hc.types_with_helper(h.name, kh)} for h in found], out, indent=2
            )
            out.write("\n")
        else:
            _print_helpers(found, kh)
        if not found:
            print(f"no helper matches {args.search!r}", file=sys.stderr)
            return 1
        return 0
    rows = [
        {
            "type": t,
            "count": len(kh.by_type[t]),
            "bpftool_count": len(kh.bpftool_by_type.get(t, ())),
            "verified": t in kh.verified,
            "loadable": kh.prog_types.get(t),
            "attach_note": kh.attach_notes.get(t, ""),
        }
        for t in kh.types
    ]
    if args.json:
        json.dump(rows, out, indent=2)
        out.write("\n")
        return 0
    print(f"{'PROGRAM TYPE':<26}{'HELPERS':>8}  NOTE", file=out)
    for r in rows:
        notes = [str(r["attach_note"])] if r["attach_note"] else []
        if not r["verified"]:
            notes.append(
                "not checked: this type loads only with a target (BTF function, device)"
                if not r["count"]
                else "not re-checked: bpftool's list"
            )
        print(f"{r['type']:<26}{r['count']:>8}  {'; '.join(notes)}", file=out)
    print(
        f"\n{len(rows)} program types (from {kh.types_source}). bpftool feature probe took "
        f"{kh.probe_seconds:.2f} s, the re-check {kh.verify_seconds:.2f} s. "
        "See one type with --type TYPE, or search with --search TEXT.",
        file=out,
    )
    return 0


def _remote_helpers(args: argparse.Namespace) -> tuple[KernelHelpers, dict[str, HelperDoc]]:
    """The host's kernel's helpers (and its docs of them), from its agent's `helpers`."""
    from beefine_tui.agent.client import connect
    from beefine_tui.agent.host_views import remote_helpers
    from beefine_tui.commands.remote import agent_args

    client = connect(args.remote, agent_args(args))
    try:
        # the first time on a host, the kernel is checked by loading one program per helper and type
        return remote_helpers(client)
    finally:
        client.close()


def _print_helpers(helpers: list[Helper], kh: KernelHelpers | None = None) -> None:
    from beefine_tui.probes import helpers_catalog as hc

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    for h in helpers:
        print(h.signature or h.name)
        if h.description:
            print(textwrap.fill(h.description, width=width, initial_indent="    ", subsequent_indent="    "))
        if kh is not None:
            print(
                textwrap.fill(
                    "types: " + ", ".join(hc.types_with_helper(h.name, kh)),
                    width=width,
                    initial_indent="    ",
                    subsequent_indent="    ",
                )
            )
