"""Writer contribution: a ctlabel labels layer as a mask with provenance ("Save Selected Layers").

The mask is written only against the grid the layer was painted on
(``metadata["ctlabel"]["grid"]``); a layer without one, or whose data does not
have that grid's shape, is refused. Saving into a case folder (the folder
itself, or any path inside its ``masks/`` folder) saves the case draft through
:func:`ctlabel.review.save_draft`: refused while the case awaits review, under the
case lock (the open session's, when this process holds it), checked against the
case image grid. A label erased to nothing is saved as not present
(:func:`ctlabel.mask_io.edited_slices`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctlabel import review
from ctlabel.case import Case
from ctlabel.errors import CtlabelError, GeometryError
from ctlabel.mask_io import edited_slices, save_mask
from ctlabel.provenance import event
from ctlabel.volume import Grid

from ._layers import KEY, grid_from_meta, table_from_meta


def _case_target(path: Path) -> Case | None:
    if Case.is_case(path):
        return Case(path)
    if path.parent.name == "masks" and Case.is_case(path.parent.parent):
        return Case(path.parent.parent)
    return None


def write_labels(path: str, data, meta: dict) -> list[str]:
    from napari.utils.notifications import show_error

    try:
        return [str(save_labels_layer(path, data, meta))]
    except CtlabelError as exc:
        show_error(str(exc))
        return []


def save_labels_layer(path, data, meta: dict) -> Path:
    metadata = meta.get("metadata", meta)
    info = metadata.get(KEY)
    if not info or "grid" not in info:
        raise GeometryError("this layer carries no ctlabel grid; ctlabel saves only masks painted on a "
                            "ctlabel image", path)
    grid = grid_from_meta(metadata)
    labels = np.asarray(data)
    grid.require_match(Grid(tuple(labels.shape), grid.affine), "the layer", path)
    annotator = info.get("annotator") or None
    events = list(info.get("events") or [])
    events.append(event(annotator or "unknown", "annotator", "saved"))
    painted, interpolated = edited_slices(labels, info.get("painted"), info.get("interpolated"))
    prov = {
        "painted": painted,
        "interpolated": interpolated,
        "axis": int(info.get("axis", 0)),
        "annotator": annotator,
        "events": events,
        "label_table": table_from_meta(metadata),
    }
    p = Path(path)
    case = _case_target(p)
    if case is not None:
        from .session import held_lock

        review.save_draft(case, labels, grid, annotator, lock=held_lock(case.root), **prov)
        from ctlabel.recovery import clear_journal

        clear_journal(case.recovery_dir)
        return case.draft_path
    if not p.name.endswith((".nii", ".nii.gz")):
        p = p.with_name(p.name + ".nii.gz")
    if info.get("image_voxel_sha256"):
        prov["image_voxel_sha256"] = info["image_voxel_sha256"]
    save_mask(p, labels, grid, **prov)
    return p
