"""The BPF helper functions this kernel offers, per program type, with their signature and a short
description.

The program types, attach types and helper ids come from the kernel itself: the enums
`bpf_prog_type`, `bpf_attach_type` and `bpf_func_id` in its BTF (/sys/kernel/btf/vmlinux, read by
probes/btf.py), so a type newer than our tools (netfilter, unknown to Debian's bpftool 7.1) is
listed as soon as the kernel has it. `bpftool feature probe kernel -j` is still run, for what it
says per type (its `helpers` section, keys `<type>_available_helpers`, and `program_types`), but
measured on this machine (bpftool 7.1 on kernel 6.18) its helper lists are wrong: all 206 helpers
for every type, `bpf_xdp_adjust_head` for tracepoints included. So each (type, helper) pair is
checked here the way bpftool means to, directly with bpf(BPF_PROG_LOAD): a program
`call helper; r0 = 0; exit` is rejected with "program of this type cannot use helper" or "invalid
func"/"unknown func" when the helper is not offered (kernel/bpf/verifier.c, check_helper_call), and
with something else (an argument check) or not at all when it is. Types whose programs cannot be
loaded that way (tracing, lsm, ext, struct_ops need a BTF target) keep bpftool's list, marked
unverified. All of it takes well under a second, so the result is cached in memory.
Whether a type can be attached here is another question: a kernel without kprobes still loads
kprobe programs. The doctor's checks (kprobes, fentry) give a note beside such types.
Signatures and descriptions come from the bpf-helpers(7) man page (generated from the comments in
include/uapi/linux/bpf.h) when it is installed, completed by EXTRA_DOCS for helpers newer than it.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from beefine_tui import privileges
from beefine_tui.errors import BeefineError, NotFoundError
from beefine_tui.probes import kernel_config
from beefine_tui.probes.kernel_config import Check

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
    # type -> why programs of it cannot be attached here although they load (kprobe without kprobes)
    attach_notes: dict[str, str] = field(default_factory=dict)
    types_source: str = "bpftool"  # where the list of types came from: "kernel BTF" or "bpftool"
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
                docs = with_extra_docs(parse_man(raw.decode("utf-8", errors="replace")))
            except (OSError, EOFError, gzip.BadGzipFile):
                docs = {}
            if path != MAN_PAGE:
                return docs
            _docs_cache = docs
        return _docs_cache


# Helpers newer than the installed bpf-helpers(7) (Debian's is from 6.1). Summarised from their doc
# comments in the kernel's include/uapi/linux/bpf.h (added in 6.2 with BPF_MAP_TYPE_CGRP_STORAGE).
EXTRA_DOCS: dict[str, HelperDoc] = {
    d.name: d
    for d in (
        HelperDoc(
            "bpf_cgrp_storage_get",
            "void *bpf_cgrp_storage_get(struct bpf_map *map, struct cgroup *cgroup, void *value, u64 flags)",
            "Find the value a BPF_MAP_TYPE_CGRP_STORAGE map keeps for a cgroup; with "
            "BPF_LOCAL_STORAGE_GET_F_CREATE it is created (from value, or zeroed) when missing.",
            "Like bpf_map_lookup_elem(map, &cgroup) with a cgroup as the key, except that the value "
            "lives in the cgroup object itself, found by a walk over that cgroup's storages.\n\n"
            "With BPF_LOCAL_STORAGE_GET_F_CREATE in flags a missing value is created: a copy of value, "
            "or zeros when value is NULL.",
            "A pointer to the value, or NULL when there is none (and none could be created).",
        ),
        HelperDoc(
            "bpf_cgrp_storage_delete",
            "long bpf_cgrp_storage_delete(struct bpf_map *map, struct cgroup *cgroup)",
            "Remove the value a BPF_MAP_TYPE_CGRP_STORAGE map keeps for a cgroup.",
            "Remove the value a BPF_MAP_TYPE_CGRP_STORAGE map keeps for a cgroup.",
            "0 on success, -ENOENT when the cgroup has no value in this map.",
        ),
    )
}


def with_extra_docs(docs: dict[str, HelperDoc]) -> dict[str, HelperDoc]:
    """The man page's docs, plus EXTRA_DOCS for the helpers it does not document."""
    return {**EXTRA_DOCS, **docs}


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
    return KernelHelpers(by_type, prog_types, probe_seconds=seconds, bpftool=bpftool)


