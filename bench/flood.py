"""What the throughput benchmarks run to flood the files probe: a child that waits for a line on
stdin (so the probes attach first), then tries to open PATH COUNT times (argv 1 and 2); each try is an
openat the probes see, ENOENT when PATH does not exist. Run with `python -c FLOOD PATH COUNT`.
Running this file itself does nothing (`make bench` runs every file here)."""

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
