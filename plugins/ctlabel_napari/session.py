"""An editing session on one ctlabel labels layer: napari glue over :mod:`ctlabel.case.editing`.

The rules live in the core. A layer that belongs to a case is edited through a
:class:`ctlabel.case.editing.EditingSession`: it holds the case lock, the labels (the layer's data
*is* its ``labels`` array), the slice bookkeeping, the events, save, submit, the journal and
the state. A layer without a case (a DICOM series opened directly) keeps a
:class:`ctlabel.case.editing.Edits` (slices, events, interpolation) until *Save as case* makes the
case (:meth:`~ctlabel.case.editing.EditingSession.create`).

:class:`LabelSession` only connects napari: paint events and undo/redo
(:mod:`._paint_events`), the autosave timer (:mod:`._autosave`), interpolation as one napari
undo step, navigation, the layer's ``editable`` flag and metadata, and notifications.
"""

from __future__ import annotations

import getpass
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ctlabel import (
    Case,
    CaseError,
    CaseLock,
    CtlabelError,
    EditingSession,
    Edits,
    GeometryError,
    Grid,
    LabelTable,
    Mask,
    SliceTracker,
    Volume,
    interpolate_with_report,  # noqa: F401 - loaded with the plugin, not at the first interpolation (0.25 s)
)

from ._autosave import AutosaveMixin
from ._layers import KEY, grid_from_meta, table_from_meta
from ._paint_events import PaintEventsMixin

log = logging.getLogger(__name__)

#: Case folder (resolved) -> the session of this process that holds its lock (for the writer).
_HOLDERS: dict[Path, LabelSession] = {}


def holder(case_root) -> LabelSession | None:
    """The session of this process that edits ``case_root`` (holds its lock), so napari's writer
    saves through it; None when there is none."""
    return _HOLDERS.get(Path(case_root).resolve())


def _notify(message: str, level: str = "info") -> None:
    from napari.utils import notifications

    getattr(notifications, f"show_{level}")(message)


