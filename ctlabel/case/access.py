"""Opening a case for editing or review: with its lock (editable), or read-only with the reason."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ctlabel.case.folder import Case
from ctlabel.case.lock import CaseLock, acquire_lock, lock_holder
from ctlabel.case.review import _who
from ctlabel.errors import LockError


@dataclass
class ReviewSession:
    """A case opened by somebody: with the lock (editable) or read-only with a message why."""

    case: Case
    user: str
    lock: CaseLock | None
    message: str = ""

    @property
    def read_only(self) -> bool:
        return self.lock is None

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_case(root: str | os.PathLike, user: str | None = None, *, edit: bool = True) -> ReviewSession:
    """Open a case; take its lock when ``edit``. Someone else's lock gives a read-only session."""
    case = Case.open(root)
    user = _who(user)
    if not edit:
        holder = lock_holder(case.root)
        why = f"read-only; being edited by {holder.describe()}" if holder else "read-only"
        return ReviewSession(case, user, None, why)
    try:
        lock = acquire_lock(case.root, user)
    except LockError as exc:
        return ReviewSession(case, user, None, exc.reason)
    return ReviewSession(case, user, lock, "")


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


__all__ = ["ReviewSession", "open_case"]
