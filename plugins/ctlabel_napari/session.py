"""An editing session on one ctlabel labels layer.

Thin glue between a napari Labels layer and ctlabel: slice bookkeeping
(:mod:`ctlabel.paint_tracking`), interpolation (:mod:`ctlabel.interpolate`),
saving (:meth:`ctlabel.case.Case.save_draft`), the case lock
(:mod:`ctlabel.lock`) and the autosave journal (:mod:`ctlabel.recovery`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ctlabel import review
from ctlabel.case import Case
from ctlabel.errors import CaseError, CtlabelError, GeometryError, LockError, StateError
from ctlabel.interpolate import interpolate_with_report
from ctlabel.lock import CaseLock, acquire_lock
from ctlabel.mask_io import edited_slices
from ctlabel.paint_tracking import SliceTracker, touched_from_diff
from ctlabel.provenance import event
from ctlabel.recovery import autosave_interval, clear_journal, pending_recovery, read_journal
from ctlabel.volume import Grid, spacing_from_affine

from ._autosave import AutosaveMixin
from ._compat import atom_changes
from ._layers import KEY, grid_from_meta, table_from_meta

log = logging.getLogger(__name__)

#: Case folder (resolved) -> the session of this process that holds its lock (for the writer).
_HOLDERS: dict[Path, LabelSession] = {}


def held_lock(case_root) -> CaseLock | None:
    """The case lock an open session of this process holds, so that napari's writer saves under it."""
    session = _HOLDERS.get(Path(case_root).resolve())
    return None if session is None else session.lock


def _notify(message: str, level: str = "info") -> None:
    from napari.utils import notifications

    getattr(notifications, f"show_{level}")(message)


