"""The helper list of this kernel, checked against bpftool run directly and the kernel's own answer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from beefine_tui.probes import helpers_catalog as hc

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

XDP_ONLY = ("bpf_xdp_adjust_head", "bpf_xdp_adjust_tail", "bpf_xdp_adjust_meta")


@pytest.fixture(scope="module")
def kh() -> hc.KernelHelpers:
    return hc.probe_kernel()


def test_xdp_and_tracepoint_lists(kh: hc.KernelHelpers) -> None:
    assert {"xdp", "tracepoint"} <= kh.verified
    xdp = {h.name for h in hc.helpers_for("xdp", kernel=kh)}
    tp = {h.name for h in hc.helpers_for("tracepoint", kernel=kh)}
    assert "bpf_xdp_adjust_head" in xdp
    assert "bpf_get_current_pid_tgid" in tp and "bpf_probe_read_user" in tp
    for name in XDP_ONLY:
        assert name not in tp, f"{name} is XDP-only and must not be listed for tracepoints"
    assert "bpf_skb_load_bytes" not in xdp and "bpf_skb_load_bytes" not in tp  # sk_buff programs only


def test_counts_against_bpftool_run_directly(kh: hc.KernelHelpers) -> None:
    res = subprocess.run(
        ["bpftool", "feature", "probe", "kernel", "-j"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    direct = json.loads(res.stdout)["helpers"]
    for t in ("xdp", "tracepoint", "kprobe", "socket_filter"):
        theirs = set(direct[f"{t}_available_helpers"])
        assert set(kh.bpftool_by_type[t]) == theirs, "we read bpftool's output faithfully"
        ours = set(kh.by_type[t])
        known_to_bpftool = {n for v in direct.values() for n in v}
        # what we list beyond bpftool are helpers bpftool does not know or never probes (trace_printk)
        assert ours - theirs <= (ours - known_to_bpftool)
        assert len(ours) <= len(theirs) + len(ours - known_to_bpftool)
    # What bpftool 7.1 says on this kernel, kept visible: when it lists XDP-only helpers for
    # tracepoints, its answer is wrong and the re-check is what the user sees.
    if "bpf_xdp_adjust_head" in direct["tracepoint_available_helpers"]:
        assert "bpf_xdp_adjust_head" not in kh.by_type["tracepoint"]


def test_descriptions_and_cli_json() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "beefine_tui",
            "helpers",
            "--type",
            "xdp",
            "--search",
            "adjust_head",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    (h,) = [x for x in data["helpers"] if x["name"] == "bpf_xdp_adjust_head"]
    if hc.MAN_PAGE.exists():
        assert h["signature"].startswith("long bpf_xdp_adjust_head(") and h["description"]
    bad = subprocess.run(
        [sys.executable, "-m", "beefine_tui", "helpers", "--type", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        bad.returncode == 2 and "program types on this kernel" in bad.stderr and "Traceback" not in bad.stderr
    )
