"""Errors a user can act on. The CLI and the TUI show `message` and `hint`, never a traceback."""

from __future__ import annotations


class BeefineError(Exception):
    """A failure with a clear message for the user and, where there is one, what to do about it."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class NotRootError(BeefineError):
    exit_code = 77


class DockerUnavailableError(BeefineError):
    exit_code = 69


class ProbeLoadError(BeefineError):
    """A BPF program could not be compiled, verified or attached."""

    def __init__(self, message: str, hint: str = "", *, log: str = "", line: int | None = None):
        super().__init__(message, hint)
        self.log = log
        self.line = line


class NotFoundError(BeefineError):
    exit_code = 2


class UsageError(BeefineError):
    exit_code = 2
