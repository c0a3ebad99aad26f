"""Probe templates shipped with the package: a BCC C program (probe.c) and a bpftrace script
(probe.bt), both tracing execve. `beefine-tui new-probe` writes them out; the TUI can open one
directly by kind ("bcc" / "bpftrace")."""

from __future__ import annotations

from importlib import resources

# kind -> (template file, extension of the written probe)
TEMPLATES: dict[str, tuple[str, str]] = {"bcc": ("probe.c", ".c"), "bpftrace": ("probe.bt", ".bt")}
_ALIASES = {"c": "bcc", "probe.c": "bcc", "bt": "bpftrace", "probe.bt": "bpftrace"}
DEFAULT_NAME = "my-probe"


def kind_of(name: str) -> str:
    """ "bcc" or "bpftrace" for a template name ("bcc", "c", "probe.c", "bpftrace", "bt", "probe.bt");
    KeyError for anything else."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in TEMPLATES:
        raise KeyError(f"no template named {name!r}: use one of bcc, bpftrace")
    return key


def template_text(kind: str, name: str = DEFAULT_NAME) -> str:
    """The template for `kind`, with its metadata name set to `name`. Loads as it is."""
    filename = TEMPLATES[kind_of(kind)][0]
    raw = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return raw.replace("{{name}}", name)
