"""Files a user names on the command line or in the TUI: read with a bound, created without surprises.

Reading: the file is opened without following a fifo's wait (O_NONBLOCK), checked on the open
descriptor (fstat, so a swap between check and open changes nothing) to be a regular file, and at
most `limit + 1` bytes are read, so /dev/zero, a fifo or a 200 MB file cannot grow memory before the
size check says no. Writing: a recording holds every traced process's argv, so it is created 0600,
never through a symbolic link, and an existing file is replaced only when asked (--force).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO

from beefine_tui.errors import NotFoundError, UsageError

RECORDING_MODE = 0o600
# a BPF program's source, as a file or pasted: larger is not a program a person wrote
MAX_SOURCE_BYTES = 1 << 20


def _human(n: int) -> str:
    return f"{n // (1 << 20)} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n // 1024} KiB"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a fifo (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | Path, what: str = "file") -> io.BufferedReader:
    """Open a user-named file for reading, refusing anything that is not a regular file."""
    p = Path(path).expanduser()
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        raise NotFoundError(f"no such {what}: {p}") from None
    except IsADirectoryError:
        raise UsageError(f"{p} is a directory, not a {what}") from None
    except OSError as e:
        raise UsageError(f"cannot open {what} {p}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(
                f"{p} is {_kind(st.st_mode)}, not a {what}", f"give the path of a regular {what}"
            )
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """At most `limit` bytes of a regular file; a larger one is refused before it is read whole."""
    p = Path(path).expanduser()
    with open_regular(p, what) as f:
        try:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise UsageError(f"{p} is larger than {_human(limit)} ({size} bytes): is it a {what}?")
            raw = f.read(limit + 1)  # a file growing while read is still bounded
        except OSError as e:
            raise UsageError(f"cannot read {p}: {e.strerror or e}") from None
    if len(raw) > limit:
        raise UsageError(f"{p} is larger than {_human(limit)}: is it a {what}?")
    return raw


def read_text_bounded(path: str | Path, limit: int, what: str = "file") -> str:
    raw = read_bounded(path, limit, what)
    if b"\0" in raw:
        raise UsageError(
            f"{Path(path).expanduser()} is not UTF-8 text (it holds NUL bytes): is it a binary file?"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(
            f"{Path(path).expanduser()} is not UTF-8 text (byte {e.start}): is it a binary file?"
        ) from None


def check_output(path: str | Path, *, force: bool = False, what: str = "recording") -> os.stat_result | None:
    """The refusals of create_output, without creating anything: run before slow work (a lab, probes)
    so a bad --record path fails first. Returns the existing file's lstat, or None."""
    p = Path(path).expanduser()
    try:
        st: os.stat_result | None = os.lstat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UsageError(f"cannot write the {what} {p}: {e.strerror or e}") from None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UsageError(
                f"{p} is a symbolic link; not following it to write the {what}",
                "give the real path, or a new file name",
            )
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{p} is a directory", f"give a file name for the {what}")
        if not force:
            raise UsageError(
                f"{p} already exists; not overwriting it",
                "pick a new file name, or add --force to replace it",
            )
    elif not p.parent.is_dir():
        raise UsageError(f"cannot write the {what} {p}: its directory {p.parent} does not exist")
    return st


def create_output(path: str | Path, *, force: bool = False, what: str = "recording") -> BinaryIO:
    """A new file, mode 0600, never through a symbolic link.

    An existing regular file is refused unless `force`; then it is removed and made anew (so it gets
    mode 0600 and no other holder of the old file sees what is written). With `force` an existing
    device or fifo (/dev/null, a pipe read by another program) is written to, never removed.
    """
    p = Path(path).expanduser()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    st = check_output(p, force=force, what=what)
    if st is not None:
        if stat.S_ISREG(st.st_mode):
            try:
                p.unlink()
            except OSError as e:
                raise UsageError(f"cannot replace {p}: {e.strerror or e}") from None
        else:
            # a device or fifo: write into it; O_NONBLOCK so a fifo nobody reads fails now (ENXIO)
            # instead of hanging here
            flags = os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK
    try:
        fd = os.open(p, flags, RECORDING_MODE)
    except FileExistsError:
        raise UsageError(f"{p} appeared while it was being created; not overwriting it") from None
    except OSError as e:
        hint = "nothing reads that fifo: start its reader first" if e.errno == errno.ENXIO else ""
        raise UsageError(f"cannot write the {what} {p}: {e.strerror or e}", hint) from None
    with contextlib.suppress(OSError):
        os.set_blocking(fd, True)
    try:
        # unbuffered: the recorder writes whole batches and must see a failure at the write that failed
        return os.fdopen(fd, "wb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
