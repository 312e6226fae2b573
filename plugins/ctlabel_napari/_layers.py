"""Layer data tuples for ctlabel volumes and masks, and the metadata they carry.

Every layer the plugin makes has ``metadata["ctlabel"]``:

* ``role``: ``"image"`` or ``"labels"``;
* ``grid``: ``{"shape": [slice, row, col], "affine": 4x4}`` — the grid the data lies on;
  a labels layer is saved only against this grid;
* ``case``: the case folder (str) or None;
* labels only: ``label_table`` (TSV text), ``painted``, ``interpolated`` (label -> slices),
  ``axis`` (the slice axis of those), ``provenance`` (the sidecar it was read with),
  ``image_voxel_sha256``.

Layers are shown on the array grid (slice, row, column) with ``scale`` = voxel spacing
in mm, so distances, areas and the 3D view are physical. The grid is not rotated:
see docs/plugin.md for orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctlabel.labels import LabelTable, default_label_table, read_label_table
from ctlabel.mask_io import Mask
from ctlabel.volume import Grid, Volume, spacing_from_affine

KEY = "ctlabel"
#: Initial window (soft tissue) for CT images.
DEFAULT_WINDOW = (400.0, 40.0)


def grid_to_meta(grid: Grid) -> dict:
    return {"shape": [int(s) for s in grid.shape], "affine": np.asarray(grid.affine, float).tolist()}


def grid_from_meta(meta: dict) -> Grid:
    g = meta[KEY]["grid"] if KEY in meta else meta["grid"]
    return Grid(tuple(int(s) for s in g["shape"]), np.asarray(g["affine"], float))


def table_from_meta(meta: dict) -> LabelTable:
    text = meta.get(KEY, {}).get("label_table")
    if not text:
        return default_label_table()
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as f:
        f.write(text)
    try:
        return read_label_table(f.name)
    finally:
        Path(f.name).unlink(missing_ok=True)


def colormap_for(table: LabelTable) -> dict:
    """A direct label colormap: table colours, transparent background, grey for unknown labels."""
    colors: dict = {None: (0.6, 0.6, 0.6, 1.0), 0: (0.0, 0.0, 0.0, 0.0)}
    for lab in table:
        colors[lab.index] = lab.rgba()
    return colors


def orientation_note(affine: np.ndarray) -> str | None:
    """None when an axial grid is on screen in the radiological convention, else what the screen shows.

    The screen shows columns left to right and rows top to bottom, unrotated. For
    an axial grid that is radiological when columns run towards the patient's
    left (RAS -x) and rows towards posterior (RAS -y).
    """
    m = np.asarray(affine, float)[:3, :3]
    col, row = m[:, 0] / np.linalg.norm(m[:, 0]), m[:, 1] / np.linalg.norm(m[:, 1])
    normal = np.cross(col, row)
    if abs(normal[2]) < 0.8:
        return "not an axial series: shown on its acquisition grid (columns left to right, rows top down)"
    notes = []
    if col[0] > 0.5:
        notes.append("patient left is on screen LEFT (columns run to the patient's right)")
    if row[1] > 0.5:
        notes.append("anterior is at the screen bottom (rows run to anterior)")
    if not notes:
        return None
    return "; ".join(notes) + ": shown as stored, not flipped (ctlabel never resamples)"


def image_layer_data(volume: Volume, name: str, *, case: str | Path | None = None, source: str = "") -> tuple:
    window, level = DEFAULT_WINDOW
    arr = volume.array
    note = orientation_note(volume.affine)
    meta = {
        KEY: {
            "role": "image",
            "grid": grid_to_meta(volume.grid),
            "case": None if case is None else str(case),
            "source_path": str(source),
            "warnings": list(volume.warnings),
            "orientation": note,
            "volume": volume,  # not serialised; lets "save as case" keep the DICOM identity
        }
    }
    kwargs = {
        "name": name,
        "scale": volume.spacing,
        "colormap": "gray",
        "contrast_limits": (level - window / 2, level + window / 2),
        "metadata": meta,
        "rendering": "mip",
    }
    return (arr, kwargs, "image")


def labels_layer_data(
    labels: np.ndarray,
    grid: Grid,
    name: str,
    *,
    table: LabelTable | None = None,
    case: str | Path | None = None,
    mask: Mask | None = None,
    image_voxel_sha256: str | None = None,
) -> tuple:
    table = table or default_label_table()
    painted = mask.painted if mask is not None else {}
    interpolated = mask.interpolated if mask is not None else {}
    axis = mask.axis if mask is not None else 0
    meta = {
        KEY: {
            "role": "labels",
            "grid": grid_to_meta(grid),
            "case": None if case is None else str(case),
            "label_table": table.to_tsv(),
            "painted": {int(k): list(v) for k, v in painted.items() if v},
            "interpolated": {int(k): list(v) for k, v in interpolated.items() if v},
            "axis": int(axis),
            "provenance": dict(mask.provenance) if mask is not None else {},
            "mask_path": str(mask.path) if mask is not None and mask.path else None,
            "image_voxel_sha256": image_voxel_sha256,
        }
    }
    kwargs = {
        "name": name,
        "scale": spacing_from_affine(grid.affine),
        "metadata": meta,
        "colormap": colormap_for(table),
        "opacity": 0.6,
    }
    return (labels, kwargs, "labels")


def empty_labels(grid: Grid) -> np.ndarray:
    return np.zeros(grid.shape, dtype=np.uint8)
