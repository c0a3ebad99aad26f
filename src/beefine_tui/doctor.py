"""Can this machine run Beefine? Each check gives one line: ok, warn or fail, what was found, and a fix.

The classifiers are pure functions over text and paths (unit-tested on fake inputs); `run_checks()` feeds
them this machine's files and commands. Nothing here raises for a missing tool or file: a check reports it.
No Textual imports here.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from beefine_tui.docker.client import connect, resolve_docker_host
from beefine_tui.errors import BeefineError
from beefine_tui.privileges import (
    CAP_BPF,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    bpftrace_refusal,
    effective_caps,
    xdp_refusal,
)
from beefine_tui.probes import bpf_syscall
from beefine_tui.probes.kernel_config import (
    Check,
    check_fentry,
    check_kprobes,
    path_state,
)
from beefine_tui.probes.kernel_config import read_kconfig as _kconfig

# ---------------------------------------------------------------------------------------------- classifiers


def check_privileges(euid: int, capeff: int) -> Check:
    if euid == 0:
        return Check("privileges", "ok", "running as root")
    if capeff >> CAP_SYS_ADMIN & 1 or (capeff >> CAP_BPF & 1 and capeff >> CAP_PERFMON & 1):
        # what capabilities alone do not give, said now rather than as a wrong error later
        limits = [bpftrace_refusal(euid).split(";")[0], xdp_refusal(capeff, euid)]
        return Check(
            "privileges",
            "warn",
            f"not root (uid {euid}), has CAP_BPF+CAP_PERFMON: BCC probes can load, but "
            + "; ".join(x for x in limits if x),
            "run as root for the bpftrace probes (and XDP without CAP_NET_ADMIN): sudo beefine-tui",
        )
    return Check(
        "privileges",
        "fail",
        f"not root (uid {euid}) and no CAP_BPF+CAP_PERFMON: eBPF programs cannot be loaded",
        "run it as root: sudo beefine-tui (or give the binary CAP_BPF,CAP_PERFMON,CAP_SYS_RESOURCE)",
    )


def check_btf(btf: Path) -> Check:
    if btf.exists():
        return Check("btf", "ok", f"{btf} present (bpftrace reads kernel structs through it)")
    return Check(
        "btf",
        "warn",
        f"{btf} missing: bpftrace probes that read kernel structs (namespaces, cgroups) cannot run",
        "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distro kernels since 5.x)",
    )


def check_tracefs(tracing: Path, debug_tracing: Path) -> Check:
    denied = False
    for root in (tracing, debug_tracing):
        state = path_state(root / "events")
        if state:
            return Check("tracefs", "ok", f"mounted at {root} (tracepoint formats readable)")
        denied = denied or state is None
    if denied:
        return Check(
            "tracefs",
            "warn",
            f"{tracing} is there but this user may not read it (root-only): probes need it readable",
            "run as root (sudo beefine-tui), or have root remount it with a group of yours: "
            f"mount -o remount,gid=GID {tracing}",
        )
    return Check(
        "tracefs",
        "fail",
        "tracefs is not mounted: BCC cannot read tracepoint formats, so no probe can attach",
        f"sudo mount -t tracefs nodev {tracing}  (sudo make setup does it)",
    )


HeadersKind = Literal["exact", "fallback", "mismatched", "none"]


def classify_headers(release: str, modules: Path) -> tuple[HeadersKind, str]:
    """Kernel headers BCC would use for `release`, from /lib/modules/<release>/ (`modules`).

    exact: build/ is this kernel's own headers. fallback: setup linked another version's headers and said
    so in .beefine-fallback-headers. mismatched: build/ points at another version without that note.
    none: no usable build/."""
    build = modules / "build"
    marker = modules / ".beefine-fallback-headers"
    try:
        target = build.resolve(strict=True)
    except (OSError, RuntimeError):
        return "none", f"{build} does not exist"
    if not (target / "include").is_dir() and not (target / "Makefile").exists():
        return "none", f"{build} -> {target} has no headers in it"
    if marker.exists():
        with contextlib.suppress(OSError):
            pkg = marker.read_text().strip() or "another version"
            return "fallback", f"{build} -> {target} ({pkg}, linked by setup as a fallback)"
        return "fallback", f"{build} -> {target} (fallback)"
    if release not in str(target):
        return "mismatched", f"{build} -> {target}, which is not {release}"
    return "exact", f"{build} -> {target}"


def check_headers(release: str, modules: Path) -> Check:
    kind, where = classify_headers(release, modules)
    exact_fix = f"sudo apt-get install linux-headers-{release}  (when your distro ships it)"
    if kind == "exact":
        return Check("headers", "ok", f"exact: {where}")
    if kind in ("fallback", "mismatched"):
        return Check(
            "headers",
            "warn",
            f"{kind}: {where}; BCC works (probes read only tracepoint args) but struct layouts may differ",
            exact_fix,
        )
    return Check(
        "headers",
        "fail",
        f"none: {where}; BCC cannot compile the built-in probes",
        exact_fix + ", else run `sudo make setup` for the documented fallback",
    )


def kernel_version(release: str) -> tuple[int, int]:
    m = re.match(r"^(\d+)\.(\d+)", release)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def check_ringbuf(features: dict[str, object] | None, probe: bool | None, release: str) -> Check:
    """BPF ring buffer: from bpftool's map type probe, else our own map-create probe, else >= 5.8."""
    verdict: bool
    if features is not None and isinstance(features.get("map_types"), dict):
        map_types = features["map_types"]
        verdict = isinstance(map_types, dict) and bool(map_types.get("have_ringbuf_map_type"))
        source = "bpftool feature probe"
    elif probe is not None:
        verdict, source = probe, "BPF_MAP_CREATE of a ring buffer"
    else:
        verdict, source = kernel_version(release) >= (5, 8), f"kernel {release} >= 5.8"
    if verdict:
        return Check("ringbuf", "ok", f"BPF ring buffer supported ({source})")
    return Check(
        "ringbuf",
        "warn",
        f"no BPF ring buffer ({source}): probes fall back to perf buffers (more overhead per event)",
        "use a kernel >= 5.8",
    )


