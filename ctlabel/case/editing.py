"""One person editing one case, without a screen: the rules every editor follows.

:class:`Edits` holds a label array and its slice bookkeeping
(:class:`~ctlabel.painting.tracking.SliceTracker`), the events and interpolation: the edits of a
series that is not a case yet. :class:`EditingSession` adds the case: it opens the case under its
lock (or read-only, saying who holds it) and carries the workflow: save (through
:func:`ctlabel.case.review.save_draft`, so no save while a version awaits review and a new draft after
an approval), the autosave journal, submit, status. The napari plugin, the team client and
scripts are adapters over it: they feed it edits and show its state.

The edit lock is held only while the case may be edited: a submitted case is opened without
it, and a submit releases it at once (the session stays open, read-only), so that a window
left open never blocks a reviewer. An edit after that (after a rejection) takes the lock again
(:meth:`EditingSession.reacquire`), and only when the case on disk is still what the session
shows: otherwise nothing is written and the case must be opened again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctlabel.case import qa_gate, review, workflow
from ctlabel.case import record as case_record
from ctlabel.case.edits import Edits, Interpolation
from ctlabel.case.folder import Case, carried_methods
from ctlabel.case.lock import CaseLock, acquire_lock
from ctlabel.case.recovery import JournalFields, clear_journal, pending_recovery, read_journal, write_journal
from ctlabel.errors import CaseError, CtlabelError, LockError, StateError
from ctlabel.io.mask import Mask
from ctlabel.model import MaskProvenance
from ctlabel.painting.tracking import SliceTracker
from ctlabel.volume import Grid, Volume

#: The states in which an editor may change a case (a save of an approved or rejected case starts
#: a new draft): the edit lock is taken on opening only in these.
EDITABLE_STATES = frozenset(workflow.ALLOWED_FROM["saved"]) | frozenset(workflow.ALLOWED_FROM["created"])


def _disk_marker(case: Case) -> tuple:
    """What a session's labels were loaded from: the versions and the draft file (identity, time, size)."""
    try:
        st = case.draft_path.stat()
        draft: tuple | None = (st.st_ino, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        draft = None
    return tuple(case.versions()), draft


@dataclass(frozen=True)
class CaseStatus:
    """What an editor shows on top: the state, the reviewer's last comment and who holds the lock."""

    state: str
    comment: str | None
    locked_by: str | None
    read_only: bool
    awaiting_review: bool


class EditingSession(Edits):
    """An editing session on a case folder.

    Use :meth:`open` (or :meth:`create` for a series not yet a case); close it (or use
    ``with``) to release the lock.

    Parameters
    ----------
    case : Case
        The case.
    edits : Edits
        The edits it carries on: who edits (and in which role), the working labels on the
        case grid (the same array, edited in place by the caller; an editor's layer data can
        be this very array), the painted and interpolated slices, the events, the label table.
    lock : CaseLock or None
        The case lock, or None when opened read-only.
    lock_message : str, optional
        Why it is read-only (who holds the lock); None when nobody else does (a submitted case).
    """

    def __init__(self, case: Case, edits: Edits, lock: CaseLock | None, *, lock_message: str | None = None) -> None:
        grid = case.image_grid()
        grid.require_match(Grid(tuple(edits.labels.shape), grid.affine), "the labels", case.root)
        super().__init__(edits.labels, grid, edits.who, role=edits.role, tracker=edits.tracker, events=edits.events,
                         table=edits.table, created=edits.created)
        self._painted_once = edits._painted_once
        self._method_edits = list(edits._method_edits)
        self.case = case
        self.lock = lock
        self.lock_message = lock_message
        self.saved_record: MaskProvenance | None = None
        self._seen = _disk_marker(case)

    # --- opening ------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike, who: str, *, role: str = "annotator",
             restore: Callable[[dict], bool] | None = None, start: Mask | None = None) -> EditingSession:
        """Open a case for editing: take its lock, load the draft (else the latest version, else empty).

        Parameters
        ----------
        root : path
            The case folder.
        who : str
            Who edits.
        role : str
            ``annotator`` or ``reviewer``.
        restore : callable(dict) -> bool, optional
            Asked when the case has an autosave journal newer than its draft (the previous
            session did not end normally); True restores it, False discards it. Without it
            the journal is kept for the next open.
        start : Mask, optional
            The mask to start from, already read by the caller (an editor's layer of the
            case): its ``array`` becomes the working labels (the same array, edited in place)
            and its sidecar gives the slices and events, without reading the mask again.
            Default: a copy of the latest mask (the draft, else the newest version), or zeros.

        Returns
        -------
        EditingSession
            Read-only (``lock`` None, ``lock_message`` saying who holds it) when somebody
            else edits the case; read-only without a lock (``lock_message`` None) when the case
            is in a state nobody edits (submitted: it awaits review).
        """
        if not who or not str(who).strip():
            raise CtlabelError("an editing session needs who edits")
        case = Case.open(root)
        lock, message = None, None
        try:
            editable = case_record.state_of(case) in EDITABLE_STATES
        except CtlabelError:  # an unreadable record: a save says so; meanwhile edits go to the journal
            editable = True
        try:
            if editable:
                lock = acquire_lock(case.root, who)
        except LockError as exc:
            message = str(exc)
        seen = _disk_marker(case)  # before the labels are read: a later write is noticed
        try:
            if start is not None:
                case.image_grid().require_match(start.grid, "the mask to start from", case.root)
            mask = start if start is not None else case.latest_mask()
            labels = np.zeros(case.image_grid().shape, np.uint8) if mask is None else \
                mask.array if start is not None else np.array(mask.array)
            prov = mask.provenance if mask is not None else None
            tracker = SliceTracker(mask.edits if mask is not None else None)
            grid = case.image_grid()
            grid.require_match(Grid(tuple(labels.shape), grid.affine), "the labels", case.root)
            edits = Edits(labels, grid, who, role=role, tracker=tracker,
                          events=[e.to_dict() for e in prov.events] if prov is not None else None,
                          table=case.load_labels(),
                          created=prov.created if prov is not None and mask is not None
                          and mask.path == case.draft_path else None)
            session = cls(case, edits, lock, lock_message=message)
            session._seen = seen
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        if lock is not None:
            record = pending_recovery(case)
            if record is not None and restore is not None:
                if restore(record):
                    session.restore_journal()
                else:
                    clear_journal(case.recovery_dir)
        return session

    @classmethod
    def create(cls, root: str | os.PathLike, volume: Volume | None, edits: Edits) -> EditingSession:
        """Save as case: carry ``edits`` into a case folder under its lock and save the draft.

        The case folder is made from ``volume`` (or the case already there is used), its lock
        taken, and ``edits`` carried over (the same labels array, slices and events).

        Parameters
        ----------
        root : path
            The case folder.
        volume : Volume or None
            The image the edits were painted on.
        edits : Edits
            The edits of the series.

        Returns
        -------
        EditingSession

        Raises
        ------
        CaseError
            No image to make the case from.
        GeometryError
            The edits were not painted on the volume's grid.
        LockError
            Somebody else edits the case already there.
        """
        if volume is None:
            raise CaseError("the image of these labels is not open; open the series first", root)
        volume.grid.require_match(edits.grid, "the painted grid", root)
        root = Path(root)
        case = Case.open(root) if Case.is_case(root) else Case.create(root, volume, label_table=edits.table)
        lock = acquire_lock(case.root, edits.who or None)
        try:
            session = cls(case, edits, lock)
            session.save()
        except BaseException:
            lock.release()
            raise
        return session

    def __enter__(self) -> EditingSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _carried_methods(self, painted: Mapping[int, tuple[int, ...]]) -> dict[int, dict]:
        """The methods of the draft on disk (as a save that names none would carry them)."""
        return carried_methods(self.case.draft_path, painted) if self.case.draft_path.exists() else {}

    # --- state ----------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True when the session holds no edit lock (somebody else edits the case, or it is submitted)."""
        return self.lock is None

    @property
    def state(self) -> str:
        return case_record.state_of(self.case)

    @property
    def awaiting_review(self) -> bool:
        """A submitted version awaits review: no edit is saved until a reviewer rejects it."""
        return self.state == workflow.SUBMITTED

    def status(self) -> CaseStatus:
        """The state, the reviewer's last comment and the lock, for the top of an editor."""
        st = case_record.status(self.case)
        return CaseStatus(st.state, st.comment, st.locked_by if self.read_only else None, self.read_only,
                          st.state == workflow.SUBMITTED)

    def _require_editable(self) -> None:
        if self.read_only:
            self.reacquire()
        if self.awaiting_review:
            raise StateError("the case is submitted and awaits review; it cannot be edited", self.case.root)

    def reacquire(self) -> CaseLock:
        """Take the edit lock again to edit (e.g. after a rejection), if the case on disk is unchanged.

        Raises
        ------
        StateError
            The case awaits review, or a version or draft was written since this session loaded its
            labels (a reviewer's correction, another editor): nothing is written; open it again.
        LockError
            Somebody else holds the lock.
        """
        if self.lock is not None:
            return self.lock
        if self.awaiting_review:
            raise StateError("the case is submitted and awaits review; it cannot be edited", self.case.root)
        try:
            lock = acquire_lock(self.case.root, self.who)
        except LockError as exc:
            self.lock_message = str(exc)
            raise LockError(f"the case is open read-only: {exc.reason}", self.case.root) from None
        if _disk_marker(self.case) != self._seen:
            lock.release()
            raise StateError("the case was changed since it was opened here (a new version or draft was "
                             "saved); open it again to edit it", self.case.root)
        self.lock, self.lock_message = lock, None
        return lock

    def release(self) -> None:
        """Give up the edit lock and stay open read-only (unsaved edits go to the journal first)."""
        self.close()
        self._seen = _disk_marker(self.case)

    # --- saving -----------------------------------------------------------------------
    def save(self) -> Path:
        """Save the draft atomically under the review rules, then clear the autosave journal."""
        self._require_editable()
        fields = self.provenance()
        record = review.save_draft(self.case, self.labels, self.grid, self.who, role=self.role, lock=self.lock,
                                   fields=fields)
        self.events = list(fields.events or [])
        self.created = record.created
        self.saved_record = record
        self.dirty = False
        clear_journal(self.case.recovery_dir)
        return self.case.draft_path

    def submit(self, *, force: bool = False) -> int:
        """Save if there are unsaved edits, then freeze the draft as a version for review.

        The edit lock is released after it: nobody edits a submitted case (the session stays
        open read-only; :meth:`reacquire` after a rejection).
        """
        if self.dirty:
            self.save()
        self._require_editable()
        number = review.submit(self.case, self.who, force=force, lock=self.lock)
        self.release()
        return number

    def qa_errors(self) -> list:
        """The QA errors that would block :meth:`submit` (of the saved draft)."""
        return [f for f in qa_gate.submission_qa(self.case) if f.level == "error"]

    # --- autosave journal -----------------------------------------------------------
    def journal_payload(self) -> tuple[np.ndarray, JournalFields]:
        """A copy of the labels and the journal's bookkeeping (to write from another thread)."""
        f = self.provenance(saved_event=False)  # the journal keeps no label table, methods or creation time
        return np.array(self.labels, copy=True), JournalFields(edits=f.edits, annotator=f.annotator, events=f.events)

    def write_journal(self, payload: tuple[np.ndarray, JournalFields] | None = None) -> Path | None:
        """Write the autosave journal (the whole labels and their bookkeeping); None when read-only."""
        if self.read_only:
            return None
        labels, fields = payload or self.journal_payload()
        return write_journal(self.case.recovery_dir, labels, self.grid, fields)

    def restore_journal(self) -> None:
        """Take the labels and bookkeeping of the autosave journal (after a crash)."""
        journal = read_journal(self.case.recovery_dir, self.grid)
        arr = journal.labels
        if arr.max(initial=0) <= np.iinfo(self.labels.dtype).max:
            arr = arr.astype(self.labels.dtype, copy=False)
        else:
            self.labels = np.array(arr)
            arr = self.labels
        np.copyto(self.labels, arr)
        self.tracker = SliceTracker(journal.edits)
        self.events = list(journal.events) + [self._event("restored")]
        self.dirty = True

    # --- end ----------------------------------------------------------------------
    def close(self) -> None:
        """Write unsaved edits to the journal (never lost) and release the lock."""
        if self.lock is None:
            return
        try:
            if self.dirty:
                self.write_journal()
        finally:
            self.lock.release()
            self.lock = None


__all__ = ["CaseStatus", "Edits", "EditingSession", "Interpolation"]
