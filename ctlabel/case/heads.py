"""The heads log: each case's chain head, appended beside the case folders, each line chained to the last.

``.ctlabel-heads.jsonl`` in the folder that holds the case folders gets one line per event
appended to any ``case.json`` there: the case, its event count and head hash, when, and
``PreviousLineSHA256``, the SHA-256 of the line before it (of 64 zeros for the first line).
A case record rolled back to an earlier copy no longer matches the log; a log emptied, cut,
edited or given a forged line no longer chains, and ``verify`` warns, naming the log. Lines
written before the chain existed are read as they are, with one warning that they are unchained.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ctlabel.errors import CtlabelError
from ctlabel.io.jsonfile import parse_json_object

#: The append-only log of chain heads, beside the case folders.
HEADS_LOG = ".ctlabel-heads.jsonl"
#: ``PreviousLineSHA256`` of the first line.
GENESIS = "0" * 64
#: The longest line read back (ctlabel writes about 200 bytes).
_MAX_LINE = 64 * 1024

try:  # the log is shared by every case of the folder: appends take turns
    import fcntl

    def _exclusive(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
except ImportError:  # pragma: no cover - Windows: O_APPEND writes of one line, unchained order
    def _exclusive(fd: int) -> None:
        pass


def line_hash(line: bytes) -> str:
    """SHA-256 of one line of the log, without its newline."""
    return hashlib.sha256(line.rstrip(b"\r\n")).hexdigest()


def _last_line(fd: int) -> bytes | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    n = min(size, _MAX_LINE)
    tail = os.pread(fd, n, size - n).rstrip(b"\r\n")
    return tail.rsplit(b"\n", 1)[-1]


def append_head(folder: Path, case_name: str, head: str, count: int, when: str) -> None:
    """Append a case's new chain head to the log in ``folder``, chained to the log's last line.

    Best effort: a log that cannot be written is left as it is (``verify`` then warns).
    """
    with contextlib.suppress(OSError):
        fd = os.open(folder / HEADS_LOG, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            _exclusive(fd)
            last = _last_line(fd)
            entry = {"Case": case_name, "Events": count, "HeadEventSHA256": head, "When": when,
                     "PreviousLineSHA256": GENESIS if last is None else line_hash(last)}
            os.write(fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)  # closing releases the lock


@dataclass
class HeadsLog:
    """What the log says about one case, and what is wrong with the log itself.

    Attributes
    ----------
    path : pathlib.Path
        The log.
    entries : list of dict
        The well-formed lines of the case, oldest first.
    problems : list of str
        Why the log cannot be fully trusted (malformed, cut, edited, unchained lines).
    """

    path: Path
    entries: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _entry(raw: bytes, number: int, path: Path) -> tuple[dict | None, str | None]:
    """A well-formed line as a dict, or why it is not one."""
    if len(raw) > _MAX_LINE:
        return None, f"line {number} is longer than {_MAX_LINE} bytes"
    try:
        entry = parse_json_object(raw, f"line {number}", path, max_depth=2)
    except CtlabelError as exc:
        return None, exc.reason
    events = entry.get("Events")
    if not isinstance(entry.get("Case"), str) or not isinstance(events, int) or isinstance(events, bool) \
            or events < 0 or not isinstance(entry.get("HeadEventSHA256"), str):
        return None, f"line {number} lacks a Case, a count of Events or a HeadEventSHA256"
    return entry, None


def read_heads(folder: Path, case_name: str) -> HeadsLog | None:
    """The log's lines about ``case_name`` and the problems of the log; None when there is no log."""
    path = folder / HEADS_LOG
    log = HeadsLog(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.problems.append(f"the heads log cannot be read ({exc.strerror or exc})")
        return log
    malformed: list[str] = []
    broken: list[int] = []
    unchained = 0
    previous: bytes | None = None
    with f:
        for number, raw in enumerate(f, 1):
            cut = not raw.endswith(b"\n")
            entry, why = _entry(raw.rstrip(b"\r\n"), number, path)
            if entry is None:
                malformed.append(f"{why}{' (the last line is cut short)' if cut else ''}")
            elif "PreviousLineSHA256" not in entry:
                unchained += 1
            elif entry["PreviousLineSHA256"] != (GENESIS if previous is None else line_hash(previous)):
                broken.append(number)
            if entry is not None and entry["Case"] == case_name:
                log.entries.append(entry)
            previous = raw
    if malformed:
        log.problems.append(f"{len(malformed)} malformed line(s) in the heads log, e.g. {malformed[0]}")
    if broken:
        first = broken[0]
        where = "its first line does not start the chain: lines were cut from its beginning" if first == 1 else \
            f"line {first} does not chain to the line before it: lines were removed, edited or inserted"
        log.problems.append(f"the heads log is inconsistent ({len(broken)} line(s) off the chain); {where}")
    if unchained:
        log.problems.append(f"{unchained} line(s) of the heads log are unchained (written before ctlabel chained"
                            " them): their removal or editing cannot be seen")
    return log


__all__ = ["GENESIS", "HEADS_LOG", "HeadsLog", "append_head", "line_hash", "read_heads"]
