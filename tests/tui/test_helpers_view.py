"""The helper view on a fake catalog: every type the kernel lists (netfilter too), and a note beside
a type whose programs load but cannot be attached here (kprobe without kprobes)."""

from __future__ import annotations

import pytest
from rich.cells import cell_len
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Select, Static

from beefine_tui.probes import helpers_catalog as hc
from beefine_tui.screens import helpers_view
from beefine_tui.screens.helpers_view import HelpersView
from tests.tui.conftest import MakeApp, wait_long, wait_until

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


LONG_DESC = (
    "Copy data into a ring buffer. If BPF_RB_NO_WAKEUP is specified in flags, no notification of new data "
    "availability is sent; with BPF_RB_FORCE_WAKEUP it is sent unconditionally. Returns 0 on success."
)
HELPERS = [
    ("bpf_ktime_get_ns", "u64 bpf_ktime_get_ns(void)", "Time since boot."),
    ("bpf_ringbuf_output", "long bpf_ringbuf_output(void *rb, void *data, u64 size, u64 flags)", LONG_DESC),
    ("bpf_skb_change_proto_and_a_long_name", "long f(void)", "Short."),
]


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (200, 60)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_table_fits_the_screen_and_cuts_with_an_ellipsis(
    make_app: MakeApp, size: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the whole app (sidebar shown where there is room): no table row is wider than the room the
    table has, nothing scrolls sideways, a cut description ends in '…', and the pane below holds the
    highlighted helper's whole description."""
    monkeypatch.setattr(helpers_view, "program_types", lambda: ["tracepoint", "xdp"])
    monkeypatch.setattr(helpers_view, "helpers_for", lambda t: HELPERS)
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await wait_long(pilot, lambda: bool(app.screen_stack) and bool(app.shell.query("#tabs")))
        view = app.shell.open_view("helpers")
        assert isinstance(view, HelpersView)
        await wait_long(pilot, lambda: view.is_mounted and view.query_one(DataTable).row_count == 3)
        await pilot.pause()
        table = view.query_one(DataTable)
        room = table.scrollable_content_region.width
        assert table.region.right <= size[0]
        assert table.virtual_size.width <= room
        lines = [table.render_line(y).text.rstrip() for y in range(4)]  # header and three rows
        assert all(cell_len(line) <= room for line in lines), lines
        long_row = lines[2]
        assert "bpf_ringbuf_output" in long_row
        if cell_len(LONG_DESC) + len("bpf_skb_change_proto_and_a_long_name") + 4 > room:
            # cut: the row shows the description's start and ends in an ellipsis
            assert long_row.endswith("…") and "Copy data into" in long_row, long_row
        else:
            assert long_row.endswith("Returns 0 on success.") and "…" not in long_row, long_row
        assert "…" not in lines[1] and "…" not in lines[3]  # short rows are whole
        # the cell keeps the whole value; the detail pane shows it whole, wrapped to its width
        assert str(table.get_cell("bpf_ringbuf_output", "desc")) == LONG_DESC
        table.focus()
        table.move_cursor(row=1)
        await pilot.pause()
        detail = view.query_one("#detail", Static)
        assert " ".join(str(detail.render()).split()).endswith(LONG_DESC)
