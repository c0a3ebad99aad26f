"""The BTF enum reader on a BTF blob built here by the format of the kernel's Documentation/bpf/btf.rst,
with kinds before the wanted enums that must be skipped by their exact sizes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from beefine_tui.probes.btf import BtfError, parse_enums, read_enums


def _btf(end: str = "<") -> bytes:
    names = b"\0int\0s\0a\0b\0bpf_prog_type\0BPF_PROG_TYPE_UNSPEC\0BPF_PROG_TYPE_NETFILTER\0big\0HUGE\0"

    def off(n: bytes) -> int:
        return names.index(b"\0" + n + b"\0") + 1

    def t(name_off: int, kind: int, vlen: int, size: int, kflag: int = 0) -> bytes:
        return struct.pack(end + "III", name_off, (kflag << 31) | (kind << 24) | vlen, size)

    types = b"".join(
        [
            t(off(b"int"), 1, 0, 4) + struct.pack(end + "I", 32),  # INT: 4 extra bytes
            t(off(b"s"), 4, 2, 8)
            + struct.pack(end + "III", off(b"a"), 1, 0)
            + struct.pack(end + "III", off(b"b"), 1, 32),
            t(0, 13, 1, 1) + struct.pack(end + "II", 0, 1),  # FUNC_PROTO: 8 bytes per param
            t(off(b"bpf_prog_type"), 6, 2, 4)
            + struct.pack(end + "II", off(b"BPF_PROG_TYPE_UNSPEC"), 0)
            + struct.pack(end + "II", off(b"BPF_PROG_TYPE_NETFILTER"), 32),
            t(off(b"big"), 19, 1, 8, kflag=1)
            + struct.pack(end + "III", off(b"HUGE"), 0xFFFFFFFF, 0xFFFFFFFF),
        ]
    )
    header = struct.pack(end + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(names))
    return header + types + names


def test_enums_little_and_big_endian() -> None:
    for end in "<>":
        enums = parse_enums(_btf(end), ["bpf_prog_type", "big", "absent"])
        assert enums["bpf_prog_type"] == {"BPF_PROG_TYPE_UNSPEC": 0, "BPF_PROG_TYPE_NETFILTER": 32}
        assert enums["big"] == {"HUGE": -1}  # ENUM64 with kind_flag: signed
        assert "absent" not in enums


def test_bad_data_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BtfError, match="bad magic"):
        parse_enums(b"\0" * 32, ["x"])
    with pytest.raises(BtfError, match="too short"):
        parse_enums(b"\x9f\xeb", ["x"])
    with pytest.raises(BtfError, match="past the end"):
        parse_enums(_btf()[:40], ["x"])
    with pytest.raises(BtfError, match="cannot read the kernel's BTF"):
        read_enums(["x"], tmp_path / "missing")
