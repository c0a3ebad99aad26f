"""A built-in BCC probe's program without root: cflags, inlined common.h, rendering."""

from __future__ import annotations

import os
import re

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.probes import bcc_program as bp
from beefine_tui.probes.base import ProbeOptions, Target
from beefine_tui.resources import bpf_dir


def test_kernel_dev_encoding() -> None:
    # nsfs is usually 0:4; glibc and the kernel agree for small minors, but not for big ones
    assert bp.kernel_dev(os.makedev(0, 4)) == 4
    assert bp.kernel_dev(os.makedev(0, 300)) == 300
    assert bp.kernel_dev(os.makedev(8, 1)) == (8 << 20) | 1


def test_filter_cflags() -> None:
    assert bp.filter_cflags(Target()) == []
    f = bp.filter_cflags(Target(pidns=(os.makedev(0, 4), 4026531836)))
    assert f == ["-DFILTER_PIDNS_DEV=4ULL", "-DFILTER_PIDNS_INO=4026531836ULL"]
    assert bp.filter_cflags(Target(pids=frozenset({5}))) == ["-DFILTER_TRACKED=1"]
    assert bp.filter_cflags(Target(lineage_root=9)) == [
        "-DFILTER_TRACKED=1",
        "-DFILTER_FOLLOW=1",
        "-DLINEAGE_ROOT=9",
    ]


@pytest.mark.parametrize("pages", [0, -1, 3, 100, 1 << 17])
def test_bad_ring_pages(pages: int) -> None:
    with pytest.raises(UsageError):
        bp.check_ring_pages(pages)


def test_good_ring_pages() -> None:
    assert bp.check_ring_pages(1) == 1
    assert bp.check_ring_pages(256) == 256


def test_base_cflags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEEFINE_FORCE_PERF", "1")
    flags = bp.base_cflags(ProbeOptions(ring_pages=8))
    assert "-DBEEFINE_RING_PAGES=8" in flags
    assert "-DBEEFINE_PERF=1" in flags
    monkeypatch.delenv("BEEFINE_FORCE_PERF")
    monkeypatch.setattr(bp.platform, "release", lambda: "6.18.0-custom")
    assert "-DBEEFINE_PERF=1" not in bp.base_cflags(ProbeOptions())
    monkeypatch.setattr(bp.platform, "release", lambda: "5.4.0-100-generic")
    assert "-DBEEFINE_PERF=1" in bp.base_cflags(ProbeOptions())


def test_program_text_inlines_common_h() -> None:
    text = bp.program_text("exec.bpf.c")
    assert not re.search(r'^#include "common.h"', text, re.M)
    assert "BPF_ARRAY(lost, u64, 4);" in text
    assert text.count("static __always_inline int beefine_should_trace(void)") == 1


def test_records_are_written_only_by_common_h() -> None:
    # one output map and one submit (with its loss count) for every program: bpf/common.h's
    common = (bpf_dir() / "common.h").read_text()
    assert "static __always_inline int beefine_submit(" in common
    # bpf/paired.h's exit writes through it too, and has no output of its own
    paired = (bpf_dir() / "paired.h").read_text()
    assert "beefine_submit(ctx, r, sizeof(*r));" in paired
    assert not re.search(r"\bsubmit\(", paired.replace("beefine_submit(", ""))
    assert "events." not in paired and "BEEFINE_OUTPUT(" not in paired
    programs = [p for p in sorted(bpf_dir().glob("*.bpf.c")) if '#include "common.h"' in p.read_text()]
    assert len(programs) >= 9
    for path in programs:
        c = path.read_text()
        assert not re.search(r"\bsubmit\(", c.replace("beefine_submit(", "")), path.name
        assert "events." not in c and "BEEFINE_OUTPUT(" not in c, path.name
        writes_paired = '#include "paired.h"' in c and "paired_finish(" in c
        assert "beefine_submit(" in c or writes_paired, path.name


def test_paired_programs_inline_paired_h_once() -> None:
    # the probes that report a call at its exit share bpf/paired.h's table and functions
    for name in ("mounts.bpf.c", "namespaces.bpf.c", "security.bpf.c", "sockets.bpf.c", "netlink.bpf.c"):
        text = bp.program_text(name)
        assert not re.search(r'^#include "paired.h"', text, re.M), name
        assert text.count("static __always_inline int paired_park(") == 1, name
        assert text.count("BPF_HASH(pending,") == 1, name


def test_render_program() -> None:
    prog = bp.BccProgram(probe="x", text="int x;", cflags=("-DA=1",))
    out = bp.render_program(prog)
    assert out.startswith("// probe: x\n// cflags: -DA=1\n")
    assert "int x;" in out
