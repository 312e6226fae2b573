"""The QA checks, one small function each, in a registry (:data:`REGISTRY`), in report order.

Every check gets a :class:`Context` (the mask, the image, the label table, the options and
what is shared: present labels and their bounding boxes) and reports through ``ctx.add``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import cast

import numpy as np

from ctlabel.io.labels import LabelTable
from ctlabel.io.mask import Mask, labels_present
from ctlabel.volume import Volume, spacing_from_affine

ERROR = "error"
WARNING = "warning"

#: Tissues that never lie on air (below ``QAOptions.air_hu``): checked by ``soft_tissue_on_air``.
NOT_ON_AIR = ("soft_tissue", "fluid")


@dataclass
class QAOptions:
    """Thresholds of the checks, and which checks run.

    The size limits are physical, taken with the mask's voxel spacing (from its affine):
    ``min_island_mm3`` (a piece apart from a label's largest that is smaller is a
    ``small_island``) and ``min_hole_mm2`` (an enclosed hole of a slice whose area is at least
    this is a ``hole``; 0, the default, reports every hole).
    """

    air_hu: float = -500.0
    air_fraction: float = 0.5
    min_island_mm3: float = 50.0
    max_gap: int = 5
    min_hole_mm2: float = 0.0
    checks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.checks:
            self.checks = CHECKS


@dataclass
class Context:
    """What a check reads: the mask, its image and label table, and the findings list to add to."""

    mask: Mask
    image: Volume | None
    table: LabelTable | None
    options: QAOptions
    add: Callable[..., None]
    arr: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.arr = self.mask.array

    @property
    def axis(self) -> int:
        return self.mask.axis

    @cached_property
    def present(self) -> list[int]:
        return labels_present(self.arr)

    @cached_property
    def objects(self) -> list:
        from scipy import ndimage

        return ndimage.find_objects(self.arr.astype(np.int32, copy=False)) if self.present else []

    @cached_property
    def voxel_mm3(self) -> float:
        return float(np.prod(spacing_from_affine(self.mask.affine)))

    @cached_property
    def pixel_mm2(self) -> float:
        """The area of one voxel on a slice (the two axes other than the slice axis)."""
        sp = spacing_from_affine(self.mask.affine)
        return float(np.prod([float(sp[a]) for a in range(3) if a != self.axis]))

    def box(self, lab: int) -> tuple[slice, ...]:
        return self.objects[lab - 1]

    def region(self, lab: int) -> tuple[tuple[slice, ...], np.ndarray, np.ndarray]:
        """The label's bounding box, its voxels there (bool) and the box's offset."""
        b = self.box(lab)
        return b, self.arr[b] == lab, np.array([s.start for s in b])

    def name(self, lab: int) -> str:
        return label_name(self.table, lab)

    def on_slice(self, where: np.ndarray, k: int) -> tuple[int, int, int] | None:
        """A voxel of ``where`` on slice ``k`` (along the mask's axis), near the centre of that part."""
        sl = np.take(where, k, axis=self.axis)
        if not sl.any():
            return None
        p2 = voxel_near_centre(sl[None])[1:]
        v = [0, 0, 0]
        v[self.axis] = k
        rest = [a for a in range(3) if a != self.axis]
        v[rest[0]], v[rest[1]] = p2
        return cast("tuple[int, int, int]", tuple(int(x) for x in v))


def voxel_near_centre(m: np.ndarray) -> tuple[int, int, int]:
    """The voxel of ``m`` nearest to its centroid (so it lies on the region)."""
    pts = np.argwhere(m)
    c = pts.mean(axis=0)
    return cast("tuple[int, int, int]", tuple(int(v) for v in pts[np.argmin(((pts - c) ** 2).sum(axis=1))]))


def voxels_near_centres(cc: np.ndarray) -> dict[int, tuple[int, ...]]:
    """For every label of ``cc`` (a labelled array), its voxel nearest to its centroid, at once.

    The same voxels as :func:`voxel_near_centre` on each label alone (ties go to the first voxel
    in C order), in one pass over the labelled voxels instead of one per label.
    """
    flat = np.flatnonzero(cc)
    labs = cc.ravel()[flat]
    order = np.argsort(labs, kind="stable")  # by label; each label's voxels stay in C order
    flat, labs = flat[order], labs[order]
    pts = np.stack(np.unravel_index(flat, cc.shape), axis=1)
    counts = np.bincount(labs)
    sums = np.stack([np.bincount(labs, weights=pts[:, d]) for d in range(cc.ndim)], axis=1)
    centres = sums / np.maximum(counts, 1)[:, None]
    d2 = ((pts - centres[labs]) ** 2).sum(axis=1)
    best = np.lexsort((d2, labs))  # stable: equal distances keep C order
    first = best[np.r_[0, np.flatnonzero(np.diff(labs[best])) + 1]] if len(best) else best
    return {int(labs[i]): tuple(int(v) for v in pts[i]) for i in first}


def label_name(table: LabelTable | None, lab: int) -> str:
    """A label as findings name it: ``3 (liver)`` when the table names it, else ``3``.

    Parameters
    ----------
    table : LabelTable, optional
        The label table.
    lab : int
        The label value.

    Returns
    -------
    str
    """
    if table is not None and lab in table:
        return f"{lab} ({table[lab].name})"
    return str(lab)


def ranges(values) -> str:
    """``0-3,7`` for [0, 1, 2, 3, 7]."""
    v = sorted(set(int(x) for x in values))
    out, start = [], None
    for i, x in enumerate(v):
        if start is None:
            start = x
        if i == len(v) - 1 or v[i + 1] != x + 1:
            out.append(str(start) if start == x else f"{start}-{x}")
            start = None
    return ",".join(out)


REGISTRY: dict[str, Callable[[Context], None]] = {}


def check(name: str):
    """Register a check function under ``name`` (the order of registration is the report order)."""
    def register(fn: Callable[[Context], None]) -> Callable[[Context], None]:
        REGISTRY[name] = fn
        return fn
    return register


@check("unknown_label")
def unknown_label(ctx: Context) -> None:
    """A label value that the label table does not list."""
    if ctx.table is None:
        return
    for lab in ctx.present:
        if lab not in ctx.table:
            b, m, off = ctx.region(lab)
            v = tuple(int(x) for x in np.array(voxel_near_centre(m)) + off)
            ctx.add("unknown_label", ERROR, f"label value {lab} is not in the label table ({int(m.sum())} voxels)",
                    lab, v)


@check("empty_label")
def empty_label(ctx: Context) -> None:
    """A label the provenance lists (painted, interpolated, or painted then erased) that has no voxels."""
    painted, interpolated = ctx.mask.painted, ctx.mask.interpolated
    listed = set(painted) | set(interpolated)
    for lab, info in (ctx.mask.provenance.labels if ctx.mask.provenance is not None else {}).items():
        if info.get("PaintedSlices") or info.get("InterpolatedSlices") or info.get("Present") is False:
            listed.add(int(lab))  # Present: false is a label painted, then erased to nothing
    for lab in sorted(listed - set(ctx.present)):
        sl = sorted(set(painted.get(lab, [])) | set(interpolated.get(lab, [])))
        ctx.add("empty_label", WARNING, f"label {ctx.name(lab)} was painted but has no voxels", lab, None,
                sl[0] if sl else None)
    if not ctx.present and not listed:
        ctx.add("empty_label", WARNING, "the mask is empty")


@check("soft_tissue_on_air")
def soft_tissue_on_air(ctx: Context) -> None:
    """A soft-tissue or fluid label with more than ``air_fraction`` of its voxels below ``air_hu``."""
    if ctx.image is None or ctx.table is None:
        return
    o = ctx.options
    for lab in ctx.present:
        tissue = ctx.table[lab].tissue if lab in ctx.table else None
        if tissue not in NOT_ON_AIR:
            continue
        b, m, off = ctx.region(lab)
        air = m & (ctx.image.array[b] < o.air_hu)
        frac = air.sum() / m.sum()
        if frac <= o.air_fraction:
            continue
        per_slice = air.sum(axis=tuple(j for j in range(3) if j != ctx.axis))
        k = int(np.argmax(per_slice))
        sl = [slice(None)] * 3
        sl[ctx.axis] = slice(k, k + 1)
        sub = np.zeros_like(air)
        sub[tuple(sl)] = air[tuple(sl)]
        v = tuple(int(x) for x in np.array(voxel_near_centre(sub)) + off)
        what = "soft-tissue" if tissue == "soft_tissue" else tissue
        ctx.add("soft_tissue_on_air", ERROR, f"{what} label {ctx.name(lab)}: {100 * frac:.0f}% of its voxels are "
                f"below {o.air_hu:g} HU (air)", lab, v)


@check("small_island")
def small_island(ctx: Context) -> None:
    """A connected piece smaller than ``min_island_mm3`` apart from the label's largest piece."""
    from scipy import ndimage

    for lab in ctx.present:
        b, m, off = ctx.region(lab)
        cc, n = ndimage.label(m, ndimage.generate_binary_structure(3, 3))
        if n < 2:
            continue
        sizes = np.bincount(cc.ravel())[1:]
        biggest = int(np.argmax(sizes)) + 1
        small = [i for i, size in enumerate(sizes, 1)
                 if i != biggest and size * ctx.voxel_mm3 < ctx.options.min_island_mm3]
        if not small:
            continue
        keep = np.zeros(n + 1, cc.dtype)
        keep[small] = small
        at = voxels_near_centres(keep[cc])  # every small island in one pass: O(volume), not O(islands x volume)
        for i in small:
            size = sizes[i - 1]
            v = tuple(int(x) for x in np.array(at[i]) + off)
            ctx.add("small_island", WARNING, f"label {ctx.name(lab)}: an island of {int(size)} voxels "
                    f"({size * ctx.voxel_mm3:.1f} mm3) apart from the main part", lab, v)


@check("hole")
def hole(ctx: Context) -> None:
    """Background enclosed by a label within a slice, of ``min_hole_mm2`` or more (not another label)."""
    from scipy import ndimage

    axis = ctx.axis
    minimum = max(1.0, ctx.options.min_hole_mm2 / ctx.pixel_mm2 - 1e-9)  # in pixels of this mask
    for lab in ctx.present:
        b, m, off = ctx.region(lab)
        bg = ctx.arr[b] == 0
        for k in range(m.shape[axis]):
            s2 = np.take(m, k, axis=axis)
            if s2.sum() < 4:
                continue
            holes = _enclosed(~s2) & np.take(bg, k, axis=axis)
            if holes.sum() < minimum:
                continue
            hc, nh = ndimage.label(holes)
            hsizes = np.bincount(hc.ravel(), minlength=nh + 1)
            for j, box in enumerate(ndimage.find_objects(hc), 1):
                if hsizes[j] < minimum:
                    continue
                v = [0, 0, 0]
                v[axis] = k
                rest = [a for a in range(3) if a != axis]
                r, c = voxel_near_centre((hc[box] == j)[None])[1:]
                v[rest[0]], v[rest[1]] = r + box[0].start, c + box[1].start
                at = tuple(int(x) for x in np.array(v) + off)
                ctx.add("hole", WARNING, f"label {ctx.name(lab)}: a hole of {int(hsizes[j])} voxels "
                        f"({hsizes[j] * ctx.pixel_mm2:.1f} mm2) in slice {at[axis]}", lab, at)


def _enclosed(outside: np.ndarray) -> np.ndarray:
    """The pixels of ``outside`` (2-D) not 4-connected to the border: what ``binary_fill_holes`` fills."""
    from scipy import ndimage

    cc, n = ndimage.label(outside)
    if n == 0:
        return np.zeros_like(outside)
    edge = np.unique(np.concatenate([cc[0], cc[-1], cc[:, 0], cc[:, -1]]))
    inside = np.ones(n + 1, bool)
    inside[0] = False  # not ``outside``
    inside[edge] = False
    return inside[cc]


@check("on_padded_slice")
def on_padded_slice(ctx: Context) -> None:
    """Label voxels on slices padded where the acquisition skipped a position (array axis 0)."""
    if ctx.image is None or not ctx.image.missing_slices or not ctx.present:
        return
    pad = np.asarray(sorted(ctx.image.missing_slices), dtype=int)
    sub = ctx.arr[pad]
    for lab in labels_present(sub):
        ks = pad[(sub == lab).any(axis=(1, 2))]
        m = sub[int(np.flatnonzero(pad == ks[0])[0])] == lab
        r, c = voxel_near_centre(m[None])[1:]
        ctx.add("on_padded_slice", WARNING, f"label {ctx.name(lab)} lies on padded slices {ranges(ks)}, "
                "where no image was acquired", lab, (int(ks[0]), int(r), int(c)), int(ks[0]))


def _interpolated_with_support(ctx: Context):
    """(label, its interpolated slices, its painted slices sorted, its voxels or None) per interpolated label."""
    for lab, islices in ctx.mask.interpolated.items():
        if islices:
            yield lab, islices, sorted(ctx.mask.painted.get(lab, [])), (
                ctx.arr == lab if lab in ctx.present else None)


@check("interpolated_outside_painted")
def interpolated_outside_painted(ctx: Context) -> None:
    """An interpolated slice beyond the label's first or last painted slice (or none painted)."""
    for lab, islices, p, where in _interpolated_with_support(ctx):
        def voxel(k: int, w=where) -> tuple[int, int, int] | None:
            return ctx.on_slice(w, k) if w is not None else None

        if not p:
            k = min(islices)
            ctx.add("interpolated_outside_painted", ERROR, f"label {ctx.name(lab)}: slices {ranges(islices)} are "
                    "interpolated but no slice is painted", lab, voxel(k), k)
            continue
        outside = [k for k in islices if k < p[0] or k > p[-1]]
        if outside:
            ctx.add("interpolated_outside_painted", ERROR, f"label {ctx.name(lab)}: interpolated slices "
                    f"{ranges(outside)} lie outside the painted range {p[0]}-{p[-1]}", lab, voxel(outside[0]),
                    outside[0])


@check("far_from_painted")
def far_from_painted(ctx: Context) -> None:
    """An interpolated slice with no painted slice within ``max_gap`` slices."""
    gap = ctx.options.max_gap
    for lab, islices, p, where in _interpolated_with_support(ctx):
        if not p:
            continue
        pa = np.array(p)
        far = [k for k in islices if p[0] <= k <= p[-1] and int(np.min(np.abs(pa - k))) > gap]
        if far:
            worst = max(far, key=lambda k: int(np.min(np.abs(pa - k))))
            ctx.add("far_from_painted", WARNING, f"label {ctx.name(lab)}: interpolated slices {ranges(far)} have no "
                    f"painted slice within {gap} slices (worst: slice {worst}, "
                    f"{int(np.min(np.abs(pa - worst)))} away)", lab,
                    ctx.on_slice(where, worst) if where is not None else None, worst)


#: Every check, in report order: ``geometry`` (run first, by check_mask) and the registry.
CHECKS = ("geometry", *REGISTRY)
