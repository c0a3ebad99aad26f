"""Compile errors and verifier rejections of a user's BCC program, told in the user's own line numbers.

We put a `#line N` directive before every source line, because BCC inserts text (e.g. tracepoint
argument structs) that shifts clang's numbering; clang's output and the verifier's line-info comments
are then read back against the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

USER_FILE = "user.c"  # the file name clang and the verifier report for the user's own lines
VERIFIER_TAIL_LINES = 30
_CLANG_ERROR = re.compile(
    r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|fatal error): (?P<msg>.*)$"
)
_CLANG_WARNING = re.compile(r"^(?P<file>[^\s:]+):(?P<line>\d+):(?P<col>\d+): warning: (?P<msg>.*)$")
_VERIFIER_AT = re.compile(r"@ (?P<file>[^\s:]+):(?P<line>\d+)\s*$")


def add_line_directives(source: str) -> str:
    """Put `#line N "user.c"` before each line so clang and BTF line info use the user's numbers.

    Not after a line ending in a backslash (inside a multi-line macro a directive would break it).
    Inside block comments the directive is just comment text, harmless.
    """
    out: list[str] = []
    prev_continues = False
    for i, line in enumerate(source.split("\n"), start=1):
        if not prev_continues:
            out.append(f'#line {i} "{USER_FILE}"')
        out.append(line)
        prev_continues = line.rstrip().endswith("\\")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class CompileError:
    line: int | None
    column: int | None
    message: str
    in_user_file: bool


def parse_clang_errors(log: str, source: str) -> list[CompileError]:
    """Errors from clang's output; lines in user.c are checked against the source text clang echoes
    (BCC can insert lines before a TRACEPOINT_PROBE, so a reported line is confirmed or corrected by
    finding the echoed text nearby)."""
    lines = log.splitlines()
    src_lines = source.split("\n")
    errors: list[CompileError] = []
    for i, raw in enumerate(lines):
        m = _CLANG_ERROR.match(raw.strip())
        if not m:
            continue
        user = m["file"].endswith(USER_FILE)
        line = int(m["line"])
        if user and i + 1 < len(lines):
            line = _confirm_line(line, lines[i + 1], src_lines)
        errors.append(CompileError(line if user else None, int(m["col"]), m["msg"], user))
    return errors


def _confirm_line(line: int, echoed: str, src_lines: list[str]) -> int:
    want = echoed.strip()
    if not want:
        return line

    def same(n: int) -> bool:
        return 1 <= n <= len(src_lines) and src_lines[n - 1].strip() == want

    if same(line):
        return line
    for d in range(1, 40):
        for n in (line - d, line + d):
            if same(n):
                return n
    return line


def compile_warnings(log: str, source: str, limit: int = 5) -> list[str]:
    """clang's warnings about the user's own lines, as "line N: message" (at most `limit`)."""
    lines = log.splitlines()
    out: list[str] = []
    src_lines = source.split("\n")
    for i, raw in enumerate(lines):
        m = _CLANG_WARNING.match(raw.strip())
        if not m or not m["file"].endswith(USER_FILE):
            continue
        echoed = lines[i + 1] if i + 1 < len(lines) else ""
        out.append(f"line {_confirm_line(int(m['line']), echoed, src_lines)}: {m['msg']}")
        if len(out) >= limit:
            break
    return out


# What usually fixes each kind of rejection, matched on the verifier's own words (kernel/bpf/verifier.c).
_VERIFIER_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (
        ("or_null", "invalid mem access 'scalar'", "invalid mem access 'inv'"),
        "check the pointer before reading it (a map lookup's result against NULL), "
        "or read kernel/user memory with bpf_probe_read_*",
    ),
    (
        ("unknown func", "invalid func", "program of this type cannot use helper"),
        "that helper is not offered to this program type on this kernel: see Helper functions "
        "(`beefine-tui helpers --type TYPE`)",
    ),
    (
        ("back-edge", "infinite loop", "too large", "too many instructions", "complexity limit"),
        "bound every loop with a constant the verifier can see, or split the work",
    ),
    (
        ("invalid indirect read from stack", "invalid read from stack", "uninitialized"),
        "initialise the struct before sending it (= {} or __builtin_memset)",
    ),
    (
        ("expected=", "type=", "arg#"),
        "a helper got an argument of the wrong kind: check its signature in Helper functions",
    ),
    (
        ("outside of the allowed memory range", "out of bounds", "min value is negative"),
        "bound the offset or size with a check the verifier can follow (e.g. `if (n > MAX) n = MAX;`)",
    ),
)


def verifier_hint(reason: str) -> str:
    """A short, likely fix for a verifier rejection, from its reason line."""
    low = reason.lower()
    for needles, hint in _VERIFIER_HINTS:
        if any(n.lower() in low for n in needles):
            return hint
    return "the verifier's reason and the instruction it stopped at are in the log below"


def verifier_reason(log: str) -> tuple[str, int | None]:
    """The verifier's reason (the last meaningful line before its "processed N insns" summary) and
    the user's source line it was checking (from the `; ... @ user.c:N` line-info comments)."""
    lines = [ln.rstrip() for ln in log.splitlines()]
    end = len(lines)
    for i, ln in enumerate(lines):
        if ln.startswith("processed ") and "insns" in ln:
            end = i
            break
    reason = ""
    for ln in reversed(lines[:end]):
        s = ln.strip()
        if not s or s.startswith(("HINT:", "bpf: Failed")) or re.match(r"^\d+: \(", s):
            continue
        if s.startswith(";"):
            continue
        reason = s
        break
    src_line: int | None = None
    for ln in lines[:end]:
        m = _VERIFIER_AT.search(ln)
        if m and m["file"].endswith(USER_FILE) and int(m["line"]) > 0:  # 0: compiler-made code
            src_line = int(m["line"])
    return reason or "rejected (no reason in the log)", src_line


def fix_entry_line(log: str, decl_line: int | None) -> str:
    """BCC inserts the tracepoint's argument struct just before a TRACEPOINT_PROBE function, after
    our `#line` directive, so the function's own first line is numbered too high. The verifier log's
    first line-info comment is that entry line: renumber it (every occurrence) to `decl_line`."""
    if not decl_line:
        return log
    at = re.compile(r"@ " + re.escape(USER_FILE) + r":(?P<line>\d+)\s*$", re.MULTILINE)
    first = next((m for m in at.finditer(log) if int(m["line"]) > 0), None)
    if first is None or int(first["line"]) <= decl_line:
        return log
    wrong = first["line"]
    return re.sub(
        r"@ " + re.escape(USER_FILE) + ":" + wrong + r"(?=\s*$)",
        f"@ {USER_FILE}:{decl_line}",
        log,
        flags=re.MULTILINE,
    )


def annotate_verifier_log(log: str, source: str) -> str:
    """Fill the verifier's `; ... @ user.c:N` line-info comments with the user's line N (the text
    recorded in BTF is lost to our #line directives)."""
    src = source.split("\n")

    def fill(m: re.Match[str]) -> str:
        n = int(m["line"])
        text = src[n - 1].strip() if 1 <= n <= len(src) else ""
        return f"; {text} @ {USER_FILE}:{n}"

    return re.sub(r"^;\s*@ " + re.escape(USER_FILE) + r":(?P<line>\d+)\s*$", fill, log, flags=re.MULTILINE)


def tail_lines(log: str, n: int) -> str:
    lines = [ln for ln in log.splitlines() if ln.strip()]
    return "\n".join(lines[-n:])
