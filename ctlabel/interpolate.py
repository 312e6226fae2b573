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

import numpy as np
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from ctlabel.errors import InputError

__all__ = ["ALIGN_IOU", "InterpolationResult", "interpolate", "interpolate_with_report"]

#: Two overlapping sides of a group are aligned on their centroids before
#: blending when their intersection over union is below this.
ALIGN_IOU = 0.5

#: Pixels added around each label's bounding box so that distance maps are
#: exact inside the box.
_MARGIN = 2

#: Gaussian sigma (pixels) applied to every slice's distance map before blending.
_SMOOTH = 0.5

#: Cubic (Catmull-Rom) blend of the distance maps across neighbouring gaps where they are plain.
_CUBIC = True

#: Fraction of the smaller slice that must lie inside the larger for the cubic blend.
_NESTED = 0.9

#: 8-connectivity for 2D components.
_STRUCT = np.ones((3, 3), dtype=bool)


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

    Notes
    -----
    The result unpacks like a tuple: ``labels, filled = interpolate_with_report(...)``.
    """

    labels: np.ndarray
    filled: dict[int, list[int]] = field(default_factory=dict)

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
        painted slice index is not an integer inside the array.

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
    return interpolate_with_report(labels, painted, axis=axis, spacing=spacing, overwrite=overwrite).labels


def interpolate_with_report(
    labels: np.ndarray,
    painted: Mapping[int, Iterable[int]] | None,
    axis: int = 0,
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
) -> InterpolationResult:
    """Like :func:`interpolate`, and also report the filled slices per label.

    Parameters
    ----------
    labels, painted, axis, spacing, overwrite
        As for :func:`interpolate`.

    Returns
    -------
    InterpolationResult
        ``labels`` (the filled array) and ``filled`` (label -> filled slice
        indices), for provenance records.

    Raises
    ------
    ctlabel.errors.InputError
        As for :func:`interpolate`.
    """
    arr, ax, sampling, paint, overwrite = _validate(labels, painted, axis, spacing, overwrite)
    out = arr.copy()
    src = np.moveaxis(arr, ax, 0)
    dst = np.moveaxis(out, ax, 0)

    plans: dict[int, _LabelPlan] = {}
    filled: dict[int, list[int]] = {}
    for lab, zs in paint.items():
        plan = _LabelPlan(src, lab, zs, sampling)
        plans[lab] = plan
        filled[lab] = plan.filled_slices()

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
                fields.append((lab, *f))
        _write_slice(dst[z], labs, fields, z, painted_sets, overwrite)
        for lab in labs:
            plans[lab].release_before(z)
    return InterpolationResult(out, filled)


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
    if not isinstance(labels, np.ndarray):
        raise InputError(f"labels must be a numpy array, got {type(labels).__name__}")
    if labels.dtype == bool:
        pass
    elif not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be an integer array, got dtype {labels.dtype}")
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3D array, got {labels.ndim} dimensions")
    if isinstance(axis, bool) or not isinstance(axis, Integral):
        raise InputError(f"axis must be an integer, got {axis!r}")
    if not -3 <= int(axis) < 3:
        raise InputError(f"axis {axis} is out of range for a 3D array")
    ax = int(axis) % 3
    if not isinstance(overwrite, (bool, np.bool_)):
        raise InputError(f"overwrite must be True or False, got {overwrite!r}")

    if spacing is None:
        sp = (1.0, 1.0, 1.0)
    else:
        try:
            sp = tuple(float(s) for s in spacing)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            raise InputError(f"spacing must be 3 numbers in mm, got {spacing!r}") from None
        if len(sp) != 3 or not all(np.isfinite(s) and s > 0 for s in sp):
            raise InputError(f"spacing must be 3 positive finite numbers in mm, got {spacing!r}")
    sampling = tuple(s for i, s in enumerate(sp) if i != ax)

    n = labels.shape[ax]
    if painted is None:
        paint = _infer_painted(labels, ax)
    else:
        if not isinstance(painted, Mapping):
            raise InputError(f"painted must be a mapping of label to slice indices, got {type(painted).__name__}")
        if labels.dtype == bool:
            lo, hi = 0, 1
        else:
            info = np.iinfo(labels.dtype)
            lo, hi = int(info.min), int(info.max)
        paint = {}
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
            idx = set()
            for z in zs:
                if isinstance(z, (bool, np.bool_)) or not isinstance(z, Integral):
                    raise InputError(f"painted slice index {z!r} of label {lab} is not an integer")
                if not 0 <= int(z) < n:
                    raise InputError(
                        f"painted slice index {int(z)} of label {lab} is out of range: axis {ax} has {n} slices"
                    )
                idx.add(int(z))
            paint[lab] = sorted(idx)
    return labels, ax, sampling, paint, bool(overwrite)  # type: ignore[return-value]


def _infer_painted(labels: np.ndarray, ax: int) -> dict[int, list[int]]:
    src = np.moveaxis(labels, ax, 0)
    out: dict[int, list[int]] = {}
    for z in range(src.shape[0]):
        for lab in np.unique(src[z]):
            if lab != 0:
                out.setdefault(int(lab), []).append(z)
    return out


# --------------------------------------------------------------------------
# Distance maps and shifts
# --------------------------------------------------------------------------


def _sdf(mask: np.ndarray, sampling: tuple[float, float]) -> np.ndarray:
    """Signed distance (float32, negative inside) with the zero level half a pixel out.

    Pixel centres on either side of an edge are at -h/2 and +h/2 (h the pixel
    size across the edge), so the map is a close estimate of the distance to
    the continuous boundary between pixels.
    """
    if not mask.any():
        return np.full(mask.shape, np.inf, dtype=np.float32)
    half = 0.5 * min(sampling)
    out = ndi.distance_transform_edt(~mask, sampling=sampling).astype(np.float32)
    inside = ndi.distance_transform_edt(mask, sampling=sampling).astype(np.float32)
    out -= inside
    # move both sides half a pixel towards the edge
    out[mask] += half
    out[~mask] -= half
    if _SMOOTH:
        # soften the staircase of the pixel edges (keeps the zero level where the edge is straight)
        ndi.gaussian_filter(out, _SMOOTH, output=out, mode="nearest")
    return out


def _resample(a: np.ndarray, ry: np.ndarray, rx: np.ndarray) -> np.ndarray:
    """``out[i, j] = a[ry[i], rx[j]]``, bilinear (separable), coordinates clamped to the edges."""
    h, w = a.shape
    ry = np.clip(ry, 0, h - 1)
    rx = np.clip(rx, 0, w - 1)
    y0 = np.minimum(ry.astype(np.intp), h - 2) if h > 1 else np.zeros(ry.shape, np.intp)
    x0 = np.minimum(rx.astype(np.intp), w - 2) if w > 1 else np.zeros(rx.shape, np.intp)
    wy = (ry - y0).astype(np.float32)[:, None]
    wx = (rx - x0).astype(np.float32)
    rows = a[y0] * (1 - wy) + a[np.minimum(y0 + 1, h - 1)] * wy
    return rows[:, x0] * (1 - wx) + rows[:, np.minimum(x0 + 1, w - 1)] * wx


def _shift(a: np.ndarray, dy: float, dx: float) -> np.ndarray:
    """``out[y, x] = a[y - dy, x - dx]`` with bilinear interpolation, edges replicated."""
    if dy == 0 and dx == 0:
        return a
    h, w = a.shape
    return _resample(a, np.arange(h) - dy, np.arange(w) - dx)


def _iou(a: np.ndarray, b: np.ndarray, shift: tuple[int, int] = (0, 0)) -> float:
    """Intersection over union of ``a`` moved by ``shift`` (whole pixels) and ``b``."""
    dy, dx = shift
    h, w = a.shape
    if abs(dy) >= h or abs(dx) >= w:
        inter = 0
    else:
        sa = a[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
        sb = b[max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)]
        inter = np.count_nonzero(sa & sb)
    union = np.count_nonzero(a) + np.count_nonzero(b) - inter
    return inter / union if union else 1.0


def _iou_scaled(a: np.ndarray, b: np.ndarray, ca: np.ndarray, cb: np.ndarray, k: np.ndarray) -> float:
    """Intersection over union of ``b`` and ``a`` scaled by ``k`` about ``ca`` and moved to ``cb``."""
    inv = 1.0 / k
    moved = ndi.affine_transform(a.view(np.uint8), inv, offset=ca - cb * inv, order=0, mode="constant")
    inter = np.count_nonzero(moved & b)
    # the moved mask may leave the window: count its area from the scale, not from the pixels
    union = np.count_nonzero(a) * float(k[0] * k[1]) + np.count_nonzero(b) - inter
    return inter / union if union else 1.0


def _nested(a: np.ndarray, b: np.ndarray) -> bool:
    """True if the smaller of two masks lies (almost) inside the larger: a growing or shrinking shape."""
    small = min(np.count_nonzero(a), np.count_nonzero(b))
    return small > 0 and np.count_nonzero(a & b) >= _NESTED * small


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


# --------------------------------------------------------------------------
# Per-label planning
# --------------------------------------------------------------------------


Box = tuple[slice, slice]


class _Side:
    """A painted slice of one label, cropped to the label's box, with cached maps.

    Components are numbered from 1 (8-connectivity). A group of components is a
    sorted tuple of their numbers.
    """

    def __init__(self, mask: np.ndarray, sampling: tuple[float, float]) -> None:
        self.mask = mask
        self.sampling = sampling
        self.comp, self.ncomp = ndi.label(mask, structure=_STRUCT)
        self.objects: list[Box] = ndi.find_objects(self.comp) if self.ncomp else []
        self.all: tuple[int, ...] = tuple(range(1, self.ncomp + 1))
        self._sdf_all: np.ndarray | None = None
        self._centroids: dict[tuple[int, ...], np.ndarray] = {}

    def group_mask(self, group: tuple[int, ...], win: Box | None = None) -> np.ndarray:
        comp = self.comp if win is None else self.comp[win]
        if group == self.all:
            return comp > 0
        if len(group) == 1:
            return comp == group[0]
        return np.isin(comp, group)

    def bbox(self, group: tuple[int, ...]) -> tuple[int, int, int, int]:
        objs = [self.objects[i - 1] for i in group]
        return (
            min(o[0].start for o in objs),
            max(o[0].stop for o in objs),
            min(o[1].start for o in objs),
            max(o[1].stop for o in objs),
        )

    def centroid(self, group: tuple[int, ...]) -> np.ndarray:
        c = self._centroids.get(group)
        if c is None:
            y0, _, x0, _ = self.bbox(group)
            win = (slice(y0, None), slice(x0, None))
            c = _centroid(self.group_mask(group, win)) + (y0, x0)
            self._centroids[group] = c
        return c

    def spread(self, group: tuple[int, ...]) -> np.ndarray:
        """Standard deviation of the group's pixel coordinates along y and x (pixels)."""
        y0, _, x0, _ = self.bbox(group)
        ys, xs = np.nonzero(self.group_mask(group, (slice(y0, None), slice(x0, None))))
        # + 1/12: the spread of one pixel, so that a single pixel has a size
        return np.sqrt(np.array([ys.var(), xs.var()]) + 1.0 / 12.0)

    def sdf(self, group: tuple[int, ...], win: Box) -> np.ndarray:
        """Signed distance map of ``group`` inside the window ``win`` (which must hold it)."""
        if group == self.all:
            if self._sdf_all is None:
                self._sdf_all = _sdf(self.mask, self.sampling)
            return self._sdf_all[win]
        return _sdf(self.group_mask(group, win), self.sampling)


