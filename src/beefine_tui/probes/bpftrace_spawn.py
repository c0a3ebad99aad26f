"""Starting bpftrace so that it never outlives us: forked from one long-lived thread, with
PR_SET_PDEATHSIG, in its own process group that stop() signals whole."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
from queue import Empty, Queue
from typing import Any

_PR_SET_PDEATHSIG = 1


def child_setup(parent: int) -> None:
    """In the child before exec: raise the soft RLIMIT_MEMLOCK to the hard limit (all we may do
    without CAP_SYS_RESOURCE), and ask for SIGTERM when the thread that forked us dies (which is
    the spawner thread below: it lives as long as our process), so bpftrace ends with us even if
    we are SIGKILLed. bpftrace treats SIGTERM like SIGINT: it detaches and exits."""
    with contextlib.suppress(ValueError, OSError):
        _soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (hard, hard))
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # we already lost our parent before the prctl
        os._exit(1)


class _Spawner:
    """One daemon thread that forks every bpftrace. PR_SET_PDEATHSIG fires when the forking
    *thread* exits, so forking from a short-lived worker thread (a Textual worker) would kill
    bpftrace when the worker ends; this thread ends only with the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: Queue[tuple[list[str], dict[str, Any], Queue[Any]]] = Queue()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while True:
            cmd, kw, reply = self._jobs.get()
            try:
                reply.put(subprocess.Popen(cmd, **kw))
            except BaseException as e:  # handed back to the caller
                reply.put(e)

    def popen(self, cmd: list[str], timeout: float = 30.0, **kw: Any) -> subprocess.Popen[bytes]:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="beefine-spawner", daemon=True)
                self._thread.start()
        reply: Queue[Any] = Queue(maxsize=1)
        self._jobs.put((cmd, kw, reply))
        try:
            out = reply.get(timeout=timeout)
        except Empty as e:
            raise OSError("the process spawner did not answer") from e
        if isinstance(out, BaseException):
            raise out
        proc: subprocess.Popen[bytes] = out
        return proc


spawner = _Spawner()


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
