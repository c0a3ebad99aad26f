"""What the throughput benchmarks run to flood the files probe: a child that waits for a line on
stdin (so the probes attach first), then tries to open PATH COUNT times (argv 1 and 2); each try is an
openat the probes see, ENOENT when PATH does not exist. Run with `python -c FLOOD PATH COUNT`, or the
same in C (`flood_program`): a Python loop offers ~180k opens/s on a 2-CPU machine, less than the probe
path can take, so only the C one shows where the consumer saturates and that its loss stays exact.
Running this file itself does nothing (`make bench` runs every file here)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

FLOOD = """
import os, sys
sys.stdin.readline()
p, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    try:
        os.open(p, os.O_RDONLY)
    except FileNotFoundError:
        pass
"""

FLOOD_C = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_term(int sig) { (void)sig; stop = 1; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Opens argv[1] up to argv[2] times, at most argv[3] times a second if given; on SIGTERM stops after
   the open under way and prints how many it made, so the reader can check received + lost. */
int main(int argc, char **argv) {
    char line[64];
    if (argc < 3 || argc > 4 || !fgets(line, sizeof line, stdin))
        return 2;
    signal(SIGTERM, on_term);
    long n = atol(argv[2]), made = 0;
    double rate = argc == 4 ? atof(argv[3]) : 0, t0 = now();
    while (made < n && !stop) {
        int fd = open(argv[1], O_RDONLY);
        made++;
        if (fd >= 0)
            close(fd);
        if (rate > 0 && made % 100 == 0) {
            double ahead = made / rate - (now() - t0);
            if (ahead > 0)
                usleep((useconds_t)(ahead * 1e6));
        }
    }
    printf("%ld\n", made);
    return 0;
}
"""


def build_c_flood(workdir: str) -> str | None:
    """Compile FLOOD_C into workdir with the system's cc; None (and why, on stderr) if it cannot."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        print("flood: no C compiler (cc): using the Python flood", file=sys.stderr)
        return None
    src, exe = Path(workdir) / "flood.c", Path(workdir) / "flood"
    src.write_text(FLOOD_C)
    done = subprocess.run([cc, "-O2", "-o", str(exe), str(src)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"flood: {cc} failed, using the Python flood: {done.stderr.strip()}", file=sys.stderr)
        return None
    return str(exe)


def flood_program(kind: str, workdir: str) -> tuple[list[str], str]:
    """The flooder's argv before PATH and COUNT, and which one it is ("c" or "python"); kind is "c",
    "python" or "auto" (C when it compiles). workdir must outlive the child (the C binary is there)."""
    if kind in ("c", "auto"):
        exe = build_c_flood(workdir)
        if exe is not None:
            return [exe], "c"
        if kind == "c":
            raise SystemExit("flood: --flood c asked for, and the C flood does not build")
    return [sys.executable, "-c", FLOOD], "python"
