"""The edits of one label array, with or without a case: slices, events, interpolation.

:class:`Edits` is what an editor keeps for a series that is not a case yet;
:class:`ctlabel.case.editing.EditingSession` extends it with the case, its lock and the review rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ctlabel.errors import CtlabelError
from ctlabel.io.labels import LabelTable, default_label_table
from ctlabel.io.mask import MaskFields, labels_present
from ctlabel.io.provenance import event
from ctlabel.painting.tracking import Record, SliceTracker
from ctlabel.volume import Grid, spacing_from_affine


@dataclass
class Interpolation:
    """What interpolating would write, without writing it.

    Attributes
    ----------
    indices : tuple of numpy.ndarray
        The voxels that change (one index array per axis).
    values : numpy.ndarray
        Their new labels.
    filled : dict
        Label -> the slices filled.
    axis : int
        The slice axis of ``filled``.
    refined : dict
        Label -> the filled slices the image refined (image-aware only; empty otherwise).
    old : numpy.ndarray or None
        The labels of ``indices`` before (what an undo puts back).
    """

    indices: tuple[np.ndarray, ...]
    values: np.ndarray
    filled: dict[int, list[int]]
    axis: int
    refined: dict[int, list[int]] = field(default_factory=dict)
    old: np.ndarray | None = None

    def apply(self, labels: np.ndarray) -> None:
        """Write the interpolated voxels into ``labels`` (in place)."""
        if self.indices[0].size:
            labels[self.indices] = self.values


def _changed_voxels(old: np.ndarray, new: np.ndarray,
                    offset: tuple[int, ...]) -> tuple[tuple, np.ndarray, np.ndarray]:
    """Index arrays (shifted by ``offset``), new and old values where ``new`` differs from ``old``.

    ``np.nonzero`` runs only inside the bounding box of the change (on the whole slab it is slow).
    """
    changed = new != old
    bounds = []
    for a in range(changed.ndim):
        hit = np.flatnonzero(changed.any(axis=tuple(b for b in range(changed.ndim) if b != a)))
        bounds.append(slice(int(hit[0]), int(hit[-1]) + 1) if hit.size else slice(0, 0))
    box = tuple(bounds)
    sub = changed[box]
    idx = tuple(np.add(i, offset[a] + box[a].start, dtype=np.intp) for a, i in enumerate(np.nonzero(sub)))
    return idx, new[box][sub], old[box][sub]


class Edits:
    """The edits of one label array: slice bookkeeping, events and interpolation, no case.

    An editor on a series that is not a case yet keeps these; :meth:`EditingSession.create`
    makes the case from them ("save as case").

    Parameters
    ----------
    labels : numpy.ndarray
        The working labels; edited in place by the caller (an editor's layer data can be
        this very array).
    grid : Grid
        The grid of the labels.
    who : str
        Who edits (recorded in events and provenance).
    role : str
        ``annotator`` or ``reviewer``.
    tracker : SliceTracker, optional
        Painted and interpolated slices per label (default: none yet).
    events : list of dict, optional
        Events so far (``painted``, ``interpolated`` ...).
    table : LabelTable, optional
        The label table (default: the built-in one).
    created : str, optional
        When the draft was first created (kept across saves).
    """

    def __init__(self, labels: np.ndarray, grid: Grid, who: str, *, role: str = "annotator",
                 tracker: SliceTracker | None = None, events: list[dict] | None = None,
                 table: LabelTable | None = None, created: str | None = None) -> None:
        grid.require_match(Grid(tuple(labels.shape), grid.affine), "the labels", None)
        self.labels = labels
        self.grid = grid
        self.who = who
        self.role = role
        self.tracker = tracker if tracker is not None else SliceTracker()
        self.events: list[dict] = list(events or [])
        self.table = table if table is not None else default_label_table()
        self.created = created
        self.spacing = spacing_from_affine(grid.affine)
        self.dirty = False
        self._painted_once = False
        self._method_edits: list[tuple[Record | None, dict[int, dict]]] = []  # see mark_prelabelled

    @property
    def read_only(self) -> bool:
        """Always False here (no case, no lock)."""
        return False

    @property
    def awaiting_review(self) -> bool:
        """Always False here (no case, no review)."""
        return False

    @property
    def editable(self) -> bool:
        return not self.read_only and not self.awaiting_review

    def _require_editable(self) -> None:
        """Nothing to check without a case."""

    def _event(self, action: str, **extra) -> dict:
        return event(self.who or "unknown", self.role, action, **extra)

    # --- edits ----------------------------------------------------------------------
    def record_edit(self, kind: str, slices: dict[int, set[int]], axis: int, *, undoable: bool = True) -> Record:
        """Record slices an editor changed (``paint`` or ``fill``); the labels array already holds them.

        Returns the tracker record (one per editor undo item, also when empty).
        """
        rec = self.tracker.record(kind, slices, axis, undoable=undoable)
        self._note_painted(rec)
        self.dirty = True
        return rec

    def amend_edit(self, record: Record, slices: dict[int, set[int]]) -> None:
        """Add slices to a record found only later (an editor that writes its data after the event)."""
        if not slices:
            return
        for k, v in slices.items():
            record.slices.setdefault(k, set()).update(v)
        self._note_painted(record)
        self.dirty = True

    def _note_painted(self, rec: Record) -> None:
        if rec.kind == "paint" and rec.slices and not self._painted_once:
            self._painted_once = True
            self.events.append(self._event("painted"))

    def undo(self) -> Record | None:
        """Take back the last record (the editor undid its write); None when there is none."""
        rec = self.tracker.undo()
        if rec is not None:
            self.dirty = True
        return rec

    def redo(self) -> Record | None:
        rec = self.tracker.redo()
        if rec is not None:
            self.dirty = True
        return rec

    def interpolation(self, labels: list[int] | None = None, *, image: np.ndarray | None = None) -> Interpolation:
        """What interpolating would write, without writing it.

        ``labels`` default to every label painted on at least two slices (on the tracker's
        axis; a single label uses the axis it was painted on). Only the slab between the
        first and last painted slice is computed. ``image`` (the CT in HU on the same grid)
        makes it image-aware (:func:`ctlabel.interpolate.interpolate_with_report`). The caller
        applies the result (as one undo step), calls :meth:`record_edit` with ``"fill"`` and
        :meth:`mark_interpolated`.
        """
        return self.interpolation_job(labels, image=image, copy=False)()

    def interpolation_job(self, labels: list[int] | None = None, *, image: np.ndarray | None = None,
                          copy: bool = True) -> Callable[[], Interpolation]:
        """Prepare an interpolation now and compute it later, e.g. in a worker thread.

        The labels to fill, their painted slices and (``copy=True``) a copy of the slab of the
        labels are taken now; the returned function computes :meth:`interpolation` from them
        alone, so the working labels may change meanwhile (the result is relative to the labels
        as they were when the job was made: ``old`` holds those). ``image`` must stay unchanged.

        Raises
        ------
        CtlabelError
            No label is painted on two slices.
        InputError
            ``image`` is not on the labels' grid (when the job runs).
        """
        from ctlabel.interpolate import interpolate_with_report

        self._require_editable()
        axis = self.tracker.axis if labels is None else self.tracker.axis_for(labels[0])
        painted = {lab: zs for lab, zs in self.tracker.painted(axis).items()
                   if (labels is None or lab in labels) and len(zs) >= 2}
        if not painted:
            raise CtlabelError("paint the label on at least two slices first")
        lo = min(zs[0] for zs in painted.values())
        hi = max(zs[-1] for zs in painted.values()) + 1
        sl = tuple(slice(lo, hi) if a == axis else slice(None) for a in range(self.labels.ndim))
        slab = np.array(self.labels[sl], copy=True) if copy else np.asarray(self.labels[sl])
        img = None
        if image is not None:
            img = np.asarray(image)
            img = img[sl] if img.shape == self.labels.shape else img  # a wrong shape: the interpolation says so
        local = {lab: [z - lo for z in zs] for lab, zs in painted.items()}
        offset = tuple(lo if a == axis else 0 for a in range(slab.ndim))
        spacing, dtype = self.spacing, self.labels.dtype

        def compute() -> Interpolation:
            res = interpolate_with_report(slab, local, axis=axis, spacing=spacing, image=img)
            filled = {lab: [z + lo for z in zs] for lab, zs in res.filled.items()}
            refined = {lab: [z + lo for z in zs] for lab, zs in res.refined.items()}
            idx, values, old = _changed_voxels(slab, res.labels, offset)
            return Interpolation(idx, values.astype(dtype, copy=False), filled, axis, refined, old)

        return compute

    def _carried_methods(self, painted: Mapping[int, tuple[int, ...]]) -> dict[int, dict]:
        """The methods a save carries from before (none without a case)."""
        return {}

    def mark_interpolated(self, filled: dict[int, list[int]]) -> None:
        """Record the ``interpolated`` event of an applied interpolation."""
        self.events.append(self._event("interpolated", Labels=sorted(filled)))

    def mark_prelabelled(self, methods: dict[int, dict], tool: str = "ctlabel prelabel") -> None:
        """Record pre-labels an editor applied: label -> its ``Method`` (``ctlabel.prelabel.run.method_record``).

        Adds the ``painted`` event naming the tool, and the labels' methods to the next save's
        provenance (``Labels[k].Method``; one that gets hand-painted slices is saved as
        semiautomatic). The caller writes the voxels as one undo step recorded as a ``fill`` with
        no slices: nobody painted those slices, so they count as neither painted nor interpolated.
        """
        if methods:
            names = [self.table[v].name if v in self.table else str(v) for v in sorted(methods)]
            self.events.append(self._event("painted", Tool=tool, Labels=names))
            # tied to the edit's record: undone with it, back with its redo
            self._method_edits.append((self.tracker.last, {int(k): dict(v) for k, v in methods.items()}))
            self.dirty = True

    @property
    def methods(self) -> dict[int, dict]:
        """Label -> the ``Method`` of the pre-labels applied here and not undone."""
        out: dict[int, dict] = {}
        for rec, methods in self._method_edits:
            if rec is None or self.tracker.in_effect(rec):
                out.update(methods)
        return out

    def _methods(self, painted: Mapping[int, tuple[int, ...]],
                 carried: dict[int, dict] | None = None) -> dict[int, dict]:
        """The label methods of a save: ``carried`` ones, then this editor's; automatic + painted -> semiautomatic."""
        out = dict(carried or {})
        for k, method in self.methods.items():
            method = dict(method)
            if method.get("Kind") == "automatic" and painted.get(k):
                method["Kind"] = "semiautomatic"
            out[k] = method
        return out

    def interpolate(self, labels: list[int] | None = None) -> dict[int, list[int]]:
        """Fill between painted slices (in place, not undoable here); returns label -> filled slices."""
        result = self.interpolation(labels)
        result.apply(self.labels)
        self.record_edit("fill", {k: set(v) for k, v in result.filled.items()}, result.axis, undoable=False)
        self.mark_interpolated(result.filled)
        return result.filled

    def provenance(self, *, saved_event: bool = True) -> MaskFields:
        """What a save records beside the voxels: the slice edits of present labels, events, who, table.

        The edits are the tracker's along its axis; a label erased to nothing keeps no slices.
        """
        events = list(self.events)
        if saved_event:
            events.append(self._event("saved"))
        edits = self.tracker.edits().for_present(labels_present(self.labels))
        methods = self._methods(edits.painted, self._carried_methods(edits.painted)) if self.methods else None
        return MaskFields(label_table=self.table, edits=edits, annotator=self.who or None, events=events,
                          created=self.created or None, methods=methods)


__all__ = ["Edits", "Interpolation"]
