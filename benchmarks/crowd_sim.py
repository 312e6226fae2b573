"""The simulated crowd of ``benchmarks/crowd.py``: cases cut from real anatomy, annotators with fixed error models.

The error models are those of issue 21, fixed here so that the benchmark cannot pick easy ones.
Annotators paint axial slices, so a moved boundary is moved in plane (slice by slice):

========  =====  ========================  ================  =================================
kind      share  boundary moved (voxels)   slices skipped    other
========  =====  ========================  ================  =================================
careful   5/30   0-1                       0                 -
average   10/30  1-2                       5%                -
sloppy    10/30  2-3                       15%               specks of 5-50 voxels (1-4 per case)
bad       5/30   0-1                       30% (half of them) a label swapped with another on half
                                                              their cases (the other half of them)
========  =====  ========================  ================  =================================

Each case, each label: the boundary moves by a whole number of voxels drawn uniformly from the
range, outwards or inwards with equal chance; a skipped slice is one where the label is present
in the truth and the annotator left it empty.

Cases: crops of the shared TotalSegmentator example CT (3 mm, ``../shared/data/anatomy``, read from
the repository's identical copy in ``tests/data/anatomy``) around
abdominal organs, with their masks as the truth (labels 1 liver, 2 spleen, 3 kidney left,
4 kidney right, 5 aorta). A crop is resampled in plane to 1 mm (linear for the CT, each label's
mask linear then thresholded at 0.5), so that a voxel is what it is on a clinical CT (1 x 1 x
3 mm) and a boundary moved by one voxel is 1 mm, not 3. Pieces of an organ under 5 ml at the
crop's edge are left out of the truth (nobody is asked to label a sliver).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage as ndi

#: The repository's copy of ``../shared/data/anatomy/totalseg_example_ct`` (byte for byte), so that
#: the benchmark and its test run in a fresh clone.
ANATOMY = Path(__file__).resolve().parents[1] / "tests" / "data" / "anatomy" / "totalseg_example_ct"
ORGANS = {1: "liver", 2: "spleen", 3: "kidney_left", 4: "kidney_right", 5: "aorta"}
CROP = (40, 48, 48)  # slices, rows, columns (3 mm voxels: 12 x 14.4 x 14.4 cm)
UPSAMPLE = 3  # in plane: 48 x 48 at 3 mm becomes 144 x 144 at 1 mm
MIN_PIECE_VOXELS = 185  # 5 ml at 3 mm
#: In-plane neighbourhood: a boundary moves within a slice, as an annotator paints it.
_IN_PLANE = np.zeros((3, 3, 3), bool)
_IN_PLANE[1] = ndi.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class Kind:
    """An error model.

    Attributes
    ----------
    name : str
    shift : tuple of int
        The boundary's move, min and max voxels.
    skip : float
        Share of a label's slices left empty.
    specks : bool
        Whether 1-4 specks of 5-50 voxels are painted per case.
    swap_half : bool
        Whether a label is swapped with another on half the cases.
    """

    name: str
    shift: tuple[int, int]
    skip: float = 0.0
    specks: bool = False
    swap_half: bool = False


CAREFUL = Kind("careful", (0, 1))
AVERAGE = Kind("average", (1, 2), skip=0.05)
SLOPPY = Kind("sloppy", (2, 3), skip=0.15, specks=True)
BAD_SWAP = Kind("bad-swap", (0, 1), swap_half=True)
BAD_SKIP = Kind("bad-skip", (0, 1), skip=0.30)


def crowd(n: int) -> list[Kind]:
    """``n`` annotators in the issue's proportions (5 careful, 10 average, 10 sloppy, 5 bad per 30).

    Parameters
    ----------
    n : int
        30 for the full run, 12 for ``--quick``.

    Returns
    -------
    list of Kind
        Bad annotators alternate between label swaps and skipped slices.
    """
    careful, average, sloppy = round(n * 5 / 30), round(n * 10 / 30), round(n * 10 / 30)
    bad = n - careful - average - sloppy
    return ([CAREFUL] * careful + [AVERAGE] * average + [SLOPPY] * sloppy
            + [BAD_SWAP if i % 2 == 0 else BAD_SKIP for i in range(bad)])


def _load_truth(anatomy: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CT (slice, row, column order), its label volume and the affine of that order."""
    img = nib.load(anatomy / "ct.nii.gz")
    ct = np.asarray(img.dataobj).astype(np.int16).transpose(2, 1, 0)  # x, y, z -> z, y, x
    labels = np.zeros(ct.shape, np.uint8)
    for value, organ in ORGANS.items():
        m = np.asarray(nib.load(anatomy / "masks" / f"{organ}.nii.gz").dataobj).transpose(2, 1, 0) > 0.5
        labels[m] = value
    return ct, labels, img.affine