def classify_cgroups(mountinfo: str) -> tuple[str, str]:
    """v2, v1 or hybrid from /proc/self/mountinfo: where cgroup and cgroup2 are mounted."""
    v1: list[str] = []
    v2: list[str] = []
    for line in mountinfo.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        fields = left.split()
        fstype = right.split()[0] if right.split() else ""
        if len(fields) < 5:
            continue
        if fstype == "cgroup2":
            v2.append(fields[4])
        elif fstype == "cgroup":
            v1.append(fields[4])
    if "/sys/fs/cgroup" in v2 and not v1:
        return "v2", "unified cgroup2 at /sys/fs/cgroup"
    if v1 and v2:
        return "hybrid", f"{len(v1)} v1 hierarchies + cgroup2 at {', '.join(v2)}"
    if v1:
        return "v1", f"{len(v1)} v1 hierarchies, no cgroup2"
    if v2:
        return "v2", f"cgroup2 at {', '.join(v2)}"
    return "none", "no cgroup filesystem mounted"


def check_cgroups(mountinfo: str) -> Check:
    mode, detail = classify_cgroups(mountinfo)
    if mode == "v2":
        return Check("cgroups", "ok", f"v2 ({detail}): containers are matched by cgroup id and pid namespace")
    if mode in ("v1", "hybrid"):
        return Check(
            "cgroups",
            "ok",
            f"{mode} ({detail}): the BPF cgroup id is not per container here, so containers are matched by "
            "pid namespace and process lineage",
        )
    return Check("cgroups", "fail", detail, "mount cgroups (your init system normally does)")


def parse_bpftrace_version(text: str) -> str | None:
    m = re.search(r"v?(\d+\.\d+(?:\.\d+)?)", text)
    return m.group(1) if m else None


def check_bpftrace(version_text: str | None) -> Check:
    fix = "sudo apt-get install bpftrace  (or sudo make setup)"
    if version_text is None:
        return Check(
            "bpftrace", "warn", "bpftrace not found: namespace and cgroup probes are unavailable", fix
        )
    v = parse_bpftrace_version(version_text)
    if v is None:
        return Check("bpftrace", "warn", f"bpftrace answered oddly: {version_text.strip()[:80]}", fix)
    return Check("bpftrace", "ok", f"bpftrace {v}")


