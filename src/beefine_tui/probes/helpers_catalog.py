"""The BPF helper functions this kernel offers, per program type, with their signature and a short
description.

The program types and helper names come from `bpftool feature probe kernel -j` (its `helpers`
section, keys `<type>_available_helpers`). bpftool decides availability by loading a tiny program
of each type that calls each helper and reading the verifier's answer. Measured on this machine
(Debian's bpftool 7.1 on kernel 6.18) that answer is wrong: it lists all 206 helpers for every
type, `bpf_xdp_adjust_head` for tracepoints included. So each (type, helper) pair is checked
again here the same way, directly with bpf(BPF_PROG_LOAD): a program `call helper; r0 = 0; exit`
is rejected with "program of this type cannot use helper" or "invalid func"/"unknown func" when
the helper is not offered (kernel/bpf/verifier.c, check_helper_call), and with something else
(an argument check) or not at all when it is. Types whose programs cannot be loaded that way
(tracing, lsm, ext, struct_ops need a BTF target) keep bpftool's list, marked unverified. All of
it takes about a second, so the result is cached in memory.
Signatures and descriptions come from the bpf-helpers(7) man page (generated from the comments in
include/uapi/linux/bpf.h) when it is installed; otherwise only the names are known.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from beefine_tui import privileges
from beefine_tui.errors import BeefineError, NotFoundError

MAN_PAGE = Path("/usr/share/man/man7/bpf-helpers.7.gz")
PROBE_TIMEOUT_S = 120.0
_SUFFIX = "_available_helpers"


@dataclass(frozen=True)
class HelperDoc:
    name: str
    signature: str  # "long bpf_xdp_adjust_head(struct xdp_buff *xdp_md, int delta)"
    description: str  # first paragraph of the man page's Description, one line
    details: str  # the whole Description, paragraphs separated by blank lines
    returns: str


@dataclass(frozen=True)
class Helper:
    name: str
    signature: str = ""
    description: str = ""
    returns: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "signature": self.signature,
            "description": self.description,
            "returns": self.returns,
        }


@dataclass(frozen=True)
class KernelHelpers:
    """Helper names per program type: verified by our own loads where possible (see module doc)."""

    by_type: dict[str, tuple[str, ...]]
    prog_types: dict[str, bool] = field(default_factory=dict)  # type -> loadable on this kernel
    probe_seconds: float = 0.0  # bpftool feature probe
    bpftool: str = ""
    bpftool_by_type: dict[str, tuple[str, ...]] = field(default_factory=dict)  # as bpftool said
    verified: frozenset[str] = frozenset()  # types checked by our own loads
    verify_seconds: float = 0.0

    @property
    def types(self) -> list[str]:
        return sorted(self.by_type)


# --- bpf-helpers(7) -----------------------------------------------------------------------------
_ROFF_FONT = re.compile(r"\\f[BIRP]|\\f\(..")
_SIG = re.compile(r"^\.B (?P<sig>\\fB.*\b(?P<name>bpf_\w+)\(.*)$")


_ROFF_CHARS = {"aq": "'", "dq": '"', "em": "—", "ga": "`", "ti": "~", "ha": "^", "bu": "•"}
_ROFF_NAMED = re.compile(r"\\\[(\w\w)\]|\\\((\w\w)")


def _roff_text(s: str) -> str:
    s = _ROFF_FONT.sub("", s)
    s = _ROFF_NAMED.sub(lambda m: _ROFF_CHARS.get(m.group(1) or m.group(2), ""), s)
    return s.replace("\\&", "").replace("\\-", "-").replace("\\e", "\\").strip()


def parse_man(text: str) -> dict[str, HelperDoc]:
    """Helpers documented in the roff source of bpf-helpers(7)."""
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.startswith(".SH HELPERS"))
    except StopIteration:
        return {}
    docs: dict[str, HelperDoc] = {}
    i = start + 1
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith(".SH "):
            break
        m = _SIG.match(line)
        if not m or m["sig"].count("(") == 0 or not line.rstrip().endswith(("\\fP", ")")):
            i += 1
            continue
        name = m["name"]
        signature = re.sub(r"\s+", " ", _roff_text(m["sig"]))
        i += 1
        section = ""
        paras: dict[str, list[list[str]]] = {"Description": [], "Return": []}
        depth = 0
        while i < n:
            ln = lines[i]
            if ln.startswith(".INDENT"):
                depth += 1
                if section and depth > 1:
                    paras[section].append([])  # a nested list starts a new paragraph
            elif ln.startswith(".UNINDENT"):
                depth -= 1
                if depth <= 0:
                    i += 1
                    break
            elif depth == 1 and ln in (".B Description", ".B Return"):
                section = ln[3:]
                paras[section].append([])
            elif section and ln.startswith(".sp"):
                paras[section].append([])
            elif section and not ln.startswith("."):
                if not paras[section]:
                    paras[section].append([])
                paras[section][-1].append(_roff_text(ln))
            elif section and ln.startswith(".B "):
                if not paras[section]:
                    paras[section].append([])
                paras[section][-1].append(_roff_text(ln[3:]))
            i += 1
        desc = [re.sub(r"\s+", " ", " ".join(p)).strip() for p in paras["Description"] if p]
        desc = [d for d in desc if d]
        ret = " ".join(re.sub(r"\s+", " ", " ".join(p)).strip() for p in paras["Return"] if p).strip()
        docs[name] = HelperDoc(name, signature, desc[0] if desc else "", "\n\n".join(desc), ret)
    return docs


_docs_cache: dict[str, HelperDoc] | None = None
_docs_lock = threading.Lock()


def load_docs(path: Path = MAN_PAGE) -> dict[str, HelperDoc]:
    """Parsed bpf-helpers(7), cached; empty when the man page is not installed."""
    global _docs_cache
    with _docs_lock:
        if _docs_cache is None or path != MAN_PAGE:
            try:
                raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                docs = parse_man(raw.decode("utf-8", errors="replace"))
            except (OSError, EOFError, gzip.BadGzipFile):
                docs = {}
            if path != MAN_PAGE:
                return docs
            _docs_cache = docs
        return _docs_cache


# --- bpftool ------------------------------------------------------------------------------------
def parse_feature_probe(data: dict[str, object], seconds: float = 0.0, bpftool: str = "") -> KernelHelpers:
    helpers = data.get("helpers")
    by_type: dict[str, tuple[str, ...]] = {}
    if isinstance(helpers, dict):
        for key, names in helpers.items():
            if key.endswith(_SUFFIX) and isinstance(names, list):
                by_type[key[: -len(_SUFFIX)]] = tuple(str(x) for x in names)
    prog_types: dict[str, bool] = {}
    pt = data.get("program_types")
    if isinstance(pt, dict):
        for key, ok in pt.items():
            m = re.fullmatch(r"have_(\w+)_prog_type", key)
            if m:
                prog_types[m.group(1)] = bool(ok)
    return KernelHelpers(by_type, prog_types, seconds, bpftool)


# enum bpf_prog_type (include/uapi/linux/bpf.h): a stable ABI, values never change
PROG_TYPE_IDS: dict[str, int] = {
    name: i
    for i, name in enumerate(
        (
            "unspec", "socket_filter", "kprobe", "sched_cls", "sched_act", "tracepoint", "xdp",
            "perf_event", "cgroup_skb", "cgroup_sock", "lwt_in", "lwt_out", "lwt_xmit", "sock_ops",
            "sk_skb", "cgroup_device", "sk_msg", "raw_tracepoint", "cgroup_sock_addr", "lwt_seg6local",
            "lirc_mode2", "sk_reuseport", "flow_dissector", "cgroup_sysctl", "raw_tracepoint_writable",
            "cgroup_sockopt", "tracing", "struct_ops", "ext", "lsm", "sk_lookup", "syscall", "netfilter",
        )
    )
}  # fmt: skip
# types the kernel only loads with an expected attach type (enum bpf_attach_type values)
EXPECTED_ATTACH = {"cgroup_sock_addr": 10, "cgroup_sockopt": 21, "sk_lookup": 36}
PROG_FLAGS = {"syscall": 1 << 4}  # BPF_F_SLEEPABLE: syscall programs must be sleepable
# Not loaded by the check: a program using trace_printk makes the kernel print its large
# "trace_printk() being used" banner into dmesg (kernel/trace/trace.c), which bpftool avoids too.
# Their availability is taken from the base set: every type that has bpf_ktime_get_ns has them.
PRINTK_IDS = {6: "bpf_trace_printk", 177: "bpf_trace_vprintk"}
_NOT_OFFERED = ("program of this type cannot use helper", "invalid func ", "unknown func ")
_CALL_LINE = re.compile(r"call (\w+)#(\d+)")


class _Loader:
    """bpf(BPF_PROG_LOAD) of `call <id>; r0 = 0; exit` with the verifier log (log level 1)."""

    def __init__(self) -> None:
        import ctypes

        from beefine_tui.probes import bpf_syscall  # lazily, like ctypes: listing needs neither

        self._ct = ctypes
        self._bpf = bpf_syscall
        self._lic = ctypes.create_string_buffer(b"GPL")
        self._log = ctypes.create_string_buffer(4096)
        self._insns = ctypes.create_string_buffer(24)
        self._attr = ctypes.create_string_buffer(128)

    def verdict(
        self, prog_type: int, helper_id: int, attach_type: int = 0, log_level: int = 1, flags: int = 0
    ) -> tuple[bool | None, str]:
        """(True offered | False not offered | None could not tell, helper name from the log)."""
        import struct

        ct = self._ct
        struct.pack_into("<BBhiBBhiBBhi", self._insns, 0, 0x85, 0, 0, helper_id, 0xB7, 0, 0, 0, 0x95, 0, 0, 0)
        ct.memset(self._attr, 0, 128)
        self._log[0] = b"\0"
        struct.pack_into(
            "<IIQQIIQ",
            self._attr,
            0,
            prog_type,
            3,
            ct.addressof(self._insns),
            ct.addressof(self._lic),
            log_level,
            len(self._log),
            ct.addressof(self._log),
        )
        struct.pack_into("<I", self._attr, 44, flags)  # prog_flags
        struct.pack_into("<I", self._attr, 68, attach_type)  # expected_attach_type
        try:
            fd = self._bpf.bpf(self._bpf.BPF_PROG_LOAD, self._attr)
        except OSError:
            fd = -1  # the verdict comes from the verifier log, whatever the errno
        if fd >= 0:
            os.close(fd)
        log = self._log.value.decode("utf-8", errors="replace")
        m = _CALL_LINE.search(log)
        name = m.group(1) if m else ""
        if any(s in log for s in _NOT_OFFERED):
            return False, name
        if fd >= 0 or m:
            return True, name  # the verifier got past the helper lookup
        return None, name


def verify_helpers(
    types: list[str], names: set[str], max_id: int = 400
) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """Which helpers each type really offers, by loading one tiny program per (type, helper id).
    Returns (helpers per verified type, types that could not be checked)."""
    loader = _Loader()
    # helper ids -> names: at log level 2 the verifier prints every instruction, "call bpf_xxx#id",
    # even when the program loads; ids run from 1 up to the first "unknown#id"
    id_names: dict[int, str] = {}
    probe_type = PROG_TYPE_IDS["socket_filter"]
    for hid in range(1, max_id):
        if hid in PRINTK_IDS:
            id_names[hid] = PRINTK_IDS[hid]
            continue
        _ok, name = loader.verdict(probe_type, hid, log_level=2)
        if not name or name.startswith("unknown"):
            break
        id_names[hid] = name
    out: dict[str, tuple[str, ...]] = {}
    unknown: set[str] = set()
    for t in types:
        tid = PROG_TYPE_IDS.get(t)
        if tid is None:
            unknown.add(t)
            continue
        attach = EXPECTED_ATTACH.get(t, 0)
        flags = PROG_FLAGS.get(t, 0)
        found: list[str] = []
        undecided = 0
        for hid, name in id_names.items():
            if hid in PRINTK_IDS:
                continue
            ok, _ = loader.verdict(tid, hid, attach, flags=flags)
            if ok is None:
                undecided += 1
            elif ok:
                found.append(name)
        if undecided >= len(id_names) - len(PRINTK_IDS):
            unknown.add(t)  # this type does not load like this (needs a BTF target...)
        else:
            if "bpf_ktime_get_ns" in found:
                found.extend(PRINTK_IDS.values())
            out[t] = tuple(sorted(found))
    del names
    return out, unknown


_kernel_cache: KernelHelpers | None = None
_kernel_lock = threading.Lock()


def probe_kernel(refresh: bool = False, timeout: float = PROBE_TIMEOUT_S) -> KernelHelpers:
    """Run `bpftool feature probe kernel -j` once per process (cached) and parse it."""
    global _kernel_cache
    with _kernel_lock:
        if _kernel_cache is not None and not refresh:
            return _kernel_cache

        privileges.require_bpf("probe which BPF helpers this kernel offers")
        exe = shutil.which("bpftool") or next(
            (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if Path(p).exists()), None
        )
        if exe is None:
            raise BeefineError("bpftool is not installed", "apt-get install bpftool (or `make setup`)")
        t0 = time.monotonic()
        try:
            res = subprocess.run(
                [exe, "feature", "probe", "kernel", "-j"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise BeefineError(f"bpftool feature probe did not finish within {timeout:.0f} s") from e
        seconds = time.monotonic() - t0
        try:
            data = json.loads(res.stdout)
        except json.JSONDecodeError as e:
            err = (res.stderr or "").strip().splitlines()
            raise BeefineError(
                f"bpftool feature probe failed (exit {res.returncode})", err[-1] if err else "no output"
            ) from e
        said = parse_feature_probe(data, seconds, exe)
        if not said.by_type:
            raise BeefineError("bpftool reported no helpers at all", "is this process allowed to load BPF?")
        t1 = time.monotonic()
        names = {n for v in said.by_type.values() for n in v}
        verified, _unknown = verify_helpers(said.types, names)
        by_type = {t: verified.get(t, said.by_type[t]) for t in said.types}
        found = KernelHelpers(
            by_type=by_type,
            prog_types=said.prog_types,
            probe_seconds=seconds,
            bpftool=exe,
            bpftool_by_type=said.by_type,
            verified=frozenset(verified),
            verify_seconds=time.monotonic() - t1,
        )
        _kernel_cache = found
        return found


# --- queries ------------------------------------------------------------------------------------
def normalize_type(name: str) -> str:
    t = name.strip().lower().replace("-", "_")
    for prefix in ("bpf_prog_type_",):
        if t.startswith(prefix):
            t = t[len(prefix) :]
    return t


def resolve_type(kh: KernelHelpers, name: str) -> str:
    t = normalize_type(name)
    if t in kh.by_type:
        return t
    raise NotFoundError(
        f"unknown BPF program type {name!r}",
        "program types on this kernel: " + ", ".join(kh.types),
    )


def helpers_for(
    prog_type: str, *, kernel: KernelHelpers | None = None, docs: dict[str, HelperDoc] | None = None
) -> list[Helper]:
    kh = kernel if kernel is not None else probe_kernel()
    t = resolve_type(kh, prog_type)
    d = docs if docs is not None else load_docs()
    out: list[Helper] = []
    for name in kh.by_type[t]:
        doc = d.get(name)
        out.append(Helper(name, doc.signature, doc.description, doc.returns) if doc else Helper(name))
    return out


def matches(h: Helper, text: str) -> bool:
    q = text.lower()
    return q in h.name.lower() or q in h.description.lower() or q in h.signature.lower()


def search(
    text: str,
    prog_type: str | None = None,
    *,
    kernel: KernelHelpers | None = None,
    docs: dict[str, HelperDoc] | None = None,
) -> list[Helper]:
    kh = kernel if kernel is not None else probe_kernel()
    if prog_type:
        return [h for h in helpers_for(prog_type, kernel=kh, docs=docs) if matches(h, text)]
    seen: dict[str, Helper] = {}
    for t in kh.types:
        for h in helpers_for(t, kernel=kh, docs=docs):
            if h.name not in seen and matches(h, text):
                seen[h.name] = h
    return sorted(seen.values(), key=lambda h: h.name)


def types_with_helper(name: str, kernel: KernelHelpers) -> list[str]:
    return [t for t in kernel.types if name in kernel.by_type[t]]