def cut_cases(n: int, seed: int = 0, anatomy: Path = ANATOMY) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` cases: crops around the organs at random offsets, each with at least two organs.

    Parameters
    ----------
    n : int
        Number of cases.
    seed : int
        The random seed.
    anatomy : Path
        The TotalSegmentator example (``ct.nii.gz`` and ``masks/``).

    Returns
    -------
    list of (ct, truth, affine)
        The crop's HU (int16, slice/row/column), its labels (uint8) and its affine (RAS, of
        the array's index order, the crop's origin included).
    """
    ct, labels, affine = _load_truth(anatomy)
    rng = np.random.default_rng(seed)
    coords = np.argwhere(labels > 0)
    out: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    # index order z, y, x: column j of the RAS affine belongs to axis (2 - j) of the array
    perm = np.zeros((4, 4))
    perm[0, 2] = perm[1, 1] = perm[2, 0] = perm[3, 3] = 1
    zyx_affine = affine @ perm
    while len(out) < n:
        centre = coords[rng.integers(len(coords))]
        start = [int(np.clip(c - s // 2 + rng.integers(-6, 7), 0, dim - s))
                 for c, s, dim in zip(centre, CROP, ct.shape, strict=True)]
        box = tuple(slice(a, a + s) for a, s in zip(start, CROP, strict=True))
        truth = labels[box].copy()
        for value in [int(v) for v in np.unique(truth) if v]:
            if (truth == value).sum() < MIN_PIECE_VOXELS:
                truth[truth == value] = 0
        if len([v for v in np.unique(truth) if v]) < 2:
            continue
        shifted = zyx_affine.copy()
        shifted[:3, 3] = zyx_affine[:3, :3] @ np.array(start, float) + zyx_affine[:3, 3]
        out.append(_upsample(ct[box], truth, shifted))
    return out


def _upsample(ct: np.ndarray, truth: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The crop resampled in plane by :data:`UPSAMPLE` (voxel centres kept consistent with the affine).

    New voxel ``j`` sits at old index ``(j - (f - 1) / 2) / f`` in rows and columns (``grid_mode``);
    each label is interpolated within its bounding box (a voxel of margin), which is the cost.
    """
    f = UPSAMPLE
    zoom = (1, f, f)
    big_ct = ndi.zoom(ct.astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest")
    best = np.full(big_ct.shape, 0.5, np.float32)
    labels = np.zeros(big_ct.shape, np.uint8)
    for value in [int(v) for v in np.unique(truth) if v]:
        m = truth == value
        (z0, y0, x0), (z1, y1, x1) = np.argwhere(m).min(0), np.argwhere(m).max(0) + 1
        y0, x0, y1, x1 = max(y0 - 1, 0), max(x0 - 1, 0), min(y1 + 1, m.shape[1]), min(x1 + 1, m.shape[2])
        p = ndi.zoom(m[z0:z1, y0:y1, x0:x1].astype(np.float32), zoom, order=1, grid_mode=True, mode="nearest")
        box = (slice(z0, z1), slice(f * y0, f * y1), slice(f * x0, f * x1))
        take = p > best[box]
        labels[box][take], best[box][take] = value, p[take]
    scaled = affine.copy()
    scaled[:3, 1:3] = affine[:3, 1:3] / f
    scaled[:3, 3] = affine[:3, 3] + affine[:3, 1:3] @ np.full(2, -(f - 1) / (2 * f))
    return np.round(big_ct).astype(np.int16), labels, scaled


def _move_boundary(m: np.ndarray, voxels: int, outward: bool) -> np.ndarray:
    if voxels == 0 or not m.any():
        return m
    op = ndi.binary_dilation if outward else ndi.binary_erosion
    return op(m, structure=_IN_PLANE, iterations=voxels)


def annotate(truth: np.ndarray, kind: Kind, rng: np.random.Generator, case_index: int) -> np.ndarray:
    """What an annotator of this kind paints for a case.

    Parameters
    ----------
    truth : numpy.ndarray
        The true label volume.
    kind : Kind
        The error model.
    rng : numpy.random.Generator
        The annotator's generator.
    case_index : int
        The count of cases this annotator has done (a swap happens on every other case).

    Returns
    -------
    numpy.ndarray
        uint8 labels on the truth's grid.
    """
    out = np.zeros_like(truth)
    present = [int(v) for v in np.unique(truth) if v]
    for value in present:
        m = truth == value
        m = _move_boundary(m, int(rng.integers(kind.shift[0], kind.shift[1] + 1)), bool(rng.integers(2)))
        if kind.skip:
            slices = np.flatnonzero(m.any(axis=(1, 2)))
            skipped = slices[rng.random(len(slices)) < kind.skip]
            m[skipped] = False
        out[m & (out == 0)] = value
    if kind.swap_half and case_index % 2 == 1 and len(present) >= 2:
        a, b = rng.choice(present, size=2, replace=False)
        ma, mb = out == a, out == b
        out[ma], out[mb] = b, a
    if kind.specks:
        for _ in range(int(rng.integers(1, 5))):
            blob = _speck(int(rng.integers(5, 51)), rng)
            at = [int(rng.integers(0, d - s + 1)) for d, s in zip(out.shape, blob.shape, strict=True)]
            region = out[tuple(slice(a, a + s) for a, s in zip(at, blob.shape, strict=True))]
            region[blob & (region == 0)] = int(rng.choice(present)) if present else 1
    return out


def _speck(size: int, rng: np.random.Generator) -> np.ndarray:
    """A connected blob of ``size`` voxels on at most 3 slices (a stray brush dab), in its own small box."""
    box = np.zeros((3, 12, 12), bool)
    box[1, 6, 6] = True
    while box.sum() < size:
        grow = np.argwhere(ndi.binary_dilation(box) & ~box)
        box[tuple(grow[rng.integers(len(grow))])] = True
    return box


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Mean Dice over the labels of ``b`` (the truth): 1 for a label both leave empty."""
    values = []
    for value in [int(v) for v in np.unique(b) if v]:
        x, y = a == value, b == value
        values.append(2.0 * float((x & y).sum()) / float(x.sum() + y.sum()))
    return float(np.mean(values)) if values else 1.0
