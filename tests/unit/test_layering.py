"""The rule that keeps the app easy to change: engines know nothing of Textual, screens nothing of BPF.

`lint-imports` (contracts in pyproject.toml) enforces the whole layering in `make test`; this test is the
quick per-file version of the two main rules, and it checks that its own matcher can fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "beefine_tui"
ENGINES = ("probes", "docker", "story", "events")
UI = ("screens", "widgets")
ENGINE_FORBIDDEN = ("textual", "rich.live", "beefine_tui.screens", "beefine_tui.widgets", "beefine_tui.app")
UI_FORBIDDEN = (
    "bcc",
    "beefine_tui.probes.bcc_runner",
    "beefine_tui.probes.bcc_compile",
    "beefine_tui.probes.bcc_probe",
    "beefine_tui.probes.output_poll",
    "beefine_tui.probes.mmap_ring",
    "beefine_tui.probes.bpftrace_runner",
    "beefine_tui.probes.bpftrace_spawn",
    "beefine_tui.probes.xdp_runner",
    "beefine_tui.probes.user_program",
    "beefine_tui.docker.lab",
)


def imported_modules(source: str, filename: str = "<source>") -> set[str]:
    """Every module an import statement names, at any depth (function-level imports included).
    `from a import b` yields both `a` and `a.b`, since b may be a module."""
    tree = ast.parse(source, filename=filename)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def violations(imported: set[str], forbidden: tuple[str, ...]) -> set[str]:
    """The imported modules that are a forbidden module or inside one (`textual.app` is inside `textual`)."""
    return {m for m in imported for f in forbidden if m == f or m.startswith(f + ".")}


def files_in(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((SRC / pkg).rglob("*.py"))]


@pytest.mark.parametrize("path", files_in(*ENGINES), ids=lambda p: str(p.relative_to(SRC)))
def test_engines_do_not_import_textual(path: Path) -> None:
    bad = violations(imported_modules(path.read_text(), str(path)), ENGINE_FORBIDDEN)
    assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("path", files_in(*UI), ids=lambda p: str(p.relative_to(SRC)))
def test_screens_do_not_import_bcc_or_runners(path: Path) -> None:
    bad = violations(imported_modules(path.read_text(), str(path)), UI_FORBIDDEN)
    assert not bad, f"{path} imports {bad}"


def test_layering_check_sees_files() -> None:
    # guards against the parametrised tests above silently checking nothing
    assert files_in(*ENGINES)
    assert files_in(*UI)


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import textual", {"textual"}),
        ("from textual.widgets import Log", {"textual.widgets", "textual.widgets.Log"}),
        ("from rich.live import Live", {"rich.live", "rich.live.Live"}),
        ("import rich.live", {"rich.live"}),
        (
            "def f():\n    from beefine_tui.screens import shell\n",
            {"beefine_tui.screens", "beefine_tui.screens.shell"},
        ),
        ("from beefine_tui import app", {"beefine_tui.app"}),
    ],
)
def test_engine_check_catches_a_violating_module(source: str, found: set[str]) -> None:
    assert violations(imported_modules(source), ENGINE_FORBIDDEN) == found


@pytest.mark.parametrize(
    "source",
    [
        "import bcc",
        "from bcc import BPF",
        "def load():\n    from bcc.libbcc import lib\n",
        "from beefine_tui.probes.xdp_runner import list_interfaces",
        "from beefine_tui.probes import user_program",
        "from beefine_tui.docker import lab",
    ],
)
def test_ui_check_catches_a_violating_module(source: str) -> None:
    assert violations(imported_modules(source), UI_FORBIDDEN)


@pytest.mark.parametrize(
    "source",
    ["import rich.text", "from rich.console import Console", "import textualize_helper", "import bccx"],
)
def test_allowed_imports_are_not_flagged(source: str) -> None:
    # a prefix match must be a whole module name: `bccx` is not `bcc`, rich.text is not rich.live
    assert not violations(imported_modules(source), ENGINE_FORBIDDEN + UI_FORBIDDEN)
