"""Case locks: one editor at a time, safe on shared network folders.

The lock is a file created with ``O_CREAT | O_EXCL`` (atomic on local file
systems and on NFSv3+/SMB), holding who took it, where and when. A second
person gets :class:`LockError` naming the holder and opens the case read-only.
A lock whose process is gone (same host) or whose heartbeat is older than
``stale_after`` seconds may be taken over.

The edit lock is held only while the case may be edited: nobody holds it on a submitted
case. A review decision (approve, reject, correct, withdraw) is written under the
short-lived :func:`decision_lock` instead, so that a viewer left open on a case never
blocks a reviewer, and two reviewers deciding at once never both write.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ctlabel.errors import LockError
from ctlabel.io.provenance import now_utc

#: A lock not refreshed for this long (seconds) is considered abandoned.
STALE_AFTER_S = 12 * 3600
#: A lock file still empty or unreadable this long after it was written is abandoned: its
#: creator died (or the disk filled) between creating it and writing who holds it.
UNREADABLE_AFTER_S = 5.0
#: A decision lock (held for one review decision's write) older than this is abandoned.
DECISION_STALE_AFTER_S = 120.0
#: How long a review decision waits for another one on the same case to finish.
DECISION_WAIT_S = 10.0


@dataclass
class LockInfo:
    """Who holds a lock."""

    user: str
    host: str
    pid: int
    since: str

    @classmethod
    def read(cls, path: Path) -> LockInfo | None:
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(d["user"]), str(d["host"]), int(d["pid"]), str(d["since"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return cls("unknown", "unknown", -1, "unknown")

    def describe(self) -> str:
        return f"{self.user} on {self.host} since {self.since}"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a pid past the C int no process can have
        return False
    except PermissionError:
        return True
    return True


class CaseLock:
    """An acquired lock on a case folder; release it with :meth:`release` or a ``with`` block."""

    def __init__(self, path: Path, info: LockInfo):
        self.path = path
        self.info = info
        self.released = False

    def refresh(self) -> None:
        """Touch the lock file (heartbeat) so others do not take it as abandoned."""
        with contextlib.suppress(OSError):
            os.utime(self.path)

    def release(self) -> None:
        if self.released:
            return
        current = LockInfo.read(self.path)
        if current is not None and (current.pid, current.host) == (self.info.pid, self.info.host):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.released = True

    def __enter__(self) -> CaseLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_holder(case_root: str | os.PathLike) -> LockInfo | None:
    """Who holds the lock of a case, or None."""
    from ctlabel.case.folder import LOCK

    return LockInfo.read(Path(case_root) / LOCK)


def _stale(path: Path, info: LockInfo, stale_after: float) -> bool:
    if info.host == socket.gethostname() and not _pid_alive(info.pid):
        return True
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    if info.user == "unknown" and info.pid == -1:  # empty or unreadable: never written whole
        return age > UNREADABLE_AFTER_S
    return age > stale_after


def _read_settled(path: Path, wait_s: float = 2.0) -> LockInfo | None:
    """Read a lock file, waiting briefly while its creator is still writing it (empty or partial)."""
    deadline = time.monotonic() + wait_s
    while True:
        info = LockInfo.read(path)
        if info is None or info.user != "unknown" or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


def _take_over(path: Path, stale: LockInfo, case_root, inode: int) -> None:
    """Remove an abandoned lock so that only one of several contenders does it.

    The lock is renamed aside (atomic; a second contender's rename fails) and
    checked to still be the abandoned one (same file, same content); a fresh lock
    renamed by mistake is put back with a hard link that never overwrites.
    """
    aside = path.with_name(f"{path.name}.stale.{socket.gethostname()}.{os.getpid()}")
    try:
        os.replace(path, aside)
    except FileNotFoundError:
        return  # somebody else removed it first
    moved = LockInfo.read(aside)
    try:
        same_file = aside.stat().st_ino == inode
    except OSError:
        same_file = False
    if moved is not None and (not same_file or (moved.user, moved.host, moved.pid, moved.since) !=
                              (stale.user, stale.host, stale.pid, stale.since)):
        with contextlib.suppress(OSError):
            os.link(aside, path)
        with contextlib.suppress(OSError):
            aside.unlink()
        raise LockError(f"the case is being edited by {moved.describe()}; opened read-only", case_root)
    with contextlib.suppress(OSError):
        aside.unlink()


def remove_stale_temporaries(case_root: Path) -> list[Path]:
    """Delete the temporary files a dead writer left in a case (call only while holding its lock).

    Every write goes to ``.<name>.<random>.tmp`` beside its target and is renamed over it;
    a writer killed before the rename leaves the temporary file. With the lock held, no
    other writer of this case is at work, so what is left is litter.
    """
    from ctlabel.case.folder import MASKS, RECOVERY

    removed = []
    for folder in (case_root, case_root / MASKS, case_root / MASKS / RECOVERY):
        with contextlib.suppress(OSError):
            for p in folder.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file():
                    with contextlib.suppress(OSError):
                        p.unlink()
                        removed.append(p)
    return removed


def _create(path: Path, info: LockInfo, case_root, stale_after: float, busy: str) -> CaseLock:
    """Create the lock file ``path`` for ``info`` (taking over an abandoned one); ``busy`` words the refusal."""
    payload = json.dumps(info.__dict__).encode()
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if path.is_symlink():  # ctlabel writes a plain file: a link (dangling or not) is set aside, kept
                with contextlib.suppress(FileNotFoundError):
                    os.replace(path, path.with_name(f"{path.name}.link.{socket.gethostname()}.{os.getpid()}"))
                continue
            try:
                inode = path.stat().st_ino
            except FileNotFoundError:
                continue  # released meanwhile: try again
            holder = _read_settled(path)
            if holder is None:
                continue
            if not _stale(path, holder, stale_after):
                raise LockError(busy.format(holder=holder.describe()), case_root) from None
            _take_over(path, holder, case_root, inode)
            continue
        except OSError as exc:
            raise LockError(f"cannot create the lock file ({exc.strerror})", path) from None
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:  # e.g. a full disk: leave no empty lock behind
            with contextlib.suppress(OSError):
                path.unlink()
            raise LockError(f"cannot write the lock file ({exc.strerror})", path) from None
        return CaseLock(path, info)
    raise LockError("the lock changed hands while taking it; try again", case_root)


def acquire_lock(case_root: str | os.PathLike, user: str | None = None, *,
                 stale_after: float = STALE_AFTER_S) -> CaseLock:
    """Take the edit lock of a case.

    Parameters
    ----------
    case_root : path
        The case folder.
    user : str, optional
        Who edits (defaults to the login name).
    stale_after : float
        Seconds after which an unrefreshed lock may be taken over.

    Raises
    ------
    LockError
        Somebody else holds the lock; the message says who and since when.
    """
    from ctlabel.case.folder import LOCK

    info = LockInfo(user or getpass.getuser(), socket.gethostname(), os.getpid(), now_utc())
    lock = _create(Path(case_root) / LOCK, info, case_root, stale_after,
                   "the case is being edited by {holder}; opened read-only")
    remove_stale_temporaries(Path(case_root))
    return lock


@contextlib.contextmanager
def decision_lock(case_root: str | os.PathLike, user: str | None = None, *,
                  wait_s: float = DECISION_WAIT_S) -> Iterator[CaseLock]:
    """Hold the short-lived decision lock of a case while one review decision is written.

    A review decision on a submitted case (approve, reject, correct, withdraw) needs no edit
    lock: nobody may edit a submitted case, so an annotator's viewer left open on it holds
    none, and a stale one blocks nothing. Two decisions at once are kept apart by this lock,
    taken only for the write (a competitor waits up to ``wait_s`` seconds for it).

    Raises
    ------
    LockError
        Another decision on the case is still being written after ``wait_s`` seconds.
    """
    from ctlabel.case.folder import DECISION_LOCK

    info = LockInfo(user or getpass.getuser(), socket.gethostname(), os.getpid(), now_utc())
    path = Path(case_root) / DECISION_LOCK
    deadline = time.monotonic() + wait_s
    while True:
        try:
            lock = _create(path, info, case_root, DECISION_STALE_AFTER_S,
                           "another review decision on the case is being written by {holder}; try again")
            break
        except LockError:
            if time.monotonic() > deadline or not path.exists():
                raise
            time.sleep(0.05)
    try:
        yield lock
    finally:
        lock.release()