class _Match:
    """How one group of components of a gap is interpolated (before any distance map)."""

    __slots__ = ("aligned", "ca", "cb", "ga", "gb", "kind", "scale")

    def __init__(
        self,
        kind: str,
        ga: tuple[int, ...],
        gb: tuple[int, ...],
        ca: np.ndarray | None = None,
        cb: np.ndarray | None = None,
        aligned: bool = False,
        scale: np.ndarray | None = None,
    ) -> None:
        self.kind = kind  # "blend", "taper_a" (only on side a) or "taper_b"
        self.ga = ga
        self.gb = gb
        self.ca = ca
        self.cb = cb
        self.aligned = aligned  # blend along the centroid path instead of in place
        self.scale = scale  # size of side b over side a along y and x, when aligned with scaling


class _Term:
    """One piece of the interpolated field between two painted slices, in a window of the box."""

    __slots__ = ("ca", "cb", "depth", "kind", "ma", "mb", "sa", "sb", "scale", "tangents", "win")

    def __init__(
        self,
        kind: str,
        win: Box,
        sa: np.ndarray | None,
        sb: np.ndarray | None,
        depth: float = 0.0,
        path: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
        scale: np.ndarray | None = None,
        tangents: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.kind = kind
        self.scale = scale
        self.tangents = tangents
        self.win = win
        self.sa = sa
        self.sb = sb
        self.depth = depth
        # centroid path (cubic Hermite): positions and tangents at t = 0 and t = 1
        self.ca, self.cb, self.ma, self.mb = path if path is not None else (None, None, None, None)

    def at(self, t: float) -> np.ndarray:
        t32 = np.float32(t)
        if self.kind == "blend":
            assert self.sa is not None and self.sb is not None
            if self.ca is None:
                if self.tangents is not None:
                    t2, t3 = t * t, t * t * t
                    h00, h10 = 2 * t3 - 3 * t2 + 1, t3 - 2 * t2 + t
                    h01, h11 = -2 * t3 + 3 * t2, t3 - t2
                    ta, tb = self.tangents
                    return (
                        self.sa * np.float32(h00)
                        + ta * np.float32(h10)
                        + self.sb * np.float32(h01)
                        + tb * np.float32(h11)
                    )
                return self.sa * (1 - t32) + self.sb * t32
            p = _hermite(t, self.ca, self.cb, self.ma, self.mb)
            if self.scale is not None:
                ka = 1.0 + t * (self.scale - 1.0)  # size at t over size of side a
                kb = ka / self.scale
                a = _warp(self.sa, ka, self.ca, p)
                b = _warp(self.sb, kb, self.cb, p)
                return a * (1 - t32) + b * t32
            oa = p - self.ca
            ob = p - self.cb
            a = _shift(self.sa, float(oa[0]), float(oa[1]))
            b = _shift(self.sb, float(ob[0]), float(ob[1]))
            return a * (1 - t32) + b * t32
        if self.kind == "taper_a":  # vanishes at t = 1
            assert self.sa is not None
            return self.sa + np.float32(self.depth * t)
        assert self.sb is not None  # vanishes at t = 0
        return self.sb + np.float32(self.depth * (1 - t))


def _warp(a: np.ndarray, k: np.ndarray, c: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Scale the map ``a`` by ``k`` (per axis) about ``c`` and move ``c`` to ``p``; distances scaled too."""
    h, w = a.shape
    out = _resample(a, c[0] + (np.arange(h) - p[0]) / k[0], c[1] + (np.arange(w) - p[1]) / k[1])
    out *= np.float32(np.sqrt(k[0] * k[1]))
    return out


def _hermite(t: float, p0: np.ndarray, p1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    t2 = t * t
    t3 = t2 * t
    return (2 * t3 - 3 * t2 + 1) * p0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * p1 + (t3 - t2) * m1


class _LabelPlan:
    """Everything needed to produce the signed field of one label on its filled slices."""

    def __init__(self, src: np.ndarray, lab: int, zs: list[int], sampling: tuple[float, float]) -> None:
        self.src = src
        self.lab = lab
        self.zs = zs
        self.sampling = sampling
        self.box: Box | None = None
        self._sides: dict[int, _Side] = {}
        self._matches: dict[int, list[_Match]] = {}
        self._terms: dict[int, list[_Term]] = {}
        if len(zs) < 2:
            return
        h, w = src.shape[1:]
        y0, y1, x0, x1 = h, 0, w, 0
        for z in zs:
            m = src[z] == self.lab
            rows = np.flatnonzero(m.any(axis=1))
            if rows.size:
                cols = np.flatnonzero(m.any(axis=0))
                y0, y1 = min(y0, rows[0]), max(y1, rows[-1] + 1)
                x0, x1 = min(x0, cols[0]), max(x1, cols[-1] + 1)
        if y1 > y0:
            self.box = (
                slice(max(0, y0 - _MARGIN), min(h, y1 + _MARGIN)),
                slice(max(0, x0 - _MARGIN), min(w, x1 + _MARGIN)),
            )
            self.shape = (self.box[0].stop - self.box[0].start, self.box[1].stop - self.box[1].start)

    def filled_slices(self) -> list[int]:
        if len(self.zs) < 2:
            return []
        painted = set(self.zs)
        return [z for z in range(self.zs[0], self.zs[-1]) if z not in painted]

    def _side(self, z: int) -> _Side:
        s = self._sides.get(z)
        if s is None:
            assert self.box is not None
            s = _Side(self.src[z][self.box] == self.lab, self.sampling)
            self._sides[z] = s
        return s

    def _index(self, z: int) -> int:
        """Index in ``zs`` of the painted slice that starts the gap holding ``z``."""
        return int(np.searchsorted(self.zs, z, side="right")) - 1

    def release_before(self, z: int) -> None:
        """Drop what only gaps before the one holding ``z`` (and the one just before it) need."""
        i = self._index(z)
        keep = self.zs[max(0, i - 1)]
        for cache in (self._sides, self._matches, self._terms):
            for k in [k for k in cache if k < keep]:
                del cache[k]

    def field(self, z: int) -> tuple[Box, np.ndarray] | None:
        """The signed field of this label on filled slice ``z`` in its box, or None if empty."""
        if self.box is None:
            return None
        i = self._index(z)
        a, b = self.zs[i], self.zs[i + 1]
        terms = self._terms.get(a)
        if terms is None:
            terms = self._make_terms(i)
            self._terms[a] = terms
        if not terms:
            return None
        t = (z - a) / (b - a)
        if len(terms) == 1 and terms[0].win == (slice(None), slice(None)):
            return self.box, terms[0].at(t)
        acc = np.full(self.shape, np.inf, dtype=np.float32)
        for term in terms:
            np.minimum(acc[term.win], term.at(t), out=acc[term.win])
        return self.box, acc

    def _matches_of(self, i: int) -> list[_Match] | None:
        """Matches of the gap starting at ``zs[i]``, or None if there is no such gap."""
        if i < 0 or i + 1 >= len(self.zs):
            return None
        a = self.zs[i]
        m = self._matches.get(a)
        if m is None:
            m = self._match(self._side(a), self._side(self.zs[i + 1]))
            self._matches[a] = m
        return m

    def _match(self, A: _Side, B: _Side) -> list[_Match]:
        na, nb = A.ncomp, B.ncomp
        if na == 0 and nb == 0:
            return []
        # union-find over components: a -> 0..na-1, b -> na..na+nb-1
        parent = list(range(na + nb))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        both = (A.comp > 0) & (B.comp > 0)
        if both.any():
            pairs = np.unique(A.comp[both].astype(np.int64) * (nb + 1) + B.comp[both])
            for p in pairs:
                ia, ib = divmod(int(p), nb + 1)
                ra, rb = find(ia - 1), find(na + ib - 1)
                if ra != rb:
                    parent[ra] = rb
        groups: dict[int, tuple[list[int], list[int]]] = {}
        for i in range(na):
            groups.setdefault(find(i), ([], []))[0].append(i + 1)
        for j in range(nb):
            groups.setdefault(find(na + j), ([], []))[1].append(j + 1)

        pairs_ab = [(tuple(g[0]), tuple(g[1])) for g in groups.values() if g[0] and g[1]]
        only_a = [tuple(g[0]) for g in groups.values() if not g[1]]
        only_b = [tuple(g[1]) for g in groups.values() if not g[0]]

        # leftovers on both sides: pair them by nearest centroid (a component that moved
        # more than its own width between the two painted slices)
        if only_a and only_b:
            sp = np.asarray(self.sampling)
            pa = np.array([A.centroid(g) for g in only_a]) * sp
            pb = np.array([B.centroid(g) for g in only_b]) * sp
            cost = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(axis=2))
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                pairs_ab.append((only_a[r], only_b[c]))
            used_a, used_b = set(rows.tolist()), set(cols.tolist())
            only_a = [g for i, g in enumerate(only_a) if i not in used_a]
            only_b = [g for i, g in enumerate(only_b) if i not in used_b]

        out: list[_Match] = []
        for ga, gb in pairs_ab:
            ca, cb = A.centroid(ga), B.centroid(gb)
            # masks in the window of the pair: every overlap with b happens there
            (ay0, ay1, ax0, ax1), (by0, by1, bx0, bx1) = A.bbox(ga), B.bbox(gb)
            y0, x0 = min(ay0, by0), min(ax0, bx0)
            win = (slice(y0, max(ay1, by1)), slice(x0, max(ax1, bx1)))
            ma, mb = A.group_mask(ga, win), B.group_mask(gb, win)
            off = np.array([y0, x0], dtype=float)
            iou0 = _iou(ma, mb)
            aligned = False
            scale = None
            if iou0 < ALIGN_IOU:
                # try moving a onto b, then moving and scaling it; keep what overlaps best
                dy, dx = cb - ca
                best = _iou(ma, mb, (round(dy), round(dx)))
                aligned = best > iou0
                best = max(best, iou0)
                ratio = B.spread(gb) / A.spread(ga)
                iso = np.full(2, np.sqrt(ratio[0] * ratio[1]))
                for cand in (iso, ratio):
                    if np.all(np.abs(cand - 1.0) < 0.05) or not np.all((cand > 0.25) & (cand < 4.0)):
                        continue
                    iou = _iou_scaled(ma, mb, ca - off, cb - off, cand)
                    if iou > best + 0.02:
                        best, aligned, scale = iou, True, cand
            out.append(_Match("blend", ga, gb, ca, cb, aligned, scale))
        out += [_Match("taper_a", g, ()) for g in only_a]
        out += [_Match("taper_b", (), g) for g in only_b]
        return out

    def _make_terms(self, i: int) -> list[_Term]:
        matches = self._matches_of(i)
        if not matches:
            return []
        A, B = self._side(self.zs[i]), self._side(self.zs[i + 1])
        h, w = self.shape
        full = (slice(None), slice(None))
        whole = len(matches) == 1
        terms: list[_Term] = []
        for m in matches:
            if m.kind == "blend":
                path = None
                pad = _MARGIN
                if m.aligned:
                    path = self._path(i, m)
                    ts = np.linspace(0.0, 1.0, 9)
                    lin = [(1 - t) * path[0] + t * path[1] for t in ts]
                    dev = max(float(np.abs(_hermite(t, *path) - q).max()) for t, q in zip(ts, lin, strict=True))
                    pad += int(np.ceil(dev)) + 1
                bb = [A.bbox(m.ga), B.bbox(m.gb)]
            else:
                path = None
                pad = _MARGIN
                bb = [A.bbox(m.ga)] if m.kind == "taper_a" else [B.bbox(m.gb)]
            if whole and pad == _MARGIN:
                win = full
            else:
                win = (
                    slice(max(0, min(b[0] for b in bb) - pad), min(h, max(b[1] for b in bb) + pad)),
                    slice(max(0, min(b[2] for b in bb) - pad), min(w, max(b[3] for b in bb) + pad)),
                )
            if m.kind == "blend":
                off = np.array([win[0].start or 0, win[1].start or 0], dtype=float)
                if path is not None:
                    path = (path[0] - off, path[1] - off, path[2], path[3])
                sa, sb = A.sdf(m.ga, win), B.sdf(m.gb, win)
                tangents = None
                if _CUBIC and whole and not m.aligned and _nested(A.mask, B.mask):
                    tangents = self._sdf_tangents(i, sa, sb)
                terms.append(_Term("blend", win, sa, sb, path=path, scale=m.scale, tangents=tangents))
            else:
                s = A.sdf(m.ga, win) if m.kind == "taper_a" else B.sdf(m.gb, win)
                depth = float(-s.min()) + min(self.sampling)
                sa, sb = (s, None) if m.kind == "taper_a" else (None, s)
                terms.append(_Term(m.kind, win, sa, sb, depth=depth))
        return terms

    def _only_plain(self, i: int) -> bool:
        """True if gap ``i`` exists and is one in-place blend of the whole of both slices."""
        ms = self._matches_of(i)
        if not ms or len(ms) != 1 or ms[0].kind != "blend" or ms[0].aligned:
            return False
        return ms[0].ga == self._side(self.zs[i]).all and ms[0].gb == self._side(self.zs[i + 1]).all

    def _sdf_tangents(self, i: int, sa: np.ndarray, sb: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """Catmull-Rom tangents of the distance maps at both ends of gap ``i``, or None."""
        zs = self.zs
        has_prev = self._only_plain(i - 1)
        has_next = self._only_plain(i + 1)
        if not (has_prev or has_next):
            return None
        span = zs[i + 1] - zs[i]
        chord = sb - sa
        ta = chord
        tb = chord
        if has_prev:
            sp = self._side(zs[i - 1]).sdf(self._side(zs[i - 1]).all, (slice(None), slice(None)))
            ta = (sb - sp) * np.float32(span / (zs[i + 1] - zs[i - 1]))
        if has_next:
            sn = self._side(zs[i + 2]).sdf(self._side(zs[i + 2]).all, (slice(None), slice(None)))
            tb = (sn - sa) * np.float32(span / (zs[i + 2] - zs[i]))
        return ta, tb

    def _path(self, i: int, m: _Match) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Centroid path of an aligned match: Catmull-Rom tangents from the neighbouring gaps."""
        assert m.ca is not None and m.cb is not None
        zs = self.zs
        za, zb = zs[i], zs[i + 1]
        chord = m.cb - m.ca
        ma = mb = chord
        prev = self._matches_of(i - 1)
        if prev:
            for p in prev:
                if p.kind == "blend" and p.gb == m.ga and p.ca is not None:
                    ma = (m.cb - p.ca) / (zb - zs[i - 1]) * (zb - za)
                    break
        nxt = self._matches_of(i + 1)
        if nxt:
            for n in nxt:
                if n.kind == "blend" and n.ga == m.gb and n.cb is not None:
                    mb = (n.cb - m.ca) / (zs[i + 2] - za) * (zb - za)
                    break
        return m.ca, m.cb, ma, mb


# --------------------------------------------------------------------------
# Writing one slice
# --------------------------------------------------------------------------


def _write_slice(
    out: np.ndarray,
    labs: list[int],
    fields: list[tuple[int, tuple[slice, slice], np.ndarray]],
    z: int,
    painted_sets: dict[int, set[int]],
    overwrite: bool,
) -> None:
    """Write the winners of one slice into ``out`` (a 2D view), in place."""
    # the labels filled on this slice lose their old voxels here
    for lab in labs:
        stale = out == lab
        if stale.any():
            out[stale] = 0
    if not fields:
        return
    if len(fields) == 1:
        lab, box, f = fields[0]
        region = out[box]
        win = f < 0
        win_lab: np.ndarray | int = lab
    else:
        ys = [b[0] for _, b, _ in fields]
        xs = [b[1] for _, b, _ in fields]
        y0, y1 = min(s.start for s in ys), max(s.stop for s in ys)
        x0, x1 = min(s.start for s in xs), max(s.stop for s in xs)
        best = np.full((y1 - y0, x1 - x0), np.inf, dtype=np.float32)
        best_lab = np.zeros(best.shape, dtype=out.dtype)
        for lab, (sy, sx), f in fields:
            sub = (
                slice(sy.start - y0, sy.stop - y0),
                slice(sx.start - x0, sx.stop - x0),
            )
            b = best[sub]
            better = f < b
            b[better] = f[better]
            best_lab[sub][better] = lab
        region = out[y0:y1, x0:x1]
        win = best < 0
        win_lab = best_lab
    if overwrite:
        protected = [lab for lab, zs in painted_sets.items() if z in zs]
        allowed = ~np.isin(region, protected) if protected else np.ones(region.shape, dtype=bool)
    else:
        allowed = region == 0
    sel = win & allowed
    if isinstance(win_lab, np.ndarray):
        region[sel] = win_lab[sel]
    else:
        region[sel] = win_lab
