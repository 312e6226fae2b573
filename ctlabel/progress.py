"""A progress display: a bar on a terminal, plain lines otherwise (logs, CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Count finished items and show them.

    Parameters
    ----------
    total : int
        Number of items.
    label : str
        What is being counted.
    stream : file, optional
        Where to write (stderr by default).
    enabled : bool
        False shows nothing (``--quiet``).
    """

    def __init__(self, total: int, label: str = "series", stream: TextIO | None = None, enabled: bool = True):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, message: str = "") -> None:
        """Mark one item finished, with a short message about it."""
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        if self.tty:
            width = 30
            filled = int(width * self.done / max(self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {self.done}/{self.total} {self.label} {elapsed:5.1f}s {message[:40]:<40}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"[{self.done}/{self.total}] {message}\n")
        self.stream.flush()
