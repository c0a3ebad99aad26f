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


def test_xdp_availability_looks_bcc_up_without_importing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A BCC that is there but fails to import is not "missing": xdp, like every BCC probe, only looks
    the module up, and import_bcc() says the real error at load."""
    import importlib.util

    from beefine_tui.probes import xdp

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "bcc" else real(n, *a))
    gone = xdp.available()
    assert not gone.ok and "python3-bpfcc" in gone.reason
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "bcc" else real(n, *a))
    monkeypatch.setitem(sys.modules, "bcc", None)  # found, but importing it fails
    assert "missing" not in xdp.available().reason
