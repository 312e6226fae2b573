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
(negative along an axis mirrored to show an axial series radiologically)
in mm, so distances, areas and the 3D view are physical. The grid is not rotated:
see docs/plugin.md for orientation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctlabel import (
    Grid,
    LabelTable,
    Mask,
    SliceEdits,
    Volume,
    default_label_table,
    read_label_table,
    spacing_from_affine,
)

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


def _axial_flips(affine: np.ndarray) -> tuple[bool, bool] | None:
    """For an axial grid, whether columns and rows must be mirrored on screen; None if not axial.

    The screen shows columns left to right and rows top to bottom. The radiological
    convention wants columns running towards the patient's left (RAS -x) and rows
    towards posterior (RAS -y).
    """
    m = np.asarray(affine, float)[:3, :3]
    col, row = m[:, 0] / np.linalg.norm(m[:, 0]), m[:, 1] / np.linalg.norm(m[:, 1])
    if abs(np.cross(col, row)[2]) < 0.8:
        return None
    return bool(col[0] > 0.5), bool(row[1] > 0.5)


def display_transform(affine: np.ndarray, shape) -> dict:
    """``scale`` and ``translate`` that show a grid at physical size, axial grids radiologically.

    A mirrored axis gets a negative scale (and a translate that keeps the extent
    where it was): the display flips, the voxels and their indices do not, so
    painting and saving stay on the acquisition grid.
    """
    scale = np.array(spacing_from_affine(affine), float)
    translate = np.zeros(3)
    flips = _axial_flips(affine)
    if flips is not None:
        for axis, flip in ((2, flips[0]), (1, flips[1])):
            if flip:
                translate[axis] = scale[axis] * (int(shape[axis]) - 1)
                scale[axis] = -scale[axis]
    return {"scale": tuple(scale), "translate": tuple(translate)}


def orientation_note(affine: np.ndarray) -> str | None:
    """None for an axial grid stored radiologically, else what the screen does with it."""
    flips = _axial_flips(affine)
    if flips is None:
        return "not an axial series: shown on its acquisition grid (columns left to right, rows top down)"
    mirrored = [name for name, f in zip(("columns", "rows"), flips) if f]
    if not mirrored:
        return None
    return (f"{' and '.join(mirrored)} mirrored on screen to show the radiological convention"
            " (the voxels are not changed)")


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
        **display_transform(volume.affine, arr.shape),
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
    meta = {
        KEY: {
            "role": "labels",
            "grid": grid_to_meta(grid),
            "case": None if case is None else str(case),
            "label_table": table.to_tsv(),
            "edits": mask.edits if mask is not None else SliceEdits(),  # painted/interpolated slices, axis
            "provenance": mask.provenance if mask is not None else None,  # a MaskProvenance, or None
            "mask_path": str(mask.path) if mask is not None and mask.path else None,
            "image_voxel_sha256": image_voxel_sha256,
        }
    }
    kwargs = {
        "name": name,
        **display_transform(grid.affine, grid.shape),
        "metadata": meta,
        "colormap": colormap_for(table),
        "opacity": 0.6,
    }
    return (labels, kwargs, "labels")


def empty_labels(grid: Grid) -> np.ndarray:
    return np.zeros(grid.shape, dtype=np.uint8)
