"""Writer contribution: a ctlabel labels layer as a mask with provenance ("Save Selected Layers").

The mask is written only against the grid the layer was painted on
(``metadata["ctlabel"]["grid"]``); a layer without one, or whose data does not
have that grid's shape, is refused. Saving into a case folder (the folder
itself, or any path inside its ``masks/`` folder) saves the case draft:

* through the open session (:meth:`ctlabel_napari.session.LabelSession.save`, i.e.
  :meth:`ctlabel.case.editing.EditingSession.save`) when this process edits the case;
* otherwise through :func:`ctlabel.case.review.save_draft`, which takes the case lock
  for the save (refused when somebody else holds it).

Either way it is refused while the case awaits review, checked against the case image
grid, and records the ``saved`` event. A label erased to nothing is saved as not present
(:meth:`ctlabel.SliceEdits.for_present`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ctlabel import (
    Case,
    CtlabelError,
    Edits,
    GeometryError,
    Grid,
    LockError,
    SliceTracker,
    clear_journal,
    save_draft,
    save_mask,
)

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
    """Save a labels layer's ``data`` (with its napari ``meta``) to ``path``; returns the file written."""
    metadata = meta.get("metadata", meta)
    info = metadata.get(KEY)
    if not info or "grid" not in info:
        raise GeometryError("this layer carries no ctlabel grid; ctlabel saves only masks painted on a "
                            "ctlabel image", path)
    grid = grid_from_meta(metadata)
    labels = np.asarray(data)
    grid.require_match(Grid(tuple(labels.shape), grid.affine), "the layer", path)
    p = Path(path)
    case = _case_target(p)
    if case is not None:
        from .session import holder

        session = holder(case.root)
        if session is not None:
            if not session.holds(data):
                raise LockError(f"{case.root.name} is open for editing in the layer {session.layer.name!r}; "
                                "save that layer", case.root)
            return session.save()
    edits = Edits(labels, grid, info.get("annotator") or "",
                  tracker=SliceTracker(info.get("edits")),
                  events=info.get("events"), table=table_from_meta(metadata))
    prov = edits.provenance()  # with the saved event
    if case is not None:
        save_draft(case, labels, grid, edits.who or None, fields=prov)  # takes the case lock for the save
        clear_journal(case.recovery_dir)
        return case.draft_path
    if not p.name.endswith((".nii", ".nii.gz")):
        p = p.with_name(p.name + ".nii.gz")
    save_mask(p, labels, grid, prov, image_voxel_sha256=info.get("image_voxel_sha256") or None)
    return p
