"""Key fuzz: on every screen, random presses drawn from the app's own bindings plus printable keys, at
80x24 and 120x40. The app must never raise, and must still answer a known key at the end.

Seeded: the seed is printed (pytest shows it on failure); replay one with BEEFINE_FUZZ_SEED=N. The count
per screen is BEEFINE_FUZZ_KEYS (default below: sized so both sizes take well under a minute here).
Quitting is counted, not done: a quit would end the fuzz, not find a bug.
"""

from __future__ import annotations

import os
import random
import string
import time
import unicodedata
from collections.abc import Callable
from typing import Any

import pytest
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.widgets import Tree

from beefine_tui.errors import ProbeLoadError
from beefine_tui.screens.shell import VIEWS, ShellScreen
from tests.tui.conftest import MakeApp, wait_until
from tests.tui.events_fixture import exec_events, mount_events
from tests.tui.keyboard_fakes import use_fake_docker_views

KEYS_PER_SCREEN = int(os.environ.get("BEEFINE_FUZZ_KEYS", "120"))
BURST = 6  # keys sent before waiting for the screen to handle them
# keys every screen may get besides the bindings: navigation, and text for the text boxes
NAVIGATION = ["up", "down", "left", "right", "home", "end", "pageup", "pagedown", "tab", "shift+tab"]
NAVIGATION += ["enter", "escape", "space", "backspace", "delete"]
PRINTABLE = list(string.ascii_letters + string.digits + "/:[]?=!~-_.,")


def binding_keys(app: Any) -> list[str]:
    """Every key the app, the shell and the open screen bind (what a user would try)."""
    keys: set[str] = set()
    for node in (app, *app.screen_stack):
        for key, _ in node._bindings:
            keys.add(key)
    for key in app.screen.active_bindings:
        keys.add(key)
    return sorted(keys)


def seed() -> int:
    return int(os.environ.get("BEEFINE_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_random_keys_on_every_screen_never_break_the_app(
    make_app: MakeApp, monkeypatch: pytest.MonkeyPatch, size: tuple[int, int]
) -> None:
    use_fake_docker_views(monkeypatch)

    def no_bpf_here(text: str) -> Any:
        raise ProbeLoadError("fuzz: loading a program is faked", "", log="1: error", line=1)

    import beefine_tui.probes.user_program as user_program

    monkeypatch.setattr(user_program, "load_user_program", no_bpf_here)
    the_seed = seed()
    print(f"key fuzz seed={the_seed} (BEEFINE_FUZZ_SEED={the_seed} replays it) size={size[0]}x{size[1]}")
    rng = random.Random(the_seed)
    app = make_app([*exec_events(40), *mount_events()])
    quits: list[str] = []

    async def counted_quit() -> None:
        quits.append("quit")

    monkeypatch.setattr(app, "action_quit", counted_quit)
    pressed = 0
    started = time.monotonic()
    async with app.run_test(size=size) as pilot:
        for view in VIEWS:
            # back to a known place, then open the screen the way a user does
            await settle(pilot)
            app.shell.open_view(view.key)
            tab_id = f"tab-{view.key}"
            # up to 20 s: the shared machine may be busy (the key count, not the time, is what is tested)
            await _wait(pilot, lambda: tab_id in app.shell.open_tab_ids(), f"{tab_id} open", the_seed)  # noqa: B023
            await pilot.pause()
            pool = binding_keys(app) + NAVIGATION + PRINTABLE
            for i in range(KEYS_PER_SCREEN):
                send_key(app, rng.choice(pool))
                pressed += 1
                if i % BURST == BURST - 1:
                    await pilot.pause(0)  # the screen has handled the burst
                    assert app.is_running, f"the app stopped after {pressed} keys (seed {the_seed})"
            await pilot.pause(0)
            # the next screen starts from a clean shell (and this one's stop_view runs)
            await settle(pilot)
            for _ in app.shell.open_tab_ids()[1:]:
                await pilot.press("ctrl+w")
        # keys still queued from the last burst may open a modal after settle() (a `?`): settle again
        for _ in range(5):
            await settle(pilot)
            await pilot.press("f1")
            await pilot.pause(0.2)
            if isinstance(app.screen, ShellScreen):
                break
        await _wait(pilot, lambda: isinstance(app.focused, Tree), "f1 focuses the sidebar", the_seed)
        assert app.is_running
    assert app._exception is None, f"the app raised {app._exception!r} (seed {the_seed})"
    print(f"{pressed} keys in {time.monotonic() - started:.1f} s, quit asked {len(quits)} times")


async def _wait(pilot: Any, cond: Callable[[], bool], what: str, seed: int) -> None:
    try:
        await wait_until(pilot, cond, tries=2000)
    except AssertionError:
        app = pilot.app
        where = f"screen {app.screen!r}, focused {app.focused!r}"
        raise AssertionError(f"{what}: never happened (seed {seed}); {where}") from None


def send_key(app: Any, key: str) -> None:
    """A key press as Pilot.press makes it, without its waits: Pilot waits for the whole process to
    be idle after every key, ~0.2 s a key on a busy machine, which priced this test out of the suite.
    Keys then come in bursts, as from a held-down key or a paste."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    try:
        char: str | None = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


async def settle(pilot: Any) -> None:
    """Close whatever modal the keys left open (palette, help, a question, an error)."""
    app = pilot.app
    for _ in range(20):
        if isinstance(app.screen, ShellScreen):
            return
        await pilot.press("escape")
        await pilot.pause()
    raise AssertionError(f"Esc does not close {type(app.screen).__name__}")
