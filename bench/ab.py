"""Run one benchmark on two versions of the code in alternating rounds, and print each figure side by side.

On a shared, noisy machine two runs minutes apart differ more than most changes do; rounds that
alternate (A B, B A, A B, ...) see the same noise. A is a git revision (exported to a temporary
directory with `git archive`: its own bench/ and src/), B is this working tree as it is, uncommitted
changes included. Each round runs the benchmark script once per side in a fresh interpreter; every
line it prints with a `p50 X ms, p99 Y ms` figure (bench/ui_latency.py's format) is collected, and at
the end each figure is printed per side: every round's value, the median over rounds and the spread.
`--base .` runs this working tree on both sides, to compare two settings (`--a-args`, `--b-args`).

    .venv/bin/python bench/ab.py ui_latency.py --base main --rounds 4 -- --total 1000000
    .venv/bin/python bench/ab.py ui_latency.py --base HEAD~1 --rounds 6 -- --total 500000 --width 200
    .venv/bin/python bench/ab.py ui_latency.py --base . --a-args="--gc-young 50000" --b-args="--gc-young 2000"
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"p50 (?P<p50>[\d.]+) ms, p99 (?P<p99>[\d.]+) ms(?:, max [\d.]+ ms \(n=(?P<n>\d+)\))?")
COUNT = re.compile(r"\d[\d,.]* (presses|ms)")  # counts that differ from run to run are not the figure's name


def export(rev: str, into: Path) -> None:
    """The revision's files, as committed (no worktree of its own: nothing to clean up but the dir)."""
    try:
        tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as e:
        sys.exit(f"cannot export revision {rev!r}: {e.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=BytesIO(tar)) as tf:
        # our own repository's archive; the "data" filter where this Python has it (3.11.4+)
        if hasattr(tarfile, "data_filter"):
            tf.extractall(into, filter="data")
        else:
            tf.extractall(into)


def _label(text: str) -> str:
    return COUNT.sub(r"N \1", text).strip().strip(":,; ")


def figures(output: str) -> dict[str, tuple[float, float, int]]:
    """{figure name: (p50, p99, n)} from one run's output. A line may hold several figures ("wall: ...;
    CPU: ..."): each is named by the line's text before the first one, plus its own label."""
    out: dict[str, tuple[float, float, int]] = {}
    section = ""
    for line in output.splitlines():
        matches = list(FIGURE.finditer(line))
        if not matches:
            continue
        name = _label(line[: matches[0].start()])
        if line[:1].isspace():
            # an indented figure belongs to the unindented one above it (idle and flood repeat names)
            name = f"{section}: {name}" if section else name
        else:
            section = name.split(":")[0]
        prev = matches[0].start()
        for i, m in enumerate(matches):
            # "X, wall: p50 ..; CPU: p50 ..": the second is "X, CPU"
            stem = name.removesuffix("wall").rstrip(", ")
            label = name if i == 0 else f"{stem}, {_label(line[prev : m.start()])}"
            out[label] = (float(m["p50"]), float(m["p99"]), int(m["n"] or 0))
            prev = m.end()
    return out


def run_once(tree: Path, bench: str, args: list[str]) -> dict[str, tuple[float, float, int]]:
    proc = subprocess.run(
        [sys.executable, str(tree / "bench" / bench), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"{bench} failed in {tree} (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return figures(proc.stdout)


def spread(xs: list[float]) -> str:
    return f"median {statistics.median(xs):8.2f}  [{min(xs):.2f} .. {max(xs):.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", help="a script in bench/, e.g. ui_latency.py")
    ap.add_argument("--base", default="main", help="git revision for side A (default main)")
    ap.add_argument("--rounds", type=int, default=4, help="rounds; each runs A and B once (default 4)")
    ap.add_argument("--a-args", default="", help="more arguments for side A only (split on spaces)")
    ap.add_argument("--b-args", default="", help="more arguments for side B only (split on spaces)")
    ap.add_argument("--only", default="key", help="show figures whose name has this")
    argv = sys.argv[1:]
    # everything after `--` is the benchmark's (argparse would match it to a positional too early)
    cut = argv.index("--") if "--" in argv else len(argv)
    a = ap.parse_args(argv[:cut])
    a.args = argv[cut + 1 :]
    if not (ROOT / "bench" / a.bench).is_file():
        sys.exit(f"no such benchmark: bench/{a.bench}")
    if a.rounds < 1:
        sys.exit("--rounds must be at least 1")
    results: dict[str, list[dict[str, tuple[float, float, int]]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="beefine-ab-") as tmp:
        base = ROOT if a.base == "." else Path(tmp)
        if base != ROOT:
            export(a.base, base)
        if not (base / "bench" / a.bench).is_file():
            sys.exit(f"bench/{a.bench} does not exist at {a.base}")
        trees = {"A": base, "B": ROOT}
        extra = {"A": a.a_args.split(), "B": a.b_args.split()}
        for r in range(a.rounds):
            order = ("A", "B") if r % 2 == 0 else ("B", "A")
            for side in order:
                figs = run_once(trees[side], a.bench, [*a.args, *extra[side]])
                results[side].append(figs)
                shown = {k: v for k, v in figs.items() if a.only in k}
                line = "; ".join(f"{k}: p50 {v[0]:.1f} p99 {v[1]:.1f}" for k, v in shown.items())
                print(f"round {r + 1} {side}: {line}", flush=True)
    print(f"\nA = {a.base} {a.a_args}, B = this working tree {a.b_args}; {a.rounds} rounds, alternating; ms")
    names: dict[str, None] = {}  # every figure either side printed, in order of appearance
    for side_runs in results.values():
        for f in side_runs:
            names.update(dict.fromkeys(n for n in f if a.only in n))
    for name in names:
        print(name)
        for side in ("A", "B"):
            runs = [f[name] for f in results[side] if name in f]
            # a figure a round did not print had no samples (e.g. "screen layout passes: none")
            missing = len(results[side]) - len(runs)
            none = f"   no samples in {missing} of {len(results[side])} rounds" if missing else ""
            if not runs:
                print(f"  {side} no samples in any round")
                continue
            n = statistics.median([r[2] for r in runs] + [0] * missing)
            p50, p99 = [r[0] for r in runs], [r[1] for r in runs]
            print(f"  {side} p50 {spread(p50)}   p99 {spread(p99)}   n (median) {n:g}{none}")


if __name__ == "__main__":
    main()
