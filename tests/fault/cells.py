"""One fault cell: start a real beefine-tui doing something (a situation), end it one way (an ending),
then check, by the pids it started, that nothing of it is left. Shared by tests/fault/ and
bench/fault_matrix.py (which runs every cell N times and prints clean/leaked).

Each run happens under `script` (which records every byte written to the terminal, so the restore
sequences can be checked, and the exit status) inside a private tmux server (a real terminal to type
ctrl+q / ctrl+c into, and whose end is a real hangup, as when an SSH connection drops).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from tests.integration.probe_harness import progs_still_loaded

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
NO_DOCKER = "unix:///nonexistent/beefine-fault.sock"
ENV = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR", "DOCKER_HOST")}
RESTORE = {"alternate screen off": b"\x1b[?1049l", "mouse off": b"\x1b[?1000l", "cursor shown": b"\x1b[?25h"}
REAPED = "removed what a killed beefine-tui left"

SITUATIONS = ("tui-exec", "tui-xdp", "tui-image", "trace-pull", "tui-lab-start", "tui-lab-run")
ENDINGS = ("ctrl+q", "ctrl+c", "SIGINT", "SIGTERM", "SIGHUP", "hangup", "SIGKILL")
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGHUP": signal.SIGHUP}
# what each ending's exit status must be (None: nobody is left to see it)
EXIT_STATUS = {"ctrl+q": 0, "ctrl+c": 0, "SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}


class Terminal:
    """`script` in a private tmux server (its own socket: kill-server only ever kills ours)."""

    def __init__(self, workdir: Path) -> None:
        self.socket = f"beefine-fault-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.typescript = workdir / f"{self.socket}.typescript"

    def tmux(self, *args: str, check: bool = True) -> str:
        p = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=15, env=ENV
        )
        if check and p.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {p.stderr.strip()}")
        return p.stdout

    def start(self, argv: list[str]) -> None:
        app = f"cd {REPO} && exec env PYTHONPATH={REPO / 'src'} {PYTHON} -m beefine_tui {shlex.join(argv)}"
        script = f"exec script -qfec {shlex.quote(app)} {self.typescript}"
        self.tmux(
            "new-session", "-d", "-s", "f", "-x", "120", "-y", "40", "-e", "TERM=xterm-256color", script
        )
        self.tmux("set-option", "-t", "f", "remain-on-exit", "on")

    def app_pid(self, timeout: float = 30) -> int:
        """The beefine-tui process: the only child of `script` (it execs the command)."""
        pane = int(self.tmux("display-message", "-p", "-t", "f", "#{pane_pid}").strip())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                for c in psutil.Process(pane).children():
                    if "beefine_tui" in " ".join(c.cmdline()):
                        return c.pid
            time.sleep(0.02)
        raise AssertionError("beefine-tui did not start under script")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "f", check=False)

    def wait_screen(self, cond: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        s = ""
        while time.monotonic() < deadline:
            s = self.screen()
            if cond(s):
                return s
            time.sleep(0.2)
        raise AssertionError(f"the screen never showed what was awaited; last screen:\n{s}")

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "f", *(["-l"] if literal else []), *keys)

    def output(self) -> bytes:
        try:
            return self.typescript.read_bytes()
        except OSError:
            return b""

    def exit_status(self) -> int | None:
        """`script -e` writes the command's exit status on its last line."""
        m = re.search(rb'COMMAND_EXIT_CODE="(\d+)"', self.output())
        return int(m.group(1)) if m else None

    def hang_up(self) -> None:
        """The terminal goes away, as when an SSH connection drops: the process holding the pty's
        master side dies, so the kernel hangs the terminal up and sends SIGHUP to the app (the
        session leader on it). `script` holds it (it ignores tmux's own hangup), so it is killed."""
        pane = int(self.tmux("display-message", "-p", "-t", "f", "#{pane_pid}").strip())
        with contextlib.suppress(OSError):
            os.kill(pane, signal.SIGKILL)  # our own `script`, by pid
        self.tmux("kill-server", check=False)

    def close(self) -> None:
        """Kill what this terminal started (by pid: `script` survives tmux's own hangup, and so would
        an app whose situation never came about), then the tmux server."""
        with contextlib.suppress(ValueError, AssertionError, subprocess.SubprocessError, psutil.Error):
            out = self.tmux("display-message", "-p", "-t", "f", "#{pane_pid}", check=False).strip()
            if out:
                pane = psutil.Process(int(out))
                for p in [*pane.children(recursive=True), pane]:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
        self.tmux("kill-server", check=False)
        sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}" / self.socket
        sock.unlink(missing_ok=True)
        self.typescript.unlink(missing_ok=True)


@dataclass
class Held:
    """What the app had made, recorded while it ran, to check afterwards by id."""

    pid: int
    descendants: list[tuple[int, float]] = field(default_factory=list)  # (pid, start time)
    prog_ids: set[int] = field(default_factory=set)
    docker_host: str = ""
    lab_dir: Path | None = None
    bridge: str = ""
    xdp_iface: str = ""
    next_image: str = ""  # what the next start runs, after SIGKILL


