from __future__ import annotations

import os

import pytest

from beefine_tui.errors import UsageError
from beefine_tui.probes import files
from beefine_tui.probes.base import ProbeOptions
from beefine_tui.probes.bcc_runner import DecodeContext


def path_b(p: str) -> bytes:
    return p.encode().ljust(256, b"\0")


def test_layouts() -> None:
    assert files.OPEN_REC.size == 40 + 8 + 8 + 4 + 4 + 4 + 4 + 256
    assert files.IO_REC.size == 40 + 4 + 4 + 8 + 4 + 4 + 256


def test_open_decoded_flags() -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    raw = files.OPEN_REC.pack(
        1, files.OPEN_KIND, 10, 11, 0, b"tar", 5, flags, 0o644, -100, 0, 0, path_b("/d/x")
    )
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "open"
    assert ev.args == {
        "path": "/d/x",
        "flags": "O_WRONLY|O_CREAT|O_TRUNC",
        "flags_raw": flags,
        "mode": "0644",
        "ret": 5,
    }


def test_open_failure_and_relative_dfd() -> None:
    raw = files.OPEN_REC.pack(1, files.OPEN_KIND, 10, 11, 0, b"x", -13, 0, 0, 7, 1, 0, path_b("rel/y"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.args["error"] == "EACCES"
    assert ev.args["dfd"] == 7
    assert ev.args["syscall"] == "openat2"


def test_write_and_read_folded() -> None:
    raw = files.IO_REC.pack(1, files.WRITE_KIND, 10, 11, 0, b"dd", 3, 4, 4096, 1, 0, path_b("/d/x"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "write"
    assert ev.args == {"path": "/d/x", "fd": 3, "bytes": 4096, "count": 4, "closed": True}
    raw = files.IO_REC.pack(1, files.READ_KIND, 10, 11, 0, b"dd", 3, 1, 10, 0, 0, path_b("/d/x"))
    ev = files.decode(raw, DecodeContext())
    assert ev is not None
    assert ev.kind == "read" and ev.args["bytes"] == 10 and "closed" not in ev.args


def test_prefix_cflags() -> None:
    assert files.prefix_cflags(None) == []
    assert files.prefix_cflags("") == []
    flags = files.prefix_cflags("/ab")
    assert flags == [
        "-DPATH_PREFIX_LEN=3",
        "-DPATH_PREFIX_MATCH(p)=((unsigned char)p[0]==47&&(unsigned char)p[1]==97&&(unsigned char)p[2]==98)",
    ]
    with pytest.raises(UsageError):
        files.prefix_cflags("/" * 300)
    with pytest.raises(UsageError):
        files.prefix_cflags("/a\0b")


def test_render_with_prefix() -> None:
    text = files.render(ProbeOptions(path_prefix="/var/lib/docker"))
    assert "-DPATH_PREFIX_LEN=15" in text
    assert "PATH_PREFIX_MATCH(p)" in text
