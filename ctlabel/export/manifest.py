"""The export manifest (``ctlabel_manifest.json``): what an export wrote, and where each case came from.

Per case it records the source UIDs, the version, annotator and reviewer, and the voxel and
label table hashes that tie each training label to the decision that approved it. An export
with ``update`` reads the earlier manifest to know which files it may replace.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ctlabel.errors import InputError
from ctlabel.io.atomic import write_json
from ctlabel.io.provenance import now_utc, software

if TYPE_CHECKING:
    from ctlabel.export.dataset import Selected
    from ctlabel.model import Event

MANIFEST = "ctlabel_manifest.json"
MANIFEST_KIND = "ctlabel-export-manifest"
#: Fields of the image sidecar's ``Source`` that the manifest copies (never SeriesDescription: free text).
SOURCE_FIELDS = ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "SeriesNumber", "Modality",
                 "SeriesPixelSHA256", "UIDsPseudonymized")


def new_manifest(fmt: str, options: dict) -> dict:
    """The manifest of a new export, before any case is in it.

    Parameters
    ----------
    fmt : str
        The format (``nnunet``, ``monai`` or ``bids``).
    options : dict
        The export options, recorded as given.

    Returns
    -------
    dict
        The manifest: no case, only background in the label map.
    """
    t = now_utc()
    return {"SchemaVersion": "1.0", "Kind": MANIFEST_KIND, "Format": fmt, "Software": software(),
            "Created": t, "Modified": t, "Options": options, "Consecutive": False,
            "LabelMap": {"0": 0}, "Labels": {}, "IndexFiles": [], "Cases": [], "Pending": {}, "Refused": []}


def read_manifest(out: Path) -> dict | None:
    """The manifest of an earlier export into ``out``, or None."""
    path = out / MANIFEST
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"the export manifest is not readable JSON ({exc})", path) from None
    if not isinstance(data, dict) or data.get("Kind") != MANIFEST_KIND or not isinstance(data.get("Cases"), list):
        raise InputError("not a ctlabel export manifest", path)
    return data


def write_manifest(out: Path, manifest: dict) -> None:
    """Write the manifest into ``out`` atomically, its cases sorted by id and ``Modified`` set to now.

    Parameters
    ----------
    out : pathlib.Path
        The export folder.
    manifest : dict
        The manifest; updated in place (``Modified``, the order of ``Cases``).
    """
    manifest["Modified"] = now_utc()
    manifest["Cases"] = sorted(manifest["Cases"], key=lambda e: e["Id"])
    write_json(out / MANIFEST, manifest)


def written_files(manifest: dict | None) -> set[str]:
    """Every file (relative to OUT) an earlier export wrote, by its manifest."""
    if not manifest:
        return set()
    files = {MANIFEST, *manifest.get("IndexFiles", [])}
    for entry in manifest["Cases"]:
        files.update(entry.get("Files", {}).values())
    for planned in manifest.get("Pending", {}).values():  # written by an export that was interrupted
        files.update(planned.values())
    return files


def case_entry(sel: Selected, export: str, files: dict, mask_hash: str, exported: dict) -> dict:
    """The manifest entry of one exported case: where it came from and who decided on it."""
    img = sel.image_record
    created, submitted, approval = sel.events.get("created"), sel.events.get("submitted"), sel.decision

    def who(ev: Event | None) -> dict | None:
        return None if ev is None else {"Who": ev.who, "Role": str(ev.role), "Action": str(ev.action), "When": ev.when}

    from ctlabel.case.record import event_hash

    return {
        "Id": export,
        "Case": sel.name,
        "CasePath": str(sel.case.root.resolve()),
        "Files": files,
        "Version": sel.version,
        "Approved": sel.approved,
        "State": sel.state,
        "Annotator": exported.get("annotator") or (created.who if created else None),
        "CreatedBy": who(created),
        "SubmittedBy": who(submitted),
        "Review": sel.review,  # reviewer, accepted-by-policy (never seen by a reviewer), or None
        "AcceptedByPolicy": ({k: approval.extra.get(k) for k in ("Annotator", "Policy", "Decision")}
                             if approval and sel.review == "accepted-by-policy" else None),
        "Reviewer": approval.who if (approval and sel.review == "reviewer") else None,
        "ApprovedAt": approval.when if (approval and sel.approved) else None,
        "ApprovalEventSHA256": event_hash(approval.to_dict()) if (approval and sel.approved) else None,
        "Source": {k: (img.get("Source") or {}).get(k) for k in SOURCE_FIELDS},
        "ImageVoxelSHA256": img.get("VoxelSHA256"),
        "MaskVoxelSHA256": mask_hash,
        "LabelTableSHA256": sel.table_sha256,
        "ExportedImageVoxelSHA256": exported["image_hash"],
        "ExportedMaskVoxelSHA256": exported["mask_hash"],
        "GeometryWarnings": list(img.get("Geometry", {}).get("Warnings", [])),
        "PaddedSlices": [int(k) for k in img.get("Geometry", {}).get("MissingSlices", [])],
        "LabelVoxelsOnPaddedSlices": exported["padded_label_voxels"],
        "Resampled": exported.get("resampled"),
        "Exported": now_utc(),
    }


def require_out(out: Path, update: bool, index_files: list[str]) -> dict | None:
    """Check OUT before anything is written; return the earlier manifest (with ``update``).

    Raises
    ------
    InputError
        OUT is not empty and ``update`` is False; OUT is a file; an index file there was
        not written by ctlabel export.
    """
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", out)
    if not out.exists() or next(os.scandir(out), None) is None:
        return None
    if not update:
        raise InputError("the output folder is not empty; export into a new folder, or add to this export "
                         "as an update (files it did not write are never touched)", out, options=("update",))
    previous = read_manifest(out)
    ours = written_files(previous)
    for name in index_files:
        if (out / name).exists() and name not in ours:
            raise InputError("exists and was not written by ctlabel export-dataset; refusing to replace it", out / name)
    return previous


def write_index_json(out: Path, name: str, data, written: list[str]) -> None:
    """Write an index file (dataset.json, splits...) atomically and note it as written."""
    write_json(out / name, data)
    written.append(name)


__all__ = ["MANIFEST", "MANIFEST_KIND", "SOURCE_FIELDS", "case_entry", "new_manifest", "read_manifest", "require_out",
           "write_index_json", "write_manifest", "written_files"]
