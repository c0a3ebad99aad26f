"""One line each on the syscalls a learner meets most in a container, in our own words, each from its
Linux man page (man-pages project, section 2; the page is named next to the line so it can be checked)."""

from __future__ import annotations

SYSCALL_NOTES: dict[str, tuple[str, str]] = {
    # futex(2): "fast user-space locking"; FUTEX_WAIT sleeps while the word still holds the value
    "futex": (
        "Wait on (or wake waiters of) a 32-bit word in shared memory: how threads lock and sleep "
        "without a syscall when uncontended.",
        "futex(2)",
    ),
    # epoll_wait(2): waits for events on the epoll instance; timeout -1 blocks indefinitely
    "epoll_wait": (
        "Sleep until one of the file descriptors registered in an epoll set is ready (an event loop's "
        "idle time).",
        "epoll_wait(2)",
    ),
    "epoll_pwait": (
        "epoll_wait with a signal mask set atomically for the wait.",
        "epoll_wait(2)",
    ),
    # mmap(2): creates a new mapping in the virtual address space of the calling process
    "mmap": (
        "Map a file or anonymous memory into the address space: how programs load libraries and "
        "allocators get large blocks.",
        "mmap(2)",
    ),
    "munmap": ("Remove a mapping made by mmap.", "mmap(2)"),
    "mprotect": ("Change the access protections (read/write/execute) of mapped pages.", "mprotect(2)"),
    # brk(2): changes the location of the program break, the end of the data segment
    "brk": (
        "Move the program break (the end of the heap): how malloc grows the heap for small blocks.",
        "brk(2)",
    ),
    # clock_nanosleep(2): suspends the calling thread until the time given by request has elapsed
    "clock_nanosleep": (
        "Sleep for a time (or until a time) measured against a chosen clock: what `sleep` does.",
        "clock_nanosleep(2)",
    ),
    "nanosleep": ("Sleep for a given number of seconds and nanoseconds.", "nanosleep(2)"),
    # read(2)/write(2): up to count bytes from/to a file descriptor; returns the number transferred
    "read": (
        "Copy up to N bytes from an open file, pipe or socket into the program's buffer; 0 means end "
        "of file.",
        "read(2)",
    ),
    "write": (
        "Copy up to N bytes from the program's buffer to an open file, pipe or socket; the count "
        "written may be less.",
        "write(2)",
    ),
    "openat": (
        "Open a file (relative to a directory fd, or AT_FDCWD: the working directory) and return a "
        "new file descriptor.",
        "open(2)",
    ),
    "close": ("Release a file descriptor.", "close(2)"),
    "newfstatat": (
        "Read a file's metadata (type, size, owner, times); ENOENT when it does not exist.",
        "stat(2)",
    ),
    "execve": (
        "Replace the running program with a new one: same pid, new code, arguments and environment.",
        "execve(2)",
    ),
    "exit_group": (
        "End every thread of the process with this exit status; it never returns.",
        "exit_group(2)",
    ),
    "wait4": ("Wait for a child process to change state and collect its exit status.", "wait4(2)"),
    "clone": (
        "Create a new process or thread; its flags say what the child shares with the parent.",
        "clone(2)",
    ),
    "rt_sigaction": ("Set or read what the process does when a signal arrives.", "sigaction(2)"),
    "rt_sigprocmask": ("Block or unblock signals for the calling thread.", "sigprocmask(2)"),
}


def note_for(syscall: str) -> str:
    """ "futex: Wait on ... (futex(2))", or "" when there is no note for it."""
    found = SYSCALL_NOTES.get(syscall)
    return f"{syscall}: {found[0]} ({found[1]})" if found else ""