class LabelSession(AutosaveMixin):
    """Tracks, interpolates, autosaves and saves one labels layer.

    Parameters
    ----------
    layer : napari.layers.Labels
        A layer made by this plugin (``metadata["ctlabel"]`` holds its grid).
    viewer : napari.Viewer, optional
        Used for the painting axis and navigation.
    annotator : callable returning str
        Who is editing (read when an event or a save needs it).
    confirm_restore : callable(dict) -> bool, optional
        Asked when the case has a recovery journal newer than its draft.
    """

    def __init__(self, layer, viewer=None, *, annotator: Callable[[], str] = lambda: "",
                 confirm_restore: Callable[[dict], bool] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.layer = layer
        self.viewer = viewer
        self._annotator = annotator
        self.on_change = on_change
        meta = layer.metadata[KEY]
        self.grid: Grid = grid_from_meta(layer.metadata)
        if tuple(layer.data.shape) != tuple(self.grid.shape):
            raise GeometryError(f"layer {layer.name!r} has shape {layer.data.shape}, its grid {self.grid.shape}")
        self.spacing = spacing_from_affine(self.grid.affine)
        self.table = table_from_meta(layer.metadata)
        self.tracker = SliceTracker(meta.get("axis", 0), meta.get("painted"), meta.get("interpolated"))
        prov = meta.get("provenance") or {}
        self.events: list[dict] = list(prov.get("Events", []))
        self.created = prov.get("Created")
        self.case: Case | None = Case.open(meta["case"]) if meta.get("case") else None
        self.lock = None
        self.read_only = False
        self.awaiting_review = False
        self.dirty = False
        self.fallback_used = 0
        self._pending_fill: dict | None = None
        self._fallback_pending = None
        self._painted_once = False
        self._shadow = np.array(layer.data, copy=True)
        # autosave
        self.autosave_s = autosave_interval()
        self._timer = None
        self._writer: threading.Thread | None = None
        self._journal_error: str | None = None
        self.journal_writes = 0
        self.last_journal_time: float | None = None

        layer.events.paint.connect(self._on_paint)
        layer.events.data.connect(self._on_data_replaced)
        layer.events.editable.connect(self._on_editable)
        self._orig_undo, self._orig_redo = layer.undo, layer.redo
        layer.undo = self.undo
        layer.redo = self.redo

        if self.case is not None:
            self._open_case(confirm_restore)

    # --- case: lock and recovery --------------------------------------------------
    def _open_case(self, confirm_restore) -> None:
        try:
            self.lock = acquire_lock(self.case.root, self.annotator or None)
        except LockError as exc:
            self.read_only = True
            self.layer.editable = False
            _notify(str(exc), "warning")
            return
        _HOLDERS[self.case.root.resolve()] = self
        try:
            if review.state_of(self.case) == review.SUBMITTED:
                self.set_awaiting_review()
        except CtlabelError as exc:  # an unreadable case record: saving will say so; edits go to the journal
            _notify(str(exc), "warning")
        record = pending_recovery(self.case)
        if record is None:
            return
        ask = confirm_restore or _ask_restore
        if ask(record):
            self.restore_journal()
        else:
            clear_journal(self.case.recovery_dir)

    def restore_journal(self) -> None:
        journal = read_journal(self.case.recovery_dir, self.grid)
        self.layer.data = journal.labels.astype(self.layer.data.dtype, copy=False) \
            if journal.labels.max(initial=0) <= np.iinfo(self.layer.data.dtype).max else journal.labels
        self.tracker = SliceTracker(journal.axis, journal.painted, journal.interpolated)
        self.events = list(journal.events) + [event(self.annotator or "unknown", "annotator", "restored")]
        self._shadow = np.array(self.layer.data, copy=True)
        self._sync_meta()
        self.dirty = True
        self._schedule_autosave()
        _notify(f"Restored unsaved edits from {journal.written}")

    @property
    def annotator(self) -> str:
        return self._annotator() or ""

    def set_awaiting_review(self) -> None:
        """The case is submitted: the labels layer is read-only until a reviewer rejects it."""
        self.awaiting_review = True
        self.layer.editable = False

    # --- paint tracking ---------------------------------------------------------
    def paint_axis(self) -> int:
        """The axis perpendicular to the view the person paints in."""
        v = self.viewer
        if v is not None and v.dims.ndisplay == 2 and len(v.dims.not_displayed) >= 1:
            return int(v.dims.not_displayed[-1])
        return self.tracker.axis

    def _on_paint(self, ev) -> None:
        item = ev.value
        axis = self.paint_axis()
        ndim = self._shadow.ndim
        self._flush_fallback()
        touched: dict[int, set[int]] = {}
        appliers = []
        fill_only = self._pending_fill is not None
        for atom in item:
            res = atom_changes(atom, axis, ndim, slices=not fill_only)
            if res is None:
                appliers = None
                break
            t, apply = res
            appliers.append(apply)
            for k, v in t.items():
                touched.setdefault(k, set()).update(v)
        fill, self._pending_fill = self._pending_fill, None
        if appliers is not None:
            for apply in appliers:
                apply(self._shadow)
            rec = self.tracker.record("fill" if fill is not None else "paint",
                                      fill if fill is not None else touched, axis)
        else:
            rec = self._fallback_record(axis, fill)
        if rec.kind == "paint" and rec.slices and not self._painted_once:
            self._painted_once = True
            self.events.append(event(self.annotator or "unknown", "annotator", "painted"))
        self._changed()

    # The fallback: find the changed slices by comparing the data with a copy.
    # napari writes the data of a direct paint() call after its event, and that
    # of a mouse stroke before; so the comparison runs now (a stroke, or the
    # previous direct call) and once more when control returns to the event loop.
    def _fallback_record(self, axis: int, fill):
        self.fallback_used += 1
        now = self.diff_touched(axis)
        if fill is not None:
            return self.tracker.record("fill", fill, axis)
        rec = self.tracker.record("paint", now, axis)
        self._fallback_pending = rec
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self._flush_fallback)
        return rec

    def _flush_fallback(self) -> None:
        rec, self._fallback_pending = self._fallback_pending, None
        if rec is None:
            return
        later = self.diff_touched(rec.axis)
        if later:
            for k, v in later.items():
                rec.slices.setdefault(k, set()).update(v)
            if rec.slices and not self._painted_once:
                self._painted_once = True
                self.events.append(event(self.annotator or "unknown", "annotator", "painted"))
            self._changed()

    def diff_touched(self, axis: int) -> dict[int, set[int]]:
        """The slices that differ from the last known state (and make the data the known state)."""
        data = np.asarray(self.layer.data)
        touched = touched_from_diff(self._shadow, data, axis)
        np.copyto(self._shadow, data)
        return touched

    def undo(self) -> None:
        self._flush_fallback()
        self._orig_undo()
        if self.tracker.undo() is not None:
            np.copyto(self._shadow, np.asarray(self.layer.data))
            self._changed()

    def redo(self) -> None:
        self._flush_fallback()
        self._orig_redo()
        if self.tracker.redo() is not None:
            np.copyto(self._shadow, np.asarray(self.layer.data))
            self._changed()

    def _on_data_replaced(self, ev=None) -> None:
        # napari resets its undo history when the data is replaced (or editing is switched off).
        self.tracker.commit()
        if np.shape(self.layer.data) == self._shadow.shape:
            np.copyto(self._shadow, np.asarray(self.layer.data))

    def _on_editable(self, ev=None) -> None:
        if not self.layer.editable:
            self.tracker.commit()

    def _sync_meta(self) -> None:
        meta = self.layer.metadata[KEY]
        axis = self.tracker.axis
        meta["painted"] = self.tracker.painted(axis)
        meta["interpolated"] = self.tracker.interpolated(axis)
        meta["axis"] = axis
        meta["annotator"] = self.annotator
        meta["events"] = list(self.events)

    def _changed(self) -> None:
        self._sync_meta()
        self.dirty = True
        self._schedule_autosave()
        if self.on_change is not None:
            self.on_change()

    # --- interpolation ----------------------------------------------------------
    def interpolate(self, label: int | None = None, all_labels: bool = False) -> dict[int, list[int]]:
        """Fill between painted slices of ``label`` (default: the selected label) or of all labels.

        One undo step takes it back. Returns label -> filled slices.
        """
        if self.read_only:
            raise LockError("the case is open read-only")
        if self.awaiting_review:
            raise StateError("the case is submitted and awaits review; it cannot be edited", self.case.root)
        if all_labels:
            labels = [lab for lab, zs in self.tracker.painted(self.tracker.axis).items() if len(zs) >= 2]
            axis = self.tracker.axis
        else:
            lab = int(self.layer.selected_label if label is None else label)
            labels = [lab]
            axis = self.tracker.axis_for(lab)
        painted = {lab: self.tracker.painted(axis).get(lab, []) for lab in labels}
        painted = {lab: zs for lab, zs in painted.items() if len(zs) >= 2}
        if not painted:
            raise CtlabelError("paint the label on at least two slices first")
        data = self.layer.data
        lo = min(zs[0] for zs in painted.values())
        hi = max(zs[-1] for zs in painted.values()) + 1
        # Work on the slab between the first and last painted slice only.
        sl = [slice(None)] * 3
        sl[axis] = slice(lo, hi)
        sl = tuple(sl)
        slab = np.asarray(data[sl])
        local = {lab: [z - lo for z in zs] for lab, zs in painted.items()}
        res = interpolate_with_report(slab, local, axis=axis, spacing=self.spacing)
        filled = {lab: [z + lo for z in zs] for lab, zs in res.filled.items()}
        changed = res.labels != slab
        # Index arrays only inside the bounding box of the change (np.nonzero on the whole slab is slow).
        box = []
        for a in range(3):
            hit = np.flatnonzero(changed.any(axis=tuple(b for b in range(3) if b != a)))
            box.append(slice(int(hit[0]), int(hit[-1]) + 1) if hit.size else slice(0, 0))
        box = tuple(box)
        sub = changed[box]
        values = res.labels[box][sub]
        idx = tuple(np.add(i, (lo if a == axis else 0) + box[a].start, dtype=np.intp)
                    for a, i in enumerate(np.nonzero(sub)))
        self._pending_fill = filled
        with self.layer.block_history():
            if idx[0].size:
                self.layer.data_setitem(idx, values)
            else:
                # Nothing changed on screen, but the slices are still marked as filled:
                # record an (empty) undo step so undo keeps step with napari.
                self._pending_fill = None
                self.tracker.record("fill", filled, axis, undoable=False)
                self._changed()
        self._pending_fill = None
        self.events.append(event(self.annotator or "unknown", "annotator", "interpolated",
                                 Labels=sorted(filled)))
        self._sync_meta()
        return filled

    # --- navigation -------------------------------------------------------------
    def current_slice(self, axis: int) -> int:
        if self.viewer is None:
            return 0
        return int(self.viewer.dims.current_step[axis])

    def goto(self, axis: int, z: int) -> None:
        if self.viewer is not None:
            step = list(self.viewer.dims.current_step)
            step[axis] = int(z)
            self.viewer.dims.current_step = tuple(step)

    def next_painted(self, step: int = 1, any_label: bool = False) -> int | None:
        lab = None if any_label else int(self.layer.selected_label)
        axis = self.tracker.axis if any_label else self.tracker.axis_for(lab)
        z = self.tracker.next_painted(lab, self.current_slice(axis), step, axis)
        if z is not None:
            self.goto(axis, z)
        return z

    def next_gap(self, step: int = 1) -> int | None:
        lab = int(self.layer.selected_label)
        axis = self.tracker.axis_for(lab)
        z = self.tracker.next_gap(lab, self.current_slice(axis), step, axis)
        if z is not None:
            self.goto(axis, z)
        return z

    # --- saving -----------------------------------------------------------------
    def provenance_kwargs(self, action_event: bool = True) -> dict:
        axis = self.tracker.axis
        events = list(self.events)
        if action_event:
            events.append(event(self.annotator or "unknown", "annotator", "saved"))
        # a label erased to nothing is saved as not present, without painted slices
        painted, interpolated = edited_slices(np.asarray(self.layer.data), self.tracker.painted(axis),
                                              self.tracker.interpolated(axis))
        out = {
            "painted": painted,
            "interpolated": interpolated,
            "axis": axis,
            "annotator": self.annotator or None,
            "events": events,
            "label_table": self.table,
        }
        if self.created:
            out["created"] = self.created
        return out

    def save(self) -> Path:
        """Save the draft of the case (atomically, under the review rules), then clear the recovery journal.

        Raises
        ------
        StateError
            The case is submitted and awaits review (:func:`ctlabel.review.save_draft`).
        """
        if self.case is None:
            raise CaseError("this layer belongs to no case folder; use 'Save as case' first")
        if self.read_only:
            raise LockError("the case is open read-only (locked by somebody else)", self.case.root)
        self.wait_for_journal()
        kwargs = self.provenance_kwargs()
        who = self.annotator or "unknown"
        record = review.save_draft(self.case, np.asarray(self.layer.data), self.grid, who, lock=self.lock,
                                   **kwargs)
        self.events = kwargs["events"]
        self.created = record.get("Created")
        self.layer.metadata[KEY]["provenance"] = record
        self._sync_meta()
        self.dirty = False
        if self._timer is not None:
            self._timer.stop()
        clear_journal(self.case.recovery_dir)
        return self.case.draft_path

    def submit(self, force: bool = False, *, save: bool = True) -> int:
        """Save (unless the caller just did: ``save=False``), then freeze the draft as a new version.

        QA errors refuse it unless ``force`` (:func:`ctlabel.review.submit`). Afterwards the
        layer is read-only. Returns the version number.
        """
        if save:
            self.save()
        number = review.submit(self.case, self.annotator or "unknown", force=force, lock=self.lock)
        self.set_awaiting_review()
        return number

    def save_as_case(self, root: str | Path, volume) -> Path:
        """Create a case folder from ``volume`` (the image this layer was painted on) and save the draft."""
        if volume is None:
            raise CaseError("the image of this layer is not open; open the series first")
        volume.grid.require_match(self.grid, "the painted grid", root)
        root = Path(root)
        case = Case.open(root) if Case.is_case(root) else Case.create(root, volume, label_table=self.table)
        self.case = case
        self.layer.metadata[KEY]["case"] = str(case.root)
        try:
            self.lock = acquire_lock(case.root, self.annotator or None)
        except LockError as exc:
            self.read_only = True
            raise exc
        _HOLDERS[case.root.resolve()] = self
        return self.save()

    # --- end ----------------------------------------------------------------------
    def close(self) -> None:
        """Write any pending edits to the journal, stop the timer and release the lock."""
        if self._timer is not None:
            self._timer.stop()
        if self.dirty:
            try:
                self.write_journal_now(background=False)
            except CtlabelError:
                pass
        self.wait_for_journal()
        if self.case is not None and _HOLDERS.get(self.case.root.resolve()) is self:
            del _HOLDERS[self.case.root.resolve()]
        if self.lock is not None:
            self.lock.release()
            self.lock = None
        try:
            self.layer.events.paint.disconnect(self._on_paint)
            self.layer.events.data.disconnect(self._on_data_replaced)
            self.layer.events.editable.disconnect(self._on_editable)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.layer.undo, self.layer.redo = self._orig_undo, self._orig_redo


def _ask_restore(record: dict) -> bool:
    from qtpy.QtWidgets import QMessageBox

    answer = QMessageBox.question(
        None,
        "Restore unsaved edits?",
        f"This case has unsaved edits from {record.get('Written', 'an earlier session')} "
        f"by {record.get('Annotator') or 'unknown'} (the editor did not close normally).\n\n"
        "Restore them? (No discards them.)",
    )
    return answer == QMessageBox.StandardButton.Yes
