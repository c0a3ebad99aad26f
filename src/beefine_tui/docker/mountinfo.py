"""Mount points from /proc/<pid>/mountinfo, and a lazy umount: what the lab needs to take its daemon's
mounts down (and the tests to check none is left)."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
from pathlib import Path
from typing import Any


def unescape_mount(path: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def mounts_in(mountinfo: str, root: Path) -> list[str]:
    """Mount points at or below `root` in a /proc/<pid>/mountinfo text, deepest first."""
    top = str(root)
    out = set()
    for line in mountinfo.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        mp = unescape_mount(parts[4])
        if mp == top or mp.startswith(top + "/"):
            out.add(mp)
    return sorted(out, key=lambda m: (m.count("/"), m), reverse=True)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace, deepest first."""
    try:
        return mounts_in(Path("/proc/self/mountinfo").read_text(), path)
    except OSError:
        return []


_libc: Any = None


def umount_lazy(path: str) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.umount2(path.encode(), 2) != 0:  # 2 = MNT_DETACH
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise OSError(err, os.strerror(err), path)
