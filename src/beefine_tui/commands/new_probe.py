"""`beefine-tui new-probe NAME [--bcc|--bpftrace] [--dir DIR]`: write a commented skeleton of a
probe that loads as it is (an execve tracepoint printing pid, comm and filename)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from beefine_tui.errors import BeefineError, UsageError
from beefine_tui.templates import TEMPLATES, template_text

NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "name", metavar="NAME", help="the probe's name: letters, digits, - and _ (e.g. myexec)"
    )
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument(
        "--bcc",
        dest="engine",
        action="store_const",
        const="bcc",
        help="a BCC C program, NAME.c (the default)",
    )
    kind.add_argument(
        "--bpftrace", dest="engine", action="store_const", const="bpftrace", help="a bpftrace script, NAME.bt"
    )
    parser.set_defaults(engine="bcc")
    parser.add_argument("--dir", default=".", metavar="DIR", help="where to write it (default: here)")


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise UsageError(
            f"{name!r} is not a valid probe name",
            "use 1-64 letters, digits, '-' or '_', starting with a letter (e.g. myexec)",
        )
    return name


def render(name: str, engine: str) -> str:
    return template_text(engine, check_name(name))


def write_probe(name: str, engine: str = "bcc", directory: str | Path = ".") -> Path:
    """Write DIR/NAME.c or DIR/NAME.bt; refuses to overwrite anything."""
    if engine not in TEMPLATES:
        raise UsageError(f"unknown kind of probe {engine!r}", "use --bcc or --bpftrace")
    text = render(name, engine)
    d = Path(directory).expanduser()
    if not d.exists():
        raise UsageError(f"directory {d} does not exist", "create it first, or pick another with --dir")
    if not d.is_dir():
        raise UsageError(f"{d} is not a directory", "give a directory with --dir")
    path = d / f"{name}{TEMPLATES[engine][1]}"
    try:
        with open(path, "x", encoding="utf-8") as f:  # "x": fails if it exists, atomically
            f.write(text)
    except FileExistsError as e:
        raise UsageError(
            f"{path} already exists; not overwriting it", "choose another NAME or --dir, or remove the file"
        ) from e
    except OSError as e:
        raise BeefineError(f"cannot write {path}: {e.strerror or e}") from e
    return path


def run(args: argparse.Namespace) -> int:
    path = write_probe(args.name, args.engine, args.dir)
    kind = "BCC C program" if args.engine == "bcc" else "bpftrace script"
    print(f"wrote {path} ({kind}, probe user:{args.name})")
    print("  open it in the TUI: sudo beefine-tui, then Load eBPF -> Your programs")
    return 0
