"""Import masks made by other tools onto a case's exact grid, as a new version.

Formats: DICOM SEG (highdicom), NRRD label maps (pynrrd; 3-D, or Slicer's 4-D
layered ``.seg.nrrd``) and NIfTI label images. Geometry must match the case
image exactly (within :data:`ctlabel.volume.AFFINE_TOLERANCE_MM`); a mismatch is
an error and nothing is ever resampled.

Overlapping segments (which one label map cannot hold) are refused with a
message naming them; ``segments=`` imports a chosen subset instead.

DICOM SEG (``ctlabel.intake.seg_import``): frames are mapped to case slices by the
referenced source SOPInstanceUID, else by ImagePositionPatient; BINARY frames
belong to their referenced segment, FRACTIONAL pixels count from half of
MaximumFractionalValue, LABELMAP pixel values are segment numbers (0 and the
Pixel Padding Value are background). Segment values become label values by
matching the segment label to a label name or abbreviation of the case label
table (case-insensitive), else the segment number is kept.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from ctlabel.case.folder import Case
from ctlabel.case.lock import CaseLock
from ctlabel.errors import GeometryError, InputError
from ctlabel.geometry import LPS_TO_RAS
from ctlabel.intake.imported import Imported, Segment
from ctlabel.io.labels import MAX_LABEL, LabelTable
from ctlabel.volume import Grid


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def detect_format(path: Path) -> str:
    """The format of a mask file: ``nifti``, ``nrrd`` or ``dicom-seg``, by name, else by content.

    Parameters
    ----------
    path : pathlib.Path
        The file.

    Returns
    -------
    str

    Raises
    ------
    InputError
        Not one of the formats.
    """
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".nrrd", ".nhdr")):
        return "nrrd"
    with open(path, "rb") as f:
        head = f.read(132)
    if head[128:132] == b"DICM" or name.endswith(".dcm"):
        return "dicom-seg"
    raise InputError("unknown format: expected a DICOM SEG, an NRRD label map or a NIfTI mask", path)


# --------------------------------------------------------------------------
# Readers (each returns segments on the case grid or raises GeometryError)
# --------------------------------------------------------------------------


def _labelmap_segments(arr: np.ndarray, names: dict[int, str] | None = None) -> list[Segment]:
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise InputError("the label map holds non-integer values")
        arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > MAX_LABEL):
        raise InputError(f"label values must lie in 0..{MAX_LABEL}")
    return [Segment(int(v), (names or {}).get(int(v), ""), arr == v) for v in np.unique(arr) if v != 0]


def read_nifti_mask(path: Path, grid: Grid) -> Imported:
    """The segments of a NIfTI label map on the case grid (one per label value).

    Parameters
    ----------
    path : pathlib.Path
        The file.
    grid : Grid
        The case grid.

    Returns
    -------
    Imported

    Raises
    ------
    GeometryError
        The file is not on the case grid.
    """
    from ctlabel.io.nifti import read_nifti

    data = read_nifti(path, grid=grid, what="the imported NIfTI")  # the header is checked before any voxel
    return Imported("nifti", path, _labelmap_segments(data.array))


def nrrd_affine(header: dict) -> np.ndarray:
    """The RAS affine of an NRRD's spatial axes (on-disk i, j, k)."""
    space = str(header.get("space", "left-posterior-superior")).lower()
    dirs = np.asarray(header["space directions"], dtype=float)
    origin = np.asarray(header.get("space origin", np.zeros(3)), dtype=float)
    lps = np.eye(4)
    lps[:3, :3] = dirs.T
    lps[:3, 3] = origin
    if space in ("left-posterior-superior", "lps"):
        return LPS_TO_RAS @ lps
    if space in ("right-anterior-superior", "ras"):
        return lps
    raise InputError(f"NRRD space {space!r} is not supported (LPS or RAS)")


