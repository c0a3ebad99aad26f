"""Enumerations from the kernel's own BTF (/sys/kernel/btf/vmlinux), read without any tool.

The format (kernel Documentation/bpf/btf.rst, include/uapi/linux/btf.h): a header (magic 0xeB9F,
version, flags, hdr_len, then type_off/type_len and str_off/str_len relative to the header's end),
a string section of NUL-terminated names, and a type section of `struct btf_type` records
(name_off, info: vlen in bits 0-15 and kind in bits 24-28, size_or_type), each followed by data
whose length depends on the kind. Enums are kind 6 (vlen x {name_off, s32 val}) and, since 6.0,
kind 19 ENUM64 (vlen x {name_off, val_lo32, val_hi32}). Only enums are decoded here; every other
kind is only skipped over, so this never walks a kernel struct.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from beefine_tui.errors import BeefineError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
BTF_MAGIC = 0xEB9F

KIND_ENUM = 6
KIND_ENUM64 = 19
# bytes that follow a btf_type, per kind: fixed, or per member (times vlen)
_FIXED_EXTRA = {1: 4, 3: 12, 14: 4, 17: 4}  # INT, ARRAY, VAR, DECL_TAG
_PER_MEMBER = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}  # STRUCT, UNION, ENUM, FUNC_PROTO, DATASEC, ENUM64
_MAX_KIND = 19


class BtfError(BeefineError):
    pass


def read_enums(names: Iterable[str], path: Path = VMLINUX_BTF) -> dict[str, dict[str, int]]:
    """{enum name: {enumerator: value}} for the named enums found in the BTF file at `path`."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise BtfError(
            f"cannot read the kernel's BTF at {path}: {e.strerror or e}",
            "a kernel built with CONFIG_DEBUG_INFO_BTF=y provides it",
        ) from None
    return parse_enums(data, names)


def parse_enums(data: bytes, names: Iterable[str]) -> dict[str, dict[str, int]]:
    wanted = set(names)
    if len(data) < 24:
        raise BtfError("the BTF data is too short for a header")
    magic_le = struct.unpack_from("<H", data, 0)[0]
    if magic_le == BTF_MAGIC:
        end = "<"
    elif struct.unpack_from(">H", data, 0)[0] == BTF_MAGIC:
        end = ">"
    else:
        raise BtfError("not BTF data (bad magic)")
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(end + "IIIII", data, 4)
    types_start = hdr_len + type_off
    types_end = types_start + type_len
    strs_start = hdr_len + str_off
    if types_end > len(data) or strs_start + str_len > len(data):
        raise BtfError("the BTF header points past the end of the data")
    strings = data[strs_start : strs_start + str_len]

    def name_at(off: int) -> str:
        stop = strings.find(b"\0", off)
        return strings[off : stop if stop >= 0 else len(strings)].decode("utf-8", errors="replace")

    found: dict[str, dict[str, int]] = {}
    pos = types_start
    head = struct.Struct(end + "III")
    while pos + head.size <= types_end and len(found) < len(wanted):
        name_off, info, _size = head.unpack_from(data, pos)
        pos += head.size
        kind = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        if kind == 0 or kind > _MAX_KIND:
            raise BtfError(f"unknown BTF kind {kind} at offset {pos - head.size}")
        extra = _FIXED_EXTRA.get(kind, 0) + _PER_MEMBER.get(kind, 0) * vlen
        if kind in (KIND_ENUM, KIND_ENUM64) and name_off:
            name = name_at(name_off)
            if name in wanted and name not in found:
                values: dict[str, int] = {}
                signed = bool(info >> 31)  # kind_flag: the enum's values are signed
                for i in range(vlen):
                    if kind == KIND_ENUM:
                        m_off, val = struct.unpack_from(end + ("Ii" if signed else "II"), data, pos + 8 * i)
                    else:
                        m_off, lo, hi = struct.unpack_from(end + "III", data, pos + 12 * i)
                        val = (hi << 32) | lo
                        if signed and val >= 1 << 63:
                            val -= 1 << 64
                    values[name_at(m_off)] = val
                found[name] = values
        pos += extra
    return found
