"""`beefine-tui [tui] [--docker-host URL] [--lab] [--replay FILE]`: open the terminal app.

The daemon: --docker-host, else $DOCKER_HOST, else the system daemon if it answers, else an embedded
lab started here and torn down at exit (--lab forces the lab). If no daemon can be had, the app still
opens and the Docker screens say why. Not root: the app opens with a banner saying what is missing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from beefine_tui.docker import lab
from beefine_tui.docker.client import docker_for_app
from beefine_tui.errors import BeefineError, NotFoundError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docker-host", metavar="URL", help="Docker daemon to use (unix:///path or tcp://)")
    parser.add_argument(
        "--lab", action="store_true", help="use an embedded private dockerd + registry, removed at exit"
    )
    parser.add_argument("--replay", metavar="FILE", type=Path, help="open a recording instead of live probes")
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="with --replay: replay speed, 0.25 to 50 (1 = as recorded, the default); 0 opens at the end",
    )
    parser.add_argument(
        "--remote",
        metavar="[USER@]HOST[:PORT]",
        action="append",
        default=[],
        help="observe HOST through `beefine-tui agent` over SSH (root there, or sudo -n; ~/.ssh/config "
        "applies); nothing is loaded here, no root needed. Repeat for several hosts",
    )
    parser.add_argument(
        "--open",
        metavar="VIEW",
        action="append",
        default=[],
        help="open a view at start: trace-exec, trace-syscalls, helpers, dashboard, ..., probe:NAME, "
        "network:IFNAME (attaches XDP to IFNAME at once)",
    )


def check_options(args: argparse.Namespace) -> None:
    """Refuse options that would do nothing together (each one silently ignored before)."""
    if args.replay is None:
        if args.speed is not None:
            raise UsageError("--speed goes with --replay FILE")
    else:
        if args.lab or args.docker_host:
            raise UsageError("--replay uses no Docker daemon: drop --lab / --docker-host")
        from beefine_tui.events.record import read_recording

        read_recording(args.replay)  # a missing, foreign or non-regular file is refused here
    if args.remote and (args.lab or args.replay is not None or getattr(args, "compare", None)):
        raise UsageError("--remote observes the remote host(s): drop --lab / --replay")
    if args.lab and args.docker_host:
        raise UsageError("--lab starts its own daemon: give --lab or --docker-host, not both")
    if args.speed is None:
        args.speed = 1.0  # the replay's default pace: as recorded
    from beefine_tui.replay import check_speed

    check_speed(args.speed)


def _check_terminal() -> None:
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        raise UsageError(
            "the TUI needs a terminal",
            "run it in a terminal (ssh -t for remote), or use the headless subcommands with --json",
        )


@contextlib.contextmanager
def _daemon(args: argparse.Namespace) -> Iterator[tuple[str | None, Any, str]]:
    """(docker_host, lab_info, why_not). Never raises for a missing daemon: the app opens anyway."""
    if args.replay is not None:
        yield None, None, "replaying a recording: no Docker daemon is used"
        return
    if getattr(args, "compare", None) is not None:
        # `diff A B --tui` reads two files: connecting to (or starting) a daemon would only slow it
        yield None, None, "comparing recordings: no Docker daemon is used"
        return
    if args.lab:
        name = f"app-{os.getpid()}"
        try:
            started = lab.up(name)  # a signal here is a SystemExit (run's exit_on_signals): up() undoes
        except BeefineError as e:
            yield None, None, f"the embedded lab could not start: {e.message}"
            return
        try:
            yield started.docker_host, started, ""
        finally:
            # the app removes it first on a signal or quit; this is for every other way out
            with contextlib.suppress(NotFoundError):
                lab.down(name)
        return
    cm = docker_for_app(args.docker_host)
    try:
        host, info = cm.__enter__()
    except BeefineError as e:
        yield None, None, e.message + (f" ({e.hint})" if e.hint else "")
        return
    exc: tuple[Any, Any, Any] = (None, None, None)
    try:
        yield host, info, ""
    except BaseException:
        exc = sys.exc_info()
        raise
    finally:
        cm.__exit__(*exc)


def run(args: argparse.Namespace) -> int:
    check_options(args)
    for key in args.open:
        _check_view(key)
    _check_terminal()

    if getattr(args, "remote", None):
        return run_remote(args)

    from beefine_tui.app import BeefineApp
    from beefine_tui.appcontext import AppContext
    from beefine_tui.docker.client import exit_on_signals
    from beefine_tui.privileges import can_load_bpf

    banner = ""
    if not can_load_bpf():
        banner = "Not running as root: probes cannot load. Quit (ctrl+q) and run: sudo beefine-tui"
    # SIGTERM/SIGHUP before the app takes over its signals (the lab starting) or after it gave them
    # back: SystemExit, so up() and the `with` blocks below remove what was made
    with exit_on_signals():
        offline = args.replay is not None or getattr(args, "compare", None) is not None
        if not offline and can_load_bpf():
            reaped = _reap_left_behind(args.docker_host)
            if reaped:
                banner = f"{banner}  {reaped}".strip()
        with _daemon(args) as (host, lab_info, why_not):
            ctx = AppContext(docker_host=host, lab=lab_info, docker_error=why_not)
            if not offline:
                ctx.keep_programs()  # the Image monitor's second run attaches in ms, not seconds
            app = BeefineApp(
                ctx,
                banner=banner,
                replay=args.replay,
                replay_speed=args.speed,
                open_views=tuple(args.open),
                compare=getattr(args, "compare", None),
                remove_outliving=_lab_cleanup(lab_info),
                gc_tuning=True,
            )
            try:
                with terminal_for_textual():
                    rc = app.run()
            finally:
                app.ui_exited.set()
                # after a signal the probes are still detaching in the app's cleanup thread: the
                # terminal is already restored, wait for them here (and remove whatever is left)
                app.close_context()
                ctx.close()
    if app.exit_signal:
        code = 128 + app.exit_signal
    elif app.return_code:  # Textual stopped the app on an unhandled error and printed it above
        print(
            "beefine-tui: the app stopped on an internal error (shown above); everything it started was "
            "removed. This is a bug: please report it with the lines above.",
            file=sys.stderr,
        )
        code = int(app.return_code)
    else:
        code = int(rc or 0)
    exit_past_stuck_ui_threads(code)
    return code


def run_remote(args: argparse.Namespace) -> int:
    """The app on an AppContext of agents: every host is connected before the TUI opens (so a
    version mismatch or an unreachable host is a message, not an empty screen); nothing of BPF or
    Docker is touched here."""
    from beefine_tui.agent.remote_context import connect_remotes
    from beefine_tui.app import BeefineApp
    from beefine_tui.commands.remote import agent_args
    from beefine_tui.docker.client import exit_on_signals

    with exit_on_signals():
        ctx = connect_remotes(args.remote, agent_args(args))
        app = BeefineApp(ctx, open_views=tuple(args.open), gc_tuning=True)
        try:
            with terminal_for_textual():
                rc = app.run()
        finally:
            app.ui_exited.set()
            app.close_context()  # each agent stops its probes on `stop`, then on bye
            ctx.close()
    code = 128 + app.exit_signal if app.exit_signal else int(app.return_code or rc or 0)
    exit_past_stuck_ui_threads(code)
    return code


def exit_past_stuck_ui_threads(code: int, grace: float = 2.0) -> None:
    """End the process now if Textual left a thread running after the app ended.

    Seen after a terminal vanished (tmux killed, SSH cut) while the app was busy: Textual's input
    thread, never told to stop, spins on the hung-up terminal (read returns nothing, forever) and the
    interpreter waits for it at exit: a process using a whole CPU, with no terminal, for good. By now
    everything of ours is removed; our own threads (probes still detaching) are waited for first."""
    me = threading.current_thread()
    others = [t for t in threading.enumerate() if t is not me and not t.daemon and t.is_alive()]
    for t in others:
        if not t.name.startswith("textual-"):
            t.join(60)  # bounded work: detaching tracepoints, removing a container
    deadline = time.monotonic() + grace
    stuck = []
    for t in others:
        if t.name.startswith("textual-"):
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                stuck.append(t.name)
    if stuck:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


@contextlib.contextmanager
def terminal_for_textual(tail_lines: int = 20) -> Iterator[None]:
    """Keep C libraries off the screen while the TUI runs.

    BCC's clang and libbpf write diagnostics straight to fd 2, which is the terminal Textual draws on
    (it writes to sys.__stderr__): a compile warning scrolled the screen and left stale, misplaced
    content (seen when a probe compiled while another tab opened). So Textual gets its own copy of
    the terminal, and fd 2 points at a temporary file for the duration; after the TUI closes, the
    last lines of it (if any) are shown, and the file is removed.
    """
    if not os.isatty(2):
        yield
        return
    import tempfile

    saved_fd = os.dup(2)
    encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
    tty = os.fdopen(os.dup(2), "w", buffering=1, encoding=encoding, errors="replace")
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
    old_dunder, old_err = sys.__stderr__, sys.stderr
    os.dup2(log.fileno(), 2)
    sys.__stderr__ = sys.stderr = tty  # type: ignore[misc]
    try:
        yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        sys.__stderr__, sys.stderr = old_dunder, old_err  # type: ignore[misc]
        with contextlib.suppress(OSError):
            tty.close()
        try:
            log.seek(0)
            lines = log.read().decode("utf-8", "replace").splitlines()
        finally:
            log.close()
        lines = [line for line in lines if line.strip()]
        if lines:
            head = f"beefine-tui: messages from the BPF compiler while the app ran ({len(lines)} lines):"
            print(head, file=sys.stderr)
            for line in lines[-tail_lines:]:
                print(f"  {line}", file=sys.stderr)


def _lab_cleanup(lab_info: Any) -> Callable[[], None]:
    """What the app removes before its probes detach, on every way out: the lab we started."""

    def cleanup() -> None:
        if lab_info is not None:
            from beefine_tui.docker import lab

            with contextlib.suppress(NotFoundError):
                lab.down(lab_info.name)

    return cleanup


def _reap_left_behind(docker_host: str | None) -> str:
    """Remove what a killed beefine-tui left (its labs, its labelled containers); one line saying
    what, or "" when nothing was left. Printed now, shown again in the app's banner."""
    from beefine_tui.docker.reaper import reap

    line = reap(docker_host)
    if line:
        print(f"beefine-tui: {line}", file=sys.stderr)
    return line


def _check_view(key: str) -> None:
    from beefine_tui.screens.shell import VIEWS_BY_KEY

    if key in VIEWS_BY_KEY or key.startswith(("probe:", "network:")):
        return
    raise UsageError(
        f"unknown view {key!r}", "one of: " + ", ".join(VIEWS_BY_KEY) + ", probe:NAME, network:IFNAME"
    )
