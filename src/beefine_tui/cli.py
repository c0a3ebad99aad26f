"""`beefine-tui`: the TUI by default, headless subcommands for everything it shows.

Each subcommand is a module in beefine_tui.commands with `add_arguments(parser)` and
`run(args) -> int`; heavy imports (textual, bcc, docker) happen inside `run` so `--help` is fast.
No path out of here prints a traceback unless BEEFINE_DEBUG=1.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from beefine_tui import __version__
from beefine_tui.errors import BeefineError

# (subcommand, module, one-line help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("tui", "tui", "open the terminal app (the default)"),
    ("doctor", "doctor", "check this machine can run Beefine and say how to fix what is missing"),
    ("lab", "lab", "a private dockerd and local registry with offline images: up, down, status"),
    ("probe", "probe", "list built-in probes or run them headless"),
    (
        "syscalls",
        "syscalls",
        "every syscall a running container makes, strace-like, or a summary like strace -c",
    ),
    ("helpers", "helpers", "the BPF helper functions this kernel offers, per program type"),
    ("trace", "trace", "run an image and print the story of its creation, phase by phase"),
    ("image", "image", "an image's structure: index, manifest, config and layers"),
    (
        "inspect",
        "inspect",
        "a container's isolation: namespaces, cgroup, mounts, processes, network",
    ),
    ("stats", "stats", "the dashboard's table of running containers and their resource use"),
    ("progs", "progs", "BPF programs loaded on this machine, with run counts where available"),
    ("new-probe", "new_probe", "write a commented skeleton of your own probe that loads as it is"),
    ("replay", "replay", "open a recording (JSON lines) in the TUI or print it"),
    ("diff", "diff", "what differs between two `trace --record` recordings, phase by phase"),
    ("export", "export", "a recording's events, filtered, as CSV or JSON lines (streamed)"),
    ("agent", "agent", "the headless engine on stdin/stdout (JSON lines), for --remote over SSH"),
)


# subcommands whose modules set TRAILING_COMMAND: what follows `--` (or stray words after the
# positionals) is a command line for the container, never parsed as our options
_TRAILING: set[str] = set()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="beefine-tui",
        description="See with eBPF what the kernel does when Docker makes a container.",
    )
    parser.add_argument("--version", action="version", version=f"beefine-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module, help_text in COMMANDS:
        mod = importlib.import_module(f"beefine_tui.commands.{module}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
        if getattr(mod, "TRAILING_COMMAND", False):
            _TRAILING.add(name)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """parse_args, except that for a command taking a trailing command line (trace IMAGE -- CMD)
    options may come before or after IMAGE and everything after `--` is the command, untouched."""
    if not argv or argv[0] not in _TRAILING:
        return parser.parse_args(argv)
    tail: list[str] | None = None
    if "--" in argv:
        at = argv.index("--")
        argv, tail = argv[:at], argv[at + 1 :]
    args, extra = parser.parse_known_args(argv)
    unknown = [x for x in extra if x.startswith("-")]
    if unknown:
        parser.error(
            f"unrecognized arguments: {' '.join(unknown)} "
            f"(options for the container's command go after --: {argv[0]} [OPTIONS] IMAGE -- CMD ...)"
        )
    cmd = [*(args.cmd or []), *extra]
    if tail is not None:
        if cmd:
            parser.error(
                f"the command is given twice: {' '.join(cmd)!r} before -- and {' '.join(tail)!r} after"
            )
        cmd = tail
    args.cmd = cmd
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "tui")
    args = parse(parser, argv)
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help()
        return 2
    try:
        return int(run(args) or 0)
    except BeefineError as e:
        print(f"beefine-tui: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"  hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `beefine-tui ... | head`: the reader left; not an error worth a message
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except Exception as e:
        if os.environ.get("BEEFINE_DEBUG"):
            raise
        print(
            f"beefine-tui: internal error: {type(e).__name__}: {e}\n"
            "  hint: this is a bug; run again with BEEFINE_DEBUG=1 for the details and report it",
            file=sys.stderr,
        )
        return 70