def read_nrrd_mask(path: Path, grid: Grid) -> Imported:
    """The segments of an NRRD label map (3-D, or 4-D with one layer per segment) on the case grid.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    grid : Grid
        The case grid.

    Returns
    -------
    Imported

    Raises
    ------
    InputError
        Not a readable NRRD, or not 3 spatial axes.
    GeometryError
        No space directions, or not on the case grid.
    """
    import nrrd

    try:
        data, header = nrrd.read(os.fspath(path), index_order="F")
    except Exception as exc:  # noqa: BLE001 - pynrrd raises several kinds
        raise InputError(f"cannot read as NRRD ({type(exc).__name__}: {exc})", path) from None
    kinds = [str(k).lower() for k in header.get("kinds", ["domain"] * data.ndim)]
    dirs = header.get("space directions")
    if dirs is None:
        raise GeometryError("the NRRD has no space directions, so its grid cannot be checked", path)
    # Spatial axes are those with a direction vector (pynrrd gives NaN rows for 'none').
    dirs = np.asarray([np.full(3, np.nan) if d is None else d for d in dirs], dtype=float)
    spatial = [i for i in range(data.ndim) if np.all(np.isfinite(dirs[i]))]
    if len(spatial) != 3:
        raise InputError(f"expected 3 spatial axes, found {len(spatial)} (kinds {kinds})", path)
    h = dict(header)
    h["space directions"] = dirs[spatial]
    affine = nrrd_affine(h)
    if data.ndim == 3:
        mem = np.ascontiguousarray(data.T)
        grid.require_match(Grid(tuple(mem.shape), affine), "the imported NRRD", path)
        return Imported("nrrd", path, _labelmap_segments(mem, _slicer_names(header)), {"Layers": 1})
    if data.ndim == 4:
        (layer_axis,) = [i for i in range(4) if i not in spatial]
        data = np.moveaxis(data, layer_axis, 0)
        mem_shape = tuple(data.shape[1:][::-1])
        grid.require_match(Grid(mem_shape, affine), "the imported NRRD", path)
        segs: list[Segment] = []
        names = _slicer_segments(header)
        for layer in range(data.shape[0]):
            mem = np.ascontiguousarray(data[layer].T)
            for v in np.unique(mem):
                if v == 0:
                    continue
                key = (layer, int(v))
                num, name = names.get(key, (len(segs) + 1, ""))
                segs.append(Segment(num, name, mem == v))
        return Imported("nrrd", path, segs, {"Layers": int(data.shape[0])})
    raise InputError(f"expected a 3-D or 4-D NRRD, got {data.ndim}-D", path)


def _slicer_segments(header: dict) -> dict[tuple[int, int], tuple[int, str]]:
    """Slicer ``SegmentN_Layer/LabelValue/Name`` keys -> {(layer, value): (N+1, name)}."""
    out = {}
    i = 0
    while f"Segment{i}_Name" in header or f"Segment{i}_LabelValue" in header:
        layer = int(header.get(f"Segment{i}_Layer", 0))
        value = int(header.get(f"Segment{i}_LabelValue", i + 1))
        out[(layer, value)] = (i + 1, str(header.get(f"Segment{i}_Name", "")))
        i += 1
    return out


def _slicer_names(header: dict) -> dict[int, str]:
    return {v: name for (_, v), (_, name) in _slicer_segments(header).items()}


def read_dicom_seg(path: Path, case: Case, grid: Grid) -> Imported:
    """Read a DICOM SEG (BINARY, FRACTIONAL or LABELMAP) onto the case grid.

    Parameters
    ----------
    path : Path
        The SEG file.
    case : Case
        The case it is imported into.
    grid : Grid
        The case image grid.

    Returns
    -------
    Imported
        One mask per segment; see :func:`ctlabel.intake.seg_import.read_seg` for the rules.
    """
    from ctlabel.intake.seg_import import read_seg

    return read_seg(path, case, grid)


# --------------------------------------------------------------------------
# Combining segments into one label map
# --------------------------------------------------------------------------


def label_values(segments: list[Segment], table: LabelTable, fmt: str) -> dict[int, int]:
    """Segment number -> label value (by name for DICOM SEG, the value itself for label maps)."""
    out = {}
    by_name: dict[str, int] = {}
    for lab in table:
        by_name.setdefault(lab.name.lower(), lab.index)
        if lab.abbreviation:
            by_name.setdefault(lab.abbreviation.lower(), lab.index)
    for s in segments:
        if fmt == "dicom-seg" or (fmt == "nrrd" and s.name):
            out[s.number] = by_name.get(s.name.strip().lower(), s.number)
        else:
            out[s.number] = s.number
    return out


