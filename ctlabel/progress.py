"""A progress display: a bar on a terminal, plain lines otherwise (logs, CI, pipes); durations as text."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
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
    listener : callable, optional
        Called as ``listener(progress, message)`` after each step, shown or not (a server's
        background job follows a batch with it).

    Attributes
    ----------
    errors : list of str
        The steps that failed, each ``"item: reason"``, in order.
    """

    def __init__(self, total: int, label: str = "series", stream: TextIO | None = None, enabled: bool = True,
                 listener: Callable[[Progress, str], None] | None = None):
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.listener = listener
        self.errors: list[str] = []
        self.done = 0
        self.start = time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def step(self, message: str = "", error: str = "") -> None:
        """Mark one item finished, with a short message about it (and why it failed, if it did)."""
        self.done += 1
        if error:
            self.errors.append(f"{message}: {error}" if message else error)
        if self.listener is not None:
            self.listener(self, message)
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


def duration_text(seconds: float) -> str:
    """A duration as people read it, to the second while short.

    Examples: ``"0 s"``, ``"45 s"``, ``"3 min 05 s"``, ``"2 h 14 min"`` (an hour or more: to the
    minute).

    Parameters
    ----------
    seconds : float
        The duration (rounded to the whole second; below 0 counts as 0).

    Returns
    -------
    str
    """
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
