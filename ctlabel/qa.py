"""Quality checks of a mask against its image and label table.

Each :class:`Finding` has a check name, a level (``error`` or ``warning``), the
label, a message, and a location: the slice index ``k`` (array axis 0 unless the
mask's provenance says another ``SliceAxis``) and one voxel ``(slice, row, column)``
on which a viewer can centre. ``ctlabel qa`` exits 1 when any finding is an error.

Checks (see ``docs/review.md``):

geometry            error    the mask grid is not the image grid (nothing else is checked)
unknown_label       error    a label value that the label table does not list
empty_label         warning  a label the provenance lists (painted / interpolated) that has no voxels
soft_tissue_on_air  error    a soft-tissue or fluid label with more than half its voxels below -500 HU
small_island        warning  a connected piece smaller than ``min_island_mm3`` apart from the label's largest
hole                warning  background fully enclosed by a label within a slice
interpolated_outside_painted  error  an interpolated slice beyond the label's first or last painted slice
far_from_painted    warning  an interpolated slice with no painted slice within ``max_gap`` slices
on_padded_slice     warning  label voxels on a slice padded where the acquisition skipped a position
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ctlabel.case import Case
from ctlabel.errors import CtlabelError, GeometryError, InputError
from ctlabel.labels import Label, LabelTable
from ctlabel.mask_io import Mask, labels_present
from ctlabel.volume import Volume, spacing_from_affine

ERROR = "error"
WARNING = "warning"

#: Tissues that never lie on air (below ``QAOptions.air_hu``): checked by ``soft_tissue_on_air``.
NOT_ON_AIR = ("soft_tissue", "fluid")

CHECKS = ("geometry", "unknown_label", "empty_label", "soft_tissue_on_air", "small_island", "hole",
          "interpolated_outside_painted", "far_from_painted", "on_padded_slice")


@dataclass
class QAOptions:
    air_hu: float = -500.0
    air_fraction: float = 0.5
    min_island_mm3: float = 50.0
    max_gap: int = 5
    min_hole_voxels: int = 1
    checks: tuple[str, ...] = CHECKS


@dataclass
class Finding:
    check: str
    level: str
    message: str
    label: int | None = None
    slice: int | None = None
    voxel: tuple[int, int, int] | None = None
    axis: int = 0
    source: str = ""

    def to_dict(self) -> dict:
        return {"check": self.check, "level": self.level, "label": self.label, "slice": self.slice,
                "voxel": None if self.voxel is None else [int(v) for v in self.voxel], "axis": self.axis,
                "message": self.message, "source": self.source}


@dataclass
class QAReport:
    source: str
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # the input could not be checked at all

    @property
    def ok(self) -> bool:
        return self.error is None and not any(f.level == ERROR for f in self.findings)

    def to_dict(self) -> dict:
        return {"source": self.source, "ok": self.ok, "error": self.error,
                "findings": [f.to_dict() for f in self.findings]}


def _voxel_near_centre(m: np.ndarray) -> tuple[int, int, int]:
    """The voxel of ``m`` nearest to its centroid (so it lies on the region)."""
    pts = np.argwhere(m)
    c = pts.mean(axis=0)
    return tuple(int(v) for v in pts[np.argmin(((pts - c) ** 2).sum(axis=1))])


def _label_name(table: LabelTable | None, lab: int) -> str:
    if table is not None and lab in table:
        return f"{lab} ({table[lab].name})"
    return str(lab)


def table_from_provenance(mask: Mask) -> LabelTable | None:
    labels = []
    for k, v in (mask.provenance.get("Labels") or {}).items():
        if v.get("Name"):
            labels.append(Label(int(k), v["Name"], v.get("Abbreviation", ""), v.get("Color") or "#ff0000",
                                v.get("Tissue") or "other"))
    return LabelTable(tuple(sorted(labels, key=lambda x: x.index))) if labels else None


def check_mask(mask: Mask, image: Volume | None, table: LabelTable | None, options: QAOptions | None = None,
               source: str = "") -> list[Finding]:
    """Run the QA checks of one mask against its image (HU) and label table."""
    o = options or QAOptions()
    out: list[Finding] = []
    axis = mask.axis

    def add(check, level, msg, label=None, voxel=None, slice_=None):
        if check not in o.checks:
            return
        if slice_ is None and voxel is not None:
            slice_ = int(voxel[axis])
        out.append(Finding(check, level, msg, label, slice_, voxel, axis, source))

    if image is not None:
        try:
            image.grid.require_match(mask.grid, "the mask", mask.path)
        except GeometryError as exc:
            add("geometry", ERROR, exc.reason)
            return out
    arr = mask.array
    spacing = spacing_from_affine(mask.affine)
    voxel_mm3 = float(np.prod(spacing))
    present = labels_present(arr)
    objects = ndimage.find_objects(arr.astype(np.int32, copy=False)) if present else []

    def box_of(lab: int) -> tuple[slice, ...]:
        return objects[lab - 1]

    # unknown labels
    if table is not None:
        for lab in present:
            if lab not in table:
                b = box_of(lab)
                m = arr[b] == lab
                v = tuple(int(x + s.start) for x, s in zip(_voxel_near_centre(m), b))
                add("unknown_label", ERROR, f"label value {lab} is not in the label table ({int(m.sum())} voxels)",
                    lab, v)
    # empty labels
    painted, interpolated = mask.painted, mask.interpolated
    listed = set(painted) | set(interpolated)
    for lab, info in (mask.provenance.get("Labels") or {}).items():
        if info.get("PaintedSlices") or info.get("InterpolatedSlices") or info.get("Present") is False:
            listed.add(int(lab))  # Present: false is a label painted, then erased to nothing
    for lab in sorted(listed - set(present)):
        sl = sorted(set(painted.get(lab, [])) | set(interpolated.get(lab, [])))
        add("empty_label", WARNING, f"label {_label_name(table, lab)} was painted but has no voxels",
            lab, None, sl[0] if sl else None)
    if not present and not listed:
        add("empty_label", WARNING, "the mask is empty")

    for lab in present:
        b = box_of(lab)
        m = arr[b] == lab
        off = np.array([s.start for s in b])
        name = _label_name(table, lab)
        # soft tissue (or fluid: bile, urine, CSF, blood) on air
        tissue = table[lab].tissue if table is not None and lab in table else None
        if image is not None and tissue in NOT_ON_AIR:
            hu = image.array[b]
            air = m & (hu < o.air_hu)
            frac = air.sum() / m.sum()
            if frac > o.air_fraction:
                per_slice = air.sum(axis=tuple(j for j in range(3) if j != axis))
                k = int(np.argmax(per_slice))
                sl = [slice(None)] * 3
                sl[axis] = slice(k, k + 1)
                sub = np.zeros_like(air)
                sub[tuple(sl)] = air[tuple(sl)]
                v = tuple(int(x) for x in _voxel_near_centre(sub) + off)
                what = "soft-tissue" if tissue == "soft_tissue" else tissue
                add("soft_tissue_on_air", ERROR, f"{what} label {name}: {100 * frac:.0f}% of its voxels are "
                    f"below {o.air_hu:g} HU (air)", lab, v)
        # islands
        if "small_island" in o.checks:
            cc, n = ndimage.label(m, ndimage.generate_binary_structure(3, 3))
            if n > 1:
                sizes = np.bincount(cc.ravel())[1:]
                biggest = int(np.argmax(sizes)) + 1
                for i, size in enumerate(sizes, 1):
                    if i != biggest and size * voxel_mm3 < o.min_island_mm3:
                        v = tuple(int(x) for x in _voxel_near_centre(cc == i) + off)
                        add("small_island", WARNING, f"label {name}: an island of {int(size)} voxels "
                            f"({size * voxel_mm3:.1f} mm3) apart from the main part", lab, v)
        # holes (per slice along the painting axis; background only, another label inside is not a hole)
        if "hole" in o.checks:
            bg = arr[b] == 0
            for k in range(m.shape[axis]):
                s2 = np.take(m, k, axis=axis)
                if s2.sum() < 4:
                    continue
                holes = ndimage.binary_fill_holes(s2) & ~s2 & np.take(bg, k, axis=axis)
                if holes.sum() >= o.min_hole_voxels:
                    hc, nh = ndimage.label(holes)
                    for j in range(1, nh + 1):
                        hv = hc == j
                        if hv.sum() < o.min_hole_voxels:
                            continue
                        p2 = _voxel_near_centre(hv[None])[1:]
                        v = [0, 0, 0]
                        v[axis] = k
                        rest = [a for a in range(3) if a != axis]
                        v[rest[0]], v[rest[1]] = p2
                        v = tuple(int(x) for x in np.array(v) + off)
                        add("hole", WARNING, f"label {name}: a hole of {int(hv.sum())} voxels in slice "
                            f"{v[axis]}", lab, v)
    if image is not None and image.missing_slices and present:
        _check_padded(arr, image.missing_slices, table, add)
    # interpolation support
    for lab, islices in interpolated.items():
        if not islices:
            continue
        name = _label_name(table, lab)
        p = sorted(painted.get(lab, []))
        where = arr == lab if lab in present else None

        def voxel_on(k: int, where=where) -> tuple[int, int, int] | None:
            if where is None:
                return None
            sl = np.take(where, k, axis=axis)
            if not sl.any():
                return None
            p2 = _voxel_near_centre(sl[None])[1:]
            v = [0, 0, 0]
            v[axis] = k
            rest = [a for a in range(3) if a != axis]
            v[rest[0]], v[rest[1]] = p2
            return tuple(int(x) for x in v)

        if not p:
            k = min(islices)
            add("interpolated_outside_painted", ERROR, f"label {name}: slices {_ranges(islices)} are interpolated "
                "but no slice is painted", lab, voxel_on(k), k)
            continue
        outside = [k for k in islices if k < p[0] or k > p[-1]]
        if outside:
            add("interpolated_outside_painted", ERROR, f"label {name}: interpolated slices {_ranges(outside)} lie "
                f"outside the painted range {p[0]}-{p[-1]}", lab, voxel_on(outside[0]), outside[0])
        pa = np.array(p)
        far = [k for k in islices if p[0] <= k <= p[-1] and int(np.min(np.abs(pa - k))) > o.max_gap]
        if far:
            worst = max(far, key=lambda k: int(np.min(np.abs(pa - k))))
            add("far_from_painted", WARNING, f"label {name}: interpolated slices {_ranges(far)} have no painted "
                f"slice within {o.max_gap} slices (worst: slice {worst}, "
                f"{int(np.min(np.abs(pa - worst)))} away)", lab, voxel_on(worst), worst)
    return out


def _check_padded(arr: np.ndarray, missing, table: LabelTable | None, add) -> None:
    """Labels on slices (array axis 0) that were padded: no image was acquired there."""
    pad = np.asarray(sorted(missing), dtype=int)
    sub = arr[pad]
    for lab in labels_present(sub):
        ks = pad[(sub == lab).any(axis=(1, 2))]
        m = sub[int(np.flatnonzero(pad == ks[0])[0])] == lab
        r, c = _voxel_near_centre(m[None])[1:]
        add("on_padded_slice", WARNING, f"label {_label_name(table, lab)} lies on padded slices {_ranges(ks)}, "
            "where no image was acquired", lab, (int(ks[0]), int(r), int(c)), int(ks[0]))


def _ranges(values) -> str:
    v = sorted(set(int(x) for x in values))
    out, start = [], None
    for i, x in enumerate(v):
        if start is None:
            start = x
        if i == len(v) - 1 or v[i + 1] != x + 1:
            out.append(str(start) if start == x else f"{start}-{x}")
            start = None
    return ",".join(out)


def resolve_target(spec: str | os.PathLike, image: str | os.PathLike | None = None
                   ) -> tuple[Mask, Volume | None, LabelTable | None]:
    """The mask, image and label table for ``CASE``, ``CASE@vN`` or a mask file."""
    from ctlabel.compare import resolve_mask
    from ctlabel.image_io import load_image

    mask, case = resolve_mask(spec)
    if image is not None:
        vol = load_image(image)
    elif case is not None:
        vol = case.load_image()
    else:
        vol = None
    table = case.load_labels() if case is not None and case.labels_path.exists() else table_from_provenance(mask)
    return mask, vol, table


def qa_target(spec: str | os.PathLike, options: QAOptions | None = None, *, image=None) -> QAReport:
    """QA of one case (its latest mask), ``CASE@vN`` or mask file; errors of reading go in the report."""
    rep = QAReport(str(spec))
    try:
        mask, vol, table = resolve_target(spec, image)
        rep.findings = check_mask(mask, vol, table, options, str(spec))
        if vol is None:
            rep.findings.insert(0, Finding("geometry", WARNING, "no image found (pass --image); HU and geometry "
                                           "checks skipped", source=str(spec)))
    except CtlabelError as exc:
        rep.error = str(exc)
    return rep


def expand_targets(paths) -> list[str]:
    """Case folders under any folder given that is not itself a case; files and CASE@v pass through."""
    from ctlabel.case import find_cases

    out: list[str] = []
    for p in paths:
        s = str(p)
        if "@" in s or Path(s).is_file() or Case.is_case(s):
            out.append(s)
        elif Path(s).is_dir():
            found = find_cases(s)
            if not found:
                raise InputError("no case folder or mask here", s)
            out += [str(c.root) for c in found]
        else:
            raise InputError("no such case folder or mask file", s)
    return out


__all__ = ["CHECKS", "ERROR", "WARNING", "Finding", "QAOptions", "QAReport", "check_mask", "expand_targets",
           "qa_target", "resolve_target"]