@dataclass(frozen=True)
class KernelEnums:
    """The kernel's own numbering, from its BTF."""

    prog_types: dict[str, int]  # "xdp" -> 6 (enum bpf_prog_type, without BPF_PROG_TYPE_ and UNSPEC)
    attach_types: dict[str, int]  # "BPF_NETFILTER" -> 45 (enum bpf_attach_type)
    helper_ids: dict[int, str]  # 1 -> "bpf_map_lookup_elem" (enum bpf_func_id)


def enums_from_btf(enums: dict[str, dict[str, int]]) -> KernelEnums:
    prog_types = {
        name.removeprefix("BPF_PROG_TYPE_").lower(): v
        for name, v in (enums.get("bpf_prog_type") or {}).items()
        if name.startswith("BPF_PROG_TYPE_") and name != "BPF_PROG_TYPE_UNSPEC"
    }
    helper_ids = {
        v: "bpf_" + name.removeprefix("BPF_FUNC_")
        for name, v in (enums.get("bpf_func_id") or {}).items()
        if name.startswith("BPF_FUNC_") and name != "BPF_FUNC_unspec"
    }
    return KernelEnums(prog_types, dict(enums.get("bpf_attach_type") or {}), helper_ids)


def read_kernel_enums() -> KernelEnums | None:
    """The enums of the running kernel, or None when its BTF cannot be read."""
    from beefine_tui.probes.btf import BtfError, read_enums

    try:
        enums = read_enums(("bpf_prog_type", "bpf_attach_type", "bpf_func_id"))
    except BtfError:
        return None
    found = enums_from_btf(enums)
    return found if found.prog_types else None


# Types the kernel loads only with a given expected attach type (kernel/bpf/syscall.c,
# bpf_prog_load_check_attach); the numbers come from the kernel's enum bpf_attach_type.
EXPECTED_ATTACH = {
    "cgroup_sock_addr": "BPF_CGROUP_INET4_CONNECT",
    "cgroup_sockopt": "BPF_CGROUP_GETSOCKOPT",
    "sk_lookup": "BPF_SK_LOOKUP",
    "netfilter": "BPF_NETFILTER",
}
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
    types: list[str], enums: KernelEnums, max_id: int = 400
) -> tuple[dict[str, tuple[str, ...]], set[str]]:
    """Which helpers each type really offers, by loading one tiny program per (type, helper id).
    Returns (helpers per verified type, types that could not be checked)."""
    loader = _Loader()
    id_names = {hid: name for hid, name in enums.helper_ids.items() if hid < max_id}
    if not id_names:
        # no bpf_func_id in BTF: at log level 2 the verifier prints every instruction,
        # "call bpf_xxx#id", even when the program loads; ids run up to the first "unknown#id"
        probe_type = enums.prog_types["socket_filter"]
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
        tid = enums.prog_types.get(t)
        attach_name = EXPECTED_ATTACH.get(t)
        attach = enums.attach_types.get(attach_name, -1) if attach_name else 0
        if tid is None or attach < 0:
            unknown.add(t)
            continue
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
    return out, unknown


def attach_notes(kprobes: Check, fentry: Check, uprobes: bool | None) -> dict[str, str]:
    """Notes for types that load but cannot be attached here, from the doctor's kprobes and fentry
    checks ("ok", or a detail saying "not available"; when the doctor cannot tell, no note)."""
    notes: dict[str, str] = {}
    if kprobes.status != "ok" and "not available" in kprobes.detail:
        also = {
            True: "programs of this type can still attach to uprobes",
            False: "nothing can attach programs of this type here (no uprobes either)",
            None: "they may still attach to uprobes",
        }[uprobes]
        notes["kprobe"] = f"kprobes cannot be attached on this kernel (CONFIG_KPROBES off); {also}"
    if fentry.status != "ok" and "not available" in fentry.detail:
        notes["tracing"] = "fentry/fexit cannot be attached on this kernel (tracing programs are refused)"
    return notes


