"""Your programs, for real (root, BCC): a compile error and a verifier rejection each show a readable
panel with the line highlighted and the app keeps running; then a good program loads, its struct's
fields become columns, our own exec shows up as a row, and Unload leaves none of its BPF programs."""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
from textual.widgets import DataTable, Static, TextArea

from beefine_tui.app import BeefineApp
from beefine_tui.appcontext import AppContext
from beefine_tui.screens.errors import ErrorPanel
from beefine_tui.screens.user_programs import UserProgramsView
from tests.tui.conftest import FrozenClock, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

COMPILE_ERROR = """// name: broken-compile
TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    u32 other = pid + not_declared_anywhere;
    return 0;
}
"""

VERIFIER_ERROR = """// name: broken-verifier
BPF_HASH(counts, u32, u64);
TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {
    u32 key = 0;
    u64 *v = counts.lookup(&key);
    *v += 1;
    return 0;
}
"""

GOOD = """// name: tui-execs
struct event { u32 pid; char comm[16]; char filename[96]; };
BPF_RINGBUF_OUTPUT(events, 8);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    struct event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    bpf_probe_read_user_str(&e->filename, sizeof(e->filename), args->filename);
    events.ringbuf_submit(e, 0);
    return 0;
}
"""


async def _load(pilot, view: UserProgramsView, source: str) -> None:  # type: ignore[no-untyped-def]
    view.query_one("#source", TextArea).text = source
    view.query_one(ErrorPanel).hide()
    view.action_load()


async def test_real_errors_then_a_real_program(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctx = AppContext(docker_host=None, docker_error="not needed")
    app = BeefineApp(ctx, clock=FrozenClock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.shell.open_view("user-programs")
        await wait_until(pilot, lambda: view.is_mounted and bool(view.query(ErrorPanel)))
        assert isinstance(view, UserProgramsView)
        panel = view.query_one(ErrorPanel)
        area = view.query_one("#source", TextArea)

        # 1. compile error: clang's message, the user's line 4, highlighted in the editor
        await _load(pilot, view, COMPILE_ERROR)
        await wait_until(pilot, lambda: panel.has_class("-shown"), tries=6000)
        log = str(view.query_one(".error--log", Static).render())
        body = str(view.query_one(".error--body", Static).render())
        assert "not_declared_anywhere" in log + body
        assert "line 4" in body
        assert area.selection.start[0] == 3
        assert not view.loaded

        # 2. verifier rejection: readable, the program is not loaded, the app still runs
        await _load(pilot, view, VERIFIER_ERROR)
        await wait_until(pilot, lambda: panel.has_class("-shown"), tries=6000)
        text = str(view.query_one(".error--body", Static).render()) + str(
            view.query_one(".error--log", Static).render()
        )
        assert "verifier" in text.lower() or "invalid mem access" in text or "null" in text.lower()
        assert not view.loaded

        # 3. a good program: columns from its struct, our own exec as a row
        await _load(pilot, view, GOOD)
        await wait_until(pilot, lambda: bool(view.loaded), tries=6000)
        assert not panel.has_class("-shown")
        (probe, item) = next(iter(view.loaded.items()))
        assert item.columns[:3] == ("pid", "comm", "filename")
        prog_ids = tuple(item.runner.prog_ids)
        assert prog_ids
        token = f"/tmp/bftui-{uuid.uuid4().hex[:8]}"  # short: table cells are cut at 80 characters
        os.symlink("/bin/true", token)
        try:
            subprocess.run([token], capture_output=True, check=True)
        finally:
            os.unlink(token)
        out = view.query_one("#output", DataTable)

        def seen() -> bool:
            return any(token in str(out.get_row_at(i)) for i in range(out.row_count))

        await wait_until(pilot, seen, tries=3000)

        # 4. unload: its programs are gone
        view.query_one("#loaded", DataTable).focus()
        await pilot.press("ctrl+u")
        await wait_until(pilot, lambda: not view.loaded)
        for _ in range(100):
            if not any(_exists(i) for i in prog_ids):
                break
            await pilot.pause(0.05)
        assert not any(_exists(i) for i in prog_ids)
        assert probe not in view.loaded


def _exists(prog_id: int) -> bool:
    return (
        subprocess.run(["bpftool", "prog", "show", "id", str(prog_id)], capture_output=True).returncode == 0
    )