@dataclass
class Outcome:
    leaks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.leaks


def _alive(pid: int, start: float | None = None) -> bool:
    try:
        p = psutil.Process(pid)
        if start is not None and abs(p.create_time() - start) > 0.05:
            return False
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _record(held: Held) -> None:
    from beefine_tui.probes.inventory import prog_ids_of_pid

    with contextlib.suppress(psutil.Error):
        for c in psutil.Process(held.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                held.descendants.append((c.pid, c.create_time()))
    held.prog_ids |= prog_ids_of_pid(held.pid)
    for pid, _ in held.descendants:  # bpftrace children hold their own programs
        with contextlib.suppress(OSError):
            held.prog_ids |= prog_ids_of_pid(pid)


def _xdp_on(iface: str) -> bool:
    p = subprocess.run(["ip", "-j", "-d", "link", "show", "dev", iface], capture_output=True, text=True)
    return p.returncode == 0 and '"xdp"' in p.stdout


def our_containers(docker_host: str) -> list[str]:
    """Containers labelled beefine=1 (running or not) on the fault suite's own lab: cells run one at
    a time on it, so any is the cell's (found without trusting the owner labels under test)."""
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=30)
    try:
        # sparse: a container removed between the list and its inspect failed the whole list
        found = client.containers.list(all=True, sparse=True, filters={"label": "beefine=1"})
        return [c.short_id for c in found]
    finally:
        client.close()


def _lab_things_left(lab_dir: Path, bridge: str) -> list[str]:
    left = []
    if lab_dir.exists():
        left.append(f"lab directory {lab_dir}")
    if bridge and Path("/sys/class/net", bridge).exists():
        left.append(f"bridge {bridge}")
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(str(lab_dir) + "/") or line.split()[4] == str(lab_dir)
    ]
    if mounts:
        left.append(f"mounts {mounts[:3]}")
    procs = []
    for p in psutil.process_iter(["cmdline"]):
        if str(lab_dir) + "/" in " ".join(p.info.get("cmdline") or []):
            procs.append(p.pid)
    if procs:
        left.append(f"lab processes {procs}")
    return left


def check_left(held: Held) -> list[str]:
    """Everything the dead app had made that still exists."""
    leaks = []
    if _alive(held.pid):
        leaks.append(f"beefine-tui (pid {held.pid}) still runs")
    alive = [pid for pid, st in held.descendants if _alive(pid, st)]
    if alive:
        leaks.append(f"child processes still run: {alive}")
    progs = progs_still_loaded(held.prog_ids)
    if progs:
        leaks.append(f"BPF programs still loaded: {progs}")
    if held.xdp_iface and _xdp_on(held.xdp_iface):
        leaks.append(f"XDP still attached to {held.xdp_iface}")
    if held.lab_dir is not None:
        leaks += _lab_things_left(held.lab_dir, held.bridge)
    elif held.docker_host:
        cs = our_containers(held.docker_host)
        if cs:
            leaks.append(f"containers left: {cs}")
    return leaks


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def veth() -> Iterator[str]:
    """A veth pair of our own (XDP in generic mode attaches to it); deleted afterwards."""
    name = f"bff{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], capture_output=True)


def _bridge_of(lab_name: str) -> str:
    from beefine_tui.docker.lab import bridge_for

    return bridge_for(lab_name)


def run_cell(situation: str, ending: str, workdir: Path, lab: Any = None) -> Outcome:
    """Run one cell; `lab` (a LabInfo) is the shared daemon for situations that need one."""
    out = Outcome()
    term = Terminal(workdir)
    stack = contextlib.ExitStack()
    held: Held | None = None
    try:
        stack.callback(term.close)
        held = _start(situation, term, lab, stack)
        _record(held)
        _end(ending, term, held.pid)
        gone = _wait_gone(held.pid, 90)
        if not gone:
            out.leaks.append(f"beefine-tui (pid {held.pid}) did not exit within 90 s of {ending}")
        if ending in EXIT_STATUS and situation != "tui-lab-start":
            # script writes its last line after the command is reaped: a fixed 0.3 s wait read
            # nothing, 1 run in 3 of tui-image SIGTERM (the app had exited, nothing was left)
            status = None
            deadline = time.monotonic() + 15
            while status is None and time.monotonic() < deadline:
                time.sleep(0.1)
                status = term.exit_status()
            # headless trace: ctrl+c is SIGINT to the foreground job, "interrupted" (130)
            expected = 130 if (situation, ending) == ("trace-pull", "ctrl+c") else EXIT_STATUS[ending]
            if status != expected:
                out.leaks.append(f"exit status {status}, expected {expected}")
        if ending in EXIT_STATUS and situation.startswith("tui") and situation != "tui-lab-start":
            written = term.output()
            last = written.rfind(b"\x1b[?1049h")
            missing = [what for what, seq in RESTORE.items() if seq not in written[last:]]
            if last < 0 or missing:
                out.leaks.append(f"terminal not restored: {', '.join(missing) or 'never entered'}")
        if ending == "SIGKILL":
            out.notes.append("leftovers after SIGKILL: " + ("; ".join(check_left(held)) or "none"))
            out.leaks += _next_start_reaps(held, situation, workdir)
        out.leaks += check_left(held)
    finally:
        if held is not None and _alive(held.pid):
            with contextlib.suppress(OSError):
                os.kill(held.pid, signal.SIGKILL)  # ours, by pid
        stack.close()
    return out


