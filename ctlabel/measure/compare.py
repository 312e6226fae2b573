"""Agreement between two masks on one grid: Dice, HD95 (mm), volumes (ml).

Surface distances respect the voxel spacing (slice, row, column) taken from the
affine. HD95 is the 95th percentile of the pooled surface distances in both
directions (A->B and B->A), as MedPy's ``hd95``. A label present in only one
mask has Dice 0 and no HD95 (``None``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from ctlabel.case.folder import Case
from ctlabel.errors import CaseError, InputError
from ctlabel.io.labels import LabelTable
from ctlabel.io.mask import Mask, labels_present, load_mask
from ctlabel.volume import spacing_from_affine

_FULL = ndimage.generate_binary_structure(3, 1)


@dataclass
class LabelAgreement:
    """The agreement of two masks on one label.

    Attributes
    ----------
    label : int
        The label value.
    name : str
        Its name in the label table.
    dice : float
        Dice coefficient.
    hd95_mm : float, optional
        95th percentile of the pooled symmetric surface distances in mm (None when a side is empty).
    volume_a_ml, volume_b_ml : float
        The label's volume in each mask, in ml.
    """

    label: int
    name: str
    dice: float
    hd95_mm: float | None
    volume_a_ml: float
    volume_b_ml: float

    @property
    def volume_diff_ml(self) -> float:
        return self.volume_b_ml - self.volume_a_ml

    @property
    def volume_diff_pct(self) -> float | None:
        return None if self.volume_a_ml == 0 else 100.0 * self.volume_diff_ml / self.volume_a_ml

    def to_dict(self) -> dict:
        r = lambda v, n=4: None if v is None else round(float(v), n)  # noqa: E731
        return {"label": self.label, "name": self.name, "dice": r(self.dice), "hd95_mm": r(self.hd95_mm, 3),
                "volume_a_ml": r(self.volume_a_ml), "volume_b_ml": r(self.volume_b_ml),
                "volume_diff_ml": r(self.volume_diff_ml), "volume_diff_pct": r(self.volume_diff_pct, 2)}


@dataclass
class Comparison:
    """The agreement of two masks, label by label.

    Attributes
    ----------
    a, b : str
        The masks compared (as named by the caller).
    spacing_mm : tuple of float
        (slice, row, column) voxel spacing.
    rows : list of LabelAgreement
        One row per label.
    """

    a: str
    b: str
    spacing_mm: tuple[float, float, float]
    rows: list[LabelAgreement] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "spacing_mm": [round(s, 6) for s in self.spacing_mm],
                "labels": [r.to_dict() for r in self.rows]}

    def table(self) -> str:
        head = f"{'label':>5}  {'name':<16} {'dice':>6} {'hd95 mm':>8} {'vol A ml':>9} {'vol B ml':>9} {'diff ml':>8}"
        lines = [f"A: {self.a}", f"B: {self.b}", head]
        for r in self.rows:
            hd = "-" if r.hd95_mm is None else f"{r.hd95_mm:.2f}"
            lines.append(f"{r.label:>5}  {r.name[:16]:<16} {r.dice:>6.3f} {hd:>8} {r.volume_a_ml:>9.3f} "
                         f"{r.volume_b_ml:>9.3f} {r.volume_diff_ml:>+8.3f}")
        return "\n".join(lines)


def _surface(m: np.ndarray) -> np.ndarray:
    return m & ~ndimage.binary_erosion(m, _FULL, border_value=0)


def surface_distances(a: np.ndarray, b: np.ndarray, spacing) -> tuple[np.ndarray, np.ndarray]:
    """Distances (mm) from each surface voxel of ``a`` to the surface of ``b``, and back.

    The nearest surface voxel is found in a k-d tree of the surface voxels' positions in mm
    (``scipy.spatial.cKDTree``): the distances a Euclidean distance transform of the box gives,
    an order of magnitude sooner on a large organ (a 512 x 512 x 300 volume: ~0.9 s instead of
    ~7 s). Each side's surface in the order of ``numpy.argwhere``.
    """
    sa, sb = _surface(a), _surface(b)
    step = np.asarray(spacing, dtype=np.float64)
    pa, pb = np.argwhere(sa) * step, np.argwhere(sb) * step
    if not len(pa) or not len(pb):
        return np.full(len(pa), np.inf), np.full(len(pb), np.inf)
    da, _ = cKDTree(pb).query(pa, workers=-1)
    db, _ = cKDTree(pa).query(pb, workers=-1)
    return np.asarray(da, dtype=np.float64), np.asarray(db, dtype=np.float64)


def hd95(a: np.ndarray, b: np.ndarray, spacing) -> float | None:
    """95th percentile of the pooled symmetric surface distances (mm); None if one is empty."""
    if not a.any() or not b.any():
        return None
    box = _bbox(a | b, margin=1)
    da, db = surface_distances(a[box], b[box], spacing)
    return float(np.percentile(np.concatenate([da, db]), 95))


def _bbox(m: np.ndarray, margin: int = 1) -> tuple[slice, ...]:
    idx = [np.flatnonzero(m.any(axis=tuple(j for j in range(m.ndim) if j != i))) for i in range(m.ndim)]
    return tuple(slice(max(int(ix[0]) - margin, 0), int(ix[-1]) + margin + 1) for ix in idx)


def compare_arrays(a: np.ndarray, b: np.ndarray, spacing, labels: list[int] | None = None,
                   names: dict[int, str] | None = None) -> list[LabelAgreement]:
    """Per label agreement of two label arrays of the same shape."""
    if a.shape != b.shape:
        raise InputError(f"the masks have different shapes {a.shape} and {b.shape}")
    voxel_ml = float(np.prod(spacing)) / 1000.0
    if labels is None:
        labels = sorted(set(labels_present(a)) | set(labels_present(b)))
    rows = []
    for lab in labels:
        ma, mb = a == lab, b == lab
        na, nb = int(ma.sum()), int(mb.sum())
        if na == 0 and nb == 0:
            continue
        inter = int(np.count_nonzero(ma & mb))
        dice = 2.0 * inter / (na + nb)
        rows.append(LabelAgreement(int(lab), (names or {}).get(int(lab), ""), dice, hd95(ma, mb, spacing),
                                   na * voxel_ml, nb * voxel_ml))
    return rows


#: Values of :func:`diff_overlay`.
UNCHANGED, ADDED, REMOVED, RELABELLED = 0, 1, 2, 3


def diff_overlay(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What changed from ``a`` to ``b``: 1 added (background -> label), 2 removed, 3 relabelled."""
    if a.shape != b.shape:
        raise InputError(f"the masks have different shapes {a.shape} and {b.shape}")
    out = np.zeros(a.shape, dtype=np.uint8)
    a0, b0 = a == 0, b == 0
    out[a0 & ~b0] = ADDED
    out[~a0 & b0] = REMOVED
    out[~a0 & ~b0 & (a != b)] = RELABELLED
    return out


