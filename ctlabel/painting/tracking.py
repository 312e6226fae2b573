"""Which slices of which label a person touched, with undo and redo (no GUI).

An editor reports every write to the label volume as one *record*: a paint
record (the person painted or erased) or a fill record (interpolation filled
slices). Records form an undo stack that mirrors the editor's own undo history
one to one, so undoing a stroke in the editor undoes its slices here too.

A slice is *painted* for a label when a paint record in effect changed a voxel
of that label on it (painting the label, or erasing or overwriting it). A slice
is *interpolated* when a fill record in effect filled it and it is not painted:
painting on a filled slice makes it painted.

Slices are indices along an axis; each record carries the axis it was made on
(the axis perpendicular to the view the person painted in).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ctlabel.model import SliceEdits

Touched = dict[int, set[int]]


def changed_slices(before: np.ndarray, after: np.ndarray, axis: int = 0) -> dict[int, list[int]]:
    """Per label, the slices where a voxel gained or lost that label."""
    diff = before != after
    out: dict[int, set[int]] = {}
    if not diff.any():
        return {}
    other = tuple(a for a in range(diff.ndim) if a != axis)
    for arr in (before, after):
        for lab in np.unique(arr[diff]):
            if lab == 0:
                continue
            hit = (diff & (arr == lab)).any(axis=other)
            out.setdefault(int(lab), set()).update(int(k) for k in np.flatnonzero(hit))
    return {k: sorted(v) for k, v in out.items()}


__all__ = ["changed_slices",
    "Record",
    "SliceTracker",
    "touched_from_box",
    "touched_from_diff",
    "touched_from_indices",
]


# --------------------------------------------------------------------------
# What a write touched, from neutral descriptions of it
# --------------------------------------------------------------------------


def _add(out: Touched, label: int, slices: Iterable[int]) -> None:
    s = {int(z) for z in slices}
    if s and label != 0:
        out.setdefault(int(label), set()).update(s)


def _touched_dense(old: np.ndarray, new: np.ndarray, changed: np.ndarray, offset: int, axis: int) -> Touched:
    """Per label, the slices (along ``axis``) where ``changed`` voxels had or got that label."""
    out: Touched = {}
    if not changed.any():
        return out
    other = tuple(a for a in range(changed.ndim) if a != axis)
    for values in (old, new):
        values = np.broadcast_to(values, changed.shape)
        for lab in np.unique(values[changed]):
            if lab == 0:
                continue
            hit = (changed & (values == lab)).any(axis=other)
            _add(out, int(lab), np.flatnonzero(hit) + offset)
    return out


def touched_from_box(
    box: tuple[slice, ...],
    mask: np.ndarray | None,
    old_values: np.ndarray,
    new_value: int,
    axis: int,
) -> Touched:
    """Slices touched by a write to a box.

    Parameters
    ----------
    box : tuple of slice
        The bounding box written, one slice per array axis.
    mask : numpy.ndarray of bool or None
        The changed voxels inside the box, or None when the whole box was written.
    old_values : numpy.ndarray
        The values under ``mask`` before the write (1-D), or the whole box when
        ``mask`` is None.
    new_value : int
        The label written.
    axis : int
        The slice axis.
    """
    start = box[axis].start or 0
    new = np.asarray(new_value)
    if mask is None:
        old = np.asarray(old_values)
        changed = old != new
    else:
        changed = np.asarray(mask, dtype=bool)
        old = np.zeros(changed.shape, dtype=np.asarray(old_values).dtype)
        old[changed] = old_values
        changed = changed & (old != new)
    return _touched_dense(old, new, changed, int(start), axis)


def touched_from_indices(indices: tuple, old_values, new_values, axis: int) -> Touched:
    """Slices touched by a write at fancy ``indices`` (one array per axis)."""
    idx = [np.asarray(i).ravel() for i in indices]
    if not idx or idx[0].size == 0:
        return {}
    old = np.asarray(old_values).ravel()
    new = np.broadcast_to(np.asarray(new_values).ravel() if np.ndim(new_values) else new_values, old.shape)
    changed = old != new
    zs = idx[axis]
    out: Touched = {}
    for values in (old, new):
        for lab in np.unique(values[changed]):
            if lab != 0:
                _add(out, int(lab), np.unique(zs[changed & (values == lab)]))
    return out


def touched_from_diff(before: np.ndarray, after: np.ndarray, axis: int) -> Touched:
    """Slices touched between two states of the volume (the fallback: compare the data)."""
    changed = before != after
    return _touched_dense(before, after, changed, 0, axis)


def merge(a: Touched, b: Mapping[int, Iterable[int]]) -> Touched:
    out = {k: set(v) for k, v in a.items()}
    for k, v in b.items():
        _add(out, k, v)
    return out


# --------------------------------------------------------------------------
# The tracker
# --------------------------------------------------------------------------


@dataclass
class Record:
    """One undoable write: ``kind`` is ``"paint"`` or ``"fill"``."""

    kind: str
    axis: int
    slices: Touched = field(default_factory=dict)


class SliceTracker:
    """Painted and interpolated slices per label, following undo and redo.

    Parameters
    ----------
    edits : SliceEdits, optional
        What a saved mask recorded (its painted and interpolated slices along its axis);
        these are not undoable.
    history_limit : int
        Undo depth; must equal the editor's (napari keeps 100). Records that
        fall off the end become permanent.
    """

    def __init__(self, edits: SliceEdits | None = None, *, history_limit: int = 100) -> None:
        edits = edits if edits is not None else SliceEdits()
        self.base_axis = edits.axis
        self._base: list[Record] = []
        if edits.interpolated:
            self._base.append(Record("fill", self.base_axis, merge({}, edits.interpolated)))
        if edits.painted:
            self._base.append(Record("paint", self.base_axis, merge({}, edits.painted)))
        self.history_limit = int(history_limit)
        self._done: deque[Record] = deque()
        self._undone: list[Record] = []

    # --- recording ---------------------------------------------------------
    def record(self, kind: str, slices: Mapping[int, Iterable[int]], axis: int, undoable: bool = True) -> Record:
        """Push a record (also an empty one: it keeps step with the editor's undo stack).

        ``undoable=False`` makes it permanent at once (a write the editor has no undo item for).
        """
        if kind not in ("paint", "fill"):
            raise ValueError(f"kind must be 'paint' or 'fill', not {kind!r}")
        rec = Record(kind, int(axis), merge({}, slices))
        if not undoable:
            self._base.append(rec)
            return rec
        self._done.append(rec)
        self._undone.clear()
        while len(self._done) > self.history_limit:
            self._base.append(self._done.popleft())
        return rec

    def undo(self) -> Record | None:
        if not self._done:
            return None
        rec = self._done.pop()
        self._undone.append(rec)
        return rec

    def redo(self) -> Record | None:
        if not self._undone:
            return None
        rec = self._undone.pop()
        self._done.append(rec)
        return rec

    def commit(self) -> None:
        """Make every record permanent (the editor's history was reset)."""
        self._base.extend(self._done)
        self._done.clear()
        self._undone.clear()

    @property
    def last(self) -> Record | None:
        """The newest record in effect (the editor's newest undo item), or None."""
        if self._done:
            return self._done[-1]
        return self._base[-1] if self._base else None

    def in_effect(self, record: Record) -> bool:
        """Whether ``record`` is in effect (recorded, and not undone)."""
        return any(r is record for r in self._in_effect())

    @property
    def can_undo(self) -> bool:
        return bool(self._done)

    @property
    def can_redo(self) -> bool:
        return bool(self._undone)

    # --- queries -------------------------------------------------------------
    def _in_effect(self) -> list[Record]:
        return [*self._base, *self._done]

    @property
    def axis(self) -> int:
        """The axis of the latest paint record in effect (else the loaded axis)."""
        for rec in reversed(self._in_effect()):
            if rec.kind == "paint" and rec.slices:
                return rec.axis
        return self.base_axis

    def axis_for(self, label: int) -> int:
        """The axis the person last painted ``label`` on."""
        for rec in reversed(self._in_effect()):
            if rec.kind == "paint" and label in rec.slices:
                return rec.axis
        return self.axis

    def painted(self, axis: int | None = None) -> dict[int, list[int]]:
        """Label -> painted slice indices along ``axis`` (default :attr:`axis`)."""
        ax = self.axis if axis is None else axis
        out: Touched = {}
        for rec in self._in_effect():
            if rec.kind == "paint" and rec.axis == ax:
                out = merge(out, rec.slices)
        return {k: sorted(v) for k, v in sorted(out.items())}

    def interpolated(self, axis: int | None = None) -> dict[int, list[int]]:
        """Label -> filled slice indices along ``axis`` that are not painted."""
        ax = self.axis if axis is None else axis
        filled: Touched = {}
        for rec in self._in_effect():
            if rec.kind == "fill" and rec.axis == ax:
                filled = merge(filled, rec.slices)
        painted = self.painted(ax)
        out = {k: sorted(set(v) - set(painted.get(k, ()))) for k, v in filled.items()}
        return {k: v for k, v in sorted(out.items()) if v}

    def edits(self, axis: int | None = None) -> SliceEdits:
        """The painted and interpolated slices along ``axis`` (default :attr:`axis`), as a save records them."""
        ax = self.axis if axis is None else axis
        return SliceEdits(self.painted(ax), {}, self.interpolated(ax), ax)

    def painted_slices(self, label: int, axis: int | None = None) -> list[int]:
        return self.painted(axis).get(int(label), [])

    def next_painted(self, label: int | None, current: int, step: int = 1, axis: int | None = None) -> int | None:
        """The nearest painted slice after (``step`` > 0) or before ``current``.

        ``label`` None means any label.
        """
        painted = self.painted(axis)
        zs = sorted(set().union(*painted.values())) if label is None else painted.get(int(label), [])
        if step > 0:
            after = [z for z in zs if z > current]
            return after[0] if after else None
        before = [z for z in zs if z < current]
        return before[-1] if before else None

    def gaps(self, label: int | None, axis: int | None = None) -> list[tuple[int, int]]:
        """Stretches ``(first, last)`` of unpainted slices between two painted ones."""
        painted = self.painted(axis)
        zs = sorted(set().union(*painted.values())) if label is None else painted.get(int(label), [])
        return [(a + 1, b - 1) for a, b in zip(zs, zs[1:]) if b - a > 1]

    def next_gap(self, label: int | None, current: int, step: int = 1, axis: int | None = None) -> int | None:
        """The first slice of the next (or previous) gap that starts after (before) ``current``."""
        starts = [a for a, _ in self.gaps(label, axis)]
        if step > 0:
            after = [z for z in starts if z > current]
            return after[0] if after else None
        before = [z for z in starts if z < current]
        return before[-1] if before else None
