"""Opening a case for editing or review: with its lock (editable), or read-only with the reason.

:class:`ReviewSession` is what a reviewer does with one case: read its state, history, versions
and QA; approve or reject; take the lock and save a correction. The review widget of the napari
plugin is a view over it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ctlabel.case import review
from ctlabel.case.folder import Case
from ctlabel.case.lock import CaseLock, acquire_lock, lock_holder
from ctlabel.case.record import Status, describe_event, history, slice_sources, state_of, status, version_name
from ctlabel.case.record import version_number as _version_number
from ctlabel.case.review import _who
from ctlabel.case.workflow import ALLOWED_FROM
from ctlabel.errors import CaseError, LockError, StateError
from ctlabel.io.mask import Mask
from ctlabel.qa import Finding
from ctlabel.volume import Grid, Volume

#: The name of a case's working draft among its version names.
DRAFT = "draft"


@dataclass
class ReviewSession:
    """A case opened by somebody: with the lock (editable) or read-only with a message why.

    Parameters
    ----------
    case : Case
        The case.
    user : str
        Who opened it: the reviewer of the decisions, the holder of the lock.
    lock : CaseLock or None
        The case lock while correcting (or editing); None read-only.
    message : str
        Why the session is read-only ("" when it holds the lock).
    """

    case: Case
    user: str
    lock: CaseLock | None
    message: str = ""

    @classmethod
    def open(cls, root: str | os.PathLike, user: str | None = None) -> ReviewSession:
        """Open a case read-only, to review it: no lock (:meth:`start_correction` takes it).

        Raises
        ------
        CaseError
            ``root`` is not a case folder.
        """
        return open_case(root, user, edit=False)

    @property
    def read_only(self) -> bool:
        return self.lock is None

    def close(self) -> None:
        """Release the lock, if held; the session is read-only after."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ reading
    def state(self) -> str:
        """The review state (``in_progress``, ``submitted``, ...), read from the case record now."""
        return state_of(self.case)

    def status(self) -> Status:
        """Versions, draft, lock holder and last comment (:func:`ctlabel.case.record.status`)."""
        return status(self.case)

    def allows(self, action: str) -> bool:
        """Whether the transition table allows ``action`` (``"approved"``, ``"corrected"``...) now.

        A correction also needs a version to correct.
        """
        if self.state() not in ALLOWED_FROM[action]:
            return False
        return action != "corrected" or bool(self.case.versions())

    def version_names(self) -> list[str]:
        """The frozen versions (``v001`` ...) in order, then ``draft`` when the case has one."""
        names = [version_name(n) for n in self.case.versions()]
        return names + ([DRAFT] if self.case.draft_path.exists() else [])

    def load(self, name: str) -> Mask:
        """The mask of version ``name`` (``v001`` ...) or of the ``draft``.

        Raises
        ------
        CaseError
            The case has no such version, or no draft.
        """
        if name == DRAFT:
            mask = self.case.load_draft()
            if mask is None:
                raise CaseError("the case has no draft", self.case.draft_path)
            return mask
        number = _version_number(name)
        if number is None or number not in self.case.versions():
            raise CaseError(f"no version {name!r}; the case has {', '.join(self.version_names()) or 'none'}",
                            self.case.masks_dir)
        return self.case.load_version(number)

    def latest(self) -> tuple[int | None, Mask | None]:
        """The newest version (its number and mask), else the draft (number None), else ``(None, None)``."""
        versions = self.case.versions()
        if versions:
            return versions[-1], self.case.load_version(versions[-1])
        return None, self.case.load_draft()

    def summary(self, mask: Mask | None = None) -> str:
        """One line: the state, latest and approved version, last comment, and who annotated ``mask``."""
        st = self.status()
        text = f"{st.state}; latest {st.latest or '-'}"
        if st.approved_version:
            text += f"; approved {st.approved_version}"
        if st.comment:
            text += f"; comment: {st.comment}"
        prov = mask.provenance if mask is not None else None
        if prov is not None and prov.annotator:
            text += f"; by {prov.annotator}"
        return text

    def history_lines(self, mask: Mask | None = None) -> list[str]:
        """The events of the record, one line each, and where ``mask`` was imported from when it was."""
        lines = [describe_event(e) for e in history(self.case)]
        prov = mask.provenance if mask is not None else None
        if prov is not None and prov.imported_from:
            src = prov.imported_from
            lines.append(f"(latest version imported from {src.get('FileName')} [{src.get('Format')}])")
        return lines

    def findings(self, mask: Mask, volume: Volume | None = None) -> list[Finding]:
        """The QA findings of ``mask`` with the case's image (``volume`` if already read) and label table."""
        from ctlabel.qa import QAOptions, check_mask

        image = volume if volume is not None else self.case.load_image()
        return check_mask(mask, image, self.case.load_labels(), QAOptions(), str(self.case.root))

    @staticmethod
    def slice_lines(mask: Mask) -> list[tuple[int, str]]:
        """Per slice with edits: ``(slice, "slice k: P 1,2; I 3")``, P painted and I interpolated labels."""
        out = []
        for k, kinds in slice_sources(mask).items():
            text = "; ".join(f"{'P' if kind == 'painted' else 'I'} {','.join(map(str, labs))}"
                             for kind, labs in kinds.items() if labs)
            out.append((k, f"slice {k}: {text}"))
        return out

    # ------------------------------------------------------------------ decisions
    def approve(self, comment: str | None = None, *, who: str | None = None) -> int:
        """Approve the version under review as ``who`` (default: the session's user); its number."""
        return review.approve(self.case, who or self.user, comment=_text(comment), lock=self.lock)

    def reject(self, comment: str, *, who: str | None = None) -> int:
        """Reject the version under review with ``comment`` (required); its number."""
        return review.reject(self.case, who or self.user, comment, lock=self.lock)

    def start_correction(self, who: str | None = None) -> None:
        """Take the case lock to correct the latest version (the session becomes editable).

        Raises
        ------
        StateError
            The case allows no correction (not submitted: the annotator is still editing it; or no version).
        LockError
            Somebody else holds the lock (the message says who).
        """
        if who:
            self.user = who
        if not self.allows("corrected"):
            why = ("the case is not submitted; the annotator is still editing it" if self.case.versions()
                   else "the case has no version to correct")
            raise StateError(why, self.case.record_path)
        if self.lock is None:
            self.lock = acquire_lock(self.case.root, self.user)
        self.message = ""

    def correct(self, labels: np.ndarray, grid: Grid, comment: str | None = None) -> int:
        """Save ``labels`` as the reviewer's correction (a new version) under the session's lock; its number.

        Raises
        ------
        LockError
            The session holds no lock (:meth:`start_correction` first).
        """
        if self.lock is None:
            raise LockError("take the case lock to correct it (start a correction first)", self.case.lock_path)
        return review.correct(self.case, labels, grid, self.user, comment=_text(comment), lock=self.lock)


def _text(comment: str | None) -> str | None:
    """A comment as recorded: stripped; a blank one is none."""
    return (comment or "").strip() or None


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


__all__ = ["DRAFT", "ReviewSession", "open_case"]
