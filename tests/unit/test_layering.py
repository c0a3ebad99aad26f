"""The rule that keeps the app easy to change: engines know nothing of Textual, screens nothing of BPF."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "beefine_tui"
ENGINES = ("probes", "docker", "story", "events")
UI = ("screens", "widgets")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files_in(*packages: str) -> list[Path]:
    return [p for pkg in packages for p in sorted((SRC / pkg).rglob("*.py"))]


@pytest.mark.parametrize("path", files_in(*ENGINES), ids=lambda p: str(p.relative_to(SRC)))
def test_engines_do_not_import_textual(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in ("textual", "rich.live")}
    assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("path", files_in(*UI), ids=lambda p: str(p.relative_to(SRC)))
def test_screens_do_not_import_bcc(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] == "bcc"}
    assert not bad, f"{path} imports {bad}"


def test_layering_check_sees_files() -> None:
    # guards against the parametrised tests above silently checking nothing
    assert files_in(*ENGINES)