def detect_attach_notes(features: dict[str, object] | None) -> dict[str, str]:
    """attach_notes from this machine, by the same checks the doctor runs (probes/kernel_config.py)."""
    kconfig = kernel_config.read_kconfig(platform.release())
    kprobes = kernel_config.check_kprobes(
        kconfig, kernel_config.path_state(Path("/sys/kernel/tracing/kprobe_events"))
    )
    fentry = kernel_config.check_fentry(features)
    uprobes = None if kconfig is None else kconfig.get("CONFIG_UPROBE_EVENTS", "n") in ("y", "m")
    return attach_notes(kprobes, fentry, uprobes)


_kernel_cache: KernelHelpers | None = None
_kernel_lock = threading.Lock()


def probe_kernel(refresh: bool = False, timeout: float = PROBE_TIMEOUT_S) -> KernelHelpers:
    """The program types from the kernel's BTF, the helpers of each checked by loading, and what
    `bpftool feature probe kernel -j` says beside them; once per process (cached)."""
    global _kernel_cache
    with _kernel_lock:
        if _kernel_cache is not None and not refresh:
            return _kernel_cache

        privileges.require_bpf("probe which BPF helpers this kernel offers")
        enums = read_kernel_enums()
        data, said = _bpftool_probe(timeout, required=enums is None)
        t1 = time.monotonic()
        types = sorted(enums.prog_types) if enums is not None else said.types
        verified: dict[str, tuple[str, ...]] = {}
        if enums is not None:
            verified, _unknown = verify_helpers(types, enums)
        by_type = {t: verified.get(t, said.by_type.get(t, ())) for t in types}
        prog_types = dict(said.prog_types)
        for t in verified:
            prog_types.setdefault(t, True)  # bpftool did not know it; our loads did
        found = KernelHelpers(
            by_type=by_type,
            prog_types=prog_types,
            attach_notes=detect_attach_notes(data),
            types_source="kernel BTF" if enums is not None else "bpftool",
            probe_seconds=said.probe_seconds,
            bpftool=said.bpftool,
            bpftool_by_type=said.by_type,
            verified=frozenset(verified),
            verify_seconds=time.monotonic() - t1,
        )
        _kernel_cache = found
        return found


def _bpftool_probe(timeout: float, required: bool) -> tuple[dict[str, object] | None, KernelHelpers]:
    """(raw JSON, parsed) of `bpftool feature probe kernel -j`; without bpftool an empty answer,
    unless nothing else can list the program types (no BTF): then a clear error."""
    exe = shutil.which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if Path(p).exists()), None
    )
    if exe is None:
        if required:
            raise BeefineError(
                "bpftool is not installed and the kernel's BTF cannot be read",
                "apt-get install bpftool (or `make setup`)",
            )
        return None, KernelHelpers({})
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
        if not required:
            return None, KernelHelpers({}, probe_seconds=seconds, bpftool=exe)
        err = (res.stderr or "").strip().splitlines()
        raise BeefineError(
            f"bpftool feature probe failed (exit {res.returncode})", err[-1] if err else "no output"
        ) from e
    said = parse_feature_probe(data, seconds, exe)
    if required and not said.by_type:
        raise BeefineError("bpftool reported no helpers at all", "is this process allowed to load BPF?")
    return data, said


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


# --- over the agent -----------------------------------------------------------------------------
def kernel_report(kh: KernelHelpers, docs: dict[str, HelperDoc]) -> dict[str, object]:
    """What `helpers` needs of a host, as JSON: its kernel's helpers per type and its docs of them
    (the agent's `helpers` command; a newer host kernel's man page knows helpers ours does not)."""
    import msgspec

    named = {n for names in kh.by_type.values() for n in names}
    return {
        "kernel": msgspec.to_builtins(kh),
        "docs": {n: msgspec.to_builtins(d) for n, d in docs.items() if n in named},
    }


def from_report(
    report: object, local_docs: dict[str, HelperDoc] | None = None
) -> tuple[KernelHelpers, dict[str, HelperDoc]]:
    """kernel_report's JSON back; the host's docs first, ours for what the host's man page lacks.
    BeefineError when it is not one (an agent of another kind)."""
    import msgspec

    try:
        d = msgspec.convert(report, dict[str, object])
        kh = msgspec.convert(d["kernel"], KernelHelpers)
        docs = msgspec.convert(d.get("docs") or {}, dict[str, HelperDoc])
    except (msgspec.ValidationError, KeyError, TypeError) as e:
        raise BeefineError(f"the agent's helpers report is not one this client understands: {e}") from None
    return kh, {**(local_docs or {}), **docs}
