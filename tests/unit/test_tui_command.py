"""`beefine-tui` (the tui command) exits non-zero and says so when the app died on an unhandled error:
a crash must not look like a clean quit to a script or to the user's shell."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import beefine_tui.app as app_module
from beefine_tui.cli import build_parser
from beefine_tui.commands import tui


class FakeApp:
    def __init__(self, ctx: Any, **kw: Any) -> None:
        self.return_code: int | None = None
        self.exit_signal = 0
        self.ui_exited = threading.Event()
        self.closed = 0

    def close_context(self) -> None:
        self.closed += 1

    def run(self) -> int | None:
        raise NotImplementedError


@contextlib.contextmanager
def no_daemon(args: Any) -> Iterator[tuple[None, None, str]]:
    yield None, None, "no daemon in this test"


@pytest.mark.parametrize(("returned", "code", "expected"), [(None, 1, 1), (0, 0, 0), (None, 0, 0)])
def test_exit_status_follows_how_the_app_ended(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    returned: int | None,
    code: int,
    expected: int,
) -> None:
    class App(FakeApp):
        def run(self) -> int | None:
            self.return_code = code
            return returned

    monkeypatch.setattr(app_module, "BeefineApp", App)
    monkeypatch.setattr(tui, "_check_terminal", lambda: None)
    monkeypatch.setattr(tui, "_daemon", no_daemon)
    monkeypatch.setattr(tui, "terminal_for_textual", contextlib.nullcontext)
    monkeypatch.setattr(tui, "_reap_left_behind", lambda host: "")
    assert tui.run(build_parser().parse_args(["tui"])) == expected
    err = capsys.readouterr().err
    assert ("internal error" in err) == bool(code)


def test_a_signal_exit_is_128_plus_the_signal_and_waits_for_the_cleanup(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGHUP/SIGTERM end the app through Textual's exit: the status says which signal, no "internal
    error", and the probes' detaching (still running in the app's cleanup thread) is waited for."""
    apps: list[FakeApp] = []

    class App(FakeApp):
        def run(self) -> int | None:
            apps.append(self)
            self.exit_signal = 1
            return 129

    monkeypatch.setattr(app_module, "BeefineApp", App)
    monkeypatch.setattr(tui, "_check_terminal", lambda: None)
    monkeypatch.setattr(tui, "_daemon", no_daemon)
    monkeypatch.setattr(tui, "terminal_for_textual", contextlib.nullcontext)
    monkeypatch.setattr(tui, "_reap_left_behind", lambda host: "")
    assert tui.run(build_parser().parse_args(["tui"])) == 129
    assert "internal error" not in capsys.readouterr().err
    assert apps[0].ui_exited.is_set() and apps[0].closed == 1


def test_a_textual_thread_left_spinning_does_not_keep_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """After the app ended, a non-daemon Textual thread that never stops (its input thread on a
    hung-up terminal) must not hold the process: it ends with the app's code. Our own threads are
    waited for first."""
    import threading

    from beefine_tui.commands import tui

    exits: list[int] = []
    monkeypatch.setattr(tui.os, "_exit", exits.append)
    release = threading.Event()
    ours_done = threading.Event()
    spinning = threading.Thread(target=release.wait, name="textual-input", daemon=False)

    def detach() -> None:  # like a probe session still detaching
        time.sleep(0.3)
        ours_done.set()

    ours = threading.Thread(target=detach, name="stop-session")
    spinning.start()
    ours.start()
    try:
        tui.exit_past_stuck_ui_threads(129, grace=0.2)
    finally:
        release.set()
        spinning.join()
        ours.join()
    assert ours_done.is_set(), "our own thread was not waited for"
    assert exits == [129]


def test_no_stuck_thread_no_forced_exit(monkeypatch: pytest.MonkeyPatch) -> None:
    from beefine_tui.commands import tui

    exits: list[int] = []
    monkeypatch.setattr(tui.os, "_exit", exits.append)
    tui.exit_past_stuck_ui_threads(0, grace=0.2)
    assert exits == []
