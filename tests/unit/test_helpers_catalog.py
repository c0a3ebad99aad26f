"""Helper catalog: man page and bpftool parsing, queries and the CLI, without root."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from beefine_tui import cli
from beefine_tui.errors import NotFoundError
from beefine_tui.probes import helpers_catalog as hc

ROFF = r"""
.TH BPF-HELPERS 7
.SH HELPERS
.INDENT 0.0
.TP
.B \fBlong bpf_map_update_elem(struct bpf_map *\fP\fImap\fP\fB, u64\fP \fIflags\fP\fB)\fP
.INDENT 7.0
.TP
.B Description
Add or update the value of the entry associated to \fIkey\fP in
\fImap\fP\&. \fIflags\fP is one of:
.INDENT 7.0
.TP
.B \fBBPF_NOEXIST\fP
The entry for \fIkey\fP must not exist in the map.
.UNINDENT
.sp
A second paragraph.
.TP
.B Return
0 on success, or a negative error in case of failure.
.UNINDENT
.TP
.B \fBlong bpf_xdp_adjust_head(struct xdp_buff *\fP\fIxdp_md\fP\fB, int\fP \fIdelta\fP\fB)\fP
.INDENT 7.0
.TP
.B Description
Adjust (move) \fIxdp_md\fP\fB\->data\fP by \fIdelta\fP bytes. It doesn\(aqt copy.
.TP
.B Return
0 on success.
.UNINDENT
.UNINDENT
.SH EXAMPLES
.B \fBint bpf_not_a_helper(void)\fP
"""


def test_parse_man() -> None:
    docs = hc.parse_man(ROFF)
    assert set(docs) == {"bpf_map_update_elem", "bpf_xdp_adjust_head"}
    m = docs["bpf_map_update_elem"]
    assert m.signature == "long bpf_map_update_elem(struct bpf_map *map, u64 flags)"
    assert m.description == "Add or update the value of the entry associated to key in map. flags is one of:"
    assert "A second paragraph." in m.details and "BPF_NOEXIST" in m.details
    assert m.returns == "0 on success, or a negative error in case of failure."
    x = docs["bpf_xdp_adjust_head"]
    assert x.signature == "long bpf_xdp_adjust_head(struct xdp_buff *xdp_md, int delta)"
    assert x.description == "Adjust (move) xdp_md->data by delta bytes. It doesn't copy."


def test_installed_man_page_if_any() -> None:
    if not hc.MAN_PAGE.exists():
        pytest.skip("bpf-helpers(7) is not installed here")
    docs = hc.load_docs()
    assert len(docs) > 150
    assert docs["bpf_get_current_pid_tgid"].signature == "u64 bpf_get_current_pid_tgid(void)"
    assert docs["bpf_ktime_get_ns"].description


def test_missing_man_page(tmp_path: Path) -> None:
    assert hc.load_docs(tmp_path / "nope.7.gz") == {}


FEATURES = {
    "program_types": {
        "have_xdp_prog_type": True,
        "have_tracepoint_prog_type": True,
        "have_lsm_prog_type": False,
    },
    "helpers": {
        "xdp_available_helpers": ["bpf_map_lookup_elem", "bpf_xdp_adjust_head"],
        "tracepoint_available_helpers": ["bpf_map_lookup_elem", "bpf_get_current_pid_tgid"],
        "lsm_available_helpers": [],
    },
}


def kernel() -> hc.KernelHelpers:
    return hc.parse_feature_probe(FEATURES, 0.5, "/usr/sbin/bpftool")


def test_parse_feature_probe_and_queries() -> None:
    kh = kernel()
    assert kh.types == ["lsm", "tracepoint", "xdp"]
    assert kh.prog_types == {"xdp": True, "tracepoint": True, "lsm": False}
    docs = hc.parse_man(ROFF)
    xdp = hc.helpers_for("XDP", kernel=kh, docs=docs)  # names are case-insensitive
    assert [h.name for h in xdp] == ["bpf_map_lookup_elem", "bpf_xdp_adjust_head"]
    assert xdp[1].signature.startswith("long bpf_xdp_adjust_head(") and xdp[0].signature == ""
    assert hc.resolve_type(kh, "BPF_PROG_TYPE_TRACEPOINT") == "tracepoint"
    assert [h.name for h in hc.search("adjust", kernel=kh, docs=docs)] == ["bpf_xdp_adjust_head"]
    assert [h.name for h in hc.search("pid", "tracepoint", kernel=kh, docs=docs)] == [
        "bpf_get_current_pid_tgid"
    ]
    assert hc.types_with_helper("bpf_map_lookup_elem", kh) == ["tracepoint", "xdp"]
    with pytest.raises(NotFoundError) as ei:
        hc.helpers_for("nope", kernel=kh)
    assert "tracepoint" in ei.value.hint and "xdp" in ei.value.hint


def test_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hc, "probe_kernel", lambda: kernel())
    monkeypatch.setattr(hc, "load_docs", lambda: hc.parse_man(ROFF))
    assert cli.main(["helpers", "--type", "xdp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["type"] == "xdp" and [h["name"] for h in data["helpers"]][1] == "bpf_xdp_adjust_head"
    assert cli.main(["helpers", "--type", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown BPF program type 'bogus'" in err and "xdp" in err and "Traceback" not in err
    assert cli.main(["helpers", "--search", "zzz-nothing"]) == 1
    assert cli.main(["helpers"]) == 0
    out = capsys.readouterr().out
    assert "tracepoint" in out and "xdp" in out


def test_enums_from_btf_name_types_and_helpers() -> None:
    e = hc.enums_from_btf(
        {
            "bpf_prog_type": {
                "BPF_PROG_TYPE_UNSPEC": 0,
                "BPF_PROG_TYPE_XDP": 6,
                "BPF_PROG_TYPE_NETFILTER": 32,
            },
            "bpf_attach_type": {"BPF_NETFILTER": 45},
            "bpf_func_id": {
                "BPF_FUNC_unspec": 0,
                "BPF_FUNC_map_lookup_elem": 1,
                "BPF_FUNC_cgrp_storage_get": 210,
            },
        }
    )
    assert e.prog_types == {"xdp": 6, "netfilter": 32}  # from the kernel, no hand-kept table
    assert e.attach_types["BPF_NETFILTER"] == 45
    assert e.helper_ids == {1: "bpf_map_lookup_elem", 210: "bpf_cgrp_storage_get"}
    assert set(hc.EXPECTED_ATTACH.values()) <= {
        "BPF_CGROUP_INET4_CONNECT",
        "BPF_CGROUP_GETSOCKOPT",
        "BPF_SK_LOOKUP",
        "BPF_NETFILTER",
    }


def test_attach_notes_follow_the_doctor() -> None:
    from beefine_tui import doctor

    off = doctor.check_kprobes({"CONFIG_KPROBES": "n"}, None)
    on = doctor.check_kprobes({"CONFIG_KPROBES": "y"}, None)
    unknown = doctor.check_kprobes(None, None)
    no_fentry = doctor.check_fentry({"program_types": {"have_tracing_prog_type": False}})
    fentry = doctor.check_fentry({"program_types": {"have_tracing_prog_type": True}})
    notes = hc.attach_notes(off, no_fentry, uprobes=True)
    assert "kprobes cannot be attached" in notes["kprobe"] and "uprobes" in notes["kprobe"]
    assert "fentry/fexit cannot be attached" in notes["tracing"]
    assert "no uprobes either" in hc.attach_notes(off, fentry, uprobes=False)["kprobe"]
    assert hc.attach_notes(on, fentry, uprobes=True) == {}
    assert hc.attach_notes(unknown, doctor.check_fentry(None), uprobes=None) == {}  # unknown: no claim


def test_cgrp_storage_helpers_are_described() -> None:
    docs = hc.with_extra_docs(hc.parse_man(ROFF))
    for name in ("bpf_cgrp_storage_get", "bpf_cgrp_storage_delete"):
        assert docs[name].description and docs[name].returns and name in docs[name].signature
    assert docs["bpf_xdp_adjust_head"].description.startswith("Adjust")  # the man page wins
    installed = hc.load_docs()
    if installed:
        assert installed["bpf_cgrp_storage_get"].description


def test_cli_shows_attach_note(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    note = "kprobes cannot be attached on this kernel (CONFIG_KPROBES off)"
    kh = hc.KernelHelpers(
        by_type={"kprobe": ("bpf_ktime_get_ns",), "netfilter": ("bpf_ktime_get_ns",)},
        attach_notes={"kprobe": note},
        types_source="kernel BTF",
        verified=frozenset({"kprobe", "netfilter"}),
    )
    monkeypatch.setattr(hc, "probe_kernel", lambda: kh)
    monkeypatch.setattr(hc, "load_docs", lambda: {})
    assert cli.main(["helpers"]) == 0
    out = capsys.readouterr().out
    kprobe_line = next(ln for ln in out.splitlines() if ln.startswith("kprobe "))
    assert note in kprobe_line and "netfilter" in out and "from kernel BTF" in out
    assert cli.main(["helpers", "--type", "kprobe"]) == 0
    assert f"note: {note}" in capsys.readouterr().out
    assert cli.main(["helpers", "--type", "kprobe", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["attach_note"] == note
    assert cli.main(["helpers", "--json"]) == 0
    rows = {r["type"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["kprobe"]["attach_note"] == note and rows["netfilter"]["attach_note"] == ""


@pytest.mark.parametrize(
    "args", [["--json"], [], ["--type", "xdp"], ["--type", "xdp", "--json"], ["--search", "adjust", "--json"]]
)
def test_helpers_over_remote_print_what_the_host_computes(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`helpers --remote` against a stand-in agent (tests/fake_agent.py) prints exactly what the local
    command prints for the kernel and docs that agent reports; our own man page is not asked for
    helpers the host documents."""
    from tests.fake_agent import fake_helpers, install_fake_ssh

    kh, docs = fake_helpers()
    monkeypatch.setenv("BEEFINE_SSH", str(install_fake_ssh(tmp_path)))
    monkeypatch.setattr(hc, "load_docs", lambda: {})
    assert cli.main(["helpers", *args, "--remote", "far"]) == 0
    far = capsys.readouterr().out
    monkeypatch.setattr(hc, "probe_kernel", lambda: kh)
    monkeypatch.setattr(hc, "load_docs", lambda: docs)
    assert cli.main(["helpers", *args]) == 0
    assert far == capsys.readouterr().out
    assert "bpf_xdp_adjust_head" in far or "xdp" in far


def test_a_helpers_report_that_is_not_one_is_said_clearly() -> None:
    from beefine_tui.errors import BeefineError

    with pytest.raises(BeefineError) as e:
        hc.from_report({"kernel": {"by_type": "nope"}})
    assert "not one this client understands" in e.value.message