def diff_summary(overlay: np.ndarray, voxel_ml: float = 0.0) -> dict:
    """Counts of added / removed / relabelled voxels and the slices (axis 0) where anything changed."""
    counts = {name: int(np.count_nonzero(overlay == v))
              for name, v in (("added", ADDED), ("removed", REMOVED), ("relabelled", RELABELLED))}
    slices = [int(k) for k in np.flatnonzero(overlay.any(axis=(1, 2)))]
    out = {**counts, "slices": slices}
    if voxel_ml:
        out.update({f"{k}_ml": round(v * voxel_ml, 4) for k, v in counts.items()})
    return out


def _names(*masks: Mask, table: LabelTable | None = None) -> dict[int, str]:
    out: dict[int, str] = {}
    for m in masks:
        for k, v in (m.provenance.labels if m.provenance is not None else {}).items():
            if v.get("Name"):
                out.setdefault(int(k), v["Name"])
    if table is not None:
        for lab in table:
            out.setdefault(lab.index, lab.name)
    return out


def compare_masks(a: Mask, b: Mask, table: LabelTable | None = None) -> Comparison:
    """Agreement of two masks; their grids must match exactly (nothing is resampled)."""
    a.grid.require_match(b.grid, "mask B", b.path)
    spacing = spacing_from_affine(a.affine)
    rows = compare_arrays(a.array, b.array, spacing, names=_names(a, b, table=table))
    return Comparison(str(a.path), str(b.path), spacing, rows)