def check_bpftool(path: str | None) -> Check:
    if path:
        return Check("bpftool", "ok", f"{path}")
    return Check(
        "bpftool",
        "warn",
        "bpftool not found: the helpers and progs views are limited",
        "sudo apt-get install bpftool",
    )


def check_bpf_syscall(result: tuple[bool, str]) -> Check:
    ok, detail = result
    if ok:
        return Check("bpf", "ok", detail)
    return Check("bpf", "fail", detail, "run as root; check kernel.unprivileged_bpf_disabled and lockdown")


def check_bcc(found: bool) -> Check:
    if found:
        return Check("bcc", "ok", "BCC Python bindings importable")
    return Check(
        "bcc",
        "fail",
        "the `bcc` Python module is missing: built-in probes cannot compile",
        "sudo apt-get install python3-bpfcc; build the venv with --system-site-packages (sudo make setup)",
    )


def check_docker(host: str | None, version: str | None, error: str, dockerd: str | None) -> Check:
    """`host` is what the app would use (DOCKER_HOST, else the system socket when it answers, else None)."""
    if host is not None and version is not None:
        return Check("docker", "ok", f"Docker {version} answers at {host}")
    if host is not None:
        # the app uses a DOCKER_HOST it is given even when nothing answers there, and says so
        return Check(
            "docker",
            "warn",
            f"no Docker daemon answers at {host}: {error}; the app will open without containers",
            "start that daemon, or unset DOCKER_HOST so the app uses the system one or its embedded lab",
        )
    where = "(no DOCKER_HOST, nothing at /var/run/docker.sock)"
    if dockerd:
        return Check(
            "docker",
            "warn",
            f"no Docker daemon answers {where}; the app will start its embedded lab ({dockerd})",
            "nothing to do; or start Docker / set DOCKER_HOST to use your own daemon",
        )
    return Check(
        "docker",
        "warn",
        f"no Docker daemon answers {where} and dockerd is not installed, so the embedded lab cannot start",
        "sudo apt-get install docker.io  (or sudo make setup)",
    )


def check_lab(found: dict[str, bool]) -> Check:
    """What the embedded lab needs: {package: present}."""
    missing = [pkg for pkg, ok in found.items() if not ok]
    if not missing:
        return Check(
            "lab", "ok", "dockerd, docker-registry and a static busybox are there: the lab can start"
        )
    return Check(
        "lab",
        "warn",
        f"the embedded lab cannot start: missing {', '.join(missing)}",
        f"sudo apt-get install {' '.join(missing)}  (or sudo make setup)",
    )


def _lab_tools() -> dict[str, bool]:
    return {
        "docker.io": shutil.which("dockerd") is not None,
        "docker-registry": shutil.which("docker-registry") is not None,
        "busybox-static": os.access("/bin/busybox", os.X_OK),
    }


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "fail" for c in checks) else 0


# ---------------------------------------------------------------------------------------------- probes


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char]) -> tuple[int, int]:
    """(fd, 0) or (-1, errno); (-1, 0) when this architecture's syscall number is unknown."""
    if bpf_syscall.syscall_number() is None:
        return -1, 0
    try:
        return bpf_syscall.bpf(cmd, attr), 0
    except OSError as e:
        return -1, e.errno or 0


def probe_bpf_prog_load() -> tuple[bool, str]:
    """BPF_PROG_LOAD of a 2-instruction socket filter (r0 = 0; exit): the bpf() syscall works."""
    if bpf_syscall.syscall_number() is None:
        return False, f"unknown bpf() syscall number on {platform.machine()}"
    insns = (ctypes.c_uint64 * 2)(0x00000000000000B7, 0x0000000000000095)  # mov64 r0, 0 ; exit
    lic = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    # union bpf_attr for BPF_PROG_LOAD: prog_type u32, insn_cnt u32, insns u64, license u64
    ctypes.memmove(ctypes.addressof(attr), (ctypes.c_uint32 * 2)(1, 2), 8)  # BPF_PROG_TYPE_SOCKET_FILTER
    ctypes.memmove(ctypes.addressof(attr) + 8, ctypes.byref(ctypes.c_uint64(ctypes.addressof(insns))), 8)
    ctypes.memmove(ctypes.addressof(attr) + 16, ctypes.byref(ctypes.c_uint64(ctypes.addressof(lic))), 8)
    fd, err = _bpf(bpf_syscall.BPF_PROG_LOAD, attr)
    if fd >= 0:
        os.close(fd)
        return True, "bpf() loaded a test program (socket filter) and JIT/verifier accepted it"
    return False, f"bpf(BPF_PROG_LOAD) failed: {os.strerror(err)} ({errnoname(err)})"


