"""Helpers for the hostile-input tests: run the CLI in-process (fast) or as a subprocess (when the exit
code, a signal or the peak memory of the process is what is checked), and files of every bad kind."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from beefine_tui.cli import main
from tests.tui.conftest import make_app  # noqa: F401 (a fixture, shared with the TUI tests)


@dataclass(frozen=True)
class Result:
    rc: int
    out: str
    err: str
    max_rss_kib: int = 0  # peak resident memory of a subprocess run


def cli_inproc(capsys: pytest.CaptureFixture[str], *argv: str) -> Result:
    """main() in this process; argparse's own refusals (SystemExit) count as their exit code."""
    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = int(e.code or 0)
    cap = capsys.readouterr()
    return Result(rc, cap.out, cap.err)


# `python -m beefine_tui` that, however main() ends, adds its own peak memory (VmHWM) as a last stderr
# line. Not wait4's ru_maxrss: Linux carries the forking parent's peak across exec, and late in a full
# test run pytest itself is over 300 MB, so a child's figure depended on the tests run before it.
_HWM_MARK = "[beefine-test: VmHWM kiB] "
_MAIN_WITH_HWM = (
    "import sys\n"
    "from beefine_tui.cli import main\n"
    "try:\n"
    "    rc = main()\n"
    "finally:\n"
    "    sys.stdout.flush()\n"
    "    hwm = next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1]\n"
    f"    sys.stderr.write('\\n{_HWM_MARK}' + hwm + '\\n')\n"
    "raise SystemExit(rc)\n"
)


def cli_sub(*argv: str, timeout: float = 120, prefix: tuple[str, ...] = (), cwd: str | None = None) -> Result:
    """beefine-tui in a child process; its exit code and its own peak memory (VmHWM; wait4's rusage
    only when it died before saying it)."""
    cmd = [*prefix, sys.executable, "-c", _MAIN_WITH_HWM, *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd)
        killer = threading.Timer(timeout, proc.kill)  # a hang fails the test instead of blocking it
        killer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said = err.read().decode(errors="replace")
        text, mark, hwm = said.rpartition(_HWM_MARK)
        peak = usage.ru_maxrss
        if mark:
            said, peak = text.removesuffix("\n"), int(hwm.strip())
        return Result(proc.returncode, out.read().decode(errors="replace"), said, peak)


def assert_clear(r: Result, rc: int, *words: str) -> None:
    """The exit code, each expected word in stderr, and never a traceback or an internal error."""
    assert r.rc == rc, (r.rc, r.err[-2000:])
    for w in words:
        assert w in r.err, (w, r.err[-2000:])
    assert "Traceback" not in r.err and "internal error" not in r.err, r.err[-2000:]


def listing(d: Path) -> dict[str, tuple[int, int]]:
    """Names, sizes and modes under `d`: compared before/after to prove nothing was made or changed."""
    out = {}
    for p in sorted(d.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(d))] = (st.st_size, st.st_mode)
    return out


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    p = tmp_path / "a.fifo"
    os.mkfifo(p)
    yield p


@pytest.fixture
def sparse_200m(tmp_path: Path) -> Path:
    """A 200 MB file of NUL bytes on one line, which costs no disk (sparse)."""
    p = tmp_path / "huge.jsonl"
    with open(p, "wb") as f:
        f.truncate(200 * 1000 * 1000)
    return p
