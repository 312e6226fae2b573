"""Fill the slices between painted slices of a label volume.

Shape-based interpolation (Raya & Udupa 1990; Herman et al. 1992): every
painted slice of a label is turned into a 2D signed distance map (negative
inside, in millimetres when a spacing is given) and the maps of two
neighbouring painted slices are blended linearly; the filled shape is where
the blend is negative.

On top of the plain blend, the connected components of the two painted slices
are put in correspondence first (see ``docs/interpolation.md``):

* components that overlap are grouped and blended together (this handles one
  component splitting into several and several merging into one);
* a group whose two sides overlap little (IoU < :data:`ALIGN_IOU`) is aligned
  before blending (centroid shift, optionally with a scale from the spread of
  its pixels, whichever overlaps best); the blend then travels along a cubic
  centroid path through the neighbouring painted slices and changes size
  linearly, so a structure that moves or grows by more than its width neither
  smears nor vanishes;
* components left without an overlapping partner on both sides are paired by
  nearest centroid and blended aligned; one with no partner at all tapers to a
  point at the other painted slice.

Work is done per label, on the bounding box of its painted slices, one slice
at a time, in float32. With several labels, a voxel that more than one label
would fill goes to the label with the smallest signed distance.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import cast

import numpy as np

from ctlabel.errors import InputError
from ctlabel.interpolate._image import _Refiner
from ctlabel.interpolate._plan import _LabelPlan, _write_slice
from ctlabel.interpolate._shapes import ALIGN_IOU

__all__ = ["ALIGN_IOU", "InterpolationResult", "interpolate", "interpolate_with_report"]


@dataclass(frozen=True)
class InterpolationResult:
    """What :func:`interpolate_with_report` returns.

    Attributes
    ----------
    labels : numpy.ndarray
        The filled label volume (a new array, same shape and dtype as the input).
    filled : dict of int to list of int
        For each label, the slice indices (along ``axis``) that were filled: the
        slices between its first and last painted slice that were not painted,
        in increasing order. A slice is listed even if the interpolated shape
        turned out empty on it.
    refined : dict of int to list of int
        With ``image``: for each label, the filled slices whose shape was
        refined by the image (empty lists for labels that fell back to the
        shape alone). Empty without ``image``.

    Notes
    -----
    The result unpacks like a tuple: ``labels, filled = interpolate_with_report(...)``.
    """

    labels: np.ndarray
    filled: dict[int, list[int]] = field(default_factory=dict)
    refined: dict[int, list[int]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[object]:
        yield self.labels
        yield self.filled


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def interpolate(
    labels: np.ndarray,
    painted: Mapping[int, Iterable[int]] | None,
    axis: int = 0,
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
    image: np.ndarray | None = None,
) -> np.ndarray:
    """Fill the slices between the painted slices of each label.

    Parameters
    ----------
    labels : numpy.ndarray
        3D integer (or boolean) label volume. It is not modified.
    painted : mapping of int to iterable of int, or None
        For each label value to interpolate, the indices along ``axis`` of the
        slices a person painted. These slices, and only these, are the
        input: nothing is inferred from the data. ``None`` means every non-zero
        label with the slices on which it occurs.
    axis : int, optional
        The slice axis (default 0); negative values count from the end.
    spacing : sequence of 3 floats, optional
        Voxel spacing in mm, in array order. Only the two in-plane values
        matter: the distance maps are measured in mm. Default isotropic.
    overwrite : bool, optional
        If True, filled voxels may replace voxels of other labels (except
        voxels of a label on a slice painted for that label). Default False:
        only background voxels are filled.
    image : numpy.ndarray, optional
        The image the labels were painted on (e.g. CT in HU), same shape as
        ``labels``. If given, each filled slice is refined towards the
        image's boundaries inside a narrow band around the shape-interpolated
        contour, for the labels whose painted slices show that the image
        helps (see ``docs/interpolation.md``); the others keep the
        shape-only result. ``None`` (default): shape only.

    Returns
    -------
    numpy.ndarray
        A new array of the same shape and dtype. On the filled slices of a
        label (between its first and last painted slice, not painted) its
        voxels are replaced by the interpolated shape; painted slices of a
        label keep its voxels exactly.

    Raises
    ------
    ctlabel.errors.InputError
        If ``labels`` is not a 3D integer array, ``axis`` or ``spacing`` is
        invalid, a label in ``painted`` is 0 or does not fit the dtype, or a
        painted slice index is not an integer inside the array, or ``image``
        is not a finite real numeric array of the same shape as ``labels``.

    See Also
    --------
    interpolate_with_report : Also returns which slices were filled.

    Examples
    --------
    >>> import numpy as np
    >>> vol = np.zeros((11, 32, 32), dtype=np.uint8)
    >>> vol[0, 8:24, 8:24] = 1
    >>> vol[10, 12:20, 12:20] = 1
    >>> out = interpolate(vol, {1: [0, 10]})
    >>> bool(out[5].any()), bool(vol[5].any())
    (True, False)
    """
    return interpolate_with_report(labels, painted, axis=axis, spacing=spacing, overwrite=overwrite, image=image).labels


def interpolate_with_report(
    labels: np.ndarray,
    painted: Mapping[int, Iterable[int]] | None,
    axis: int = 0,
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
    image: np.ndarray | None = None,
) -> InterpolationResult:
    """Like :func:`interpolate`, and also report the filled slices per label.

    Parameters
    ----------
    labels, painted, axis, spacing, overwrite, image
        As for :func:`interpolate`.

    Returns
    -------
    InterpolationResult
        ``labels`` (the filled array), ``filled`` (label -> filled slice
        indices) and ``refined`` (label -> filled slices refined by the
        image), for provenance records.

    Raises
    ------
    ctlabel.errors.InputError
        As for :func:`interpolate`.
    """
    arr, ax, sampling, paint, overwrite = _validate(labels, painted, axis, spacing, overwrite)
    img = _validate_image(image, arr)
    out = arr.copy()
    src = np.moveaxis(arr, ax, 0)
    dst = np.moveaxis(out, ax, 0)

    plans: dict[int, _LabelPlan] = {}
    filled: dict[int, list[int]] = {}
    for lab, zs in paint.items():
        plan = _LabelPlan(src, lab, zs, sampling)
        plans[lab] = plan
        filled[lab] = plan.filled_slices()

    refiner = None
    refined: dict[int, list[int]] = {}
    if img is not None:
        dz = 1.0 if spacing is None else float(tuple(spacing)[ax])
        refiner = _Refiner(np.moveaxis(img, ax, 0), src, paint, plans, sampling, dz)
        refined = {lab: [] for lab in paint}

    # slice -> labels that fill it
    by_slice: dict[int, list[int]] = {}
    for lab, zs in filled.items():
        for z in zs:
            by_slice.setdefault(z, []).append(lab)
    painted_sets = {lab: set(zs) for lab, zs in paint.items()}

    for z in sorted(by_slice):
        labs = by_slice[z]
        fields = []
        for lab in labs:
            f = plans[lab].field(z)
            if f is not None:
                if refiner is not None:
                    g = refiner.field(lab, z, *f)
                    if g is not None:
                        f = (f[0], g)
                        refined[lab].append(z)
                fields.append((lab, *f))
        _write_slice(dst[z], labs, fields, z, painted_sets, overwrite)
        for lab in labs:
            plans[lab].release_before(z)
        if refiner is not None:
            refiner.release(z)
    return InterpolationResult(out, filled, refined)


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _validate(
    labels: object,
    painted: object,
    axis: object,
    spacing: object,
    overwrite: object,
) -> tuple[np.ndarray, int, tuple[float, float], dict[int, list[int]], bool]:
    labels = _validate_labels(labels)
    ax = _validate_axis(axis)
    if not isinstance(overwrite, (bool, np.bool_)):
        raise InputError(f"overwrite must be True or False, got {overwrite!r}")
    sp = _validate_spacing(spacing)
    sampling = tuple(s for i, s in enumerate(sp) if i != ax)
    paint = _infer_painted(labels, ax) if painted is None else _validate_painted(painted, labels, ax)
    return labels, ax, cast("tuple[float, float]", sampling), paint, bool(overwrite)


def _validate_labels(labels: object) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise InputError(f"labels must be a numpy array, got {type(labels).__name__}")
    if labels.dtype == bool:
        pass
    elif not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array, got dtype {labels.dtype}")
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3D array, got {labels.ndim} dimensions")
    return labels


def _validate_axis(axis: object) -> int:
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise InputError(f"axis must be an integer, got {axis!r}")
    if not -3 <= int(axis) < 3:
        raise InputError(f"axis {axis} is out of range for a 3D array")
    return int(axis) % 3


def _validate_spacing(spacing: object) -> tuple[float, ...]:
    if spacing is None:
        return (1.0, 1.0, 1.0)
    try:
        sp = tuple(float(s) for s in cast("Iterable[float]", spacing))  # a non-iterable raises TypeError
    except (TypeError, ValueError):
        raise InputError(f"spacing must be 3 numbers in mm, got {spacing!r}") from None
    if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
        raise InputError(f"spacing must be 3 positive finite numbers in mm, got {spacing!r}")
    return sp


def _validate_painted(painted: object, labels: np.ndarray, ax: int) -> dict[int, list[int]]:
    n = labels.shape[ax]
    if not isinstance(painted, Mapping):
        raise InputError(f"painted must be a mapping of label to slice indices, got {type(painted).__name__}")
    if labels.dtype == bool:
        lo, hi = 0, 1
    else:
        info = np.iinfo(labels.dtype)
        lo, hi = int(info.min), int(info.max)
    paint: dict[int, list[int]] = {}
    for lab, zs in painted.items():
        if isinstance(lab, (bool, np.bool_)) or not isinstance(lab, Integral):
            raise InputError(f"label {lab!r} in painted is not an integer")
        lab = int(lab)
        if lab == 0:
            raise InputError("label 0 is the background and cannot be interpolated")
        if not lo <= lab <= hi:
            raise InputError(f"label {lab} does not fit the labels dtype {labels.dtype}")
        if isinstance(zs, (str, bytes)) or not isinstance(zs, Iterable):
            raise InputError(f"painted[{lab}] must be an iterable of slice indices, got {zs!r}")
        paint[lab] = sorted(_slice_indices(zs, lab, ax, n))
    return paint


def _slice_indices(zs: Iterable, lab: int, ax: int, n: int) -> set[int]:
    idx = set()
    for z in zs:
        if isinstance(z, (bool, np.bool_)) or not isinstance(z, Integral):
            raise InputError(f"painted slice index {z!r} of label {lab} is not an integer")
        if not 0 <= int(z) < n:
            raise InputError(
                f"painted slice index {int(z)} of label {lab} is out of range: axis {ax} has {n} slices"
            )
        idx.add(int(z))
    return idx


def _validate_image(image: object, labels: np.ndarray) -> np.ndarray | None:
    if image is None:
        return None
    if not isinstance(image, np.ndarray):
        raise InputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype == bool or not (np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.floating)):
        raise InputError(f"image must be a real numeric array, got dtype {image.dtype}")
    if image.shape != labels.shape:
        raise InputError(f"image shape {image.shape} does not match the labels grid {labels.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise InputError("image has NaN or infinite values")
    return image


def _infer_painted(labels: np.ndarray, ax: int) -> dict[int, list[int]]:
    src = np.moveaxis(labels, ax, 0)
    out: dict[int, list[int]] = {}
    for z in range(src.shape[0]):
        for lab in np.unique(src[z]):
            if lab != 0:
                out.setdefault(int(lab), []).append(z)
    return out