def probe_ringbuf_map() -> bool | None:
    """BPF_MAP_CREATE of a one-page ring buffer; None when it cannot tell (no permission)."""
    if bpf_syscall.syscall_number() is None:
        return None
    attr = ctypes.create_string_buffer(128)
    # map_type, key_size, value_size, max_entries (u32 each); ring buffer = type 27, size a page
    ctypes.memmove(ctypes.addressof(attr), (ctypes.c_uint32 * 4)(27, 0, 0, os.sysconf("SC_PAGE_SIZE")), 16)
    fd, err = _bpf(bpf_syscall.BPF_MAP_CREATE, attr)
    if fd >= 0:
        os.close(fd)
        return True
    return None if err == 1 else False  # EPERM says nothing about support


def errnoname(err: int) -> str:
    return errno.errorcode.get(err, str(err))


def _bpftool_features(bpftool: str | None) -> dict[str, object] | None:
    if not bpftool or os.geteuid() != 0:
        return None
    try:
        r = subprocess.run(
            [bpftool, "feature", "probe", "kernel", "-j"], capture_output=True, text=True, timeout=20
        )
        data = json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _bpftrace_version() -> str | None:
    exe = shutil.which("bpftrace")
    if not exe:
        return None
    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    return r.stdout or r.stderr


def _docker() -> tuple[str | None, str | None, str]:
    try:
        host = resolve_docker_host(None)
    except BeefineError as e:
        return None, None, e.message
    if host is None:
        return None, None, ""
    try:
        client = connect(host, timeout=5)
    except BeefineError as e:
        return host, None, e.message
    try:
        return host, str(client.version().get("Version", "?")), ""
    except Exception as e:  # the SDK raises many kinds; the doctor reports, never crashes
        return host, None, f"{type(e).__name__}: {e}"
    finally:
        client.close()


def _bcc_found() -> bool:
    try:
        return importlib.util.find_spec("bcc") is not None
    except (ImportError, ValueError):
        return False


def run_checks() -> list[Check]:
    """Every check against this machine. Each is isolated: one raising becomes a failed line."""
    release = platform.release()
    euid = os.geteuid()
    bpftool = shutil.which("bpftool") or next(
        (p for p in ("/usr/sbin/bpftool", "/sbin/bpftool") if os.access(p, os.X_OK)), None
    )
    features = _bpftool_features(bpftool)
    tracing = Path("/sys/kernel/tracing")
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("privileges", lambda: check_privileges(euid, effective_caps())),
        ("bpf", lambda: check_bpf_syscall(probe_bpf_prog_load())),
        ("bcc", lambda: check_bcc(_bcc_found())),
        ("btf", lambda: check_btf(Path("/sys/kernel/btf/vmlinux"))),
        ("tracefs", lambda: check_tracefs(tracing, Path("/sys/kernel/debug/tracing"))),
        ("headers", lambda: check_headers(release, Path("/lib/modules") / release)),
        ("kprobes", lambda: check_kprobes(_kconfig(release), path_state(tracing / "kprobe_events"))),
        ("fentry", lambda: check_fentry(features, bpftool is not None)),
        ("ringbuf", lambda: check_ringbuf(features, probe_ringbuf_map(), release)),
        ("bpftrace", lambda: check_bpftrace(_bpftrace_version())),
        ("bpftool", lambda: check_bpftool(bpftool)),
        ("docker", lambda: check_docker(*_docker(), shutil.which("dockerd"))),
        ("lab", lambda: check_lab(_lab_tools())),
        ("cgroups", lambda: check_cgroups(_read("/proc/self/mountinfo"))),
    ]
    out: list[Check] = []
    for name, step in steps:
        try:
            out.append(step())
        except Exception as e:  # a broken check must not hide the others
            out.append(
                Check(name, "fail", f"the check itself failed: {type(e).__name__}: {e}", "report this bug")
            )
    return out
