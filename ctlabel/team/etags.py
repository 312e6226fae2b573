"""The hash a client names in ``If-Match``: which mask of a case it edits, and that mask's voxel hash.

Used by the service (what a client is told about a case) and by the uploads (what an upload must
name), so that neither imports the other.
"""

from __future__ import annotations

from pathlib import Path

from ctlabel.case.folder import Case
from ctlabel.io.mask import Mask
from ctlabel.io.provenance import read_sidecar, sidecar_path

#: The ETag of a case with no mask yet.
NO_MASK = "none"


def _sidecar_hash(path: Path) -> str | None:
    try:
        return read_sidecar(sidecar_path(path)).get("VoxelSHA256")
    except Exception:  # noqa: BLE001 - fall back to hashing the voxels
        return None


def _voxel_hash(mask: Mask | None) -> str:
    """The voxel hash of a mask whose file exists (so it is read)."""
    assert mask is not None
    return mask.voxel_hash


def current_etag(case: Case, reader: str | None = None) -> str:
    """The hash an upload must name in If-Match: the draft's, else the latest version's, else ``none``.

    ``reader`` (double reading): that reader's own draft comes first.
    """
    if reader is not None and case.reader_draft_path(reader).exists():
        path = case.reader_draft_path(reader)
        return _sidecar_hash(path) or _voxel_hash(case.load_reader_draft(reader))
    if case.draft_path.exists():
        h = _sidecar_hash(case.draft_path)
        return h or _voxel_hash(case.load_draft())
    versions = case.versions()
    if versions:
        p = case.version_path(versions[-1])
        return _sidecar_hash(p) or case.load_version(versions[-1]).voxel_hash
    return NO_MASK


def editable_mask_path(case: Case, reader: str | None = None) -> Path | None:
    """The file a client edits: the draft, else the latest version (after a rejection), else None.

    ``reader`` (double reading): that reader's own draft comes first.
    """
    if reader is not None and case.reader_draft_path(reader).exists():
        return case.reader_draft_path(reader)
    if case.draft_path.exists():
        return case.draft_path
    versions = case.versions()
    return case.version_path(versions[-1]) if versions else None


__all__ = ["NO_MASK", "current_etag", "editable_mask_path"]
