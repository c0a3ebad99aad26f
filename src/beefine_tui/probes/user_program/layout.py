"""The ctypes layout of a user program's output struct, built from BCC's description of it, and how
a record becomes an Event.
"""

from __future__ import annotations

import ctypes as ct
import re
from collections.abc import Callable
from typing import Any

from beefine_tui.events.model import Event, FreeArgs, now_ns

_SCALARS: dict[str, Any] = {
    "char": ct.c_char,
    "signed char": ct.c_byte,
    "s8": ct.c_byte,
    "__s8": ct.c_byte,
    "int8_t": ct.c_byte,
    "unsigned char": ct.c_ubyte,
    "u8": ct.c_ubyte,
    "__u8": ct.c_ubyte,
    "uint8_t": ct.c_ubyte,
    "short": ct.c_short,
    "s16": ct.c_short,
    "__s16": ct.c_short,
    "int16_t": ct.c_short,
    "unsigned short": ct.c_ushort,
    "u16": ct.c_ushort,
    "__u16": ct.c_ushort,
    "uint16_t": ct.c_ushort,
    "__be16": ct.c_ushort,
    "__le16": ct.c_ushort,
    "int": ct.c_int,
    "s32": ct.c_int,
    "__s32": ct.c_int,
    "int32_t": ct.c_int,
    "pid_t": ct.c_int,
    "enum": ct.c_int,
    "unsigned int": ct.c_uint,
    "unsigned": ct.c_uint,
    "u32": ct.c_uint,
    "__u32": ct.c_uint,
    "uint32_t": ct.c_uint,
    "uid_t": ct.c_uint,
    "gid_t": ct.c_uint,
    "__be32": ct.c_uint,
    "__le32": ct.c_uint,
    "long": ct.c_long,
    "long int": ct.c_long,
    "unsigned long": ct.c_ulong,
    "unsigned long int": ct.c_ulong,
    "size_t": ct.c_ulong,
    "ssize_t": ct.c_long,
    "long long": ct.c_longlong,
    "long long int": ct.c_longlong,
    "s64": ct.c_longlong,
    "__s64": ct.c_longlong,
    "int64_t": ct.c_longlong,
    "unsigned long long": ct.c_ulonglong,
    "unsigned long long int": ct.c_ulonglong,
    "u64": ct.c_ulonglong,
    "__u64": ct.c_ulonglong,
    "uint64_t": ct.c_ulonglong,
    "__be64": ct.c_ulonglong,
    "__le64": ct.c_ulonglong,
    "bool": ct.c_bool,
    "_Bool": ct.c_bool,
    "__int128": ct.c_ulonglong * 2,
    "unsigned __int128": ct.c_ulonglong * 2,
}
_ARRAY = re.compile(r"^(?P<base>.+?)\s*\[(?P<n>\d+)\]$")
_QUALIFIERS = re.compile(r"\b(const|volatile|restrict|__restrict)\b")


def ctype_for(type_desc: str) -> Any:
    """The ctypes type for one field type as BCC describes it ("u64", "char[16]", "const char *").

    Pointers become an unsigned 64-bit integer: they point into another address space, never follow.
    Raises ValueError for types whose layout is not known here (nested structs, unions...).
    """
    t = _QUALIFIERS.sub("", type_desc).strip()
    t = re.sub(r"\s+", " ", t)
    m = _ARRAY.match(t)
    if m:
        return ctype_for(m["base"]) * int(m["n"])
    if t.endswith("*"):
        return ct.c_uint64
    if t.startswith("enum "):
        return ct.c_int
    if t in _SCALARS:
        return _SCALARS[t]
    raise ValueError(f"field type {type_desc!r} is not supported in output structs")


def make_struct(fields: list[tuple[str, str]]) -> type[ct.Structure]:
    """A ctypes Structure laid out as the C struct (natural alignment, as clang for BPF does)."""
    cfields = [(name, ctype_for(typ)) for name, typ in fields]
    return type("UserEvent", (ct.Structure,), {"_fields_": cfields})


def plain(value: Any) -> Any:
    """A ctypes value (or BCC table key/leaf) as a JSON-compatible Python value."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, ct.Array):
        if value._type_ is ct.c_char:
            return bytes(value).split(b"\0", 1)[0].decode("utf-8", errors="replace")
        return [plain(v) for v in value]
    if isinstance(value, ct.Structure | ct.Union):
        return {f[0]: plain(getattr(value, f[0])) for f in value._fields_}
    if hasattr(value, "value"):
        return plain(value.value)
    return str(value)


def _converter(ctype: Any) -> Callable[[Any], Any] | None:
    """How to turn one field's ctypes value into a plain value; None: it already is one (ints)."""
    if ctype is ct.c_ulonglong * 2:  # __int128
        return lambda v: v[0] | (v[1] << 64)
    if isinstance(ctype, type) and issubclass(ctype, ct.Array):
        element: Any = ctype._type_
        if element is ct.c_char:  # char[N]: ctypes gives bytes up to the first NUL
            return lambda v: v.decode("utf-8", errors="replace")
        inner = _converter(ctype._type_)
        if inner is None:
            return list
        return lambda v: [inner(x) for x in v]
    if ctype is ct.c_char:
        return lambda v: v.decode("utf-8", errors="replace")
    return None  # ints, bools and floats come out of ctypes as Python values


def make_decoder(cls: type[ct.Structure]) -> Callable[[int, int], dict[str, Any]]:
    """decode(data_ptr, size) -> {field: value}. Values are copied out while BCC's buffer is valid
    (the view dies with the callback); a record shorter than the struct is zero-padded first."""
    size = ct.sizeof(cls)
    fields = [(f[0], _converter(f[1])) for f in cls._fields_]
    from_address = cls.from_address

    def decode(data: int, data_size: int) -> dict[str, Any]:
        if data_size >= size:
            obj = from_address(data)  # read in place: every value below is a copy
        else:
            n = max(int(data_size), 0)
            obj = cls.from_buffer_copy(ct.string_at(data, n) + b"\0" * (size - n))
        out: dict[str, Any] = {}
        for name, conv in fields:
            v = getattr(obj, name)
            out[name] = v if conv is None else conv(v)
        return out

    return decode


def event_from_fields(probe: str, kind: str, values: dict[str, Any], line: str = "") -> Event:
    """Common fields (pid, tid, ppid, comm, ts from bpf_ktime_get_ns) lifted from the record."""

    def as_int(name: str) -> int:
        v = values.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) else 0

    ts = now_ns()
    raw_ts = as_int("ts") or as_int("ts_ns")
    if 0 < raw_ts <= ts + 1_000_000_000:
        ts = raw_ts
    comm = values.get("comm")
    text = line or " ".join(f"{k}={v}" for k, v in values.items())
    return Event(
        ts=ts,
        probe=probe,
        kind=kind,
        pid=as_int("pid"),
        tid=as_int("tid"),
        ppid=as_int("ppid"),
        comm=comm if isinstance(comm, str) else "",
        args=FreeArgs(fields=values, line=text[:500]),
    )
