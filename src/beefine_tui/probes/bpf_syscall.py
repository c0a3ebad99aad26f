"""The bpf(2) system call through libc's syscall(), for the few commands BCC does not wrap.

One table of syscall numbers per architecture, one `bpf()` that raises OSError with the kernel's
errno, and `enable_stats_fd()`. No Textual, no BCC: the doctor uses it before either is known to work.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import threading
from typing import Any

# __NR_bpf per `uname -m` (arch/*/include/uapi/asm/unistd*.h; the generic table is 280)
SYSCALL_NUMBERS = {
    "x86_64": 321,
    "i386": 357,
    "i686": 357,
    "aarch64": 280,
    "arm64": 280,
    "armv7l": 386,
    "armv6l": 386,
    "ppc64le": 361,
    "ppc64": 361,
    "s390x": 351,
    "riscv64": 280,
    "loongarch64": 280,
}

# enum bpf_cmd (include/uapi/linux/bpf.h)
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_LINK_CREATE = 28
BPF_ENABLE_STATS = 32
BPF_LINK_DETACH = 34
# enum bpf_stats_type
BPF_STATS_RUN_TIME = 0

_libc_lock = threading.Lock()
_syscall_fn: Any = None


def syscall_number(machine: str | None = None) -> int | None:
    """__NR_bpf on this machine (or `machine`), None when it is not in the table."""
    return SYSCALL_NUMBERS.get(platform.machine() if machine is None else machine)


def libc_syscall() -> Any:
    """libc's syscall(), returning a long and keeping errno (ctypes.get_errno): one handle per process."""
    global _syscall_fn
    with _libc_lock:
        if _syscall_fn is None:
            # a CDLL of our own: restype set here does not leak into anyone else's handle
            fn = ctypes.CDLL(None, use_errno=True).syscall
            fn.restype = ctypes.c_long
            _syscall_fn = fn
        return _syscall_fn


def _raw_syscall(nr: int, cmd: int, attr: Any, size: int) -> tuple[int, int]:
    """(return value, errno); replaced in unit tests to map any errno without a kernel."""
    ret = libc_syscall()(ctypes.c_long(nr), ctypes.c_int(cmd), attr, ctypes.c_uint(size))
    return int(ret), ctypes.get_errno()


def _as_attr(attr: Any) -> tuple[Any, int]:
    """A pointer argument and its size for bytes, bytearray or any ctypes object."""
    if isinstance(attr, bytes):
        buf = ctypes.create_string_buffer(attr, len(attr))  # a private, writable copy
        return buf, len(attr)
    if isinstance(attr, bytearray):
        # shares the caller's memory, so what the kernel writes back is visible there
        view = (ctypes.c_char * len(attr)).from_buffer(attr)
        return view, len(attr)
    if isinstance(attr, type):  # a ctypes type instead of an instance: sizeof would accept it
        raise TypeError(f"bpf() attr must be an instance, not the type {attr.__name__}")
    try:
        size = ctypes.sizeof(attr)
    except TypeError:
        raise TypeError(
            f"bpf() attr must be bytes, bytearray or a ctypes object, not {type(attr).__name__}"
        ) from None
    return ctypes.byref(attr), size


def bpf(cmd: int, attr: Any) -> int:
    """bpf(cmd, &attr, sizeof attr); returns the result (often a new fd, O_CLOEXEC).

    Raises OSError with the kernel's errno when it fails, and OSError(ENOSYS) on an architecture
    whose syscall number is unknown here."""
    nr = syscall_number()
    if nr is None:
        raise OSError(errno.ENOSYS, f"bpf() syscall number unknown on {platform.machine()}")
    ptr, size = _as_attr(attr)
    ret, err = _raw_syscall(nr, cmd, ptr, size)
    if ret < 0:
        err = err or errno.EIO  # -1 without errno should not happen; never report "success"
        raise OSError(err, os.strerror(err))
    return ret


def enable_stats_fd(stats_type: int = BPF_STATS_RUN_TIME) -> int:
    """bpf(BPF_ENABLE_STATS): run counts and run time are counted while this fd is open (Linux 5.8+).

    The kernel keeps a count of such fds; counting stops when the last one is closed, including
    when its holder dies (SIGKILL too). It adds to kernel.bpf_stats_enabled and leaves the sysctl
    as it was. EINVAL: the kernel is older than 5.8; EPERM: CAP_SYS_ADMIN is needed."""
    attr = (ctypes.c_uint32 * 1)(stats_type)  # union bpf_attr.enable_stats.type
    return bpf(BPF_ENABLE_STATS, attr)