def resolve_mask(spec: str | os.PathLike) -> tuple[Mask, Case | None]:
    """A mask from ``CASE@vN`` / ``CASE@draft`` / ``CASE`` (latest) / a mask file."""
    s = str(spec)
    root, sel = s, None
    if "@" in s:
        root, sel = s.rsplit("@", 1)
    p = Path(root)
    case: Case | None
    if Case.is_case(p):
        case = Case.open(p)
        if sel is None or sel in ("", "latest"):
            m = case.latest_mask()
            if m is None:
                raise CaseError("the case has no mask yet", p)
            return m, case
        if sel == "draft":
            m = case.load_draft()
            if m is None:
                raise CaseError("the case has no draft", p)
            return m, case
        sel_n = sel.lower().lstrip("v")
        if not sel_n.isdigit():
            raise InputError(f"version {sel!r} is not vN, N, draft or latest", p)
        return case.load_version(int(sel_n)), case
    if sel is not None:
        raise InputError("CASE@VERSION needs a case folder before the @", root)
    if not p.exists():
        raise InputError("no such mask file or case folder", p)
    case = None
    if p.parent.name == "masks" and Case.is_case(p.parent.parent):
        case = Case.open(p.parent.parent)
    return load_mask(p), case


def compare_specs(a: str, b: str) -> Comparison:
    """Compare two masks named as on the command line (``CASE@vN``, ``CASE@draft``, ``CASE``, a file).

    Parameters
    ----------
    a, b : str
        The masks (see :func:`resolve_mask`).

    Returns
    -------
    Comparison
        Label names from the case of ``a`` (else of ``b``).

    Raises
    ------
    GeometryError
        The two masks are not on the same grid.
    """
    ma, ca = resolve_mask(a)
    mb, cb = resolve_mask(b)
    owner = ca or cb
    table = owner.load_labels() if owner else None
    res = compare_masks(ma, mb, table)
    res.a, res.b = str(a), str(b)
    return res


def read_pairs(path: str | os.PathLike) -> list[tuple[str, str]]:
    """Pairs from a CSV with two columns (a header row ``a,b`` is optional); paths are relative to the CSV."""
    path = Path(path)
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    except OSError as exc:
        raise InputError(f"cannot read the pairs file ({exc.strerror})", path) from None
    out = []
    for n, row in enumerate(rows, 1):
        row = [c.strip() for c in row if c.strip()]
        if not row or row[0].startswith("#"):
            continue
        if n == 1 and [c.lower() for c in row[:2]] in (["a", "b"], ["mask_a", "mask_b"], ["reference", "test"]):
            continue
        if len(row) < 2:
            raise InputError(f"line {n}: needs two columns (A,B)", path)

        def rel(x: str) -> str:
            base, _, sel = x.partition("@")
            q = Path(base)
            q = q if q.is_absolute() else path.parent / q
            return f"{q}@{sel}" if sel else str(q)

        out.append((rel(row[0]), rel(row[1])))
    if not out:
        raise InputError("the pairs file lists no pairs", path)
    return out


__all__ = [
    "ADDED", "RELABELLED", "REMOVED", "UNCHANGED", "Comparison", "LabelAgreement", "compare_arrays", "compare_masks",
    "compare_specs", "diff_overlay", "diff_summary", "hd95", "read_pairs", "resolve_mask", "surface_distances",
]
