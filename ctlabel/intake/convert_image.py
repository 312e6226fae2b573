"""``convert --overwrite-image``: replace the image of an existing case, keeping its masks.

The only way convert ever changes an existing case. It takes the case lock, refuses a
new image on another grid (the masks were painted on the old one), and records an
``image_replaced`` event with the old and new voxel hashes in the case record, so that
``ctlabel verify`` checks the new image.
"""

from __future__ import annotations

from pathlib import Path

from ctlabel.case.folder import Case
from ctlabel.case.lock import acquire_lock
from ctlabel.dicom.read import load_series
from ctlabel.dicom.stacks import Stack
from ctlabel.intake.convert_report import ConvertOptions, report_entry
from ctlabel.io.image import save_image
from ctlabel.io.provenance import event

WHO = "ctlabel-convert"


def replace_image(root: Path, stack: Stack, options: ConvertOptions) -> tuple[str, dict]:
    """Write the stack's volume as the image of the case at ``root``.

    Parameters
    ----------
    root : Path
        An existing case folder of the same source.
    stack : Stack
        The series to load.
    options : ConvertOptions
        Irregular policy and UID pseudonymization, as for a new case.

    Returns
    -------
    tuple of (str, dict)
        ``("converted", entry)`` when the image was replaced, ``("skipped", entry)`` when
        the voxels are unchanged.

    Raises
    ------
    GeometryError
        The new image is on another grid.
    LockError
        Somebody edits the case.
    """
    from ctlabel.case.record import append_event, load_case_record

    case = Case.open(root)
    volume = load_series(stack, irregular=options.irregular, digest=True)
    with acquire_lock(case.root, WHO):
        case.image_grid().require_match(volume.grid, "the new image", case.image_path)
        old = case.image_record()["VoxelSHA256"]
        new = volume.voxel_hash()
        if new == old:
            return "skipped", {"path": stack.files[0], "case": str(root),
                               "reason": "case exists (same source) and its image is unchanged"}
        save_image(case.image_path, volume, pseudonymize_salt=options.pseudonymize_salt)
        append_event(case, load_case_record(case), event(WHO, "system", "image_replaced",
                                    OldImageVoxelSHA256=old, NewImageVoxelSHA256=new))
    entry = report_entry(root, stack, volume)
    entry["replaced_image"] = {"old": old, "new": new}
    return "converted", entry


def same_voxels(root: Path, stack: Stack, options: ConvertOptions) -> tuple[str, dict]:
    """Skip a stack without UIDs whose case exists, once its voxels prove it the same series.

    Returns ``("skipped", entry)`` when the case image has the stack's voxels and affine,
    else ``("failed", entry)``: the folder holds another series at the same positions.
    """
    case = Case.open(root)
    volume = load_series(stack, irregular=options.irregular, digest=True)
    if volume.voxel_hash() == case.image_record()["VoxelSHA256"]:
        return "skipped", {"path": stack.files[0], "case": str(root),
                           "reason": "case exists (same source, checked voxel by voxel: the series has no UIDs)"}
    return "failed", {"path": stack.files[0], "case": str(root),
                      "reason": f"{root} holds another series at the same positions (these images have no UIDs);"
                                " left as it is"}


__all__ = ["replace_image", "same_voxels"]
