"""Who owns what Beefine creates: the owner's pid, start time and boot id, written on every container
(labels) and lab (lab.json), and the test of whether that owner still runs. No Textual here."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
OWNER_PID = "beefine.owner.pid"
OWNER_START = "beefine.owner.start"  # psutil create_time of the owner, seconds since the epoch
OWNER_SINCE_BOOT = "beefine.owner.since_boot"  # when the owner started, seconds since boot
OWNER_BOOT = "beefine.owner.boot"
# The start time since boot is the kernel's own (/proc/PID/stat, in clock ticks) and never changes; the
# epoch time is that plus /proc/stat's btime, a whole second that moves when the clock is stepped or
# slewed across a second: then every owner looked dead at once and a concurrent beefine-tui removed
# a live test session's labs. Epoch times are compared only for what older versions wrote.
SAME_TICK_S = 0.005  # half a clock tick (USER_HZ is 100)
LEGACY_EPOCH_SLACK_S = 1.5


def boot_id() -> str:
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""


def start_time(pid: int) -> float:
    """When `pid` started, seconds since the epoch (for people and older versions); 0.0 if gone."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def _stat(pid: int) -> tuple[str, float] | None:
    """(state letter, start since boot in seconds) from /proc/PID/stat; None when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
        fields = raw[raw.rindex(b")") + 2 :].split()  # the name may hold spaces and parentheses
        return fields[0].decode(), int(fields[19]) / os.sysconf("SC_CLK_TCK")  # fields 3 and 22
    except (OSError, ValueError, IndexError):
        return None


def since_boot(pid: int) -> float:
    """When `pid` started, seconds since boot: what identifies it (see SAME_TICK_S); 0.0 if gone."""
    st = _stat(pid)
    return 0.0 if st is None else st[1]


def same_process(pid: int, started_since_boot: float, started_epoch: float = 0.0) -> bool:
    """A live process with this pid that started at this time since boot (a reused pid is another
    process). Records without the time since boot (older versions) compare the epoch time, with the
    slack of a stepped clock."""
    st = _stat(pid) if pid > 0 else None
    if st is None or st[0] in ("Z", "X"):
        return False
    if started_since_boot > 0:
        return abs(st[1] - started_since_boot) < SAME_TICK_S
    return abs(start_time(pid) - started_epoch) < LEGACY_EPOCH_SLACK_S


def owner_labels(pid: int | None = None) -> dict[str, str]:
    """Labels naming this process (or `pid`) as the owner of a container."""
    pid = os.getpid() if pid is None else pid
    return {
        OWNER_PID: str(pid),
        OWNER_START: f"{start_time(pid):.2f}",
        OWNER_SINCE_BOOT: f"{since_boot(pid):.2f}",
        OWNER_BOOT: boot_id(),
    }


def owner_alive(pid: int, since: float, boot: str = "", start: float = 0.0) -> bool:
    """The owner still runs: same boot, and a live process with this pid AND this start time."""
    if boot and boot != boot_id():
        return False
    return same_process(pid, since, start)


def dead_owner(labels: dict[str, str]) -> int | None:
    """The pid of a container's owner when that owner is dead; None when alive or not labelled
    (a container without owner labels is never ours to judge)."""
    try:
        pid = int(labels[OWNER_PID])
        start = float(labels[OWNER_START])
        since = float(labels.get(OWNER_SINCE_BOOT, "0"))
    except (KeyError, ValueError):
        return None
    return None if owner_alive(pid, since, labels.get(OWNER_BOOT, ""), start) else pid
