"""Who owns what Beefine creates: the owner's pid, start time and boot id, written on every container
(labels) and lab (lab.json), and the test of whether that owner still runs. No Textual here."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")
OWNER_PID = "beefine.owner.pid"
OWNER_START = "beefine.owner.start"  # psutil create_time of the owner, seconds since the epoch
OWNER_BOOT = "beefine.owner.boot"


def boot_id() -> str:
    try:
        return BOOT_ID_PATH.read_text().strip()
    except OSError:
        return ""


def start_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return 0.0


def owner_labels(pid: int | None = None) -> dict[str, str]:
    """Labels naming this process (or `pid`) as the owner of a container."""
    pid = os.getpid() if pid is None else pid
    return {OWNER_PID: str(pid), OWNER_START: f"{start_time(pid):.2f}", OWNER_BOOT: boot_id()}


def owner_alive(pid: int, start: float, boot: str = "") -> bool:
    """The owner still runs: same boot, and a live process with this pid AND this start time."""
    if pid <= 0:
        return False
    if boot and boot != boot_id():
        return False
    try:
        p = psutil.Process(pid)
        return abs(p.create_time() - start) < 0.05 and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def dead_owner(labels: dict[str, str]) -> int | None:
    """The pid of a container's owner when that owner is dead; None when alive or not labelled
    (a container without owner labels is never ours to judge)."""
    try:
        pid = int(labels[OWNER_PID])
        start = float(labels[OWNER_START])
    except (KeyError, ValueError):
        return None
    return None if owner_alive(pid, start, labels.get(OWNER_BOOT, "")) else pid
