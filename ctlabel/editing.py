"""One person editing one case, without a screen: the rules every editor follows.

:class:`EditingSession` opens a case under its lock (or read-only, saying who holds it),
holds the label array and the slice bookkeeping (:class:`~ctlabel.paint_tracking.SliceTracker`),
and carries the workflow: save (through :func:`ctlabel.review.save_draft`, so no save while
a version awaits review and a new draft after an approval), the autosave journal, submit,
events, interpolation. The napari plugin, the team client and scripts are adapters over it:
they feed it edits and show its state.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ctlabel import review
from ctlabel.case import Case
from ctlabel.errors import CtlabelError, LockError, StateError
from ctlabel.lock import CaseLock, acquire_lock
from ctlabel.mask_io import edited_slices
from ctlabel.paint_tracking import SliceTracker
from ctlabel.provenance import event
from ctlabel.recovery import clear_journal, pending_recovery, read_journal, write_journal
from ctlabel.volume import Grid, spacing_from_affine


@dataclass(frozen=True)
class CaseStatus:
    """What an editor shows on top: the state, the reviewer's last comment and who holds the lock."""

    state: str
    comment: str | None
    locked_by: str | None
    read_only: bool
    awaiting_review: bool


class EditingSession:
    """An editing session on a case folder.

    Use :meth:`open`; close it (or use ``with``) to release the lock.

    Parameters
    ----------
    case : Case
        The case.
    who : str
        The annotator (or reviewer) id recorded in events and provenance.
    labels : numpy.ndarray
        The working labels on the case grid; edited in place by the caller (an editor's
        layer data can be this very array).
    tracker : SliceTracker
        Painted and interpolated slices per label.
    lock : CaseLock or None
        The case lock, or None when opened read-only.
    role : str
        ``annotator`` or ``reviewer``.
    """

    def __init__(self, case: Case, who: str, labels: np.ndarray, tracker: SliceTracker,
                 lock: CaseLock | None, *, role: str = "annotator", events: list[dict] | None = None,
                 created: str | None = None, lock_message: str | None = None) -> None:
        self.case = case
        self.who = who
        self.role = role
        self.grid: Grid = case.image_grid()
        self.grid.require_match(Grid(tuple(labels.shape), self.grid.affine), "the labels", case.root)
        self.labels = labels
        self.tracker = tracker
        self.lock = lock
        self.lock_message = lock_message
        self.events: list[dict] = list(events or [])
        self.created = created
        self.table = case.load_labels()
        self.spacing = spacing_from_affine(self.grid.affine)
        self.dirty = False
        self._painted_once = False

    # --- opening ------------------------------------------------------------------
    @classmethod
    def open(cls, root: str | os.PathLike, who: str, *, role: str = "annotator",
             restore: Callable[[dict], bool] | None = None) -> EditingSession:
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

        Returns
        -------
        EditingSession
            Read-only (``lock`` None, ``lock_message`` saying who holds it) when somebody
            else edits the case.
        """
        if not who or not str(who).strip():
            raise CtlabelError("an editing session needs who edits")
        case = Case.open(root)
        lock, message = None, None
        try:
            lock = acquire_lock(case.root, who)
        except LockError as exc:
            message = str(exc)
        try:
            mask = case.latest_mask()
            grid = case.image_grid()
            labels = np.zeros(grid.shape, np.uint8) if mask is None else np.array(mask.array)
            prov = mask.provenance if mask is not None else {}
            tracker = SliceTracker(mask.axis if mask is not None else 0,
                                   mask.painted if mask is not None else None,
                                   mask.interpolated if mask is not None else None)
            session = cls(case, who, labels, tracker, lock, role=role, events=prov.get("Events"),
                          created=prov.get("Created") if mask is not None and mask.path == case.draft_path else None,
                          lock_message=message)
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

    def __enter__(self) -> EditingSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- state ----------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """True when somebody else holds the case lock."""
        return self.lock is None

    @property
    def state(self) -> str:
        return review.state_of(self.case)

    @property
    def awaiting_review(self) -> bool:
        """A submitted version awaits review: no edit is saved until a reviewer rejects it."""
        return self.state == review.SUBMITTED

    @property
    def editable(self) -> bool:
        """Whether edits may be made (the lock is held and no version awaits review)."""
        return not self.read_only and not self.awaiting_review

    def status(self) -> CaseStatus:
        """The state, the reviewer's last comment and the lock, for the top of an editor."""
        st = review.status(self.case)
        return CaseStatus(st.state, st.comment, st.locked_by if self.read_only else None, self.read_only,
                          st.state == review.SUBMITTED)

    def _require_editable(self) -> None:
        if self.read_only:
            raise LockError(self.lock_message or "the case is open read-only", self.case.root)
        if self.awaiting_review:
            raise StateError("the case is submitted and awaits review; it cannot be edited", self.case.root)

    # --- edits ----------------------------------------------------------------------
    def record_edit(self, kind: str, slices: dict[int, set[int]], axis: int, *, undoable: bool = True) -> None:
        """Record slices an editor changed (``paint`` or ``fill``); the labels array already holds them."""
        rec = self.tracker.record(kind, slices, axis, undoable=undoable)
        if kind == "paint" and rec.slices and not self._painted_once:
            self._painted_once = True
            self.events.append(event(self.who, self.role, "painted"))
        self.dirty = True

    def undo(self) -> None:
        if self.tracker.undo() is not None:
            self.dirty = True

    def redo(self) -> None:
        if self.tracker.redo() is not None:
            self.dirty = True

    def interpolation(self, labels: list[int] | None = None) -> tuple[np.ndarray, dict[int, list[int]], int]:
        """What interpolating would write, without writing it: (new labels, filled slices, axis).

        ``labels`` default to every label painted on at least two slices. The caller applies
        the result (as one undo step) and then calls :meth:`record_edit` with ``"fill"``.
        """
        from ctlabel.interpolate import interpolate_with_report

        self._require_editable()
        axis = self.tracker.axis if labels is None else self.tracker.axis_for(labels[0])
        painted = {lab: zs for lab, zs in self.tracker.painted(axis).items()
                   if (labels is None or lab in labels) and len(zs) >= 2}
        if not painted:
            raise CtlabelError("paint the label on at least two slices first")
        res = interpolate_with_report(self.labels, painted, axis=axis, spacing=self.spacing)
        return res.labels, {lab: list(zs) for lab, zs in res.filled.items()}, axis

    def interpolate(self, labels: list[int] | None = None) -> dict[int, list[int]]:
        """Fill between painted slices (in place, not undoable here); returns label -> filled slices."""
        new, filled, axis = self.interpolation(labels)
        np.copyto(self.labels, new.astype(self.labels.dtype, copy=False))
        self.record_edit("fill", {k: set(v) for k, v in filled.items()}, axis, undoable=False)
        self.events.append(event(self.who, self.role, "interpolated", Labels=sorted(filled)))
        return filled

    # --- saving -----------------------------------------------------------------------
    def provenance(self, *, saved_event: bool = True) -> dict:
        """The provenance arguments of a save (painted / interpolated slices of present labels, events)."""
        axis = self.tracker.axis
        events = list(self.events)
        if saved_event:
            events.append(event(self.who, self.role, "saved"))
        painted, interpolated = edited_slices(self.labels, self.tracker.painted(axis),
                                              self.tracker.interpolated(axis))
        out = {"painted": painted, "interpolated": interpolated, "axis": axis, "annotator": self.who,
               "events": events, "label_table": self.table}
        if self.created:
            out["created"] = self.created
        return out

    def save(self) -> Path:
        """Save the draft atomically under the review rules, then clear the autosave journal."""
        self._require_editable()
        kwargs = self.provenance()
        record = review.save_draft(self.case, self.labels, self.grid, self.who, role=self.role, lock=self.lock,
                                   **kwargs)
        self.events = kwargs["events"]
        self.created = record.get("Created")
        self.dirty = False
        clear_journal(self.case.recovery_dir)
        return self.case.draft_path

    def submit(self, *, force: bool = False) -> int:
        """Save if there are unsaved edits, then freeze the draft as a version for review."""
        if self.dirty:
            self.save()
        self._require_editable()
        return review.submit(self.case, self.who, force=force, lock=self.lock)

    def qa_errors(self) -> list:
        """The QA errors that would block :meth:`submit` (of the saved draft)."""
        return [f for f in review.submission_qa(self.case) if f.level == "error"]

    # --- autosave journal -----------------------------------------------------------
    def journal_payload(self) -> tuple[np.ndarray, dict]:
        """A copy of the labels and the journal's bookkeeping (to write from another thread)."""
        kwargs = self.provenance(saved_event=False)
        for key in ("label_table", "created"):
            kwargs.pop(key, None)
        return np.array(self.labels, copy=True), kwargs

    def write_journal(self, payload: tuple[np.ndarray, dict] | None = None) -> Path | None:
        """Write the autosave journal (the whole labels and their bookkeeping); None when read-only."""
        if self.read_only:
            return None
        labels, kwargs = payload or self.journal_payload()
        return write_journal(self.case.recovery_dir, labels, self.grid, **kwargs)

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
        self.tracker = SliceTracker(journal.axis, journal.painted, journal.interpolated)
        self.events = list(journal.events) + [event(self.who, self.role, "restored")]
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


__all__ = ["CaseStatus", "EditingSession"]
