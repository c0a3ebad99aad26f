"""A full disk, faked over a real file: what bad-input and recorder tests write into."""

from __future__ import annotations

import errno
import os
from typing import IO


class FillsUp:
    """A real file that runs out of space after `room` bytes, as a full disk does."""

    def __init__(self, f: IO[bytes], room: int) -> None:
        self.f, self.room, self.name = f, room, f.name

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            self.f.write(data[: self.room])
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.f.write(data)

    def flush(self) -> None:
        self.f.flush()

    def tell(self) -> int:
        return self.f.tell()

    def fileno(self) -> int:
        return self.f.fileno()

    def close(self) -> None:
        self.f.close()
