"""Close the holes a HU-limited stroke leaves inside itself.

A brush, fill or polygon stroke limited to a HU range (:func:`ctlabel.hu_range_mask`) skips
the voxels outside the range; inside bone (marrow below the cortex's range) or over noisy
tissue that leaves one-voxel holes in the label, which ``ctlabel qa`` then reports as
``hole``. :func:`close_stroke_holes` gives the stroke back the background voxels that its kept
part encloses, on the stroke's plane, within the stroke's footprint: what the annotator swept
over and what the label surrounds. The viewer calls it after narrowing each limited stroke.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ctlabel.errors import InputError


def _enclosed_2d(outside: np.ndarray) -> np.ndarray:
    """The pixels of ``outside`` (2-D) not 4-connected to its border (what ``ctlabel qa`` calls a hole)."""
    lab, n = ndi.label(outside)
    if n == 0:
        return np.zeros_like(outside)
    inside = np.ones(n + 1, bool)
    inside[0] = False
    inside[np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])] = False
    return inside[lab]


def close_stroke_holes(stroke: np.ndarray, kept: np.ndarray, labels: np.ndarray, label: int,
                       axis: int | None = None) -> np.ndarray:
    """The kept part of a stroke plus the background it encloses inside the stroke, plane by plane.

    On each plane (2-D) along ``axis``, a voxel is added when it lies in the stroke's
    footprint, holds background (0) in ``labels``, and is enclosed (not 4-connected to the
    plane's border through voxels other than ``label``) by the label as it is after the stroke:
    the voxels of ``labels`` equal to ``label`` plus ``kept``. Nothing outside the stroke
    changes and no other label is written over. The arrays may be a box of the volume (as a
    viewer's stroke is): a region reaching the box's border is not closed.

    Parameters
    ----------
    stroke : numpy.ndarray of bool
        The voxels the stroke covered (before the HU limit).
    kept : numpy.ndarray of bool
        The part of ``stroke`` that the HU limit kept.
    labels : numpy.ndarray
        The labels under the stroke, before it is applied (same shape).
    label : int
        The label painted.
    axis : int, optional
        The axis across the stroke's plane; default the first axis of length 1 (a viewer's 2-D
        stroke in a volume), else 0 (slices).

    Returns
    -------
    numpy.ndarray of bool
        ``kept`` with the enclosed background voxels of the stroke added.

    Raises
    ------
    InputError
        The shapes differ, or ``kept`` is not part of ``stroke``.
    """
    stroke, kept = np.asarray(stroke, bool), np.asarray(kept, bool)
    labels = np.asarray(labels)
    if not stroke.shape == kept.shape == labels.shape:
        raise InputError(f"stroke {stroke.shape}, kept {kept.shape} and labels {labels.shape} differ in shape")
    if (kept & ~stroke).any():
        raise InputError("the kept voxels are not part of the stroke")
    if stroke.ndim == 2:
        return _close_plane(stroke, kept, labels, label)
    if axis is None:
        axis = next((a for a, n in enumerate(stroke.shape) if n == 1), 0)
    out = kept.copy()
    for k in range(stroke.shape[axis]):
        at = tuple(k if a == axis else slice(None) for a in range(stroke.ndim))
        if stroke[at].any() and not np.array_equal(stroke[at], kept[at]):
            out[at] = _close_plane(stroke[at], kept[at], labels[at], label)
    return out


def _close_plane(stroke: np.ndarray, kept: np.ndarray, labels: np.ndarray, label: int) -> np.ndarray:
    if stroke.ndim != 2:
        raise InputError(f"a stroke plane must be 2-D, not {stroke.ndim}-D")
    after = kept | (labels == label)
    add = _enclosed_2d(~after)
    add &= stroke
    add &= labels == 0
    return kept | add


__all__ = ["close_stroke_holes"]
