"""napari's paint events and undo/redo, turned into edits of the core session.

A mixin of :class:`ctlabel_napari.session.LabelSession`, which provides ``layer``,
``core`` (a :class:`ctlabel.case.editing.Edits` or :class:`~ctlabel.case.editing.EditingSession`),
``paint_axis``, ``_sync_who`` and ``_changed``. Each napari undo item becomes one
:meth:`~ctlabel.case.editing.Edits.record_edit` (also an empty one, to keep step with napari's
undo stack); napari's undo and redo call the core's.

The atoms of an item are read by :func:`ctlabel_napari._compat.atom_changes`. For an atom of
a form it does not know, the changed slices come from comparing the data with a copy of the
last known state (the fallback). napari writes the data of a direct ``paint()`` call after
its event, and that of a mouse stroke before; so the comparison runs at the event (a stroke,
or the previous direct call) and once more when control returns to the event loop, adding
what it finds to the same record (:meth:`~ctlabel.case.editing.Edits.amend_edit`).
"""

from __future__ import annotations

import numpy as np

from ctlabel import Record, touched_from_diff

from . import _compat, _history


class PaintEventsMixin:
    """Record napari's paint events and follow its undo and redo."""

    def _init_paint_events(self) -> None:
        self.fallback_used = 0
        self._pending_fill: dict | None = None
        self._fallback_pending: Record | None = None
        self._shadow = np.array(self.layer.data, copy=True)
        layer = self.layer
        layer.events.paint.connect(self._on_paint)
        layer.events.data.connect(self._on_data_replaced)
        layer.events.editable.connect(self._on_editable)
        self._orig_undo, self._orig_redo = layer.undo, layer.redo
        layer.undo = self.undo
        layer.redo = self.redo

    def _disconnect_paint_events(self) -> None:
        try:
            self.layer.events.paint.disconnect(self._on_paint)
            self.layer.events.data.disconnect(self._on_data_replaced)
            self.layer.events.editable.disconnect(self._on_editable)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.layer.undo, self.layer.redo = self._orig_undo, self._orig_redo

    def _on_paint(self, ev) -> None:
        self._sync_who()
        axis = self.paint_axis()
        ndim = self._shadow.ndim
        self._flush_fallback()
        touched: dict[int, set[int]] = {}
        appliers: list | None = []
        fill, self._pending_fill = self._pending_fill, None
        for atom in ev.value:
            # napari's private atoms, read in one place (looked up here so tests can replace it)
            res = _compat.atom_changes(atom, axis, ndim, slices=fill is None)
            if res is None:
                appliers = None
                break
            t, apply = res
            appliers.append(apply)
            for k, v in t.items():
                touched.setdefault(k, set()).update(v)
        if appliers is not None:
            for apply in appliers:
                apply(self._shadow)
            self.core.record_edit("fill" if fill is not None else "paint",
                                  fill if fill is not None else touched, axis)
        else:
            self._fallback_record(axis, fill)
        self._changed()

    def _fallback_record(self, axis: int, fill: dict | None) -> None:
        self.fallback_used += 1
        now = self.diff_touched(axis)
        if fill is not None:
            self.core.record_edit("fill", fill, axis)
            return
        self._fallback_pending = self.core.record_edit("paint", now, axis)
        from qtpy.QtCore import QTimer

        QTimer.singleShot(0, self._flush_fallback)

    def _flush_fallback(self) -> None:
        rec, self._fallback_pending = self._fallback_pending, None
        if rec is None:
            return
        later = self.diff_touched(rec.axis)
        if later:
            self.core.amend_edit(rec, later)
            self._changed()

    def diff_touched(self, axis: int) -> dict[int, set[int]]:
        """The slices that differ from the last known state (and make the data the known state)."""
        data = np.asarray(self.layer.data)
        touched = touched_from_diff(self._shadow, data, axis)
        np.copyto(self._shadow, data)
        return touched

    def rewrite_top(self, item: list, indices: tuple, old: np.ndarray, new: np.ndarray) -> bool:
        """Replace this session's write ``item``, napari's newest undo item, by another write.

        The voxels of ``item`` are put back, then ``new`` is written at ``indices`` (``old``: their
        values before ``item``), and ``item`` becomes that write: still one undo step, recorded by
        the same record (the caller keeps the same slices). False, changing nothing, when ``item``
        is no longer the newest (the person edited, undid or redid since) or is not a plain write.
        """
        atoms = list(item)
        if not all(isinstance(a, tuple) and len(a) == 3 for a in atoms) or not _history.replace_item(
                self.layer, item, [(indices, old, new)]):
            return False
        data = self.layer.data
        for idx, before, _ in reversed(atoms):
            data[idx] = before
            self._shadow[idx] = before
        data[indices] = new
        self._shadow[indices] = new
        self.layer.refresh()
        self._changed()
        return True

    def undo(self) -> None:
        """napari's undo, then the core's (the slices of the undone item)."""
        self._flush_fallback()
        self._orig_undo()
        if self.core.undo() is not None:
            np.copyto(self._shadow, np.asarray(self.layer.data))
            self._changed()

    def redo(self) -> None:
        self._flush_fallback()
        self._orig_redo()
        if self.core.redo() is not None:
            np.copyto(self._shadow, np.asarray(self.layer.data))
            self._changed()

    def _on_data_replaced(self, ev=None) -> None:
        # napari resets its undo history when the data is replaced (or editing is switched off).
        self.core.tracker.commit()
        data = self.layer.data
        if np.shape(data) == self._shadow.shape:
            np.copyto(self._shadow, np.asarray(data))
            if isinstance(data, np.ndarray) and data is not self.core.labels:
                self.core.labels = data  # the layer's data stays the session's labels

    def _on_editable(self, ev=None) -> None:
        if not self.layer.editable:
            self.core.tracker.commit()