def combine(imp: Imported, table: LabelTable, segments: list[int] | None = None,
            relabel: dict[int, int] | None = None) -> tuple[np.ndarray, dict]:
    """One label map from the segments; overlapping segments are refused (naming them).

    ``relabel`` maps segment numbers (label values for a label map) to label values,
    overriding the name matching.
    """
    segs = imp.segments
    if segments is not None:
        missing = sorted(set(segments) - {s.number for s in segs})
        if missing:
            raise InputError(f"no segment(s) {missing} in the file (it has {[s.number for s in segs]})", imp.path)
        segs = [s for s in segs if s.number in segments]
    values = label_values(segs, table, imp.fmt)
    for k, v in (relabel or {}).items():
        if k not in {s.number for s in imp.segments}:
            raise InputError(f"the relabeling names segment {k}, which the file does not have", imp.path,
                             options=("relabel",))
        if not 1 <= int(v) <= MAX_LABEL:
            raise InputError(f"the relabeling value {v} is outside 1..{MAX_LABEL}", imp.path, options=("relabel",))
        if k in values:
            values[k] = int(v)
    if len(set(values.values())) != len(values):
        raise InputError(f"two segments map to the same label value ({values}); import them one at a time",
                         imp.path, options=("segments",))
    count = np.zeros(segs[0].mask.shape if segs else (0,), dtype=np.uint8)
    for s in segs:
        count += s.mask
    if segs and count.max() > 1:
        pairs = []
        for i, a in enumerate(segs):
            for b in segs[i + 1:]:
                n = int(np.count_nonzero(a.mask & b.mask))
                if n:
                    ks = np.flatnonzero((a.mask & b.mask).any(axis=(1, 2)))
                    pairs.append(f"segment {a.number} '{a.name}' and segment {b.number} '{b.name}' share {n} voxels "
                                 f"(slices {ks.min()}-{ks.max()})")
        raise InputError("overlapping segments cannot be held by one label map: " + "; ".join(pairs)
                         + ". Import non-overlapping subsets of segments, one version each", imp.path,
                         options=("segments",))
    hi = max(values.values(), default=0)
    labels = np.zeros(count.shape, dtype=np.uint8 if hi <= 255 else np.uint16)
    for s in segs:
        labels[s.mask] = values[s.number]
    mapping = [{"Segment": s.number, "Name": s.name, "Label": values[s.number], "Voxels": int(s.mask.sum())}
               for s in segs]
    return labels, {"Segments": mapping}


def import_mask(case: Case, path: str | os.PathLike, who: str, *, role: str = "annotator",
                fmt: str | None = None, segments: list[int] | None = None,
                relabel: dict[int, int] | None = None, lock: CaseLock | None = None) -> int:
    """Import a mask file onto ``case`` as a new version; return the version number."""
    from ctlabel.case.review import add_version

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path)
    fmt = fmt or detect_format(path)
    grid = case.image_grid()
    if fmt == "nifti":
        imp = read_nifti_mask(path, grid)
    elif fmt == "nrrd":
        imp = read_nrrd_mask(path, grid)
    elif fmt == "dicom-seg":
        imp = read_dicom_seg(path, case, grid)
    else:
        raise InputError(f"unknown format {fmt!r}", path)
    labels, mapping = combine(imp, case.load_labels(), segments, relabel)
    if not labels.any():
        raise InputError("the imported mask is empty", path)
    # the file's name and hash trace it; its folder path is not recorded (folders are often named after patients)
    info = {"FileName": path.name, "Format": imp.fmt, "FileSHA256": file_sha256(path), **imp.info, **mapping}
    return add_version(case, labels, grid, who, role=role, imported_from=info, lock=lock)


__all__ = ["Imported", "Segment", "combine", "detect_format", "import_mask", "nrrd_affine", "read_dicom_seg",
           "read_nifti_mask", "read_nrrd_mask"]
