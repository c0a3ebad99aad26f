"""Where the shipped BPF programs and bpftrace scripts are, installed or in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_CHECKOUT = _PACKAGE.parent.parent  # src/beefine_tui -> repo root


def _find(kind: str) -> Path:
    for base in (_PACKAGE / "_data" / kind, _CHECKOUT / kind):
        if base.is_dir():
            return base
    raise FileNotFoundError(f"no {kind}/ directory shipped with beefine_tui")


def bpf_dir() -> Path:
    return _find("bpf")


def bpftrace_dir() -> Path:
    return _find("bpftrace")


def bpf_source(name: str) -> str:
    """The text of bpf/<name> (e.g. "exec.bpf.c")."""
    return (bpf_dir() / name).read_text()


def bpftrace_script(name: str) -> str:
    return (bpftrace_dir() / name).read_text()