def _start(situation: str, term: Terminal, lab: Any, stack: contextlib.ExitStack) -> Held:
    if situation == "tui-exec":
        term.start(["--docker-host", NO_DOCKER, "--open", "trace-exec"])
        held = Held(term.app_pid())
        term.wait_screen(lambda s: "Trace exec  running" in s, 90)
        return held
    if situation == "tui-xdp":
        iface = stack.enter_context(veth())
        term.start(["--docker-host", NO_DOCKER, "--open", f"network:{iface}"])
        held = Held(term.app_pid(), xdp_iface=iface)
        _until(lambda: _xdp_on(iface), 90, f"XDP never attached to {iface}")
        return held
    if situation == "tui-image":
        term.start(["--docker-host", lab.docker_host, "--open", "image-monitor"])
        held = Held(term.app_pid(), docker_host=lab.docker_host)
        term.wait_screen(lambda s: "image to pull" in s or "e.g." in s, 90)
        time.sleep(0.5)  # the image box has focus once the view mounted
        term.keys(lab.images["small"], literal=True)
        term.keys("Enter")
        _until(lambda: bool(our_containers(lab.docker_host)), 120, "the run made no container")
        return held
    if situation == "trace-pull":
        term.start(
            ["trace", "--docker-host", lab.docker_host, "--pull", lab.images["layered"], "--", "sleep", "60"]
        )
        held = Held(term.app_pid(), docker_host=lab.docker_host, next_image=lab.images["small"])
        term.wait_screen(lambda s: "tracing " in s, 90)  # probes attached: the pull starts now
        return held
    if situation in ("tui-lab-start", "tui-lab-run"):
        term.start(["--lab"])
        pid = term.app_pid()
        name = f"app-{pid}"
        held = Held(pid, lab_dir=Path("/run/beefine") / f"lab-{name}", bridge=_bridge_of(name))
        if situation == "tui-lab-start":
            lab_dir = held.lab_dir
            assert lab_dir is not None
            _until(lab_dir.exists, 60, "the lab never started")
            time.sleep(0.3)  # its bridge and first daemon are being made
        else:
            term.wait_screen(lambda s: "Load eBPF" in s and "Docker" in s, 180)
        return held
    raise ValueError(f"unknown situation {situation!r}")


def _until(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(what)


def _end(ending: str, term: Terminal, pid: int) -> None:
    if ending == "ctrl+q":
        term.keys("C-q")
    elif ending == "ctrl+c":
        term.keys("C-c")
    elif ending in SIGNALS:
        os.kill(pid, SIGNALS[ending])
    elif ending == "hangup":
        term.hang_up()
    elif ending == "SIGKILL":
        os.kill(pid, signal.SIGKILL)
    else:
        raise ValueError(f"unknown ending {ending!r}")


def _next_start_reaps(held: Held, situation: str, workdir: Path) -> list[str]:
    """After SIGKILL: the next start must remove what was left, and say so."""
    left = check_left(held)
    if not left:
        return []  # nothing outlived the process (probes, XDP links): nothing to reap
    leaks = []
    if held.lab_dir is not None:
        # before the reaping: `lab status` must call it an orphan (its daemons may still run), not stale
        name = held.lab_dir.name.removeprefix("lab-")
        env = {**ENV, "PYTHONPATH": str(REPO / "src")}
        st = subprocess.run(
            [PYTHON, "-m", "beefine_tui", "lab", "status", "--name", name, "--json"],
            capture_output=True, text=True, timeout=60, cwd=REPO, env=env,
        )  # fmt: skip
        states = [row.get("state") for row in json.loads(st.stdout or "[]")]
        if states != ["orphan"]:
            leaks.append(f"`lab status` called the dead app's lab {states}, not orphan")
    term = Terminal(workdir)
    try:
        if situation == "trace-pull":
            host = held.docker_host
            term.start(["trace", "--docker-host", host, "--probes", "process", held.next_image, "--", "true"])
        else:
            term.start(["--docker-host", held.docker_host or NO_DOCKER])
        pid = term.app_pid()
        if situation == "trace-pull":
            _wait_gone(pid, 120)
        else:
            term.wait_screen(lambda s: "Load eBPF" in s, 90)
            term.keys("C-q")
            _wait_gone(pid, 60)
        said = term.output().decode("utf-8", "replace")
        if REAPED not in said:
            leaks.append(f"the next start did not say it removed: {'; '.join(left)}")
        return leaks
    finally:
        term.close()
