"""A failed import must be reported as what it is (BCC missing), never as a feature "not available yet"."""

from __future__ import annotations

import sys

import pytest

from beefine_tui.errors import ProbeLoadError
from beefine_tui.probes.base import import_bcc


def test_missing_bcc_names_bcc_and_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bcc", None)  # what `import bcc` sees when the bindings are absent
    with pytest.raises(ProbeLoadError) as e:
        import_bcc()
    assert "BCC's Python bindings cannot be imported" in e.value.message
    assert "bcc" in e.value.message.split(":", 1)[1]  # the import error's own words follow
    assert "python3-bpfcc" in e.value.hint
    assert "not available yet" not in e.value.message


def test_bcc_import_error_is_kept_as_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "bcc", None)
    with pytest.raises(ProbeLoadError) as e:
        import_bcc()
    assert isinstance(e.value.__cause__, ImportError)