class LabelSession(PaintEventsMixin, AutosaveMixin):
    """Connects one labels layer to its core editing session.

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
    on_change : callable, optional
        Called after every edit (the widget refreshes).
    """

    def __init__(self, layer, viewer=None, *, annotator: Callable[[], str] = lambda: "",
                 confirm_restore: Callable[[dict], bool] | None = None,
                 on_change: Callable[[], None] | None = None) -> None:
        self.layer = layer
        self.viewer = viewer
        self._annotator = annotator
        self.on_change = on_change
        meta = layer.metadata[KEY]
        grid: Grid = grid_from_meta(layer.metadata)
        if tuple(layer.data.shape) != tuple(grid.shape):
            raise GeometryError(f"layer {layer.name!r} has shape {layer.data.shape}, its grid {grid.shape}")
        prov = meta.get("provenance")  # a MaskProvenance, or None
        self.core: Edits = Edits(self._layer_array(), grid, self.annotator,
                                 tracker=SliceTracker(meta.get("edits")),
                                 events=[e.to_dict() for e in prov.events] if prov is not None else None,
                                 table=table_from_meta(layer.metadata),
                                 created=prov.created if prov is not None else None)
        self._init_autosave()
        restored = self._open_case(meta["case"], confirm_restore or _ask_restore) if meta.get("case") else None
        self._init_paint_events()
        if restored is not None:
            self._after_restore(restored)

    def _layer_array(self) -> np.ndarray:
        data = self.layer.data
        if not isinstance(data, np.ndarray):  # an array-like layer: edit a numpy copy, shown by the layer
            self.layer.data = data = np.array(data)
        return data

    # --- the core session ------------------------------------------------------------
    def _open_case(self, root, ask: Callable[[dict], bool]) -> dict | None:
        """Open the core session of the case; the journal record when its edits were restored."""
        asked: list[tuple[dict, bool]] = []

        def restore(record: dict) -> bool:
            asked.append((record, bool(ask(record))))
            return asked[-1][1]

        meta = self.layer.metadata[KEY]
        shown = Mask(self.core.labels, self.core.grid.affine, meta.get("provenance"),
                     Path(meta["mask_path"]) if meta.get("mask_path") else None)  # as the reader read it
        core = EditingSession.open(root, self.annotator or getpass.getuser(), start=shown, restore=restore)
        core.who = self.annotator
        self.core = core
        if core.read_only:  # somebody else edits it, or it is submitted (nobody holds its lock)
            self.layer.editable = False
            if core.lock_message:
                _notify(core.lock_message, "warning")
            return None
        _HOLDERS[core.case.root.resolve()] = self
        try:
            if core.awaiting_review:
                self.set_awaiting_review()
        except CtlabelError as exc:  # an unreadable case record: saving will say so; edits go to the journal
            _notify(str(exc), "warning")
        return asked[-1][0] if asked and asked[-1][1] else None

    def _after_restore(self, record: dict) -> None:
        if self.core.labels is not self.layer.data:
            self.layer.data = self.core.labels  # the journal needed a wider dtype
        else:
            self.layer.refresh()
        self._shadow = np.array(self.core.labels, copy=True)
        self._sync_meta()
        self._schedule_autosave()
        _notify(f"Restored unsaved edits from {record.get('Written', 'the autosave journal')}")

    def restore_journal(self) -> None:
        """Take the labels and slices of the case's autosave journal (after a crash)."""
        self._require_case().restore_journal()
        self._after_restore({})

    @property
    def editing(self) -> EditingSession | None:
        """The core session of the case, or None while the layer belongs to no case."""
        return self.core if isinstance(self.core, EditingSession) else None

    def _require_case(self) -> EditingSession:
        if self.editing is None:
            raise CaseError("this layer belongs to no case folder; use 'Save as case' first")
        return self.editing

    @property
    def case(self) -> Case | None:
        return None if self.editing is None else self.editing.case

    @property
    def lock(self) -> CaseLock | None:
        return None if self.editing is None else self.editing.lock

    @property
    def grid(self) -> Grid:
        return self.core.grid

    @property
    def tracker(self) -> SliceTracker:
        return self.core.tracker

    @property
    def events(self) -> list[dict]:
        return self.core.events

    @property
    def table(self) -> LabelTable:
        return self.core.table

    @table.setter
    def table(self, table: LabelTable) -> None:
        self.core.table = table

    @property
    def dirty(self) -> bool:
        return self.core.dirty

    @property
    def read_only(self) -> bool:
        """No edit lock is held: somebody else holds it, or the case is submitted."""
        return self.core.read_only

    @property
    def awaiting_review(self) -> bool:
        """A version awaits review (read from the case record; False if the record cannot be read)."""
        try:
            return self.core.awaiting_review
        except CtlabelError:
            return False

    @property
    def annotator(self) -> str:
        return self._annotator() or ""

    def _sync_who(self) -> None:
        self.core.who = self.annotator

    def set_awaiting_review(self) -> None:
        """The case is submitted: the labels layer is read-only until a reviewer rejects it."""
        self.layer.editable = False

    # --- edits ---------------------------------------------------------------------------
    def paint_axis(self) -> int:
        """The axis perpendicular to the view the person paints in."""
        v = self.viewer
        if v is not None and v.dims.ndisplay == 2 and len(v.dims.not_displayed) >= 1:
            return int(v.dims.not_displayed[-1])
        return self.tracker.axis

    def _sync_meta(self) -> None:
        meta = self.layer.metadata[KEY]
        meta["edits"] = self.tracker.edits()
        meta["annotator"] = self.annotator
        meta["events"] = list(self.events)

    def _changed(self) -> None:
        self._sync_meta()
        self._schedule_autosave()
        if self.on_change is not None:
            self.on_change()

    def provenance_fields(self, action_event: bool = True):  # -> ctlabel.io.mask.MaskFields
        """The provenance a save would write (:meth:`ctlabel.case.editing.Edits.provenance`)."""
        self._sync_who()
        return self.core.provenance(saved_event=action_event)

    def write(self, indices: tuple, values, *, fill: dict[int, list[int]] | None = None) -> bool:
        """Write voxels (that differ from the data) as one napari undo step; False when there are none.

        Its paint event records the slices as painted (a region grow), or with ``fill`` as
        those filled slices (an interpolation; ``{}`` for pre-labels: no slice is painted).
        """
        if self.read_only or self.awaiting_review:
            raise CtlabelError("the labels are read-only (locked by somebody else, or awaiting review)")
        if not indices[0].size:
            return False
        self._sync_who()
        self._pending_fill = None if fill is None else {k: set(v) for k, v in fill.items()}
        try:
            with self.layer.block_history():
                self.layer.data_setitem(indices, values)
        finally:
            self._pending_fill = None
        return True

    def interpolate(self, label: int | None = None, all_labels: bool = False) -> dict[int, list[int]]:
        """Fill between painted slices of ``label`` (default: the selected label) or of all labels.

        The core computes it (:meth:`ctlabel.case.editing.Edits.interpolation`); it is written as one
        napari undo step, whose paint event records the filled slices. Returns label -> filled slices.
        """
        self._sync_who()
        labels = None if all_labels else [int(self.layer.selected_label if label is None else label)]
        result = self.core.interpolation(labels)
        if not self.write(result.indices, result.values, fill=result.filled):
            # Nothing changed on screen, but the slices are still marked as filled:
            # a permanent record, since napari has no undo item for it.
            self.core.record_edit("fill", {k: set(v) for k, v in result.filled.items()}, result.axis,
                                  undoable=False)
            self._changed()
        self.core.mark_interpolated(result.filled)
        self._sync_meta()
        return result.filled

    # --- navigation ------------------------------------------------------------------------
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

    # --- saving ------------------------------------------------------------------------------
    def holds(self, data) -> bool:
        """Whether ``data`` is this session's labels (what napari's writer is asked to save)."""
        return data is self.core.labels or (isinstance(data, np.ndarray)
                                            and np.may_share_memory(data, self.core.labels))

    def save(self) -> Path:
        """Save the draft through the core (under the review rules); the journal is cleared.

        Raises
        ------
        CaseError
            The layer belongs to no case.
        LockError, StateError
            Read-only, or the case awaits review (:meth:`ctlabel.case.editing.EditingSession.save`).
        """
        core = self._require_case()
        self._sync_who()
        self._stop_autosave()
        path = core.save()
        self._unjournaled = False
        self.layer.metadata[KEY]["provenance"] = core.saved_record
        self._sync_meta()
        return path

    def submit(self, force: bool = False, *, save: bool = True) -> int:
        """Save (unless the caller just did: ``save=False``), then freeze the draft as a new version.

        QA errors refuse it unless ``force``. Afterwards the layer is read-only, the lock released. Returns the
        version number."""
        core = self._require_case()
        if save:
            self.save()
        self._sync_who()
        self._stop_autosave()
        number = core.submit(force=force)  # the core releases the edit lock: a reviewer may decide now
        self._forget_holder()
        self.set_awaiting_review()
        return number

    def edit_again(self) -> None:
        """Take the case lock again (after a rejection) and make the layer editable; refused (StateError,
        LockError) when the case changed on disk since it was loaded here (open it again) or is edited."""
        core = self._require_case()
        core.reacquire()
        _HOLDERS[core.case.root.resolve()] = self
        self.layer.editable = True

    def _forget_holder(self) -> None:
        if self.editing is not None and _HOLDERS.get(root := self.editing.case.root.resolve()) is self:
            del _HOLDERS[root]

    def save_as_case(self, root: str | Path, volume: Volume | None) -> Path:
        """Make a case folder from ``volume`` (the image this layer was painted on) and save the draft."""
        if self.editing is not None:
            raise CaseError(f"this layer belongs to the case {self.case.root} already", root)
        self._sync_who()
        core = EditingSession.create(root, volume, self.core)
        self.core = core
        self.layer.metadata[KEY]["case"] = str(core.case.root)
        self.layer.metadata[KEY]["provenance"] = core.saved_record
        _HOLDERS[core.case.root.resolve()] = self
        self._sync_meta()
        return core.case.draft_path

    # --- end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Write any pending edits to the journal, stop the timer and release the lock."""
        self._stop_autosave()
        core = self.editing
        if core is not None:
            self._forget_holder()
            try:
                core.close()  # unsaved edits go to the journal; the lock is released either way
            except CtlabelError as exc:
                log.warning("could not write the journal at close: %s", exc)
        self._disconnect_paint_events()


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
