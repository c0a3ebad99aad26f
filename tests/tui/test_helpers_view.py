"""The helper view on a fake catalog: every type the kernel lists (netfilter too), and a note beside
a type whose programs load but cannot be attached here (kprobe without kprobes)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Select, Static

from beefine_tui.probes import helpers_catalog as hc
from beefine_tui.screens.helpers_view import HelpersView
from tests.tui.conftest import wait_until

KPROBE_NOTE = "kprobes cannot be attached on this kernel (CONFIG_KPROBES off)"


def fake_kernel() -> hc.KernelHelpers:
    return hc.KernelHelpers(
        by_type={
            "kprobe": ("bpf_get_current_pid_tgid", "bpf_ktime_get_ns"),
            "netfilter": ("bpf_ktime_get_ns",),
            "tracepoint": ("bpf_get_current_pid_tgid", "bpf_ktime_get_ns"),
        },
        attach_notes={"kprobe": KPROBE_NOTE},
        types_source="kernel BTF",
        verified=frozenset({"kprobe", "netfilter", "tracepoint"}),
    )


class HelpersApp(App[None]):
    def compose(self) -> ComposeResult:
        yield HelpersView()


async def test_types_and_attach_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hc, "probe_kernel", lambda: fake_kernel())
    monkeypatch.setattr(hc, "load_docs", lambda: hc.with_extra_docs({}))
    app = HelpersApp()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(HelpersView)
        notice = view.query_one(".notice", Static)
        await wait_until(pilot, lambda: view.prog_type == "tracepoint" and len(view.helpers) == 2)
        await wait_until(pilot, lambda: "2 of 2 helpers for tracepoint" in str(notice.render()))
        assert "Note:" not in str(notice.render())
        sel = view.query_one("#ptype", Select)
        options = [str(o[0]) for o in sel._options if o[1] is not Select.BLANK]
        assert "netfilter" in options and "kprobe" in options
        sel.value = "kprobe"
        await wait_until(pilot, lambda: "helpers for kprobe" in str(notice.render()))
        assert KPROBE_NOTE in str(notice.render())
        assert view.query_one(DataTable).row_count == 2
